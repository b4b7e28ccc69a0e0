package payment

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// The cashier page's scene switch: the attempt left is parked (a close owed at its
// expiry), the pointer goes back to an earlier attempt and Newest remembers the
// highest, Previous lists the attempts on both sides of the current one, a resume
// prepared before another park fails, a real close supersedes a parking, and a payment
// on a parked attempt is kept for REVIEW with a cause naming the switch.
func TestSceneAttempts(t *testing.T) {
	ctx := context.Background()
	l, lg := newLedger(t)
	expires := now.Add(2 * time.Hour)
	first, err := l.CreateOrder(ctx, NewOrder{MchID: mch, AppID: "wxapp", OrderID: "SCENE0001", Amount: 100, Scene: "native", ExpiresAt: expires})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.CreateOrder(ctx, NewOrder{MchID: mch, AppID: "wxapp", OrderID: "SCENE0001", Attempt: 2, Amount: 100, Scene: "h5", ExpiresAt: expires}); err != nil {
		t.Fatal(err)
	}
	// Desktop → phone: attempt 1 parked, the pointer on 2.
	res, err := l.Park(ctx, first.Key(), expires)
	if err != nil || res.Outcome != Applied || !res.Order.Parked() || !res.Order.Close.At.Equal(expires) {
		t.Fatalf("park: %+v %v", res, err)
	}
	first = res.Order
	if first, err = l.PointTo(ctx, first, 1, 2); err != nil {
		t.Fatal(err)
	}
	// Phone → desktop: attempt 2 parked, the pointer back on 1, attempt 1 resumed.
	if _, err := l.Park(ctx, OrderKey(mch, "SCENE0001_2"), expires); err != nil {
		t.Fatal(err)
	}
	if first, err = l.PointTo(ctx, first, 2, 1); err != nil {
		t.Fatal(err)
	}
	if first.Current != 1 || first.NewestAttempt() != 2 {
		t.Fatalf("pointer back: current %d, newest %d", first.Current, first.NewestAttempt())
	}
	if first, err = l.Resume(ctx, first); err != nil || first.Close != nil || first.Parked() {
		t.Fatalf("resume: %+v %v", first, err)
	}
	h, err := l.Order(ctx, mch, "SCENE0001")
	if err != nil || h.Current.OutTradeNo != "SCENE0001" {
		t.Fatalf("order after switching back: %+v %v", h, err)
	}
	if err := l.Previous(ctx, h); err != nil || len(h.Previous) != 1 || h.Previous[0].OutTradeNo != "SCENE0001_2" || !h.Previous[0].Parked() {
		t.Fatalf("previous after switching back: %+v %v", h.Previous, err)
	}

	// A resume prepared before another switch parked the attempt fails; parking writes
	// every time, so its version moved even though it was parked already.
	a2 := attempt(t, l, "SCENE0001_2")
	if _, err := l.Park(ctx, a2.Key(), expires); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Resume(ctx, a2); !errors.Is(err, ErrRaced) {
		t.Fatalf("resume of a stale read: %v, want ErrRaced", err)
	}

	// A payment on the parked attempt is kept for REVIEW, loudly, naming the switch.
	r := apply(t, l, paid("SCENE0001_2", "4200000001", 100), Review)
	if r.Cause == nil || r.Cause.Kind != CausePaidAfterCloseRequested || !strings.Contains(r.Cause.Detail, "another scene") || lg.loud() != 1 {
		t.Fatalf("payment on a parked attempt: %+v (loud %d)", r.Cause, lg.loud())
	}
	if a2 = attempt(t, l, "SCENE0001_2"); a2.Parked() {
		t.Fatal("an attempt in REVIEW still reads as parked")
	}
	if _, err := l.Resume(ctx, a2); !errors.Is(err, ErrRaced) {
		t.Fatalf("resume of a paid attempt: %v", err)
	}

	// A real close supersedes a parking; a parking does not replace a real close.
	o3, err := l.CreateOrder(ctx, NewOrder{MchID: mch, AppID: "wxapp", OrderID: "SCENE0002", Amount: 100, Scene: "native", ExpiresAt: expires})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Park(ctx, o3.Key(), expires); err != nil {
		t.Fatal(err)
	}
	soon := now.Add(5 * time.Minute)
	if res, err := l.RequestClose(ctx, o3.Key(), soon, "reprice"); err != nil || res.Outcome != Applied || res.Order.Parked() || !res.Order.Close.At.Equal(soon) {
		t.Fatalf("close of a parked attempt: %+v %v", res, err)
	}
	if res, err := l.Park(ctx, o3.Key(), expires); err != nil || res.Outcome != Duplicate {
		t.Fatalf("parking a closing attempt: %+v %v", res, err)
	}
	if o3 = attempt(t, l, "SCENE0002"); o3.Close.By != "reprice" || !o3.Close.At.Equal(soon) {
		t.Fatalf("the real close was replaced: %+v", o3.Close)
	}
	if _, err := l.Resume(ctx, o3); !errors.Is(err, ErrRaced) {
		t.Fatalf("resume withdrew a real close: %v", err)
	}
}
