package payment

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/paysls/wxpay/shared/wechatpay"
)

// Only a refusal saying WeChat Pay holds no paid order to refund (申请退款 404
// RESOURCE_NOT_EXISTS "订单不存在") denies the payment; a refusal for the merchant's
// balance, for more than is left or a malformed request says nothing against it.
func TestRefusalDeniesPayment(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("refund: %w", &wechatpay.APIError{StatusCode: 404, Code: wechatpay.CodeResourceNotExists, Message: "订单不存在", Verified: true}), true},
		{&wechatpay.APIError{StatusCode: 403, Code: wechatpay.CodeNotEnough, Message: "基本账户余额不足"}, false},
		{&wechatpay.APIError{StatusCode: 400, Code: wechatpay.CodeInvalidRequest, Message: "申请退款金额超过订单可退金额"}, false},
		{&wechatpay.APIError{StatusCode: 400, Code: wechatpay.CodeParamError, Message: "out_refund_no"}, false},
		{context.DeadlineExceeded, false},
	} {
		r, got := RefusalDeniesPayment("RF1", c.err)
		if got != c.want || got && (r.Code != wechatpay.CodeResourceNotExists || r.HTTPStatus != 404 || r.OutRefundNo != "RF1" || !r.Verified) {
			t.Errorf("%v: %v %+v, want %v", c.err, got, r, c.want)
		}
	}
}

// A refund WeChat Pay refused for a payment it does not hold puts the order — held paid
// here — in REVIEW with the refusal kept whole, loud once; the same refusal again
// writes nothing. An order not held paid here (unpaid, or not held at all) has nothing
// contradicted.
func TestPaymentNotHeldReviewsTheOrder(t *testing.T) {
	l, lg := newLedger(t)
	ctx := context.Background()
	order(t, l, "NOTHELD001", 1000)
	apply(t, l, paid("NOTHELD001", "42NOTHELD001", 1000), Applied)
	rf, err := l.RequestRefund(ctx, attempt(t, l, "NOTHELD001"), RefundRequest{OutRefundNo: "RFNOTHELD1", Amount: 400})
	if err != nil {
		t.Fatal(err)
	}
	refusal, _ := RefusalDeniesPayment(rf.OutRefundNo, &wechatpay.APIError{StatusCode: 404, Code: wechatpay.CodeResourceNotExists, Message: "订单不存在"})
	res, err := l.PaymentNotHeld(ctx, rf, refusal, "reconcile")
	if err != nil || res.Outcome != Review || res.Cause == nil || res.Cause.Kind != CausePaymentNotHeld ||
		!strings.Contains(res.Cause.Detail, "RFNOTHELD1") || !strings.Contains(res.Cause.Detail, "42NOTHELD001") {
		t.Fatalf("%v %+v", err, res)
	}
	o := attempt(t, l, "NOTHELD001")
	k := o.Conflicts[len(o.Conflicts)-1]
	if !o.InReview() || o.Payment.TransactionID != "42NOTHELD001" || k.Cause != CausePaymentNotHeld || k.Amount != 1000 ||
		!strings.Contains(string(k.Data), "订单不存在") || eventTypes(o.Record()) != "order.paid,order.review" {
		t.Fatalf("order %s, kept %+v %s, events %s", o.Status(), k, k.Data, eventTypes(o.Record()))
	}
	if res, err := l.PaymentNotHeld(ctx, rf, refusal, "createorder"); err != nil || res.Outcome != Duplicate || attempt(t, l, "NOTHELD001").Record().Version != o.Record().Version {
		t.Fatalf("again: %v %v", res.Outcome, err)
	}
	if lg.loud() != 1 {
		t.Fatalf("%d alarms, want 1", lg.loud())
	}

	unpaid := order(t, l, "NOTHELD002", 1000)
	if res, err := l.PaymentNotHeld(ctx, &Refund{Owner: mch, OutRefundNo: "RFNOTHELD2", OutTradeNo: unpaid.OutTradeNo, Amount: 100}, refusal, "reconcile"); err != nil || res.Outcome != Duplicate {
		t.Fatalf("an order unpaid here: %v %v", res.Outcome, err)
	}
	if res, err := l.PaymentNotHeld(ctx, &Refund{Owner: mch, OutRefundNo: "RFNOTHELD3", OutTradeNo: "NOSUCHORDER", Amount: 100}, refusal, "reconcile"); err != nil || res.Outcome != Duplicate {
		t.Fatalf("an order not held: %v %v", res.Outcome, err)
	}
}
