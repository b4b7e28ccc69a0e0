package main

import (
	"net/http"
	"testing"
	"time"
)

// A subsidy (补差) asked with the wrong amount — other than the one the sub-order was
// placed with, with no refund to justify less — or naming a refund the order does not
// have, was sent to WeChat Pay, refused there, and recorded: a FAILED subsidy on the
// order and a subsidy.failed event, for a typo. A subsidy return without its
// out_refund_no answered 404 "no refund " (empty). Each is refused before anything is
// recorded or sent; the subsidy asked for afterwards is the order's first (@B).
func TestServeSubsidyOfTheWrongAmountIsRefusedBeforeWeChatPay(t *testing.T) {
	_, p := startPlatformServe(t, "ecommerce")
	cart := map[string]any{"order_id": "SUBSIN0001", "scene": "native", "description": "cart", "sub_orders": []map[string]any{
		{"order_id": "SUBSIN0001-A", "sub_mchid": "1900000109", "amount": 1000, "description": "a",
			"profit_sharing": map[string]any{"receivers": []any{}, "subsidy_amount": 100, "hold_until": time.Now().Add(30 * 24 * time.Hour).Format(time.RFC3339)}},
		{"order_id": "SUBSIN0001-B", "sub_mchid": "1900000110", "amount": 200, "description": "b"}}}
	if status, a := p.call("POST", "/orders", cart, true); status != http.StatusCreated {
		t.Fatalf("create: %d %v", status, a)
	}
	if status, a := p.call("POST", "/sim/combines/SUBSIN0001/pay", nil, false); status != http.StatusOK {
		t.Fatalf("pay: %d %v", status, a)
	}
	const a = "/orders/SUBSIN0001-A"
	const q = "?sub_mchid=1900000109"
	p.waitPaid("SUBSIN0001-A", "1900000109")
	for _, c := range []struct {
		path   string
		body   map[string]any
		status int
		code   string
	}{
		{a + "/subsidy" + q, map[string]any{"amount": 1}, http.StatusBadRequest, "PARAM_ERROR"},
		{a + "/subsidy" + q, map[string]any{"amount": 101}, http.StatusBadRequest, "PARAM_ERROR"},
		{a + "/subsidy" + q, map[string]any{"amount": 50, "out_refund_no": "NOSUCHRF01"}, http.StatusNotFound, "REFUND_NOT_FOUND"},
		{a + "/subsidy/returns" + q, map[string]any{"amount": 50}, http.StatusBadRequest, "PARAM_ERROR"},
	} {
		status, ans := p.call("POST", c.path, c.body, true)
		if status != c.status || ans["code"] != c.code || ans["message"] == "" || ans["hint"] == "" {
			t.Errorf("POST %s %v: %d %v, want %d %s", c.path, c.body, status, ans, c.status, c.code)
		}
	}
	if ps := p.sharingOf("SUBSIN0001-A", "1900000109"); ps["subsidy"] != nil {
		t.Errorf("after the refusals the order holds a subsidy: %v", ps["subsidy"])
	}
	if got := countEvents(p.eventsOf(), "SUBSIN0001-A"); got["subsidy.failed"] != 0 || got["subsidy.succeeded"] != 0 {
		t.Errorf("the refusals recorded events: %v", got)
	}
	// The subsidy as placed goes through, under the order's first subsidy number.
	status, ans := p.call("POST", a+"/subsidy"+q, nil, true)
	ps, _ := ans["profit_sharing"].(map[string]any)
	sub, _ := ps["subsidy"].(map[string]any)
	if status != http.StatusOK || sub["state"] != "SUCCESS" || sub["amount"] != float64(100) || sub["out_subsidy_no"] != "SUBSIN0001-A@B" {
		t.Errorf("the subsidy as placed: %d %v", status, ans)
	}
}

// waitPaid polls an order of sub until it reads SUCCESS (10 s at most).
func (p platformAPI) waitPaid(orderID, sub string) {
	p.t.Helper()
	for i := 0; i < 200; i++ {
		if _, g := p.call("GET", "/orders/"+orderID+"?sub_mchid="+sub, nil, true); g["state"] == "SUCCESS" {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.t.Fatalf("%s of %s never read SUCCESS", orderID, sub)
}
