// Command lambda is notify (POST /notify, v3 JSON and v2 XML notifications, and the
// merchant events API) on AWS Lambda (provided.al2023, arm64: make build, sam build).
// Stores: DynamoDB (or a bbolt file). Secrets: AWS Secrets Manager / SSM
// (WXPAY_SECRET_ARN, WXPAY_SECRET_SSM_PARAMETER) over the environment and the keys dir.
// AWS credentials and region come from the Lambda environment only (awsconf.FromEnv).
// Merchant events: the signed webhook (WXPAY_WEBHOOK_URL) or EventBridge
// (WXPAY_EVENT_BUS).
//
// What this binary contains is what main lists below; a setting it cannot honour stops
// it at start-up, naming the build that has it (shared/host).
package main

import (
	"net/http"

	"github.com/paysls/wxpay/functions/notify"
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
		Function: "notify",
		Platform: awslambda.HTTP(),
		Stores:   []store.Driver{dynamostore.URL(awsconf.FromEnv), boltstore.URL},
		Secrets:  []config.SecretSource{secrets.Source(awsconf.FromEnv)},
		Sinks:    []events.SinkDriver{events.WebhookSink, eventbridge.Sink(awsconf.FromEnv)},
	}, func(env host.Env) (http.Handler, error) {
		h, err := notify.New(env.Config, env.Store, env.Log, notify.WithSink(env.Sink))
		if err != nil {
			return nil, err
		}
		return notify.WithEvents(h, env.Config), nil
	})
}
