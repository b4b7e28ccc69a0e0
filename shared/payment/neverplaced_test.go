package payment

import (
	"context"
	"testing"
	"time"
)

// MarkNeverPlaced closes an attempt WeChat Pay did not know at its close, unless a
// prepay was claimed or answered since the attempt was read: the cashier page places a
// cashier order's attempt whenever a browser opens the link, and a close that reached
// WeChat Pay before that prepay must not record closed an attempt payable there.
func TestMarkNeverPlaced(t *testing.T) {
	l, _ := newLedger(t)
	ctx := context.Background()
	place := func(id string) *Order {
		t.Helper()
		o, err := l.CreateOrder(ctx, NewOrder{MchID: mch, AppID: "wxapp", OrderID: id, Attempt: 1, Amount: 100, Scene: "cashier"})
		if err != nil {
			t.Fatal(err)
		}
		return o
	}

	// Nothing placed it since it was read: closed.
	quiet := place("NEVERPL001")
	if res, err := l.MarkNeverPlaced(ctx, quiet.Key(), "merchant", quiet.Claim); err != nil || res.Outcome != Applied || !res.Order.Closed() {
		t.Fatalf("unplaced: %v %v", res.Outcome, err)
	}

	// The page claimed and placed it between the read and the close's answer: refused.
	raced := place("NEVERPL002")
	seen := raced.Claim
	claimed, err := l.Claim(ctx, raced, ClaimRequest{ID: "page", Lease: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := l.MarkNeverPlaced(ctx, raced.Key(), "merchant", seen); err != nil || res.Outcome != Refused || res.Order.Closed() {
		t.Fatalf("claim live: %v %v", res.Outcome, err)
	}
	if _, err := l.Complete(ctx, claimed, "page", Prepay{H5URL: "https://wx.tenpay.com/x"}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if res, err := l.MarkNeverPlaced(ctx, raced.Key(), "merchant", seen); err != nil || res.Outcome != Refused || res.Order.Closed() {
		t.Fatalf("answered since: %v %v", res.Outcome, err)
	}
	// MarkClosed (a close WeChat Pay carried out) closes it whatever was placed.
	if res, err := l.MarkClosed(ctx, raced.Key(), "merchant"); err != nil || res.Outcome != Applied {
		t.Fatalf("closed at WeChat Pay: %v %v", res.Outcome, err)
	}
}
