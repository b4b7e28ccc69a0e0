// Command lambda is reconcile (query what is due, close what expired, deliver owed
// merchant events) on AWS Lambda (provided.al2023, arm64: make build, sam build).
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
	"github.com/paysls/wxpay/functions/reconcile"
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
	host.RunJob(host.Build{
		Function: "reconcile",
		Platform: awslambda.Jobs(),
		Stores:   []store.Driver{dynamostore.URL(awsconf.FromEnv), boltstore.URL},
		Secrets:  []config.SecretSource{secrets.Source(awsconf.FromEnv)},
		Sinks:    []events.SinkDriver{events.WebhookSink, eventbridge.Sink(awsconf.FromEnv)},
	}, func(env host.Env) (host.Job, error) {
		job, err := reconcile.New(env.Config, env.Store, reconcile.Options{Logger: env.Log, Sink: env.Sink})
		if err != nil {
			return nil, err
		}
		return job.Run, nil
	})
}
