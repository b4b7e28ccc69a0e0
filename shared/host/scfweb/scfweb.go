// Package scfweb serves an HTTP function as a Tencent Cloud SCF web function: SCF
// starts the package's scf_bootstrap, which execs the binary, and forwards plain HTTP
// to port 9000 (https://cloud.tencent.com/document/product/583/56126).
package scfweb

import (
	"cmp"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"os"

	"github.com/paysls/wxpay/shared/host"
	"github.com/paysls/wxpay/shared/host/internal/request"
)

// addr is where SCF web functions must listen: SCF forwards requests to port 9000
// and asks for 0.0.0.0 rather than loopback. SCF documents no variable for the
// port, so it is fixed.
const addr = "0.0.0.0:9000"

// envAddr replaces addr in tests: SCF itself always connects to port 9000.
const envAddr = "WXPAY_SCF_WEB_ADDR"

// envEventPort is the port SCF's Go1 runtime gives an event function: set, it means
// SCF started this binary as an event function.
const envEventPort = "_LAMBDA_SERVER_PORT"

// HTTP serves an HTTP function on 0.0.0.0:9000 until SIGTERM.
func HTTP() host.Platform {
	return host.Platform{Build: "scfweb", Ready: ready,
		Serve: func(h http.Handler, log *slog.Logger) error {
			return host.ListenAndServe(cmp.Or(os.Getenv(envAddr), addr), clientIP(h), log)
		}}
}

func ready(getenv func(string) string) error {
	if getenv(envEventPort) != "" {
		return errors.New("SCF started this web-function build as an event function (" + envEventPort + " is set): deploy it as a web function (its scf_bootstrap serves :9000), or deploy the scfevent build as the event function")
	}
	return nil
}

// clientIP gives a web function's handler the client's address as RemoteAddr. A
// web function is reached through SCF's in-container proxy, so the connection's
// peer is that proxy, never the client; SCF's function URL front end names the
// client in the x-scf-remote-addr header (documented for function URL requests,
// https://cloud.tencent.cn/document/product/583/96099, and the header the event
// adapter reads too). The value may carry a port. Without a parsable header
// RemoteAddr stays the proxy's address, which no trusted-proxy list should contain,
// so X-Forwarded-For is then never trusted either.
func clientIP(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if vs := r.Header.Values(request.SCFRemoteAddr); len(vs) > 0 {
			if ip, err := netip.ParseAddr(request.HostOnly(vs[0])); err == nil {
				r.RemoteAddr = ip.Unmap().String()
			}
		}
		h.ServeHTTP(w, r)
	})
}
