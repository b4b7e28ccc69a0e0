package createorder_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/paysls/wxpay/internal/paysim"
	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/store"
)

// noMultiPut hides a store's multi-record write, as Redis and DynamoDB have none: the
// ledger reserves a combine one record at a time.
type noMultiPut struct{ store.Store }

// Two identical re-prices of a combine at once, the first stalled past its claim's
// lease between reserving attempt _2 (the combine and its sub-orders) and moving the
// combine's pointer — the race TestStalledRepriceKeepsItsReservation holds for single
// orders. The second found _2 reserved with a lapsed claim and removed it (the combine
// and its sub-orders) while the first, still alive, moved the pointers and placed _2 at
// WeChat Pay: _2 was paid while neither GET /orders/{combine} nor GET /orders/{sub
// order} could show it. A reservation is never removed now: the second finishes the
// first's pointer moves, and what WeChat Pay holds under _2 is on the combine and on
// each sub-order. Run with the multi-record write (bbolt) and one record at a time.
func TestStalledCombineRepriceKeepsItsReservation(t *testing.T) {
	for _, multi := range []bool{true, false} {
		t.Run(fmt.Sprintf("multi-record write %v", multi), func(t *testing.T) {
			var g *gate
			e := newEnv(t, envOptions{partner: true, lease: 2 * time.Second,
				mutate: func(c *config.Config) {
					c.Bundle.Mode, c.Bundle.SubMchID, c.Bundle.SubAppID = config.ModeEcommerce, "", ""
				},
				wrap: func(s store.Store) store.Store {
					g = newGate(s)
					if !multi {
						return noMultiPut{g}
					}
					return g
				}})
			id := "STALLCMB01"
			if !multi {
				id = "STALLCMB02"
			}
			b := combineBody(id, 2, "native")
			if s, a := e.call(t, "POST", "/orders", b); s != http.StatusCreated {
				t.Fatalf("create: %d %v", s, a)
			}
			b["sub_orders"].([]map[string]any)[1]["amount"] = 150
			key, key2 := payment.CombineKey(e.id.MchID, id), payment.CombineKey(e.id.MchID, id+"_2")
			run := func(ans *answered) <-chan struct{} {
				done := make(chan struct{})
				go func() {
					defer close(done)
					ans.status, ans.body = e.call(t, "POST", "/orders", b)
				}()
				return done
			}
			var a, bb answered
			// A reserves _2 and records attempt 1's close (update 1 of the combine), then
			// stalls before its pointer move (update 2) past its claim's lease.
			movePointer := g.before("Update", key, 2)
			doneA := run(&a)
			reach(t, "the first re-price", movePointer, doneA)
			e.clock.Advance(3 * time.Second)
			// B finds _2 reserved (its first read of it), its claim lapsed, and stops there.
			readReservation := g.after("Get", key2, 1)
			doneB := run(&bb)
			reach(t, "the second re-price", readReservation, doneB)
			// A moves the pointers and places _2 at WeChat Pay; it stops before recording
			// the answer (which would change _2's version under B).
			complete := g.before("Update", key2, 1)
			close(movePointer.release)
			reach(t, "the first re-price's answer", complete, doneA)
			close(readReservation.release)
			<-doneB
			close(complete.release)
			<-doneA

			if a.status != http.StatusCreated || a.body["combine_out_trade_no"] != id+"_2" {
				t.Fatalf("first re-price: %d %v %v (%v)", a.status, a.body["code"], a.body["combine_out_trade_no"], a.body["message"])
			}
			if bb.status/100 != 2 || bb.body["combine_out_trade_no"] != id+"_2" || str(bb.body, "pay", "code_url") != str(a.body, "pay", "code_url") {
				t.Errorf("second re-price: %d %v %v (%v); want the first's %v", bb.status, bb.body["code"], bb.body["combine_out_trade_no"], bb.body["message"], a.body["combine_out_trade_no"])
			}
			tx, _, status, err := e.sim.PayCombine(id+"_2", paysim.CombinePayRequest{})
			if err != nil {
				t.Fatalf("pay %s_2: %d %v", id, status, err)
			}
			// The combine's read shows the payment of every sub-order (asking WeChat Pay
			// if the notification has not been applied yet).
			e.clock.Advance(10 * time.Second) // past the status recheck window
			s, got := e.call(t, "GET", "/orders/"+id, nil)
			if s != http.StatusOK || got["state"] != "SUCCESS" {
				t.Fatalf("GET /orders/%s after _2 was paid: %d %v", id, s, got)
			}
			if got["combine_out_trade_no"] != id+"_2" {
				t.Errorf("GET /orders/%s shows %v, want attempt _2", id, got["combine_out_trade_no"])
			}
			views, _ := got["sub_orders"].([]any)
			if len(views) != len(tx.SubOrders) {
				t.Fatalf("GET /orders/%s: %d sub-orders, WeChat Pay holds %d", id, len(views), len(tx.SubOrders))
			}
			for i, st := range tx.SubOrders {
				sv, _ := views[i].(map[string]any)
				if sv["out_trade_no"] != st.OutTradeNo || sv["transaction_id"] != st.TransactionID {
					t.Errorf("GET /orders/%s sub-order %d: %v, want %s paid by %s", id, i, sv, st.OutTradeNo, st.TransactionID)
				}
				// And the sub-order's own read.
				sub := fmt.Sprintf("%s-%02d", id, i+1)
				s, so := e.call(t, "GET", "/orders/"+sub+"?sub_mchid="+st.SubMchID, nil)
				if s != http.StatusOK || so["out_trade_no"] != st.OutTradeNo || so["state"] != "SUCCESS" || so["transaction_id"] != st.TransactionID {
					t.Errorf("GET /orders/%s: %d %v; WeChat Pay holds %s paid by %s", sub, s, so, st.OutTradeNo, st.TransactionID)
				}
			}
		})
	}
}
