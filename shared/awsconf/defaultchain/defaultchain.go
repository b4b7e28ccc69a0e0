// Package defaultchain is the AWS SDK's default configuration chain as an
// awsconf.Loader: environment, shared config and credentials files (profiles), SSO,
// web identity, ECS and EC2 roles — what a developer machine, a container or `wxpay
// serve` needs. Importing it links the SDK's config package and its STS, SSO and IMDS
// clients, which is why the Lambda mains use awsconf.FromEnv instead.
package defaultchain

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/paysls/wxpay/shared/awsconf"
)

var _ awsconf.Loader = Load

// Load builds the configuration from the SDK's default chain adjusted by opts.
func Load(ctx context.Context, opts awsconf.Options) (aws.Config, error) {
	var load []func(*config.LoadOptions) error
	if opts.Region != "" {
		load = append(load, config.WithRegion(opts.Region))
	}
	if opts.AccessKeyID != "" && opts.SecretAccessKey != "" {
		load = append(load, config.WithCredentialsProvider(awsconf.StaticCredentials(opts.AccessKeyID, opts.SecretAccessKey, "")))
	}
	cfg, err := config.LoadDefaultConfig(ctx, load...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("awsconf: load AWS config: %w", err)
	}
	return cfg, nil
}
