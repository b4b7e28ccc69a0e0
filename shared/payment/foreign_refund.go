package payment

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"

	"github.com/paysls/wxpay/shared/wechatpay"
)

// ForeignRefundKey is where a refund result for a merchant this deployment does not
// serve is kept for review: beside foreign payments, under WeChat Pay's refund_id (its
// unique number of the refund, as transaction_id is of a payment), or the
// out_refund_no when a result carries none.
func ForeignRefundKey(mchid string, n *wechatpay.RefundNotice) string {
	return ForeignKey(mchid, cmp.Or(n.RefundID, n.OutRefundNo))
}

// foreignRefund keeps a genuine refund result for a merchant this deployment does not
// serve, as foreign keeps such a payment: an Order record under ForeignRefundKey, in
// REVIEW (CauseForeignMerchant, loud once, order.review), holding the result whole.
// Refusing it as invalid answered WeChat Pay 400, which it never retries: someone's
// refund vanished without a trace. A later, different result of the same refund
// (ABNORMAL, then SUCCESS) is kept beside the first; a repeat writes nothing. Nothing
// here touches an order or refund of this deployment: the money is not ours to count.
func (l *Ledger) foreignRefund(ctx context.Context, n *wechatpay.RefundNotice, acct, source string) (Result, error) {
	data, err := json.Marshal(n)
	if err != nil {
		return Result{}, fmt.Errorf("payment: encode foreign refund %s: %w", n.OutRefundNo, err)
	}
	return onOrder(l, ctx, ForeignRefundKey(acct, n), nil, func(o *Order, exists bool) (step, error) {
		for _, c := range o.Conflicts {
			if c.OutRefundNo == n.OutRefundNo && c.RefundID == n.RefundID && c.Status == n.RefundStatus && c.Amount == n.Amount.Refund &&
				c.OutTradeNo == n.OutTradeNo && c.TransactionID == n.TransactionID {
				return step{outcome: Duplicate, reason: o.Review.Reason()}, nil
			}
		}
		now := l.now()
		if !exists {
			// The payment refunded is another merchant's: shown as reported, never paid here.
			*o = Order{Owner: refundOwner(n), OutTradeNo: n.OutTradeNo, Amount: n.Amount.Total, State: wechatpay.TradeStateRefund,
				Unknown: true, CreatedAt: now}
		}
		detail := fmt.Sprintf("refund %s (%s, %d fen of transaction %s, out_trade_no %s) is for merchant %s, which this deployment does not serve (it serves %v): check WXPAY_MCHID and the notify_url configured for that merchant",
			n.OutRefundNo, n.RefundStatus, n.Amount.Refund, n.TransactionID, n.OutTradeNo, acct, l.Merchants)
		c := Cause{Kind: CauseForeignMerchant, Detail: detail, TransactionID: n.TransactionID, OutRefundNo: n.OutRefundNo, Amount: n.Amount.Refund,
			Source: source, At: now}
		o.Conflicts = append(o.Conflicts, Conflict{Cause: CauseForeignMerchant, TransactionID: n.TransactionID, OutRefundNo: n.OutRefundNo,
			RefundID: n.RefundID, OutTradeNo: n.OutTradeNo, Amount: n.Amount.Refund, Status: n.RefundStatus, SuccessTime: n.SuccessTime,
			Source: source, ReceivedAt: now, Data: data})
		return o.review(c, func(ev *OrderEvent) { ev.Refund = n }), nil
	})
}
