package reconcile

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/store"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// Refund follow-up schedule: bank refunds take up to 7 working days (seed 000), so a
// PROCESSING refund is queried hourly for a day, then daily; after StuckAfter it is
// reported on every run (ERROR log, refunds_stuck) while still being followed daily.
const (
	StuckAfter = 8 * 24 * time.Hour
)

func nextRefundCheck(created, now time.Time) time.Time {
	if now.Sub(created) < 24*time.Hour {
		return now.Add(time.Hour)
	}
	return now.Add(24 * time.Hour)
}

// refund follows one due refund: its effect on the order first (owed after a crash),
// then its result while PROCESSING.
func (j *Job) refund(ctx context.Context, rec store.Record, now time.Time, c *counters, lim *limiter) {
	c.examined.Add(1)
	log := j.log.With("key", rec.Key)
	r, err := payment.RefundOf(rec)
	if err != nil {
		c.errors.Add(1)
		log.Error("reconcile: decode refund", "error", err.Error())
		return
	}
	if r.SyncOwed {
		res, err := j.ledger.SyncRefund(ctx, r)
		if err != nil {
			c.errors.Add(1)
			log.Error("reconcile: apply refund to its order", "error", err.Error())
			return
		}
		if res.Refund != nil {
			r = res.Refund
		}
	}
	if r.State != wechatpay.RefundStatusProcessing {
		return // final: placed by its own transition
	}
	// A refund in REVIEW still PROCESSING is queried all the same: a result naming
	// another order put it there, but the refund is settling on its own order, and that
	// order must show what WeChat Pay settles. It is never submitted (below) while in
	// REVIEW: a person decides first.
	if err := lim.wait(ctx); err != nil {
		return
	}
	rf, err := j.api.QueryRefund(ctx, r.Owner, "", r.OutRefundNo) // the mode's refund API (shared/platform)
	if wechatpay.IsCode(err, wechatpay.CodeResourceNotExists) && r.InReview() {
		// Never submitted, and in REVIEW: not submitted now either. Asked again on the
		// refund's slowing schedule, in case it was submitted after all.
		c.pending.Add(1)
		log.Warn("reconcile: refund in REVIEW was never submitted to WeChat Pay; left for the review", "out_refund_no", r.OutRefundNo)
		if _, err := j.ledger.RescheduleRefund(ctx, r, nextRefundCheck(r.CreatedAt, now), now); err != nil {
			c.errors.Add(1)
			log.Error("reconcile: reschedule refund", "error", err.Error())
		}
		return
	}
	if wechatpay.IsCode(err, wechatpay.CodeResourceNotExists) {
		// Recorded but never submitted (the creator stopped between its write and the
		// call): submit it now; out_refund_no makes the call idempotent at WeChat Pay.
		// Every call of this refund takes its turn at the run's pace, as the query did:
		// a burst of refusals must not become a burst of calls.
		if err := lim.wait(ctx); err != nil {
			return
		}
		rf, err = j.submitRefund(ctx, r)
		if refusedForGood(err) {
			// Refused for good. Closed only once WeChat Pay says again that it holds no
			// such refund (a request of it in another form may have reached it since
			// the query): then it never existed — more than is left to refund, say,
			// after a refund made elsewhere — and its reservation is released, as
			// createorder does; asked again every run, it stayed PROCESSING for ever.
			if err := lim.wait(ctx); err != nil {
				return
			}
			held, qerr := j.api.QueryRefund(ctx, r.Owner, "", r.OutRefundNo)
			switch {
			case wechatpay.IsCode(qerr, wechatpay.CodeResourceNotExists):
				if perr := j.paymentNotHeld(ctx, r, err, lim); errors.Is(perr, payment.ErrRefusalUnconfirmed) {
					// Taken for a transient refusal: neither closed nor reviewed, the same
					// out_refund_no is submitted again a minute later.
					c.pending.Add(1)
					log.Warn("reconcile: WeChat Pay refused a refund as if the order were not paid, unconfirmed; submitted again in a minute",
						"out_refund_no", r.OutRefundNo, "refusal", err.Error(), "confirmation", perr.Error())
					if _, err := j.ledger.RescheduleRefund(ctx, r, now.Add(time.Minute), time.Time{}); err != nil {
						c.errors.Add(1)
						log.Error("reconcile: reschedule refund", "error", err.Error())
					}
					return
				} else if perr != nil {
					c.errors.Add(1)
					log.Error("reconcile: record that WeChat Pay holds no payment to refund; the refund stays PROCESSING", "out_refund_no", r.OutRefundNo, "error", perr.Error())
					return
				}
				log.Warn("reconcile: WeChat Pay refused a refund it never received; closed", "out_refund_no", r.OutRefundNo, "error", err.Error())
				rf, err = &wechatpay.Refund{OutRefundNo: r.OutRefundNo, OutTradeNo: r.OutTradeNo, TransactionID: r.TransactionID, Status: wechatpay.RefundStatusClosed,
					Amount: wechatpay.RefundAmount{Refund: r.Amount, Total: r.Total, Currency: "CNY"}}, nil
			case qerr == nil:
				rf, err = held, nil
			}
		}
	}
	if err != nil {
		if j.failure(ctx, err, c, lim, log) {
			if _, err := j.ledger.RescheduleRefund(ctx, r, now.Add(time.Minute), time.Time{}); err != nil {
				c.errors.Add(1)
				log.Error("reconcile: reschedule refund", "error", err.Error())
			}
		}
		return
	}
	lim.ok()
	if rf.Status == wechatpay.RefundStatusProcessing {
		if !r.CreatedAt.IsZero() && now.Sub(r.CreatedAt) >= StuckAfter {
			c.stuck.Add(1)
			log.Error("refund still PROCESSING after 8 days: check it in the merchant platform (退款处理中超过8天，请登录商户平台核查)", "out_refund_no", r.OutRefundNo, "metric", "refund_stuck")
		}
		c.pending.Add(1)
		if _, err := j.ledger.RescheduleRefund(ctx, r, nextRefundCheck(r.CreatedAt, now), now); err != nil {
			c.errors.Add(1)
			log.Error("reconcile: reschedule refund", "error", err.Error())
		}
		return
	}
	res, err := j.ledger.ApplyRefund(ctx, j.noticeFrom(rf, r), "reconcile")
	if err != nil {
		c.errors.Add(1)
		log.Error("reconcile: apply refund result", "error", err.Error())
		return
	}
	if res.Outcome == payment.Applied || res.Outcome == payment.Review {
		c.refundsSettled.Add(1)
	}
}

// noticeFrom turns a refund query answer into the notification shape the ledger takes:
// what WeChat Pay says (its out_trade_no, transaction_id), judged by the ledger against
// the order the refund belongs to.
func (j *Job) noticeFrom(rf *wechatpay.Refund, r *payment.Refund) *wechatpay.RefundNotice {
	n := &wechatpay.RefundNotice{OutTradeNo: rf.OutTradeNo, TransactionID: rf.TransactionID, OutRefundNo: rf.OutRefundNo,
		RefundID: rf.RefundID, RefundStatus: rf.Status, SuccessTime: rf.SuccessTime, UserReceivedAccount: rf.UserReceivedAccount, Amount: rf.Amount}
	j.ownNotice(n, r.Owner)
	return n
}

// paymentNotHeld puts r's order in REVIEW when WeChat Pay's refusal of r says it holds
// no paid order to refund (payment.RefusalDeniesPayment: 申请退款 RESOURCE_NOT_EXISTS
// "订单不存在"), while the ledger holds it paid, and WeChat Pay's order query confirms
// the refusal (payment.ConfirmRefusal) — the refusal kept, loud once. Called before r
// is closed; any other refusal (NOT_ENOUGH, more than is left), or one for a payment
// the ledger does not hold paid, writes nothing. Unconfirmed (paid there after all, or
// the query failed), it returns payment.ErrRefusalUnconfirmed: the refusal is taken
// for a transient one, and r must be neither closed nor reviewed. The order query
// takes its turn at the run's pace (lim) as every other call: the refusals come in
// bursts (WeChat Pay's transient one right after payments).
func (j *Job) paymentNotHeld(ctx context.Context, r *payment.Refund, refusal error, lim *limiter) error {
	rr, ok := payment.RefusalDeniesPayment(r.OutRefundNo, refusal)
	if !ok {
		return nil
	}
	o, err := j.ledger.Attempt(ctx, r.Owner, r.OutTradeNo)
	switch {
	case errors.Is(err, payment.ErrNotFound):
		return nil // an order not held here: nothing to contradict
	case err != nil:
		return fmt.Errorf("reconcile: read order %s of refund %s: %w", r.OutTradeNo, r.OutRefundNo, err)
	}
	if !o.HoldsPaid(r) {
		return nil
	}
	if err := lim.wait(ctx); err != nil {
		return fmt.Errorf("%w: the order query was not asked: %w", payment.ErrRefusalUnconfirmed, err)
	}
	state, qerr := j.api.PaymentState(ctx, o, r.TransactionID)
	switch {
	case wechatpay.IsCode(qerr, wechatpay.CodeFrequencyLimited):
		lim.throttled() // unconfirmed: asked again at the refund's next turn, slower
	case qerr == nil:
		lim.ok()
	}
	if err := payment.ConfirmRefusal(state, qerr); err != nil {
		return err
	}
	_, err = j.ledger.PaymentNotHeld(ctx, r, rr, "reconcile")
	return err
}

// refusedForGood reports whether WeChat Pay refused a refund request for good (not a
// transient failure, a rate limit, or the account's balance short for now).
func refusedForGood(err error) bool {
	var we *wechatpay.APIError
	var ve *wechatpay.ValidationError
	return errors.As(err, &ve) || errors.As(err, &we) && we.StatusCode < 500 && !we.Retryable() &&
		we.Code != wechatpay.CodeNotEnough && we.Code != wechatpay.CodeFrequencyLimited
}

// submitRefund (re)submits a recorded refund, as createorder asks it
// (payment.WeChatRefund): WeChat Pay takes an out_refund_no again only as the same
// request, and the merchant may repeat a refund reconcile submitted.
func (j *Job) submitRefund(ctx context.Context, r *payment.Refund) (*wechatpay.Refund, error) {
	o, err := j.ledger.Attempt(ctx, r.Owner, r.OutTradeNo)
	switch {
	case errors.Is(err, payment.ErrNotFound):
		o = &payment.Order{} // a refund of an order not held here: named by its record alone
	case err != nil:
		return nil, err
	}
	req, subAppID := payment.WeChatRefund(o, r, j.opts.NotifyURL)
	return j.api.Refund(ctx, r.Owner, subAppID, req, r.Advance != nil)
}

// lateRefund refunds every payment that arrived for an order after it was closed, when
// the deployment asks for it; the order stays in REVIEW for a person to see.
func (j *Job) lateRefund(ctx context.Context, rec store.Record, now time.Time, c *counters, lim *limiter) {
	c.examined.Add(1)
	log := j.log.With("key", rec.Key)
	o, err := payment.OrderOf(rec)
	if err != nil {
		c.errors.Add(1)
		log.Error("reconcile: decode order", "error", err.Error())
		return
	}
	if j.refundAll && o.LateRefundsOwed {
		for _, cx := range o.Conflicts {
			if cx.Cause != payment.CausePaidAfterClose || cx.TransactionID == "" {
				continue
			}
			if err := j.refundLate(ctx, o, cx.TransactionID, cx.Amount, lim); err != nil {
				if j.failure(ctx, err, c, lim, log) {
					if _, err := j.ledger.Reschedule(ctx, o, now.Add(time.Minute), time.Time{}); err != nil {
						log.Error("reconcile: reschedule late refunds", "error", err.Error())
					}
				}
				return
			}
			c.late.Add(1)
			log.Warn("reconcile refunded a payment made after the order closed", "transaction_id", cx.TransactionID, "amount", cx.Amount)
		}
	}
	if _, err := j.ledger.LateRefundsDone(ctx, o); err != nil {
		c.errors.Add(1)
		log.Error("reconcile: record late refunds done", "error", err.Error())
	}
}

// LateRefundNo is the out_refund_no of the automatic refund of a late payment: derived
// from the transaction, so repeating it can never refund twice.
func LateRefundNo(transactionID string) string { return "LATE" + transactionID }

func (j *Job) refundLate(ctx context.Context, o *payment.Order, txid string, amount int64, lim *limiter) error {
	no := LateRefundNo(txid)
	// Recorded first, so the refund is followed (queried, applied) like any other; an
	// earlier run's record is fine: submitting again is idempotent at WeChat Pay.
	if _, err := j.ledger.RequestRefund(ctx, o, payment.RefundRequest{OutRefundNo: no, Amount: amount, Reason: "payment after the order closed", TransactionID: txid}); err != nil {
		return err
	}
	if err := lim.wait(ctx); err != nil {
		return err
	}
	_, err := j.api.Refund(ctx, o.Owner, "", wechatpay.RefundRequest{TransactionID: txid, OutRefundNo: no, Reason: "订单已关闭后支付，自动退款 (paid after close)",
		NotifyURL: j.opts.NotifyURL, Amount: wechatpay.RefundAmount{Refund: amount, Total: amount, Currency: "CNY"}}, false)
	if err != nil {
		return err
	}
	lim.ok()
	return nil
}
