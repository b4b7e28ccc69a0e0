package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

// A user pays the QR code of an attempt the merchant had re-priced away: the money is
// kept in REVIEW on the replaced attempt and GET /orders reads REVIEW. The merchant's
// backend then repeats its create (a retry after a timeout, or a page reload) with the
// new price: that must not hand out the current attempt's live code_url as a payable
// NOTPAY order — the user would pay twice — but refuse as a re-price or a scene switch
// of the same order does (409 ORDERPAID). Found from outside: the repeat answered 200
// NOTPAY with the code_url, while GET answered REVIEW.
func TestServeRepeatedCreateAfterReplacedAttemptPaidIsRefused(t *testing.T) {
	_, p := startPlatformServe(t, "direct")
	const id = "RT4REPAID01"
	create := func(amount int) (int, map[string]any) {
		return p.call("POST", "/orders", map[string]any{"order_id": id, "amount": amount, "description": "x", "scene": "native"}, true)
	}
	if status, a := create(300); status != http.StatusCreated {
		t.Fatalf("create: %d %v", status, a)
	}
	if status, a := create(350); status != http.StatusCreated || a["out_trade_no"] != id+"_2" {
		t.Fatalf("re-price: %d %v", status, a)
	}
	if status, m := p.call("POST", "/sim/orders/"+id+"/pay", nil, false); status != http.StatusOK {
		t.Fatalf("pay the replaced attempt: %d %v", status, m)
	}
	p.waitState(id, "REVIEW")
	status, a := create(350)
	if status != http.StatusConflict || a["code"] != "ORDERPAID" || a["pay"] != nil {
		t.Errorf("the same create again after the replaced attempt was paid: %d %v %v (pay given: %t), want 409 ORDERPAID and nothing to pay",
			status, a["code"], a["state"], a["pay"] != nil)
	}
	// The order is as it was: REVIEW, its current attempt unpaid at WeChat Pay.
	if _, g := p.call("GET", "/orders/"+id, nil, true); g["state"] != "REVIEW" || g["out_trade_no"] != id+"_2" {
		t.Errorf("GET after the refusal: %v", g)
	}
	if _, s := p.call("GET", "/sim/orders/"+id+"_2", nil, false); s["transaction"] == nil {
		t.Errorf("the simulator's current attempt: %v", s)
	} else if tx := s["transaction"].(map[string]any); tx["trade_state"] != "NOTPAY" {
		t.Errorf("the current attempt at WeChat Pay: %v", tx["trade_state"])
	}
}

// The same for a combine (合单) on a platform: its replaced attempt paid, the repeat of
// the re-priced create is refused, not answered with the new attempt's code_url.
func TestServeRepeatedCombineCreateAfterReplacedAttemptPaidIsRefused(t *testing.T) {
	_, p := startPlatformServe(t, "ecommerce")
	const id = "RT4CARTPAID1"
	if status, a := p.call("POST", "/orders", cart(id, "native"), true); status != http.StatusCreated {
		t.Fatalf("create: %d %v", status, a)
	}
	repriced := cart(id, "native")
	repriced["sub_orders"].([]map[string]any)[1]["amount"] = 250
	if status, a := p.call("POST", "/orders", repriced, true); status != http.StatusCreated || a["combine_out_trade_no"] != id+"_2" {
		t.Fatalf("re-price: %d %v", status, a)
	}
	if status, m := p.call("POST", "/sim/combines/"+id+"/pay", map[string]any{}, false); status != http.StatusOK {
		t.Fatalf("pay the replaced combine: %d %v", status, m)
	}
	p.waitState(id, "REVIEW")
	status, a := p.call("POST", "/orders", repriced, true)
	if status != http.StatusConflict || a["code"] != "ORDERPAID" || a["pay"] != nil {
		t.Errorf("the same combine create again after the replaced attempt was paid: %d %v %v (pay given: %t), want 409 ORDERPAID and nothing to pay",
			status, a["code"], a["state"], a["pay"] != nil)
	}
	if _, g := p.call("GET", "/orders/"+id, nil, true); g["state"] != "REVIEW" || g["combine_out_trade_no"] != id+"_2" {
		t.Errorf("GET after the refusal: %v", g)
	}
}

// A genuine payment for an out_trade_no this API never placed is kept as WeChat Pay
// reported it, a record without an order_id. A re-price whose next attempt needs that
// number is refused naming it so — it read `which is already order ""`.
func TestServeAttemptNameTakenByAPaymentNotOursIsNamed(t *testing.T) {
	srv, p := startPlatformServe(t, "direct")
	const id = "RT4NAMED01"
	if status, a := p.call("POST", "/orders", map[string]any{"order_id": id, "amount": 300, "description": "x", "scene": "native"}, true); status != http.StatusCreated {
		t.Fatalf("create: %d %v", status, a)
	}
	var out, errOut strings.Builder
	if err := runTrigger(context.Background(), []string{"--keys-dir", srv.keys, "--url", srv.base + "/notify",
		"--out-trade-no", id + "_2", "--amount", "350"}, &out, &errOut); err != nil {
		t.Fatalf("trigger: %v\n%s%s", err, out.String(), errOut.String())
	}
	status, a := p.call("POST", "/orders", map[string]any{"order_id": id, "amount": 350, "description": "x", "scene": "native"}, true)
	msg, _ := a["message"].(string)
	if status != http.StatusConflict || a["code"] != "ATTEMPT_NAME_TAKEN" || !strings.Contains(msg, "a payment this API did not create") || strings.Contains(msg, `""`) {
		t.Errorf("re-price into a number a payment not ours holds: %d %v", status, a)
	}
}

// A refund asked of an order paid only through an attempt it replaced (the payment kept
// in REVIEW) was refused as ORDER_NOT_PAID "the order is not paid … (state NOTPAY)",
// telling the merchant no money came in while GET /orders reads REVIEW with the payment.
// It is refused as ORDER_IN_REVIEW naming the kept payment, and nothing changes.
func TestServeRefundOfOrderPaidThroughReplacedAttemptNamesThePayment(t *testing.T) {
	_, p := startPlatformServe(t, "direct")
	const id = "RT4RFREPL01"
	for _, amount := range []int{300, 350} {
		if status, a := p.call("POST", "/orders", map[string]any{"order_id": id, "amount": amount, "description": "x", "scene": "native"}, true); status != http.StatusCreated {
			t.Fatalf("create %d: %d %v", amount, status, a)
		}
	}
	if status, m := p.call("POST", "/sim/orders/"+id+"/pay", nil, false); status != http.StatusOK {
		t.Fatalf("pay the replaced attempt: %d %v", status, m)
	}
	g := p.waitState(id, "REVIEW")
	prev, _ := g["previous"].([]any)
	if len(prev) != 1 {
		t.Fatalf("previous: %v", g["previous"])
	}
	tx, _ := prev[0].(map[string]any)["transaction_id"].(string)
	status, a := p.call("POST", "/orders/"+id+"/refunds", map[string]any{"out_refund_no": id + "R1", "amount": 100}, true)
	msg, _ := a["message"].(string)
	if status != http.StatusConflict || a["code"] != "ORDER_IN_REVIEW" || tx == "" || !strings.Contains(msg, tx) || a["hint"] == "" {
		t.Errorf("refund of an order paid through its replaced attempt: %d %v, want 409 ORDER_IN_REVIEW naming transaction %q", status, a, tx)
	}
	if _, g := p.call("GET", "/orders/"+id, nil, true); g["state"] != "REVIEW" || len(g["refunds"].([]any)) != 0 {
		t.Errorf("GET after the refusal: %v", g)
	}
}

// A refund asked through the API that WeChat Pay has not taken yet (its request failed
// with a 5xx: PROCESSING here, reserving its amount) and a refund made by hand in the
// merchant platform meanwhile (v2 notice), which WeChat Pay could pay because the first
// never reached it. The two exceed the payment only through the reservation of one that
// WeChat Pay will refuse: nothing is short, and a direct merchant shares nothing. The
// order went to REVIEW "refund … settled while 0 fen of the order were shared out to
// others … (-200 fen left after refunds)", blocking every refund, and stayed there after
// reconcile closed the refused one. The manual refund is recorded, the order is not
// in review, and once the API refund is closed the rest is refundable.
func TestServeManualRefundBesideUnsubmittedRefundIsNoShareConflict(t *testing.T) {
	_, p := startPlatformServe(t, "direct")
	const id = "RT4MANUAL01"
	if status, a := p.call("POST", "/orders", map[string]any{"order_id": id, "amount": 1000, "description": "x", "scene": "native"}, true); status != http.StatusCreated {
		t.Fatalf("create: %d %v", status, a)
	}
	if status, m := p.call("POST", "/sim/orders/"+id+"/pay", nil, false); status != http.StatusOK {
		t.Fatalf("pay: %d %v", status, m)
	}
	p.waitState(id, "SUCCESS")
	p.call("POST", "/sim/faults", map[string]any{"endpoints": []map[string]any{{"pattern": "POST /v3/refund/*", "status": 503}}}, false)
	if status, a := p.call("POST", "/orders/"+id+"/refunds", map[string]any{"out_refund_no": id + "R1", "amount": 700}, true); status < 500 {
		t.Fatalf("refund while WeChat Pay fails: %d %v", status, a)
	}
	p.call("POST", "/sim/faults", map[string]any{}, false)
	status, m := p.call("POST", "/sim/v2/notify", map[string]any{"kind": "refund", "out_trade_no": id, "refund_fee": 500}, false)
	if status != http.StatusOK || m["acknowledged"] != true {
		t.Fatalf("manual refund notice: %d %v", status, m)
	}
	manual, _ := m["fields"].(map[string]any)["out_refund_no"].(string)
	states := func(g map[string]any) map[string]string {
		out := map[string]string{}
		list, _ := g["refunds"].([]any)
		for _, r := range list {
			r := r.(map[string]any)
			out[r["out_refund_no"].(string)] = r["state"].(string)
		}
		return out
	}
	_, g := p.call("GET", "/orders/"+id, nil, true)
	if st := states(g); g["state"] != "REFUND" || g["refunded"] != float64(500) || st[manual] != "SUCCESS" || st[id+"R1"] != "PROCESSING" {
		t.Errorf("after the manual refund: state %v refunded %v refunds %v review %v", g["state"], g["refunded"], st, g["review_causes"])
	}
	// Reconcile submits R1 again; WeChat Pay refuses it (500 left) and it is closed.
	p.call("POST", "/sim/clock", map[string]any{"advance": "2m"}, false)
	p.reconcile()
	_, g = p.call("GET", "/orders/"+id, nil, true)
	if st := states(g); g["state"] != "REFUND" || st[id+"R1"] != "CLOSED" {
		t.Errorf("after reconcile: state %v refunds %v review %v", g["state"], st, g["review_causes"])
	}
	if status, a := p.call("POST", "/orders/"+id+"/refunds", map[string]any{"out_refund_no": id + "R2", "amount": 500}, true); status != http.StatusOK || a["state"] != "PROCESSING" {
		t.Errorf("refund of the 500 fen left: %d %v", status, a)
	}
}

// The user pays and the notification is lost (or late); within WeChat Pay's first 5
// minutes the merchant re-prices the order. The close of the attempt being replaced is
// only recorded then (WeChat Pay refuses a close that early), so nothing asked WeChat
// Pay whether it was paid: a new attempt was placed and its code_url handed out — the
// user asked to pay again — and GET read NOTPAY. After 5 minutes the same re-price is
// refused (the close answers ORDERPAID). The re-price asks WeChat Pay first: 409
// ORDERPAID, the payment recorded, no second attempt.
func TestServeRepriceOfAnAttemptPaidUnnotifiedIsRefused(t *testing.T) {
	_, p := startPlatformServe(t, "direct")
	const id = "RT4PAIDLOST1"
	create := func(amount int) (int, map[string]any) {
		return p.call("POST", "/orders", map[string]any{"order_id": id, "amount": amount, "description": "x", "scene": "native"}, true)
	}
	if status, a := create(300); status != http.StatusCreated {
		t.Fatalf("create: %d %v", status, a)
	}
	p.call("POST", "/sim/faults", map[string]any{"drop_all": true}, false)
	if status, m := p.call("POST", "/sim/orders/"+id+"/pay", nil, false); status != http.StatusOK {
		t.Fatalf("pay: %d %v", status, m)
	}
	p.call("POST", "/sim/faults", map[string]any{}, false)
	status, a := create(350)
	if status != http.StatusConflict || a["code"] != "ORDERPAID" || a["pay"] != nil {
		t.Errorf("re-price of an attempt paid at WeChat Pay: %d %v %v (pay given: %t), want 409 ORDERPAID", status, a["code"], a["out_trade_no"], a["pay"] != nil)
	}
	if _, g := p.call("GET", "/orders/"+id, nil, true); g["state"] != "SUCCESS" || g["out_trade_no"] != id || g["attempts"] != float64(1) {
		t.Errorf("GET: state %v out_trade_no %v attempts %v review %v", g["state"], g["out_trade_no"], g["attempts"], g["review_causes"])
	}
	if status, _ := p.call("GET", "/sim/orders/"+id+"_2", nil, false); status != http.StatusNotFound {
		t.Errorf("a second attempt was placed at WeChat Pay: %d", status)
	}
}

// The same for a combine: paid, its notification lost, re-priced within 5 minutes.
func TestServeRepriceOfACombinePaidUnnotifiedIsRefused(t *testing.T) {
	_, p := startPlatformServe(t, "ecommerce")
	const id = "RT4CARTLOST1"
	if status, a := p.call("POST", "/orders", cart(id, "native"), true); status != http.StatusCreated {
		t.Fatalf("create: %d %v", status, a)
	}
	p.call("POST", "/sim/faults", map[string]any{"drop_all": true}, false)
	if status, m := p.call("POST", "/sim/combines/"+id+"/pay", map[string]any{}, false); status != http.StatusOK {
		t.Fatalf("pay: %d %v", status, m)
	}
	p.call("POST", "/sim/faults", map[string]any{}, false)
	repriced := cart(id, "native")
	repriced["sub_orders"].([]map[string]any)[1]["amount"] = 250
	status, a := p.call("POST", "/orders", repriced, true)
	if status != http.StatusConflict || a["code"] != "ORDERPAID" || a["pay"] != nil {
		t.Errorf("re-price of a combine paid at WeChat Pay: %d %v %v (pay given: %t), want 409 ORDERPAID", status, a["code"], a["combine_out_trade_no"], a["pay"] != nil)
	}
	if _, g := p.call("GET", "/orders/"+id, nil, true); g["state"] != "SUCCESS" || g["combine_out_trade_no"] != id {
		t.Errorf("GET: state %v combine_out_trade_no %v review %v", g["state"], g["combine_out_trade_no"], g["review_causes"])
	}
	if status, _ := p.call("GET", "/sim/combines/"+id+"_2", nil, false); status != http.StatusNotFound {
		t.Errorf("a second combine was placed at WeChat Pay: %d", status)
	}
}

// The merchant's close in the first 5 minutes of an order paid whose notification is
// lost: it was scheduled ("a payment made before then is kept for review") and the
// order went to REVIEW as paid after the close was asked, though it was paid before.
// Asked first, WeChat Pay says paid: 409 ORDERPAID, the order SUCCESS — as the close
// of an older order answers.
func TestServeCloseOfAnOrderPaidUnnotifiedAnswersPaid(t *testing.T) {
	_, p := startPlatformServe(t, "direct")
	const id = "RT4CLOSELOST1"
	if status, a := p.call("POST", "/orders", map[string]any{"order_id": id, "amount": 300, "description": "x", "scene": "native"}, true); status != http.StatusCreated {
		t.Fatalf("create: %d %v", status, a)
	}
	p.call("POST", "/sim/faults", map[string]any{"drop_all": true}, false)
	if status, m := p.call("POST", "/sim/orders/"+id+"/pay", nil, false); status != http.StatusOK {
		t.Fatalf("pay: %d %v", status, m)
	}
	p.call("POST", "/sim/faults", map[string]any{}, false)
	if status, a := p.call("POST", "/orders/"+id+"/close", nil, true); status != http.StatusConflict || a["code"] != "ORDERPAID" {
		t.Errorf("close of an order paid at WeChat Pay: %d %v, want 409 ORDERPAID", status, a)
	}
	if _, g := p.call("GET", "/orders/"+id, nil, true); g["state"] != "SUCCESS" || g["close_pending"] == true {
		t.Errorf("GET: state %v close_pending %v review %v", g["state"], g["close_pending"], g["review_causes"])
	}
}
