package runtime

import (
	"log/slog"
	"net/http"
	"net/netip"
	"os"

	"github.com/paysls/wxpay/shared/config"
)

// DefaultAddr is where a local server listens when Options.Addr is empty.
// Loopback only: a developer's payment backend should not face the LAN by default.
const DefaultAddr = "127.0.0.1:8080"

// scfWebAddr is the address SCF web functions must listen on: SCF forwards
// requests to port 9000 and asks for 0.0.0.0 rather than loopback. SCF does not
// document an environment variable for the port, so it is fixed.
const scfWebAddr = "0.0.0.0:9000"

// Options tunes ServeHTTP.
type Options struct {
	// Addr is the local listen address; DefaultAddr when empty. Ignored on
	// Lambda and SCF, where the platform decides.
	Addr string
	// Logger receives lifecycle messages; JSON to stderr when nil.
	Logger *slog.Logger
}

func (o Options) logger() *slog.Logger {
	if o.Logger != nil {
		return o.Logger
	}
	return defaultLogger()
}

// defaultLogger writes JSON to stderr: both Lambda and SCF ship stderr to their
// log services, and JSON lines stay queryable there.
func defaultLogger() *slog.Logger { return slog.New(slog.NewJSONHandler(os.Stderr, nil)) }

// ServeHTTP runs h on the detected platform; it is the whole body of an HTTP
// function's main. On Lambda and SCF event functions it never returns (the
// platform libraries exit the process on fatal errors); for local and SCF web
// servers it returns nil after a graceful shutdown on SIGINT/SIGTERM, or the
// error that stopped the server.
func ServeHTTP(h http.Handler, opts Options) error {
	log := opts.logger()
	p := Detect()
	log.Info("starting HTTP function", "platform", p.String())
	switch p {
	case Lambda:
		return startLambdaHTTP(h)
	case SCFEvent:
		if err := scfEventRuntimeReady(os.Getenv); err != nil {
			return err
		}
		return startSCF(scfHTTPHandler(h))
	case SCFWeb:
		addr := scfWebAddr
		if a := os.Getenv(envSCFWebAddr); a != "" {
			addr = a // tests only: SCF itself always connects to port 9000
		}
		return listenAndServe(addr, scfWebClientIP(h), log)
	default:
		addr := opts.Addr
		if addr == "" {
			addr = DefaultAddr
		}
		return listenAndServe(addr, h, log)
	}
}

// ensureStatus makes a handler that returns without writing anything answer
// 200, as net/http does. aws-lambda-go-api-proxy instead turns such a response
// into a 504 ("Status code not set on response").
func ensureStatus(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r)
		if !sw.wrote {
			sw.WriteHeader(http.StatusOK)
		}
	})
}

type statusWriter struct {
	http.ResponseWriter
	wrote bool
}

func (w *statusWriter) WriteHeader(code int) {
	w.wrote = true
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// scfWebClientIP gives a web function's handler the client's address as RemoteAddr
// only where it is certain. A web function is reached through SCF's in-container
// proxy, so the connection's peer is that proxy, never the client. The web function
// docs list the headers SCF adds ("函数公共请求头", https://cloud.tencent.com/document/product/583/56124:
// request id, memory, timeout, version, name, namespace, region, the role's key) and
// no client address; x-scf-remote-addr is documented for function URL event payloads
// (https://cloud.tencent.cn/document/product/583/96099), not for web functions. So the
// address is taken only when the merchant vouches for the proxy by listing its
// address in TRUSTED_PROXIES: then x-scf-remote-addr (the platform's view, port
// dropped), else the handler walks X-Forwarded-For from that trusted hop. Otherwise
// RemoteAddr becomes scfWebUnknownClient, which is not an address: the scenes that
// need the user's IP (H5's payer_client_ip) refuse with CLIENT_IP_UNKNOWN instead of
// sending WeChat Pay the proxy's loopback address.
func scfWebClientIP(h http.Handler) http.Handler {
	// A malformed list trusts nothing here; config.FromEnv has already stopped the
	// function naming it.
	trusted, _ := config.ParseTrustedProxies(os.Getenv(config.EnvTrustedProxies))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		peer, err := netip.ParseAddr(hostOnly(r.RemoteAddr))
		if err != nil || !containsAddr(trusted, peer.Unmap()) {
			r.RemoteAddr = scfWebUnknownClient
		} else if vs := r.Header.Values(scfRemoteAddrHeader); len(vs) > 0 {
			if ip, err := netip.ParseAddr(hostOnly(vs[0])); err == nil {
				r.RemoteAddr = ip.Unmap().String()
			}
		}
		h.ServeHTTP(w, r)
	})
}

// scfWebUnknownClient is an SCF web request's RemoteAddr when its client address is
// not certain; it reads as the fix in the error a handler reports.
const scfWebUnknownClient = "client-address-unknown-on-SCF-web-set-TRUSTED_PROXIES"

func containsAddr(ps []netip.Prefix, a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
