// Command local is reconcile (query what is due, close what expired, deliver owed
// merchant events) on any host: one run, its report as JSON on stdout. Stores: bbolt
// (the default), DynamoDB, Redis. Secrets: AWS Secrets Manager / SSM and Tencent Cloud
// SSM over the environment and the keys dir; AWS credentials through the SDK's default
// chain (profiles, SSO, roles). Merchant events: the signed webhook (WXPAY_WEBHOOK_URL)
// or EventBridge (WXPAY_EVENT_BUS).
//
// What this binary contains is what main lists below; a setting it cannot honour stops
// it at start-up, naming the build that has it (shared/host).
package main

import (
	"github.com/paysls/wxpay/functions/reconcile"
	"github.com/paysls/wxpay/shared/awsconf/defaultchain"
	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/events"
	"github.com/paysls/wxpay/shared/events/eventbridge"
	"github.com/paysls/wxpay/shared/host"
	"github.com/paysls/wxpay/shared/secrets"
	"github.com/paysls/wxpay/shared/secrets/tencentssm"
	"github.com/paysls/wxpay/shared/store"
	"github.com/paysls/wxpay/shared/store/boltstore"
	"github.com/paysls/wxpay/shared/store/dynamostore"
	"github.com/paysls/wxpay/shared/store/redisstore"
)

func main() {
	host.RunJob(host.Build{
		Function: "reconcile",
		Platform: host.LocalJobs(),
		Stores:   []store.Driver{boltstore.URL, dynamostore.URL(defaultchain.Load), redisstore.URL},
		Secrets:  []config.SecretSource{secrets.Source(defaultchain.Load), tencentssm.Source()},
		Sinks:    []events.SinkDriver{events.WebhookSink, eventbridge.Sink(defaultchain.Load)},
	}, func(env host.Env) (host.Job, error) {
		job, err := reconcile.New(env.Config, env.Store, reconcile.Options{Logger: env.Log, Sink: env.Sink})
		if err != nil {
			return nil, err
		}
		return job.Run, nil
	})
}
