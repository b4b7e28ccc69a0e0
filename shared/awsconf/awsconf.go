// Package awsconf builds the aws.Config every AWS client of the bundle uses
// (DynamoDB, Secrets Manager, SSM, S3).
//
// Two builds, chosen by build tag:
//
//   - default: the SDK's default configuration chain (environment, shared
//     config and credentials files, SSO, web identity, ECS/EC2 roles) — what a
//     developer machine, `wxpay serve` or a container needs;
//   - wxpay_lambda (make build, sam build): only what the Lambda execution
//     environment provides — AWS_REGION and the function role's credentials in
//     AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN
//     (https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime).
//     This leaves the default chain's SSO, SSO-OIDC, STS and IMDS clients out
//     of the binary and their package init out of every cold start (with Redis
//     also left out, the notify bootstrap went from 12.7 MB to 9.0 MB).
//
// Neither reads anything over the network when called.
package awsconf

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// Options adjust Load. The zero value takes everything from the environment.
type Options struct {
	// Region overrides the environment's region.
	Region string
	// AccessKeyID and SecretAccessKey, when both set, are fixed credentials
	// (local emulators such as moto accept any).
	AccessKeyID, SecretAccessKey string
}

// Chain names the configuration source compiled in: "default" or "lambda-env".
const Chain = chain

func staticCredentials(id, secret, token string) aws.CredentialsProvider {
	return aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: id, SecretAccessKey: secret, SessionToken: token, Source: "wxpay/awsconf"}, nil
	})
}
