package reconcile

// The profit-sharing job (分账) is a phase of reconcile, not a function of its own: it
// takes what is due from the pending index "shares" (payment.PendingShares) — an order
// sits there only while a step of its sharing is due, at the time it is due — so one run
// costs what is due, never the table; reconcile already runs every minute on both
// clouds with the WeChat Pay client, the ledger, the rate limiter and the deadline
// handling a split needs, and a split is due at minute granularity (WeChat Pay takes it
// no sooner than a minute after payment). One more function would be one more deploy,
// schedule and IAM role on each cloud for the same loop.
//
// For each due order the phase takes the steps payment.Order.NextShare names, one
// ledger transition around each WeChat Pay call, until nothing is due now:
//
//   - the subsidy first (补差, when the order was placed with one: WeChat Pay splits a
//     subsidised order only after it), then the split (请求分账: reserved in the ledger
//     with its amounts, then asked; idempotent by out_order_no, so a crash between the
//     two asks again the same), followed by query (and the PROFITSHARING.* notifications,
//     functions/notify) until FINISHED, then the finish (完结分账: the rest released);
//   - a refund of a shared order that would leave the shares above what the order
//     holds is held by the ledger: the phase reserves the returns it needs (分账回退),
//     asks for them, and asks WeChat Pay for the refund only once they succeeded. A
//     return that fails leaves the refund waiting and visible (GET …/refunds/{no}
//     shows waiting_for) and is tried again later.
//
// WeChat Pay's answers are sorted three ways: a final refusal (the item FAILED with
// WeChat Pay's message, its event recorded, a person to act), "too early"
// (订单处理中,暂时无法分账 a minute after payment: asked again a minute later) and
// transient failures (network, SYSTEM_ERROR, FREQUENCY_LIMITED: the order stays due,
// retried with back-off).

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/store"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// SharingReport is what the profit-sharing phase did in one run.
type SharingReport struct {
	Examined int `json:"examined"` // due orders taken from the index
	// Asked are the splits and finishes WeChat Pay accepted this run; their results
	// come later (a query, or a profit-sharing notification notify applies), so Split
	// and Finished count only those this run saw FINISHED.
	Asked           int `json:"asked"`
	Split           int `json:"split"`            // splits seen FINISHED
	Finished        int `json:"finished"`         // finishes seen FINISHED
	Returned        int `json:"returned"`         // returns that succeeded
	RefundsReleased int `json:"refunds_released"` // held refunds asked of WeChat Pay
	Refused         int `json:"refused"`          // requests WeChat Pay refused for good
}

func (c *counters) sharingReport() SharingReport {
	return SharingReport{Examined: int(c.sharesExamined.Load()), Asked: int(c.sharesAsked.Load()), Split: int(c.shares.Load()), Finished: int(c.finishes.Load()),
		Returned: int(c.returns.Load()), RefundsReleased: int(c.refundsReleased.Load()), Refused: int(c.sharesFailed.Load())}
}

// maxShareSteps bounds the steps one order takes in one run (a split, its query, the
// finish and its query are four); what is left stays due for the next run.
const maxShareSteps = 8

// share carries out what is due of one order's profit sharing.
func (j *Job) share(ctx context.Context, rec store.Record, now time.Time, c *counters, lim *limiter) {
	c.sharesExamined.Add(1)
	log := j.log.With("key", rec.Key)
	o, err := payment.OrderOf(rec)
	if err != nil {
		c.errors.Add(1)
		log.Error("reconcile: decode order", "error", err.Error())
		return
	}
	for range maxShareSteps {
		// The business clock moves on during the run (the ledger stamps a follow-up due
		// "now" with it): a step due by then is taken in this run.
		now = later(now, j.opts.Now())
		act, at := o.NextShare(now)
		if act == payment.ActNone || at.After(now) || ctx.Err() != nil {
			return
		}
		if err := lim.wait(ctx); err != nil {
			return
		}
		next, err := j.shareStep(ctx, o, act, now, c, lim)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			j.shareFailure(ctx, o, err, now, c, lim, log)
			return
		}
		lim.ok()
		if next == nil {
			return
		}
		o = next
	}
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// shareFailure reschedules an order after a step failed before WeChat Pay answered
// (transient): a minute later, then with back-off.
func (j *Job) shareFailure(ctx context.Context, o *payment.Order, err error, now time.Time, c *counters, lim *limiter, log *slog.Logger) {
	if !j.failure(ctx, err, c, lim, log) {
		return
	}
	tries := 0
	if o.Sharing != nil {
		tries = o.Sharing.Tries
	}
	at := now.Add(time.Minute << min(tries, 6))
	if _, err := j.ledger.RetryShare(ctx, o, at, ""); err != nil {
		c.errors.Add(1)
		log.Error("reconcile: reschedule sharing", "error", err.Error())
	}
}

// refusal sorts a WeChat Pay error of a sharing call: final (the item fails with
// WeChat Pay's message), too early (asked again at retry), or transient (returned as
// is, for shareFailure).
func refusal(err error, now time.Time) (reason string, retry time.Time, final bool) {
	var we *wechatpay.APIError
	var ve *wechatpay.ValidationError
	switch {
	case errors.As(err, &ve):
		return ve.Error(), time.Time{}, true
	case !errors.As(err, &we) || we.StatusCode >= 500 || we.Retryable() || we.Code == wechatpay.CodeFrequencyLimited:
		return "", time.Time{}, false
	case strings.Contains(we.Message, "订单处理中"):
		// 分账常见问题: asked too soon after payment; call it again a minute later.
		return we.Message, now.Add(wechatpay.ShareNotBefore), true
	}
	return strings.TrimSpace(we.Code + " " + we.Message), time.Time{}, true
}

// refuse records a refusal of item no on o, or returns the transient error.
func (j *Job) refuse(ctx context.Context, o *payment.Order, no string, err error, now time.Time, c *counters) (*payment.Order, error) {
	reason, retry, final := refusal(err, now)
	if !final {
		return nil, err
	}
	if retry.IsZero() {
		c.sharesFailed.Add(1)
		j.log.Warn("WeChat Pay refused a profit-sharing request", "out_trade_no", o.OutTradeNo, "no", no, "reason", reason)
	}
	return j.ledger.RefuseShare(ctx, o, no, reason, retry)
}

// shareStep takes one step; it returns the order after it (nil: stop for this run).
// The step's first call to WeChat Pay took its turn (share); any further call it makes
// takes its own at lim.
func (j *Job) shareStep(ctx context.Context, o *payment.Order, act payment.ShareAction, now time.Time, c *counters, lim *limiter) (*payment.Order, error) {
	s := o.Sharing
	txid := o.Payment.TransactionID
	switch act {
	case payment.ActSubsidy, payment.ActSubsidyCancel:
		if s.Subsidy == nil {
			next, _, err := j.ledger.RequestSubsidy(ctx, o, s.SubsidyAmount, "", "")
			if err != nil {
				return nil, err
			}
			o, s = next, next.Sharing
		}
		if sub := s.Subsidy; sub.State == payment.SharePending {
			a, err := j.api.Subsidy(ctx, o.Owner, txid, *sub)
			if err != nil {
				return j.refuse(ctx, o, sub.OutSubsidyNo, err, now, c)
			}
			return j.ledger.ApplySubsidy(ctx, o, "", a)
		}
		for _, sr := range o.PendingSubsidyReturns() {
			a, err := j.api.ReturnSubsidy(ctx, o.Owner, txid, sr, s.Subsidy.SubsidyID)
			if err != nil {
				return j.refuse(ctx, o, sr.OutOrderNo, err, now, c)
			}
			if o, err = j.ledger.ApplySubsidy(ctx, o, sr.OutOrderNo, a); err != nil {
				return nil, err
			}
		}
		return o, nil

	case payment.ActSplit:
		next, line, err := j.ledger.ReserveSplit(ctx, o)
		if err != nil || line == nil || line.State != payment.SharePending {
			return next, err
		}
		return j.sendSplit(ctx, next, *line, now, c)

	case payment.ActQuerySplit:
		for _, sp := range s.Splits {
			switch sp.State {
			case payment.SharePending:
				if !o.InReview() {
					return j.sendSplit(ctx, o, sp, now, c)
				}
				fallthrough // in REVIEW: queried, never sent (reviewQuery)
			case wechatpay.ShareProcessing:
				res, err := j.api.QuerySplit(ctx, o.Owner, txid, sp.OutOrderNo)
				if err != nil {
					return j.reviewQuery(ctx, o, sp.OutOrderNo, sp.State, sp.At, err, now)
				}
				next, out, err := j.ledger.ApplySplit(ctx, o, sp.OutOrderNo, res)
				if err == nil && out == payment.Applied && res.State == wechatpay.ShareFinished {
					c.shares.Add(1)
				}
				return next, err
			}
		}
		return nil, nil

	case payment.ActFinish:
		next, f, err := j.ledger.ReserveFinish(ctx, o)
		if err != nil || f == nil || f.State != payment.SharePending {
			return next, err
		}
		return j.sendFinish(ctx, next, f.OutOrderNo, now, c)

	case payment.ActQueryFinish:
		if s.Finish.State == payment.SharePending && !o.InReview() {
			return j.sendFinish(ctx, o, s.Finish.OutOrderNo, now, c)
		}
		res, err := j.api.QuerySplit(ctx, o.Owner, txid, s.Finish.OutOrderNo)
		if err != nil {
			return j.reviewQuery(ctx, o, s.Finish.OutOrderNo, s.Finish.State, s.Finish.At, err, now)
		}
		next, out, err := j.ledger.ApplyFinish(ctx, o, res)
		if err == nil && out == payment.Applied && res.State == wechatpay.ShareFinished {
			c.finishes.Add(1)
		}
		return next, err

	case payment.ActReturns:
		next, lines, err := j.ledger.ReserveReturns(ctx, o)
		if err != nil {
			return nil, err
		}
		for _, rl := range lines {
			if next, err = j.sendReturn(ctx, next, rl, now, c); err != nil || next == nil {
				return next, err
			}
		}
		if len(lines) == 0 {
			return nil, nil // nothing could be reserved now: retried at the order's RetryAt
		}
		return next, nil

	case payment.ActQueryReturn:
		for _, rl := range s.Returns {
			switch rl.State {
			case payment.SharePending:
				if !o.InReview() {
					return j.sendReturn(ctx, o, rl, now, c)
				}
				fallthrough // in REVIEW: queried, never sent (reviewQuery)
			case wechatpay.ReturnProcessing:
				res, err := j.api.QueryReturn(ctx, o.Owner, rl)
				if err != nil {
					return j.reviewQuery(ctx, o, rl.OutReturnNo, rl.State, rl.At, err, now)
				}
				next, _, err := j.ledger.ApplyReturn(ctx, o, rl.OutReturnNo, res)
				if err == nil && res.Result == wechatpay.ReturnSuccess {
					c.returns.Add(1)
				}
				return next, err
			}
		}
		return nil, nil

	case payment.ActCloseHeld:
		// Held refunds no return can make room for — held by an older ledger for a
		// share paid to a person, which WeChat Pay never returns (the ledger now refuses
		// such a refund up front, sharing_unreturnable.go): kept, each would wait for ever
		// and reserve its amount, refusing every smaller refund. Each is closed as a
		// refund WeChat Pay refused for good is above — never asked of WeChat Pay, its
		// reservation released, refund.failed once — and its hold let go. A crash between
		// the two leaves the refund closed and still listed: it reserves nothing then, so
		// the next run lets it go (ActReleaseRefunds, which asks nothing of a closed one).
		for _, h := range o.UnreleasableRefunds() {
			r, err := j.ledger.Refund(ctx, o.Owner, h.OutRefundNo)
			if err != nil && !errors.Is(err, payment.ErrNotFound) {
				return nil, err
			}
			// No record: the refund's request stopped between the order's write (the hold)
			// and the refund's, and its line still reserves on the order: closed all the
			// same (the ledger records the closed refund and closes the line), or letting
			// the hold go would leave the line reserving for ever.
			var n *wechatpay.RefundNotice
			switch line := o.Line(h.OutRefundNo); {
			case r != nil && r.State == wechatpay.RefundStatusProcessing && r.Held != "":
				n = j.closedNotice(o.Owner, r.OutTradeNo, r.TransactionID, r.OutRefundNo, r.Amount, r.Total)
			case r == nil && line != nil && line.State == wechatpay.RefundStatusProcessing:
				n = j.closedNotice(o.Owner, o.OutTradeNo, line.TransactionID, h.OutRefundNo, line.Amount, o.Amount)
			}
			if n != nil {
				j.log.Warn("reconcile: a held refund needs back a profit share WeChat Pay never returns (a person's); closed, never asked",
					"out_trade_no", o.OutTradeNo, "out_refund_no", n.OutRefundNo, "amount", n.Amount.Refund)
				if _, err := j.ledger.ApplyRefund(ctx, n, "reconcile"); err != nil {
					return nil, err
				}
			}
			next, err := j.ledger.ReleaseHeldRefund(ctx, o, h.OutRefundNo)
			if err != nil {
				return nil, err
			}
			o = next
		}
		return o, nil

	case payment.ActReleaseRefunds:
		for i, h := range o.ReleasableRefunds() {
			r, err := j.ledger.Refund(ctx, o.Owner, h.OutRefundNo)
			if err != nil && !errors.Is(err, payment.ErrNotFound) {
				return nil, err
			}
			// No record: the refund's request stopped between the order's write (the
			// hold) and the refund's, answered with an error, and nothing was asked of
			// WeChat Pay. Its hold is let go all the same (the shares are back): the
			// merchant's retry records it and asks WeChat Pay at once, as for a refund
			// never held; kept, the hold would wait for it for ever.
			if r != nil && r.State == wechatpay.RefundStatusProcessing && r.Held != "" {
				if i > 0 {
					if err := lim.wait(ctx); err != nil {
						return nil, err
					}
				}
				if _, err := j.submitRefund(ctx, r); err != nil {
					if _, _, final := refusal(err, now); final {
						// WeChat Pay refused the refund for good: it never existed; the
						// reservation is released by closing it, as the order API does —
						// after the order went to REVIEW if the refusal says WeChat Pay
						// holds no payment to refund (refunds.go).
						// Unless WeChat Pay's order query does not confirm that refusal
						// (payment.ErrRefusalUnconfirmed): taken for a transient one, the
						// refund is released still PROCESSING, and the refund's own
						// follow-up submits it again a minute later (ReleaseHeldRefund).
						perr := j.paymentNotHeld(ctx, r, err, lim)
						switch {
						case errors.Is(perr, payment.ErrRefusalUnconfirmed):
							j.log.Warn("reconcile: WeChat Pay refused a released refund as if the order were not paid, unconfirmed; submitted again in a minute",
								"out_refund_no", r.OutRefundNo, "refusal", err.Error(), "confirmation", perr.Error())
						case perr != nil:
							return nil, perr
						default:
							n := j.closedNotice(r.Owner, r.OutTradeNo, r.TransactionID, r.OutRefundNo, r.Amount, r.Total)
							if _, err := j.ledger.ApplyRefund(ctx, n, "reconcile"); err != nil {
								return nil, err
							}
						}
					} else {
						return nil, err
					}
				}
			}
			next, err := j.ledger.ReleaseHeldRefund(ctx, o, h.OutRefundNo)
			if err != nil {
				return nil, err
			}
			o = next
			c.refundsReleased.Add(1)
		}
		return o, nil
	}
	return nil, nil
}

// withdrawAfter is how long a reserved item (split, return, finish) of an order in
// REVIEW that WeChat Pay does not know is left before it is withdrawn: the run that
// reserved it sends it at once and gives up within its client's timeout (seconds), so
// a send still on its way when another run queried is never withdrawn under it.
const withdrawAfter = 2 * time.Minute

// reviewQuery handles the failed query of item no in state, reserved at: an order in
// REVIEW sends nothing new, so a reserved item WeChat Pay never received
// (RESOURCE_NOT_EXISTS) is withdrawn (payment.WithdrawShare: FAILED, its event), once
// withdrawAfter has passed since it was reserved (until then it is queried again). Any
// other error is returned as is (shareFailure retries it).
func (j *Job) reviewQuery(ctx context.Context, o *payment.Order, no, state string, at time.Time, err error, now time.Time) (*payment.Order, error) {
	if state != payment.SharePending || !o.InReview() || !wechatpay.IsCode(err, wechatpay.CodeResourceNotExists) {
		return nil, err
	}
	if due := at.Add(withdrawAfter); now.Before(due) {
		next, err := j.ledger.RetryShare(ctx, o, due, "")
		if err != nil {
			return nil, err
		}
		return next, nil
	}
	j.log.Warn("reconcile: a profit-sharing request of an order in REVIEW never reached WeChat Pay; withdrawn, not sent", "out_trade_no", o.OutTradeNo, "no", no)
	return j.ledger.WithdrawShare(ctx, o, no)
}

// closedNotice is the result that closes a refund WeChat Pay never took (refused for
// good, or never to be asked): applied, the ledger records it CLOSED, releases its
// reservation and announces refund.failed once.
func (j *Job) closedNotice(owner, outTradeNo, transactionID, outRefundNo string, amount, total int64) *wechatpay.RefundNotice {
	n := &wechatpay.RefundNotice{OutTradeNo: outTradeNo, TransactionID: transactionID, OutRefundNo: outRefundNo,
		RefundStatus: wechatpay.RefundStatusClosed, Amount: wechatpay.RefundAmount{Refund: amount, Total: total, Currency: "CNY"}}
	j.ownNotice(n, owner)
	return n
}

// ownNotice names the refund's owner as recorded: mchid in direct mode; in partner and
// ecommerce mode the sub-merchant, under the deployment's sp_mchid (the merchant the
// ledger serves).
func (j *Job) ownNotice(n *wechatpay.RefundNotice, owner string) {
	if j.client.Partner() {
		n.SpMchID, n.SubMchID = j.client.SpMchID, owner
	} else {
		n.MchID = owner
	}
}

func (j *Job) sendSplit(ctx context.Context, o *payment.Order, sp payment.SplitLine, now time.Time, c *counters) (*payment.Order, error) {
	res, err := j.api.Split(ctx, o.Owner, o.Payment.TransactionID, sp)
	if err != nil {
		return j.refuse(ctx, o, sp.OutOrderNo, err, now, c)
	}
	c.sharesAsked.Add(1)
	next, out, err := j.ledger.ApplySplit(ctx, o, sp.OutOrderNo, res)
	if err == nil && out == payment.Applied && res.State == wechatpay.ShareFinished {
		c.shares.Add(1)
	}
	return next, err
}

func (j *Job) sendFinish(ctx context.Context, o *payment.Order, no string, now time.Time, c *counters) (*payment.Order, error) {
	res, err := j.api.Finish(ctx, o.Owner, o.Payment.TransactionID, no)
	if err != nil {
		return j.refuse(ctx, o, no, err, now, c)
	}
	c.sharesAsked.Add(1)
	next, out, err := j.ledger.ApplyFinish(ctx, o, res)
	if err == nil && out == payment.Applied && res.State == wechatpay.ShareFinished {
		c.finishes.Add(1)
	}
	return next, err
}

func (j *Job) sendReturn(ctx context.Context, o *payment.Order, rl payment.ReturnLine, now time.Time, c *counters) (*payment.Order, error) {
	res, err := j.api.Return(ctx, o.Owner, o.Payment.TransactionID, rl)
	if err != nil {
		return j.refuse(ctx, o, rl.OutReturnNo, err, now, c)
	}
	next, _, err := j.ledger.ApplyReturn(ctx, o, rl.OutReturnNo, res)
	if err == nil && res.Result == wechatpay.ReturnSuccess {
		c.returns.Add(1)
	}
	return next, err
}
