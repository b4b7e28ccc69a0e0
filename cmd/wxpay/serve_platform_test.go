package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paysls/wxpay/shared/clock"
	"github.com/paysls/wxpay/shared/events"
	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/store"
)

// platformAPI drives `wxpay serve` over HTTP as a platform's backend and its tests would.
type platformAPI struct {
	t           *testing.T
	base, token string
}

func (p platformAPI) call(method, path string, body any, auth bool) (int, map[string]any) {
	p.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, _ := json.Marshal(b)
		rd = strings.NewReader(string(raw))
	}
	req, _ := http.NewRequest(method, p.base+path, rd)
	if auth {
		req.Header.Set("Authorization", "Bearer "+p.token)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64)")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	m := map[string]any{}
	if len(raw) > 0 && json.Unmarshal(raw, &m) != nil {
		var list []any
		if json.Unmarshal(raw, &list) != nil {
			p.t.Fatalf("%s %s: %d %q", method, path, res.StatusCode, raw)
		}
		m["list"] = list
	}
	return res.StatusCode, m
}

// cart is a combine of three sub-merchants' sub-orders.
func cart(orderID, scene string) map[string]any {
	subs := []map[string]any{}
	for i, sub := range []string{"1900000109", "1900000110", "1900000111"} {
		subs = append(subs, map[string]any{"order_id": fmt.Sprintf("%s-%c", orderID, 'A'+i), "sub_mchid": sub,
			"amount": 100 * (i + 1), "description": fmt.Sprintf("item %d", i+1)})
	}
	c := map[string]any{"order_id": orderID, "scene": scene, "description": "cart " + orderID, "sub_orders": subs}
	switch scene {
	case "jsapi", "miniprogram":
		c["payer"] = map[string]any{"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}
	case "auto":
		c["user_agent"] = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148"
	}
	return c
}

// waitState polls GET /orders/{id} until the combine reads state (the GET asks WeChat
// Pay when unsettled; a test that must prove the notification settled it reads events).
func (p platformAPI) waitState(id, state string) map[string]any {
	p.t.Helper()
	var g map[string]any
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if _, g = p.call("GET", "/orders/"+id, nil, true); g["state"] == state {
			return g
		}
	}
	p.t.Fatalf("%s never read %s: %v", id, state, g)
	return nil
}

// eventsOf lists the undelivered merchant events (no webhook is configured).
func (p platformAPI) eventsOf() []map[string]any {
	p.t.Helper()
	_, m := p.call("GET", "/events?undelivered=1", nil, true)
	var out []map[string]any
	list, _ := m["events"].([]any)
	for _, e := range list {
		out = append(out, e.(map[string]any))
	}
	return out
}

// countEvents counts events by type among those whose data names one of the orders.
func countEvents(evs []map[string]any, orders ...string) map[string]int {
	out := map[string]int{}
	for _, e := range evs {
		d, _ := e["data"].(map[string]any)
		for _, o := range orders {
			if d["order_id"] == o {
				out[e["type"].(string)]++
			}
		}
	}
	return out
}

// The platform mode end to end through `wxpay serve` with WXPAY_MODE=ecommerce: a
// 3-sub-merchant combine in every scene created, paid as the user pays each scene,
// notified, read (combine and sub-order); one sub-order refunded through the
// e-commerce refund API; a notification delivered twice; one dropped and settled by
// reconcile; the day's bill matched row by row.
func TestServeEcommerceCombinesEndToEnd(t *testing.T) {
	_, p := startPlatformServe(t, "ecommerce")
	scenes := []string{"jsapi", "miniprogram", "app", "h5", "native", "auto", "cashier"}
	for i, scene := range scenes {
		id := fmt.Sprintf("CART%02d%s", i, strings.ToUpper((scene + "xx")[:3]))
		status, a := p.call("POST", "/orders", cart(id, scene), true)
		if status != http.StatusCreated || a["combine"] != true || a["amount"] != float64(600) || len(a["sub_orders"].([]any)) != 3 {
			t.Fatalf("%s: create %d %v", scene, status, a)
		}
		pay, _ := a["pay"].(map[string]any)
		// Paid the way the user pays the scene.
		switch scene {
		case "jsapi", "miniprogram":
			if pay["appId"] == nil || !strings.HasPrefix(pay["package"].(string), "prepay_id=") || pay["paySign"] == "" {
				t.Fatalf("%s pay %v", scene, pay)
			}
			status, _ = p.call("POST", "/sim/pay", map[string]any{"prepay_id": pay["package"]}, false)
		case "app":
			if pay["partnerid"] == nil || pay["prepayid"] == nil || pay["sign"] == "" {
				t.Fatalf("app pay %v", pay)
			}
			status, _ = p.call("POST", "/sim/pay", map[string]any{"prepay_id": pay["prepayid"]}, false)
		case "native":
			if !strings.HasPrefix(pay["code_url"].(string), "weixin://wxpay/bizpayurl?pr=") || !strings.HasPrefix(pay["qr_png"].(string), "data:image/png;base64,") {
				t.Fatalf("native pay %v", pay)
			}
			status, _ = p.call("POST", "/sim/pay", map[string]any{"code_url": pay["code_url"]}, false)
		case "h5", "auto":
			h5, _ := pay["h5_url"].(string)
			u, err := url.Parse(h5)
			if err != nil || !strings.HasPrefix(u.Path, "/sim/h5/") {
				t.Fatalf("%s h5_url %q", scene, h5)
			}
			// The user taps Pay on the h5_url page (a form post).
			res, err := http.PostForm(p.base+u.Path+"/pay", url.Values{"package": {u.Query().Get("package")}})
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			status = res.StatusCode
		case "cashier":
			link, _ := pay["cashier_url"].(string)
			u, err := url.Parse(link)
			if err != nil {
				t.Fatal(err)
			}
			// A desktop browser opens the link: the page places the combine as Native.
			req, _ := http.NewRequest("GET", p.base+u.Path+"?"+u.RawQuery, nil)
			req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64)")
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			page, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusOK || !strings.Contains(string(page), `data-mode="native"`) {
				t.Fatalf("cashier page: %d %.300s", res.StatusCode, page)
			}
			status, _ = p.call("POST", "/sim/combines/"+id+"/pay", nil, false)
		}
		if status/100 != 2 && status != http.StatusSeeOther {
			t.Fatalf("%s: paying answered %d", scene, status)
		}
		g := p.waitState(id, "SUCCESS")
		for _, s := range g["sub_orders"].([]any) {
			if s.(map[string]any)["state"] != "SUCCESS" || s.(map[string]any)["transaction_id"] == nil {
				t.Fatalf("%s: sub-order %v", scene, s)
			}
		}
		// Each sub-order reads as an order of its own, under its sub-merchant.
		if status, so := p.call("GET", "/orders/"+id+"-B?sub_mchid=1900000110", nil, true); status != 200 || so["state"] != "SUCCESS" ||
			so["combine_order_id"] != id || so["amount"] != float64(200) {
			t.Fatalf("%s: sub-order %d %v", scene, status, so)
		}
	}
	evs := p.eventsOf()
	for i, scene := range scenes {
		id := fmt.Sprintf("CART%02d%s", i, strings.ToUpper((scene + "xx")[:3]))
		if got := countEvents(evs, id+"-A", id+"-B", id+"-C"); got[events.OrderPaid] != 3 {
			t.Errorf("%s: events %v, want one order.paid per sub-order", scene, got)
		}
		if got := countEvents(evs, id); got[payment.EventCombinePaid] != 1 {
			t.Errorf("%s: events %v, want one combine.paid", scene, got)
		}
	}

	// One sub-order refunded through the e-commerce refund API.
	status, rf := p.call("POST", "/orders/CART04NAT-B/refunds?sub_mchid=1900000110", map[string]any{"out_refund_no": "RFCART04B1", "amount": 150, "reason": "damaged"}, true)
	if status != 200 || rf["state"] != "PROCESSING" {
		t.Fatalf("refund: %d %v", status, rf)
	}
	// An e-commerce refund at the simulator, paid by the sub-merchant (not advanced).
	_, simrf := p.call("GET", "/sim/refunds/RFCART04B1", nil, false)
	refundID := fmt.Sprint(simrf["refund"].(map[string]any)["refund_id"])
	if status, e := p.call("POST", "/sim/ecommerce/refunds/"+refundID+"/return-advance", map[string]any{}, false); status != http.StatusConflict ||
		!strings.Contains(fmt.Sprint(e), "REFUND_SOURCE_SUB_MERCHANT") {
		t.Fatalf("not an e-commerce refund at the simulator: %d %v", status, e)
	}
	if status, _ := p.call("POST", "/sim/refunds/RFCART04B1/settle", nil, false); status != 200 {
		t.Fatalf("settle: %d", status)
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && rf["state"] != "SUCCESS"; time.Sleep(50 * time.Millisecond) {
		_, rf = p.call("GET", "/orders/CART04NAT-B/refunds/RFCART04B1?sub_mchid=1900000110", nil, true)
	}
	if rf["state"] != "SUCCESS" {
		t.Fatalf("refund never succeeded: %v", rf)
	}
	if status, e := p.call("POST", "/orders/CART04NAT-B/refunds?sub_mchid=1900000110", map[string]any{"amount": 51}, true); status != http.StatusConflict {
		t.Fatalf("over-refund of the sub-order: %d %v", status, e)
	}
	if status, e := p.call("POST", "/orders/CART04NAT/refunds", map[string]any{"amount": 1}, true); status != http.StatusBadRequest || e["code"] != "REFUND_PER_SUB_ORDER" {
		t.Fatalf("refund of a combine: %d %v", status, e)
	}

	// A notification delivered twice: each transition once.
	p.call("POST", "/sim/faults", map[string]any{"duplicate": true}, false)
	p.call("POST", "/orders", cart("CARTDUP001", "native"), true)
	p.call("POST", "/sim/combines/CARTDUP001/pay", nil, false)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && countEvents(p.eventsOf(), "CARTDUP001")[payment.EventCombinePaid] == 0; time.Sleep(50 * time.Millisecond) {
	}
	time.Sleep(300 * time.Millisecond) // the second copy
	p.call("POST", "/sim/faults", map[string]any{}, false)
	if got := countEvents(p.eventsOf(), "CARTDUP001-A", "CARTDUP001-B", "CARTDUP001-C", "CARTDUP001"); got[events.OrderPaid] != 3 || got[payment.EventCombinePaid] != 1 {
		t.Fatalf("duplicate delivery: events %v", got)
	}

	// A dropped notification: reconcile queries the combine and settles its sub-orders.
	p.call("POST", "/sim/faults", map[string]any{"drop_next": 1}, false)
	p.call("POST", "/orders", cart("CARTDROP01", "native"), true)
	p.call("POST", "/sim/combines/CARTDROP01/pay", nil, false)
	p.call("POST", "/sim/clock", map[string]any{"advance": "2m"}, false)
	if status, rep := p.call("POST", "/jobs/reconcile", nil, true); status != 200 {
		t.Fatalf("reconcile: %d %v", status, rep)
	}
	got := 0
	for _, e := range p.eventsOf() {
		d, _ := e["data"].(map[string]any)
		if e["type"] == events.OrderPaid && strings.HasPrefix(fmt.Sprint(d["order_id"]), "CARTDROP01-") && d["source"] == "reconcile" {
			got++
		}
	}
	if got != 3 {
		t.Fatalf("reconcile settled %d sub-orders of the dropped notification, want 3", got)
	}
	if countEvents(p.eventsOf(), "CARTDROP01")[payment.EventCombinePaid] != 1 {
		t.Fatal("no combine.paid after reconcile")
	}

	// The day's bill, matched row by row: every sub-order is a row of its own.
	_, g := p.call("GET", "/orders/CART04NAT-A?sub_mchid=1900000109", nil, true)
	paidAt, _ := time.Parse(time.RFC3339, g["paid_at"].(string))
	day := paidAt.In(clock.CST).Format(time.DateOnly)
	p.call("POST", "/sim/clock", map[string]any{"advance": "34h"}, false)
	status, rep := p.call("POST", "/jobs/billfetch?date="+day, nil, true)
	if status != 200 {
		t.Fatalf("billfetch: %d %v", status, rep)
	}
	raw, _ := json.Marshal(rep)
	var out struct {
		Bills []struct {
			Type, Status           string
			Rows, Matched, Settled int64
			Discrepancies          []map[string]any
		}
	}
	if err := json.Unmarshal(raw, &out); err != nil || len(out.Bills) == 0 {
		t.Fatalf("billfetch report %s", raw)
	}
	trade := out.Bills[0]
	// 9 combines of 3 sub-orders paid, 1 refund: 28 rows, all matched.
	if trade.Type != "trade_all" || trade.Status != "reconciled" || trade.Rows != 28 || trade.Matched != 28 || len(trade.Discrepancies) != 0 {
		t.Fatalf("trade bill: %s", raw)
	}
}

// crashAfter fails every write to a sub-order of a combine once armed and one such
// write went through: the process died between two sub-orders of a notification.
type crashAfter struct {
	store.Store
	armed, passed atomic.Int32
}

func (c *crashAfter) Update(ctx context.Context, key string, ch store.Change, cond store.Condition) (store.Record, error) {
	if c.armed.Load() == 1 && strings.HasPrefix(key, "order/") && strings.Contains(key, "CARTCRASH1-") {
		if c.passed.Add(1) > 1 {
			c.armed.Store(0) // the process restarts: the next delivery finds a working store
			return store.Record{}, store.Unavailable("update", fmt.Errorf("crashed after the first sub-order's write"))
		}
	}
	return c.Store.Update(ctx, key, ch, cond)
}

// A combine notification cut by a crash after its first sub-order's write is answered
// 5xx; WeChat Pay's redelivery (and a duplicate of it) finishes the rest: each
// sub-order is paid once, with one event each, and combine.paid is recorded once. An
// advanced refund's money is then returned by reconcile.
func TestServeCombineNotificationCutByACrash(t *testing.T) {
	t.Setenv("WXPAY_MODE", "ecommerce")
	t.Setenv("WXPAY_REFUND_ADVANCE", "1")
	crash := &crashAfter{}
	keys := filepath.Join(t.TempDir(), "sim")
	hs := httptest.NewUnstartedServer(nil)
	b, err := newBundle(context.Background(), serveOptions{keysDir: keys, mode: "cert", retryScale: 0.001, apiBase: "http://" + hs.Listener.Addr().String(),
		wrapStore: func(st store.Store) store.Store { crash.Store = st; return crash }}, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	hs.Config.Handler = b.handler
	hs.Start()
	t.Cleanup(func() { hs.Close(); b.Close() })
	f := &serveFixture{b: b, srv: hs, keys: keys}
	p := platformAPI{t: t, base: hs.URL, token: f.token(t)}
	if status, a := p.call("POST", "/orders", cart("CARTCRASH1", "native"), true); status != http.StatusCreated {
		t.Fatalf("create: %d %v", status, a)
	}
	p.call("POST", "/sim/faults", map[string]any{"duplicate": true}, false)
	crash.armed.Store(1)
	p.call("POST", "/sim/combines/CARTCRASH1/pay", nil, false)
	ledger := &payment.Ledger{Store: b.store}
	ctx := context.Background()
	var c *payment.CombineHistory
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if c, err = ledger.Combine(ctx, b.id.MchID, "CARTCRASH1"); err != nil {
			t.Fatal(err)
		}
		subs, _ := ledger.SubOrders(ctx, c.Current)
		all := true
		for _, o := range subs {
			all = all && o.Paid()
		}
		if all && countEvents(p.eventsOf(), "CARTCRASH1")[payment.EventCombinePaid] == 1 {
			break
		}
	}
	time.Sleep(300 * time.Millisecond) // the duplicate copies
	p.call("POST", "/sim/faults", map[string]any{}, false)
	if crash.passed.Load() < 2 {
		t.Fatal("the crash never happened")
	}
	_, d := p.call("GET", "/sim/deliveries", nil, false)
	if s := fmt.Sprint(d["list"]); !strings.Contains(s, "503") && !strings.Contains(s, "500") {
		t.Fatalf("no failed delivery: %s", s)
	}
	got := countEvents(p.eventsOf(), "CARTCRASH1-A", "CARTCRASH1-B", "CARTCRASH1-C", "CARTCRASH1")
	if got[events.OrderPaid] != 3 || got[payment.EventCombinePaid] != 1 {
		t.Fatalf("events %v: want each sub-order paid once and one combine.paid", got)
	}

	// An advanced e-commerce refund (WXPAY_REFUND_ADVANCE=1): once it succeeds,
	// reconcile returns the advance from the sub-merchant and records it on the refund.
	status, rf := p.call("POST", "/orders/CARTCRASH1-C/refunds?sub_mchid=1900000111", map[string]any{"out_refund_no": "RFADVANCE1", "amount": 300}, true)
	if status != 200 {
		t.Fatalf("refund: %d %v", status, rf)
	}
	p.call("POST", "/sim/refunds/RFADVANCE1/settle", nil, false)
	var r *payment.Refund
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if r, err = ledger.Refund(ctx, "1900000111", "RFADVANCE1"); err == nil && r.AdvanceOwed() {
			break
		}
	}
	if r == nil || !r.AdvanceOwed() {
		t.Fatalf("refund %+v: its advance is owed once it succeeded", r)
	}
	// A pass cut short by its deadline (a loaded machine) leaves the return to the
	// next run, as the cron would; three passes are plenty, and each report is kept.
	var reports []map[string]any
	for range 3 {
		status, rep := p.call("POST", "/jobs/reconcile", nil, true)
		if status != 200 {
			t.Fatalf("reconcile: %d %v", status, rep)
		}
		reports = append(reports, rep)
		if r, err = ledger.Refund(ctx, "1900000111", "RFADVANCE1"); err == nil && !r.AdvanceOwed() {
			break
		}
	}
	if r, err = ledger.Refund(ctx, "1900000111", "RFADVANCE1"); err != nil || r.Advance == nil || r.Advance.State != "SUCCESS" || r.Advance.Amount != 300 {
		t.Fatalf("advance after reconcile: %+v %v (refund %+v; reconcile reports %v)", r.Advance, err, r, reports)
	}
}
