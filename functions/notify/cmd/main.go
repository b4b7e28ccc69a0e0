// Command notify is the notify function's entry point on AWS Lambda, Tencent Cloud SCF
// (event or web function) or a local server; the runtime is picked from the
// environment. Configuration comes from WXPAY_* variables and STORE_URL.
package main

import (
	"log/slog"

	"github.com/paysls/wxpay/functions/notify"
	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/fnmain"
	"github.com/paysls/wxpay/shared/runtime"
	"github.com/paysls/wxpay/shared/store"
)

func main() {
	fnmain.Start("notify", func(cfg config.Config, st store.Store, log *slog.Logger) error {
		h, err := notify.New(cfg, st, log)
		if err != nil {
			return err
		}
		return runtime.ServeHTTP(notify.WithEvents(h, cfg), runtime.Options{Logger: log})
	})
}
