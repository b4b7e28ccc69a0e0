package reconcile

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/platform"
	"github.com/paysls/wxpay/shared/store"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// combine follows one due combine order (合单): a sub-order is queried only through its
// combine ("请勿使用非合单支付的查单接口查询合单订单", 查询合单订单,
// pay.weixin.qq.com/doc/v3/merchant/4012557006), so the combine holds the schedule. Its
// answer settles every sub-order through the ledger, as the notification would have;
// an expired combine, or one whose close was asked for, is closed whole (合单关单,
// never in its first 5 minutes). A combine whose sub-orders all have their result
// leaves the schedule without a query.
func (j *Job) combine(ctx context.Context, rec store.Record, now time.Time, c *counters, lim *limiter) {
	c.examined.Add(1)
	log := j.log.With("key", rec.Key)
	cb, err := payment.CombineOf(rec)
	if err != nil {
		c.errors.Add(1)
		log.Error("reconcile: decode combine", "error", err.Error())
		return
	}
	// A re-priced combine's sub-orders follow it (a process stopped between the
	// combine's pointer and theirs left them behind).
	if err := j.ledger.PointSubOrders(ctx, cb); err != nil {
		c.errors.Add(1)
		log.Error("reconcile: move sub-orders to the combine's attempt", "error", err.Error())
		return
	}
	subs, err := j.ledger.SubOrders(ctx, cb)
	if err != nil {
		c.errors.Add(1)
		log.Error("reconcile: read sub-orders", "error", err.Error())
		return
	}
	if allSettled(subs) {
		j.rescheduleCombine(ctx, cb, time.Time{}, now, true, c, log)
		return
	}
	if err := lim.wait(ctx); err != nil {
		return
	}
	ct, err := j.client.QueryCombine(ctx, cb.CombineNo)
	switch {
	case wechatpay.IsCode(err, wechatpay.CodeOrderNotExist):
		// Never placed (a cashier link not opened, a prepay that never arrived).
		lim.ok()
		if j.combineDueToClose(cb, now) {
			j.closeCombineLocally(ctx, cb, c, log)
			return
		}
		c.pending.Add(1)
		j.rescheduleCombine(ctx, cb, payment.NextCheck(cb.CreatedAt, cb.ExpiresAt, now), now, false, c, log)
		return
	case err != nil:
		if j.failure(ctx, err, c, lim, log) {
			j.rescheduleCombine(ctx, cb, now.Add(time.Minute), time.Time{}, false, c, log)
		}
		return
	}
	lim.ok()
	res, err := j.ledger.ApplyCombine(ctx, ct, "reconcile")
	if err != nil {
		c.errors.Add(1)
		log.Error("reconcile: apply combine query result", "error", err.Error())
		return
	}
	for _, r := range res.Results {
		if (r.Outcome == payment.Applied || r.Outcome == payment.Review) && r.Order != nil && r.Order.Payment != nil {
			c.settled.Add(1)
			log.Info("reconcile settled a combine sub-order the notification missed", "out_trade_no", r.Order.OutTradeNo,
				"transaction_id", r.Order.Payment.TransactionID, "outcome", string(r.Outcome))
		}
	}
	if final(ct) {
		if !j.closeFailed(ctx, ct, c, log) {
			j.rescheduleCombine(ctx, cb, now.Add(time.Minute), time.Time{}, false, c, log)
			return
		}
		j.rescheduleCombine(ctx, cb, time.Time{}, now, true, c, log)
		return
	}
	if !j.combineDueToClose(cb, now) {
		c.pending.Add(1)
		next := payment.NextCheck(cb.CreatedAt, cb.ExpiresAt, now)
		if cb.Close != nil && cb.Close.At.After(now) && cb.Close.At.Before(next) {
			next = cb.Close.At
		}
		j.rescheduleCombine(ctx, cb, next, now, false, c, log)
		return
	}
	j.closeCombine(ctx, cb, now, c, lim, log)
}

// final reports whether every sub-order of a combine has its result at WeChat Pay. A
// combine whose payment failed (PAYERROR) cannot be paid again.
func final(ct *wechatpay.CombineTransaction) bool {
	for _, s := range ct.SubOrders {
		switch s.TradeState {
		case wechatpay.TradeStateSuccess, wechatpay.TradeStateRefund, wechatpay.TradeStateClosed, wechatpay.TradeStateRevoked, wechatpay.TradeStatePayError:
		default:
			return false
		}
	}
	return true
}

// closeFailed closes here the sub-orders of a final combine whose payment failed
// (PAYERROR), with order.closed: WeChat Pay never lets the combine be paid again, and a
// combine with a paid sub-order cannot be closed there (ORDERPAID), so nothing else
// would ever settle them — they stayed NOTPAY, payable to the merchant's eyes. Should
// one be paid after all, the payment is kept in REVIEW (paid after close). It reports
// whether every one is recorded.
func (j *Job) closeFailed(ctx context.Context, ct *wechatpay.CombineTransaction, c *counters, log *slog.Logger) bool {
	ok := true
	txs := ct.Transactions()
	for i := range txs {
		if txs[i].TradeState != wechatpay.TradeStatePayError {
			continue
		}
		res, err := j.ledger.MarkClosed(ctx, payment.OrderKey(payment.OwnerMchID(&txs[i]), txs[i].OutTradeNo), "reconcile")
		switch {
		case errors.Is(err, payment.ErrNotFound):
		case err != nil:
			ok = false
			c.errors.Add(1)
			log.Error("reconcile: record the close of a failed combine sub-order", "out_trade_no", txs[i].OutTradeNo, "error", err.Error())
		case res.Outcome == payment.Applied:
			c.closed.Add(1)
			log.Info("reconcile closed a combine sub-order whose payment failed", "out_trade_no", txs[i].OutTradeNo)
		}
	}
	return ok
}

func allSettled(subs []*payment.Order) bool {
	for _, o := range subs {
		if !payment.SubSettled(o) {
			return false
		}
	}
	return true
}

func (j *Job) combineDueToClose(cb *payment.Combine, now time.Time) bool {
	if cb.Parked() {
		// Left by the cashier page for another scene, as an order (dueToClose).
		return !now.Before(cb.Close.At)
	}
	if cb.Close != nil {
		return true
	}
	return !cb.ExpiresAt.IsZero() && now.After(cb.ExpiresAt)
}

// closeCombine closes a combine at WeChat Pay with every sub-order as placed, then
// locally (order.closed for each unpaid sub-order).
func (j *Job) closeCombine(ctx context.Context, cb *payment.Combine, now time.Time, c *counters, lim *limiter, log *slog.Logger) {
	if earliest := cb.CreatedAt.Add(minCloseAge + time.Second); now.Before(earliest) {
		c.pending.Add(1)
		j.rescheduleCombine(ctx, cb, earliest, time.Time{}, false, c, log)
		return
	}
	if err := lim.wait(ctx); err != nil {
		return
	}
	subs := make([]wechatpay.CombineCloseSubOrder, len(cb.SubOrders))
	for i, s := range cb.SubOrders {
		subs[i] = wechatpay.CombineCloseSubOrder{MchID: cb.Owner, OutTradeNo: s.OutTradeNo, SubMchID: s.SubMchID, SubAppID: s.SubAppID}
	}
	err := j.client.CloseCombine(ctx, cb.CombineNo, subs)
	switch {
	case err == nil, wechatpay.IsCode(err, wechatpay.CodeOrderClosed), wechatpay.IsCode(err, wechatpay.CodeOrderNotExist):
		lim.ok()
	case wechatpay.IsCode(err, wechatpay.CodeOrderPaid):
		lim.ok()
		j.rescheduleCombine(ctx, cb, now, time.Time{}, false, c, log) // the next query settles it
		return
	case wechatpay.IsCode(err, codeRuleLimit):
		c.pending.Add(1)
		j.rescheduleCombine(ctx, cb, now.Add(time.Minute), time.Time{}, false, c, log)
		return
	default:
		if j.failure(ctx, err, c, lim, log) {
			j.rescheduleCombine(ctx, cb, now.Add(time.Minute), time.Time{}, false, c, log)
		}
		return
	}
	j.closeCombineLocally(ctx, cb, c, log)
}

func (j *Job) closeCombineLocally(ctx context.Context, cb *payment.Combine, c *counters, log *slog.Logger) {
	if _, err := j.ledger.MarkCombineClosed(ctx, cb, "reconcile"); err != nil {
		c.errors.Add(1)
		log.Error("reconcile: record combine close", "error", err.Error())
		return
	}
	c.closed.Add(1)
	reason := "expired"
	if cb.Close != nil {
		reason = "close requested"
	}
	log.Info("reconcile closed a combine", "reason", reason, "sub_orders", len(cb.SubOrders))
}

func (j *Job) rescheduleCombine(ctx context.Context, cb *payment.Combine, next, checkedAt time.Time, settled bool, c *counters, log *slog.Logger) {
	if _, err := j.ledger.RescheduleCombine(ctx, cb, next, checkedAt, settled); err != nil {
		c.errors.Add(1)
		log.Error("reconcile: reschedule combine", "error", err.Error())
	}
}

// advanceReturn takes back what the platform advanced for a refund (垫付退款回补) once
// the refund has succeeded, and follows a PROCESSING return daily; the ledger records
// the result on the refund (shared/payment/advance.go says what each means).
func (j *Job) advanceReturn(ctx context.Context, rec store.Record, now time.Time, c *counters, lim *limiter) {
	c.examined.Add(1)
	log := j.log.With("key", rec.Key)
	r, err := payment.RefundOf(rec)
	if err != nil {
		c.errors.Add(1)
		log.Error("reconcile: decode refund", "error", err.Error())
		return
	}
	if !r.AdvanceOwed() {
		return
	}
	if r.RefundID == "" {
		// The return is asked by refund_id: learn it from the refund first.
		rf, err := j.api.QueryRefund(ctx, r.Owner, "", r.OutRefundNo)
		if err != nil || rf.RefundID == "" {
			j.rescheduleAdvance(ctx, r, now.Add(time.Hour), c, log)
			return
		}
		r.RefundID = rf.RefundID
	}
	if err := lim.wait(ctx); err != nil {
		return
	}
	ret, err := j.api.ReturnAdvance(ctx, r.Owner, r.RefundID)
	notAdvanced := errors.Is(err, platform.ErrNotAdvanced)
	if err != nil && !notAdvanced {
		if j.failure(ctx, err, c, lim, log) {
			j.rescheduleAdvance(ctx, r, now.Add(time.Hour), c, log)
		}
		return
	}
	lim.ok()
	res, err := j.ledger.RecordAdvanceReturn(ctx, r, ret, notAdvanced, "reconcile")
	if err != nil {
		c.errors.Add(1)
		log.Error("reconcile: record advance return", "error", err.Error())
		return
	}
	if res.Outcome == payment.Applied || res.Outcome == payment.Review {
		c.advances.Add(1)
		state := payment.AdvanceNone
		if ret != nil {
			state = ret.Result
		}
		log.Info("reconcile: return of a refund's advance", "out_refund_no", r.OutRefundNo, "result", state)
	}
}

func (j *Job) rescheduleAdvance(ctx context.Context, r *payment.Refund, at time.Time, c *counters, log *slog.Logger) {
	if _, err := j.ledger.RescheduleAdvance(ctx, r, at); err != nil {
		c.errors.Add(1)
		log.Error("reconcile: reschedule advance return", "error", err.Error())
	}
}
