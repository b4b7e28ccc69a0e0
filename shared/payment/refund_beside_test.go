package payment

import (
	"context"
	"testing"

	"github.com/paysls/wxpay/shared/wechatpay"
)

// A refund asked here but not yet taken by WeChat Pay (PROCESSING, reserving 700 of
// 1000) and a refund made by hand meanwhile (500, SUCCESS): together they exceed the
// payment only through the reservation, which WeChat Pay will refuse. With nothing
// shared out nobody owes anything back, so the manual refund is applied, not kept in
// REVIEW as "shared out to others … (-200 fen left after refunds)"; a settled refund
// that does exceed the payment is still judged excess.
func TestManualRefundBesideReservationIsNoShareConflict(t *testing.T) {
	l, _ := newLedger(t)
	ctx := context.Background()
	order(t, l, "BESIDE0001", 1000)
	apply(t, l, paid("BESIDE0001", "42BESIDE", 1000), Applied)
	o := attempt(t, l, "BESIDE0001")
	if _, err := l.RequestRefund(ctx, o, RefundRequest{OutRefundNo: "RFBESIDE1", Amount: 700}); err != nil {
		t.Fatal(err)
	}
	applyRefund(t, l, refunded("BESIDE0001", "42BESIDE", "RFMANUAL1", wechatpay.RefundStatusSuccess, 500), Applied)
	o = attempt(t, l, "BESIDE0001")
	if o.InReview() || o.Refunded() != 500 || o.State != wechatpay.TradeStateRefund {
		t.Fatalf("after the manual refund: state %s refunded %d causes %+v", o.Status(), o.Refunded(), o.Review.Causes)
	}
	// Had WeChat Pay taken the 700 after all, its success exceeds the payment: excess.
	applyRefund(t, l, refunded("BESIDE0001", "42BESIDE", "RFBESIDE1", wechatpay.RefundStatusSuccess, 700), Review)
	if o = attempt(t, l, "BESIDE0001"); o.Review.First().Kind != CauseRefundExceedsPaid || o.Review.First().OutRefundNo != "RFBESIDE1" {
		t.Fatalf("excess success: %+v", o.Review.Causes)
	}
}
