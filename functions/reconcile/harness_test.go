package reconcile_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paysls/wxpay/functions/reconcile"
	"github.com/paysls/wxpay/internal/paysim"
	"github.com/paysls/wxpay/internal/testenv"
	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/events"
	"github.com/paysls/wxpay/shared/keysdir"
	"github.com/paysls/wxpay/shared/payclient"
	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/payment/paymenttest"
	"github.com/paysls/wxpay/shared/store"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// webhook records merchant events, failing each event's first attempt when flaky.
type webhook struct {
	mu    sync.Mutex
	seen  map[string]int
	types map[string]int
	flaky bool
	srv   *httptest.Server
}

func newWebhook(t *testing.T, flaky bool) *webhook {
	w := &webhook{seen: map[string]int{}, types: map[string]int{}, flaky: flaky}
	w.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var ev events.Event
		if json.Unmarshal(body, &ev) != nil {
			rw.WriteHeader(400)
			return
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		w.seen[ev.ID]++
		if w.flaky && w.seen[ev.ID] == 1 {
			rw.WriteHeader(503)
			return
		}
		w.types[ev.Type]++
	}))
	t.Cleanup(w.srv.Close)
	return w
}

func (w *webhook) count(typ string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.types[typ]
}

type harness struct {
	t      *testing.T
	ctx    context.Context
	cfg    config.Config
	st     store.Store
	sim    *paysim.Simulator
	simSrv *httptest.Server
	clock  *testenv.Clock
	client *wechatpay.Client
	ledger *payment.Ledger
	hook   *webhook
	id     *keysdir.Identity // the merchant's identity and the simulated platform's keys
	calls  atomic.Int64      // WeChat Pay API calls seen by the simulator
	// intercept, when set, may answer a /v3 request instead of the simulator (an answer
	// the simulator has no fault for).
	intercept atomic.Pointer[func(http.ResponseWriter, *http.Request) bool]
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	return newHarnessSim(t, paysim.Config{})
}

// newHarnessSim is newHarness with the simulator configured by sim (e.g. its manual
// delivery queue: a notification late by as long as the test likes).
func newHarnessSim(t *testing.T, sim paysim.Config) *harness {
	t.Helper()
	h := &harness{t: t, ctx: context.Background()}
	w := testenv.New(t, testenv.Options{Start: time.Now().UTC(), StoreFile: "reconcile.db", Sim: sim,
		WrapV3: func(sim http.Handler) http.Handler {
			return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
				h.calls.Add(1)
				if f := h.intercept.Load(); f != nil && (*f)(rw, r) {
					return
				}
				sim.ServeHTTP(rw, r)
			})
		}})
	h.sim, h.simSrv, h.clock, h.cfg, h.id = w.Sim, w.Server, w.Clock, w.Config, w.ID
	st := w.Store
	h.st = paymenttest.Check(t, st)               // every money write from the ledger
	h.cfg.NotifyURL = "http://127.0.0.1:9/notify" // nobody listens: notifications are lost
	h.hook = newWebhook(t, true)
	h.cfg.Bundle.WebhookURL, h.cfg.Bundle.WebhookSecret = h.hook.srv.URL, config.NewSecret([]byte("whsec"))
	var err error
	if h.client, err = payclient.New(h.cfg, st, nil, payclient.Options{AllowLoopbackNotifyURL: true}); err != nil {
		t.Fatal(err)
	}
	h.ledger = &payment.Ledger{Store: st, Now: h.clock.Now, Merchants: []string{h.cfg.MchID}, Log: quiet()}
	return h
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

func (h *harness) job(opts reconcile.Options) *reconcile.Job {
	h.t.Helper()
	if opts.Logger == nil {
		opts.Logger = quiet()
	}
	opts.Now = h.clock.Now
	opts.AllowLoopbackNotifyURL = true
	if opts.Rate == 0 {
		opts.Rate = 10000
	}
	j, err := reconcile.New(h.cfg, h.st, opts)
	if err != nil {
		h.t.Fatal(err)
	}
	return j
}

// order records an attempt as createorder does, then places it at the simulator.
func (h *harness) order(no string, amount int64, life time.Duration) string {
	h.t.Helper()
	exp := h.clock.Now().Add(life)
	if _, err := h.ledger.CreateOrder(h.ctx, payment.NewOrder{MchID: h.cfg.MchID, AppID: h.cfg.AppID, OutTradeNo: no, OrderID: no, Amount: amount, Scene: "native", ExpiresAt: exp}); err != nil {
		h.t.Fatal(err)
	}
	if _, err := h.client.Prepay(h.ctx, wechatpay.SceneNative, wechatpay.PrepayRequest{OutTradeNo: no, Description: "test", NotifyURL: h.cfg.NotifyURL,
		TimeExpire: wechatpay.FormatTime(exp), Amount: wechatpay.Amount{Total: amount, Currency: "CNY"}}); err != nil {
		h.t.Fatal(err)
	}
	return payment.OrderKey(h.cfg.MchID, no)
}

func (h *harness) pay(no string) {
	h.t.Helper()
	if _, _, _, err := h.sim.Pay(no, paysim.PayRequest{}); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) state(key string) string {
	h.t.Helper()
	rec, err := h.st.Get(h.ctx, key)
	if err != nil {
		h.t.Fatal(err)
	}
	if strings.HasPrefix(key, "refund/") {
		r, err := payment.RefundOf(rec)
		if err != nil {
			h.t.Fatal(err)
		}
		return r.Status()
	}
	o, err := payment.OrderOf(rec)
	if err != nil {
		h.t.Fatal(err)
	}
	return o.Status()
}

func (h *harness) pass(j *reconcile.Job) reconcile.Report {
	h.t.Helper()
	rep, err := j.Pass(h.ctx, h.clock.Now())
	if err != nil {
		h.t.Fatalf("pass: %v (report %+v)", err, rep)
	}
	return rep
}
