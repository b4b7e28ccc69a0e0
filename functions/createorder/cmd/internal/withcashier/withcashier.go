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
	"sync"

	"github.com/paysls/wxpay/functions/createorder"
	"github.com/paysls/wxpay/shared/host"
)

// New builds the handler from what host started.
func New(env host.Env) (http.Handler, error) {
	h, err := createorder.New(env.Config, env.Store, createorder.Options{Logger: env.Log, Sink: env.Sink})
	if err != nil {
		return nil, err
	}
	// 公众平台's domain verification file at the root (WXPAY_MP_VERIFY; public): the
	// setting is checked here, the mux serving it built by the first request — a cold
	// start's first ServeMux registration costs about 50 µs and needs no setting.
	pattern, verify, err := createorder.MPVerify(os.Getenv(createorder.EnvMPVerify))
	if err != nil {
		return nil, err
	}
	mux := sync.OnceValue(func() *http.ServeMux {
		mux := http.NewServeMux()
		if verify != nil {
			mux.Handle(pattern, verify)
		}
		mux.Handle("/", h)
		return mux
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { mux().ServeHTTP(w, r) }), nil
}
