// Command createorder is the order API's entry point on AWS Lambda, Tencent Cloud SCF
// (event or web function) or a local server; the runtime is picked from the
// environment. Configuration comes from WXPAY_* variables (WXPAY_API_TOKEN and
// WXPAY_NOTIFY_URL are required) and STORE_URL.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/paysls/wxpay/functions/createorder"
	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/runtime"
	"github.com/paysls/wxpay/shared/store/storeurl"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil)).With("function", "createorder")
	if err := run(log); err != nil {
		log.Error("createorder stopped", "error", err.Error())
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
	h, err := createorder.New(cfg, st, createorder.Options{Logger: log})
	if err != nil {
		return err
	}
	return runtime.ServeHTTP(h, runtime.Options{Logger: log})
}
