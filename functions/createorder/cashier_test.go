package createorder_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paysls/wxpay/functions/cashier"
	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/wechatpay"
)

const testPublicURL = "https://pay.example.com/Prod"

func cashierEnv(t *testing.T) *env {
	return newEnv(t, envOptions{mutate: func(c *config.Config) { c.Bundle.PublicURL = testPublicURL }})
}

func cashierOrder(id string, amount int64) map[string]any {
	return map[string]any{"order_id": id, "amount": amount, "description": "收银台 cashier", "scene": "cashier", "attach": "cart=42"}
}

// checkLink proves cashier_url is this order's signed link on the public URL, valid
// until the order expires, and qr_png is its QR code.
func checkLink(t *testing.T, e *env, a map[string]any, orderID string) string {
	t.Helper()
	pay, _ := a["pay"].(map[string]any)
	link := str(pay, "cashier_url")
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
	orderExp, err := time.Parse(time.RFC3339, str(a, "expires_at"))
	if err != nil || !exp.Equal(orderExp) {
		t.Fatalf("link valid until %v, order expires %q (%v)", exp, str(a, "expires_at"), err)
	}
	if _, err := cashier.CheckToken(cashier.DeriveKey([]byte(testToken)), orderID+"X", u.Query().Get("t"), e.clock.Now()); err == nil {
		t.Fatal("the link's token also opens another order")
	}
	checkQRImage(t, link, str(pay, "qr_png"))
	return link
}

// Scene cashier stores the order (no prepay) and answers the signed link and its QR
// code; the page's first real scene takes the placeholder over in place (same
// out_trade_no, one prepay, the merchant's attach kept); a replayed cashier create
// answers the same link whatever the page placed; a switch of scene (desktop QR, then a
// phone) is a new attempt and the previous one is closed.
func TestCashierScene(t *testing.T) {
	e := cashierEnv(t)
	const id = "CASHIER0001"
	w := e.st.Writes.Load()
	status, a := e.call(t, "POST", "/orders", cashierOrder(id, 1234))
	if status != 201 || a["scene"] != "cashier" || a["state"] != "NOTPAY" || a["out_trade_no"] != id || a["amount"] != float64(1234) {
		t.Fatalf("create: %d %v", status, a)
	}
	link := checkLink(t, e, a, id)
	if e.v3.Load() != 0 || e.st.Writes.Load()-w != 1 {
		t.Fatalf("a cashier create made %d WeChat Pay calls and %d store writes, want 0 and 1", e.v3.Load(), e.st.Writes.Load()-w)
	}
	// Replay: the same link, nothing written.
	w = e.st.Writes.Load()
	if status, b := e.call(t, "POST", "/orders", cashierOrder(id, 1234)); status != 200 || str(b, "pay", "cashier_url") != link {
		t.Fatalf("replay: %d %v", status, b)
	}
	if e.st.Writes.Load() != w {
		t.Fatal("a replayed cashier create wrote to the store")
	}
	// GET answers what the page needs: description, amount, expiry; and asks WeChat Pay
	// nothing (the placeholder is not there).
	status, g := e.call(t, "GET", "/orders/"+id, nil)
	if status != 200 || g["description"] != "收银台 cashier" || g["scene"] != "cashier" || g["state"] != "NOTPAY" || g["expires_at"] != a["expires_at"] {
		t.Fatalf("GET: %d %v", status, g)
	}
	if e.v3.Load() != 0 {
		t.Fatalf("GET of a placeholder asked WeChat Pay (%d calls)", e.v3.Load())
	}

	// The page on a desktop: native, with what GET answered.
	page := func(scene string, extra map[string]any) map[string]any {
		m := map[string]any{"order_id": id, "amount": g["amount"], "description": g["description"], "scene": scene, "time_expire": g["expires_at"]}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	status, n := e.call(t, "POST", "/orders", page("native", nil))
	if status != 201 || n["out_trade_no"] != id || n["scene"] != "native" || e.prepays.Load() != 1 {
		t.Fatalf("native from the cashier: %d %v (prepays %d), want the placeholder placed in place", status, n, e.prepays.Load())
	}
	checkQR(t, str(n, "pay", "code_url"), str(n, "pay", "qr_png"))
	var sent struct {
		Attach, Description string
	}
	if err := json.Unmarshal(e.simOrder(t, id).Request, &sent); err != nil || sent.Attach != "cart=42" || sent.Description != "收银台 cashier" {
		t.Fatalf("prepay sent attach %q description %q (%v), want the cashier order's", sent.Attach, sent.Description, err)
	}
	// Reloads replay; the merchant's cashier replay still answers the link.
	if status, b := e.call(t, "POST", "/orders", page("native", nil)); status != 200 || b["out_trade_no"] != id || e.prepays.Load() != 1 {
		t.Fatalf("native replay: %d %v", status, b)
	}
	if status, b := e.call(t, "POST", "/orders", cashierOrder(id, 1234)); status != 200 || b["scene"] != "cashier" || str(b, "pay", "cashier_url") != link || e.prepays.Load() != 1 {
		t.Fatalf("cashier replay after the page placed native: %d %v", status, b)
	}
	if rec, _ := e.order(t, id); rec.Scene != "native" || rec.Close != nil {
		t.Fatalf("attempt 1 after replays: %+v", rec)
	}

	// The same link opened on a phone: H5 is a new attempt; the desktop QR's attempt is
	// closed (deferred: it is under 5 minutes old; a payment on it meanwhile → REVIEW).
	status, h := e.call(t, "POST", "/orders", page("h5", map[string]any{"user_agent": uaMobile}))
	if status != 201 || h["out_trade_no"] != id+"_2" || h["scene"] != "h5" || !strings.HasPrefix(str(h, "pay", "h5_url"), "http") {
		t.Fatalf("h5 after native: %d %v", status, h)
	}
	if old, _ := e.order(t, id); old.Close == nil {
		t.Fatalf("the replaced native attempt owes no close: %+v", old)
	}
	if err := json.Unmarshal(e.simOrder(t, id+"_2").Request, &sent); err != nil || sent.Attach != "cart=42" {
		t.Fatalf("attempt 2 sent attach %q (%v)", sent.Attach, err)
	}
	if status, b := e.call(t, "POST", "/orders", cashierOrder(id, 1234)); status != 200 || b["out_trade_no"] != id+"_2" || str(b, "pay", "cashier_url") != link {
		t.Fatalf("cashier replay after the scene switch: %d %v", status, b)
	}
	e.pay(t, id+"_2")
	e.waitState(t, id+"_2", wechatpay.TradeStateSuccess)
	if status, g = e.call(t, "GET", "/orders/"+id, nil); status != 200 || g["state"] != "SUCCESS" || g["description"] != "收银台 cashier" || g["attempts"] != float64(2) {
		t.Fatalf("GET after paying: %d %v", status, g)
	}
	if status, b := e.call(t, "POST", "/orders", cashierOrder(id, 1234)); status != 200 || b["state"] != "SUCCESS" || b["pay"] != nil {
		t.Fatalf("cashier replay of the paid order: %d %v", status, b)
	}
	if status, b := e.call(t, "POST", "/orders", cashierOrder(id, 999)); status != http.StatusConflict || b["code"] != "ORDERPAID" {
		t.Fatalf("re-pricing the paid cashier order: %d %v", status, b)
	}
}

// A placeholder is placed once however many browsers open the link at the same moment.
func TestCashierConcurrentFirstScene(t *testing.T) {
	e := cashierEnv(t)
	const id = "CASHIER0002"
	if status, a := e.call(t, "POST", "/orders", cashierOrder(id, 500)); status != 201 {
		t.Fatalf("%d %v", status, a)
	}
	var wg sync.WaitGroup
	outs := make([]string, 12)
	codes := make([]int, 12)
	for i := range outs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i], outs[i] = e.callStatus(t, map[string]any{"order_id": id, "amount": 500, "description": "收银台 cashier", "scene": "native"})
		}()
	}
	wg.Wait()
	for i := range outs {
		if codes[i]/100 != 2 || outs[i] != id {
			t.Fatalf("create %d: %d out_trade_no %q", i, codes[i], outs[i])
		}
	}
	if e.prepays.Load() != 1 {
		t.Fatalf("%d prepays, want 1", e.prepays.Load())
	}
}

func (e *env) callStatus(t *testing.T, body any) (int, string) {
	status, a := e.call(t, "POST", "/orders", body)
	return status, str(a, "out_trade_no")
}

// A page create with another amount is a re-pricing: a new attempt, and the
// placeholder's close recorded (WeChat Pay never saw it: reconcile closes it locally).
// Scene cashier refuses what the page finds itself, and needs WXPAY_PUBLIC_URL.
func TestCashierRepricedAndRefused(t *testing.T) {
	e := cashierEnv(t)
	const id = "CASHIER0003"
	if status, a := e.call(t, "POST", "/orders", cashierOrder(id, 500)); status != 201 {
		t.Fatalf("%d %v", status, a)
	}
	status, a := e.call(t, "POST", "/orders", nativeOrder(id, 400))
	if status != 201 || a["out_trade_no"] != id+"_2" || a["amount"] != float64(400) {
		t.Fatalf("re-priced: %d %v", status, a)
	}
	if old, _ := e.order(t, id); old.Close == nil || old.State != "NOTPAY" {
		t.Fatalf("placeholder after re-pricing: %+v", old)
	}
	// A changed cashier create makes a new placeholder (the native attempt is retired).
	status, a = e.call(t, "POST", "/orders", cashierOrder(id, 450))
	if status != 201 || a["out_trade_no"] != id+"_3" || a["scene"] != "cashier" {
		t.Fatalf("new cashier content: %d %v", status, a)
	}
	checkLink(t, e, a, id)

	for _, extra := range []map[string]any{{"payer": map[string]string{"openid": openID}}, {"h5": map[string]string{"type": "Wap"}}, {"redirect_url": "https://m.example.com/"}} {
		body := cashierOrder("CASHIER0004", 100)
		for k, v := range extra {
			body[k] = v
		}
		if status, a := e.call(t, "POST", "/orders", body); status != 400 || a["code"] != "PARAM_ERROR" {
			t.Fatalf("cashier with %v: %d %v", extra, status, a)
		}
	}
	bare := newEnv(t, envOptions{})
	status, a = bare.call(t, "POST", "/orders", cashierOrder("CASHIER0005", 100))
	if status != 400 || a["code"] != "PUBLIC_URL_REQUIRED" || !strings.Contains(str(a, "hint"), "WXPAY_PUBLIC_URL") {
		t.Fatalf("without a public URL: %d %v", status, a)
	}
}
