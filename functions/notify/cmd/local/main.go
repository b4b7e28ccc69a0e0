// Command local is notify (POST /notify, v3 JSON and v2 XML notifications, and the
// merchant events API) on any host as a plain server on -addr (default 127.0.0.1:8080).
// Stores: bbolt (the default), DynamoDB, Redis. Secrets: AWS Secrets Manager / SSM and
// Tencent Cloud SSM over the environment and the keys dir; AWS credentials through the
// SDK's default chain (profiles, SSO, roles). Merchant events: the signed webhook
// (WXPAY_WEBHOOK_URL) or EventBridge (WXPAY_EVENT_BUS).
//
// What this binary contains is what main lists below; a setting it cannot honour stops
// it at start-up, naming the build that has it (shared/host).
package main

import (
	"flag"
	"net/http"

	"github.com/paysls/wxpay/functions/notify"
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
	addr := flag.String("addr", host.DefaultAddr, "listen `address`")
	flag.Parse()
	host.ServeHTTP(host.Build{
		Function: "notify",
		Platform: host.LocalHTTP(*addr),
		Stores:   []store.Driver{boltstore.URL, dynamostore.URL(defaultchain.Load), redisstore.URL},
		Secrets:  []config.SecretSource{secrets.Source(defaultchain.Load), tencentssm.Source()},
		Sinks:    []events.SinkDriver{events.WebhookSink, eventbridge.Sink(defaultchain.Load)},
	}, func(env host.Env) (http.Handler, error) {
		h, err := notify.New(env.Config, env.Store, env.Log, notify.WithSink(env.Sink))
		if err != nil {
			return nil, err
		}
		return notify.WithEvents(h, env.Config), nil
	})
}
