package payment

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// The cashier page's scene switch for a combine: the attempt left is parked with its
// sub-orders, the combine's pointer goes back and its sub-orders' pointers follow it
// back (an older move never overrides a newer one), CombinePrevious lists the attempts
// on both sides of the current one, a resume prepared before another park fails, a
// real close supersedes a parking, and a payment on a parked combine keeps every
// sub-order's money for REVIEW with a cause naming the switch.
func TestCombineSceneAttempts(t *testing.T) {
	ctx := context.Background()
	l, _ := newLedger(t)
	expires := now.Add(2 * time.Hour)
	c1 := combineOf(t, l, "CARTSC0001", 2)
	c2, err := l.createCombine(ctx, NewCombine{Owner: mch, AppID: "wxapp", OrderID: "CARTSC0001", Attempt: 2, Scene: "h5", SubOrders: c1.SubOrders})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.ReserveSubOrders(ctx, c2); err != nil {
		t.Fatal(err)
	}
	subAt := func(i int) string {
		t.Helper()
		h, err := l.Order(ctx, c1.SubOrders[i].SubMchID, c1.SubOrders[i].OrderID)
		if err != nil {
			t.Fatal(err)
		}
		return h.Current.OutTradeNo
	}
	// Desktop → phone: attempt 1 parked with its sub-orders, the pointers on 2.
	c1, out, err := l.ParkCombine(ctx, c1, expires)
	if err != nil || out != Applied || !c1.Parked() || !c1.Close.At.Equal(expires) {
		t.Fatalf("park: %+v %s %v", c1, out, err)
	}
	subs1, err := l.SubOrders(ctx, c1)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range subs1 {
		if !o.Parked() {
			t.Fatalf("sub-order %s of the parked combine: %+v", o.OutTradeNo, o.Close)
		}
	}
	h, err := l.Combine(ctx, mch, "CARTSC0001")
	if err != nil {
		t.Fatal(err)
	}
	first, err := l.PointCombine(ctx, h.First, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.PointSubOrders(ctx, c2); err != nil {
		t.Fatal(err)
	}
	if subAt(0) != "CARTSC0001-1_2" || subAt(1) != "CARTSC0001-2_2" {
		t.Fatalf("sub-orders at %s, %s after the switch to attempt 2", subAt(0), subAt(1))
	}

	// Phone → desktop: attempt 2 parked, the pointer back on 1, attempt 1 resumed (as
	// read before the pointer moved), its sub-orders' pointers back too.
	if subs1, err = l.SubOrders(ctx, c1); err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.ParkCombine(ctx, c2, expires); err != nil {
		t.Fatal(err)
	}
	if first, err = l.PointCombine(ctx, first, 2, 1); err != nil {
		t.Fatal(err)
	}
	if first.Current != 1 || first.NewestAttempt() != 2 {
		t.Fatalf("pointer back: current %d, newest %d", first.Current, first.NewestAttempt())
	}
	c1, err = l.ResumeCombine(ctx, first, subs1)
	if err != nil || c1.Parked() || c1.Close != nil {
		t.Fatalf("resume: %+v %v", c1, err)
	}
	if err := l.PointSubOrders(ctx, c1); err != nil {
		t.Fatal(err)
	}
	if subAt(0) != "CARTSC0001-1" || subAt(1) != "CARTSC0001-2" {
		t.Fatalf("sub-orders at %s, %s after switching back to attempt 1", subAt(0), subAt(1))
	}
	if subs1, err = l.SubOrders(ctx, c1); err != nil {
		t.Fatal(err)
	}
	for _, o := range subs1 {
		if o.Close != nil {
			t.Fatalf("sub-order %s of the resumed combine: %+v", o.OutTradeNo, o.Close)
		}
	}
	// The older move (to attempt 2) finished late changes nothing.
	if err := l.PointSubOrders(ctx, c2); err != nil || subAt(0) != "CARTSC0001-1" {
		t.Fatalf("a late move to attempt 2: sub-order at %s (%v)", subAt(0), err)
	}
	h, err = l.Combine(ctx, mch, "CARTSC0001")
	if err != nil || h.Current.CombineNo != "CARTSC0001" {
		t.Fatalf("combine after switching back: %+v %v", h, err)
	}
	if err := l.CombinePrevious(ctx, h); err != nil || len(h.Previous) != 1 || h.Previous[0].CombineNo != "CARTSC0001_2" || !h.Previous[0].Parked() {
		t.Fatalf("previous after switching back: %+v %v", h.Previous, err)
	}

	// A resume prepared before another switch parked the combine again fails: parking
	// writes every time, so the versions moved though it was parked already.
	parked, _, err := l.ParkCombine(ctx, h.Current, expires)
	if err != nil {
		t.Fatal(err)
	}
	parkedSubs, err := l.SubOrders(ctx, parked)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.ParkCombine(ctx, parked, expires); err != nil {
		t.Fatal(err)
	}
	if _, err := l.ResumeCombine(ctx, parked, parkedSubs); !errors.Is(err, ErrRaced) {
		t.Fatalf("stale resume: %v, want ErrRaced", err)
	}
	// Each sub-order's resume is conditioned on its own version: the combine record read
	// afresh, its sub-orders as read before the second park, they stay parked (the next
	// create resumes what is left).
	fresh, err := l.CombineAttempt(ctx, mch, "CARTSC0001")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.ResumeCombine(ctx, fresh, parkedSubs); !errors.Is(err, ErrRaced) {
		t.Fatalf("resume with stale sub-orders: %v, want ErrRaced", err)
	}
	if now, _ := l.SubOrders(ctx, fresh); !now[0].Parked() {
		t.Fatalf("sub-order %s resumed from a stale read: %+v", now[0].OutTradeNo, now[0].Close)
	}

	// The phone's page, still open, pays attempt 2 (parked): every sub-order's money is
	// kept, in REVIEW, the cause naming the switch.
	res, err := l.ApplyCombine(ctx, combinePaid(c2), "notify")
	if err != nil || res.Paid || len(res.Results) != 2 {
		t.Fatalf("payment of the parked combine: %+v %v", res, err)
	}
	subs2, err := l.SubOrders(ctx, c2)
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range subs2 {
		c := o.Review.First()
		if res.Results[i].Outcome != Review || !o.InReview() || c == nil || c.Kind != CausePaidAfterCloseRequested ||
			!strings.Contains(c.Detail, "another scene") || len(o.Conflicts) != 1 || o.Conflicts[0].Amount != o.Amount {
			t.Fatalf("sub-order %s paid while parked: outcome %s, cause %+v, kept %+v", o.OutTradeNo, res.Results[i].Outcome, c, o.Conflicts)
		}
	}
	// A parked combine cannot be parked again once a sub-order is in review; a real close
	// supersedes the parking of attempt 1.
	if _, out, err := l.ParkCombine(ctx, c2, expires); err != nil || out != Refused {
		t.Fatalf("parking a paid combine: %s %v", out, err)
	}
	h, _ = l.Combine(ctx, mch, "CARTSC0001")
	closing, _, err := l.RequestCombineClose(ctx, h.Current, now.Add(5*time.Minute), "merchant")
	if err != nil || closing.Parked() || closing.Close == nil || closing.Close.By != "merchant" {
		t.Fatalf("close of a parked combine: %+v %v", closing, err)
	}
	if subs1, err = l.SubOrders(ctx, closing); err != nil {
		t.Fatal(err)
	}
	for _, o := range subs1 {
		if o.Parked() || o.Close == nil || o.Close.By != "merchant" {
			t.Fatalf("sub-order %s after the close: %+v", o.OutTradeNo, o.Close)
		}
	}
}
