//go:build !wxpay_noaws

package billstore

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/paysls/wxpay/shared/awsconf"
)

// Credentials are an access key, its secret and, for temporary keys, a session token.
type Credentials = aws.Credentials

// CredentialsProvider gives the credentials of each request (the AWS SDK's type).
type CredentialsProvider = aws.CredentialsProvider

// StaticCredentials always gives the same key (tests, local servers).
func StaticCredentials(id, secret, token string) CredentialsProvider {
	return aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: id, SecretAccessKey: secret, SessionToken: token, Source: "billstore"}, nil
	})
}

// loadConfig: awsconf's credentials and region — the default chain locally, only the
// Lambda environment in Lambda builds (which keeps SSO/STS/IMDS out of the bootstrap).
func loadConfig(ctx context.Context, region string) (CredentialsProvider, string, error) {
	cfg, err := awsconf.Load(ctx, awsconf.Options{Region: region})
	if err != nil {
		return nil, "", fmt.Errorf("billstore: %w", err)
	}
	return cfg.Credentials, cfg.Region, nil
}
