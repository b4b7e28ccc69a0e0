package billfetch

import (
	"context"
	"fmt"
	"slices"

	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// A platform (WXPAY_MODE=ecommerce) applies for its trade bill without sub_mchid and
// gets every sub-merchant's rows in one file ("sub_mchid … 不填则返回服务商下所有子商户的
// 全量账单", 申请所有/单个子商户交易账单, pay.weixin.qq.com/docs/partner/apis/
// partner-jsapi-payment/get-trade-bill.html): each row names its sub-merchant
// (特约商户号) and is matched against that sub-merchant's order or refund — a combine's
// sub-orders are rows of their own. The bill day listings are per sub-merchant: the
// long check covers every sub-merchant the bill lists (a sub-merchant with payments
// here and none in the bill is not listed by it; see the README).

// owns reports whether a bill row is this merchant's: its own rows, or on a platform's
// full bill any row of the platform (商户号 = sp_mchid).
func (r *reconciler) owns(row *TradeRow) bool {
	if !r.m.all {
		return row.Owner() == r.m.mchid
	}
	if row.MchID != r.m.mchid || row.Owner() == "" {
		return false
	}
	r.mu.Lock()
	if r.seen == nil {
		r.seen = map[string]bool{}
	}
	r.seen[row.Owner()] = true
	r.mu.Unlock()
	return true
}

// client is the WeChat Pay client acting for a row's merchant.
func (r *reconciler) client(row *TradeRow) *wechatpay.Client {
	if !r.m.all {
		return r.m.client
	}
	return r.m.client.ForSub(row.Owner(), "")
}

// owners are the merchants whose bill day listings the bill answers for, sorted.
func (r *reconciler) owners() []string {
	if !r.m.all {
		return []string{r.m.mchid}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.seen))
	for o := range r.seen {
		out = append(out, o)
	}
	slices.Sort(out)
	return out
}

// settleSubOrder settles a combine's sub-order the bill lists as paid while it is not
// paid here: a sub-order is queried only through its combine (合单查询), whose answer
// settles every sub-order through the ledger.
func (r *reconciler) settleSubOrder(ctx context.Context, row *TradeRow, o *payment.Order) error {
	ours := o.Status()
	ct, err := r.m.client.QueryCombine(ctx, o.Combine.CombineNo)
	if err != nil {
		return fmt.Errorf("billfetch: query combine %s of %s (paid in the bill, %s here): %w", o.Combine.CombineNo, row.OutTradeNo, ours, err)
	}
	res, err := r.j.ledger.ApplyCombine(ctx, ct, SourceBill)
	if err != nil {
		return fmt.Errorf("billfetch: settle combine %s: %w", o.Combine.CombineNo, err)
	}
	for _, sr := range res.Results {
		if sr.Order == nil || sr.Order.OutTradeNo != row.OutTradeNo {
			continue
		}
		switch sr.Outcome {
		case payment.Applied:
			r.count(&r.rep.Settled)
			r.j.log.Info("sub-order settled from the bill", "mchid", row.Owner(), "out_trade_no", row.OutTradeNo, "state_before", ours)
			r.add(settledPayment(row.OutTradeNo))
		case payment.Duplicate:
			r.count(&r.rep.Matched)
		default:
			c := causeOf(sr.Order, row.TransactionID)
			r.add(Discrepancy{Kind: reviewKind(c.Kind), OutTradeNo: row.OutTradeNo, Ours: ours + " → " + payment.StateReview,
				Theirs: wechatpay.TradeStateSuccess, Note: c.Detail})
		}
		return nil
	}
	r.add(Discrepancy{Kind: KindState, OutTradeNo: row.OutTradeNo, Ours: ours, Theirs: "SUCCESS in the bill, not paid in its combine's query"})
	return nil
}
