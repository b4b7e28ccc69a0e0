package main

import (
	"cmp"
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
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/paysls/wxpay/functions/notify"
	"github.com/paysls/wxpay/internal/paysim"
	"github.com/paysls/wxpay/shared/apiauth"
	"github.com/paysls/wxpay/shared/awsconf/defaultchain"
	"github.com/paysls/wxpay/shared/clock"
	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/events"
	"github.com/paysls/wxpay/shared/events/eventbridge"
	"github.com/paysls/wxpay/shared/keysdir"
	"github.com/paysls/wxpay/shared/store"
	"github.com/paysls/wxpay/shared/store/storeurl"
)

// apiTokenFile holds the bearer token callers of the bundle's own API present
// (WXPAY_API_TOKEN when deployed). serve writes it beside the identity files.
const apiTokenFile = "api_token"

const serveSynopsis = `[--addr 127.0.0.1:8080] [--keys-dir DIR] [--store URL] [--webhook-url URL] [--reset] [--mode cert|pubkey] [--retry-scale X]

Runs the whole bundle on one HTTP server: the order API and the cashier page
(createorder), notify and the events API, and the scheduled functions (reconcile,
billfetch) on timers and on POST /jobs/{name}.

With a simulator identity in --keys-dir (created there when the directory is empty) a
simulated WeChat Pay runs on the same port, on a virtual clock: nothing to configure.
Its orders, refunds, deliveries and clock are kept in paysim.json beside the store
(wxpay.db and bills/, in the keys dir's parent directory), so a restart resumes the same
world; --reset starts both afresh. With a merchant's own keys (a keys dir without
platform_private_key.pem, or WXPAY_MCHID in the environment) it calls WeChat Pay itself.

In both modes the keys dir supplies identity and secrets and the environment supplies
the settings (WXPAY_WEBHOOK_URL, TRUSTED_PROXIES, WXPAY_PARTNER, WXPAY_ORDER_TTL,
WXPAY_REFUND_LATE_PAYMENTS, …: README "Configuration"); the banner lists the settings
in force and where each came from. wxpay up runs it in the background.`

// serveOptions are the flags of `wxpay serve`.
type serveOptions struct {
	addr       string
	keysDir    string
	storeURL   string
	mode       string
	retryScale float64
	live       bool // a merchant's own credentials: no simulator
	// liveKeysDir is the keys dir of live mode ("" when the identity comes from the
	// environment alone).
	liveKeysDir string
	webhookURL  string
	apiBase     string // this server's base URL: the simulator's API base
	reset       bool   // start the simulated world afresh (store, simulator state, bills)
	// wrapStore, in tests, wraps the store every function uses (a crash at a write).
	wrapStore func(store.Store) store.Store
}

// stateDir holds what the bundle keeps beside the keys dir: the bbolt store, the
// simulator's state and the bills (.wxpay for the default keys dir .wxpay/sim).
func (o serveOptions) stateDir() string { return filepath.Dir(filepath.Clean(o.keysDir)) }

// simStateFile is where the simulator's world is kept.
func (o serveOptions) simStateFile() string { return filepath.Join(o.stateDir(), "paysim.json") }

// bundle is everything `wxpay serve` runs: every HTTP function on one mux, and, without
// real credentials, the simulator on the same port so nothing needs configuring.
type bundle struct {
	handler  http.Handler
	sim      *paysim.Simulator // nil in live mode
	simState *paysim.StateFile // keeps sim's world beside the store
	store    store.Store
	id       *keysdir.Identity // nil in live mode
	token    string
	dbURL    string
	cfg      config.Config // the configuration in force, for the banner
	// notes are lines the banner adds about the local world (resumed, reset, a warning).
	notes []string
	// stopEvents ends the event delivery timer.
	stopEvents func()
	// now is the business clock: the simulator's virtual clock, else the wall clock.
	now clock.Func
	// jobs are the scheduled functions (reconcile, billfetch); stopJobs ends their timer.
	jobs     *jobSet
	stopJobs func()
	// consolePassword is the password of the console user serve made (printed once).
	consolePassword string
	// sink is where merchant events go (nil: recorded, not sent).
	sink events.Sink
}

func (b *bundle) clock() clock.Func { return clock.Or(b.now) }

// Close stops the timers and the simulator, saves the simulator's world once more and
// closes the store.
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
	if b.simState != nil {
		errs = append(errs, b.simState.Close())
	}
	if b.store != nil {
		errs = append(errs, b.store.Close())
	}
	return errors.Join(errs...)
}

// runServe is `wxpay serve` (and `make run`).
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", serveSynopsis, stdout, stderr)
	var o serveOptions
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8080", "listen address")
	fs.StringVar(&o.keysDir, "keys-dir", "", "keys `DIR`: a simulator identity (created when empty) or a merchant's keys; api_token and webhook_secret are written there (default $"+config.EnvKeysDir+", else "+defaultKeysDir+")")
	fs.StringVar(&o.storeURL, "store", "", "store `URL` (bolt:///path, dynamodb://TABLE?…, redis://…) (default $STORE_URL, else wxpay.db beside the keys dir)")
	fs.StringVar(&o.webhookURL, "webhook-url", "", "`URL` merchant events are POSTed to, signed with <keys-dir>/webhook_secret (default $"+config.EnvWebhookURL+")")
	fs.BoolVar(&o.reset, "reset", false, "simulator: start the local world afresh: remove the bbolt store, the simulator's state and the bills (the keys and api_token stay)")
	fs.StringVar(&o.mode, "mode", paysim.ModeCert, "simulator signs under the platform certificate (cert) or PUB_KEY_ID (pubkey)")
	fs.Float64Var(&o.retryScale, "retry-scale", 1, "simulator: multiply WeChat Pay's notification retry schedule by this")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	resolveServeMode(&o, flagSet(fs, "keys-dir"))
	if o.storeURL == "" {
		o.storeURL = os.Getenv("STORE_URL")
	}
	log := slog.New(slog.NewJSONHandler(stderr, nil)).With("cmd", "serve")
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w%s", o.addr, err, addrInUseHint(err, o.addr))
	}
	o.apiBase = "http://" + ln.Addr().String()
	b, err := newBundle(ctx, o, log)
	if err != nil {
		ln.Close()
		return err
	}
	defer b.Close()
	printServeBanner(stdout, o, b, "http://"+ln.Addr().String())
	// Where this bundle runs, for wxpay up/down and the commands that reach it.
	defer publishServe(o, b, "http://"+ln.Addr().String())()
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

// defaultKeysDir is where `make run` and every command look for the simulator's keys.
var defaultKeysDir = filepath.Join(".wxpay", "sim")

// resolveServeMode picks the keys dir (--keys-dir, else $WXPAY_KEYS_DIR, else the
// default) and the mode: live when WXPAY_MCHID is set (a merchant configured in the
// environment) or the keys dir holds a merchant's own keys; the simulator otherwise.
func resolveServeMode(o *serveOptions, keysDirGiven bool) {
	env := os.Getenv(config.EnvKeysDir)
	switch {
	case keysDirGiven && o.keysDir != "":
	case env != "":
		o.keysDir = env
	default:
		o.keysDir = defaultKeysDir
	}
	merchantDir := keysdir.HasIdentity(o.keysDir) && !keysdir.IsSimulator(o.keysDir)
	o.live = os.Getenv(config.EnvMchID) != "" || merchantDir
	if o.live && (keysDirGiven || env != "" || merchantDir) {
		o.liveKeysDir = o.keysDir
	}
}

// addrInUseHint says what to do when the port is taken, most often by a bundle
// already running.
func addrInUseHint(err error, addr string) string {
	if !errors.Is(err, syscall.EADDRINUSE) {
		return ""
	}
	return " (another process serves it: a wxpay serve started earlier? `wxpay down` stops one started by `wxpay up`; or choose another --addr)"
}

// newBundle opens the store, loads or creates the identity and assembles the mux.
func newBundle(ctx context.Context, o serveOptions, log *slog.Logger) (*bundle, error) {
	if !o.live && o.apiBase == "" {
		// Where this bundle is reached: runServe knows it after listening; a caller that
		// does not say gets the listen address, or the default one.
		o.apiBase = "http://" + cmp.Or(o.addr, "127.0.0.1:8080")
	}
	b := &bundle{dbURL: o.storeURL}
	if b.dbURL == "" {
		b.dbURL = "bolt://" + filepath.Join(o.stateDir(), "wxpay.db")
	}
	if o.reset {
		notes, err := resetWorld(o, b.dbURL)
		if err != nil {
			return nil, err
		}
		b.notes = append(b.notes, notes...)
	}
	boltPath, isBolt := boltFile(b.dbURL)
	storeKept := isBolt && fileExists(boltPath)
	cfg, err := loadServeConfig(o, b)
	if err != nil {
		return nil, err
	}
	if b.store, err = storeurl.Open(ctx, b.dbURL); err != nil {
		return nil, err
	}
	if o.wrapStore != nil {
		b.store = o.wrapStore(b.store)
	}
	if err := configureServeEvents(&cfg, o, b); err != nil {
		b.Close()
		return nil, err
	}
	if !o.live {
		// The simulator first: its virtual clock is every function's clock, and its
		// world (restored from beside the store) must match the store's.
		b.sim, err = paysim.New(paysim.Config{Identity: b.id, Mode: o.mode, RetryScale: o.retryScale, PublicURL: o.apiBase, Logger: log.With("component", "paysim")})
		if err != nil {
			b.Close()
			return nil, err
		}
		var restored bool
		if b.simState, restored, err = b.sim.OpenStateFile(o.simStateFile(), time.Second); err != nil {
			b.Close()
			return nil, err
		}
		switch {
		case restored:
			b.notes = append(b.notes, fmt.Sprintf("resumed the simulator's world from %s (virtual clock +%s)", o.simStateFile(), b.sim.Clock().Offset()))
		case storeKept && !o.reset:
			b.notes = append(b.notes, fmt.Sprintf("warning: the store %s was kept but the simulator has no saved world (%s): orders created before cannot be paid here; `wxpay serve --reset` starts both afresh", boltPath, o.simStateFile()))
		}
		b.now = b.sim.Clock().Now
		configureServeSimulator(&cfg, o)
		configureSimSharing(b.sim, cfg.NotifyURL, log) // serve_sharing.go
	}
	if b.consolePassword, err = localConsoleUser(&cfg, o); err != nil {
		b.Close()
		return nil, err
	}
	b.cfg = cfg
	// The CLI links every sink: the signed webhook, and EventBridge (--live with WXPAY_EVENT_BUS).
	// notify delivers through it, and the console (createorder) resends through it.
	sink, err := events.SinkFromConfig(ctx, cfg.Bundle, nil, events.WebhookSink, eventbridge.Sink(defaultchain.Load))
	if err != nil && !errors.Is(err, events.ErrNoSink) {
		b.Close()
		return nil, err
	}
	b.sink = sink
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
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "service": "wxpay"})
	})
	routes = append(routes, "GET /healthz")
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"service": "wxpay", "version": versionString(), "routes": routes})
	})
	// A path no function serves, or a method a route does not take, is answered like
	// every other error of the API: {code, message, hint} (404, 405 with Allow).
	b.handler = apiauth.RouteErrors(mux, "GET / lists them: "+strings.Join(routes, "; "))
	scaleEventBackoff(nh, o)
	b.stopEvents = startEventTimer(nh, log.With("component", "events"))
	return b, nil
}

// loadServeConfig is the one loader for both modes: identity and secrets from the keys
// dir (in live mode also from WXPAY_* and secret stores), settings from the
// environment. In simulator mode the identity is created on first use, and the API
// token with it unless WXPAY_API_TOKEN is set.
func loadServeConfig(o serveOptions, b *bundle) (config.Config, error) {
	if o.live {
		return config.Load(o.liveKeysDir) // config's errors name the variable
	}
	var err error
	if b.id, _, err = keysdir.LoadOrCreate(o.keysDir); err != nil {
		return config.Config{}, err // keysdir's errors name the file
	}
	cfg, err := config.LoadKeysDir(o.keysDir)
	if err != nil {
		return cfg, err
	}
	if cfg.Bundle.APIToken.IsZero() {
		path := filepath.Join(o.keysDir, apiTokenFile)
		tok, err := loadOrCreateSecret(path, "")
		if err != nil {
			return cfg, err
		}
		cfg.Bundle.APIToken = config.NewSecret([]byte(tok))
		cfg.Sources["APIToken"] = "keys dir " + path
	}
	b.token = string(cfg.Bundle.APIToken.Reveal())
	return cfg, nil
}

// resetWorld removes the simulated world kept beside the keys dir: the bbolt store,
// the simulator's state and the bills. The identity and the API token stay.
func resetWorld(o serveOptions, dbURL string) ([]string, error) {
	if o.live {
		return nil, usagef("--reset starts a simulated world afresh; with a merchant's own keys the store holds real payments: remove it yourself if that is what you mean")
	}
	path, ok := boltFile(dbURL)
	if !ok {
		return nil, usagef("--reset clears a bbolt store and %s is not one: clear that store yourself, then remove %s", redactURL(dbURL), o.simStateFile())
	}
	var removed []string
	for _, p := range []string{path, o.simStateFile(), filepath.Join(o.stateDir(), "bills")} {
		if _, err := os.Stat(p); err != nil {
			continue
		}
		if err := os.RemoveAll(p); err != nil {
			return nil, fmt.Errorf("--reset: %w", err)
		}
		removed = append(removed, p)
	}
	if len(removed) == 0 {
		return []string{"reset: nothing to remove, the world was new"}, nil
	}
	return []string{"reset: removed " + strings.Join(removed, ", ")}, nil
}

// boltFile is the file of a bolt:// store URL.
func boltFile(storeURL string) (string, bool) {
	p, ok := strings.CutPrefix(storeURL, "bolt://")
	if !ok || p == "" {
		return "", false
	}
	if i := strings.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	return p, true
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
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
	printEventsBanner(w, o, b.cfg, base)
	printConsoleBanner(w, o, b, base)
	if b.jobs != nil && len(b.jobs.jobs) > 0 {
		fmt.Fprintf(w, "  POST %s/jobs/{name}  run a scheduled function now (%s); they also run on timers\n", base, joinNames(b.jobs.names()))
	}
	fmt.Fprintf(w, "  GET  %s/healthz      liveness and store check\n", base)
	fmt.Fprintf(w, "  store: %s\n", redactURL(b.dbURL))
	if b.sim != nil {
		fmt.Fprintf(w, "  simulator's world: %s\n", o.simStateFile())
	}
	for _, n := range b.notes {
		fmt.Fprintf(w, "  %s\n", n)
	}
	printSettings(w, b.cfg)
	if b.sim == nil {
		src := "the environment (WXPAY_*)"
		if o.liveKeysDir != "" {
			src = "keys dir " + o.liveKeysDir + " and the environment (WXPAY_*)"
		}
		fmt.Fprintf(w, "\nLive mode: WeChat Pay itself (%s), merchant %s from %s; no simulator.\n", b.cfg.APIBase, b.cfg.MchID, src)
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
	fmt.Fprintf(w, "  API token: %s\n\n", b.cfg.Source("APIToken"))
	fmt.Fprintf(w, "Try it — create an order, pay it as the simulated user, read it:\n")
	tok := "$(cat " + filepath.Join(o.keysDir, apiTokenFile) + ")"
	fmt.Fprintf(w, "  curl -sS --fail-with-body -X POST %s/orders -H \"Authorization: Bearer %s\" -d '{\"order_id\":\"COFFEE0001\",\"amount\":1234,\"description\":\"Latte\",\"scene\":\"native\"}'\n", base, tok)
	fmt.Fprintf(w, "  curl -sS --fail-with-body -X POST %s/sim/orders/COFFEE0001/pay\n", base)
	fmt.Fprintf(w, "  curl -sS --fail-with-body %s/orders/COFFEE0001 -H \"Authorization: Bearer %s\"\n\n", base, tok)
	fmt.Fprintf(w, "Serving until Ctrl-C. Logs (JSON) go to stderr.\n")
}

// printSettings lists the settings in force and where each came from.
func printSettings(w io.Writer, cfg config.Config) {
	fmt.Fprintf(w, "\nSettings in force (the environment supplies settings; the keys dir identity and secrets):\n")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, s := range cfg.Settings() {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", s.Name, s.Value, s.Source)
	}
	tw.Flush()
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
