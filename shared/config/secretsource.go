package config

import (
	"fmt"
	"sync"
)

// Secret stores read at run time (AWS Secrets Manager, SSM SecureString; see
// shared/secrets). The deployment passes where the secrets are — an ARN or a
// parameter name — never the secrets themselves, so they stay out of the function's
// plain environment; FromEnv asks every registered source once per process and
// merges what it returns over the environment.

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

// SecretSource is a secret store FromEnv consults. Load is called at most once
// per process (the result is cached for the container's life); it returns
// where the values came from (for Config.Sources, e.g. "Secrets Manager
// arn:…"), or "" when the source is not configured in this environment.
type SecretSource struct {
	Name string
	Load func(getenv func(string) string) (from string, v SecretValues, err error)
}

var (
	secretSourcesMu sync.Mutex
	secretSources   []*cachedSource
)

type cachedSource struct {
	src  SecretSource
	once sync.Once
	from string
	v    SecretValues
	err  error
}

// RegisterSecretSource adds a secret store. Call it from an init function: it
// does no I/O, the store is read when FromEnv first needs it.
func RegisterSecretSource(s SecretSource) {
	secretSourcesMu.Lock()
	defer secretSourcesMu.Unlock()
	secretSources = append(secretSources, &cachedSource{src: s})
}

// applySecretSources merges every configured source's values into c.
func applySecretSources(lookup func(string) (string, bool), c *Config) []error {
	secretSourcesMu.Lock()
	srcs := append([]*cachedSource(nil), secretSources...)
	secretSourcesMu.Unlock()
	getenv := func(k string) string { v, _ := lookup(k); return v }
	var errs []error
	for _, s := range srcs {
		s.once.Do(func() { s.from, s.v, s.err = s.src.Load(getenv) })
		if s.err != nil {
			errs = append(errs, fmt.Errorf("config: %s: %w", s.src.Name, s.err))
			continue
		}
		if s.from != "" {
			c.MergeSecrets(s.from, s.v)
		}
	}
	return errs
}

// MergeSecrets sets every field v holds, recording from as its source.
func (c *Config) MergeSecrets(from string, v SecretValues) {
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
