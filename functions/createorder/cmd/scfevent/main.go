// Command scfevent is createorder (the order API and its cashier page; WXPAY_API_TOKEN
// and WXPAY_NOTIFY_URL are required) as a Tencent Cloud SCF event function on the Go1
// runtime. Stores: Redis (or a bbolt file). Secrets: Tencent Cloud SSM
// (WXPAY_TENCENT_SECRET_NAME) over the environment and the keys dir (WXPAY_KEYS_DIR).
// No AWS code.
// Merchant events the console resends: the signed webhook (WXPAY_WEBHOOK_URL).
//
// What this binary contains is what main lists below; a setting it cannot honour stops
// it at start-up, naming the build that has it (shared/host).
package main

import (
	"github.com/paysls/wxpay/functions/createorder/cmd/internal/withcashier"
	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/events"
	"github.com/paysls/wxpay/shared/host"
	"github.com/paysls/wxpay/shared/host/scfevent"
	"github.com/paysls/wxpay/shared/secrets/tencentssm"
	"github.com/paysls/wxpay/shared/store"
	"github.com/paysls/wxpay/shared/store/boltstore"
	"github.com/paysls/wxpay/shared/store/redisstore"
)

func main() {
	host.ServeHTTP(host.Build{
		Function: "createorder",
		Platform: scfevent.HTTP(),
		Stores:   []store.Driver{redisstore.URL, boltstore.URL},
		Secrets:  []config.SecretSource{tencentssm.Source()},
		Sinks:    []events.SinkDriver{events.WebhookSink},
	}, withcashier.New)
}
