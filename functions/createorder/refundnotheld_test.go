package createorder_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

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
