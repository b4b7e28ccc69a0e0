package eventbridge

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
)

// loadAWS is the AWS configuration of the sink: credentials and region from the
// environment (the function's role on Lambda). Where the bundle has one loader for
// every AWS client (shared/awsconf, which keeps Lambda builds free of the SDK's
// sso/sts/imds chain), this is the one line to point at it.
func loadAWS(ctx context.Context) (aws.Config, error) {
	return awsconfig.LoadDefaultConfig(ctx)
}
