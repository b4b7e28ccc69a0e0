package payment

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/paysls/wxpay/shared/wechatpay"
)

func splitNotice(no, outOrderNo, account string, amount int64) *wechatpay.ProfitSharingNotice {
	n := &wechatpay.ProfitSharingNotice{MchID: mch, TransactionID: "42" + no, OrderID: "3008" + no, OutOrderNo: outOrderNo,
		SuccessTime: "2026-11-23T18:05:00+08:00", Kind: "split"}
	n.Receiver.Type, n.Receiver.Account, n.Receiver.Amount, n.Receiver.Description = wechatpay.ReceiverMerchant, account, amount, "佣金"
	return n
}

// A genuine split notification the ledger cannot account for is kept on the order,
// which goes to REVIEW with a typed cause, loud once (one ERROR line, one
// order.review); the same notification again writes nothing. One that fits the split
// asked applies as before. These were all acknowledged as duplicates and dropped.
func TestSplitNoticeContradictingTheLedgerIsReviewed(t *testing.T) {
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
	held := commissionPlan(1000)
	held.HoldUntil = now.Add(7 * 24 * time.Hour)
	sharedPaid(t, l, "SNHELD0001", 1000, held)
	order(t, l, "SNPLAIN001", 1000)
	apply(t, l, paid("SNPLAIN001", "42SNPLAIN001", 1000), Applied)
	failed := sharedPaid(t, l, "SNFAIL0001", 1000, &Sharing{API: ShareAPIEcommerce, Planned: true,
		Receivers: []ShareReceiver{{Type: wechatpay.ReceiverMerchant, Account: "1900000002", Amount: 600, Description: "d"}}})
	if _, err := l.RequestRefund(ctx, failed, RefundRequest{OutRefundNo: "RFSNFAIL01", Amount: 500}); err != nil {
		t.Fatal(err)
	}
	*clk = now.Add(2 * time.Minute)
	if _, sp, err := l.ReserveSplit(ctx, attempt(t, l, "SNFAIL0001")); err != nil || sp.State != ShareFailed {
		t.Fatalf("a split above the remainder: %+v %v", sp, err)
	}
	closedNo := inFlight("SNCLOSED01")
	if _, _, err := l.ApplySplit(ctx, attempt(t, l, "SNCLOSED01"), closedNo, ShareResult{State: wechatpay.ShareFinished,
		Receivers: []SplitReceiver{{Account: "1900000002", Amount: 100, Result: wechatpay.ShareResultClosed, FailReason: wechatpay.ShareFailAccountAbnormal}}}); err != nil {
		t.Fatal(err)
	}
	otherTx := splitNotice("SNOTHERTX1", inFlight("SNOTHERTX1"), "1900000002", 100)
	otherTx.TransactionID = "4200000000OTHER"

	for _, c := range []struct {
		name, no string
		n        *wechatpay.ProfitSharingNotice
		want     CauseKind
		detail   string
	}{
		{"another amount", "SNAMOUNT01", splitNotice("SNAMOUNT01", inFlight("SNAMOUNT01"), "1900000002", 140), CauseShareContradicts, "asked for [100] fen"},
		{"another receiver", "SNRECV0001", splitNotice("SNRECV0001", inFlight("SNRECV0001"), "1900000099", 100), CauseShareContradicts, "nothing to that receiver"},
		{"held, never asked", "SNHELD0001", splitNotice("SNHELD0001", ShareNo("SNHELD0001", NoSplit, 1), "1900000002", 900), CauseShareNotAsked, "held until"},
		{"not placed for sharing", "SNPLAIN001", splitNotice("SNPLAIN001", ShareNo("SNPLAIN001", NoSplit, 1), "1900000002", 100), CauseShareNotAsked, "not placed for profit sharing"},
		{"failed here", "SNFAIL0001", splitNotice("SNFAIL0001", ShareNo("SNFAIL0001", NoSplit, 1), "1900000002", 600), CauseShareContradicts, "failed here"},
		{"closed here", "SNCLOSED01", splitNotice("SNCLOSED01", closedNo, "1900000002", 100), CauseShareContradicts, "closed here"},
		{"another transaction", "SNOTHERTX1", otherTx, CauseShareContradicts, "4200000000OTHER"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := eventTypes(attempt(t, l, c.no).Record())
			res, err := l.ApplyShareNotice(ctx, c.n, "notify")
			if err != nil || res.Outcome != Review || res.Cause == nil || res.Cause.Kind != c.want || !strings.Contains(res.Cause.Detail, c.detail) {
				t.Fatalf("%v %+v, want REVIEW %s (%q)", err, res, c.want, c.detail)
			}
			o := attempt(t, l, c.no)
			if !o.InReview() || eventTypes(o.Record()) != before+",order.review" {
				t.Fatalf("in review %v, events %s (before: %s)", o.InReview(), eventTypes(o.Record()), before)
			}
			k := o.Conflicts[len(o.Conflicts)-1]
			if k.Cause != c.want || k.Amount != c.n.Receiver.Amount || !strings.Contains(string(k.Data), c.n.Receiver.Account) {
				t.Fatalf("kept: %+v", k)
			}
			if want := o.Payment.Amount; o.paidTotal() != want {
				t.Fatalf("the kept split counts as a payment: paid %d, its payment %d", o.paidTotal(), want)
			}
			if res, err := l.ApplyShareNotice(ctx, c.n, "notify"); err != nil || res.Outcome != Duplicate {
				t.Fatalf("again: %v %v", res.Outcome, err)
			}
			if again := attempt(t, l, c.no); again.Record().Version != o.Record().Version {
				t.Fatal("the same notification wrote again")
			}
		})
	}

	// The split asked, reported as asked: applied, no review.
	no := inFlight("SNMATCH001")
	res, err := l.ApplyShareNotice(ctx, splitNotice("SNMATCH001", no, "1900000002", 100), "notify")
	if err != nil || res.Outcome != Applied || res.Order.InReview() || !strings.HasSuffix(eventTypes(res.Order.Record()), EventShareSucceeded) {
		t.Fatalf("the split asked: %v %v, events %s", res.Outcome, err, eventTypes(res.Order.Record()))
	}
	if lg.loud() != 7 {
		t.Fatalf("%d alarms, want one per order put in review (7)", lg.loud())
	}
}

func returnNotice(no, outReturnNo, account string, amount int64) *wechatpay.ProfitSharingNotice {
	n := splitNotice(no, outReturnNo, account, amount)
	n.OrderID, n.Kind = "3008R"+no, "return"
	return n
}

// A genuine return notification (money back from a receiver) the ledger cannot
// account for is kept the same way: a return never asked, or another amount than the
// return asked. The return asked, reported as asked, applies.
func TestReturnNoticeContradictingTheLedgerIsReviewed(t *testing.T) {
	l, clk := sharingLedger(t)
	var lg logs
	l.Log = slog.New(slog.NewJSONHandler(&lg, nil))
	ctx := context.Background()
	// returning is an order of 1000 that split 300 to 1900000002, then was refunded 800:
	// it holds 200, so 100 must come back from the receiver first (return 1, asked).
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
		n        func(t *testing.T, no string) *wechatpay.ProfitSharingNotice
		want     CauseKind
	}{
		{"another amount", "RNAMOUNT01", func(t *testing.T, no string) *wechatpay.ProfitSharingNotice {
			return returnNotice(no, returning(t, no), "1900000002", 150)
		}, CauseShareContradicts},
		{"never asked", "RNNEVER001", func(t *testing.T, no string) *wechatpay.ProfitSharingNotice {
			returning(t, no)
			return returnNotice(no, ShareNo(no, noReturn, 7), "1900000002", 100)
		}, CauseShareNotAsked},
	} {
		t.Run(c.name, func(t *testing.T) {
			n := c.n(t, c.no)
			res, err := l.ApplyShareNotice(ctx, n, "notify")
			if err != nil || res.Outcome != Review || res.Cause == nil || res.Cause.Kind != c.want {
				t.Fatalf("%v %+v, want REVIEW %s", err, res, c.want)
			}
			if res, err := l.ApplyShareNotice(ctx, n, "notify"); err != nil || res.Outcome != Duplicate {
				t.Fatalf("again: %v %v", res.Outcome, err)
			}
		})
	}
	no := returning(t, "RNMATCH001")
	res, err := l.ApplyShareNotice(ctx, returnNotice("RNMATCH001", no, "1900000002", 100), "notify")
	if err != nil || res.Outcome != Applied || res.Order.InReview() {
		t.Fatalf("the return asked: %v %v", res.Outcome, err)
	}
	if lg.loud() != 2 {
		t.Fatalf("%d alarms, want 2", lg.loud())
	}
}
