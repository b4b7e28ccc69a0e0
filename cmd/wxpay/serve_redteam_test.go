package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/paysls/wxpay/shared/config"
)

// A combine sub-order whose payment failed at WeChat Pay (PAYERROR) can never be paid:
// WeChat Pay refuses to pay the combine again, and a combine with a paid sub-order
// cannot be closed (ORDERPAID). Reconcile took the combine as final and stopped
// following it, leaving the failed sub-order NOTPAY — payable to the merchant's eyes —
// for ever, with no order.closed. Once the combine is final it is CLOSED, announced
// once; the paid sub-orders are untouched. A combine whose payment failed whole is
// closed the same way.
func TestServeFailedCombineSubOrderIsClosed(t *testing.T) {
	_, p := startPlatformServe(t, "ecommerce")
	for _, id := range []string{"CARTFAIL01", "CARTFAIL02"} {
		if status, a := p.call("POST", "/orders", cart(id, "native"), true); status != http.StatusCreated {
			t.Fatalf("create %s: %d %v", id, status, a)
		}
	}
	// One sub-order fails, the others are paid: one notification carries both.
	if status, _ := p.call("POST", "/sim/combines/CARTFAIL01/pay", map[string]any{"fail_sub_orders": []string{"CARTFAIL01-C"}}, false); status/100 != 2 {
		t.Fatalf("pay CARTFAIL01: %d", status)
	}
	if status, _ := p.call("POST", "/sim/combines/CARTFAIL02/pay", map[string]any{"result": "PAYERROR"}, false); status/100 != 2 {
		t.Fatalf("pay CARTFAIL02: %d", status)
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if _, g := p.call("GET", "/orders/CARTFAIL01-A?sub_mchid=1900000109", nil, true); g["state"] == "SUCCESS" {
			break
		}
	}
	p.call("POST", "/sim/clock", map[string]any{"advance": "10m"}, false)
	p.reconcile()
	p.call("POST", "/sim/clock", map[string]any{"advance": "3h"}, false)
	p.reconcile()
	want := map[string]string{"CARTFAIL01-A": "SUCCESS", "CARTFAIL01-B": "SUCCESS", "CARTFAIL01-C": "CLOSED",
		"CARTFAIL02-A": "CLOSED", "CARTFAIL02-B": "CLOSED", "CARTFAIL02-C": "CLOSED"}
	subs := map[byte]string{'A': "1900000109", 'B': "1900000110", 'C': "1900000111"}
	for id, state := range want {
		if _, g := p.call("GET", "/orders/"+id+"?sub_mchid="+subs[id[len(id)-1]], nil, true); g["state"] != state {
			t.Errorf("%s: %v, want %s", id, g["state"], state)
		}
	}
	evs := p.eventsOf()
	if got := countEvents(evs, "CARTFAIL01-C"); got["order.closed"] != 1 || got["order.paid"] != 0 {
		t.Errorf("CARTFAIL01-C events %v", got)
	}
	if got := countEvents(evs, "CARTFAIL01-A", "CARTFAIL01-B"); got["order.paid"] != 2 || got["order.closed"] != 0 {
		t.Errorf("paid sub-orders' events %v", got)
	}
}

// On a platform the ledger keys orders per sub-merchant, and so does WeChat Pay
// (out_trade_no "在同一个商户号下唯一"): a sub-order (or a single order) given a number
// another sub-merchant's order holds is an order of its own. The paid order and its
// events are untouched by it: no event of another sub-merchant's order under the same
// number says paid, and none closes the paid one. (When the simulator kept numbers
// unique across sub-merchants, WeChat Pay refused such an order after its attempt was
// stored; reconcile used to close that attempt with an order.closed naming the paid
// order's number — a merchant keyed on order_id would have closed a paid order.)
func TestServeNumberTakenByAnotherSubMerchantIsNotAnnounced(t *testing.T) {
	_, p := startPlatformServe(t, "ecommerce")
	if status, a := p.call("POST", "/orders", cart("CARTTAKEN1", "native"), true); status != http.StatusCreated {
		t.Fatalf("create: %d %v", status, a)
	}
	if status, _ := p.call("POST", "/sim/combines/CARTTAKEN1/pay", map[string]any{}, false); status/100 != 2 {
		t.Fatalf("pay: %d", status)
	}
	p.waitState("CARTTAKEN1", "SUCCESS")
	// CARTTAKEN1-A is 1900000109's; a combine names it under 1900000110, and a single
	// order under 1900000111.
	other := map[string]any{"order_id": "CARTTAKEN2", "scene": "native", "description": "x", "sub_orders": []map[string]any{
		{"order_id": "CARTTAKEN2-A", "sub_mchid": "1900000109", "amount": 100, "description": "a"},
		{"order_id": "CARTTAKEN1-A", "sub_mchid": "1900000110", "amount": 200, "description": "b"}}}
	if status, a := p.call("POST", "/orders", other, true); status != http.StatusCreated || a["state"] != "NOTPAY" {
		t.Fatalf("combine with another sub-merchant's number: %d %v", status, a)
	}
	single := map[string]any{"order_id": "CARTTAKEN1-A", "sub_mchid": "1900000111", "amount": 300, "description": "c", "scene": "native"}
	if status, a := p.call("POST", "/orders", single, true); status != http.StatusCreated || a["amount"] != float64(300) {
		t.Fatalf("single order with another sub-merchant's number: %d %v", status, a)
	}
	p.call("POST", "/sim/clock", map[string]any{"advance": "3h"}, false)
	p.reconcile()
	byMch := map[string]map[string]int{}
	for _, e := range p.eventsOf() {
		if d, _ := e["data"].(map[string]any); d["order_id"] == "CARTTAKEN1-A" {
			m := fmt.Sprint(d["mchid"])
			if byMch[m] == nil {
				byMch[m] = map[string]int{}
			}
			byMch[m][e["type"].(string)]++
		}
	}
	if got := byMch["1900000109"]; got["order.closed"] != 0 || got["order.paid"] != 1 {
		t.Fatalf("events of 1900000109's CARTTAKEN1-A: %v (all: %v)", got, byMch)
	}
	for _, m := range []string{"1900000110", "1900000111"} {
		if byMch[m]["order.paid"] != 0 {
			t.Errorf("events of %s's unpaid CARTTAKEN1-A: %v", m, byMch[m])
		}
	}
	if _, g := p.call("GET", "/orders/CARTTAKEN1-A?sub_mchid=1900000109", nil, true); g["state"] != "SUCCESS" || g["amount"] != float64(100) {
		t.Fatalf("the paid order: %v", g)
	}
	if _, g := p.call("GET", "/orders/CARTTAKEN1-A?sub_mchid=1900000111", nil, true); g["state"] == "SUCCESS" || g["amount"] != float64(300) || g["transaction_id"] != nil {
		t.Errorf("1900000111's order: %v", g)
	}
}

// A combine's settle that no sub-order can take — bad receivers, an unpaid combine —
// answered 200 {"state":"partial"} with an error per sub-order: a client checking the
// status read "settled", and the README's ORDER_NOT_PAID / PARAM_ERROR refusals held
// only for a single order. Nothing settled is a refusal with {code,message,hint}; the
// sub-orders are untouched. A settle some sub-orders took stays 200 "partial".
func TestServeCombineSettleNoSubOrderTakesIsRefused(t *testing.T) {
	srv, p := startPlatformServe(t, "ecommerce")
	cfg, err := config.FromKeysDir(srv.keys)
	if err != nil {
		t.Fatal(err)
	}
	if status, r := p.call("POST", "/profitsharing/receivers", map[string]any{"type": "MERCHANT_ID", "account": "1900000201", "name": "示例供应商有限公司", "relation_type": "SUPPLIER"}, true); status != 200 || r["added"] != true {
		t.Fatalf("add receiver: %d %v", status, r)
	}
	if status, a := p.call("POST", "/orders", sharingCart("RTSETTLE1", cfg.MchID, ""), true); status != http.StatusCreated {
		t.Fatalf("create: %d %v", status, a)
	}
	p.expect(409, "ORDER_NOT_PAID", "POST", "/orders/RTSETTLE1/settle", map[string]any{"receivers": []any{}})
	if status, _ := p.call("POST", "/sim/combines/RTSETTLE1/pay", nil, false); status/100 != 2 {
		t.Fatalf("pay: %d", status)
	}
	p.waitState("RTSETTLE1", "SUCCESS")
	p.expect(400, "PARAM_ERROR", "POST", "/orders/RTSETTLE1/settle",
		map[string]any{"receivers": []any{map[string]any{"type": "WALLET", "account": "1900000201", "amount": 1}}})
	for _, s := range []struct{ id, sub string }{{"RTSETTLE1-A", "1900000109"}, {"RTSETTLE1-B", "1900000110"}, {"RTSETTLE1-C", "1900000111"}} {
		if ps := p.sharingOf(s.id, s.sub); ps["settled_at"] != nil {
			t.Errorf("%s settled by a refused settle: %v", s.id, ps)
		}
	}
	// A single order's refusals are unchanged; a settle every sub-order takes is 200.
	p.expect(400, "PARAM_ERROR", "POST", "/orders/RTSETTLE1-B/settle?sub_mchid=1900000110",
		map[string]any{"receivers": []any{map[string]any{"type": "WALLET", "account": "1900000201", "amount": 1}}})
	if status, s := p.call("POST", "/orders/RTSETTLE1/settle", nil, true); status != 200 || s["state"] != "settled" {
		t.Fatalf("settle: %d %v", status, s)
	}
}

// A genuine payment for an out_trade_no this API never created is kept (recorded as
// paid, announced by an order.paid without order_id) and POST /orders refuses the id
// (ORDER_ID_COLLISION). GET /orders/{id} answered 404 "no order …, create it with
// POST /orders" — a hint whose only outcome is that refusal, and no word that money
// arrived under the number. It now says a payment this API did not create holds it.
func TestServeGetPaymentNotCreatedHereSaysSo(t *testing.T) {
	s := startRunServe(t)
	defer s.stop()
	code, out, errOut := runCmd(t, "trigger", "--keys-dir", s.keys, "--url", s.base+"/notify", "--out-trade-no", "RTUNKNOWN1", "--amount", "777")
	if code != 0 {
		t.Fatalf("trigger: exit %d\n%s%s", code, out, errOut)
	}
	st, m := s.call(t, "GET", "/orders/RTUNKNOWN1", "")
	msg, _ := m["message"].(string)
	hint, _ := m["hint"].(string)
	if st != 404 || m["code"] != "ORDER_NOT_FOUND" || !strings.Contains(msg, "did not create") || strings.Contains(hint, "create it with POST /orders") || hint == "" {
		t.Errorf("GET: %d %v", st, m)
	}
	if st, m := s.call(t, "POST", "/orders", `{"order_id":"RTUNKNOWN1","amount":777,"description":"x","scene":"native"}`); st != 409 || m["code"] != "ORDER_ID_COLLISION" {
		t.Errorf("create: %d %v", st, m)
	}
}

// DELETE /profitsharing/receivers/{account} is documented safe to repeat, but a repeat
// — a retry after a lost answer, or after the ledger's note failed — reached WeChat
// Pay's "not a receiver" (404 RESOURCE_NOT_EXISTS) and answered it with the order
// routes' hint ("check the order_id … in the path"), leaving the ledger's note as it
// was. The receiver being gone is what a delete asks for: it is noted removed and
// answered 200, and a plan naming it is refused before anything is sent.
func TestServeRemovingAReceiverTwiceIsSafe(t *testing.T) {
	_, p := startPlatformServe(t, "ecommerce")
	if status, r := p.call("POST", "/profitsharing/receivers", map[string]any{"type": "MERCHANT_ID", "account": "1900000203", "name": "乙公司", "relation_type": "SUPPLIER"}, true); status != 200 || r["added"] != true {
		t.Fatalf("add: %d %v", status, r)
	}
	for i := range 2 {
		if status, r := p.call("DELETE", "/profitsharing/receivers/1900000203", nil, true); status != 200 || r["added"] != false {
			t.Fatalf("delete %d: %d %v", i+1, status, r)
		}
	}
	c := map[string]any{"order_id": "RTRECV01", "scene": "native", "description": "c", "sub_orders": []map[string]any{
		{"order_id": "RTRECV01-A", "sub_mchid": "1900000109", "amount": 100, "description": "a",
			"profit_sharing": map[string]any{"receivers": []any{map[string]any{"type": "MERCHANT_ID", "account": "1900000203", "amount": 10}}}},
		{"order_id": "RTRECV01-B", "sub_mchid": "1900000110", "amount": 100, "description": "b"}}}
	p.expect(400, "RECEIVER_NOT_ADDED", "POST", "/orders", c)
}

// A service provider (partner mode) adds a MERCHANT_ID receiver with its full name,
// which the partner API takes encrypted with WeChat Pay's public key or platform
// certificate. The order API never handed the receivers route that key, so every such
// add answered 500 INTERNAL ("client misconfigured") whatever was configured, and no
// order could name a receiver other than the provider itself (RECEIVER_NOT_ADDED).
func TestServePartnerAddsANamedReceiver(t *testing.T) {
	t.Setenv("WXPAY_MODE", "partner")
	t.Setenv("WXPAY_SUB_MCHID", "1900000109")
	srv := startRunServe(t, "--retry-scale", "0.001")
	defer func() {
		if err := srv.stop(); err != nil {
			t.Error(err)
		}
	}()
	p := platformAPI{t: t, base: srv.base, token: srv.token}
	add := map[string]any{"type": "MERCHANT_ID", "account": "1900000201", "name": "示例供应商有限公司", "relation_type": "SUPPLIER", "sub_mchid": "1900000110"}
	if status, r := p.call("POST", "/profitsharing/receivers", add, true); status != 200 || r["added"] != true {
		t.Fatalf("add receiver: %d %v", status, r)
	}
	order := map[string]any{"order_id": "RTPARTNER01", "sub_mchid": "1900000110", "amount": 1000, "description": "x", "scene": "native",
		"profit_sharing": map[string]any{"receivers": []any{map[string]any{"type": "MERCHANT_ID", "account": "1900000201", "amount": 100, "description": "供应商"}}}}
	if status, a := p.call("POST", "/orders", order, true); status != http.StatusCreated {
		t.Fatalf("create: %d %v", status, a)
	}
}

// A service provider's own profit sharing (/v3/profitsharing/*) needs every receiver
// added for the sub-merchant — the provider itself too; only an e-commerce platform is
// a receiver of its splits from the start. The order API let a partner plan name the
// provider unadded: the order was placed, and a minute after payment WeChat Pay
// refused the split (分账接收方关系不存在), leaving the order's sharing stopped with a
// problem. It is now refused at create (RECEIVER_NOT_ADDED), before anything is sent;
// once the provider is added the split goes through.
func TestServePartnerProviderIsAReceiverOnceAdded(t *testing.T) {
	t.Setenv("WXPAY_MODE", "partner")
	t.Setenv("WXPAY_SUB_MCHID", "1900000109")
	srv := startRunServe(t, "--retry-scale", "0.001")
	defer func() {
		if err := srv.stop(); err != nil {
			t.Error(err)
		}
	}()
	p := platformAPI{t: t, base: srv.base, token: srv.token}
	cfg, err := config.FromKeysDir(srv.keys)
	if err != nil {
		t.Fatal(err)
	}
	order := map[string]any{"order_id": "RTPROVIDER1", "sub_mchid": "1900000110", "amount": 1000, "description": "x", "scene": "native",
		"profit_sharing": map[string]any{"receivers": []any{map[string]any{"type": "MERCHANT_ID", "account": cfg.MchID, "rate": 0.1, "description": "佣金"}}}}
	p.expect(400, "RECEIVER_NOT_ADDED", "POST", "/orders", order)
	p.expect(404, "ORDER_NOT_FOUND", "GET", "/orders/RTPROVIDER1?sub_mchid=1900000110", nil)
	add := map[string]any{"type": "MERCHANT_ID", "account": cfg.MchID, "name": "服务商有限公司", "relation_type": "SERVICE_PROVIDER", "sub_mchid": "1900000110"}
	if status, r := p.call("POST", "/profitsharing/receivers", add, true); status != 200 || r["added"] != true {
		t.Fatalf("add the provider: %d %v", status, r)
	}
	if status, a := p.call("POST", "/orders", order, true); status != http.StatusCreated {
		t.Fatalf("create: %d %v", status, a)
	}
	if status, _ := p.call("POST", "/sim/orders/RTPROVIDER1/pay", nil, false); status/100 != 2 {
		t.Fatalf("pay: %d", status)
	}
	p.call("POST", "/sim/clock", map[string]any{"advance": "2m"}, false)
	for range 3 {
		p.reconcile()
	}
	ps := p.sharingOf("RTPROVIDER1", "1900000110")
	splits, _ := ps["splits"].([]any)
	if len(splits) != 1 || splits[0].(map[string]any)["state"] != "FINISHED" || ps["problem"] != nil {
		t.Fatalf("sharing %v", ps)
	}
}

// README: "Unknown ids are 404, malformed ones 400". An event id whose key part is
// valid base32 but decodes to no possible record key (bytes that are not UTF-8, as
// "zzzz" does) reached the store, whose refusal of the key was taken for an outage:
// 503 STORE_UNAVAILABLE "try again", with nothing in the log — a client retries it
// for ever and an operator looks for a store problem that is not there.
func TestServeEventIDThatNamesNoKeyIsMalformed(t *testing.T) {
	s := startRunServe(t)
	defer s.stop()
	for _, c := range []struct{ method, path string }{
		{"GET", "/events/evt_0000000001.zzzz"},
		{"POST", "/events/evt_0000000001.zzzz/resend"},
	} {
		st, m := s.call(t, c.method, c.path, "")
		if st != 400 || m["code"] != "PARAM_ERROR" {
			t.Errorf("%s %s: %d %v, want 400 PARAM_ERROR", c.method, c.path, st, m)
		}
	}
}

// A ?sub_mchid= or an out_refund_no in the path that no record key can hold (bytes
// that are not UTF-8, 2,000 digits) reached the store, whose refusal of the key was
// answered 500 INTERNAL "retry later" on every order route: bad input must be a 400
// with {code,message,hint} (README: the order API's errors). A sub_mchid of letters,
// which no sub-merchant has, was answered as a missing order.
func TestServeBadSubMchIDOrRefundNoInURLIsRefused(t *testing.T) {
	_, p := startPlatformServe(t, "ecommerce")
	if status, a := p.call("POST", "/orders", cart("RTBADURL1", "native"), true); status != http.StatusCreated {
		t.Fatalf("create: %d %v", status, a)
	}
	long := strings.Repeat("1", 2000)
	for _, c := range []struct{ method, path string }{
		{"GET", "/orders/RTBADURL1-A?sub_mchid=%FF"},
		{"GET", "/orders/RTBADURL1-A?sub_mchid=" + long},
		{"GET", "/orders/RTBADURL1-A?sub_mchid=abc"},
		{"POST", "/orders/RTBADURL1-A/refunds?sub_mchid=%FF"},
		{"POST", "/orders/RTBADURL1-A/close?sub_mchid=%FF"},
		{"POST", "/orders/RTBADURL1-A/settle?sub_mchid=%FF"},
		{"GET", "/orders/RTBADURL1-A/refunds/%FF%FE?sub_mchid=1900000109"},
		{"GET", "/orders/RTBADURL1-A/refunds/" + strings.Repeat("R", 100) + "?sub_mchid=1900000109"},
		{"DELETE", "/profitsharing/receivers/%FF%FE"},
		{"DELETE", "/profitsharing/receivers/" + long},
	} {
		var body any
		if strings.Contains(c.path, "/refunds?") {
			body = map[string]any{"out_refund_no": "RTBADURL1R1", "amount": 1}
		}
		status, e := p.call(c.method, c.path, body, true)
		if status != 400 || e["code"] != "PARAM_ERROR" || e["message"] == "" || e["hint"] == "" {
			t.Errorf("%s %.80s: %d %v, want 400 PARAM_ERROR", c.method, c.path, status, e)
		}
	}
	// The order is as it was.
	if _, g := p.call("GET", "/orders/RTBADURL1-A?sub_mchid=1900000109", nil, true); g["state"] != "NOTPAY" {
		t.Fatalf("order: %v", g)
	}
}

// A refund asked for right after the user paid, before WeChat Pay's notification
// arrived (or when it was lost): the order API refused it 409 ORDER_NOT_PAID, "the
// order is not paid", answering from the store while WeChat Pay held the payment —
// a misstatement of money, and the customer-service refund refused. GET /orders
// asks WeChat Pay for an unsettled order; a refund now does too before refusing, for a
// single order and a combine's sub-order alike. An order WeChat Pay has not paid is
// still refused ORDER_NOT_PAID.
func TestServeRefundRightAfterAPaymentNotYetNotified(t *testing.T) {
	_, p := startPlatformServe(t, "ecommerce")
	single := map[string]any{"order_id": "RTLOST0001", "sub_mchid": "1900000109", "amount": 1000, "description": "x", "scene": "native"}
	for _, o := range []map[string]any{single, cart("RTLOST0002", "native")} {
		if status, a := p.call("POST", "/orders", o, true); status != http.StatusCreated {
			t.Fatalf("create: %d %v", status, a)
		}
	}
	p.expect(409, "ORDER_NOT_PAID", "POST", "/orders/RTLOST0001/refunds?sub_mchid=1900000109", map[string]any{"out_refund_no": "RTLOST0001R0", "amount": 100})
	p.call("POST", "/sim/faults", map[string]any{"drop_all": true}, false)
	p.call("POST", "/sim/orders/RTLOST0001/pay", nil, false)
	p.call("POST", "/sim/combines/RTLOST0002/pay", nil, false)
	for _, c := range []struct{ path, no string }{
		{"/orders/RTLOST0001/refunds?sub_mchid=1900000109", "RTLOST0001R1"},
		{"/orders/RTLOST0002-B/refunds?sub_mchid=1900000110", "RTLOST0002R1"},
	} {
		if status, rf := p.call("POST", c.path, map[string]any{"out_refund_no": c.no, "amount": 100}, true); status != 200 || rf["state"] != "PROCESSING" {
			t.Errorf("refund %s of a paid order whose notification was lost: %d %v", c.no, status, rf)
		}
	}
	if _, g := p.call("GET", "/orders/RTLOST0001?sub_mchid=1900000109", nil, true); g["state"] != "SUCCESS" {
		t.Errorf("order: %v", g)
	}
}

// A subsidy return (补差回退) above the subsidy was refused 400 PARAM_ERROR "invalid
// result: …" with the profit-sharing plan's hint ("profit_sharing is true … or
// {\"receivers\":…} · 分账接收方金额(amount,分)与比例(rate)二选一"): the merchant was told
// to fix receivers it never sent. The refusal now speaks of the subsidy.
func TestServeSubsidyReturnRefusalSpeaksOfTheSubsidy(t *testing.T) {
	srv, p := startPlatformServe(t, "ecommerce")
	cfg, err := config.FromKeysDir(srv.keys)
	if err != nil {
		t.Fatal(err)
	}
	if status, r := p.call("POST", "/profitsharing/receivers", map[string]any{"type": "MERCHANT_ID", "account": "1900000201", "name": "示例供应商有限公司", "relation_type": "SUPPLIER"}, true); status != 200 {
		t.Fatalf("add receiver: %d %v", status, r)
	}
	if status, a := p.call("POST", "/orders", sharingCart("RTSUBHINT1", cfg.MchID, ""), true); status != http.StatusCreated {
		t.Fatalf("create: %d %v", status, a)
	}
	if status, _ := p.call("POST", "/sim/combines/RTSUBHINT1/pay", nil, false); status/100 != 2 {
		t.Fatalf("pay: %d", status)
	}
	p.waitState("RTSUBHINT1", "SUCCESS")
	p.call("POST", "/sim/clock", map[string]any{"advance": "2m"}, false)
	p.reconcile()
	const path = "/orders/RTSUBHINT1-C"
	if status, rf := p.call("POST", path+"/refunds?sub_mchid=1900000111", map[string]any{"out_refund_no": "RTSUBHINT1R", "amount": 300}, true); status != 200 {
		t.Fatalf("refund: %d %v", status, rf)
	}
	p.reconcile()
	p.call("POST", "/sim/refunds/RTSUBHINT1R/settle", nil, false)
	var rf map[string]any
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && (rf == nil || rf["state"] != "SUCCESS"); time.Sleep(50 * time.Millisecond) {
		_, rf = p.call("GET", path+"/refunds/RTSUBHINT1R?sub_mchid=1900000111", nil, true)
	}
	status, e := p.call("POST", path+"/subsidy/returns?sub_mchid=1900000111", map[string]any{"out_refund_no": "RTSUBHINT1R", "amount": 60}, true)
	msg, _ := e["message"].(string)
	hint, _ := e["hint"].(string)
	if status != 400 || e["code"] != "PARAM_ERROR" || strings.Contains(msg, "invalid result") || !strings.Contains(hint, "补差") || strings.Contains(hint, "receivers") {
		t.Fatalf("subsidy return above the subsidy: %d %v", status, e)
	}
}
