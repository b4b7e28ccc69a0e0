// Command scfevent is billfetch (the daily bills: fetch, verify, keep in BILLS_URL,
// reconcile) as a Tencent Cloud SCF event function on the Go1 runtime. Stores: Redis (or
// a bbolt file). Secrets: Tencent Cloud SSM (WXPAY_TENCENT_SECRET_NAME) over the
// environment and the keys dir (WXPAY_KEYS_DIR). No AWS code.
//
// What this binary contains is what main lists below; a setting it cannot honour stops
// it at start-up, naming the build that has it (shared/host).
package main

import (
	"github.com/paysls/wxpay/functions/billfetch"
	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/host"
	"github.com/paysls/wxpay/shared/host/scfevent"
	"github.com/paysls/wxpay/shared/secrets/tencentssm"
	"github.com/paysls/wxpay/shared/store"
	"github.com/paysls/wxpay/shared/store/boltstore"
	"github.com/paysls/wxpay/shared/store/redisstore"
)

func main() {
	host.RunJob(host.Build{
		Function: "billfetch",
		Platform: scfevent.Jobs(),
		Stores:   []store.Driver{redisstore.URL, boltstore.URL},
		Secrets:  []config.SecretSource{tencentssm.Source()},
	}, func(env host.Env) (host.Job, error) {
		job, err := billfetch.New(env.Config, env.Store, billfetch.Options{Logger: env.Log})
		if err != nil {
			return nil, err
		}
		return job.Run, nil
	})
}
