package payment

import (
	"context"
	"testing"
	"time"

	"github.com/paysls/wxpay/shared/wechatpay"
)

// A return WeChat Pay answers otherwise than asked is followed as a split is
// (TestSharingContradictedSplitNoLongerFollowed, reconcile): still queried after the
// first contradicting answer, no longer once the same final answer came again, or —
// an answer not final — once a person resolved the review. The answers stay kept.
func TestContradictedReturnNoLongerFollowed(t *testing.T) {
	l, clk := sharingLedger(t)
	ctx := context.Background()
	returning := func(no string) string {
		t.Helper()
		o := sharedPaid(t, l, no, 1000, commissionPlan(3000))
		*clk = now.Add(2 * time.Minute)
		o, sp, err := l.ReserveSplit(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := l.ApplySplit(ctx, o, sp.OutOrderNo, ShareResult{State: wechatpay.ShareFinished,
			Receivers: []SplitReceiver{{Type: wechatpay.ReceiverMerchant, Account: "1900000002", Amount: 300, Result: wechatpay.ShareResultSuccess}}}); err != nil {
			t.Fatal(err)
		}
		if _, err := l.RequestRefund(ctx, attempt(t, l, no), RefundRequest{OutRefundNo: "RF" + no, Amount: 800}); err != nil {
			t.Fatal(err)
		}
		_, rets, err := l.ReserveReturns(ctx, attempt(t, l, no))
		if err != nil || len(rets) != 1 {
			t.Fatalf("returns of %s: %+v %v", no, rets, err)
		}
		return rets[0].OutReturnNo
	}
	answer := func(o *Order, no string, res ReturnResult) *Order {
		t.Helper()
		got, out, err := l.ApplyReturn(ctx, o, no, res)
		if err != nil || out != Review {
			t.Fatalf("%v %v: want the answer kept for review", out, err)
		}
		return got
	}

	no := returning("RCFINAL001")
	final := ReturnResult{ReturnID: "3008RC1", Result: wechatpay.ReturnSuccess, Amount: 150, ReturnMchID: "1900000002"}
	o := answer(attempt(t, l, "RCFINAL001"), no, final)
	if act, _ := o.NextShare(*clk); act != ActQueryReturn {
		t.Fatalf("after the first contradicting answer: %s, want it queried again", act)
	}
	o = answer(o, no, final)
	if act, _ := o.NextShare(*clk); act != ActNone || len(o.Conflicts) != 1 || !o.InReview() {
		t.Fatalf("after the same final answer again: %s, kept %d, review %v", act, len(o.Conflicts), o.InReview())
	}

	no = returning("RCRESOLV01")
	o = answer(attempt(t, l, "RCRESOLV01"), no, ReturnResult{ReturnID: "3008RC2", Result: wechatpay.ReturnProcessing, Amount: 150, ReturnMchID: "1900000002"})
	o = answer(o, no, ReturnResult{ReturnID: "3008RC2", Result: wechatpay.ReturnProcessing, Amount: 150, ReturnMchID: "1900000002"})
	if act, _ := o.NextShare(*clk); act != ActQueryReturn {
		t.Fatalf("a PROCESSING answer in review: %s, want it followed", act)
	}
	r, err := l.ResolveReview(ctx, o.Key(), "ops", "checked")
	if err != nil || r.Outcome != Applied {
		t.Fatalf("resolve: %v %v", r.Outcome, err)
	}
	if act, _ := r.Order.NextShare(*clk); act != ActNone || len(r.Order.Conflicts) != 1 {
		t.Fatalf("after the review was resolved: %s, kept %d", act, len(r.Order.Conflicts))
	}
}
