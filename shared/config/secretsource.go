package config

import (
	"fmt"
	"strings"
)

// Secret stores read at run time (AWS Secrets Manager, SSM SecureString: see
// shared/secrets; Tencent Cloud SSM: shared/secrets/tencentssm). The deployment passes where the secrets are — an ARN or a
// parameter name — never the secrets themselves, so they stay out of the function's
// plain environment; FromEnv asks every source it is given and merges what each
// returns over the environment.

// SecretValues are the secrets a store may hold. Unset fields leave the
// configuration as the environment made it.
type SecretValues struct {
	PrivateKey    Secret // PEM of apiclient_key.pem
	APIv3Key      Secret
	APIv2Key      Secret
	APIToken      Secret
	WebhookSecret Secret
	AppSecret     Secret
	// PlatformPublicKey is public, but travels with the secrets for convenience.
	PlatformPublicKey []byte
	// StorePassword is the Redis password of STORE_URL (Config.StorePassword).
	StorePassword Secret
	// ConsoleUsers are the operator console's users (Bundle.ConsoleUsers).
	ConsoleUsers Secret
}

// SecretSource is a secret store FromEnv consults when a program passes it: a
// function's main lists the sources its build contains (secrets.Source for AWS
// Secrets Manager and SSM, tencentssm.Source for Tencent Cloud SSM), so what a binary
// can read is what its main imports.
type SecretSource struct {
	// Name names the store in errors ("AWS Secrets Manager / SSM").
	Name string
	// Settings are the environment variables that point at the store
	// (WXPAY_SECRET_ARN, …): a build without the source refuses them by name
	// instead of ignoring them (shared/host).
	Settings []string
	// Load reads the store. It returns where the values came from (for
	// Config.Sources, e.g. "Secrets Manager arn:…"), or "" when none of the source's
	// settings is set. FromEnv calls it once per call; a function calls FromEnv once
	// per cold start.
	Load func(getenv func(string) string) (from string, v SecretValues, err error)
}

// applySecretSources merges every configured source's values into c, in order.
func applySecretSources(lookup func(string) (string, bool), c *Config, srcs []SecretSource) []error {
	getenv := func(k string) string { v, _ := lookup(k); return v }
	var errs []error
	for _, s := range srcs {
		if !anySet(getenv, s.Settings) {
			// None of its settings: Load would answer "" (its contract) after setting
			// up its call (a context timer, the first of the process) in every cold
			// start of a build that carries a source it is not configured for.
			continue
		}
		from, v, err := s.Load(getenv)
		if err != nil {
			errs = append(errs, fmt.Errorf("config: %s: %w", s.Name, err))
			continue
		}
		if from != "" {
			c.mergeSecrets(from, v)
		}
	}
	return errs
}

// anySet: one of settings is set to something other than blanks, or there are none
// to judge by.
func anySet(getenv func(string) string, settings []string) bool {
	for _, k := range settings {
		if strings.TrimSpace(getenv(k)) != "" {
			return true
		}
	}
	return len(settings) == 0
}

// mergeSecrets sets every field v holds, recording from as its source.
func (c *Config) mergeSecrets(from string, v SecretValues) {
	if c.Sources == nil {
		c.Sources = map[string]string{}
	}
	set := func(dst *Secret, val Secret, field string) {
		if !val.IsZero() {
			*dst = val
			c.Sources[field] = from
		}
	}
	set(&c.PrivateKey, v.PrivateKey, "PrivateKey")
	set(&c.APIv3Key, v.APIv3Key, "APIv3Key")
	set(&c.APIv2Key, v.APIv2Key, "APIv2Key")
	set(&c.Bundle.APIToken, v.APIToken, "APIToken")
	set(&c.Bundle.WebhookSecret, v.WebhookSecret, "WebhookSecret")
	set(&c.Bundle.ConsoleUsers, v.ConsoleUsers, "ConsoleUsers")
	set(&c.Bundle.AppSecret, v.AppSecret, "AppSecret")
	set(&c.StorePassword, v.StorePassword, "StorePassword")
	if len(v.PlatformPublicKey) > 0 {
		c.PlatformPublicKey = v.PlatformPublicKey
		c.Sources["PlatformPublicKey"] = from
	}
}
