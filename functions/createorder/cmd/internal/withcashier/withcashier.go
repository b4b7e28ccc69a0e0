// Package withcashier is what every createorder build serves: the order API — whose
// handler also serves the hosted cashier page under /pay/ (scene "cashier" links point
// there: set WXPAY_PUBLIC_URL to the URL browsers reach the function at) and the
// console under /console — and 公众平台's domain verification file at the root
// (WXPAY_MP_VERIFY). The mains
// (functions/createorder/cmd/<build>) differ only in platform, store drivers, secret
// sources and event sinks (the console resends merchant events through them).
package withcashier

import (
	"net/http"
	"os"

	"github.com/paysls/wxpay/functions/createorder"
	"github.com/paysls/wxpay/shared/host"
)

// New builds the handler from what host started.
func New(env host.Env) (http.Handler, error) {
	h, err := createorder.New(env.Config, env.Store, createorder.Options{Logger: env.Log, Sink: env.Sink})
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	// 公众平台's domain verification file at the root (WXPAY_MP_VERIFY; public).
	if pattern, verify, err := createorder.MPVerify(os.Getenv(createorder.EnvMPVerify)); err != nil {
		return nil, err
	} else if verify != nil {
		mux.Handle(pattern, verify)
	}
	mux.Handle("/", h)
	return mux, nil
}
