package billfetch

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/paysls/wxpay/shared/clock"

	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/store"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// A platform (WXPAY_MODE=ecommerce) applies for its trade bill without sub_mchid and
// gets every sub-merchant's rows in one file ("sub_mchid … 不填则返回服务商下所有子商户的
// 全量账单", 申请所有/单个子商户交易账单, pay.weixin.qq.com/docs/partner/apis/
// partner-jsapi-payment/get-trade-bill.html): each row names its sub-merchant
// (特约商户号) and is matched against that sub-merchant's order or refund — a combine's
// sub-orders are rows of their own. A sub-merchant's payments wait in the platform's
// bill day listing (the account paid, payment.Order.schedule), so the long check covers
// every sub-merchant's payments — also one with no row in the day's bill — and their
// refunds (payment.Refund.Account; refunds recorded before it wait in the sub-merchant's
// listing, covered for every sub-merchant the bill lists).

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

// answersFor reports whether the bill answers for paid order o: its merchant's, or on a
// platform's full bill any sub-merchant's the platform was paid for.
func (r *reconciler) answersFor(o *payment.Order) bool {
	if r.m.all {
		return o.Payment != nil && o.Payment.MchID == r.m.mchid
	}
	return o.Owner == r.m.mchid
}

// owners are the merchants whose bill day listings hold what the bill answers for,
// sorted: the merchant's own; in partner mode the service provider's too (the account
// a sub-merchant's payments are listed under; refunds and payments listed before that
// are under the sub-merchant); on a platform's full bill the platform's (every
// sub-merchant's payments) and every sub-merchant's the bill lists (their refunds).
func (r *reconciler) owners() []string {
	if !r.m.all {
		return slices.Compact(slices.Sorted(slices.Values([]string{r.m.mchid, cmp.Or(r.m.sp, r.m.mchid)})))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	out := []string{r.m.mchid}
	for o := range r.seen {
		if o != r.m.mchid {
			out = append(out, o)
		}
	}
	slices.Sort(out)
	return out
}

// listedHere reports whether a record of a bill day listing is one the bill answers
// for: in partner mode the service provider's listing holds every sub-merchant's.
func (r *reconciler) listedHere(rec store.Record) bool {
	if r.m.all || r.m.sp == "" {
		return true
	}
	parts := strings.SplitN(rec.Key, "/", 3)
	return len(parts) == 3 && parts[1] == r.m.mchid
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

// merchantsOf are the merchants whose trade bills a run for day fetches. A service
// provider (partner mode) serves every sub-merchant an order names, but a bill with
// sub_mchid lists that one sub-merchant only (申请交易账单, pay.weixin.qq.com/docs/
// partner/apis/partner-jsapi-payment/get-trade-bill.html): beside the configured
// sub-merchant, every sub-merchant with money in the ledger that day gets its own bill
// — found in the provider's bill day listing, where each one's payments and refunds wait
// (the account paid), and among the successes waiting for a profit-sharing step. A
// sub-merchant with nothing at WeChat Pay that day gets NO_STATEMENT_EXIST, an empty
// bill, so its ledger entries are reported missing like any other.
func (j *Job) merchantsOf(ctx context.Context, day time.Time) ([]merchant, error) {
	if len(j.merchants) != 1 || j.merchants[0].sp == "" {
		return j.merchants, nil
	}
	base := j.merchants[0]
	date := day.Format(time.DateOnly)
	subs := map[string]bool{base.mchid: true}
	rc := &reconciler{j: j, m: base, date: date, day: day}
	note := func(rec store.Record) error {
		if parts := strings.SplitN(rec.Key, "/", 3); len(parts) == 3 {
			subs[parts[1]] = true
		}
		return nil
	}
	err := rc.eachMarker(ctx, base.sp, date, note)
	if err == nil { // near-midnight successes of the day before, rechecked today
		err = rc.eachMarker(ctx, base.sp, day.AddDate(0, 0, -1).Format(time.DateOnly), func(rec store.Record) error {
			if billNote(rec).Recheck != date {
				return nil
			}
			return note(rec)
		})
	}
	if err == nil {
		err = rc.eachListed(ctx, payment.PendingShares, func(rec store.Record) error {
			o, err := payment.OrderOf(rec)
			if err != nil || !o.Paid() || o.InReview() || o.Bill.Seen != "" || o.Payment.MchID != base.sp {
				return nil
			}
			if successAt(o.Payment.SuccessTime, o.Payment.ReceivedAt).In(clock.CST).Format(time.DateOnly) == date {
				subs[o.Owner] = true
			}
			return nil
		})
	}
	if err != nil {
		// The configured sub-merchant's bill is still fetched and checked.
		return j.merchants, fmt.Errorf("billfetch: sub-merchants with money on %s: %w", date, err)
	}
	out := make([]merchant, 0, len(subs))
	var others []string
	for _, sub := range slices.Sorted(maps.Keys(subs)) {
		m := base
		if sub != base.mchid {
			m.mchid, m.client = sub, j.client.ForSub(sub, "")
			others = append(others, sub)
		}
		out = append(out, m)
	}
	for i := range out {
		if out[i].mchid == base.mchid {
			out[i].others = others
		}
	}
	return out, nil
}
