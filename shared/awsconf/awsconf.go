// Package awsconf builds the aws.Config every AWS client of the bundle uses (DynamoDB,
// Secrets Manager, SSM, EventBridge) and makes the one kind of call the bundle signs
// by hand (CallJSON).
//
// Where the configuration comes from is the main's choice, passed to each client as a
// Loader:
//
//   - FromEnv (this package): only the environment — AWS_REGION and the credentials in
//     AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN, which is all
//     the Lambda execution environment provides (the function role's keys,
//     https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime).
//     The Lambda mains use it: it links none of the SDK's configuration chain (SSO,
//     SSO-OIDC, STS, IMDS clients) and runs none of their package init at cold start.
//   - defaultchain.Load: the SDK's default chain (shared config and credentials files,
//     profiles, SSO, web identity, ECS/EC2 roles), for the local mains and the CLI.
//
// Neither reads anything over the network when called.
package awsconf

import (
	"context"
	"errors"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// Options adjust a Loader. The zero value takes everything from where the Loader looks.
type Options struct {
	// Region overrides the environment's region.
	Region string
	// AccessKeyID and SecretAccessKey, when both set, are fixed credentials
	// (local emulators such as moto accept any).
	AccessKeyID, SecretAccessKey string
}

// A Loader builds the AWS configuration: FromEnv or defaultchain.Load.
type Loader func(ctx context.Context, opts Options) (aws.Config, error)

// FromEnv builds the configuration by hand from the environment: region from
// AWS_REGION (or AWS_DEFAULT_REGION), credentials from AWS_ACCESS_KEY_ID /
// AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, which Lambda sets from the function's
// execution role for the life of the execution environment, and AWS_ENDPOINT_URL
// (tests). Nothing else (files, SSO, IMDS) is consulted.
func FromEnv(_ context.Context, opts Options) (aws.Config, error) {
	region := opts.Region
	if region == "" {
		region = os.Getenv("AWS_REGION")
	}
	if region == "" {
		region = os.Getenv("AWS_DEFAULT_REGION")
	}
	cfg := aws.Config{Region: region}
	switch id, secret := os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY"); {
	case opts.AccessKeyID != "" && opts.SecretAccessKey != "":
		cfg.Credentials = StaticCredentials(opts.AccessKeyID, opts.SecretAccessKey, "")
	case id != "" && secret != "":
		cfg.Credentials = StaticCredentials(id, secret, os.Getenv("AWS_SESSION_TOKEN"))
	default:
		return aws.Config{}, errors.New("awsconf: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set (Lambda sets them from the function's role; a local build reads the AWS default chain instead)")
	}
	// AWS_ENDPOINT_URL, the SDKs' documented override of every service endpoint
	// (https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html):
	// never set on Lambda; deploytest points a Lambda build at moto with it.
	if u := os.Getenv("AWS_ENDPOINT_URL"); u != "" {
		cfg.BaseEndpoint = aws.String(u)
	}
	if cfg.Region == "" {
		return aws.Config{}, errors.New("awsconf: AWS_REGION is not set (Lambda sets it; pass region= in the store URL elsewhere)")
	}
	return cfg, nil
}

// StaticCredentials always gives the same key.
func StaticCredentials(id, secret, token string) aws.CredentialsProvider {
	return aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: id, SecretAccessKey: secret, SessionToken: token, Source: "wxpay/awsconf"}, nil
	})
}
