package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// A split's plan reads back as the merchant wrote it. A rate of 0.05 (5 %) was shown
// by GET /orders/{order_id} as "rate":500 — the ledger's 1/10000 — which a merchant
// reads as 50,000 %; 0.3 as 3000, 1 as 10000.
func TestServeSharingPlanShowsRatesAsSent(t *testing.T) {
	_, p := startPlatformServe(t, "ecommerce")
	_, plat := p.call("GET", "/sim/platform", nil, false)
	platform, _ := plat["mchid"].(string)
	if platform == "" {
		t.Fatalf("/sim/platform: %v", plat)
	}
	body := `{"order_id":"RATEVIEW01","sub_mchid":"1900000109","amount":1000,"description":"x","scene":"native",
		"profit_sharing":{"receivers":[{"type":"MERCHANT_ID","account":"` + platform + `","rate":0.05,"description":"佣金"}]}}`
	if status, a := p.call("POST", "/orders", body, true); status != http.StatusCreated {
		t.Fatalf("create: %d %v", status, a)
	}
	status, g := p.call("GET", "/orders/RATEVIEW01?sub_mchid=1900000109", nil, true)
	ps, _ := g["profit_sharing"].(map[string]any)
	rs, _ := ps["receivers"].([]any)
	if status != http.StatusOK || len(rs) != 1 {
		t.Fatalf("GET: %d %v", status, g)
	}
	r := rs[0].(map[string]any)
	if r["rate"] != 0.05 || r["account"] != platform || r["amount"] != nil {
		raw, _ := json.Marshal(r)
		t.Errorf("the plan's receiver reads %s, want rate 0.05 as sent", raw)
	}
}

// profit_sharing of the wrong shape is refused in the API's words, naming the field and
// what it takes — not Go's "cannot unmarshal string into Go value of type
// orderapi.SharingRequest" — and creates nothing.
func TestServeSharingOfTheWrongShapeIsWorded(t *testing.T) {
	_, p := startPlatformServe(t, "ecommerce")
	for _, c := range []struct{ sharing, want string }{
		{`"yes"`, "profit_sharing must be true or an object (receivers, hold_until, subsidy_amount), got string"},
		{`{"receivers":"all"}`, "profit_sharing.receivers must be a JSON array, got string"},
		{`{"hold":"2026-01-01T00:00:00+08:00"}`, `profit_sharing has an unknown field "hold": its fields are receivers, hold_until, subsidy_amount`},
		// The ledger's plan check, worded without its "invalid result:".
		{`{"receivers":[{"type":"MERCHANT_ID","account":"1900000109","amount":2000}]}`, "profit_sharing: the shares sum to 2000 fen, above the 1000 fen the order holds"},
	} {
		body := `{"order_id":"SHAPE00001","sub_mchid":"1900000109","amount":1000,"description":"x","scene":"native","profit_sharing":` + c.sharing + `}`
		status, a := p.call("POST", "/orders", body, true)
		msg, _ := a["message"].(string)
		if status != http.StatusBadRequest || a["code"] != "PARAM_ERROR" || msg != c.want || a["hint"] == "" || strings.Contains(msg, "Go value") {
			t.Errorf("profit_sharing %s: %d %v, want 400 PARAM_ERROR %q", c.sharing, status, a, c.want)
		}
	}
	if status, g := p.call("GET", "/orders/SHAPE00001?sub_mchid=1900000109", nil, true); status != http.StatusNotFound {
		t.Errorf("after the refusals SHAPE00001 reads %d %v, want 404", status, g)
	}
}
