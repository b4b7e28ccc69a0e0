package createorder_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/paysls/wxpay/internal/paysim"
	"github.com/paysls/wxpay/shared/events"
	"github.com/paysls/wxpay/shared/payment"
)

// A subsidy call WeChat Pay refuses (here the cancel of a subsidy before any refund:
// "取消补差的前置条件是订单发生退款") is announced as subsidy.failed whose reason is
// WeChat Pay's code and message — what the merchant can act on — never our error chain:
// before, it read "subsidy of 4200…: wechatpay: HTTP 400 INVALID_REQUEST: … [Request-ID
// …]" (only the first "wechatpay: " trimmed), and so did the order's problem in GET
// /orders.
func TestSubsidyFailedReasonIsWeChatPays(t *testing.T) {
	e := newPlatformEnv(t)
	b := combineBody("CARTSUB001", 2, "native")
	subs := b["sub_orders"].([]map[string]any)
	subs[0]["profit_sharing"] = map[string]any{"receivers": []map[string]any{}, "subsidy_amount": 10}
	if s, a := e.call(t, "POST", "/orders", b); s != 201 {
		t.Fatalf("combine: %d %v", s, a)
	}
	_, nid, status, err := e.sim.PayCombine("CARTSUB001", paysim.CombinePayRequest{})
	if err != nil {
		t.Fatalf("pay: %d %v", status, err)
	}
	e.notified.Wait(t, nid)
	s, a := e.call(t, "POST", "/orders/CARTSUB001-01/subsidy/cancel?sub_mchid=1900000101", map[string]any{})
	if s < 400 {
		t.Fatalf("a cancel before any refund: %d %v, want WeChat Pay's refusal", s, a)
	}
	o, err := e.ledger().Attempt(context.Background(), "1900000101", "CARTSUB001-01")
	if err != nil {
		t.Fatal(err)
	}
	var reason string
	n := 0
	for _, ev := range events.Entries(o.Record()) {
		if ev.Type != "subsidy.failed" {
			continue
		}
		n++
		var d payment.ShareEvent
		if err := json.Unmarshal(ev.Data, &d); err != nil {
			t.Fatal(err)
		}
		reason = d.Reason
	}
	if n != 1 {
		t.Fatalf("subsidy.failed announced %d times", n)
	}
	const want = "cancel refused: INVALID_REQUEST 取消补差的前置条件是订单发生退款"
	if !strings.HasPrefix(reason, want) {
		t.Fatalf("subsidy.failed reason %q, want WeChat Pay's code and message (%q…)", reason, want)
	}
	for _, leak := range []string{"wechatpay", "HTTP 400", "Request-ID", "4200"} {
		if strings.Contains(reason, leak) || strings.Contains(o.Sharing.Problem, leak) {
			t.Fatalf("%q leaks into the reason %q or the problem %q", leak, reason, o.Sharing.Problem)
		}
	}
}
