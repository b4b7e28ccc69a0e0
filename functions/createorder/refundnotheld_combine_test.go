package createorder_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/paysls/wxpay/internal/paysim"
	"github.com/paysls/wxpay/shared/orderapi"
	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// A combine's sub-order is confirmed through the combine query (WeChat Pay lists a
// sub-order under its combine only; platform.API.PaymentState): a refund of it refused
// as RESOURCE_NOT_EXISTS while the combine query answers it SUCCESS is transient (503,
// PROCESSING, not reviewed); refused while the query answers it NOTPAY (the ledger held
// it paid from a payment WeChat Pay does not hold) closes the refund and reviews the
// sub-order (payment_not_held).
func TestCombineSubOrderRefundRefusalConfirmedByTheCombineQuery(t *testing.T) {
	e := newPlatformEnv(t)
	ctx := context.Background()
	const sub = "1900000101"

	// Paid at WeChat Pay: the refusal is transient.
	if s, a := e.call(t, "POST", "/orders", combineBody("CARTCONF01", 2, "native")); s != 201 {
		t.Fatalf("combine: %d %v", s, a)
	}
	_, nid, status, err := e.sim.PayCombine("CARTCONF01", paysim.CombinePayRequest{})
	if err != nil {
		t.Fatalf("pay: %d %v", status, err)
	}
	e.notified.Wait(t, nid)
	if err := e.sim.SetFaults(paysim.Faults{RefuseRefundOnce: []string{"CARTCONF01-01"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.api.Refund(ctx, "CARTCONF01-01", sub, orderapi.RefundRequest{OutRefundNo: "RFCONF0001", Amount: 40}); !isAPIError(err, http.StatusServiceUnavailable, "REFUND_RETRY_LATER") {
		t.Fatalf("refund refused while the combine query answers SUCCESS: %v, want 503 REFUND_RETRY_LATER", err)
	}
	if o, err := e.ledger().Attempt(ctx, sub, "CARTCONF01-01"); err != nil || o.InReview() || o.Reserved() != 40 {
		t.Fatalf("the sub-order after a transient refusal: %+v %v", o, err)
	}

	// Unpaid at WeChat Pay, paid here: confirmed.
	if s, a := e.call(t, "POST", "/orders", combineBody("CARTCONF02", 2, "native")); s != 201 {
		t.Fatalf("combine: %d %v", s, a)
	}
	o, err := e.ledger().Attempt(ctx, sub, "CARTCONF02-01")
	if err != nil {
		t.Fatal(err)
	}
	tx := &wechatpay.Transaction{SpAppID: e.cfg.AppID, SpMchID: e.cfg.MchID, SubMchID: sub, OutTradeNo: o.OutTradeNo, TransactionID: "4200000000CONF02",
		TradeType: "NATIVE", TradeState: wechatpay.TradeStateSuccess, SuccessTime: wechatpay.FormatTime(e.clock.Now()),
		Amount: &wechatpay.Amount{Total: o.Amount, PayerTotal: o.Amount, Currency: "CNY"}}
	if r, err := e.ledger().ApplyTransaction(ctx, tx, "notify"); err != nil || r.Outcome != payment.Applied {
		t.Fatalf("paid here: %v %v", r.Outcome, err)
	}
	if _, err := e.api.Refund(ctx, "CARTCONF02-01", sub, orderapi.RefundRequest{OutRefundNo: "RFCONF0002", Amount: 40}); !isAPIError(err, http.StatusConflict, "ORDER_IN_REVIEW") {
		t.Fatalf("refund refused while the combine query answers NOTPAY: %v, want 409 ORDER_IN_REVIEW", err)
	}
	if o, err = e.ledger().Attempt(ctx, sub, "CARTCONF02-01"); err != nil || !o.InReview() || o.Review.First().Kind != payment.CausePaymentNotHeld {
		t.Fatalf("the sub-order: %+v %v", o, err)
	}
}
