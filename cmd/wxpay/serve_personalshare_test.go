package main

import (
	"net/http"
	"strings"
	"testing"
)

// A sub-order shared 100 fen of 1000 to a person (PERSONAL_OPENID: a share WeChat Pay
// never returns), split and finished. A refund of the whole 1000 is taken (PROCESSING,
// waiting_for returns of 100 fen) and held for ever: the person's share cannot come
// back (hold_problem says so), the held refund reserves the whole payment, and every
// smaller refund is refused REFUND_EXCEEDS_REMAINDER ("0 of 1000 fen left") — the buyer
// cannot be refunded at all, and nothing withdraws the held refund. Wanted: the refund
// that needs a person's share back is refused up front, naming what can be refunded
// (at most the 900 the person did not get), and a smaller one goes through.
func TestServeRefundNeedingAPersonsShareBackIsRefusedUpFront(t *testing.T) {
	_, p := startPlatformServe(t, "ecommerce")
	const openid = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
	const sub = "1900000110"
	if status, a := p.call("POST", "/profitsharing/receivers", map[string]any{"type": "PERSONAL_OPENID", "account": openid, "relation_type": "DISTRIBUTOR"}, true); status != http.StatusOK {
		t.Fatalf("add receiver: %d %v", status, a)
	}
	plan := map[string]any{"receivers": []any{map[string]any{"type": "PERSONAL_OPENID", "account": openid, "amount": 100}}}
	if status, a := p.call("POST", "/orders", map[string]any{"order_id": "PERSHARE01", "sub_mchid": sub, "amount": 1000, "description": "x", "scene": "native", "profit_sharing": plan}, true); status != http.StatusCreated {
		t.Fatalf("create: %d %v", status, a)
	}
	if status, a := p.call("POST", "/sim/orders/PERSHARE01/pay?sub_mchid="+sub, nil, false); status != http.StatusOK {
		t.Fatalf("pay: %d %v", status, a)
	}
	p.waitPaid("PERSHARE01", sub)
	p.call("POST", "/sim/clock", map[string]any{"advance": "2m"}, false)
	p.reconcile()
	if ps := p.sharingOf("PERSHARE01", sub); ps["state"] != "finished" {
		t.Fatalf("the share: %v", ps)
	}
	status, a := p.call("POST", "/orders/PERSHARE01/refunds?sub_mchid="+sub, map[string]any{"out_refund_no": "PERSHARERF1", "amount": 1000}, true)
	if hint, _ := a["hint"].(string); status != http.StatusConflict || !strings.Contains(hint, "at most 900 fen") {
		t.Errorf("a refund needing the person's 100 fen back: %d %v, want 409 naming what can be refunded (900)", status, a)
	}
	if status, a := p.call("POST", "/orders/PERSHARE01/refunds?sub_mchid="+sub, map[string]any{"out_refund_no": "PERSHARERF2", "amount": 800}, true); status != http.StatusOK || a["waiting_for"] != nil {
		t.Errorf("a refund of 800 fen, within what the sub-merchant holds: %d %v", status, a)
	}
}
