package billfetch

import (
	"context"
	"testing"
	"time"

	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/events"
	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// A payment waiting for its profit sharing (a split held for days) waits in the
// sharing schedule, not in its bill day's listing: billfetch neither checked it against
// the bill (paid here, absent from WeChat Pay's bill: never reported) nor noted it when
// the bill listed it (once its sharing was done it landed in the listing of a day
// already checked, for ever). SHARELONG1 is paid here only; SHAREBILL1 at WeChat Pay too.
func TestSharedPaymentsAreCheckedAgainstTheBill(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	mch := e.id.MchID
	l := &payment.Ledger{Store: e.st, Now: e.clock.Now}
	held := func(no string) {
		plan := &payment.Sharing{API: payment.ShareAPIEcommerce, Planned: true, HoldUntil: day.AddDate(0, 0, 7),
			Receivers: []payment.ShareReceiver{{Type: wechatpay.ReceiverMerchant, Account: "1900000201", Amount: 30, Description: "佣金"}}}
		if _, err := l.CreateOrder(ctx, payment.NewOrder{MchID: mch, AppID: e.id.AppID, OrderID: no, Amount: 1000, Scene: "native", Sharing: plan}); err != nil {
			t.Fatal(err)
		}
	}
	held("SHARELONG1")
	tx := wechatpay.Transaction{MchID: mch, AppID: e.id.AppID, OutTradeNo: "SHARELONG1", TransactionID: "4200000000000000000777",
		TradeState: wechatpay.TradeStateSuccess, TradeType: wechatpay.TradeTypeNative, SuccessTime: wechatpay.FormatTime(day.Add(11 * time.Hour)),
		Amount: &wechatpay.Amount{Total: 1000, PayerTotal: 1000, Currency: "CNY", PayerCurrency: "CNY"}}
	if _, err := l.ApplyTransaction(ctx, &tx, "test"); err != nil {
		t.Fatal(err)
	}
	held("SHAREBILL1")
	e.prepay("SHAREBILL1", 1000)
	e.pay("SHAREBILL1", false)
	for _, no := range []string{"SHARELONG1", "SHAREBILL1"} {
		if idx := e.get(payment.OrderKey(mch, no)).Attrs[events.AttrSchedIndex]; idx != payment.PendingShares && idx != events.IndexOutbox {
			t.Fatalf("%s waits in %q, want the sharing schedule", no, idx)
		}
	}

	e.nextMorning()
	rep, err := e.job().Run(ctx, e.clock.Now())
	if err != nil {
		t.Fatalf("%v\n%s", err, e.logs)
	}
	trade, _ := bills(t, rep)
	if len(trade.Discrepancies) != 1 || trade.Discrepancies[0].OutTradeNo != "SHARELONG1" || trade.Discrepancies[0].Kind != KindMissingFromBill {
		t.Fatalf("discrepancies:\n%s\nlogs:\n%s", dump(trade), e.logs)
	}
	if o := orderOf(t, e.get(payment.OrderKey(mch, "SHAREBILL1"))); o.Bill.Seen != dayStr {
		t.Fatalf("SHAREBILL1, listed by the bill, not noted: %+v", o.Bill)
	}
}

// On a platform's full bill, a sub-merchant's payment is checked against the bill also
// when the day's bill has no row at all of that sub-merchant: the long check covered
// only the sub-merchants the bill listed, so SUBB000001 — paid here, unknown to WeChat
// Pay — was never reported. Its payment now waits in the platform's bill day listing.
func TestPlatformBillChecksASubMerchantWithoutRows(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const subA, subB = "1900000201", "1900000202"
	e.partner(subA)
	e.cfg.Bundle.Mode = config.ModeEcommerce
	e.order("SUBA000001", 1200)
	e.pay("SUBA000001", false)
	l := &payment.Ledger{Store: e.st, Now: e.clock.Now}
	if _, err := l.CreateOrder(ctx, payment.NewOrder{MchID: subB, AppID: e.id.AppID, OrderID: "SUBB000001", Amount: 500, Scene: "native"}); err != nil {
		t.Fatal(err)
	}
	tx := wechatpay.Transaction{SpMchID: e.id.MchID, SubMchID: subB, SpAppID: e.id.AppID, OutTradeNo: "SUBB000001", TransactionID: "4200000000000000000778",
		TradeState: wechatpay.TradeStateSuccess, TradeType: wechatpay.TradeTypeNative, SuccessTime: wechatpay.FormatTime(day.Add(12 * time.Hour)),
		Amount: &wechatpay.Amount{Total: 500, PayerTotal: 500, Currency: "CNY", PayerCurrency: "CNY"}}
	if _, err := l.ApplyTransaction(ctx, &tx, "test"); err != nil {
		t.Fatal(err)
	}
	e.nextMorning()
	rep, err := e.job().Run(ctx, e.clock.Now())
	if err != nil {
		t.Fatalf("%v\n%s", err, e.logs)
	}
	trade, _ := bills(t, rep)
	if trade.Matched != 1 || len(trade.Discrepancies) != 1 || trade.Discrepancies[0].OutTradeNo != "SUBB000001" || trade.Discrepancies[0].Kind != KindMissingFromBill {
		t.Fatalf("trade:\n%s\nlogs:\n%s", dump(trade), e.logs)
	}
	if o := orderOf(t, e.get(payment.OrderKey(subA, "SUBA000001"))); o.Bill.Seen != dayStr {
		t.Fatalf("SUBA000001, listed by the bill, not noted: %+v", o.Bill)
	}
}

// A refund whose advance (垫付) is still to be returned waits in the advance returns'
// schedule, not its bill day's listing: like a payment waiting for its sharing, it was
// neither checked against the bill nor noted when the bill listed it. RADV000001 (and
// its payment) succeeded here only: both are reported missing from the bill.
func TestRefundAwaitingItsAdvanceReturnIsCheckedAgainstTheBill(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	mch := e.id.MchID
	l := &payment.Ledger{Store: e.st, Now: e.clock.Now}
	if _, err := l.CreateOrder(ctx, payment.NewOrder{MchID: mch, AppID: e.id.AppID, OrderID: "ADVPAY0001", Amount: 1000, Scene: "native"}); err != nil {
		t.Fatal(err)
	}
	tx := wechatpay.Transaction{MchID: mch, AppID: e.id.AppID, OutTradeNo: "ADVPAY0001", TransactionID: "4200000000000000000780",
		TradeState: wechatpay.TradeStateSuccess, TradeType: wechatpay.TradeTypeNative, SuccessTime: wechatpay.FormatTime(e.clock.Now()),
		Amount: &wechatpay.Amount{Total: 1000, PayerTotal: 1000, Currency: "CNY", PayerCurrency: "CNY"}}
	res, err := l.ApplyTransaction(ctx, &tx, "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.RequestRefund(ctx, res.Order, payment.RefundRequest{OutRefundNo: "RADV000001", Amount: 300, Advance: true}); err != nil {
		t.Fatal(err)
	}
	e.clock.Set(day.Add(12 * time.Hour))
	n := wechatpay.RefundNotice{MchID: mch, OutTradeNo: "ADVPAY0001", TransactionID: tx.TransactionID, OutRefundNo: "RADV000001",
		RefundID: "50000000000000000000000001", RefundStatus: wechatpay.RefundStatusSuccess, SuccessTime: wechatpay.FormatTime(e.clock.Now()),
		Amount: wechatpay.RefundAmount{Total: 1000, Refund: 300, PayerTotal: 1000, PayerRefund: 300}}
	if _, err := l.ApplyRefund(ctx, &n, "test"); err != nil {
		t.Fatal(err)
	}
	if idx := e.get(payment.RefundKey(mch, "RADV000001")).Attrs[events.AttrSchedIndex]; idx != payment.PendingAdvanceReturns {
		t.Fatalf("RADV000001 waits in %q, want the advance returns' schedule", idx)
	}
	e.nextMorning()
	rep, err := e.job().Run(ctx, e.clock.Now())
	if err != nil {
		t.Fatalf("%v\n%s", err, e.logs)
	}
	trade, _ := bills(t, rep)
	got := map[string]string{}
	for _, d := range trade.Discrepancies {
		got[d.OutTradeNo+"/"+d.OutRefundNo] = d.Kind
	}
	if len(got) != 2 || got["ADVPAY0001/"] != KindMissingFromBill || got["ADVPAY0001/RADV000001"] != KindRefundMissingFromBill {
		t.Fatalf("discrepancies %v:\n%s\nlogs:\n%s", got, dump(trade), e.logs)
	}
}
