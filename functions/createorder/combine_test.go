package createorder_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paysls/wxpay/internal/paysim"
	"github.com/paysls/wxpay/shared/config"
)

// newPlatformEnv is the env of an e-commerce platform (WXPAY_MODE=ecommerce).
func newPlatformEnv(t testing.TB) *env {
	return newEnv(t, envOptions{partner: true, mutate: func(c *config.Config) {
		c.Bundle.Mode, c.Bundle.SubMchID, c.Bundle.SubAppID = config.ModeEcommerce, "", ""
	}})
}

// combineBody is a combine of n sub-orders, sub-merchant 19000001nn, 100 fen each.
func combineBody(id string, n int, scene string) map[string]any {
	subs := make([]map[string]any, n)
	for i := range subs {
		subs[i] = map[string]any{"order_id": fmt.Sprintf("%s-%02d", id, i+1), "sub_mchid": fmt.Sprintf("19000001%02d", i+1),
			"amount": 100, "description": fmt.Sprintf("item %d", i+1)}
	}
	b := map[string]any{"order_id": id, "scene": scene, "sub_orders": subs}
	if scene == "jsapi" {
		b["payer"] = map[string]string{"openid": openID}
	}
	return b
}

// Bad combines are refused with {code,message,hint} before anything reaches WeChat Pay
// or is written.
func TestCombineBadInputIsRefusedBeforeAnything(t *testing.T) {
	e := newPlatformEnv(t)
	// An order whose id a sub-order will try to take.
	if s, a := e.call(t, "POST", "/orders", map[string]any{"order_id": "TAKEN00001", "amount": 100, "description": "x", "scene": "native", "sub_mchid": "1900000101"}); s != 201 {
		t.Fatalf("%d %v", s, a)
	}
	sub := func(id, mch string, amount any) map[string]any {
		m := map[string]any{"order_id": id, "amount": amount, "description": "x"}
		if mch != "" {
			m["sub_mchid"] = mch
		}
		return m
	}
	body := func(subs ...map[string]any) map[string]any {
		return map[string]any{"order_id": "BADCART001", "scene": "native", "sub_orders": subs}
	}
	many := body()
	for i := range 51 {
		many["sub_orders"] = append(many["sub_orders"].([]map[string]any), sub(fmt.Sprintf("BADCART-%03d", i), "1900000101", 1))
	}
	cases := []struct {
		name   string
		body   any
		status int
		code   string
	}{
		{"one sub-order", body(sub("BADCART-A", "1900000101", 100)), 400, "SUB_ORDERS_COUNT"},
		{"51 sub-orders", many, 400, "SUB_ORDERS_COUNT"},
		{"duplicate sub order_ids", body(sub("BADCART-A", "1900000101", 100), sub("BADCART-A", "1900000102", 100)), 400, "DUPLICATE_SUB_ORDER"},
		{"the combine's own order_id", body(sub("BADCART001", "1900000101", 100), sub("BADCART-B", "1900000102", 100)), 400, "DUPLICATE_SUB_ORDER"},
		{"no sub_mchid", body(sub("BADCART-A", "", 100), sub("BADCART-B", "1900000102", 100)), 400, "PARAM_ERROR"},
		{"fractional fen", body(sub("BADCART-A", "1900000101", 1.5), sub("BADCART-B", "1900000102", 100)), 400, "PARAM_ERROR"},
		{"amount as a string", body(sub("BADCART-A", "1900000101", "100"), sub("BADCART-B", "1900000102", 100)), 400, "PARAM_ERROR"},
		{"zero amount", body(sub("BADCART-A", "1900000101", 0), sub("BADCART-B", "1900000102", 100)), 400, "PARAM_ERROR"},
		{"another order's id", body(sub("BADCART-A", "1900000102", 100), sub("TAKEN00001", "1900000101", 100)), 409, "SUB_ORDER_ID_TAKEN"},
		{"an amount beside sub_orders", map[string]any{"order_id": "BADCART001", "scene": "native", "amount": 200,
			"sub_orders": []any{sub("BADCART-A", "1900000101", 100), sub("BADCART-B", "1900000102", 100)}}, 400, "PARAM_ERROR"},
		{"a sub-order's id as an order", map[string]any{"order_id": "TAKEN00001", "scene": "native",
			"sub_orders": []any{sub("BADCART-A", "1900000101", 100), sub("BADCART-B", "1900000102", 100)}}, 0, ""}, // a combine id may equal an order's: separate spaces
	}
	for _, c := range cases {
		if c.status == 0 {
			continue
		}
		v3, w := e.v3.Load(), e.st.Writes.Load()
		s, a := e.call(t, "POST", "/orders", c.body)
		if s != c.status || a["code"] != c.code || a["message"] == "" || a["hint"] == "" {
			t.Errorf("%s: %d %v, want %d %s with a message and a hint", c.name, s, a, c.status, c.code)
		}
		if e.v3.Load() != v3 || e.st.Writes.Load() != w {
			t.Errorf("%s: %d WeChat Pay calls, %d store writes; want none", c.name, e.v3.Load()-v3, e.st.Writes.Load()-w)
		}
	}
	// A direct merchant has no combines.
	d := newEnv(t, envOptions{})
	if s, a := d.call(t, "POST", "/orders", combineBody("DIRECTCART", 2, "native")); s != 400 || a["code"] != "COMBINE_NOT_AVAILABLE" {
		t.Errorf("direct mode: %d %v", s, a)
	}
}

// A combine is created idempotently, re-priced into a new attempt (new numbers), and
// closed within its first 5 minutes by a deferred close.
func TestCombineReplayRepriceAndClose(t *testing.T) {
	e := newPlatformEnv(t)
	b := combineBody("CARTRP0001", 3, "native")
	s, a := e.call(t, "POST", "/orders", b)
	if s != 201 || a["combine_out_trade_no"] != "CARTRP0001" {
		t.Fatalf("create: %d %v", s, a)
	}
	prepays := e.prepays.Load()
	if s, a = e.call(t, "POST", "/orders", b); s != 200 || e.prepays.Load() != prepays {
		t.Fatalf("replay: %d %v, %d prepays", s, a, e.prepays.Load()-prepays)
	}
	b["sub_orders"].([]map[string]any)[2]["amount"] = 150
	if s, a = e.call(t, "POST", "/orders", b); s != 201 || a["combine_out_trade_no"] != "CARTRP0001_2" || a["amount"] != float64(350) {
		t.Fatalf("re-price: %d %v", s, a)
	}
	if s, g := e.call(t, "GET", "/orders/CARTRP0001-03?sub_mchid=1900000103", nil); s != 200 || g["out_trade_no"] != "CARTRP0001-03_2" || g["amount"] != float64(150) {
		t.Fatalf("sub-order after re-pricing: %d %v", s, g)
	}
	if v := simCombine(t, e, "CARTRP0001"); v.ClosedAt != "" {
		t.Fatalf("attempt 1 closed within its first 5 minutes: %+v", v)
	}
	if s, c := e.call(t, "POST", "/orders/CARTRP0001/close", nil); s != http.StatusAccepted || c["close"] != "scheduled" {
		t.Fatalf("close: %d %v", s, c)
	}
	if s, c := e.call(t, "POST", "/orders/CARTRP0001-01/close?sub_mchid=1900000101", nil); s != http.StatusConflict || c["code"] != "ORDER_IS_SUB_ORDER" {
		t.Fatalf("closing a sub-order: %d %v", s, c)
	}
	// Paying the replaced attempt now is kept for review, never lost.
	_, nid, status, err := e.sim.PayCombine("CARTRP0001", paysim.CombinePayRequest{})
	if err != nil {
		t.Fatalf("pay attempt 1: %d %v", status, err)
	}
	e.notified.Wait(t, nid)
	if o, _ := e.ledger().Attempt(t.Context(), "1900000101", "CARTRP0001-01"); o == nil || !o.InReview() {
		t.Fatalf("the replaced attempt's payment is not in review: %+v", o)
	}
	if s, g := e.call(t, "GET", "/orders/CARTRP0001", nil); s != 200 || g["state"] == "SUCCESS" {
		t.Fatalf("combine after a late payment of its replaced attempt: %d %v", s, g)
	}
}

// BenchmarkCombineCreate measures POST /orders for a combine of n = 2, 10, 50
// sub-orders beside a single order in the same run (JSAPI: one signed prepay, one
// pay-sign either way), with store writes per create.
//
//	go test -run '^$' -bench BenchmarkCombineCreate -benchtime 60x ./functions/createorder/
func BenchmarkCombineCreate(b *testing.B) {
	e := newPlatformEnv(b)
	var seq atomic.Int64
	single := func() map[string]any {
		return map[string]any{"order_id": fmt.Sprintf("SINGLE%010d", seq.Add(1)), "amount": 100, "description": "bench",
			"scene": "jsapi", "sub_mchid": "1900000101", "payer": map[string]string{"openid": openID}}
	}
	measure := func(b *testing.B, body func() map[string]any) time.Duration {
		w0 := e.st.Writes.Load()
		lat := make([]time.Duration, 0, b.N)
		for b.Loop() {
			req := body()
			t0 := time.Now()
			if s, a := e.call(b, "POST", "/orders", req); s != 201 {
				b.Fatalf("%d %v", s, a)
			}
			lat = append(lat, time.Since(t0))
		}
		med := median(lat)
		b.ReportMetric(float64(med.Microseconds())/1000, "median-ms")
		b.ReportMetric(float64(e.st.Writes.Load()-w0)/float64(len(lat)), "writes/op")
		return med
	}
	var base time.Duration
	b.Run("single", func(b *testing.B) { base = measure(b, single) })
	for _, n := range []int{2, 10, 50} {
		b.Run(fmt.Sprintf("combine-%d", n), func(b *testing.B) {
			med := measure(b, func() map[string]any { return combineBody(fmt.Sprintf("CART%d%06d", n, seq.Add(1)), n, "jsapi") })
			if base > 0 {
				b.ReportMetric(float64(med)/float64(base), "x-single")
			}
		})
	}
}

// simCombine reads the simulator's view of a combine.
func simCombine(t testing.TB, e *env, no string) paysim.CombineView {
	t.Helper()
	resp, err := http.Get(e.srv.URL + "/sim/combines/" + no)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v paysim.CombineView
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// A platform's single order without sub_mchid is refused naming the mode it is in: the
// merchant set WXPAY_MODE=ecommerce, so "partner mode" alone would send them looking
// for a setting they never made.
func TestPlatformOrderWithoutSubMchidNamesEcommerce(t *testing.T) {
	e := newPlatformEnv(t)
	st, m := e.call(t, "POST", "/orders", map[string]any{"order_id": "NOSUBMCH01", "amount": 100, "description": "x", "scene": "native"})
	if st != 400 || m["code"] != "PARAM_ERROR" || !strings.Contains(fmt.Sprint(m["message"]), "ecommerce mode") {
		t.Fatalf("create without sub_mchid: %d %v", st, m)
	}
	st, m = e.call(t, "GET", "/orders/NOSUBMCH01", nil)
	if st != 400 || !strings.Contains(fmt.Sprint(m["message"]), "ecommerce mode") {
		t.Fatalf("read without sub_mchid: %d %v", st, m)
	}
}
