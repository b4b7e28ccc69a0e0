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
	"slices"

	"github.com/paysls/wxpay/shared/config"
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

// clientIP gives a web function's handler the client's address as RemoteAddr only
// where it is certain. A web function is reached through SCF's in-container proxy, so
// the connection's peer is that proxy, never the client. The web function docs list
// the headers SCF adds ("函数公共请求头", https://cloud.tencent.com/document/product/583/56124:
// request id, memory, timeout, version, name, namespace, region, the role's key) and
// no client address; x-scf-remote-addr is documented for function URL event payloads
// (https://cloud.tencent.cn/document/product/583/96099), not for web functions. So the
// address is taken only when the merchant vouches for the proxy by listing its
// address in TRUSTED_PROXIES: then x-scf-remote-addr (the platform's view, port
// dropped), else the handler walks X-Forwarded-For from that trusted hop. Otherwise
// RemoteAddr becomes unknownClient, which is not an address: the scenes that need the
// user's IP (H5's payer_client_ip) refuse with CLIENT_IP_UNKNOWN instead of sending
// WeChat Pay the proxy's loopback address.
func clientIP(h http.Handler) http.Handler {
	// A malformed list trusts nothing here; config.FromEnv has already stopped the
	// function naming it.
	trusted, _ := config.ParseTrustedProxies(os.Getenv(config.EnvTrustedProxies))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		peer, err := netip.ParseAddr(request.HostOnly(r.RemoteAddr))
		if err != nil || !slices.ContainsFunc(trusted, func(p netip.Prefix) bool { return p.Contains(peer.Unmap()) }) {
			r.RemoteAddr = unknownClient
		} else if vs := r.Header.Values(request.SCFRemoteAddr); len(vs) > 0 {
			if ip, err := netip.ParseAddr(request.HostOnly(vs[0])); err == nil {
				r.RemoteAddr = ip.Unmap().String()
			}
		}
		h.ServeHTTP(w, r)
	})
}

// unknownClient is an SCF web request's RemoteAddr when its client address is not
// certain; it reads as the fix in the error a handler reports.
const unknownClient = "client-address-unknown-on-SCF-web-set-TRUSTED_PROXIES"
