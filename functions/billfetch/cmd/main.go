// Command billfetch is the bill job's entry point on AWS Lambda (EventBridge Scheduler,
// daily 10:30 Asia/Shanghai), Tencent Cloud SCF (timer "0 30 10 * * * *") or locally
// (one run, report on stdout). Configuration comes from WXPAY_* variables, STORE_URL
// and BILLS_URL.
package main

import (
	"log/slog"

	"github.com/paysls/wxpay/functions/billfetch"
	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/fnmain"
	"github.com/paysls/wxpay/shared/runtime"
	"github.com/paysls/wxpay/shared/store"
)

func main() {
	fnmain.Start("billfetch", func(cfg config.Config, st store.Store, log *slog.Logger) error {
		job, err := billfetch.New(cfg, st, billfetch.Options{Logger: log})
		if err != nil {
			return err
		}
		return runtime.RunJob(job.Run)
	})
}
