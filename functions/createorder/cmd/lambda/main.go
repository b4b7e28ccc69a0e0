// Command lambda is createorder (the order API and its cashier page; WXPAY_API_TOKEN and
// WXPAY_NOTIFY_URL are required) on AWS Lambda (provided.al2023, arm64: make build, sam
// build). Stores: DynamoDB (or a bbolt file). Secrets: AWS Secrets Manager / SSM
// (WXPAY_SECRET_ARN, WXPAY_SECRET_SSM_PARAMETER) over the environment and the keys dir.
// AWS credentials and region come from the Lambda environment only (awsconf.FromEnv).
// Merchant events the console resends: the signed webhook (WXPAY_WEBHOOK_URL) or
// EventBridge (WXPAY_EVENT_BUS).
//
// What this binary contains is what main lists below; a setting it cannot honour stops
// it at start-up, naming the build that has it (shared/host).
package main

import (
	"github.com/paysls/wxpay/functions/createorder/cmd/internal/withcashier"
	"github.com/paysls/wxpay/shared/awsconf"
	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/events"
	"github.com/paysls/wxpay/shared/events/eventbridge"
	"github.com/paysls/wxpay/shared/host"
	"github.com/paysls/wxpay/shared/host/awslambda"
	"github.com/paysls/wxpay/shared/secrets"
	"github.com/paysls/wxpay/shared/store"
	"github.com/paysls/wxpay/shared/store/boltstore"
	"github.com/paysls/wxpay/shared/store/dynamostore"
)

func main() {
	host.ServeHTTP(host.Build{
		Function: "createorder",
		Platform: awslambda.HTTP(),
		Stores:   []store.Driver{dynamostore.URL(awsconf.FromEnv), boltstore.URL},
		Secrets:  []config.SecretSource{secrets.Source(awsconf.FromEnv)},
		Sinks:    []events.SinkDriver{events.WebhookSink, eventbridge.Sink(awsconf.FromEnv)},
	}, withcashier.New)
}
