//go:build !wxpay_lambda

package awsconf

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
)

const chain = "default"

// Load builds the configuration from the SDK's default chain adjusted by opts.
func Load(ctx context.Context, opts Options) (aws.Config, error) {
	var load []func(*config.LoadOptions) error
	if opts.Region != "" {
		load = append(load, config.WithRegion(opts.Region))
	}
	if opts.AccessKeyID != "" && opts.SecretAccessKey != "" {
		load = append(load, config.WithCredentialsProvider(staticCredentials(opts.AccessKeyID, opts.SecretAccessKey, "")))
	}
	cfg, err := config.LoadDefaultConfig(ctx, load...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("awsconf: load AWS config: %w", err)
	}
	return cfg, nil
}
