package notify

import (
	"context"

	"github.com/paysls/wxpay/shared/payment"
)

// applyCombine applies a combine notification (合单支付成功通知: one TRANSACTION.SUCCESS
// whose resource carries combine_out_trade_no and every sub-order's result,
// pay.weixin.qq.com/docs/partner/apis/combine-payment/orders/payment-notice.html)
// through the ledger, per sub-order: a redelivery is a duplicate per sub-order, a
// delivery cut short by a crash is finished by the next one, and combine.paid is
// recorded once, with the combine's last sub-order (payment.ApplyCombine).
func applyCombine(ctx context.Context, l *payment.Ledger, n notice) (applied, error) {
	res, err := l.ApplyCombine(ctx, n.combine, n.source)
	if err != nil {
		return applied{}, err
	}
	out := applied{outcome: payment.Duplicate, key: payment.CombineKey(n.combine.CombineMchID, n.combine.CombineOutTradeNo)}
	for _, r := range res.Results {
		switch {
		case r.Outcome == payment.Review:
			out.outcome, out.reason = payment.Review, r.Reason
		case r.Outcome == payment.Applied && out.outcome == payment.Duplicate:
			out.outcome = payment.Applied
		}
	}
	recs := res.Recorded()
	if len(recs) > 0 {
		out.recorded, out.record, out.more = true, recs[0], recs[1:]
	}
	out.state = "sub_orders_paid_all"
	if !res.Paid {
		out.state = "sub_orders_paid_some"
	}
	return out, nil
}
