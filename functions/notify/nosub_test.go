package notify_test

import (
	"context"
	"strings"
	"testing"

	"github.com/paysls/wxpay/shared/events"
	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// A service provider or e-commerce platform takes no payment of its own: WeChat Pay
// refuses its direct order ("受理机构必须传入sub_mch_id"; 服务商自身无法作为一个普通商户直接
// 发起交易), and its partner payment notifications always carry sp_mchid and sub_mchid.
// A payment notification to the platform's mchid without sub_mchid is then no order of
// its: it used to become a paid order of the platform itself (order/<sp_mchid>/…),
// money no sub-merchant's order shows. It is acknowledged and kept whole for review
// (payment_without_sub_merchant), once; a partner payment still pays its sub-merchant's
// order.
func TestPlatformPaymentWithoutSubMerchantIsKeptForReview(t *testing.T) {
	f := newFixture(t)
	f.h.Ledger.Merchants, f.h.Ledger.Partner = []string{f.id.MchID}, true
	ctx := context.Background()

	tx := f.transaction("NOSUB00001", "4200000000400001", 300)
	body := f.body(t, wechatpay.EventTransactionSuccess, tx)
	want204(t, f.post(t, body, f.signed(t, body)), "a payment without sub_mchid")
	if _, err := f.st.Get(ctx, payment.OrderKey(f.id.MchID, "NOSUB00001")); err == nil {
		t.Fatal("a payment without sub_mchid became the platform's own paid order")
	}
	rec, err := f.st.Get(ctx, payment.ForeignKey(f.id.MchID, "4200000000400001"))
	if err != nil {
		t.Fatalf("the payment is not kept: %v", err)
	}
	o := ord(t, rec)
	c := o.Review.First()
	if o.Status() != payment.StateReview || c == nil || c.Kind != payment.CausePaymentWithoutSubMerchant || c.TransactionID != "4200000000400001" || c.Amount != 300 {
		t.Fatalf("kept as %s, cause %+v", o.Status(), c)
	}
	if len(o.Conflicts) != 1 || o.Conflicts[0].OutTradeNo != "NOSUB00001" || !strings.Contains(string(o.Conflicts[0].Data), `"mchid":"`+f.id.MchID+`"`) {
		t.Fatalf("the transaction is not kept whole: %+v", o.Conflicts)
	}
	if evs := events.Entries(rec); len(evs) != 1 || evs[0].Type != events.OrderReview {
		t.Fatalf("events %+v, want one order.review", evs)
	}
	want204(t, f.post(t, body, f.signed(t, body)), "the same payment again")
	if again, _ := f.st.Get(ctx, rec.Key); again.Version != rec.Version {
		t.Fatal("the same payment again wrote")
	}

	// A partner payment (sp_mchid, sub_mchid) pays its sub-merchant's order.
	ptx := f.transaction("NOSUB00002", "4200000000400002", 300)
	ptx.SpMchID, ptx.SubMchID, ptx.MchID, ptx.SpAppID, ptx.AppID = f.id.MchID, "1900000109", "", f.id.AppID, ""
	body = f.body(t, wechatpay.EventTransactionSuccess, ptx)
	want204(t, f.post(t, body, f.signed(t, body)), "a partner payment")
	prec, err := f.st.Get(ctx, payment.OrderKey("1900000109", "NOSUB00002"))
	if err != nil || ord(t, prec).Status() != wechatpay.TradeStateSuccess {
		t.Fatalf("the partner payment: %v", err)
	}
}
