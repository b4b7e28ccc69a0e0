package createorder_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/paysls/wxpay/internal/paysim"
	"github.com/paysls/wxpay/shared/orderapi"
	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// A refund of an order this deployment holds paid that WeChat Pay refuses because it
// holds no paid order to refund (申请退款 404 RESOURCE_NOT_EXISTS "订单不存在": NOTPAY
// there) is closed, as any refund WeChat Pay never took — and the order goes to REVIEW
// (payment_not_held), the refusal kept beside the payment; the merchant is answered
// 409 ORDER_IN_REVIEW saying so. (A plain refusal — more than is left after a refund
// made elsewhere — closes the refund and leaves the order as it is:
// TestRefusedRepeatOfAHeldRefundStands.)
func TestRefundRefusedForAPaymentNotHeld(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	e.post(t, nativeRequest("NOTHELD001", 1000)) // placed at WeChat Pay, never paid there
	o, _ := e.order(t, "NOTHELD001")
	tx := &wechatpay.Transaction{AppID: o.AppID, MchID: e.cfg.MchID, OutTradeNo: o.OutTradeNo, TransactionID: "4200000000NOTHELD001", TradeType: "NATIVE",
		TradeState: wechatpay.TradeStateSuccess, SuccessTime: wechatpay.FormatTime(e.clock.Now()), Amount: &wechatpay.Amount{Total: 1000, PayerTotal: 1000, Currency: "CNY"}}
	if r, err := e.ledger().ApplyTransaction(ctx, tx, "notify"); err != nil || r.Outcome != payment.Applied {
		t.Fatalf("paid here: %v %v", r.Outcome, err)
	}
	_, err := e.api.Refund(ctx, "NOTHELD001", "", orderapi.RefundRequest{OutRefundNo: "RFNOTHELD1", Amount: 400})
	var ae *orderapi.Error
	if !isAPIError(err, http.StatusConflict, "ORDER_IN_REVIEW") || !asError(err, &ae) || !strings.Contains(ae.Message, "holds no paid order") {
		t.Fatalf("refund: %v, want 409 ORDER_IN_REVIEW naming the refusal", err)
	}
	o, _ = e.order(t, "NOTHELD001")
	if !o.InReview() || o.Review.First().Kind != payment.CausePaymentNotHeld || o.Reserved() != 0 || o.Payment.TransactionID != tx.TransactionID {
		t.Fatalf("order %s, causes %+v, reserved %d", o.Status(), o.Review.Causes, o.Reserved())
	}
	if rf, err := e.ledger().Refund(ctx, e.owner(), "RFNOTHELD1"); err != nil || rf.State != wechatpay.RefundStatusClosed {
		t.Fatalf("the refused refund: %+v %v, want CLOSED", rf, err)
	}

}

// The same refusal (404 RESOURCE_NOT_EXISTS "订单不存在") for an order WeChat Pay does
// hold paid — merchants report it for a moment right after a payment — is not the
// contradiction: the order query answers SUCCESS, so the refund is neither closed nor
// reviewed. The merchant is answered 503 REFUND_RETRY_LATER, the refund stays
// PROCESSING with its amount reserved, and the same request repeated is accepted.
// Before the order query, the order went to REVIEW and the refund was closed.
func TestRefundRefusedTransientlyIsRetried(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	e.post(t, nativeRequest("TRANSIENT01", 1000))
	e.payNow(t, "TRANSIENT01")
	if err := e.sim.SetFaults(paysim.Faults{RefuseRefundOnce: []string{"TRANSIENT01"}}); err != nil {
		t.Fatal(err)
	}
	req := orderapi.RefundRequest{OutRefundNo: "RFTRANSIENT1", Amount: 400}
	_, err := e.api.Refund(ctx, "TRANSIENT01", "", req)
	var ae *orderapi.Error
	if !isAPIError(err, http.StatusServiceUnavailable, "REFUND_RETRY_LATER") || !asError(err, &ae) || !strings.Contains(ae.Hint, "same out_refund_no") {
		t.Fatalf("refund: %v, want 503 REFUND_RETRY_LATER asking for the same out_refund_no", err)
	}
	o, _ := e.order(t, "TRANSIENT01")
	if o.InReview() || o.Reserved() != 400 {
		t.Fatalf("order %s, causes %+v, reserved %d: want PAID, 400 reserved", o.Status(), o.Review.Causes, o.Reserved())
	}
	if rf, err := e.ledger().Refund(ctx, e.owner(), "RFTRANSIENT1"); err != nil || rf.State != wechatpay.RefundStatusProcessing {
		t.Fatalf("the refund: %+v %v, want PROCESSING", rf, err)
	}
	rv, err := e.api.Refund(ctx, "TRANSIENT01", "", req)
	if err != nil || rv.State != wechatpay.RefundStatusProcessing {
		t.Fatalf("the same refund again: %+v %v", rv, err)
	}
	if _, _, status, err := e.sim.SettleRefund("RFTRANSIENT1", wechatpay.RefundStatusSuccess); err != nil {
		t.Fatalf("settle at WeChat Pay: %d %v", status, err)
	}
	if o, _ = e.order(t, "TRANSIENT01"); o.InReview() {
		t.Fatalf("order in REVIEW: %+v", o.Review.Causes)
	}
}
