package payment

import (
	"context"
	"testing"
	"time"
)

// A combine paid as a whole at WeChat Pay, its notification applied one sub-order at a
// time; a cashier scene switch comes between two of those writes. The ledger already
// holds a sub-order paid, so the switch is refused before anything is parked, and the
// rest of the notification is the combine's own payment, not a REVIEW.
func TestParkCombineRefusesAPaidCombineBeforeParkingAny(t *testing.T) {
	ctx := context.Background()
	l, _ := newLedger(t)
	c := combineOf(t, l, "CARTPARK01", 2)
	ct := combinePaid(c)
	txs := ct.Transactions()
	if _, err := l.ApplyTransaction(ctx, &txs[1], "notify"); err != nil {
		t.Fatal(err)
	}
	if _, out, err := l.ParkCombine(ctx, c, now.Add(2*time.Hour)); err != nil || out != Refused {
		t.Fatalf("ParkCombine of a combine with a paid sub-order: %s %v", out, err)
	}
	if cur, err := l.CombineAttempt(ctx, mch, c.OrderID); err != nil || cur.Parked() {
		t.Fatalf("the combine record after a refused park: parked=%v %v", cur != nil && cur.Parked(), err)
	}
	if _, err := l.ApplyCombine(ctx, ct, "notify"); err != nil {
		t.Fatal(err)
	}
	subs, err := l.SubOrders(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range subs {
		if o.InReview() || o.Payment == nil {
			t.Fatalf("sub-order %s after its combine's own notification: %s", o.OutTradeNo, o.Status())
		}
	}
}
