//go:build wxpay_lambda

package awsconf

import (
	"context"
	"errors"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
)

const chain = "lambda-env"

// Load builds the configuration by hand from the Lambda execution environment:
// region from AWS_REGION (or AWS_DEFAULT_REGION), credentials from
// AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, which Lambda
// sets from the function's execution role for the life of the execution
// environment. Nothing else (files, SSO, IMDS) is consulted.
func Load(_ context.Context, opts Options) (aws.Config, error) {
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
		cfg.Credentials = staticCredentials(opts.AccessKeyID, opts.SecretAccessKey, "")
	case id != "" && secret != "":
		cfg.Credentials = staticCredentials(id, secret, os.Getenv("AWS_SESSION_TOKEN"))
	default:
		return aws.Config{}, errors.New("awsconf: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set: this binary was built for AWS Lambda (-tags wxpay_lambda), which sets them from the function's role; build without the tag to use the default AWS configuration chain")
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
