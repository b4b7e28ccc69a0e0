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
//	platform_public_key, store_password, console_users
//
// The Lambda and local mains include it (secrets.Source(awsconf.FromEnv), or the
// default chain locally); a build without it refuses these settings at start-up
// instead of ignoring them (shared/host).
package secrets

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/paysls/wxpay/shared/awsconf"
	"github.com/paysls/wxpay/shared/config"
)

// Environment variables naming the secret.
const (
	envSecretARN    = "WXPAY_SECRET_ARN"
	envSSMParameter = "WXPAY_SECRET_SSM_PARAMETER"
)

// timeout bounds the read at cold start.
const timeout = 10 * time.Second

// keys of the secret's JSON object.
var keys = config.SecretJSONKeys

// Source is the secret source of a build that reads AWS credentials with load
// (awsconf.FromEnv on Lambda). It does no I/O until config.FromEnv asks it.
func Source(load awsconf.Loader) config.SecretSource {
	return config.SecretSource{
		Name:     "AWS Secrets Manager / SSM",
		Settings: []string{envSecretARN, envSSMParameter},
		Load: func(getenv func(string) string) (string, config.SecretValues, error) {
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
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
	arn, param := strings.TrimSpace(getenv(envSecretARN)), strings.TrimSpace(getenv(envSSMParameter))
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
			return "", config.SecretValues{}, fmt.Errorf("secrets: read Secrets Manager secret %s (%s): %w", arn, envSecretARN, err)
		}
		if err := decode(val, &v); err != nil {
			return "", config.SecretValues{}, fmt.Errorf("secrets: Secrets Manager secret %s: %w", arn, err)
		}
		from = append(from, "Secrets Manager "+arn)
	}
	if param != "" {
		val, err := getParameter(ctx, cfg, endpoint, param)
		if err != nil {
			return "", config.SecretValues{}, fmt.Errorf("secrets: read SSM parameter %s (%s): %w", param, envSSMParameter, err)
		}
		if err := decode(val, &v); err != nil {
			return "", config.SecretValues{}, fmt.Errorf("secrets: SSM parameter %s: %w", param, err)
		}
		from = append(from, "SSM parameter "+param)
	}
	return strings.Join(from, " + "), v, nil
}

// decode merges the JSON object s into v (config.SecretValues.DecodeJSON: the format
// is shared with Tencent Cloud SSM). Errors name keys, never values.
func decode(s string, v *config.SecretValues) error { return v.DecodeJSON([]byte(s)) }
