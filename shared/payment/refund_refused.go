package payment

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/paysls/wxpay/shared/wechatpay"
)

// CausePaymentNotHeld: WeChat Pay refused a refund of the order because it holds no
// paid order to refund — not found there, or not paid (NOTPAY, CLOSED, …) — while this
// ledger holds the order (or the kept payment refunded) paid. The refund, which never
// existed at WeChat Pay, is closed as any refused one; the ledger and WeChat Pay
// contradict each other about the payment itself, which is for a person to settle.
const CausePaymentNotHeld CauseKind = "payment_not_held"

// RefundRefusal is WeChat Pay's refusal of a refund request, kept whole on the order.
type RefundRefusal struct {
	OutRefundNo string `json:"out_refund_no"`
	HTTPStatus  int    `json:"http_status"`
	Code        string `json:"code"`
	Message     string `json:"message"`
	RequestID   string `json:"request_id,omitempty"`
	// Verified: the refusal carried WeChat Pay's signature (an unsigned one may come
	// from a gateway in between: a person reads it with that in mind).
	Verified bool `json:"verified"`
}

// RefusalDeniesPayment reports whether err, WeChat Pay's refusal of a request to refund
// outRefundNo, says that WeChat Pay holds no paid order to refund, and answers the
// refusal to keep. 申请退款 (APIv3 /v3/refund/domestic/refunds, and the e-commerce
// /v3/ecommerce/refunds/apply) answers 404 RESOURCE_NOT_EXISTS "订单不存在" for an order
// it does not hold or that is not paid: "请检查订单号是否正确且是否已支付，未支付的订单不能
// 发起退款" (pay.weixin.qq.com/wiki/doc/apiv3/apis/chapter3_2_9.shtml, 错误码). Any other
// refusal — NOT_ENOUGH (the merchant's balance), INVALID_REQUEST (more than is left, a
// number reused), PARAM_ERROR — says nothing against the payment.
func RefusalDeniesPayment(outRefundNo string, err error) (RefundRefusal, bool) {
	var we *wechatpay.APIError
	if !errors.As(err, &we) || we.Code != wechatpay.CodeResourceNotExists {
		return RefundRefusal{}, false
	}
	return RefundRefusal{OutRefundNo: outRefundNo, HTTPStatus: we.StatusCode, Code: we.Code, Message: we.Message, RequestID: we.RequestID, Verified: we.Verified}, true
}

// ErrRefusalUnconfirmed: WeChat Pay refused a refund as holding no paid order to
// refund (RefusalDeniesPayment), but its order query does not confirm it — the order
// is paid there (SUCCESS, REFUND), still being paid (USERPAYING), or the query failed.
// The refusal is then taken for a transient one: 申请退款 is reported to answer
// RESOURCE_NOT_EXISTS "订单不存在" for a short while right after a payment, and the same
// request to succeed when repeated. The refund is neither closed nor reviewed: the
// same out_refund_no is submitted again later.
var ErrRefusalUnconfirmed = errors.New("payment: WeChat Pay refused the refund as if it held no paid order, but does not confirm it")

// ConfirmRefusal judges WeChat Pay's answer to the order query (查询订单: the order's
// trade_state, or the query's error) asked after a refusal that denies the payment
// (RefusalDeniesPayment): nil when the answer confirms that WeChat Pay holds no paid
// order — unknown to it (ORDER_NOT_EXIST), or NOTPAY, CLOSED, REVOKED, PAYERROR (the
// states 申请退款's 错误码 names: "未支付的订单不能发起退款",
// pay.weixin.qq.com/wiki/doc/apiv3/apis/chapter3_2_9.shtml) — and only then may the
// order go to REVIEW (PaymentNotHeld). Anything else is ErrRefusalUnconfirmed with
// what the query said: a review is never opened on a guess.
func ConfirmRefusal(tradeState string, queryErr error) error {
	switch {
	case wechatpay.IsCode(queryErr, wechatpay.CodeOrderNotExist):
		return nil
	case queryErr != nil:
		return fmt.Errorf("%w: the order query failed: %w", ErrRefusalUnconfirmed, queryErr)
	}
	switch tradeState {
	case wechatpay.TradeStateNotPay, wechatpay.TradeStateClosed, wechatpay.TradeStateRevoked, wechatpay.TradeStatePayError:
		return nil
	}
	return fmt.Errorf("%w: the order query answers trade_state %q", ErrRefusalUnconfirmed, tradeState)
}

// HoldsPaid reports whether this ledger holds paid the payment refund r takes money
// from — o's own, or a payment kept on o that r names: the payment a refusal that
// denies it (RefusalDeniesPayment) would contradict.
func (o *Order) HoldsPaid(r *Refund) bool {
	_, _, held := o.paymentRefunded(r)
	return held
}

// PaymentNotHeld records that WeChat Pay refused refund r because it holds no paid
// order to refund (RefusalDeniesPayment) while this ledger holds r's order — or the kept
// payment r refunds — paid: the order goes to REVIEW (CausePaymentNotHeld) with the
// refusal kept whole beside its payment, loud and announced once (order.review) when
// it opens the review. Called only once WeChat Pay's order query confirmed the refusal
// (ConfirmRefusal). The caller then closes the refund, as any refusal for good;
// called first, so that a crash between the two leaves the refund PROCESSING for
// reconcile, which is refused the same and comes here again. The same refusal of the
// same refund again writes nothing; an order this ledger does not hold paid (or does
// not hold) has nothing contradicted, and nothing is written either.
func (l *Ledger) PaymentNotHeld(ctx context.Context, r *Refund, refusal RefundRefusal, source string) (Result, error) {
	data, err := json.Marshal(refusal)
	if err != nil {
		return Result{}, fmt.Errorf("payment: encode the refusal of refund %s: %w", r.OutRefundNo, err)
	}
	now := l.now()
	return onOrder(l, ctx, OrderKey(r.Owner, r.OutTradeNo), nil, func(o *Order, exists bool) (step, error) {
		if !exists {
			return step{outcome: Duplicate, reason: "no order " + r.OutTradeNo + " here"}, nil
		}
		txid, amount, held := o.paymentRefunded(r)
		if !held {
			return step{outcome: Duplicate, reason: "order " + r.OutTradeNo + " is not held paid here"}, nil
		}
		if slices.ContainsFunc(o.Conflicts, func(c Conflict) bool { return c.Cause == CausePaymentNotHeld && c.OutRefundNo == r.OutRefundNo }) {
			return step{outcome: Duplicate, reason: o.Review.Reason()}, nil
		}
		detail := fmt.Sprintf("WeChat Pay refused refund %s (%d fen) of order %s: HTTP %d %s %q — it holds no paid order to refund, while this ledger holds payment %s (%d fen) of it; the refund is closed, the payment is for a person to check in the merchant platform",
			r.OutRefundNo, r.Amount, o.OutTradeNo, refusal.HTTPStatus, refusal.Code, refusal.Message, txid, amount)
		c := Cause{Kind: CausePaymentNotHeld, Detail: detail, TransactionID: txid, OutRefundNo: r.OutRefundNo, Amount: amount, Source: source, At: now}
		o.Conflicts = append(o.Conflicts, Conflict{Cause: CausePaymentNotHeld, TransactionID: txid, OutRefundNo: r.OutRefundNo, OutTradeNo: o.OutTradeNo,
			Amount: amount, Status: refusal.Code, Source: source, ReceivedAt: now, Data: data})
		return o.review(c, nil), nil
	})
}

// paymentRefunded is the payment refund r takes money from, as this ledger holds it:
// the order's own, or a kept one r names by its transaction_id; held is false when the
// ledger holds no such payment paid.
func (o *Order) paymentRefunded(r *Refund) (txid string, amount int64, held bool) {
	if p := o.Payment; p != nil && o.Paid() && (r.TransactionID == "" || r.TransactionID == p.TransactionID) {
		return p.TransactionID, p.Amount, true
	}
	if r.TransactionID == "" {
		return "", 0, false
	}
	for _, c := range o.Conflicts {
		if c.TransactionID == r.TransactionID && c.OutRefundNo == "" && (c.Status == wechatpay.TradeStateSuccess || c.Status == wechatpay.TradeStateRefund) {
			return c.TransactionID, c.Amount, true
		}
	}
	return "", 0, false
}
