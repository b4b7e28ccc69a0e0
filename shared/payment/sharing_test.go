package payment

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/paysls/wxpay/internal/storetest"
	"github.com/paysls/wxpay/shared/events"

	"github.com/paysls/wxpay/shared/wechatpay"
)

// sharingLedger is a ledger on a clock the test moves.
func sharingLedger(t *testing.T) (*Ledger, *time.Time) {
	t.Helper()
	l, _ := newLedger(t)
	clk := now
	l.Now = func() time.Time { return clk }
	return l, &clk
}

func commissionPlan(rate int64) *Sharing {
	return &Sharing{API: ShareAPIEcommerce, Planned: true,
		Receivers: []ShareReceiver{{Type: wechatpay.ReceiverMerchant, Account: "1900000002", Rate: rate, Description: "佣金"}}}
}

// sharedPaid is an order placed for sharing with plan and paid (success_time = now).
func sharedPaid(t *testing.T, l *Ledger, no string, amount int64, plan *Sharing) *Order {
	t.Helper()
	if _, err := l.CreateOrder(context.Background(), NewOrder{MchID: mch, AppID: "wxapp", OrderID: no, Amount: amount, Scene: "native", Sharing: plan}); err != nil {
		t.Fatal(err)
	}
	apply(t, l, paid(no, "42"+no, amount), Applied)
	return attempt(t, l, no)
}

func TestShareNumbers(t *testing.T) {
	for _, no := range []string{"ORDER0001", "a-b_c|d*e", "X_2"} {
		for _, kind := range []string{NoSplit, noReturn, noFinish, noSubsidy, noSubsidyReturn} {
			n := 3
			if kind == noFinish || kind == noSubsidy {
				n = 0
			}
			s := ShareNo(no, kind, n)
			if err := wechatpay.ValidateShareNo("out_order_no", s); err != nil {
				t.Fatalf("%s: %v", s, err)
			}
			got, k, ok := ParseShareNo(s)
			if !ok || got != no || k != kind {
				t.Fatalf("%s → %q %q %v", s, got, k, ok)
			}
		}
	}
	for _, bad := range []string{"ORDER0001", "@S1", "X@Q1", "X@Sx"} {
		if _, _, ok := ParseShareNo(bad); ok {
			t.Fatalf("%q parsed", bad)
		}
	}
}

// Bad plans are refused with ErrInvalid: shares above the order, a rate and an amount
// together, an unknown receiver type, a service provider's type on a platform, a
// receiver twice, more than 50.
func TestValidatePlan(t *testing.T) {
	r := func(typ string, amount, rate int64) ShareReceiver {
		return ShareReceiver{Type: typ, Account: "1900000002", Amount: amount, Rate: rate, Description: "d"}
	}
	many := make([]ShareReceiver, 51)
	for i := range many {
		many[i] = ShareReceiver{Type: wechatpay.ReceiverMerchant, Account: "19" + string(rune('A'+i%26)) + string(rune('a'+i/26)), Amount: 1, Description: "d"}
	}
	for name, rs := range map[string][]ShareReceiver{
		"above the order":       {r(wechatpay.ReceiverMerchant, 1001, 0)},
		"rates above the order": {r(wechatpay.ReceiverMerchant, 0, 6000), {Type: wechatpay.ReceiverMerchant, Account: "1900000003", Rate: 5000, Description: "d"}},
		"amount and rate":       {r(wechatpay.ReceiverMerchant, 10, 100)},
		"unknown type":          {r("WALLET", 10, 0)},
		"partner type":          {r(wechatpay.ReceiverPersonalSubOpenID, 10, 0)},
		"twice":                 {r(wechatpay.ReceiverMerchant, 10, 0), r(wechatpay.ReceiverMerchant, 20, 0)},
		"neither":               {r(wechatpay.ReceiverMerchant, 0, 0)},
		"more than 50":          many,
	} {
		if err := ValidatePlan(ShareAPIEcommerce, rs, 1000, 0); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := ValidatePlan(ShareAPIEcommerce, []ShareReceiver{r(wechatpay.ReceiverMerchant, 1050, 0)}, 1000, 50); err != nil {
		t.Errorf("a subsidy is the order's to share: %v", err)
	}
}

// A split waits a minute after payment (and its hold, which a settle ends); a settle
// is refused for an order not shared, closed, unpaid or in review, and a replay of it
// writes nothing.
func TestSettleAndSchedule(t *testing.T) {
	l, clk := sharingLedger(t)
	ctx := context.Background()
	plan := commissionPlan(500)
	plan.HoldUntil = now.Add(72 * time.Hour)
	o := sharedPaid(t, l, "SETTLE0001", 1000, plan)
	if act, at := o.NextShare(now); act != ActSplit || !at.Equal(plan.HoldUntil) {
		t.Fatalf("held: %s at %v", act, at)
	}
	cs := &storetest.Counting{Store: l.Store}
	l.Store = cs
	res, err := l.Settle(ctx, o, SettleRequest{})
	if err != nil || cs.Writes.Load() != 1 || cs.Reads.Load() != 0 {
		t.Fatalf("settle: %v (%d reads, %d writes)", err, cs.Reads.Load(), cs.Writes.Load())
	}
	if act, at := res.Order.NextShare(now); act != ActSplit || !at.Equal(now.Add(wechatpay.ShareNotBefore)) {
		t.Fatalf("settled: %s at %v, want a minute after payment", act, at)
	}
	if r, err := l.Settle(ctx, res.Order, SettleRequest{}); err != nil || r.Outcome != Duplicate || cs.Writes.Load() != 1 {
		t.Fatalf("replay: %v %v", r.Outcome, err)
	}

	plain := order(t, l, "PLAIN00001", 1000)
	if _, err := l.Settle(ctx, plain, SettleRequest{}); !errors.Is(err, ErrNotShared) {
		t.Fatalf("not shared: %v", err)
	}
	if _, err := l.CreateOrder(ctx, NewOrder{MchID: mch, AppID: "wxapp", OrderID: "UNPAID0001", Amount: 1000, Scene: "native", Sharing: commissionPlan(100)}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Settle(ctx, attempt(t, l, "UNPAID0001"), SettleRequest{}); !errors.Is(err, ErrNotPaid) {
		t.Fatalf("unpaid: %v", err)
	}
	if _, err := l.MarkClosed(ctx, OrderKey(mch, "UNPAID0001"), "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Settle(ctx, attempt(t, l, "UNPAID0001"), SettleRequest{}); !errors.Is(err, ErrOrderClosed) {
		t.Fatalf("closed: %v", err)
	}
	rv := sharedPaid(t, l, "REVIEW0001", 1000, commissionPlan(100))
	apply(t, l, paid("REVIEW0001", "43REVIEW", 1000), Review) // a second payment
	if _, err := l.Settle(ctx, attempt(t, l, rv.OutTradeNo), SettleRequest{}); !errors.Is(err, ErrInReview) {
		t.Fatalf("review: %v", err)
	}
	if act, _ := attempt(t, l, rv.OutTradeNo).NextShare(*clk); act != ActNone {
		t.Fatalf("a split due for an order in review: %s", act)
	}
	later := sharedPaid(t, l, "LATER00001", 1000, &Sharing{API: ShareAPIEcommerce})
	if _, err := l.Settle(ctx, later, SettleRequest{}); !errors.Is(err, ErrNoPlan) {
		t.Fatalf("receivers decided later, none given: %v", err)
	}
}

// The bound: a split that would take the shares above what the order holds after its
// refunds is recorded FAILED and never sent; a refund that would leave the shares above
// it is held until returns; one within it is not.
func TestSharesBoundedByWhatTheOrderHolds(t *testing.T) {
	l, clk := sharingLedger(t)
	ctx := context.Background()
	plan := &Sharing{API: ShareAPIEcommerce, Planned: true,
		Receivers: []ShareReceiver{{Type: wechatpay.ReceiverMerchant, Account: "1900000002", Amount: 600, Description: "d"}}}
	o := sharedPaid(t, l, "BOUND00001", 1000, plan)
	if _, err := l.RequestRefund(ctx, o, RefundRequest{OutRefundNo: "RFBOUND01", Amount: 500}); err != nil {
		t.Fatal(err)
	}
	*clk = now.Add(2 * time.Minute)
	o, sp, err := l.ReserveSplit(ctx, attempt(t, l, "BOUND00001"))
	if err != nil || sp == nil || sp.State != ShareFailed || o.Sharing.Problem == "" || eventTypes(o.Record()) != "order.paid,"+EventShareFailed {
		t.Fatalf("split above the remainder: %+v %v events %s", sp, err, eventTypes(o.Record()))
	}

	o = sharedPaid(t, l, "BOUND00002", 1000, commissionPlan(3000))
	o, sp, err = l.ReserveSplit(ctx, o)
	if err != nil || sp.State != SharePending || sp.Receivers[0].Amount != 300 {
		t.Fatalf("reserve: %+v %v", sp, err)
	}
	// A refund while the split is in flight waits for its result.
	rf, err := l.RequestRefund(ctx, o, RefundRequest{OutRefundNo: "RFBOUND02", Amount: 100})
	if err != nil || rf.Held == "" {
		t.Fatalf("refund during a split: %+v %v", rf, err)
	}
	o = attempt(t, l, "BOUND00002")
	o, _, err = l.ApplySplit(ctx, o, sp.OutOrderNo, ShareResult{State: wechatpay.ShareFinished,
		Receivers: []SplitReceiver{{Type: wechatpay.ReceiverMerchant, Account: "1900000002", Amount: 300, Result: wechatpay.ShareResultSuccess}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := o.ReleasableRefunds(); len(got) != 1 {
		t.Fatalf("a refund within the bound waits after the split: %+v", o.Sharing)
	}
	if _, err := l.ReleaseHeldRefund(ctx, o, "RFBOUND02"); err != nil {
		t.Fatal(err)
	}
	// 900 left, 300 shared: a refund of 800 leaves 100 < 300 — held, 200 to return.
	o = attempt(t, l, "BOUND00002")
	rf, err = l.RequestRefund(ctx, o, RefundRequest{OutRefundNo: "RFBOUND03", Amount: 800})
	if err != nil || rf.Held == "" || !rf.NextCheck.IsZero() {
		t.Fatalf("refund above the bound: %+v %v", rf, err)
	}
	o, rets, err := l.ReserveReturns(ctx, attempt(t, l, "BOUND00002"))
	if err != nil || len(rets) != 1 || rets[0].Amount != 200 || rets[0].Refund != "RFBOUND03" {
		t.Fatalf("returns: %+v %v", rets, err)
	}
	if o.SharedOut() > o.Holds() {
		t.Fatalf("bound broken while held: %d > %d", o.SharedOut(), o.Holds())
	}
	o, _, err = l.ApplyReturn(ctx, o, rets[0].OutReturnNo, ReturnResult{Result: wechatpay.ReturnSuccess, Amount: 200})
	if err != nil || len(o.ReleasableRefunds()) != 1 {
		t.Fatalf("after the return: %+v %v", o.Sharing, err)
	}
	o, err = l.ReleaseHeldRefund(ctx, o, "RFBOUND03")
	if err != nil || len(o.Sharing.Held) != 0 || o.SharedOut() != 100 || o.Holds() != 100 {
		t.Fatalf("released: %+v %v", o.Sharing, err)
	}
	if rf, _ := l.Refund(ctx, mch, "RFBOUND03"); rf.Held != "" || rf.NextCheck.IsZero() {
		t.Fatalf("refund record after release: %+v", rf)
	}
}

// A split that finished with a share closed (the receiver's account invalid) stops the
// order until the merchant gives a plan again: an empty one finishes it (everything
// released to the sub-merchant), another one splits again from the next split.
func TestReplanAfterAClosedShare(t *testing.T) {
	l, clk := sharingLedger(t)
	ctx := context.Background()
	o := sharedPaid(t, l, "REPLAN0001", 1000, commissionPlan(1000))
	*clk = now.Add(2 * time.Minute)
	o, sp, err := l.ReserveSplit(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	o, _, err = l.ApplySplit(ctx, o, sp.OutOrderNo, ShareResult{State: wechatpay.ShareFinished,
		Receivers: []SplitReceiver{{Account: "1900000002", Amount: 100, Result: wechatpay.ShareResultClosed, FailReason: wechatpay.ShareFailAccountAbnormal}}})
	if err != nil || o.Sharing.Problem == "" {
		t.Fatalf("closed share: %+v %v", o.Sharing, err)
	}
	if act, _ := o.NextShare(*clk); act != ActNone {
		t.Fatalf("after a closed share: %s, want a person", act)
	}
	if ev := eventTypes(o.Record()); ev != "order.paid,"+EventShareFailed {
		t.Fatalf("events %s", ev)
	}
	res, err := l.Settle(ctx, o, SettleRequest{Plan: true, Receivers: commissionPlan(500).Receivers})
	if err != nil {
		t.Fatal(err)
	}
	if act, _ := res.Order.NextShare(*clk); act != ActSplit {
		t.Fatalf("a new plan: %s, want a split", act)
	}
	res, err = l.Settle(ctx, res.Order, SettleRequest{Plan: true})
	if err != nil {
		t.Fatal(err)
	}
	if act, _ := res.Order.NextShare(*clk); act != ActFinish {
		t.Fatalf("an empty plan: %s, want the finish", act)
	}
}

// An order put in REVIEW with sharing in flight still follows what it had asked WeChat
// Pay for — its schedule stays the sharing one (before the review listing), Reviews
// still lists it, NextShare names only queries — but asks for nothing new: a reserved
// split WeChat Pay never received is withdrawn (FAILED, announced once), not sent, and
// no return is reserved for a held refund while the review is open.
func TestSharingInReviewFollowsWhatWasAsked(t *testing.T) {
	l, clk := sharingLedger(t)
	ctx := context.Background()
	*clk = now.Add(2 * time.Minute)
	o := sharedPaid(t, l, "INREVIEW01", 1000, commissionPlan(1000))
	o, sp, err := l.ReserveSplit(ctx, o)
	if err != nil || sp == nil || sp.State != SharePending {
		t.Fatalf("reserve: %+v %v", sp, err)
	}
	apply(t, l, paid("INREVIEW01", "43INREVIEW", 1000), Review) // a second payment
	o = attempt(t, l, "INREVIEW01")
	if act, _ := o.NextShare(*clk); act != ActQuerySplit {
		t.Fatalf("in review with a split reserved: %q, want its query", act)
	}
	if got := o.Record().Attrs[events.AttrSchedIndex]; got != PendingShares {
		t.Fatalf("in review with a split reserved, scheduled in %q, want %q", got, PendingShares)
	}
	listed := 0
	if err := l.Reviews(ctx, func(it ReviewItem) error {
		if it.Order != nil && it.Order.OutTradeNo == "INREVIEW01" {
			listed++
		}
		return nil
	}); err != nil || listed != 1 {
		t.Fatalf("Reviews listed the order %d times (%v), want once", listed, err)
	}
	if _, line, err := l.ReserveSplit(ctx, o); err != nil || line == nil || line.OutOrderNo != sp.OutOrderNo || len(attempt(t, l, "INREVIEW01").Sharing.Splits) != 1 {
		t.Fatalf("a second split reserved in review: %+v %v", line, err)
	}

	o, err = l.WithdrawShare(ctx, o, sp.OutOrderNo)
	if err != nil {
		t.Fatal(err)
	}
	if got := o.Sharing.Splits[0]; got.State != ShareFailed || o.Sharing.Problem == "" {
		t.Fatalf("withdrawn split: %+v, problem %q", got, o.Sharing.Problem)
	}
	if got := eventTypes(o.Record()); strings.Count(got, EventShareFailed) != 1 {
		t.Fatalf("events %s: want the split's failure once", got)
	}
	if act, _ := o.NextShare(*clk); act != ActNone || o.Record().Attrs[events.AttrSchedIndex] != indexReview {
		t.Fatalf("after the withdrawal: %q, scheduled in %q", act, o.Record().Attrs[events.AttrSchedIndex])
	}
	if again, err := l.WithdrawShare(ctx, o, sp.OutOrderNo); err != nil || again.Record().Version != o.Record().Version {
		t.Fatalf("withdrawn twice: %v", err)
	}

	// Outside REVIEW a reserved split is asked again, never withdrawn.
	o = sharedPaid(t, l, "NOREVIEW01", 1000, commissionPlan(1000))
	o, sp, err = l.ReserveSplit(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if o, err = l.WithdrawShare(ctx, o, sp.OutOrderNo); err != nil || o.Sharing.Splits[0].State != SharePending {
		t.Fatalf("withdrawn outside review: %+v %v", o.Sharing.Splits[0], err)
	}

	// A held refund's returns are not reserved while the order is in REVIEW.
	o, _, err = l.ApplySplit(ctx, o, sp.OutOrderNo, ShareResult{State: wechatpay.ShareFinished,
		Receivers: []SplitReceiver{{Type: wechatpay.ReceiverMerchant, Account: "1900000002", Amount: 100, Result: wechatpay.ShareResultSuccess}}})
	if err != nil {
		t.Fatal(err)
	}
	if rf, err := l.RequestRefund(ctx, o, RefundRequest{OutRefundNo: "RFNOREV01", Amount: 1000}); err != nil || rf.Held == "" {
		t.Fatalf("full refund of a split order: %+v %v", rf, err)
	}
	apply(t, l, paid("NOREVIEW01", "43NOREVIEW", 1000), Review)
	o, rets, err := l.ReserveReturns(ctx, attempt(t, l, "NOREVIEW01"))
	if err != nil || len(rets) != 0 || len(o.Sharing.Returns) != 0 {
		t.Fatalf("returns reserved in review: %+v %v", rets, err)
	}
	if act, _ := o.NextShare(*clk); act != ActNone {
		t.Fatalf("in review with a refund held: %q, want nothing", act)
	}
}

// A subsidy (补差), its cancel or a subsidy return asked before the order went to
// REVIEW is still followed there (asked again as it was: WeChat Pay charges the same
// request once), and the order stays on the sharing schedule until it is answered;
// nothing new is asked meanwhile.
func TestSubsidyInReviewIsFollowed(t *testing.T) {
	l, clk := sharingLedger(t)
	ctx := context.Background()
	*clk = now.Add(2 * time.Minute)
	subsidised := func(no string) *Order {
		plan := commissionPlan(1000)
		plan.SubsidyAmount = 300
		return sharedPaid(t, l, no, 1000, plan)
	}
	o := subsidised("SUBINREV01")
	o, sub, err := l.RequestSubsidy(ctx, o, 300, "", "")
	if err != nil || sub.State != SharePending {
		t.Fatalf("subsidy: %+v %v", sub, err)
	}
	apply(t, l, paid("SUBINREV01", "43SUBINREV", 1000), Review) // a second payment
	o = attempt(t, l, "SUBINREV01")
	if act, _ := o.NextShare(*clk); act != ActSubsidy || o.Record().Attrs[events.AttrSchedIndex] != PendingShares {
		t.Fatalf("in review with a subsidy pending: %q, scheduled in %q", act, o.Record().Attrs[events.AttrSchedIndex])
	}
	if _, _, err := l.RequestSubsidy(ctx, o, 200, "", ""); err == nil {
		t.Fatal("another subsidy asked in review")
	}
	o, err = l.ApplySubsidy(ctx, o, "", SubsidyAnswer{ID: "30SUB", Result: wechatpay.SubsidySuccess, Amount: 300})
	if err != nil || o.Sharing.Subsidy.State != wechatpay.SubsidySuccess {
		t.Fatalf("answer: %+v %v", o.Sharing.Subsidy, err)
	}
	if act, _ := o.NextShare(*clk); act != ActNone || o.Record().Attrs[events.AttrSchedIndex] != indexReview {
		t.Fatalf("after the subsidy, in review: %q, scheduled in %q (nothing new: no split)", act, o.Record().Attrs[events.AttrSchedIndex])
	}

	c := subsidised("SUBCANCEL1")
	if c, err = l.RequestSubsidyCancel(ctx, c, ""); err != nil {
		t.Fatal(err)
	}
	apply(t, l, paid("SUBCANCEL1", "43SUBCANCE", 1000), Review)
	if act, _ := attempt(t, l, "SUBCANCEL1").NextShare(*clk); act != ActSubsidyCancel {
		t.Fatalf("in review with a cancel pending: %q", act)
	}
}
