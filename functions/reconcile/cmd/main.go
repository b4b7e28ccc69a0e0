// Command reconcile is the reconcile function's entry point: a scheduled job on AWS
// Lambda (EventBridge Scheduler), Tencent Cloud SCF (timer trigger) or, locally, one
// pass printing its report. Configuration comes from WXPAY_* variables and STORE_URL.
package main

import (
	"log/slog"

	"github.com/paysls/wxpay/functions/reconcile"
	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/fnmain"
	"github.com/paysls/wxpay/shared/runtime"
	"github.com/paysls/wxpay/shared/store"
)

func main() {
	fnmain.Start("reconcile", func(cfg config.Config, st store.Store, log *slog.Logger) error {
		job, err := reconcile.New(cfg, st, reconcile.Options{Logger: log})
		if err != nil {
			return err
		}
		return runtime.RunJob(job.Run)
	})
}
