// Command billfetch is the bill job's entry point on AWS Lambda (EventBridge Scheduler,
// daily 10:30 Asia/Shanghai), Tencent Cloud SCF (timer "0 30 10 * * * *") or locally
// (one run, report on stdout). Configuration comes from WXPAY_* variables, STORE_URL
// and BILLS_URL.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/paysls/wxpay/functions/billfetch"
	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/runtime"
	"github.com/paysls/wxpay/shared/store/storeurl"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil)).With("function", "billfetch")
	if err := run(log); err != nil {
		log.Error("billfetch stopped", "error", err.Error())
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
	job, err := billfetch.New(cfg, st, billfetch.Options{Logger: log})
	if err != nil {
		return err
	}
	return runtime.RunJob(job.Run)
}
