package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/paysls/wxpay/functions/notify"
	"github.com/paysls/wxpay/shared/awsconf/defaultchain"
	"github.com/paysls/wxpay/shared/clock"
	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/events"
	"github.com/paysls/wxpay/shared/events/eventbridge"
	"github.com/paysls/wxpay/shared/keysdir"
	"github.com/paysls/wxpay/shared/paysim"
	"github.com/paysls/wxpay/shared/store"
	"github.com/paysls/wxpay/shared/store/storeurl"
)

// apiTokenFile holds the bearer token callers of the bundle's own API present
// (WXPAY_API_TOKEN when deployed). serve writes it beside the identity files.
const apiTokenFile = "api_token"

// serveOptions are the flags of `wxpay serve`.
type serveOptions struct {
	addr       string
	keysDir    string
	storeURL   string
	mode       string
	retryScale float64
	live       bool // WeChat Pay credentials from the environment: no simulator
	webhookURL string
	apiBase    string // this server's base URL: the simulator's API base
}

// bundle is everything `wxpay serve` runs: every HTTP function on one mux, and, without
// real credentials, the simulator on the same port so nothing needs configuring.
type bundle struct {
	handler http.Handler
	sim     *paysim.Simulator // nil in live mode
	store   store.Store
	id      *keysdir.Identity // nil in live mode
	token   string
	dbURL   string
	// stopEvents ends the event delivery timer.
	stopEvents func()
	// now is the business clock: the simulator's virtual clock, else the wall clock.
	now clock.Func
	// jobs are the scheduled functions (reconcile, billfetch); stopJobs ends their timer.
	jobs     *jobSet
	stopJobs func()
}

func (b *bundle) clock() clock.Func { return clock.Or(b.now) }

func (b *bundle) Close() error {
	var errs []error
	if b.stopJobs != nil {
		b.stopJobs()
	}
	if b.stopEvents != nil {
		b.stopEvents()
	}
	if b.sim != nil {
		errs = append(errs, b.sim.Close())
	}
	errs = append(errs, b.store.Close())
	return errors.Join(errs...)
}

// runServe is `wxpay serve` (and `make run`).
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", "[--addr 127.0.0.1:8080] [--keys-dir DIR] [--store URL] [--mode cert|pubkey] [--retry-scale X]", stderr)
	var o serveOptions
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8080", "listen address")
	fs.StringVar(&o.keysDir, "keys-dir", filepath.Join(".wxpay", "sim"), "`DIR` of the simulator identity (as wxpay sim writes it) and api_token; created when empty")
	fs.StringVar(&o.storeURL, "store", "", "store `URL` (bolt:///path, dynamodb://TABLE?…, redis://…) (default $STORE_URL, else a bbolt file beside the keys dir)")
	fs.StringVar(&o.mode, "mode", paysim.ModeCert, "simulator signs under the platform certificate (cert) or PUB_KEY_ID (pubkey)")
	fs.Float64Var(&o.retryScale, "retry-scale", 1, "simulator: multiply WeChat Pay's notification retry schedule by this")
	fs.StringVar(&o.webhookURL, "webhook-url", "", "where merchant events are POSTed, signed with <keys-dir>/webhook_secret (default $"+config.EnvWebhookURL+")")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if o.storeURL == "" {
		o.storeURL = os.Getenv("STORE_URL")
	}
	// Real credentials in the environment mean a real merchant: never mix them with
	// the simulator's keys.
	o.live = os.Getenv(config.EnvMchID) != "" || os.Getenv(config.EnvKeysDir) != ""
	log := slog.New(slog.NewJSONHandler(stderr, nil)).With("cmd", "serve")
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", o.addr, err)
	}
	o.apiBase = "http://" + ln.Addr().String()
	b, err := newBundle(ctx, o, log)
	if err != nil {
		ln.Close()
		return err
	}
	defer b.Close()
	printServeBanner(stdout, o, b, "http://"+ln.Addr().String())
	var closeSim func()
	if b.sim != nil {
		closeSim = func() { _ = b.sim.Close() }
	}
	if err := serveUntilDone(ctx, ln, b.handler, closeSim); err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}

// newBundle opens the store, loads or creates the identity and assembles the mux.
func newBundle(ctx context.Context, o serveOptions, log *slog.Logger) (*bundle, error) {
	if !o.live && o.apiBase == "" {
		// Where this bundle is reached: runServe knows it after listening; a caller that
		// does not say gets the listen address, or the default one.
		o.apiBase = "http://" + firstNonEmpty(o.addr, "127.0.0.1:8080")
	}
	b := &bundle{dbURL: o.storeURL}
	var cfg config.Config
	var err error
	if o.live {
		if cfg, err = config.FromEnv(); err != nil {
			return nil, err // config's errors name the variable
		}
	} else {
		if b.id, _, err = keysdir.LoadOrCreate(o.keysDir); err != nil {
			return nil, err // keysdir's errors name the file
		}
		if cfg, err = config.FromKeysDir(o.keysDir); err != nil {
			return nil, err
		}
		if b.token, err = loadOrCreateSecret(filepath.Join(o.keysDir, apiTokenFile), ""); err != nil {
			return nil, err
		}
	}
	if b.dbURL == "" {
		b.dbURL = "bolt://" + filepath.Join(filepath.Dir(filepath.Clean(o.keysDir)), "wxpay.db")
	}
	if b.store, err = storeurl.Open(ctx, b.dbURL); err != nil {
		return nil, err
	}
	if err := configureServeEvents(&cfg, o, b); err != nil {
		b.store.Close()
		return nil, err
	}
	if !o.live {
		// The simulator first: its virtual clock is every function's clock.
		b.sim, err = paysim.New(paysim.Config{Identity: b.id, Mode: o.mode, RetryScale: o.retryScale, PublicURL: o.apiBase, Logger: log.With("component", "paysim")})
		if err != nil {
			b.store.Close()
			return nil, err
		}
		b.now = b.sim.Clock().Now
		configureServeSimulator(&cfg, o)
	}
	// The CLI links every sink: the signed webhook, and EventBridge (--live with WXPAY_EVENT_BUS).
	sink, err := events.SinkFromConfig(ctx, cfg.Bundle, nil, events.WebhookSink, eventbridge.Sink(defaultchain.Load))
	if err != nil && !errors.Is(err, events.ErrNoSink) {
		b.Close()
		return nil, err
	}
	nh, err := notify.New(cfg, b.store, log.With("function", "notify"), notify.WithSink(sink))
	if err != nil {
		b.Close()
		return nil, err // "notify: configuration: …"
	}
	followClock(nh, b.clock())
	mux := http.NewServeMux()
	notify.Routes(mux, nh, cfg)
	routes := []string{"POST /notify", "GET /events?undelivered=1", "GET /events/{id}", "POST /events/{id}/resend"}
	if b.sim != nil {
		mux.Handle("/v3/", b.sim)
		mux.Handle("/sim/", b.sim)
		// WeChat's OAuth (snsapi_base) for JSAPI openids, at the paths WeChat serves it.
		mux.Handle("/connect/", b.sim)
		mux.Handle("/sns/", b.sim)
		routes = append(routes, "/v3/… (simulated WeChat Pay API)", "/sim/… (simulator driver API)", "/connect/oauth2/authorize, /sns/oauth2/access_token (simulated WeChat OAuth)")
	}
	orderRoutes, err := b.mountOrders(mux, cfg, log)
	if err != nil {
		b.Close()
		return nil, err
	}
	jobRoutes, err := b.mountJobs(mux, cfg, o, log)
	if err != nil {
		b.Close()
		return nil, err
	}
	routes = append(append(routes, orderRoutes...), jobRoutes...)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if _, err := b.store.Get(r.Context(), "healthz"); err != nil && !errors.Is(err, store.ErrNotFound) {
			// The error names hosts and tables: it goes to the log, not to the caller.
			log.ErrorContext(r.Context(), "healthz: store unavailable", "err", err.Error())
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "error": "the store is not reachable; see the server log"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	routes = append(routes, "GET /healthz")
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"service": "wxpay", "version": versionString(), "routes": routes})
	})
	b.handler = mux
	scaleEventBackoff(nh, o)
	b.stopEvents = startEventTimer(nh, log.With("component", "events"))
	return b, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func printServeBanner(w io.Writer, o serveOptions, b *bundle, base string) {
	fmt.Fprintf(w, "wxpay serve: listening on %s\n\n", base)
	fmt.Fprintf(w, "  POST %s/orders …     the order API: create, read, close, refund (Authorization: Bearer <api_token>)\n", base)
	fmt.Fprintf(w, "  POST %s/notify       WeChat Pay notifications (notify_url)\n", base)
	printEventsBanner(w, o, base)
	if b.jobs != nil && len(b.jobs.jobs) > 0 {
		fmt.Fprintf(w, "  POST %s/jobs/{name}  run a scheduled function now (%s); they also run on timers\n", base, joinNames(b.jobs.names()))
	}
	fmt.Fprintf(w, "  GET  %s/healthz      liveness and store check\n", base)
	fmt.Fprintf(w, "  store: %s\n", redactURL(b.dbURL))
	if b.sim == nil {
		fmt.Fprintf(w, "\nLive mode: credentials from the environment (WXPAY_*); no simulator.\n")
		return
	}
	abs, err := filepath.Abs(o.keysDir)
	if err != nil {
		abs = o.keysDir
	}
	fmt.Fprintf(w, "\nSimulator mode (%s): a local WeChat Pay on the same port, on a virtual clock (POST /sim/clock).\n", o.mode)
	fmt.Fprintf(w, "  %s/v3/…   the WeChat Pay API: configure any client (the official SDK too) from\n", base)
	fmt.Fprintf(w, "           %s (mchid %s, merchant serial %s)\n", abs, b.id.MchID, b.id.MerchantSerial)
	fmt.Fprintf(w, "  %s/sim/…  play the payer, settle refunds, list deliveries, switch faults, move the clock\n", base)
	fmt.Fprintf(w, "  API token: %s\n\n", filepath.Join(abs, apiTokenFile))
	fmt.Fprintf(w, "Try it — create an order, pay it as the simulated user, read it:\n")
	tok := "$(cat " + filepath.Join(o.keysDir, apiTokenFile) + ")"
	fmt.Fprintf(w, "  curl -s -X POST %s/orders -H \"Authorization: Bearer %s\" -d '{\"order_id\":\"COFFEE0001\",\"amount\":1234,\"description\":\"Latte\",\"scene\":\"native\"}'\n", base, tok)
	fmt.Fprintf(w, "  curl -s -X POST %s/sim/orders/COFFEE0001/pay\n", base)
	fmt.Fprintf(w, "  curl -s %s/orders/COFFEE0001 -H \"Authorization: Bearer %s\"\n\n", base, tok)
	fmt.Fprintf(w, "Serving until Ctrl-C. Logs (JSON) go to stderr.\n")
}

// redactURL hides a password in a store URL.
func redactURL(raw string) string {
	if i := strings.Index(raw, "@"); i > 0 {
		if j := strings.Index(raw, "://"); j > 0 && j < i {
			return raw[:j+3] + "…@" + raw[i+1:]
		}
	}
	return raw
}
