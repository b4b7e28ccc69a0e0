package eventbridge

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/paysls/wxpay/shared/awsconf"
)

// loadAWS is the AWS configuration of the sink: credentials and region from the
// environment (the function's role on Lambda), through the bundle's one loader, which
// keeps Lambda builds free of the SDK's sso/sts/imds chain.
func loadAWS(ctx context.Context) (aws.Config, error) {
	return awsconf.Load(ctx, awsconf.Options{})
}
