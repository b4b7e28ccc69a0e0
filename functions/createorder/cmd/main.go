// Command createorder is the order API's entry point on AWS Lambda, Tencent Cloud SCF
// (event or web function) or a local server; the runtime is picked from the
// environment. It also serves the hosted cashier page under /pay/ (scene "cashier"
// links point there: set WXPAY_PUBLIC_URL to the URL browsers reach this function at). Configuration comes from WXPAY_* variables (WXPAY_API_TOKEN and
// WXPAY_NOTIFY_URL are required) and STORE_URL.
package main

import (
	"log/slog"
	"net/http"
	"os"

	"github.com/paysls/wxpay/functions/createorder"
	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/fnmain"
	"github.com/paysls/wxpay/shared/runtime"
	"github.com/paysls/wxpay/shared/store"
)

func main() {
	fnmain.Start("createorder", func(cfg config.Config, st store.Store, log *slog.Logger) error {
		// The order API's handler serves the hosted cashier page under /pay/ too.
		h, err := createorder.New(cfg, st, createorder.Options{Logger: log})
		if err != nil {
			return err
		}
		mux := http.NewServeMux()
		// 公众平台's domain verification file at the root (WXPAY_MP_VERIFY; public).
		if pattern, verify, err := createorder.MPVerify(os.Getenv(createorder.EnvMPVerify)); err != nil {
			return err
		} else if verify != nil {
			mux.Handle(pattern, verify)
		}
		mux.Handle("/", h)
		return runtime.ServeHTTP(mux, runtime.Options{Logger: log})
	})
}
