package cashier_test

import (
	"bytes"
	"context"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paysls/wxpay/functions/createorder"
	"github.com/paysls/wxpay/functions/createorder/cashier"
	"github.com/paysls/wxpay/internal/paysim"
	"github.com/paysls/wxpay/internal/testenv"
	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/keysdir"
	"github.com/paysls/wxpay/shared/orderapi"
	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/store"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// harness is the cashier as every build serves it: the order API (createorder) whose
// handler serves the page under /pay/, a real store, and the simulator (WeChat Pay's
// API, OAuth, the h5_url page, /sim) on one httptest origin. Nobody listens at
// notify_url: the page must learn a payment by asking.
type harness struct {
	t   *testing.T
	ctx context.Context
	id  *keysdir.Identity
	cfg config.Config
	clk *testenv.Clock
	sim *paysim.Simulator
	srv *httptest.Server
	st  store.Store
	// api is the merchant's client of the order API (over HTTP, with the token).
	api *orderapi.Client
	key []byte

	logs        *syncBuffer  // createorder's and the cashier's JSON log
	statusPolls atomic.Int64 // GET /pay/{id}/status
	prepayCalls atomic.Int64 // POST /v3/pay/…/transactions/{scene} at the simulator
	jsapiMu     sync.Mutex
	jsapiSeen   []jsapiCheck // what the WeixinJSBridge stub sent, as verified

	// combinePrepayCalls: POST /v3/combine-transactions/{scene} (合单下单) at the simulator
	combinePrepayCalls atomic.Int64
}

type jsapiCheck struct {
	params   orderapi.JSAPIPay
	prepayID string
	err      error
}

const apiToken = "test-api-token-0123456789"

// recheck is how long the order API trusts its store about an unpaid order before
// asking WeChat Pay again (business time).
const recheck = 5 * time.Second

func newHarness(t *testing.T) *harness {
	return newHarnessWith(t, nil)
}

// newHarnessWith builds the harness with mutate applied to the configuration.
func newHarnessWith(t *testing.T, mutate func(*config.Config)) *harness {
	t.Helper()
	h := &harness{t: t, ctx: context.Background()}
	w := testenv.New(t, testenv.Options{StoreFile: "cashier.db", Sim: paysim.Config{Logger: quiet()},
		WrapV3: func(sim http.Handler) http.Handler {
			return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodPost && strings.Contains(r.URL.Path, "/transactions/") && !strings.Contains(r.URL.Path, "/out-trade-no/") {
					h.prepayCalls.Add(1)
				}
				if r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/v3/combine-transactions/") && !strings.Contains(r.URL.Path, "/out-trade-no/") {
					h.combinePrepayCalls.Add(1)
				}
				sim.ServeHTTP(rw, r)
			})
		}})
	id := w.ID
	h.id, h.clk, h.sim, h.srv, h.st, h.cfg = id, w.Clock, w.Sim, w.Server, w.Store, w.Config
	h.cfg.NotifyURL = "http://127.0.0.1:9/notify" // nobody listens: the page must learn by asking
	h.cfg.Bundle.APIToken = config.NewSecret([]byte(apiToken))
	h.cfg.Bundle.AppSecret = config.NewSecret([]byte(id.AppSecret))
	h.cfg.Bundle.OAuthBase, h.cfg.Bundle.OAuthAuthorizeBase = h.srv.URL, h.srv.URL
	h.cfg.Bundle.MerchantName = "示例小店 Example Shop"
	h.cfg.Bundle.PublicURL = h.srv.URL
	if mutate != nil {
		mutate(&h.cfg)
	}
	h.logs = &syncBuffer{}
	logger := slog.New(slog.NewJSONHandler(h.logs, nil))
	co, err := createorder.New(h.cfg, h.st, createorder.Options{Logger: logger, Now: h.clk.Now, Simulator: true, Recheck: recheck})
	if err != nil {
		t.Fatal(err)
	}
	h.key = cashier.DeriveKey([]byte(apiToken))

	mux := w.Mux
	mux.Handle("/pay/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/status") {
			h.statusPolls.Add(1)
		}
		co.ServeHTTP(w, r)
	}))
	mux.Handle("/orders", co)
	mux.Handle("/orders/", co)
	mux.HandleFunc("POST /test/jsapi", h.verifyJSAPI)
	h.api = orderapi.New(h.srv.URL, apiToken, nil)
	return h
}

// syncBuffer is a log sink tests can read while handlers write.
type syncBuffer struct {
	mu  sync.Mutex
	b   bytes.Buffer
	all bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.all.Write(p)
	return s.b.Write(p)
}

// everything is all that was logged.
func (s *syncBuffer) everything() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.all.String()
}

// take returns what was logged since the last take.
func (s *syncBuffer) take() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.b.String()
	s.b.Reset()
	return out
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// add creates a scene "cashier" order through the order API, as a merchant does:
// amount and description, expiring after life; nothing is sent to WeChat Pay.
func (h *harness) add(orderID string, amount int64, desc string, life time.Duration) *orderapi.CreateAnswer {
	h.t.Helper()
	a, err := h.api.Create(h.ctx, orderapi.CreateRequest{OrderID: orderID, Amount: orderapi.Fen(amount), Description: desc,
		Scene: orderapi.SceneCashier, TimeExpire: wechatpay.FormatTime(h.clk.Now().Add(life))})
	if err != nil {
		h.t.Fatalf("create cashier order %s: %v", orderID, err)
	}
	return a
}

// link is the cashier link of an order, valid for ttl.
func (h *harness) link(orderID string, ttl time.Duration) string {
	return cashier.Link(h.srv.URL, orderID, h.key, h.clk.Now(), ttl)
}

// current is the order's current attempt as the ledger holds it.
func (h *harness) current(orderID string) *payment.Order {
	h.t.Helper()
	hist, err := (&payment.Ledger{Store: h.st}).Order(h.ctx, h.cfg.MchID, orderID)
	if err != nil {
		h.t.Fatalf("order %s: %v", orderID, err)
	}
	return hist.Current
}

// state is the stored state of an order's current attempt.
func (h *harness) state(orderID string) string { return h.current(orderID).Status() }

// simOrders lists what was placed at WeChat Pay, through the simulator's driver API
// (GET /sim/orders): one entry per out_trade_no prepaid.
func (h *harness) simOrders() []paysim.OrderView {
	h.t.Helper()
	resp, err := http.Get(h.srv.URL + "/sim/orders")
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []paysim.OrderView
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		h.t.Fatal(err)
	}
	return out
}

// prepaidAs counts the out_trade_nos placed at WeChat Pay per scene (jsapi, h5, native).
func (h *harness) prepaidAs() map[string]int {
	n := map[string]int{}
	for _, o := range h.simOrders() {
		n[o.Kind]++
	}
	return n
}

// prepayRequest is what the simulator was sent to place out_trade_no.
func (h *harness) prepayRequest(outTradeNo string) wechatpay.PrepayRequest {
	h.t.Helper()
	for _, o := range h.simOrders() {
		if o.Transaction.OutTradeNo == outTradeNo {
			var req wechatpay.PrepayRequest
			if err := json.Unmarshal(o.Request, &req); err != nil {
				h.t.Fatal(err)
			}
			return req
		}
	}
	h.t.Fatalf("%s was never placed at WeChat Pay", outTradeNo)
	return wechatpay.PrepayRequest{}
}

// verifyJSAPI is where the WeixinJSBridge stub sends getBrandWCPayRequest's object:
// paySign must verify with the merchant's public key over
// appId\ntimeStamp\nnonceStr\npackage\n, as WeChat checks it.
func (h *harness) verifyJSAPI(w http.ResponseWriter, r *http.Request) {
	var p orderapi.JSAPIPay
	body, _ := io.ReadAll(r.Body)
	err := json.Unmarshal(body, &p)
	chk := jsapiCheck{params: p}
	if err == nil {
		chk.err = checkPaySign(&h.id.MerchantKey.PublicKey, h.cfg.AppID, p, time.Now())
		chk.prepayID = strings.TrimPrefix(p.Package, "prepay_id=")
	} else {
		chk.err = err
	}
	h.jsapiMu.Lock()
	h.jsapiSeen = append(h.jsapiSeen, chk)
	h.jsapiMu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]bool{"ok": chk.err == nil})
}

func checkPaySign(pub *rsa.PublicKey, appID string, p orderapi.JSAPIPay, now time.Time) error {
	if p.AppID != appID {
		return fmt.Errorf("appId %q, want %q", p.AppID, appID)
	}
	if p.SignType != "RSA" {
		return fmt.Errorf("signType %q, want RSA", p.SignType)
	}
	if !strings.HasPrefix(p.Package, "prepay_id=") {
		return fmt.Errorf("package %q, want prepay_id=…", p.Package)
	}
	ts, err := strconv.ParseInt(p.TimeStamp, 10, 64)
	if err != nil || now.Sub(time.Unix(ts, 0)).Abs() > 5*time.Minute {
		return fmt.Errorf("timeStamp %q is not now", p.TimeStamp)
	}
	if p.NonceStr == "" {
		return fmt.Errorf("nonceStr empty")
	}
	msg := p.AppID + "\n" + p.TimeStamp + "\n" + p.NonceStr + "\n" + p.Package + "\n"
	return wechatpay.VerifyMessage(pub, []byte(msg), p.PaySign)
}

func (h *harness) jsapiChecks() []jsapiCheck {
	h.jsapiMu.Lock()
	defer h.jsapiMu.Unlock()
	return append([]jsapiCheck(nil), h.jsapiSeen...)
}

// simPay drives POST /sim/pay with one of code_url / prepay_id / out_trade_no.
func (h *harness) simPay(field, value string) {
	h.t.Helper()
	b, _ := json.Marshal(map[string]string{field: value})
	resp, err := http.Post(h.srv.URL+"/sim/pay", "application/json", bytes.NewReader(b))
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		h.t.Fatalf("POST /sim/pay %s: %d %s", field, resp.StatusCode, out)
	}
	// Paying takes the user a while: the order API's recheck window passes, so the
	// page's next status poll asks WeChat Pay (nobody listens at notify_url).
	h.clk.Advance(recheck)
}
