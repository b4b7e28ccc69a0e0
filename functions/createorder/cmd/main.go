// Command createorder is the order API's entry point on AWS Lambda, Tencent Cloud SCF
// (event or web function) or a local server; the runtime is picked from the
// environment. Configuration comes from WXPAY_* variables (WXPAY_API_TOKEN and
// WXPAY_NOTIFY_URL are required) and STORE_URL.
package main

import (
	"log/slog"

	"github.com/paysls/wxpay/functions/createorder"
	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/fnmain"
	"github.com/paysls/wxpay/shared/runtime"
	"github.com/paysls/wxpay/shared/store"
)

func main() {
	fnmain.Start("createorder", func(cfg config.Config, st store.Store, log *slog.Logger) error {
		h, err := createorder.New(cfg, st, createorder.Options{Logger: log})
		if err != nil {
			return err
		}
		return runtime.ServeHTTP(h, runtime.Options{Logger: log})
	})
}
