package createorder_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paysls/wxpay/functions/createorder"
	"github.com/paysls/wxpay/functions/notify"
	"github.com/paysls/wxpay/internal/paysim"
	"github.com/paysls/wxpay/internal/storetest"
	"github.com/paysls/wxpay/internal/testenv"
	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/keysdir"
	"github.com/paysls/wxpay/shared/orderapi"
	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/payment/paymenttest"
	"github.com/paysls/wxpay/shared/store"
)

const (
	testToken    = "test-token-0123456789abcdef0123456789"
	testSubMchID = "1900000109"
	testSubAppID = "wxd678efh567hg6999"
)

// env is the order API, notify and the simulator on one test server — the shape of
// `wxpay serve` — with counters on WeChat Pay's API and the store.
type env struct {
	t       *testing.T
	id      *keysdir.Identity
	sim     *paysim.Simulator
	srv     *httptest.Server
	st      *storetest.Counting
	h       *createorder.Handler
	cfg     config.Config
	clock   *testenv.Clock
	partner bool
	v3      atomic.Int64 // every request to the simulated WeChat Pay API
	prepays atomic.Int64 // prepay requests among them
	closes  atomic.Int64 // close requests among them
	// combinePrepays are the combine prepay requests (合单下单) among them.
	combinePrepays atomic.Int64
	// api is the merchant's typed client of the order API (over HTTP, with the token).
	api *orderapi.Client
	// notified tells when notify has accepted a notification (applied it).
	notified *testenv.Notified
}

type envOptions struct {
	// logger receives createorder's (and its ledger's) log; discarded when nil.
	logger  *slog.Logger
	partner bool
	lease   time.Duration
	recheck time.Duration
	mutate  func(*config.Config)
	// wrap, when set, stands between createorder and the store (to hold a call).
	wrap func(store.Store) store.Store
	// sleep is createorder's pause while it waits for a live claim (real when nil).
	sleep func(context.Context, time.Duration) error
}

func newEnv(t testing.TB, o envOptions) *env {
	t.Helper()
	e := &env{partner: o.partner}
	if tt, ok := t.(*testing.T); ok {
		e.t = tt
	}
	counted := func(sim http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			e.v3.Add(1)
			switch {
			case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/close"):
				e.closes.Add(1)
			case r.Method == http.MethodPost && strings.Contains(r.URL.Path, "/transactions/"):
				e.prepays.Add(1)
			case r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/v3/combine-transactions/") && !strings.Contains(r.URL.Path, "/out-trade-no/"):
				e.combinePrepays.Add(1)
			}
			sim.ServeHTTP(w, r)
		})
	}
	quiet := testenv.Quiet()
	w := testenv.New(t, testenv.Options{Sim: paysim.Config{Logger: quiet}, WrapV3: counted})
	e.id, e.sim, e.srv, e.clock = w.ID, w.Sim, w.Server, w.Clock
	cfg := w.Config
	// Every write to a money record must come from the ledger (paymenttest.Check).
	guarded := paymenttest.Check(t, w.Store)
	e.st = &storetest.Counting{Store: guarded}
	mux := w.Mux

	cfg.NotifyURL = e.srv.URL + "/notify"
	cfg.Bundle.APIToken = config.NewSecret([]byte(testToken))
	cfg.Bundle.OrderTTL = 2 * time.Hour
	if o.partner {
		cfg.Bundle.Partner = true
		cfg.Bundle.SubMchID, cfg.Bundle.SubAppID = testSubMchID, testSubAppID
	}
	if o.mutate != nil {
		o.mutate(&cfg)
	}
	e.cfg = cfg
	nh, err := notify.New(cfg, guarded, quiet)
	if err != nil {
		t.Fatal(err)
	}
	// One business clock for every function, as under `wxpay serve`.
	nh.Ledger.Now = e.clock.Now
	if nh.Deliverer != nil {
		nh.Deliverer.Now = e.clock.Now
	}
	e.notified = testenv.NotifiedBy(nh)
	mux.Handle("/notify", e.notified)
	logger := quiet
	if o.logger != nil {
		logger = o.logger
	}
	var cst store.Store = e.st
	if o.wrap != nil {
		cst = o.wrap(cst)
	}
	e.h, err = createorder.New(cfg, cst, createorder.Options{Logger: logger, Now: e.clock.Now, Simulator: true, Lease: o.lease, Recheck: o.recheck, Sleep: o.sleep})
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("/orders", e.h)
	mux.Handle("/orders/", e.h)
	mux.Handle("/oauth/openid", e.h)
	e.api = orderapi.New(e.srv.URL, testToken, nil)
	return e
}

// owner is the merchant owning the env's orders.
func (e *env) owner() string {
	if e.partner {
		return testSubMchID
	}
	return e.id.MchID
}

// call makes one API call with the bearer token and decodes the JSON answer.
func (e *env) call(t testing.TB, method, path string, body any, hdr ...string) (int, map[string]any) {
	t.Helper()
	status, raw := e.callRaw(t, method, path, body, hdr...)
	var m map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("%s %s: answer is not JSON: %q", method, path, raw)
		}
	}
	return status, m
}

func (e *env) callRaw(t testing.TB, method, path string, body any, hdr ...string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, raw
}

// order reads an order attempt through the ledger (typed).
func (e *env) order(t testing.TB, outTradeNo string) (*payment.Order, bool) {
	t.Helper()
	o, err := e.ledger().Attempt(context.Background(), e.owner(), outTradeNo)
	if errors.Is(err, payment.ErrNotFound) {
		return &payment.Order{}, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return o, true
}

// ledger reads the env's store (reads only: every write goes through the handlers).
func (e *env) ledger() *payment.Ledger { return &payment.Ledger{Store: e.st.Store, Now: e.clock.Now} }

// waitState waits until the stored attempt reaches state, looking again each time
// notify accepts a notification (the change it waits for is a notification applied).
func (e *env) waitState(t testing.TB, outTradeNo, state string) *payment.Order {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		next := e.notified.Next()
		o, ok := e.order(t, outTradeNo)
		if ok && o.Status() == state {
			return o
		}
		select {
		case <-next:
		case <-timeout:
			t.Fatalf("order %s never reached %s: %+v", outTradeNo, state, o)
		}
	}
}

// pay pays an order at the simulator, as the user would.
func (e *env) pay(t testing.TB, outTradeNo string) {
	t.Helper()
	if _, _, status, err := e.sim.Pay(outTradeNo, paysim.PayRequest{}); err != nil {
		t.Fatalf("pay %s: %d %v", outTradeNo, status, err)
	}
}

// simOrder reads the simulator's view of an order.
func (e *env) simOrder(t testing.TB, outTradeNo string) paysim.OrderView {
	t.Helper()
	resp, err := http.Get(e.srv.URL + "/sim/orders/" + outTradeNo)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v paysim.OrderView
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func str(m map[string]any, path ...string) string {
	var cur any = m
	for _, p := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			return ""
		}
		cur = mm[p]
	}
	s, _ := cur.(string)
	return s
}

// asError is errors.As for the order API's *orderapi.Error.
func asError(err error, target **orderapi.Error) bool { return errors.As(err, target) }

// isAPIError reports whether err is the order API's refusal with status and code (any
// code when code is "").
func isAPIError(err error, status int, code string) bool {
	var e *orderapi.Error
	return errors.As(err, &e) && e.Status == status && (code == "" || e.Code == code)
}
