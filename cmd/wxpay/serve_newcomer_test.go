package main

import (
	"net/http"
	"strings"
	"testing"
)

// A newcomer names the platform's own mchid (WXPAY_MCHID) as the sub_mchid of an order
// or of one combine sub-order. WeChat Pay refuses such an order; the bundle (and the
// simulator) took it, keeping an order under the platform's own number. It is refused
// with the reason, naming the field, and nothing is created — the combine's good
// sub-order included.
func TestServeOrderForThePlatformItselfIsRefused(t *testing.T) {
	for _, mode := range []string{"partner", "ecommerce"} {
		t.Run(mode, func(t *testing.T) {
			if mode == "partner" {
				t.Setenv("WXPAY_SUB_MCHID", "1900000109")
			}
			_, p := startPlatformServe(t, mode)
			_, plat := p.call("GET", "/sim/platform", nil, false)
			own, _ := plat["mchid"].(string)
			if own == "" {
				t.Fatalf("/sim/platform: %v", plat)
			}
			refused := func(what string, status int, a map[string]any, field string) {
				t.Helper()
				msg, _ := a["message"].(string)
				if status != http.StatusBadRequest || a["code"] != "PARAM_ERROR" || !strings.HasPrefix(msg, field+" "+own+" is this deployment's own mchid") || a["hint"] == "" {
					t.Errorf("%s: %d %v, want 400 PARAM_ERROR naming %s", what, status, a, field)
				}
			}
			status, a := p.call("POST", "/orders", map[string]any{"order_id": "OWNMCH0001", "sub_mchid": own, "amount": 100, "description": "x", "scene": "native"}, true)
			refused("an order", status, a, "sub_mchid")
			if status, g := p.call("GET", "/orders/OWNMCH0001?sub_mchid="+own, nil, true); status != http.StatusNotFound {
				t.Errorf("after the refusal OWNMCH0001 reads %d %v", status, g)
			}
			if mode != "ecommerce" {
				return
			}
			status, a = p.call("POST", "/orders", map[string]any{"order_id": "OWNCART001", "scene": "native", "description": "cart", "sub_orders": []map[string]any{
				{"order_id": "OWNCART001-A", "sub_mchid": "1900000109", "amount": 100, "description": "a"},
				{"order_id": "OWNCART001-B", "sub_mchid": own, "amount": 200, "description": "b"}}}, true)
			refused("a combine's sub-order", status, a, "sub_orders[1].sub_mchid")
			// No combine: without ?sub_mchid= its number is taken for a single order's,
			// which needs one (400); the good sub-order was not kept either.
			if status, g := p.call("GET", "/orders/OWNCART001", nil, true); status != http.StatusBadRequest || !strings.HasPrefix(g["message"].(string), "sub_mchid is required") {
				t.Errorf("after the refusal OWNCART001 reads %d %v", status, g)
			}
			if status, g := p.call("GET", "/orders/OWNCART001-A?sub_mchid=1900000109", nil, true); status != http.StatusNotFound {
				t.Errorf("after the refusal OWNCART001-A reads %d %v", status, g)
			}
		})
	}
}

// A service provider's receivers are each sub-merchant's: one added for sub-merchant A
// and named in sub-merchant B's plan was refused as "never added as a receiver here" —
// it was added, for A. The refusal names the sub-merchant it is missing for and the
// body that adds it there; nothing is created.
func TestServePartnerReceiverMissingForThisSubMerchantSaysWhose(t *testing.T) {
	t.Setenv("WXPAY_SUB_MCHID", "1900000109")
	_, p := startPlatformServe(t, "partner")
	if status, a := p.call("POST", "/profitsharing/receivers", map[string]any{"type": "MERCHANT_ID", "account": "1900000200", "name": "示例供应商有限公司",
		"relation_type": "SUPPLIER", "sub_mchid": "1900000110"}, true); status != http.StatusOK {
		t.Fatalf("add for 1900000110: %d %v", status, a)
	}
	plan := map[string]any{"receivers": []any{map[string]any{"type": "MERCHANT_ID", "account": "1900000200", "amount": 10}}}
	status, a := p.call("POST", "/orders", map[string]any{"order_id": "RCVWHOSE01", "sub_mchid": "1900000111", "amount": 100, "description": "x", "scene": "native", "profit_sharing": plan}, true)
	msg, _ := a["message"].(string)
	hint, _ := a["hint"].(string)
	if status != http.StatusBadRequest || a["code"] != "RECEIVER_NOT_ADDED" || !strings.Contains(msg, "never added as a receiver for sub-merchant 1900000111") || !strings.Contains(hint, `"sub_mchid":"1900000111"`) {
		t.Errorf("a receiver added for another sub-merchant: %d %v", status, a)
	}
	if status, g := p.call("GET", "/orders/RCVWHOSE01?sub_mchid=1900000111", nil, true); status != http.StatusNotFound {
		t.Errorf("after the refusal RCVWHOSE01 reads %d %v", status, g)
	}
	// Under the sub-merchant it was added for, the same plan is taken.
	if status, a := p.call("POST", "/orders", map[string]any{"order_id": "RCVWHOSE02", "sub_mchid": "1900000110", "amount": 100, "description": "x", "scene": "native", "profit_sharing": plan}, true); status != http.StatusCreated {
		t.Errorf("the plan under 1900000110: %d %v", status, a)
	}
}

// ?sub_mchid= given twice named whichever sub-merchant came first: a refund, close or
// receiver removal could act on a sub-merchant the caller did not mean (a client
// appending its default to a URL that already had one). It is refused, and nothing
// moves.
func TestServeSubMchIDGivenTwiceIsRefused(t *testing.T) {
	t.Setenv("WXPAY_SUB_MCHID", "1900000109")
	_, p := startPlatformServe(t, "partner")
	for _, sub := range []string{"1900000109", "1900000110"} {
		if status, a := p.call("POST", "/orders", map[string]any{"order_id": "TWICE00001", "sub_mchid": sub, "amount": 100, "description": "x", "scene": "native"}, true); status != http.StatusCreated {
			t.Fatalf("create under %s: %d %v", sub, status, a)
		}
	}
	const q = "?sub_mchid=1900000110&sub_mchid=1900000109"
	for _, c := range []struct{ method, path string }{
		{"GET", "/orders/TWICE00001" + q},
		{"POST", "/orders/TWICE00001/close" + q},
		{"POST", "/orders/TWICE00001/refunds" + q},
		{"DELETE", "/profitsharing/receivers/1900000200" + q},
	} {
		var body any
		if strings.HasSuffix(c.path, "/refunds"+q) {
			body = map[string]any{"amount": 1}
		}
		status, a := p.call(c.method, c.path, body, true)
		if msg, _ := a["message"].(string); status != http.StatusBadRequest || a["code"] != "PARAM_ERROR" || msg != "sub_mchid is given 2 times in the query; send it once" || a["hint"] == "" {
			t.Errorf("%s %s: %d %v", c.method, c.path, status, a)
		}
	}
	for _, sub := range []string{"1900000109", "1900000110"} {
		if _, g := p.call("GET", "/orders/TWICE00001?sub_mchid="+sub, nil, true); g["state"] != "NOTPAY" {
			t.Errorf("%s's TWICE00001 after the refusals: %v", sub, g)
		}
	}
}

// The other routes take ?sub_mchid=, so a newcomer sends POST /orders?sub_mchid=B with
// no sub_mchid in the body: the order was created under WXPAY_SUB_MCHID (A) — the
// payment would go to A. It is refused, naming where sub_mchid belongs, and nothing is
// created under either; the body's sub_mchid (with or without the same query) works.
func TestServeCreateWithSubMchIDInTheQueryIsRefused(t *testing.T) {
	t.Setenv("WXPAY_SUB_MCHID", "1900000109")
	_, p := startPlatformServe(t, "partner")
	order := map[string]any{"order_id": "QUERYSUB01", "amount": 100, "description": "x", "scene": "native"}
	status, a := p.call("POST", "/orders?sub_mchid=1900000110", order, true)
	if msg, _ := a["message"].(string); status != http.StatusBadRequest || a["code"] != "PARAM_ERROR" || !strings.Contains(msg, "belongs in the body of POST /orders") || a["hint"] == "" {
		t.Errorf("POST /orders?sub_mchid=: %d %v", status, a)
	}
	for _, sub := range []string{"1900000109", "1900000110"} {
		if status, g := p.call("GET", "/orders/QUERYSUB01?sub_mchid="+sub, nil, true); status != http.StatusNotFound {
			t.Errorf("after the refusal %s's QUERYSUB01 reads %d %v", sub, status, g)
		}
	}
	combine := map[string]any{"order_id": "QUERYCART1", "scene": "native", "description": "cart", "sub_orders": []map[string]any{
		{"order_id": "QUERYCART1-A", "sub_mchid": "1900000109", "amount": 100, "description": "a"},
		{"order_id": "QUERYCART1-B", "sub_mchid": "1900000110", "amount": 200, "description": "b"}}}
	if status, a := p.call("POST", "/orders?sub_mchid=1900000110", combine, true); status != http.StatusBadRequest || !strings.Contains(a["message"].(string), "sub_orders[] entry") {
		t.Errorf("a combine with ?sub_mchid=: %d %v", status, a)
	}
	order["sub_mchid"] = "1900000110"
	if status, a := p.call("POST", "/orders?sub_mchid=1900000110", order, true); status != http.StatusCreated {
		t.Errorf("the same sub_mchid in the body and the query: %d %v", status, a)
	}
	if status, g := p.call("GET", "/orders/QUERYSUB01?sub_mchid=1900000110", nil, true); status != http.StatusOK {
		t.Errorf("QUERYSUB01 under 1900000110: %d %v", status, g)
	}
}

// POST /orders/{id}/close ignored its body, so {"sub_mchid":"B"} (where ?sub_mchid=
// belongs) asked to close the default sub-merchant A's order of that number: A's
// buyer, paying a minute later, was a payment after a close request — REVIEW. A body
// with fields is refused; A's order is untouched and is paid as any other.
func TestServeCloseWithABodyIsRefused(t *testing.T) {
	t.Setenv("WXPAY_SUB_MCHID", "1900000109")
	_, p := startPlatformServe(t, "partner")
	var codeURL string
	for _, sub := range []string{"1900000109", "1900000110"} {
		status, a := p.call("POST", "/orders", map[string]any{"order_id": "CLOSEBODY1", "sub_mchid": sub, "amount": 100, "description": "x", "scene": "native"}, true)
		if status != http.StatusCreated {
			t.Fatalf("create under %s: %d %v", sub, status, a)
		}
		if sub == "1900000109" {
			codeURL, _ = a["pay"].(map[string]any)["code_url"].(string)
		}
	}
	status, a := p.call("POST", "/orders/CLOSEBODY1/close", map[string]any{"sub_mchid": "1900000110"}, true)
	if msg, _ := a["message"].(string); status != http.StatusBadRequest || a["code"] != "PARAM_ERROR" || !strings.Contains(msg, `takes no body; it was sent fields "sub_mchid"`) || a["hint"] == "" {
		t.Errorf("close with a body: %d %v", status, a)
	}
	if status, a := p.call("POST", "/orders/CLOSEBODY1/close?sub_mchid=1900000110", "{}", true); status/100 != 2 {
		t.Errorf("close of 1900000110's with {}: %d %v", status, a)
	}
	if status, a := p.call("POST", "/sim/pay", map[string]any{"code_url": codeURL}, false); status != http.StatusOK {
		t.Fatalf("pay 1900000109's: %d %v", status, a)
	}
	p.waitPaid("CLOSEBODY1", "1900000109")
	if _, g := p.call("GET", "/orders/CLOSEBODY1?sub_mchid=1900000109", nil, true); g["review_causes"] != nil {
		t.Errorf("1900000109's order after its payment: %v", g)
	}
}

// POST /jobs/billfetch {"date":"…"} — the parameter in the body, not the query — ran
// yesterday's bills and answered 200 as if it had done what was asked. A body is
// refused, naming the query; an empty one (or {}) runs the job.
func TestServeJobWithABodyIsRefused(t *testing.T) {
	_, p := startPlatformServe(t, "ecommerce")
	status, a := p.call("POST", "/jobs/billfetch", map[string]any{"date": "2026-03-01"}, true)
	if status != http.StatusBadRequest || a["code"] != "PARAM_ERROR" || !strings.Contains(a["hint"].(string), "?date=") {
		t.Errorf("billfetch with a body: %d %v", status, a)
	}
	if status, a := p.call("POST", "/jobs/reconcile", "{}", true); status != http.StatusOK {
		t.Errorf("reconcile with {}: %d %v", status, a)
	}
}

// A subsidy or a refund's read asked of a combine with no ?sub_mchid= (the platform's
// default sub-merchant looked in) was answered "not an order of sub-merchant …: a
// combine takes no sub_mchid" — to a request that sent none — with a hint to GET the
// combine. It says the route is the sub-orders' and names them, route and sub_mchid.
func TestServeSubOrderRouteAskedOfACombineNamesTheSubOrders(t *testing.T) {
	t.Setenv("WXPAY_SUB_MCHID", "1900000109")
	_, p := startPlatformServe(t, "ecommerce")
	if status, a := p.call("POST", "/orders", cart("NAMEDCART1", "native"), true); status != http.StatusCreated {
		t.Fatalf("create: %d %v", status, a)
	}
	for _, c := range []struct{ method, path, want string }{
		{"POST", "/orders/NAMEDCART1/subsidy", "POST /orders/NAMEDCART1-B/subsidy?sub_mchid=1900000110"},
		{"GET", "/orders/NAMEDCART1/refunds/NAMEDRF001", "GET /orders/NAMEDCART1-A/refunds/NAMEDRF001?sub_mchid=1900000109"},
	} {
		status, a := p.call(c.method, c.path, nil, true)
		msg, _ := a["message"].(string)
		hint, _ := a["hint"].(string)
		if status != http.StatusBadRequest || a["code"] != "ORDER_IS_COMBINE" || strings.Contains(msg, "takes no sub_mchid") ||
			!strings.Contains(msg, "is asked of each sub-order") || !strings.Contains(hint, c.want) {
			t.Errorf("%s %s: %d %v, want ORDER_IS_COMBINE naming %s", c.method, c.path, status, a, c.want)
		}
	}
}

// POST /jobs/billfetch?date= for a day WeChat Pay has no bill of: a day not over yet
// answered 200 with "not_ready" bills, as if they would come; one beyond the three
// months WeChat Pay keeps answered 500 JOB_FAILED saying the request "breaks a
// business rule for the order's current state". Both are the caller's: 400, the reason.
func TestServeBillfetchOfADayWithoutABillIsRefused(t *testing.T) {
	_, p := startPlatformServe(t, "ecommerce")
	_, clk := p.call("GET", "/sim/clock", nil, false)
	now, _ := clk["now"].(string)
	for _, c := range []struct{ date, want string }{
		{now[:10], "is not over yet"},
		{"2099-01-01", "is not over yet"},
		{"1999-01-01", "more than three months ago"},
	} {
		status, a := p.call("POST", "/jobs/billfetch?date="+c.date, nil, true)
		if msg, _ := a["message"].(string); status != http.StatusBadRequest || !strings.Contains(msg, c.want) || a["hint"] == "" {
			t.Errorf("billfetch of %s: %d %v, want 400 %q", c.date, status, a, c.want)
		}
	}
}
