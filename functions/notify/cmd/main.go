// Command notify is the notify function's entry point on AWS Lambda, Tencent Cloud SCF
// (event or web function) or a local server; the runtime is picked from the
// environment. Configuration comes from WXPAY_* variables and STORE_URL.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/paysls/wxpay/functions/notify"
	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/runtime"
	"github.com/paysls/wxpay/shared/store/storeurl"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil)).With("function", "notify")
	if err := run(log); err != nil {
		log.Error("notify stopped", "error", err.Error())
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
	h, err := notify.New(cfg, st, log)
	if err != nil {
		return err
	}
	return runtime.ServeHTTP(notify.WithEvents(h, cfg), runtime.Options{Logger: log})
}
