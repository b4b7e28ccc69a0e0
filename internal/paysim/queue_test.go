package paysim

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/paysls/wxpay/shared/wechatpay"
)

// TestManualDelivery: with ManualDelivery nothing is sent until the caller delivers;
// a notification can be delivered, repeated after its acknowledgement, or dropped, and
// every attempt is signed and listed.
func TestManualDelivery(t *testing.T) {
	e := newEnv(t, Config{ManualDelivery: true})
	rc := newReceiver(t, func(n int) int {
		if n == 1 {
			return http.StatusInternalServerError
		}
		return http.StatusNoContent
	})
	e.placeNative("MANUAL001", 100, rc.url())
	e.placeNative("MANUAL002", 200, rc.url())
	for _, no := range []string{"MANUAL001", "MANUAL002"} {
		if _, _, _, err := e.sim.Pay(no, PayRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	rc.none(t, 50*time.Millisecond) // nothing goes out by itself
	q := e.sim.Queued()
	if len(q) != 2 || q[0].OutTradeNo != "MANUAL001" || q[1].OutTradeNo != "MANUAL002" || q[0].Event != wechatpay.EventTransactionSuccess {
		t.Fatalf("queue: %+v", q)
	}

	// The second one first (out of order); the receiver fails the first attempt.
	ctx := context.Background()
	d, err := e.sim.DeliverQueued(ctx, q[1].ID)
	if err != nil || d.Status != http.StatusInternalServerError || d.Attempt != 1 {
		t.Fatalf("first attempt: %+v, %v", d, err)
	}
	var tx wechatpay.Transaction
	e.open(t, rc.next(t), &tx)
	if tx.OutTradeNo != "MANUAL002" {
		t.Fatalf("delivered %s", tx.OutTradeNo)
	}
	if d, _ := e.sim.DeliverQueued(ctx, q[1].ID); d.Status != http.StatusNoContent || d.Attempt != 2 {
		t.Fatalf("second attempt: %+v", d)
	}
	rc.next(t)
	if d, _ := e.sim.DeliverQueued(ctx, q[1].ID); d.Attempt != 3 { // a duplicate after the ack
		t.Fatalf("repeat: %+v", d)
	}
	rc.next(t)
	if got := e.sim.Queued(); !got[1].Acknowledged || got[0].Acknowledged || got[1].Attempts != 3 {
		t.Fatalf("queue after deliveries: %+v", got)
	}
	if !e.sim.DropQueued(q[0].ID) || e.sim.DropQueued(q[0].ID) {
		t.Fatal("drop")
	}
	if got := e.sim.Queued(); len(got) != 1 || got[0].ID != q[1].ID {
		t.Fatalf("queue after drop: %+v", got)
	}
	if _, err := e.sim.DeliverQueued(ctx, q[0].ID); err == nil {
		t.Fatal("a dropped notification was delivered")
	}
	if n := len(e.sim.Deliveries()); n != 3 {
		t.Fatalf("%d deliveries listed, want 3", n)
	}

	// Refund results are queued too, naming their refund.
	rf := e.call("POST", "/v3/refund/domestic/refunds", wechatpay.RefundRequest{OutTradeNo: "MANUAL002", OutRefundNo: "MRF0001", NotifyURL: rc.url(),
		Amount: wechatpay.RefundAmount{Refund: 50, Total: 200, Currency: "CNY"}})
	if rf.status != http.StatusOK {
		t.Fatalf("refund: %d %s", rf.status, rf.body)
	}
	if _, _, _, err := e.sim.SettleRefund("MRF0001", wechatpay.RefundStatusSuccess); err != nil {
		t.Fatal(err)
	}
	if got := e.sim.Queued(); len(got) != 2 || got[1].OutRefundNo != "MRF0001" || got[1].OutTradeNo != "MANUAL002" || got[1].Event != wechatpay.EventRefundSuccess {
		t.Fatalf("refund notification: %+v", got)
	}
}
