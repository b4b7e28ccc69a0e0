// Command reconcile is the reconcile function's entry point: a scheduled job on AWS
// Lambda (EventBridge Scheduler), Tencent Cloud SCF (timer trigger) or, locally, one
// pass printing its report. Configuration comes from WXPAY_* variables and STORE_URL.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/paysls/wxpay/functions/reconcile"
	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/runtime"
	"github.com/paysls/wxpay/shared/store/storeurl"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil)).With("function", "reconcile")
	if err := run(log); err != nil {
		log.Error("reconcile stopped", "error", err.Error())
		os.Exit(1)
	}
}

func run(log *slog.Logger) error {
	cfg, err := config.FromEnv()
	if err != nil {
		return err
	}
	st, err := storeurl.Open(context.Background(), os.Getenv("STORE_URL"))
	if err != nil {
		return err
	}
	defer st.Close()
	job, err := reconcile.New(cfg, st, reconcile.Options{Logger: log})
	if err != nil {
		return err
	}
	return runtime.RunJob(job.Run)
}
