// Package secrets reads the merchant's secrets at run time from AWS Secrets
// Manager or an SSM SecureString parameter, once per cold start, as a
// config.SecretSource a main passes on (Source), so they never sit in a Lambda
// function's plain environment where lambda:GetFunctionConfiguration shows them.
//
// The deployment sets where the secret is, not what it is:
//
//	WXPAY_SECRET_ARN            Secrets Manager secret ARN (or name); SecretString is JSON
//	WXPAY_SECRET_SSM_PARAMETER  SSM parameter name (SecureString, decrypted); value is JSON
//
// The JSON object's keys, all optional (unknown keys are an error, so a typo does
// not silently leave a key unset):
//
//	private_key, apiv3_key, apiv2_key, api_token, webhook_secret, app_secret,
//	platform_public_key
//
// The Lambda and local mains include it (secrets.Source(awsconf.FromEnv), or the
// default chain locally); a build without it refuses these settings at start-up
// instead of ignoring them (shared/host).
package secrets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/paysls/wxpay/shared/awsconf"
	"github.com/paysls/wxpay/shared/config"
)

// Environment variables naming the secret.
const (
	EnvSecretARN    = "WXPAY_SECRET_ARN"
	EnvSSMParameter = "WXPAY_SECRET_SSM_PARAMETER"
)

// Timeout bounds the read at cold start.
const Timeout = 10 * time.Second

// Keys of the secret's JSON object.
var Keys = []string{"private_key", "apiv3_key", "apiv2_key", "api_token", "webhook_secret", "app_secret", "platform_public_key"}

// Source is the secret source of a build that reads AWS credentials with load
// (awsconf.FromEnv on Lambda). It does no I/O until config.FromEnv asks it.
func Source(load awsconf.Loader) config.SecretSource {
	return config.SecretSource{
		Name:     "AWS Secrets Manager / SSM",
		Settings: []string{EnvSecretARN, EnvSSMParameter},
		Load: func(getenv func(string) string) (string, config.SecretValues, error) {
			ctx, cancel := context.WithTimeout(context.Background(), Timeout)
			defer cancel()
			return Load(ctx, getenv, load, "")
		},
	}
}

// Load reads the configured secret(s) with the AWS configuration load gives;
// endpoint, when not "", replaces AWS's (tests against moto). Without either
// variable it returns "" and nothing. With both, SSM's values are merged over
// Secrets Manager's.
func Load(ctx context.Context, getenv func(string) string, load awsconf.Loader, endpoint string) (string, config.SecretValues, error) {
	arn, param := strings.TrimSpace(getenv(EnvSecretARN)), strings.TrimSpace(getenv(EnvSSMParameter))
	if arn == "" && param == "" {
		return "", config.SecretValues{}, nil
	}
	cfg, err := load(ctx, awsconf.Options{})
	if err != nil {
		return "", config.SecretValues{}, fmt.Errorf("secrets: %w", err)
	}
	var v config.SecretValues
	var from []string
	if arn != "" {
		val, err := getSecretString(ctx, cfg, endpoint, arn)
		if err != nil {
			return "", config.SecretValues{}, fmt.Errorf("secrets: read Secrets Manager secret %s (%s): %w", arn, EnvSecretARN, err)
		}
		if err := decode(val, &v); err != nil {
			return "", config.SecretValues{}, fmt.Errorf("secrets: Secrets Manager secret %s: %w", arn, err)
		}
		from = append(from, "Secrets Manager "+arn)
	}
	if param != "" {
		val, err := getParameter(ctx, cfg, endpoint, param)
		if err != nil {
			return "", config.SecretValues{}, fmt.Errorf("secrets: read SSM parameter %s (%s): %w", param, EnvSSMParameter, err)
		}
		if err := decode(val, &v); err != nil {
			return "", config.SecretValues{}, fmt.Errorf("secrets: SSM parameter %s: %w", param, err)
		}
		from = append(from, "SSM parameter "+param)
	}
	return strings.Join(from, " + "), v, nil
}

// decode merges the JSON object s into v. Errors name keys, never values.
func decode(s string, v *config.SecretValues) error {
	var m map[string]string
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		// json's syntax errors quote no input, but type errors might: say less.
		return errors.New("value is not a JSON object of strings (keys: " + strings.Join(Keys, ", ") + ")")
	}
	var unknown []string
	for k, val := range m {
		if val == "" {
			continue
		}
		switch k {
		case "private_key":
			v.PrivateKey = config.NewSecret([]byte(unescapePEM(val)))
		case "apiv3_key":
			v.APIv3Key = config.NewSecret([]byte(val))
		case "apiv2_key":
			v.APIv2Key = config.NewSecret([]byte(strings.TrimSpace(val)))
		case "api_token":
			v.APIToken = config.NewSecret([]byte(strings.TrimSpace(val)))
		case "webhook_secret":
			v.WebhookSecret = config.NewSecret([]byte(strings.TrimSpace(val)))
		case "app_secret":
			v.AppSecret = config.NewSecret([]byte(strings.TrimSpace(val)))
		case "platform_public_key":
			v.PlatformPublicKey = []byte(unescapePEM(val))
		default:
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return fmt.Errorf("unknown key(s) %s (known: %s)", strings.Join(unknown, ", "), strings.Join(Keys, ", "))
	}
	return nil
}

// unescapePEM turns "\n" escapes back into newlines, as config does for env.
func unescapePEM(s string) string {
	if !strings.Contains(s, "\n") && strings.Contains(s, `\n`) {
		s = strings.ReplaceAll(s, `\n`, "\n")
	}
	return s
}
