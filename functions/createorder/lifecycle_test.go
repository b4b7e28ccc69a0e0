package createorder_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paysls/wxpay/shared/events"
	"github.com/paysls/wxpay/shared/paysim"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// A paid order whose notification never arrived: GET asks WeChat Pay and applies the
// answer through the ledger, so the page polling after the user returns sees SUCCESS.
func TestGetSettlesDroppedNotification(t *testing.T) {
	for _, partner := range []bool{false, true} {
		t.Run(map[bool]string{false: "direct", true: "partner"}[partner], func(t *testing.T) {
			e := newEnv(t, envOptions{partner: partner, recheck: 5 * time.Second})
			if err := e.sim.SetFaults(paysim.Faults{DropAll: true}); err != nil {
				t.Fatal(err)
			}
			if status, a := e.call(t, "POST", "/orders", nativeOrder("DROPPED001", 4200)); status != 201 {
				t.Fatalf("%d %v", status, a)
			}
			status, g := e.call(t, "GET", "/orders/DROPPED001", nil)
			if status != 200 || g["state"] != "NOTPAY" {
				t.Fatalf("before paying: %d %v", status, g)
			}
			e.pay(t, "DROPPED001")
			time.Sleep(50 * time.Millisecond)
			if rec, _ := e.order(t, "DROPPED001"); rec.Status() != "NOTPAY" {
				t.Fatalf("the notification was supposed to be dropped: %+v", rec)
			}
			// Checked a moment ago: the store answers (no query storm from a polling page).
			v3 := e.v3.Load()
			if status, g = e.call(t, "GET", "/orders/DROPPED001", nil); g["state"] != "NOTPAY" || e.v3.Load() != v3 {
				t.Fatalf("within the recheck window: %d %v, %d WeChat Pay calls", status, g, e.v3.Load()-v3)
			}
			e.clock.Advance(6 * time.Second) // past the recheck window, on the business clock
			status, g = e.call(t, "GET", "/orders/DROPPED001", nil)
			if status != 200 || g["state"] != "SUCCESS" || str(g, "transaction_id") == "" {
				t.Fatalf("after the recheck window: %d %v", status, g)
			}
			rec, _ := e.order(t, "DROPPED001")
			hasEvent := false
			for _, ev := range events.Entries(rec.Record()) {
				hasEvent = hasEvent || ev.Type == events.OrderPaid
			}
			if rec.Status() != "SUCCESS" || !hasEvent {
				t.Fatalf("stored: %+v — want SUCCESS with its order.paid event, as notify would have written", rec)
			}
		})
	}
}

// Close: within 5 minutes it is recorded and carried out later (202); after, it is
// closed at WeChat Pay (200); a paid order cannot be closed (409), even when only
// WeChat Pay knows it is paid.
func TestClose(t *testing.T) {
	for _, partner := range []bool{false, true} {
		t.Run(map[bool]string{false: "direct", true: "partner"}[partner], func(t *testing.T) { testClose(t, partner) })
	}
}

func testClose(t *testing.T, partner bool) {
	e := newEnv(t, envOptions{partner: partner})
	for _, id := range []string{"CLOSE00001", "CLOSE00002", "CLOSE00003", "CLOSE00004"} {
		if status, a := e.call(t, "POST", "/orders", nativeOrder(id, 300)); status != 201 {
			t.Fatalf("%d %v", status, a)
		}
	}
	status, a := e.call(t, "POST", "/orders/CLOSE00001/close", nil)
	if status != http.StatusAccepted || a["close"] != "scheduled" || str(a, "close_at") == "" || a["state"] != "NOTPAY" {
		t.Fatalf("young close: %d %v", status, a)
	}
	if rec, _ := e.order(t, "CLOSE00001"); rec.Close == nil {
		t.Fatalf("young close not recorded: %+v", rec)
	}
	if st := e.simOrder(t, "CLOSE00001").Transaction.TradeState; st != "NOTPAY" {
		t.Fatalf("WeChat Pay saw a close in the first 5 minutes: %s", st)
	}
	if status, g := e.call(t, "GET", "/orders/CLOSE00001", nil); g["close_pending"] != true {
		t.Fatalf("GET after deferred close: %d %v", status, g)
	}
	// Paid at WeChat Pay, notification lost, then closed after 5 minutes: 409 and the
	// payment is applied.
	if err := e.sim.SetFaults(paysim.Faults{DropAll: true}); err != nil {
		t.Fatal(err)
	}
	e.pay(t, "CLOSE00003")
	e.clock.Advance(6 * time.Minute)
	status, a = e.call(t, "POST", "/orders/CLOSE00002/close", nil)
	if status != 200 || a["state"] != "CLOSED" || a["close"] != "done" {
		t.Fatalf("old close: %d %v", status, a)
	}
	if st := e.simOrder(t, "CLOSE00002").Transaction.TradeState; st != "CLOSED" {
		t.Fatalf("WeChat Pay has the order %s", st)
	}
	status, a = e.call(t, "POST", "/orders/CLOSE00003/close", nil)
	if status != http.StatusConflict || a["code"] != "ORDERPAID" {
		t.Fatalf("closing a paid order: %d %v", status, a)
	}
	if rec, _ := e.order(t, "CLOSE00003"); rec.Status() != "SUCCESS" {
		t.Fatalf("the payment WeChat Pay reported was not applied: %+v", rec)
	}
	// Closing again is harmless.
	if status, a = e.call(t, "POST", "/orders/CLOSE00002/close", nil); status != 200 || a["state"] != "CLOSED" {
		t.Fatalf("second close: %d %v", status, a)
	}
	if status, a = e.call(t, "POST", "/orders/NOSUCHORDER/close", nil); status != 404 {
		t.Fatalf("unknown order: %d %v", status, a)
	}
}

// Refunds: reserved atomically (never more than paid, even concurrently), idempotent by
// out_refund_no, settled by notification, listed on the order.
func TestRefunds(t *testing.T) {
	for _, partner := range []bool{false, true} {
		t.Run(map[bool]string{false: "direct", true: "partner"}[partner], func(t *testing.T) {
			e := newEnv(t, envOptions{partner: partner})
			if status, a := e.call(t, "POST", "/orders", nativeOrder("REFUND0001", 1000)); status != 201 {
				t.Fatalf("%d %v", status, a)
			}
			status, a := e.call(t, "POST", "/orders/REFUND0001/refunds", map[string]any{"out_refund_no": "RF00000001", "amount": 100})
			if status != http.StatusConflict || a["code"] != "ORDER_NOT_PAID" {
				t.Fatalf("refund of an unpaid order: %d %v", status, a)
			}
			e.pay(t, "REFUND0001")
			e.waitState(t, "REFUND0001", wechatpay.TradeStateSuccess)

			status, a = e.call(t, "POST", "/orders/REFUND0001/refunds", map[string]any{"out_refund_no": "RF00000001", "amount": 600, "reason": "退货"})
			if status != 200 || a["state"] != "PROCESSING" || a["amount"] != float64(600) || a["out_refund_no"] != "RF00000001" {
				t.Fatalf("refund: %d %v", status, a)
			}
			v3 := e.v3.Load()
			if status, a = e.call(t, "POST", "/orders/REFUND0001/refunds", map[string]any{"out_refund_no": "RF00000001", "amount": 600, "reason": "退货"}); status != 200 || a["state"] != "PROCESSING" {
				t.Fatalf("repeat: %d %v", status, a)
			}
			if e.v3.Load()-v3 > 1 {
				t.Fatalf("a repeated refund made %d WeChat Pay calls", e.v3.Load()-v3)
			}
			if status, a = e.call(t, "POST", "/orders/REFUND0001/refunds", map[string]any{"out_refund_no": "RF00000001", "amount": 500}); status != http.StatusConflict || a["code"] != "OUT_REFUND_NO_USED" {
				t.Fatalf("same out_refund_no, other amount: %d %v", status, a)
			}
			v3 = e.v3.Load()
			if status, a = e.call(t, "POST", "/orders/REFUND0001/refunds", map[string]any{"out_refund_no": "RF00000002", "amount": 401}); status != http.StatusConflict || a["code"] != "REFUND_EXCEEDS_REMAINDER" {
				t.Fatalf("over-refund: %d %v", status, a)
			}
			if e.v3.Load() != v3 {
				t.Fatalf("an over-refund reached WeChat Pay")
			}
			// 10 concurrent refunds of 100 fen against 400 left: exactly 4 succeed.
			var wg sync.WaitGroup
			var mu sync.Mutex
			ok, refused := 0, 0
			for i := range 10 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					s, b := e.call(t, "POST", "/orders/REFUND0001/refunds", map[string]any{"out_refund_no": fmt.Sprintf("RFC%07d", i), "amount": 100})
					mu.Lock()
					defer mu.Unlock()
					switch {
					case s == 200:
						ok++
					case s == http.StatusConflict && b["code"] == "REFUND_EXCEEDS_REMAINDER":
						refused++
					default:
						t.Errorf("concurrent refund %d: %d %v", i, s, b)
					}
				}()
			}
			wg.Wait()
			if ok != 4 || refused != 6 {
				t.Fatalf("concurrent refunds: %d accepted, %d refused; want 4 and 6", ok, refused)
			}
			// WeChat Pay settles the first refund; the notification applies it.
			if _, _, _, err := e.sim.SettleRefund("RF00000001", wechatpay.RefundStatusSuccess); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(10 * time.Second)
			for {
				status, a = e.call(t, "GET", "/orders/REFUND0001/refunds/RF00000001", nil)
				if a["state"] == "SUCCESS" || time.Now().After(deadline) {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			if status != 200 || a["state"] != "SUCCESS" || a["order_id"] != "REFUND0001" {
				t.Fatalf("GET refund: %d %v", status, a)
			}
			// The refund's effect on the order follows its own write (ledger.SyncRefund).
			var g map[string]any
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				status, g = e.call(t, "GET", "/orders/REFUND0001", nil)
				if g["refunded"] == float64(600) || time.Now().After(deadline) {
					break
				}
			}
			refunds, _ := g["refunds"].([]any)
			if status != 200 || g["state"] != "REFUND" || len(refunds) != 5 || g["refunded"] != float64(600) {
				t.Fatalf("GET order: %d %v", status, g)
			}
			if status, a = e.call(t, "GET", "/orders/REFUND0001/refunds/RF99999999", nil); status != 404 {
				t.Fatalf("unknown refund: %d %v", status, a)
			}
		})
	}
}

// WeChat Pay failing a refund with 5xx: the answer says to retry; the retry with the
// same out_refund_no goes through and the amount is held once, not twice.
func TestRefundRetryAfterWeChatFailure(t *testing.T) {
	e := newEnv(t, envOptions{})
	if s, a := e.call(t, "POST", "/orders", nativeOrder("REFUNDFAIL", 1000)); s != 201 {
		t.Fatalf("%d %v", s, a)
	}
	e.pay(t, "REFUNDFAIL")
	e.waitState(t, "REFUNDFAIL", wechatpay.TradeStateSuccess)
	if err := e.sim.SetFaults(paysim.Faults{Endpoints: []paysim.EndpointFault{{Pattern: "POST /v3/refund/*", Status: 500, Times: 3}}}); err != nil {
		t.Fatal(err)
	}
	s, a := e.call(t, "POST", "/orders/REFUNDFAIL/refunds", map[string]any{"out_refund_no": "RFFAIL0001", "amount": 700})
	if s/100 != 5 || !strings.Contains(str(a, "hint"), "retry") {
		t.Fatalf("refund while WeChat Pay fails: %d %v", s, a)
	}
	s, a = e.call(t, "POST", "/orders/REFUNDFAIL/refunds", map[string]any{"out_refund_no": "RFFAIL0001", "amount": 700})
	if s != 200 || a["state"] != "PROCESSING" {
		t.Fatalf("retry: %d %v", s, a)
	}
	if rec, _ := e.order(t, "REFUNDFAIL"); rec.Reserved() != 700 {
		t.Fatalf("reserved %d after a retried refund, want 700", rec.Reserved())
	}
	if s, a = e.call(t, "POST", "/orders/REFUNDFAIL/refunds", map[string]any{"out_refund_no": "RFFAIL0002", "amount": 301}); s != http.StatusConflict {
		t.Fatalf("over-refund after the retry: %d %v", s, a)
	}
}
