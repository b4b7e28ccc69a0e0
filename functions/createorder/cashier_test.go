package createorder_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paysls/wxpay/functions/createorder/cashier"
	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/orderapi"
	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/wechatpay"
)

const testPublicURL = "https://pay.example.com/Prod"

func cashierEnv(t *testing.T) *env {
	return newEnv(t, envOptions{mutate: func(c *config.Config) { c.Bundle.PublicURL = testPublicURL }})
}

func cashierOrder(id string, amount int64) orderapi.CreateRequest {
	return orderapi.CreateRequest{OrderID: id, Amount: orderapi.Fen(amount), Description: "收银台 cashier", Scene: orderapi.SceneCashier, Attach: "cart=42"}
}

// post makes one POST /orders through the typed client and fails the test on an error.
func (e *env) post(t testing.TB, req orderapi.CreateRequest) *orderapi.CreateAnswer {
	t.Helper()
	a, err := e.api.Create(context.Background(), req)
	if err != nil {
		t.Fatalf("POST /orders %s (%s): %v", req.OrderID, req.Scene, err)
	}
	return a
}

// view is GET /orders/{order_id} through the typed client.
func (e *env) view(t testing.TB, id string) *orderapi.OrderView {
	t.Helper()
	v, err := e.api.Order(context.Background(), id, "")
	if err != nil {
		t.Fatalf("GET /orders/%s: %v", id, err)
	}
	return v
}

// pays decodes an answer's pay part.
func pays[T any](t testing.TB, a *orderapi.CreateAnswer) T {
	t.Helper()
	var p T
	if err := a.DecodePay(&p); err != nil {
		t.Fatalf("pay part of %+v: %v", a, err)
	}
	return p
}

// checkLink proves cashier_url is this order's signed link on the public URL, valid
// until the order expires, and qr_png is its QR code.
func checkLink(t *testing.T, e *env, a *orderapi.CreateAnswer, orderID string) string {
	t.Helper()
	pay := pays[orderapi.CashierPay](t, a)
	link := pay.CashierURL
	prefix := testPublicURL + "/pay/" + orderID + "?t="
	if !strings.HasPrefix(link, prefix) {
		t.Fatalf("cashier_url = %q, want %s…", link, prefix)
	}
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	exp, err := cashier.CheckToken(cashier.DeriveKey([]byte(testToken)), orderID, u.Query().Get("t"), e.clock.Now())
	if err != nil {
		t.Fatalf("link token: %v", err)
	}
	orderExp, err := time.Parse(time.RFC3339, a.ExpiresAt)
	if err != nil || !exp.Equal(orderExp) {
		t.Fatalf("link valid until %v, order expires %q (%v)", exp, a.ExpiresAt, err)
	}
	if _, err := cashier.CheckToken(cashier.DeriveKey([]byte(testToken)), orderID+"X", u.Query().Get("t"), e.clock.Now()); err == nil {
		t.Fatal("the link's token also opens another order")
	}
	checkQRImage(t, link, pay.QRPNG)
	return link
}

// pageCreate is what the cashier page sends for a scene: what GET answered.
func pageCreate(g *orderapi.OrderView, scene, ua string) orderapi.CreateRequest {
	req := orderapi.CreateRequest{OrderID: g.OrderID, Amount: orderapi.Fen(g.Amount), Description: g.Description, Scene: scene,
		TimeExpire: g.ExpiresAt, UserAgent: ua}
	switch scene {
	case orderapi.SceneH5:
		req.H5 = &orderapi.H5{Type: "Wap"}
	case orderapi.SceneJSAPI:
		req.Payer = &orderapi.Payer{OpenID: openID}
	}
	return req
}

// Scene cashier stores the order (no prepay) and answers the signed link and its QR
// code; the page's first real scene takes the placeholder over in place (same
// out_trade_no, one prepay, the merchant's attach kept); a replayed cashier create
// answers the same link whatever the page placed; a switch of scene (desktop QR, then a
// phone) is a new attempt, and the attempt left is parked, not closed; once the order is
// paid, the parked attempt's close is asked for.
func TestCashierScene(t *testing.T) {
	e := cashierEnv(t)
	const id = "CASHIER0001"
	w := e.st.Writes.Load()
	a := e.post(t, cashierOrder(id, 1234))
	if a.Replayed || a.Scene != "cashier" || a.State != "NOTPAY" || a.OutTradeNo != id || a.Amount != 1234 {
		t.Fatalf("create: %+v", a)
	}
	link := checkLink(t, e, a, id)
	if e.v3.Load() != 0 || e.st.Writes.Load()-w != 1 {
		t.Fatalf("a cashier create made %d WeChat Pay calls and %d store writes, want 0 and 1", e.v3.Load(), e.st.Writes.Load()-w)
	}
	// Replay: the same link, nothing written.
	w = e.st.Writes.Load()
	if b := e.post(t, cashierOrder(id, 1234)); !b.Replayed || pays[orderapi.CashierPay](t, b).CashierURL != link {
		t.Fatalf("replay: %+v", b)
	}
	if e.st.Writes.Load() != w {
		t.Fatal("a replayed cashier create wrote to the store")
	}
	// GET answers what the page needs: description, amount, expiry; and asks WeChat Pay
	// nothing (the placeholder is not there).
	g := e.view(t, id)
	if g.Description != "收银台 cashier" || g.Scene != "cashier" || g.State != "NOTPAY" || g.ExpiresAt != a.ExpiresAt {
		t.Fatalf("GET: %+v", g)
	}
	if e.v3.Load() != 0 {
		t.Fatalf("GET of a placeholder asked WeChat Pay (%d calls)", e.v3.Load())
	}

	// The page on a desktop: native, with what GET answered.
	n := e.post(t, pageCreate(g, "native", uaDesktop))
	if n.Replayed || n.OutTradeNo != id || n.Scene != "native" || e.prepays.Load() != 1 {
		t.Fatalf("native from the cashier: %+v (prepays %d), want the placeholder placed in place", n, e.prepays.Load())
	}
	np := pays[orderapi.NativePay](t, n)
	checkQR(t, np.CodeURL, np.QRPNG)
	var sent struct {
		Attach, Description string
	}
	if err := json.Unmarshal(e.simOrder(t, id).Request, &sent); err != nil || sent.Attach != "cart=42" || sent.Description != "收银台 cashier" {
		t.Fatalf("prepay sent attach %q description %q (%v), want the cashier order's", sent.Attach, sent.Description, err)
	}
	// Reloads replay; the merchant's cashier replay still answers the link.
	if b := e.post(t, pageCreate(g, "native", uaDesktop)); !b.Replayed || b.OutTradeNo != id || e.prepays.Load() != 1 {
		t.Fatalf("native replay: %+v", b)
	}
	if b := e.post(t, cashierOrder(id, 1234)); !b.Replayed || b.Scene != "cashier" || pays[orderapi.CashierPay](t, b).CashierURL != link || e.prepays.Load() != 1 {
		t.Fatalf("cashier replay after the page placed native: %+v", b)
	}
	if rec, _ := e.order(t, id); rec.Scene != "native" || rec.Close != nil {
		t.Fatalf("attempt 1 after replays: %+v", rec)
	}

	// The same link opened on a phone: H5 is a new attempt; the desktop QR's attempt is
	// parked — payable at WeChat Pay until its expiry, a payment on it kept for REVIEW.
	h := e.post(t, pageCreate(g, "h5", uaMobile))
	if h.Replayed || h.OutTradeNo != id+"_2" || h.Scene != "h5" || !strings.HasPrefix(pays[orderapi.H5Pay](t, h).H5URL, "http") {
		t.Fatalf("h5 after native: %+v", h)
	}
	if old, _ := e.order(t, id); !old.Parked() || !old.Close.At.Equal(old.ExpiresAt) || e.closes.Load() != 0 {
		t.Fatalf("the native attempt left for H5: %+v (closes at WeChat Pay %d), want it parked", old.Close, e.closes.Load())
	}
	if err := json.Unmarshal(e.simOrder(t, id+"_2").Request, &sent); err != nil || sent.Attach != "cart=42" {
		t.Fatalf("attempt 2 sent attach %q (%v)", sent.Attach, err)
	}
	if b := e.post(t, cashierOrder(id, 1234)); !b.Replayed || b.OutTradeNo != id+"_2" || pays[orderapi.CashierPay](t, b).CashierURL != link {
		t.Fatalf("cashier replay after the scene switch: %+v", b)
	}
	e.pay(t, id+"_2")
	e.waitState(t, id+"_2", wechatpay.TradeStateSuccess)
	if g = e.view(t, id); g.State != "SUCCESS" || g.Description != "收银台 cashier" || g.Attempts != 2 || len(g.Previous) != 1 || g.Previous[0].State != "NOTPAY" {
		t.Fatalf("GET after paying: %+v", g)
	}
	if old, _ := e.order(t, id); old.Parked() || old.Close == nil || !old.Close.At.Equal(old.CreatedAt.Add(5*time.Minute)) {
		t.Fatalf("the parked attempt of a paid order: %+v, want its close asked for", old.Close)
	}
	if b := e.post(t, cashierOrder(id, 1234)); !b.Replayed || b.State != "SUCCESS" || b.Pay != nil {
		t.Fatalf("cashier replay of the paid order: %+v", b)
	}
	if _, err := e.api.Create(context.Background(), cashierOrder(id, 999)); !orderapi.IsCode(err, "ORDERPAID") {
		t.Fatalf("re-pricing the paid cashier order: %v", err)
	}
}

// Switching back answers the scene's live payment: desktop, phone, desktop, phone …
// places one payment per scene and closes nothing; the pointer goes back and forth,
// GET shows the current scene's attempt and the other as previous. A payment on the
// attempt the page left (a QR still on a screen) is kept for REVIEW, and the order says
// so.
func TestCashierSceneSwitchBack(t *testing.T) {
	e := cashierEnv(t)
	const id = "CASHIER0006"
	e.post(t, cashierOrder(id, 700))
	g := e.view(t, id)
	var codes, h5s []string
	for range 5 {
		n := e.post(t, pageCreate(g, "native", uaDesktop))
		h := e.post(t, pageCreate(g, "h5", uaMobile))
		if n.OutTradeNo != id || h.OutTradeNo != id+"_2" {
			t.Fatalf("native on %s, h5 on %s", n.OutTradeNo, h.OutTradeNo)
		}
		codes, h5s = append(codes, pays[orderapi.NativePay](t, n).CodeURL), append(h5s, pays[orderapi.H5Pay](t, h).H5URL)
	}
	for i := range codes {
		if codes[i] != codes[0] || h5s[i] != h5s[0] {
			t.Fatalf("switching back answered another payment: code_urls %v, h5_urls %v", codes, h5s)
		}
	}
	if e.prepays.Load() != 2 || e.closes.Load() != 0 {
		t.Fatalf("%d prepays and %d closes at WeChat Pay for 5 round trips, want 2 and 0", e.prepays.Load(), e.closes.Load())
	}
	// Back on the desktop: the pointer on attempt 1 again, attempt 2 parked.
	e.post(t, pageCreate(g, "native", uaDesktop))
	v := e.view(t, id)
	if v.OutTradeNo != id || v.Scene != "native" || v.Attempts != 2 || v.ClosePending || len(v.Previous) != 1 || v.Previous[0].OutTradeNo != id+"_2" {
		t.Fatalf("GET after switching back: %+v", v)
	}
	if a1, _ := e.order(t, id); a1.Parked() || a1.Close != nil {
		t.Fatalf("the current attempt is parked: %+v", a1.Close)
	}
	// The phone's H5 page, still open, is paid: kept for REVIEW, never lost.
	e.pay(t, id+"_2")
	a2 := e.waitState(t, id+"_2", payment.StateReview)
	if c := a2.Review.First(); c.Kind != payment.CausePaidAfterCloseRequested || !strings.Contains(c.Detail, "another scene") {
		t.Fatalf("cause %+v", c)
	}
	if v = e.view(t, id); v.State != payment.StateReview || len(v.ReviewCauses) == 0 || v.ReviewCauses[0].Kind != string(payment.CauseEarlierAttemptPaid) {
		t.Fatalf("GET with the parked attempt paid: %+v", v)
	}
	if _, err := e.api.Create(context.Background(), pageCreate(g, "h5", uaMobile)); !orderapi.IsCode(err, "ORDERPAID") {
		t.Fatalf("the page after a parked attempt was paid: %v", err)
	}
}

// Concurrent page creates in two scenes (a desktop and a phone hammering the same link)
// leave one payment per scene and at most one attempt payable without review.
func TestCashierSwitchRace(t *testing.T) {
	e := cashierEnv(t)
	const id = "CASHIER0007"
	e.post(t, cashierOrder(id, 300))
	g := e.view(t, id)
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := pageCreate(g, "native", uaDesktop)
			if i%2 == 1 {
				req = pageCreate(g, "h5", uaMobile)
			}
			for range 4 {
				if _, err := e.api.Create(context.Background(), req); err != nil && !orderapi.IsCode(err, "CREATE_IN_PROGRESS") && !orderapi.IsCode(err, "BUSY") {
					t.Errorf("create %s: %v", req.Scene, err)
				}
			}
		}()
	}
	wg.Wait()
	if e.prepays.Load() > 3 || e.closes.Load() != 0 {
		t.Fatalf("%d prepays, %d closes at WeChat Pay; want one per scene (an h5_url may be asked again) and none", e.prepays.Load(), e.closes.Load())
	}
	hist, err := e.ledger().Order(context.Background(), e.owner(), id)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.ledger().Previous(context.Background(), hist); err != nil {
		t.Fatal(err)
	}
	payable := 0
	for _, a := range append(hist.Previous, hist.Current) {
		if a.Unsettled() && a.Close == nil {
			payable++
		}
	}
	if payable > 1 || hist.First.NewestAttempt() != 2 {
		t.Fatalf("%d attempts payable without review, %d attempts; want at most 1 and 2", payable, hist.First.NewestAttempt())
	}
	// Whatever the race left (the first scene placed took the placeholder), the next
	// page load is served from the native attempt, which is current and not parked.
	a := e.post(t, pageCreate(g, "native", uaDesktop))
	if cur, _ := e.order(t, a.OutTradeNo); cur.Scene != "native" || cur.Close != nil || e.view(t, id).OutTradeNo != a.OutTradeNo {
		t.Fatalf("native after the race on %s: %+v", a.OutTradeNo, cur)
	}
}

// Re-pricing and the merchant's close ask for the close of the attempts the page
// parked; another payer's JSAPI attempt parks the first payer's (a prepay belongs to
// its openid: the first payer gets it back on their next load).
func TestCashierParkedAttemptsClose(t *testing.T) {
	e := cashierEnv(t)
	const id = "CASHIER0008"
	e.post(t, cashierOrder(id, 800))
	g := e.view(t, id)
	e.post(t, pageCreate(g, "native", uaDesktop))
	e.post(t, pageCreate(g, "h5", uaMobile))
	j := pageCreate(g, "jsapi", uaWeChat)
	if a := e.post(t, j); a.OutTradeNo != id+"_3" {
		t.Fatalf("jsapi on %s", a.OutTradeNo)
	}
	j.Payer = &orderapi.Payer{OpenID: "oAnotherPayer000000000000000"}
	if a := e.post(t, j); a.OutTradeNo != id+"_4" {
		t.Fatalf("another payer's jsapi on %s", a.OutTradeNo)
	}
	for _, no := range []string{id, id + "_2", id + "_3"} {
		if a, _ := e.order(t, no); !a.Parked() {
			t.Fatalf("%s: %+v, want parked", no, a.Close)
		}
	}
	// The merchant re-prices: a new placeholder, the parked attempts asked to close.
	if a := e.post(t, cashierOrder(id, 850)); a.OutTradeNo != id+"_5" || a.Scene != "cashier" {
		t.Fatalf("re-priced cashier order: %+v", a)
	}
	for _, no := range []string{id, id + "_2", id + "_3", id + "_4"} {
		if a, _ := e.order(t, no); a.Parked() || a.Close == nil {
			t.Fatalf("%s after the re-price: %+v, want its close asked for", no, a.Close)
		}
	}

	// The merchant's close takes the parked attempts with it.
	const id2 = "CASHIER0009"
	e.post(t, cashierOrder(id2, 800))
	g2 := e.view(t, id2)
	e.post(t, pageCreate(g2, "native", uaDesktop))
	e.post(t, pageCreate(g2, "h5", uaMobile))
	if c, err := e.api.Close(context.Background(), id2, ""); err != nil || c.Close != "scheduled" || c.OutTradeNo != id2+"_2" {
		t.Fatalf("close: %+v %v", c, err)
	}
	if a, _ := e.order(t, id2); a.Parked() || a.Close == nil {
		t.Fatalf("the parked attempt after the merchant's close: %+v", a.Close)
	}
}

// A placeholder is placed once however many browsers open the link at the same moment.
func TestCashierConcurrentFirstScene(t *testing.T) {
	e := cashierEnv(t)
	const id = "CASHIER0002"
	e.post(t, cashierOrder(id, 500))
	var wg sync.WaitGroup
	outs := make([]string, 12)
	errs := make([]error, 12)
	for i := range outs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a, err := e.api.Create(context.Background(), orderapi.CreateRequest{OrderID: id, Amount: 500, Description: "收银台 cashier", Scene: "native"})
			if errs[i] = err; err == nil {
				outs[i] = a.OutTradeNo
			}
		}()
	}
	wg.Wait()
	for i := range outs {
		if errs[i] != nil || outs[i] != id {
			t.Fatalf("create %d: %v out_trade_no %q", i, errs[i], outs[i])
		}
	}
	if e.prepays.Load() != 1 {
		t.Fatalf("%d prepays, want 1", e.prepays.Load())
	}
}

// A page create with another amount is a re-pricing: a new attempt, and the
// placeholder's close recorded (WeChat Pay never saw it: reconcile closes it locally).
// Scene cashier refuses what the page finds itself, and needs WXPAY_PUBLIC_URL.
func TestCashierRepricedAndRefused(t *testing.T) {
	e := cashierEnv(t)
	const id = "CASHIER0003"
	e.post(t, cashierOrder(id, 500))
	a := e.post(t, orderapi.CreateRequest{OrderID: id, Amount: 400, Description: "replay test", Scene: "native"})
	if a.OutTradeNo != id+"_2" || a.Amount != 400 {
		t.Fatalf("re-priced: %+v", a)
	}
	if old, _ := e.order(t, id); old.Close == nil || old.State != "NOTPAY" {
		t.Fatalf("placeholder after re-pricing: %+v", old)
	}
	// A changed cashier create makes a new placeholder (the native attempt is retired).
	a = e.post(t, cashierOrder(id, 450))
	if a.OutTradeNo != id+"_3" || a.Scene != "cashier" {
		t.Fatalf("new cashier content: %+v", a)
	}
	checkLink(t, e, a, id)

	for _, extra := range []func(*orderapi.CreateRequest){
		func(r *orderapi.CreateRequest) { r.Payer = &orderapi.Payer{OpenID: openID} },
		func(r *orderapi.CreateRequest) { r.H5 = &orderapi.H5{Type: "Wap"} },
		func(r *orderapi.CreateRequest) { r.RedirectURL = "https://m.example.com/" },
	} {
		body := cashierOrder("CASHIER0004", 100)
		extra(&body)
		var ae *orderapi.Error
		if _, err := e.api.Create(context.Background(), body); !orderapi.IsCode(err, "PARAM_ERROR") || !asError(err, &ae) || ae.Status != http.StatusBadRequest {
			t.Fatalf("cashier with %+v: %v", body, err)
		}
	}
	bare := newEnv(t, envOptions{})
	_, err := bare.api.Create(context.Background(), cashierOrder("CASHIER0005", 100))
	var ae *orderapi.Error
	if !asError(err, &ae) || ae.Status != 400 || ae.Code != "PUBLIC_URL_REQUIRED" || !strings.Contains(ae.Hint, "WXPAY_PUBLIC_URL") {
		t.Fatalf("without a public URL: %v", err)
	}
}
