package payment

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/paysls/wxpay/internal/judgment"
	"github.com/paysls/wxpay/shared/events"
	"github.com/paysls/wxpay/shared/store"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// refundOwner is the merchant owning a refund: sub_mchid in partner mode.
func refundOwner(n *wechatpay.RefundNotice) string {
	if n.SubMchID != "" {
		return n.SubMchID
	}
	return n.MchID
}

// otherThan is acct unless it is owner ("": the owner's own account).
func otherThan(owner, acct string) string {
	if acct == owner {
		return ""
	}
	return acct
}

// accountPaid is the account the order's payment went to ("" before a payment).
func (o *Order) accountPaid() string {
	if o.Payment == nil {
		return ""
	}
	return o.Payment.MchID
}

// validateRefundNotice checks what a refund result must carry; its error matches
// ErrInvalid (PROCESSING is not a result: notifications never carry it).
func validateRefundNotice(n *wechatpay.RefundNotice) error {
	switch n.RefundStatus {
	case wechatpay.RefundStatusSuccess, wechatpay.RefundStatusAbnormal, wechatpay.RefundStatusClosed:
	default:
		return invalid("refund %s: refund_status %q is not a result (SUCCESS, ABNORMAL or CLOSED)", n.OutRefundNo, n.RefundStatus)
	}
	switch {
	case n.OutRefundNo == "" || len(n.OutRefundNo) > 64:
		return invalid("out_refund_no %q is empty or longer than 64 characters", n.OutRefundNo)
	case refundOwner(n) == "" || len(refundOwner(n)) > 32:
		return invalid("refund %s: merchant id %q is empty or too long", n.OutRefundNo, refundOwner(n))
	case n.Amount.Refund <= 0:
		return invalid("refund %s: amount.refund %d", n.OutRefundNo, n.Amount.Refund)
	case n.OutTradeNo == "" || len(n.OutTradeNo) > 32:
		// The order a refund belongs to is named by its out_trade_no, never guessed.
		return invalid("refund %s: out_trade_no %q is empty or longer than 32 characters", n.OutRefundNo, n.OutTradeNo)
	}
	return nil
}

// refundFrom is which states a refund result may follow: PROCESSING always; ABNORMAL
// may still end SUCCESS (re-issued to another account) or CLOSED.
func refundFrom(status string) []string {
	if status == wechatpay.RefundStatusAbnormal {
		return []string{wechatpay.RefundStatusProcessing}
	}
	return []string{wechatpay.RefundStatusProcessing, wechatpay.RefundStatusAbnormal}
}

// ApplyRefund applies a refund result (notification v3 or v2, query, bill) to its
// refund, then the refund's effect to its order. The refund is recorded the first time
// it is seen, for the order its result names (out_trade_no, transaction_id) — for good:
// a later result naming another order, another amount, or contradicting a final result
// is kept as a conflict and the refund goes to REVIEW. The order's side (SyncRefund)
// records the merchant's refund.* events on the order, in causal order, judged against
// what the order was paid; if it cannot be written now the refund stays scheduled and
// reconcile finishes it.
func (l *Ledger) ApplyRefund(ctx context.Context, n *wechatpay.RefundNotice, source string) (Result, error) {
	if err := validateRefundNotice(n); err != nil {
		return Result{}, err
	}
	if acct := accountMchID(n.SpMchID, n.MchID); !l.ours(acct) {
		return l.foreignRefund(ctx, n, acct, source) // foreign_refund.go: kept for review, as a foreign payment is
	}
	data, err := json.Marshal(n)
	if err != nil {
		return Result{}, fmt.Errorf("payment: encode refund: %w", err)
	}
	key := RefundKey(refundOwner(n), n.OutRefundNo)
	res, err := onRefund(l, ctx, key, nil, func(r *Refund, exists bool) (step, error) {
		return decideRefundResult(r, exists, n, data, source, l.now()), nil
	})
	if err != nil || !res.Refund.SyncOwed {
		return res, err
	}
	synced, err := l.SyncRefund(ctx, res.Refund)
	if err != nil {
		l.log().Warn("refund applied; its effect on the order is left to reconcile", "key", key, "error", err.Error())
		return res, nil
	}
	if synced.Event != nil {
		res.Record, res.Event, res.Events, res.Order = synced.Record, synced.Event, synced.Events, synced.Order
	}
	if synced.Outcome == Review && res.Outcome == Applied {
		res.Outcome, res.Cause, res.Reason = Review, synced.Cause, synced.Reason
	}
	if synced.Refund != nil {
		res.Refund = synced.Refund
	}
	return res, nil
}

// decideRefundResult judges a refund result against the refund as it is.
func decideRefundResult(r *Refund, exists bool, n *wechatpay.RefundNotice, data json.RawMessage, source string, now time.Time) step {
	owner := refundOwner(n)
	if !exists {
		*r = Refund{Owner: owner, Account: otherThan(owner, accountMchID(n.SpMchID, n.MchID)), OutRefundNo: n.OutRefundNo, OutTradeNo: n.OutTradeNo, TransactionID: n.TransactionID, RefundID: n.RefundID,
			Amount: n.Amount.Refund, Total: n.Amount.Total, State: n.RefundStatus, SuccessTime: n.SuccessTime, UserAccount: n.UserReceivedAccount,
			Source: source, Data: data, SyncOwed: true, CreatedAt: now}
		return step{outcome: Applied}
	}
	conflict := func(kind CauseKind, detail string) step {
		for _, c := range r.Conflicts {
			if c.Cause == kind && c.Status == n.RefundStatus && c.RefundID == n.RefundID && c.Amount == n.Amount.Refund && c.OutTradeNo == n.OutTradeNo {
				return step{outcome: Duplicate}
			}
		}
		c := Cause{Kind: kind, Detail: detail, TransactionID: n.TransactionID, OutRefundNo: n.OutRefundNo, Amount: n.Amount.Refund, Source: source, At: now}
		r.Conflicts = append(r.Conflicts, Conflict{Cause: kind, TransactionID: n.TransactionID, OutRefundNo: n.OutRefundNo, RefundID: n.RefundID,
			OutTradeNo: n.OutTradeNo, Amount: n.Amount.Refund, Status: n.RefundStatus, SuccessTime: n.SuccessTime, Source: source, ReceivedAt: now, Data: data})
		opened := r.Review.add(c)
		st := step{outcome: Review, cause: &c, loud: opened, reason: detail}
		if opened {
			ev := OrderEvent{OrderID: r.OrderID, OutTradeNo: r.OutTradeNo, MchID: r.Owner, State: StateReview, Amount: r.Amount,
				TransactionID: r.TransactionID, Reason: detail, Cause: &c, Refund: n, Source: source}
			st.events = []pendingEvent{{events.OrderReview, ev}}
		}
		return st
	}
	namesOther := (n.OutTradeNo != r.OutTradeNo) || (n.TransactionID != "" && r.TransactionID != "" && n.TransactionID != r.TransactionID)
	if namesOther && r.OutTradeNo != "" {
		if !judgment.RefundVsOrder.On() {
			// The defect this judgment prevents: the refund follows the latest result.
			r.OutTradeNo, r.TransactionID, r.OrderID = n.OutTradeNo, n.TransactionID, ""
		} else {
			return conflict(causeRefundNamesAnotherOrder, fmt.Sprintf("refund %s belongs to out_trade_no %s (transaction %s); a %s result names out_trade_no %s (transaction %s)",
				r.OutRefundNo, r.OutTradeNo, r.TransactionID, n.RefundStatus, n.OutTradeNo, n.TransactionID))
		}
	}
	if r.State == n.RefundStatus && r.Amount == n.Amount.Refund {
		return step{outcome: Duplicate}
	}
	if r.Amount != n.Amount.Refund {
		return conflict(causeRefundAmountDiffers, fmt.Sprintf("refund %s reported %d fen, %d fen was requested", r.OutRefundNo, n.Amount.Refund, r.Amount))
	}
	if !slices.Contains(refundFrom(n.RefundStatus), r.State) {
		return conflict(CauseRefundContradicts, fmt.Sprintf("refund result %s arrived for a refund already %s", n.RefundStatus, r.State))
	}
	r.State, r.Source, r.Data, r.SyncOwed, r.NextCheck = n.RefundStatus, source, data, true, time.Time{}
	r.RefundID = cmp.Or(n.RefundID, r.RefundID)
	r.SuccessTime, r.UserAccount = cmp.Or(n.SuccessTime, r.SuccessTime), cmp.Or(n.UserReceivedAccount, r.UserAccount)
	r.TransactionID = cmp.Or(r.TransactionID, n.TransactionID)
	if n.Amount.Total > 0 {
		r.Total = n.Amount.Total
	}
	return step{outcome: Applied}
}

// SyncRefund writes a refund's result to its order — the order it was first recorded
// for — then clears the refund's debt. The order's refund line takes the result (an
// order never seen is recorded to hold it), and is judged there: see judgeLines. Each
// write is version-conditioned and idempotent, so reconcile can call it again after
// any crash. It returns the order's side of the work (its record holds the events).
func (l *Ledger) SyncRefund(ctx context.Context, r *Refund) (Result, error) {
	if !r.SyncOwed {
		return Result{Outcome: Duplicate, Record: r.raw, Refund: r}, nil
	}
	now := l.now()
	res, err := onOrder(l, ctx, OrderKey(r.Owner, r.OutTradeNo), nil, func(o *Order, exists bool) (step, error) {
		return decideLine(o, exists, r, now), nil
	})
	if err != nil {
		return Result{}, err
	}
	raw := r.raw
	cleared, err := onRefund(l, ctx, r.Key(), &raw, func(cur *Refund, exists bool) (step, error) {
		if !exists || !cur.SyncOwed {
			return step{outcome: Duplicate}, nil
		}
		cur.SyncOwed = false
		if cur.OrderID == "" && res.Order != nil && judgment.RefundVsOrder.On() {
			cur.OrderID = res.Order.OrderID
		}
		return step{outcome: Applied}, nil
	})
	if err != nil {
		return res, fmt.Errorf("payment: clear order sync of %s: %w", r.Key(), err)
	}
	res.Refund = cleared.Refund
	return res, nil
}

// decideLine puts a refund's result on its order's line and judges it.
func decideLine(o *Order, exists bool, r *Refund, now time.Time) step {
	if !exists {
		// A refund of an order this store never had (made outside the bundle, or seen
		// before the order's payment): the order is recorded to hold it, and queried
		// like any unpaid order until its payment is known.
		*o = Order{Owner: r.Owner, OutTradeNo: r.OutTradeNo, State: wechatpay.TradeStateNotPay, Unknown: true, CreatedAt: now,
			NextCheck: now.Add(time.Minute)}
	}
	line := o.Line(r.OutRefundNo)
	if line == nil {
		o.Refunds = append(o.Refunds, refundLine{OutRefundNo: r.OutRefundNo, Amount: r.Amount, State: wechatpay.RefundStatusProcessing,
			TransactionID: r.TransactionID, At: now})
		line = &o.Refunds[len(o.Refunds)-1]
	}
	changed := !exists
	if line.State != r.State && (line.State == wechatpay.RefundStatusProcessing || line.State == wechatpay.RefundStatusAbnormal) {
		line.State, changed = r.State, true
	}
	line.RefundID, line.SuccessTime, line.UserAccount = cmp.Or(r.RefundID, line.RefundID), cmp.Or(r.SuccessTime, line.SuccessTime), cmp.Or(r.UserAccount, line.UserAccount)
	line.TransactionID = cmp.Or(line.TransactionID, r.TransactionID)
	st := o.judgeLines(step{outcome: Applied}, now, r.Source)
	if !changed && len(st.events) == 0 && st.cause == nil {
		return step{outcome: Duplicate}
	}
	return st
}

// judgeLines judges the refund lines not yet judged in their current state, in the
// order they were recorded, and adds what it finds to st. A settled refund counts
// against what the order holds (paidTotal); one that would exceed it is kept as excess
// and puts the order in REVIEW. Each judged line is announced (refund.succeeded,
// refund.failed) and a fully refunded order announces order.refunded, once. While the
// order holds no payment (a refund seen before it), lines wait: the merchant's events
// then read order.paid, refund.succeeded, order.refunded — causal order.
func (o *Order) judgeLines(st step, now time.Time, source string) step {
	causal, bounded := judgment.CausalEvents.On(), judgment.RefundVsOrder.On()
	unpaid := o.paidTotal() == 0
	if unpaid && o.Closed() && !o.Review.open() {
		// Money went back for an order closed unpaid here: its payment is unknown.
		for _, l := range o.Refunds {
			if l.State == wechatpay.RefundStatusSuccess && l.Judged == "" {
				return o.addCause(st, Cause{Kind: causeRefundWithoutPayment, OutRefundNo: l.OutRefundNo, Amount: l.Amount, Source: source, At: now,
					Detail: fmt.Sprintf("refund %s of %d fen settled for an order closed unpaid here", l.OutRefundNo, l.Amount)}, nil)
			}
		}
	}
	if unpaid && causal {
		return st // judged and announced once the payment is known
	}
	for i := range o.Refunds {
		l := &o.Refunds[i]
		if l.State == l.Judged || l.State == wechatpay.RefundStatusProcessing {
			continue
		}
		ev := refundEvent{OutRefundNo: l.OutRefundNo, RefundID: l.RefundID, OutTradeNo: o.OutTradeNo, OrderID: o.OrderID, MchID: o.Owner,
			State: l.State, Amount: l.Amount, SuccessTime: l.SuccessTime, UserAccount: l.UserAccount, TransactionID: l.TransactionID}
		switch l.State {
		case wechatpay.RefundStatusSuccess:
			if tx := o.lineTx(*l); bounded && !unpaid && o.refundedOf(tx)+l.Amount > o.paidOf(tx) {
				l.Excess, l.Judged = true, l.State
				c := Cause{Kind: CauseRefundExceedsPaid, OutRefundNo: l.OutRefundNo, Amount: l.Amount, TransactionID: l.TransactionID, Source: source, At: now,
					Detail: fmt.Sprintf("refund %s of %d fen settled; with %d fen refunded before it would exceed the %d fen transaction %s paid on this order",
						l.OutRefundNo, l.Amount, o.refundedOf(tx), o.paidOf(tx), cmp.Or(tx, "(none yet)"))}
				st = o.addCause(st, c, func(e *OrderEvent) {
					e.Refund = &wechatpay.RefundNotice{OutRefundNo: l.OutRefundNo, RefundID: l.RefundID, OutTradeNo: o.OutTradeNo, TransactionID: l.TransactionID,
						RefundStatus: l.State, SuccessTime: l.SuccessTime, Amount: wechatpay.RefundAmount{Refund: l.Amount}}
				})
				continue
			}
			l.Judged = l.State
			st.events = append(st.events, pendingEvent{events.RefundSucceeded, ev})
			if bounded && !unpaid && o.SharedOut() > 0 && o.SharedOut() > o.Holds() {
				// Refunds and shares together beyond what the order holds: a refund the
				// ledger did not hold for returns (made by hand in the merchant platform,
				// say) after shares were paid out to others. The refund happened; the
				// shares' money is owed back by someone a person must find. With nothing
				// shared out, only refunds can exceed the payment, and a settled one
				// that does is judged above (refundedOf); refunds still PROCESSING are
				// counted in Holds, and one WeChat Pay never took (a manual refund paid
				// meanwhile) will be refused and closed: no one owes anything back.
				st = o.addCause(st, Cause{Kind: CauseRefundExceedsPaid, OutRefundNo: l.OutRefundNo, Amount: l.Amount, TransactionID: l.TransactionID, Source: source, At: now,
					Detail: fmt.Sprintf("refund %s of %d fen settled while %d fen of the order were shared out to others: refunds and shares exceed its payment and subsidy (%d fen left after refunds)",
						l.OutRefundNo, l.Amount, o.SharedOut(), o.Holds())}, nil)
			}
		default: // ABNORMAL (the reservation stays: it may still succeed), CLOSED (released)
			l.Judged = l.State
			st.events = append(st.events, pendingEvent{events.RefundFailed, ev})
		}
	}
	if o.Refunded() > 0 && o.State == wechatpay.TradeStateSuccess {
		o.State = wechatpay.TradeStateRefund
	}
	if !o.FullyRefunded && o.Refunded() > 0 && o.Refunded() >= o.Amount && !o.InReview() {
		o.FullyRefunded = true
		st.events = append(st.events, pendingEvent{events.OrderRefunded, o.event()})
	}
	return st
}

// addCause adds c to st: opening the review (order.review, loud) or listed beside an
// open one.
func (o *Order) addCause(st step, c Cause, decorate func(*OrderEvent)) step {
	rv := o.review(c, decorate)
	st.events = append(st.events, rv.events...)
	if st.cause == nil || rv.loud {
		st.cause, st.loud = rv.cause, rv.loud || st.loud
	}
	st.outcome, st.reason = Review, rv.reason
	return st
}

// RefundRequest is a refund as createorder (or reconcile, for a late payment) asks for
// it before calling WeChat Pay.
type RefundRequest struct {
	OutRefundNo string
	Amount      int64
	Reason      string
	// TransactionID names the payment refunded when it is not the order's own: a late
	// payment kept on a closed order (reconcile's automatic refund).
	TransactionID string
	// Advance: the platform is asked to advance the refund (垫付, advance.go).
	Advance bool
}

// RequestRefund reserves amount of order o for refund req.OutRefundNo — atomically
// against every other refund of the order, so concurrent refunds never exceed what it
// was paid — and records the refund PROCESSING, scheduled for a query, before WeChat
// Pay is asked. Asking again for the same refund (same order, amount) is a no-op
// answering the refund as it is; anything else under that out_refund_no is
// ErrRefundConflict.
func (l *Ledger) RequestRefund(ctx context.Context, o *Order, req RefundRequest) (*Refund, error) {
	if req.Amount <= 0 {
		return nil, invalid("refund amount %d must be positive", req.Amount)
	}
	rkey := RefundKey(o.Owner, req.OutRefundNo)
	existing, err := l.Refund(ctx, o.Owner, req.OutRefundNo)
	switch {
	case err == nil:
		if existing.OutTradeNo != o.OutTradeNo || existing.Amount != req.Amount {
			return nil, fmt.Errorf("%w: %s is already a refund of %d fen of out_trade_no %s", ErrRefundConflict, req.OutRefundNo, existing.Amount, existing.OutTradeNo)
		}
		if existing.State != wechatpay.RefundStatusProcessing {
			return existing, nil
		}
	case !errors.Is(err, ErrNotFound):
		return nil, err
	}
	late := req.TransactionID != "" && (o.Payment == nil || req.TransactionID != o.Payment.TransactionID)
	raw := o.raw
	res, err := onOrder(l, ctx, o.Key(), &raw, func(cur *Order, exists bool) (step, error) {
		if !exists {
			return step{}, fmt.Errorf("payment: refund of %s: %w", o.Key(), ErrNotFound)
		}
		if line := cur.Line(req.OutRefundNo); line != nil {
			if line.Amount == req.Amount {
				return step{outcome: Duplicate}, nil
			}
			return step{}, fmt.Errorf("%w: %s holds %d fen of this order, not %d", ErrRefundConflict, req.OutRefundNo, line.Amount, req.Amount)
		}
		var room int64
		switch {
		case late:
			// A payment kept on the order: bounded by that payment.
			room = cur.paidOf(req.TransactionID) - cur.reservedOf(req.TransactionID)
			if room <= 0 && !cur.Knows(req.TransactionID) {
				return step{}, fmt.Errorf("%w: transaction %s is not kept on this order", ErrNotRefundable, req.TransactionID)
			}
		case cur.InReview():
			return step{}, fmt.Errorf("%w (%s)", ErrInReview, cur.Review.Reason())
		case !cur.Paid():
			return step{}, fmt.Errorf("%w (state %s)", ErrNotRefundable, cur.Status())
		default:
			// The order's own payment: bounded by it, whatever kept payments hold.
			room = cur.Payment.Amount - cur.reservedOf(cur.Payment.TransactionID)
		}
		if req.Amount > room {
			return step{}, fmt.Errorf("%w: asked %d fen, %d of %d fen left", ErrOverRefund, req.Amount, max(room, 0), cur.paidOf(req.TransactionID))
		}
		if most := cur.refundableKeepingShares(); !late && cur.Sharing != nil && req.Amount > most {
			// Held, it would wait for ever for a share WeChat Pay never returns (a
			// person's), reserving its amount and refusing every smaller refund
			// (sharing_unreturnable.go): refused now, naming what can be refunded.
			return step{}, &SharesNotReturnableError{Asked: req.Amount, Max: min(most, room), Unreturnable: cur.unreturnable()}
		}
		txid := req.TransactionID
		if txid == "" && cur.Payment != nil {
			txid = cur.Payment.TransactionID
		}
		cur.Refunds = append(cur.Refunds, refundLine{OutRefundNo: req.OutRefundNo, Amount: req.Amount, State: wechatpay.RefundStatusProcessing,
			Requested: true, TransactionID: txid, At: l.now()})
		holdForShares(cur, req.OutRefundNo, req.Amount, l.now()) // sharing_steps.go: shares taken back first
		return step{outcome: Applied}, nil
	})
	if err != nil {
		return nil, err
	}
	order := res.Order
	now := l.now()
	rres, err := onRefund(l, ctx, rkey, nil, func(r *Refund, exists bool) (step, error) {
		if exists {
			if r.OutTradeNo != order.OutTradeNo || r.Amount != req.Amount {
				return step{}, fmt.Errorf("%w: %s is already a refund of %d fen of out_trade_no %s", ErrRefundConflict, req.OutRefundNo, r.Amount, r.OutTradeNo)
			}
			return step{outcome: Duplicate}, nil
		}
		line := order.Line(req.OutRefundNo)
		*r = Refund{Owner: order.Owner, Account: otherThan(order.Owner, order.accountPaid()), OutRefundNo: req.OutRefundNo, OutTradeNo: order.OutTradeNo, OrderID: order.OrderID,
			TransactionID: line.TransactionID, Amount: req.Amount, State: wechatpay.RefundStatusProcessing, Requested: true,
			Reason: req.Reason, Source: "refund_api", NextCheck: now.Add(time.Minute), CreatedAt: now}
		if req.Advance {
			r.Advance = &Advance{}
		}
		if order.holding(req.OutRefundNo) {
			r.Held, r.NextCheck = heldReason(order), time.Time{} // asked of WeChat Pay once the shares are back
		}
		if late {
			r.Total = req.Amount
		} else {
			r.Total = order.Amount
		}
		return step{outcome: Applied}, nil
	})
	if err != nil {
		return nil, err
	}
	return rres.Refund, nil
}

// WeChatRefund is the request WeChat Pay is asked with for refund r of attempt o: the
// same whoever asks — createorder at once, reconcile when it releases a refund held for
// profit-sharing returns or finds one WeChat Pay never received. WeChat Pay takes an
// out_refund_no again only as the same request ("同一退款单号多次请求只退一笔"); asked
// with other content under it, it refuses, and a refusal read as final would close a
// refund WeChat Pay is paying out. The order's own payment is named by out_trade_no, a
// payment kept on the order by its transaction_id (RequestRefund's two kinds), with
// the order's sub_appid (subAppID, for the client) and the total the record keeps.
func WeChatRefund(o *Order, r *Refund, notifyURL string) (req wechatpay.RefundRequest, subAppID string) {
	req = wechatpay.RefundRequest{OutTradeNo: r.OutTradeNo, OutRefundNo: r.OutRefundNo, Reason: r.Reason, NotifyURL: notifyURL,
		Amount: wechatpay.RefundAmount{Refund: r.Amount, Total: cmp.Or(r.Total, o.Amount), Currency: "CNY"}}
	if kept := r.TransactionID != "" && (o.Payment == nil || r.TransactionID != o.Payment.TransactionID); kept {
		req.OutTradeNo, req.TransactionID = "", r.TransactionID
	}
	return req, o.Create.SubAppID
}

// LateRefundsDone records that reconcile has asked WeChat Pay to refund every late
// payment kept on o; the order stays in REVIEW for a person to see.
func (l *Ledger) LateRefundsDone(ctx context.Context, o *Order) (*Order, error) {
	raw := o.raw
	res, err := onOrder(l, ctx, o.Key(), &raw, func(cur *Order, exists bool) (step, error) {
		if !exists || !cur.LateRefundsOwed {
			return step{outcome: Duplicate}, nil
		}
		cur.LateRefundsOwed = false
		return step{outcome: Applied}, nil
	})
	return res.Order, err
}

// RescheduleRefund moves a PROCESSING refund's next query to next, noting checkedAt.
func (l *Ledger) RescheduleRefund(ctx context.Context, r *Refund, next, checkedAt time.Time) (*Refund, error) {
	raw := r.raw
	res, err := onRefund(l, ctx, r.Key(), &raw, func(cur *Refund, exists bool) (step, error) {
		if !exists || cur.State != wechatpay.RefundStatusProcessing || cur.SyncOwed {
			return step{outcome: Duplicate}, nil
		}
		cur.NextCheck = next
		if !checkedAt.IsZero() {
			cur.CheckedAt = checkedAt
		}
		return step{outcome: Applied}, nil
	})
	return res.Refund, err
}

// Refund reads a refund.
func (l *Ledger) Refund(ctx context.Context, owner, outRefundNo string) (*Refund, error) {
	rec, err := l.Store.Get(ctx, RefundKey(owner, outRefundNo))
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("payment: refund %s: %w", outRefundNo, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("payment: read refund %s: %w", outRefundNo, err)
	}
	return RefundOf(rec)
}

// RefundsOf reads the refunds of the order's lines, in the order they were recorded
// (one read each; a line whose refund record is not written yet is skipped, and so is
// one whose out_refund_no another order's refund record holds: a reservation cut short
// by a crash before its record was written, the number then taken by another order's
// refund — that refund is never shown as this order's).
func (l *Ledger) RefundsOf(ctx context.Context, o *Order) ([]*Refund, error) {
	var out []*Refund
	for _, line := range o.Refunds {
		r, err := l.Refund(ctx, o.Owner, line.OutRefundNo)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if r.OutTradeNo != "" && r.OutTradeNo != o.OutTradeNo {
			continue
		}
		out = append(out, r)
	}
	return out, nil
}
