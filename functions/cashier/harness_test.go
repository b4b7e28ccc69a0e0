package cashier_test

import (
	"bytes"
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"rsc.io/qr"

	"github.com/paysls/wxpay/functions/cashier"
	"github.com/paysls/wxpay/shared/clock"
	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/keysdir"
	"github.com/paysls/wxpay/shared/keysdir/keysdirtest"
	"github.com/paysls/wxpay/shared/payclient"
	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/paysim"
	"github.com/paysls/wxpay/shared/store"
	"github.com/paysls/wxpay/shared/store/boltstore"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// harness: the simulator (WeChat Pay API, OAuth, the h5_url page, /sim) and the
// cashier on one httptest origin, the orders behind the cashier placed at the
// simulator with real signatures and recorded in a real store through the ledger.
type harness struct {
	t       *testing.T
	ctx     context.Context
	id      *keysdir.Identity
	cfg     config.Config
	clk     *clock.Virtual
	sim     *paysim.Simulator
	srv     *httptest.Server
	st      store.Store
	orders  *simOrders
	cashier *cashier.Handler
	key     []byte

	logs        *syncBuffer  // the cashier's JSON log
	statusPolls atomic.Int64 // GET /pay/{id}/status
	jsapiMu     sync.Mutex
	jsapiSeen   []jsapiCheck // what the WeixinJSBridge stub sent, as verified
}

type jsapiCheck struct {
	params   cashier.JSAPI
	prepayID string
	err      error
}

const apiToken = "test-api-token-0123456789"

func newHarness(t *testing.T) *harness {
	t.Helper()
	id, dir := keysdirtest.Dir(t)
	h := &harness{t: t, ctx: context.Background(), id: id, clk: &clock.Virtual{}}
	sim, err := paysim.New(paysim.Config{Identity: id, Clock: h.clk, RetryScale: 0.001})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	h.sim = sim
	var handler atomic.Pointer[http.Handler]
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		(*handler.Load()).ServeHTTP(w, r)
	}))
	t.Cleanup(h.srv.Close)

	if h.st, err = boltstore.Open(filepath.Join(t.TempDir(), "cashier.db")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.st.Close() })
	if h.cfg, err = config.FromKeysDir(dir); err != nil {
		t.Fatal(err)
	}
	h.cfg.APIBase = h.srv.URL
	h.cfg.NotifyURL = "http://127.0.0.1:9/notify" // nobody listens: the page must learn by asking
	h.cfg.Bundle.APIToken = config.NewSecret([]byte(apiToken))
	h.cfg.Bundle.AppSecret = config.NewSecret([]byte(id.AppSecret))
	h.cfg.Bundle.OAuthBase, h.cfg.Bundle.OAuthAuthorizeBase = h.srv.URL, h.srv.URL
	h.cfg.Bundle.MerchantName = "示例小店 Example Shop"
	h.cfg.Bundle.PublicURL = h.srv.URL
	client, err := payclient.New(h.cfg, h.st, nil, payclient.Options{AllowLoopbackNotifyURL: true})
	if err != nil {
		t.Fatal(err)
	}
	h.orders = &simOrders{h: h, client: client, key: id.MerchantKey, orders: map[string]*simOrder{},
		ledger: &payment.Ledger{Store: h.st, Now: h.clk.Now, Merchants: []string{h.cfg.MchID}, Log: quiet()}}
	h.logs = &syncBuffer{}
	logger := slog.New(slog.NewJSONHandler(h.logs, nil))
	if h.cashier, err = cashier.New(h.cfg, h.orders, cashier.Options{Logger: logger, Now: h.clk.Now}); err != nil {
		t.Fatal(err)
	}
	h.key = cashier.DeriveKey([]byte(apiToken))

	mux := http.NewServeMux()
	mux.Handle("/pay/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/status") {
			h.statusPolls.Add(1)
		}
		h.cashier.ServeHTTP(w, r)
	}))
	mux.HandleFunc("POST /test/jsapi", h.verifyJSAPI)
	mux.Handle("/", sim)
	var hh http.Handler = mux
	handler.Store(&hh)
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

// link is the cashier link of an order, valid for ttl.
func (h *harness) link(orderID string, ttl time.Duration) string {
	return cashier.Link(h.srv.URL, orderID, h.key, h.clk.Now(), ttl)
}

// verifyJSAPI is where the WeixinJSBridge stub sends getBrandWCPayRequest's object:
// paySign must verify with the merchant's public key over
// appId\ntimeStamp\nnonceStr\npackage\n, as WeChat checks it.
func (h *harness) verifyJSAPI(w http.ResponseWriter, r *http.Request) {
	var p cashier.JSAPI
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

func checkPaySign(pub *rsa.PublicKey, appID string, p cashier.JSAPI, now time.Time) error {
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
}

// state is the stored state of an order's current attempt.
func (h *harness) state(orderID string) string {
	h.t.Helper()
	a := h.orders.current(orderID)
	if a == nil {
		return ""
	}
	o, err := (&payment.Ledger{Store: h.st}).Attempt(h.ctx, h.cfg.MchID, a.no)
	if err != nil {
		h.t.Fatal(err)
	}
	return o.Status()
}

// simOrders implements cashier.Orders the way createorder does it, in miniature:
// attempts recorded through the ledger (CreateOrder), placed at the simulator with
// the real client (Prepay), replayed while the scene and payer stay the same, a new
// attempt {order_id}_N otherwise; Status reads the store and, when asked, queries
// WeChat Pay and applies the answer (ApplyQueried).
type simOrders struct {
	h      *harness
	client *wechatpay.Client
	ledger *payment.Ledger
	key    *rsa.PrivateKey

	mu      sync.Mutex
	orders  map[string]*simOrder
	queries atomic.Int64 // queries of WeChat Pay made by Status
	creates []createCall
}

type createCall struct {
	req      cashier.CreateRequest
	clientIP string
	ua       string
}

type simOrder struct {
	amount  int64
	desc    string
	expires time.Time
	n       int
	cur     *attempt
}

type attempt struct {
	no, scene, openid, prepayID, h5URL, codeURL string
}

// add registers a scene "cashier" order: amount and description, no payment yet.
func (o *simOrders) add(orderID string, amount int64, desc string, life time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.orders[orderID] = &simOrder{amount: amount, desc: desc, expires: o.h.clk.Now().Add(life).Truncate(time.Second)}
}

func (o *simOrders) current(orderID string) *attempt {
	o.mu.Lock()
	defer o.mu.Unlock()
	if so := o.orders[orderID]; so != nil && so.cur != nil {
		a := *so.cur
		return &a
	}
	return nil
}

func (o *simOrders) calls() []createCall {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]createCall(nil), o.creates...)
}

func (o *simOrders) Create(ctx context.Context, req cashier.CreateRequest, clientIP, ua string) (*cashier.Answer, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.creates = append(o.creates, createCall{req, clientIP, ua})
	so := o.orders[req.OrderID]
	if so == nil {
		return nil, cashier.ErrNotFound
	}
	if req.Amount != so.amount || req.Description != so.desc {
		return nil, &cashier.Error{Status: 409, Code: "PARAM_ERROR", Message: "amount or description differ from the order's"}
	}
	if req.TimeExpire != wechatpay.FormatTime(so.expires) && req.TimeExpire != so.expires.UTC().Format(time.RFC3339) {
		return nil, &cashier.Error{Status: 400, Code: "PARAM_ERROR", Message: "time_expire " + req.TimeExpire + " is not the order's"}
	}
	openid := ""
	if req.Payer != nil {
		openid = req.Payer.OpenID
	}
	a := so.cur
	if a == nil || a.scene != req.Scene || a.openid != openid {
		so.n++
		no := req.OrderID
		if so.n > 1 {
			no = fmt.Sprintf("%s_%d", req.OrderID, so.n)
		}
		if _, err := o.ledger.CreateOrder(ctx, payment.NewOrder{MchID: o.h.cfg.MchID, AppID: o.h.cfg.AppID, OutTradeNo: no,
			OrderID: req.OrderID, Amount: so.amount, Scene: req.Scene, ExpiresAt: so.expires}); err != nil {
			return nil, err
		}
		preq := wechatpay.PrepayRequest{OutTradeNo: no, Description: so.desc, NotifyURL: o.h.cfg.NotifyURL,
			TimeExpire: wechatpay.FormatTime(so.expires), Amount: wechatpay.Amount{Total: so.amount, Currency: "CNY"}}
		switch req.Scene {
		case cashier.SceneJSAPI:
			preq.Payer = &wechatpay.Payer{OpenID: openid}
		case cashier.SceneH5:
			preq.SceneInfo = &wechatpay.SceneInfo{PayerClientIP: clientIP, H5Info: &wechatpay.H5Info{Type: req.H5.Type}}
		}
		resp, err := o.client.Prepay(ctx, wechatpay.Scene(req.Scene), preq)
		if err != nil {
			return nil, err
		}
		a = &attempt{no: no, scene: req.Scene, openid: openid, prepayID: resp.PrepayID, h5URL: resp.H5URL, codeURL: resp.CodeURL}
		so.cur = a
	}
	ans := &cashier.Answer{OrderID: req.OrderID, OutTradeNo: a.no, Scene: a.scene, State: "NOTPAY", Amount: so.amount,
		ExpiresAt: wechatpay.FormatTime(so.expires)}
	switch a.scene {
	case cashier.SceneJSAPI:
		p, err := wechatpay.SignJSAPI(o.key, o.h.cfg.AppID, a.prepayID, time.Now())
		if err != nil {
			return nil, err
		}
		ans.Pay = cashier.Pay{AppID: p.AppID, TimeStamp: p.TimeStamp, NonceStr: p.NonceStr, Package: p.Package, SignType: p.SignType, PaySign: p.PaySign}
	case cashier.SceneH5:
		u := a.h5URL
		if req.RedirectURL != "" {
			u += "&redirect_url=" + url.QueryEscape(req.RedirectURL)
		}
		ans.Pay = cashier.Pay{H5URL: u}
	case cashier.SceneNative:
		c, err := qr.Encode(a.codeURL, qr.M)
		if err != nil {
			return nil, err
		}
		c.Scale = 8
		ans.Pay = cashier.Pay{CodeURL: a.codeURL, QRPNG: "data:image/png;base64," + base64.StdEncoding.EncodeToString(c.PNG())}
	}
	return ans, nil
}

func (o *simOrders) Status(ctx context.Context, orderID string, ask bool) (*cashier.Status, error) {
	o.mu.Lock()
	so := o.orders[orderID]
	var a *attempt
	if so != nil && so.cur != nil {
		c := *so.cur
		a = &c
	}
	o.mu.Unlock()
	if so == nil {
		return nil, cashier.ErrNotFound
	}
	st := &cashier.Status{OrderID: orderID, State: "NOTPAY", Amount: so.amount, Description: so.desc,
		ExpiresAt: so.expires.UTC().Format(time.RFC3339)}
	if a == nil {
		return st, nil
	}
	st.Scene = a.scene
	rec, err := o.ledger.Attempt(ctx, o.h.cfg.MchID, a.no)
	if err != nil {
		return nil, err
	}
	st.State = rec.Status()
	switch st.State {
	case "SUCCESS", "REFUND", "CLOSED", "REVOKED", "REVIEW":
		return st, nil
	}
	if !ask {
		return st, nil
	}
	o.queries.Add(1)
	tx, err := o.client.QueryByOutTradeNo(ctx, a.no)
	if err != nil {
		return nil, err
	}
	if _, err := o.ledger.ApplyQueried(ctx, rec, tx, "query"); err != nil {
		return nil, err
	}
	if rec, err = o.ledger.Attempt(ctx, o.h.cfg.MchID, a.no); err != nil {
		return nil, err
	}
	st.State = rec.Status()
	return st, nil
}
