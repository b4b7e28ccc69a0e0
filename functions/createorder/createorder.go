// Package createorder is the order API a merchant's backend calls to take money with
// WeChat Pay: create an order for any scene (JSAPI / mini-program, APP, H5, Native,
// chosen from the user agent, or a link to the hosted cashier page), in direct or
// partner mode; read its state (asking WeChat Pay when a notification is late); close
// it; refund it; and exchange an OAuth snsapi_base code for the openid JSAPI needs. Its
// requests and answers are package orderapi's types.
//
// Every API route is behind the bundle's bearer token (apiauth). Errors are
// {"code","message","hint"}. Two pages are served beside the API by the same handler,
// public: the cashier under /pay/ (package cashier; its link token guards it) and the
// operator's console under /console (package console; its own sign-in).
//
// Idempotency. order_id is the merchant's key. Attempt 1 of an order is the stored order
// order/{mchid}/{order_id} itself (its out_trade_no is the order_id), and it carries the
// idempotency claim (payment.Claim, Powertools' contract: the payload hash, INPROGRESS
// with a lease on the business clock, COMPLETED with the prepay answer and its expiry).
// Creating a new order is therefore one read, ONE conditional write before prepay
// (claim + attempt, the record notify checks payments against) and one write recording
// the answer — all through the ledger (shared/payment), the only writer of orders; a
// replay reads and writes nothing. A re-priced order gets attempts {order_id}_2, _3, …:
// each is reserved (put-if-absent) before attempt 1's pointer moves to it.
package createorder

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/paysls/wxpay/functions/createorder/cashier"
	"github.com/paysls/wxpay/shared/apiauth"
	"github.com/paysls/wxpay/shared/clock"
	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/events"
	"github.com/paysls/wxpay/shared/orderapi"
	"github.com/paysls/wxpay/shared/payclient"
	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/platform"
	"github.com/paysls/wxpay/shared/store"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// Options are the function-specific settings of New.
type Options struct {
	Logger *slog.Logger
	// Now is the business clock (order age, expiry, the 5-minute close rule, the
	// leases of in-progress creates, the recheck window); the wall clock when nil.
	Now clock.Func
	// HTTP calls WeChat Pay and the OAuth endpoint; a client with a 10 s timeout when nil.
	HTTP *http.Client
	// Simulator allows a loopback http:// notify_url (the simulator delivers locally).
	// Real WeChat Pay never does.
	Simulator bool
	// Lease is how long an in-progress create holds its claim on the business clock
	// (default 8 s): a crashed creator's claim is taken over after it; a live one is
	// waited for, at most the lease plus 2 s of business time (and as many polls as
	// cover that much real time).
	Lease time.Duration
	// Sleep is how a create waiting for another's claim pauses between two looks at
	// it: a real timer when nil (ending early with ctx). A simulation passes one that
	// moves its virtual clock instead.
	Sleep func(ctx context.Context, d time.Duration) error
	// Recheck is how long a status read trusts the store before asking WeChat Pay
	// again about an unsettled order (default 5 s).
	Recheck time.Duration
	// Sink delivers an event the console resends at once: the sink shared/host built
	// from the sink drivers the main lists (EventBridge on AWS). Nil: the signed
	// webhook the settings name, if any.
	Sink events.Sink
}

// Handler serves the order API.
type Handler struct {
	cfg       config.Config
	st        store.Store
	ledger    *payment.Ledger
	client    *wechatpay.Client
	api       platform.API // the mode's refund API (e-commerce refunds on a platform)
	now       clock.Func
	log       *slog.Logger
	http      *http.Client
	notifyURL string
	partner   bool
	lease     time.Duration
	sleep     func(ctx context.Context, d time.Duration) error
	sink      events.Sink // Options.Sink
	recheck   time.Duration
	handler   http.Handler
	// publicURL is WXPAY_PUBLIC_URL: the base of cashier links ("" refuses scene cashier).
	publicURL  string
	cashierKey []byte // cashier.DeriveKey of the API token: signs cashier links

	checkedMu sync.Mutex
	checked   map[string]time.Time // record key → last query of WeChat Pay (per instance)

	completing sync.Map // *payment.Order → chan struct{}: prepay answers being recorded
}

// New builds the handler. It does no network I/O. Every configuration problem is
// reported at once, by name; a notify_url breaking WeChat Pay's rules stops the
// function with the rule it breaks.
func New(cfg config.Config, st store.Store, opts Options) (*Handler, error) {
	var errs []error
	if st == nil {
		errs = append(errs, errors.New("a store is required (STORE_URL)"))
	}
	if cfg.MchID == "" {
		errs = append(errs, fmt.Errorf("%s is not set", config.EnvMchID))
	}
	if cfg.AppID == "" {
		errs = append(errs, fmt.Errorf("%s is not set", config.EnvAppID))
	}
	if cfg.MerchantSerial == "" {
		errs = append(errs, fmt.Errorf("%s is not set", config.EnvMerchantSerial))
	}
	// The key's shape is checked here, its parse (0.2–0.3 ms) waits for the first
	// signature (config.CheckMerchantKey).
	if err := cfg.CheckMerchantKey(); err != nil {
		errs = append(errs, err)
	}
	if cfg.Bundle.APIToken.IsZero() {
		errs = append(errs, fmt.Errorf("%s is not set: the order API would refuse every request (wxpay serve writes <keys-dir>/%s)", config.EnvAPIToken, config.FileAPIToken))
	}
	nopt := wechatpay.NotifyURLOptions{AllowLoopback: opts.Simulator}
	if err := wechatpay.ValidateNotifyURL(cfg.NotifyURL, nopt); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", config.EnvNotifyURL, err))
	}
	if p := cfg.Bundle.PublicURL; p != "" {
		if u, err := url.Parse(p); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			errs = append(errs, fmt.Errorf("%s=%q: want an absolute http(s) URL such as https://pay.example.com", config.EnvPublicURL, p))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("createorder: configuration: %w", err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	hc := opts.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	now := clock.Or(opts.Now)
	// The same client and verification keys every function builds (configured platform
	// keys first, else certificates downloaded and cached in the store, as notify does).
	client, err := payclient.New(cfg, st, nil, payclient.Options{HTTP: hc, AllowLoopbackNotifyURL: opts.Simulator})
	if err != nil {
		return nil, fmt.Errorf("createorder: %w", err)
	}
	h := &Handler{
		cfg: cfg, st: st, client: client, now: now, log: log, http: hc,
		notifyURL: cfg.NotifyURL, partner: cfg.Bundle.Partner,
		ledger:     &payment.Ledger{Store: st, Now: now, Merchants: []string{cfg.MchID}, Partner: cfg.Bundle.Partner, RefundLatePayments: cfg.Bundle.RefundLatePayments, Log: log},
		publicURL:  strings.TrimRight(cfg.Bundle.PublicURL, "/"),
		cashierKey: cashier.DeriveKey(cfg.Bundle.APIToken.Reveal()),
		lease:      opts.Lease,
		sleep:      opts.Sleep,
		sink:       opts.Sink,
		recheck:    opts.Recheck,
		checked:    map[string]time.Time{},
	}
	h.api = platform.New(client, cfg)
	if h.lease <= 0 {
		h.lease = 8 * time.Second
	}
	if h.sleep == nil {
		h.sleep = sleep
	}
	if h.recheck <= 0 {
		h.recheck = 5 * time.Second
	}
	// The routes are registered by the first request, not at start: a cold start's
	// first ServeMux registrations cost about 0.1 ms (the pattern parser and routing
	// tree run for the first time) and depend on no setting — everything they serve
	// with was checked above. A route that conflicts with another panics at that first
	// request, as it did at start: every test that sends one finds it.
	routes := sync.OnceValue(func() http.Handler {
		mux := http.NewServeMux()
		mux.HandleFunc("POST /orders", h.createOrder)
		mux.HandleFunc("GET /orders/{order_id}", h.getOrder)
		mux.HandleFunc("POST /orders/{order_id}/close", h.closeOrder)
		mux.HandleFunc("POST /orders/{order_id}/refunds", h.createRefund)
		mux.HandleFunc("GET /orders/{order_id}/refunds/{out_refund_no}", h.getRefund)
		mux.HandleFunc("GET /oauth/openid", h.oauthOpenID)
		h.routesSharing(mux) // sharing.go
		// Unknown paths answer 404 and known paths under another method 405 (with
		// Allow), both as {code, message, hint}.
		return apiauth.RouteErrors(mux, Routes)
	})
	token := cfg.Bundle.APIToken.Reveal()
	api := apiauth.Require(token, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { routes().ServeHTTP(w, r) }))
	// The cashier page is a client of this API like any other, called in process.
	page, err := cashier.New(cfg, orderapi.InProcess(api, string(token)), cashier.Options{Logger: log.With("component", "cashier"), Now: now, HTTP: hc})
	if err != nil {
		return nil, fmt.Errorf("createorder: %w", err)
	}
	h.handler = h.withPages(api, page)
	return h, nil
}

// key is the merchant key that signs the pay parameters of JSAPI, mini-program and
// APP answers, parsed at its first use (New checked its shape). A key that does not
// parse is logged naming where it came from; the signature then fails.
func (h *Handler) key() *rsa.PrivateKey {
	k, err := h.cfg.MerchantKey()
	if err != nil {
		h.log.Error("merchant private key does not parse", "source", h.cfg.Source("PrivateKey"), "error", err.Error())
	}
	return k
}

// Routes are the order API's routes, as a 404's hint lists them.
const Routes = "POST /orders, GET /orders/{order_id}, POST /orders/{order_id}/close, POST /orders/{order_id}/refunds, GET /orders/{order_id}/refunds/{out_refund_no}, GET /oauth/openid, " +
	"POST /orders/{order_id}/settle, POST /orders/{order_id}/subsidy[/cancel|/returns], POST /profitsharing/receivers, DELETE /profitsharing/receivers/{account}"

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.handler.ServeHTTP(w, r) }

// clientFor is the WeChat Pay client acting for an order's merchant: in partner mode a
// copy for the sub-merchant.
func (h *Handler) clientFor(subMchID, subAppID string) *wechatpay.Client {
	if !h.partner {
		return h.client
	}
	return h.client.ForSub(subMchID, subAppID)
}

// recentlyChecked reports whether key was queried at WeChat Pay within the recheck
// window, and marks it checked now when not.
func (h *Handler) recentlyChecked(key string) bool {
	h.checkedMu.Lock()
	defer h.checkedMu.Unlock()
	now := h.now()
	if t, ok := h.checked[key]; ok && now.Sub(t) < h.recheck && !now.Before(t) {
		return true
	}
	if len(h.checked) > 10000 {
		for k, t := range h.checked {
			if now.Sub(t) >= h.recheck {
				delete(h.checked, k)
			}
		}
	}
	h.checked[key] = now
	return false
}
