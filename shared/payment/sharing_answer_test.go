package payment

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/paysls/wxpay/shared/wechatpay"
)

// WeChat Pay's answer about a split (a create's or a query's, as reconcile applies
// them) is judged against what the split asked, as a notification is: another amount,
// another receiver, or a final result that contradicts one here is kept whole on the
// order, in REVIEW (share_result_contradicts), loud once; the same answer again keeps
// nothing new but puts the next query off. Before, such receivers were passed over
// and the split stayed PROCESSING here while WeChat Pay had moved other money.
func TestSplitAnswerContradictingTheAskIsReviewed(t *testing.T) {
	l, clk := sharingLedger(t)
	var lg logs
	l.Log = slog.New(slog.NewJSONHandler(&lg, nil))
	ctx := context.Background()
	// inFlight is an order of 1000 whose split of 10% (100 fen to 1900000002) is asked.
	inFlight := func(no string) string {
		o := sharedPaid(t, l, no, 1000, commissionPlan(1000))
		*clk = now.Add(2 * time.Minute)
		_, sp, err := l.ReserveSplit(ctx, o)
		if err != nil || sp.State != SharePending {
			t.Fatalf("reserve %s: %+v %v", no, sp, err)
		}
		return sp.OutOrderNo
	}
	answer := func(account string, amount int64, result string) ShareResult {
		return ShareResult{OrderID: "3008ANSWER", State: wechatpay.ShareFinished, Receivers: []SplitReceiver{
			{Type: wechatpay.ReceiverMerchant, Account: account, Amount: amount, Result: result, FinishTime: "2026-11-23T18:05:00+08:00"}}}
	}
	// A split of two shares, one SUCCESS here by its notification while the other is
	// pending: then answered CLOSED for it.
	twoPlan := &Sharing{API: ShareAPIEcommerce, Planned: true, Receivers: []ShareReceiver{
		{Type: wechatpay.ReceiverMerchant, Account: "1900000002", Amount: 100, Description: "a"},
		{Type: wechatpay.ReceiverMerchant, Account: "1900000003", Amount: 50, Description: "b"}}}
	o := sharedPaid(t, l, "SAFINAL001", 1000, twoPlan)
	*clk = now.Add(2 * time.Minute)
	_, sp, err := l.ReserveSplit(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := l.ApplyShareNotice(ctx, splitNotice("SAFINAL001", sp.OutOrderNo, "1900000002", 100), "notify"); err != nil || res.Outcome != Applied {
		t.Fatalf("notice of one share: %v %v", res.Outcome, err)
	}

	for _, c := range []struct {
		name, no, outOrderNo string
		res                  ShareResult
		detail               string
	}{
		{"another amount", "SAAMOUNT01", inFlight("SAAMOUNT01"), answer("1900000002", 140, wechatpay.ShareResultSuccess), "asked for [100] fen"},
		{"another receiver", "SARECV0001", inFlight("SARECV0001"), answer("1900000099", 100, wechatpay.ShareResultSuccess), "nothing to that receiver"},
		{"a receiver never asked besides", "SAEXTRA001", inFlight("SAEXTRA001"), ShareResult{State: wechatpay.ShareProcessing, Receivers: []SplitReceiver{
			{Type: wechatpay.ReceiverMerchant, Account: "1900000002", Amount: 100, Result: wechatpay.ShareResultPending},
			{Type: wechatpay.ReceiverMerchant, Account: "1900000077", Amount: 30, Result: wechatpay.ShareResultPending}}}, "nothing to that receiver"},
		{"closed, succeeded here", "SAFINAL001", sp.OutOrderNo, ShareResult{State: wechatpay.ShareFinished, Receivers: []SplitReceiver{
			{Type: wechatpay.ReceiverMerchant, Account: "1900000002", Amount: 100, Result: wechatpay.ShareResultClosed},
			{Type: wechatpay.ReceiverMerchant, Account: "1900000003", Amount: 50, Result: wechatpay.ShareResultSuccess}}}, "SUCCESS here"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := attempt(t, l, c.no)
			events := eventTypes(before.Record())
			got, out, err := l.ApplySplit(ctx, before, c.outOrderNo, c.res)
			if err != nil || out != Review || !got.InReview() {
				t.Fatalf("%v %v, in review %v: want REVIEW", out, err, got != nil && got.InReview())
			}
			cause := got.Review.First()
			if cause.Kind != CauseShareContradicts || !strings.Contains(cause.Detail, c.detail) || cause.Source != "reconcile" {
				t.Fatalf("cause %+v, want %s (%q)", cause, CauseShareContradicts, c.detail)
			}
			if eventTypes(got.Record()) != events+",order.review" {
				t.Fatalf("events %s (before: %s)", eventTypes(got.Record()), events)
			}
			k := got.Conflicts[len(got.Conflicts)-1]
			if k.Cause != CauseShareContradicts || !strings.Contains(string(k.Data), c.outOrderNo) || !strings.Contains(string(k.Data), c.res.Receivers[len(c.res.Receivers)-1].Account) {
				t.Fatalf("the answer is not kept whole: %+v %s", k, k.Data)
			}
			if got.paidTotal() != before.paidTotal() || got.Knows(k.TransactionID) && k.TransactionID != "" {
				t.Fatalf("the kept answer counts as a payment: paid %d, was %d", got.paidTotal(), before.paidTotal())
			}
			line := splitOf(got, c.outOrderNo)
			if line.State == wechatpay.ShareFinished || line.State == ShareFailed {
				t.Fatalf("the split was judged from a contradicting answer: %+v", line)
			}
			if act, at := got.NextShare(*clk); act != ActQuerySplit || !at.After(*clk) {
				t.Fatalf("next %s at %v: the split in flight is followed, later", act, at)
			}
			*clk = got.Sharing.RetryAt // the query due
			again, out, err := l.ApplySplit(ctx, got, c.outOrderNo, c.res)
			if err != nil || out != Review || len(again.Conflicts) != len(got.Conflicts) || len(again.Review.Causes) != len(got.Review.Causes) ||
				eventTypes(again.Record()) != eventTypes(got.Record()) || !again.Sharing.RetryAt.After(got.Sharing.RetryAt) {
				t.Fatalf("the same answer again: %v %v, conflicts %d→%d, next query %v→%v", out, err, len(got.Conflicts), len(again.Conflicts),
					got.Sharing.RetryAt, again.Sharing.RetryAt)
			}
		})
	}
	// The split asked, answered as asked: applied, no review.
	no := inFlight("SAMATCH001")
	got, out, err := l.ApplySplit(ctx, attempt(t, l, "SAMATCH001"), no, answer("1900000002", 100, wechatpay.ShareResultSuccess))
	if err != nil || out != Applied || got.InReview() || !strings.HasSuffix(eventTypes(got.Record()), EventShareSucceeded) {
		t.Fatalf("the split asked: %v %v, events %s", out, err, eventTypes(got.Record()))
	}
	if lg.loud() != 4 {
		t.Fatalf("%d alarms, want one per order put in review (4)", lg.loud())
	}
}

// An answer about a return is judged the same way: another amount, or money back from
// another receiver than the one asked, is kept for review; the return asked, answered
// as asked, applies.
func TestReturnAnswerContradictingTheAskIsReviewed(t *testing.T) {
	l, clk := sharingLedger(t)
	var lg logs
	l.Log = slog.New(slog.NewJSONHandler(&lg, nil))
	ctx := context.Background()
	// returning: an order of 1000 that split 300 to 1900000002, then was refunded 800:
	// 100 must come back from the receiver first (return 1, asked).
	returning := func(t *testing.T, no string) string {
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
		if err != nil || len(rets) != 1 || rets[0].Amount != 100 {
			t.Fatalf("returns of %s: %+v %v", no, rets, err)
		}
		return rets[0].OutReturnNo
	}
	for _, c := range []struct {
		name, no string
		res      ReturnResult
		detail   string
	}{
		{"another amount", "RAAMOUNT01", ReturnResult{ReturnID: "3008RA1", Result: wechatpay.ReturnSuccess, Amount: 150, ReturnMchID: "1900000002"}, "asked for 100 fen"},
		{"another receiver", "RARECV0001", ReturnResult{ReturnID: "3008RA2", Result: wechatpay.ReturnSuccess, Amount: 100, ReturnMchID: "1900000099"}, "from 1900000002"},
	} {
		t.Run(c.name, func(t *testing.T) {
			no := returning(t, c.no)
			got, out, err := l.ApplyReturn(ctx, attempt(t, l, c.no), no, c.res)
			if err != nil || out != Review || !got.InReview() {
				t.Fatalf("%v %v: want REVIEW", out, err)
			}
			if cause := got.Review.First(); cause.Kind != CauseShareContradicts || !strings.Contains(cause.Detail, c.detail) {
				t.Fatalf("cause %+v, want %q", cause, c.detail)
			}
			if k := got.Conflicts[len(got.Conflicts)-1]; !strings.Contains(string(k.Data), no) || !strings.Contains(string(k.Data), c.res.ReturnID) {
				t.Fatalf("the answer is not kept whole: %s", k.Data)
			}
			if rl := got.Sharing.Returns[0]; rl.State != SharePending && rl.State != wechatpay.ReturnProcessing {
				t.Fatalf("the return was judged from a contradicting answer: %+v", rl)
			}
			if act, _ := got.NextShare(*clk); act != ActQueryReturn {
				t.Fatalf("next %s: the return in flight is followed", act)
			}
		})
	}
	no := returning(t, "RAMATCH001")
	got, out, err := l.ApplyReturn(ctx, attempt(t, l, "RAMATCH001"), no, ReturnResult{ReturnID: "3008RA3", Result: wechatpay.ReturnSuccess, Amount: 100, ReturnMchID: "1900000002"})
	if err != nil || out != Applied || got.InReview() {
		t.Fatalf("the return asked: %v %v", out, err)
	}
	if lg.loud() != 2 {
		t.Fatalf("%d alarms, want 2", lg.loud())
	}
}

func splitOf(o *Order, no string) SplitLine {
	for _, sp := range o.Sharing.Splits {
		if sp.OutOrderNo == no {
			return sp
		}
	}
	return SplitLine{}
}
