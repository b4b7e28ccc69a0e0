package billfetch

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// A service provider serves every sub-merchant its orders name, but fetched the bill of
// the configured one only: another sub-merchant's payments and refunds were never
// checked against WeChat Pay. Now each sub-merchant with money in the ledger that day
// gets its own bill (sub_mchid); one WeChat Pay has nothing for that day answers
// NO_STATEMENT_EXIST, an empty bill, and its ledger entries are reported missing.
func TestPartnerChecksEverySubMerchantWithMoneyThatDay(t *testing.T) {
	e := newEnv(t)
	const subA, subB, subC = "1900000201", "1900000202", "1900000203"
	e.partner(subA)
	sp := e.id.MchID
	ctx := context.Background()
	ledger := &payment.Ledger{Store: e.st, Now: e.clock.Now, Merchants: []string{sp}}

	// A, the configured sub-merchant: an ordinary paid order.
	e.order("SUBA000001", 500)
	e.pay("SUBA000001", false)

	// B: paid at WeChat Pay, and a refund that only this ledger holds.
	spClient := e.client
	e.client, e.owner = spClient.ForSub(subB, ""), subB
	e.order("SUBB000001", 800)
	e.pay("SUBB000001", false)
	paid := orderOf(t, e.get(payment.OrderKey(subB, "SUBB000001")))
	res, err := ledger.ApplyRefund(ctx, &wechatpay.RefundNotice{SpMchID: sp, SubMchID: subB, OutTradeNo: "SUBB000001",
		TransactionID: paid.Payment.TransactionID, OutRefundNo: "RSUBB00001", RefundID: "50000000000000000000000000B1",
		RefundStatus: wechatpay.RefundStatusSuccess, SuccessTime: wechatpay.FormatTime(e.clock.Now()),
		Amount: wechatpay.RefundAmount{Refund: 300, Total: 800, PayerRefund: 300, PayerTotal: 800, Currency: "CNY"}}, "test")
	if err != nil || res.Outcome != payment.Applied {
		t.Fatalf("refund: %+v %v", res, err)
	}

	// C: nothing at WeChat Pay that day; a payment only this ledger holds.
	e.client, e.owner = spClient.ForSub(subC, ""), subC
	e.ourOrder("SUBC000001", 700, nil)
	tres, err := ledger.ApplyTransaction(ctx, &wechatpay.Transaction{SpMchID: sp, SpAppID: e.id.AppID, SubMchID: subC,
		OutTradeNo: "SUBC000001", TransactionID: "4200000000000000000C01", TradeType: "NATIVE", TradeState: wechatpay.TradeStateSuccess,
		SuccessTime: wechatpay.FormatTime(e.clock.Now()), Amount: &wechatpay.Amount{Total: 700, PayerTotal: 700, Currency: "CNY"}}, "test")
	if err != nil || tres.Outcome != payment.Applied {
		t.Fatalf("payment: %+v %v", tres, err)
	}

	e.nextMorning()
	rep, err := e.job().Run(ctx, e.clock.Now())
	if err != nil {
		t.Fatalf("%v\n%s", err, e.logs)
	}
	byMch := map[string]*BillReport{}
	for _, b := range rep["bills"].([]*BillReport) {
		if b.Type == TypeTrade {
			byMch[b.MchID] = b
		}
	}
	// A's report (the configured sub-merchant's) names the others, for the console.
	if a := byMch[subA]; a == nil || a.Status != StatusReconciled || a.Matched != 1 || len(a.Discrepancies) != 0 ||
		strings.Join(a.SubMerchants, ",") != subB+","+subC {
		t.Fatalf("A:\n%s\n%s", dump(a), e.logs)
	}
	b := byMch[subB]
	if b == nil || b.Status != StatusReconciled || b.Matched != 1 || len(b.Discrepancies) != 1 ||
		b.Discrepancies[0].Kind != KindRefundMissingFromBill || b.Discrepancies[0].OutRefundNo != "RSUBB00001" {
		t.Fatalf("B:\n%s\n%s", dump(b), e.logs)
	}
	c := byMch[subC]
	if c == nil || c.Status != StatusNoStatement || len(c.Discrepancies) != 1 ||
		c.Discrepancies[0].Kind != KindMissingFromBill || c.Discrepancies[0].OutTradeNo != "SUBC000001" {
		t.Fatalf("C:\n%s\n%s", dump(c), e.logs)
	}
	// A re-run finds the same and writes nothing new.
	if _, err := e.job().Run(ctx, e.clock.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
}

// On a platform's full bill, a sub-merchant's refund was checked only when the day's
// bill had a row of that sub-merchant: refunds waited in the sub-merchant's own bill day
// listing. They now wait in the platform's (the account paid) beside the payments, so
// RSUBB00002 — refunded here, unknown to WeChat Pay, of a sub-merchant without a row —
// is reported missing from the bill.
func TestPlatformBillChecksASubMerchantsRefundWithoutRows(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const subA, subB = "1900000201", "1900000202"
	e.partner(subA)
	e.cfg.Bundle.Mode = config.ModeEcommerce
	e.order("SUBA000002", 1200)
	e.pay("SUBA000002", false)
	sp := e.id.MchID
	l := &payment.Ledger{Store: e.st, Now: e.clock.Now, Merchants: []string{sp}}
	if _, err := l.CreateOrder(ctx, payment.NewOrder{MchID: subB, AppID: e.id.AppID, OrderID: "SUBB000002", Amount: 500, Scene: "native"}); err != nil {
		t.Fatal(err)
	}
	tx := wechatpay.Transaction{SpMchID: sp, SubMchID: subB, SpAppID: e.id.AppID, OutTradeNo: "SUBB000002", TransactionID: "4200000000000000000779",
		TradeState: wechatpay.TradeStateSuccess, TradeType: wechatpay.TradeTypeNative, SuccessTime: wechatpay.FormatTime(day.Add(12 * time.Hour)),
		Amount: &wechatpay.Amount{Total: 500, PayerTotal: 500, Currency: "CNY", PayerCurrency: "CNY"}}
	if _, err := l.ApplyTransaction(ctx, &tx, "test"); err != nil {
		t.Fatal(err)
	}
	res, err := l.ApplyRefund(ctx, &wechatpay.RefundNotice{SpMchID: sp, SubMchID: subB, OutTradeNo: "SUBB000002", TransactionID: tx.TransactionID,
		OutRefundNo: "RSUBB00002", RefundID: "50000000000000000000000000B2", RefundStatus: wechatpay.RefundStatusSuccess,
		SuccessTime: wechatpay.FormatTime(day.Add(13 * time.Hour)), Amount: wechatpay.RefundAmount{Refund: 200, Total: 500, PayerRefund: 200, PayerTotal: 500}}, "test")
	if err != nil || res.Refund == nil || res.Refund.Account != sp {
		t.Fatalf("refund: %+v %v", res.Refund, err)
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
	if trade.Matched != 1 || len(got) != 2 || got["SUBB000002/"] != KindMissingFromBill || got["SUBB000002/RSUBB00002"] != KindRefundMissingFromBill {
		t.Fatalf("discrepancies %v:\n%s\nlogs:\n%s", got, dump(trade), e.logs)
	}
}
