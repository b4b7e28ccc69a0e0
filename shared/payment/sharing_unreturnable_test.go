package payment

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/paysls/wxpay/shared/events"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// splitFinished splits o as its plan says and records the split FINISHED, every share
// successful.
func splitFinished(t *testing.T, l *Ledger, clk *time.Time, o *Order) *Order {
	t.Helper()
	ctx := context.Background()
	*clk = clk.Add(2 * time.Minute)
	o, sp, err := l.ReserveSplit(ctx, o)
	if err != nil || sp == nil || sp.State != SharePending {
		t.Fatalf("reserve: %+v %v", sp, err)
	}
	var rs []SplitReceiver
	for _, r := range sp.Receivers {
		r.Result = wechatpay.ShareResultSuccess
		rs = append(rs, r)
	}
	o, _, err = l.ApplySplit(ctx, o, sp.OutOrderNo, ShareResult{State: wechatpay.ShareFinished, Receivers: rs})
	if err != nil || o.Sharing.Splits[0].State != wechatpay.ShareFinished {
		t.Fatalf("split: %+v %v", o.Sharing, err)
	}
	return o
}

// A share paid to a person never comes back (WeChat Pay returns only from MERCHANT_ID
// receivers, in every mode: sharing_unreturnable.go). Of 1000 fen, 300 to a merchant and
// 100 to a person: a refund needing any of the person's 100 is refused up front, naming
// the 900 that can be refunded, and recorded nowhere; 900 is held for a return of the
// merchant's 300 only, released once it is back; after it nothing more can be refunded.
func TestRefundNeedingAPersonsShareIsRefused(t *testing.T) {
	for _, c := range []struct{ api, person string }{
		{ShareAPIEcommerce, wechatpay.ReceiverPersonalOpenID},
		{ShareAPIPartner, wechatpay.ReceiverPersonalOpenID},
		{ShareAPIPartner, wechatpay.ReceiverPersonalSubOpenID},
	} {
		t.Run(c.api+"/"+c.person, func(t *testing.T) {
			l, clk := sharingLedger(t)
			ctx := context.Background()
			plan := &Sharing{API: c.api, Planned: true, Receivers: []ShareReceiver{
				{Type: wechatpay.ReceiverMerchant, Account: "1900000002", Amount: 300, Description: "佣金"},
				{Type: c.person, Account: "oPerson0001", Amount: 100, Description: "推广"}}}
			o := splitFinished(t, l, clk, sharedPaid(t, l, "PERSON0001", 1000, plan))
			refuse := func(no string, amount, most int64) {
				t.Helper()
				var e *SharesNotReturnableError
				_, err := l.RequestRefund(ctx, attempt(t, l, "PERSON0001"), RefundRequest{OutRefundNo: no, Amount: amount})
				if !errors.As(err, &e) || !errors.Is(err, errSharesNotReturnable) || e.Max != most || e.Unreturnable != 100 || !strings.Contains(err.Error(), "at most "+strconv.FormatInt(most, 10)+" fen") {
					t.Fatalf("refund of %d: %v, want refused naming at most %d", amount, err, most)
				}
				if o := attempt(t, l, "PERSON0001"); o.Line(no) != nil {
					t.Fatalf("the refused refund %s reserves on the order: %+v", no, o.Refunds)
				}
				if _, err := l.Refund(ctx, mch, no); !errors.Is(err, ErrNotFound) {
					t.Fatalf("the refused refund %s was recorded: %v", no, err)
				}
			}
			refuse("RFPERSON1", 1000, 900)
			refuse("RFPERSON2", 901, 900)
			rf, err := l.RequestRefund(ctx, o, RefundRequest{OutRefundNo: "RFPERSON3", Amount: 900})
			if err != nil || rf.Held == "" {
				t.Fatalf("a refund the merchant's share can make room for: %+v %v", rf, err)
			}
			o, rets, err := l.ReserveReturns(ctx, attempt(t, l, "PERSON0001"))
			if err != nil || len(rets) != 1 || rets[0].Amount != 300 || rets[0].ReturnMchID != "1900000002" || o.Sharing.HoldProblem != "" {
				t.Fatalf("returns: %+v %v problem %q", rets, err, o.Sharing.HoldProblem)
			}
			if len(o.UnreleasableRefunds()) != 0 {
				t.Fatalf("a refund the merchant's return makes room for is unreleasable: %+v", o.Sharing)
			}
			o, _, err = l.ApplyReturn(ctx, o, rets[0].OutReturnNo, ReturnResult{Result: wechatpay.ReturnSuccess, Amount: 300})
			if err != nil || len(o.ReleasableRefunds()) != 1 {
				t.Fatalf("after the return: %+v %v", o.Sharing, err)
			}
			if o, err = l.ReleaseHeldRefund(ctx, o, "RFPERSON3"); err != nil || o.SharedOut() != 100 || o.Holds() != 100 || o.unreturnable() != 100 {
				t.Fatalf("released: shared out %d, holds %d, %v", o.SharedOut(), o.Holds(), err)
			}
			refuse("RFPERSON4", 1, 0)
		})
	}
}

// A refund an older ledger held for a person's share (all 1000 fen of an order that
// shared 100 to a person) can never be released: it is named unreleasable, the order's
// next step is to close it, and closed the way reconcile closes it — a CLOSED result
// never asked of WeChat Pay, then its hold let go — it reserves nothing, announces
// refund.failed once, and a refund of the 900 left goes through unheld.
func TestRefundHeldForAPersonsShareIsClosed(t *testing.T) {
	l, clk := sharingLedger(t)
	ctx := context.Background()
	plan := &Sharing{API: ShareAPIEcommerce, Planned: true,
		Receivers: []ShareReceiver{{Type: wechatpay.ReceiverPersonalOpenID, Account: "oPerson0001", Amount: 100, Description: "推广"}}}
	o := splitFinished(t, l, clk, sharedPaid(t, l, "PERSON0002", 1000, plan))
	// What the old RequestRefund wrote for a refund of 1000: the line and its hold on
	// the order, then the held refund record.
	at := l.now()
	res, err := onOrder(l, ctx, o.Key(), &o.raw, func(cur *Order, _ bool) (step, error) {
		cur.Refunds = append(cur.Refunds, refundLine{OutRefundNo: "RFOLDHELD", Amount: 1000, State: wechatpay.RefundStatusProcessing,
			Requested: true, TransactionID: cur.Payment.TransactionID, At: at})
		cur.Sharing.Held = append(cur.Sharing.Held, heldRefund{OutRefundNo: "RFOLDHELD", Amount: 1000, At: at})
		return step{outcome: Applied}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	o = res.Order
	if _, err := onRefund(l, ctx, RefundKey(mch, "RFOLDHELD"), nil, func(r *Refund, _ bool) (step, error) {
		*r = Refund{Owner: mch, OutRefundNo: "RFOLDHELD", OutTradeNo: o.OutTradeNo, OrderID: o.OrderID, TransactionID: o.Payment.TransactionID,
			Amount: 1000, Total: 1000, State: wechatpay.RefundStatusProcessing, Requested: true, Source: "refund_api", Held: heldReason(o), CreatedAt: at}
		return step{outcome: Applied}, nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.RequestRefund(ctx, o, RefundRequest{OutRefundNo: "RFSMALL", Amount: 100}); !errors.Is(err, ErrOverRefund) {
		t.Fatalf("the stuck hold reserves the whole payment: %v", err)
	}
	got := o.UnreleasableRefunds()
	if len(got) != 1 || got[0].OutRefundNo != "RFOLDHELD" {
		t.Fatalf("unreleasable: %+v", got)
	}
	if act, _ := o.NextShare(l.now()); act != ActCloseHeld {
		t.Fatalf("next step: %s, want %s", act, ActCloseHeld)
	}
	n := &wechatpay.RefundNotice{MchID: mch, OutTradeNo: o.OutTradeNo, TransactionID: o.Payment.TransactionID, OutRefundNo: "RFOLDHELD",
		RefundStatus: wechatpay.RefundStatusClosed, Amount: wechatpay.RefundAmount{Refund: 1000, Total: 1000, Currency: "CNY"}}
	if _, err := l.ApplyRefund(ctx, n, "reconcile"); err != nil {
		t.Fatal(err)
	}
	o = attempt(t, l, "PERSON0002")
	if act, _ := o.NextShare(l.now()); act == ActCloseHeld || len(o.UnreleasableRefunds()) != 0 {
		t.Fatalf("closed, not let go yet: next %s, unreleasable %+v", act, o.UnreleasableRefunds())
	}
	if o, err = l.ReleaseHeldRefund(ctx, o, "RFOLDHELD"); err != nil || len(o.Sharing.Held) != 0 {
		t.Fatalf("let go: %+v %v", o.Sharing, err)
	}
	if rf, _ := l.Refund(ctx, mch, "RFOLDHELD"); rf.State != wechatpay.RefundStatusClosed || rf.Held != "" {
		t.Fatalf("the old held refund: %+v", rf)
	}
	if n := strings.Count(eventTypes(o.Record()), events.RefundFailed); n != 1 {
		t.Fatalf("refund.failed %d times: %s", n, eventTypes(o.Record()))
	}
	rf, err := l.RequestRefund(ctx, o, RefundRequest{OutRefundNo: "RFREST", Amount: 900})
	if err != nil || rf.Held != "" {
		t.Fatalf("the 900 left: %+v %v", rf, err)
	}
	if o := attempt(t, l, "PERSON0002"); o.SharedOut() > o.Holds() {
		t.Fatalf("bound broken: %d > %d", o.SharedOut(), o.Holds())
	}
}

// The same hold whose refund record was never written (the old request stopped between
// the order's write and the refund's): reconcile closes it from the order's line — a
// CLOSED result for a refund the ledger has no record of records it closed and closes
// the line — so letting the hold go leaves nothing reserved.
func TestRefundHeldForAPersonsShareWithoutRecordIsClosed(t *testing.T) {
	l, clk := sharingLedger(t)
	ctx := context.Background()
	plan := &Sharing{API: ShareAPIEcommerce, Planned: true,
		Receivers: []ShareReceiver{{Type: wechatpay.ReceiverPersonalOpenID, Account: "oPerson0001", Amount: 100, Description: "推广"}}}
	o := splitFinished(t, l, clk, sharedPaid(t, l, "PERSON0003", 1000, plan))
	at := l.now()
	res, err := onOrder(l, ctx, o.Key(), &o.raw, func(cur *Order, _ bool) (step, error) {
		cur.Refunds = append(cur.Refunds, refundLine{OutRefundNo: "RFNOREC", Amount: 1000, State: wechatpay.RefundStatusProcessing,
			Requested: true, TransactionID: cur.Payment.TransactionID, At: at})
		cur.Sharing.Held = append(cur.Sharing.Held, heldRefund{OutRefundNo: "RFNOREC", Amount: 1000, At: at})
		return step{outcome: Applied}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	o = res.Order
	if got := o.UnreleasableRefunds(); len(got) != 1 || o.Reserved() != 1000 {
		t.Fatalf("unreleasable %+v, reserved %d", got, o.Reserved())
	}
	line := o.Line("RFNOREC")
	n := &wechatpay.RefundNotice{MchID: mch, OutTradeNo: o.OutTradeNo, TransactionID: line.TransactionID, OutRefundNo: "RFNOREC",
		RefundStatus: wechatpay.RefundStatusClosed, Amount: wechatpay.RefundAmount{Refund: line.Amount, Total: o.Amount, Currency: "CNY"}}
	if _, err := l.ApplyRefund(ctx, n, "reconcile"); err != nil {
		t.Fatal(err)
	}
	if o, err = l.ReleaseHeldRefund(ctx, attempt(t, l, "PERSON0003"), "RFNOREC"); err != nil || len(o.Sharing.Held) != 0 || o.Reserved() != 0 {
		t.Fatalf("let go: held %+v, reserved %d, %v", o.Sharing.Held, o.Reserved(), err)
	}
	if rf, err := l.Refund(ctx, mch, "RFNOREC"); err != nil || rf.State != wechatpay.RefundStatusClosed {
		t.Fatalf("the refund: %+v %v", rf, err)
	}
	if rf, err := l.RequestRefund(ctx, o, RefundRequest{OutRefundNo: "RFREST2", Amount: 900}); err != nil || rf.Held != "" {
		t.Fatalf("the 900 left: %+v %v", rf, err)
	}
}
