package payment

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/paysls/wxpay/shared/events"
	"github.com/paysls/wxpay/shared/store"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// RefundEvent is the data of refund.* events.
type RefundEvent struct {
	OutRefundNo   string `json:"out_refund_no"`
	RefundID      string `json:"refund_id,omitempty"`
	OutTradeNo    string `json:"out_trade_no"`
	OrderID       string `json:"order_id,omitempty"`
	MchID         string `json:"mchid"`
	State         string `json:"state"`
	Amount        int64  `json:"amount"`
	SuccessTime   string `json:"success_time,omitempty"`
	UserAccount   string `json:"user_received_account,omitempty"`
	TransactionID string `json:"transaction_id,omitempty"`
}

// ErrNotRefundable and ErrOverRefund are ReserveRefund's refusals.
var (
	ErrNotRefundable = errors.New("payment: the order is not paid, so it cannot be refunded")
	ErrOverRefund    = errors.New("payment: the refund exceeds the order's refundable remainder")
	// ErrRefundConflict: the out_refund_no is already used with a different amount or order.
	ErrRefundConflict = errors.New("payment: out_refund_no already used for a different refund")
)

// refundOwner is the merchant owning a refund: sub_mchid in partner mode.
func refundOwner(n *wechatpay.RefundNotice) string {
	if n.SubMchID != "" {
		return n.SubMchID
	}
	return n.MchID
}

// ValidateRefundNotice checks what a refund result must carry; its error matches
// ErrInvalid (PROCESSING is not a result: notifications never carry it).
func ValidateRefundNotice(n *wechatpay.RefundNotice) error {
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
	case len(n.OutTradeNo) > 32:
		return invalid("refund %s: out_trade_no longer than 32 characters", n.OutRefundNo)
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

func refundEventType(status string) string {
	if status == wechatpay.RefundStatusSuccess {
		return events.RefundSucceeded
	}
	return events.RefundFailed
}

// ApplyRefund applies a refund result to its refund record in one conditional write
// with its refund.succeeded / refund.failed event. An unknown refund (made by hand in
// the merchant platform) is created; a duplicate is recognised from the failed
// condition. A result contradicting a final one (SUCCESS then CLOSED, …) is kept on the
// record, which moves to REVIEW once; repeats write nothing. A final result also owes
// its effect on the order (refunded amount, full refund → order.refunded), which
// SyncRefund applies — right away here, or by reconcile after a crash.
func (l *Ledger) ApplyRefund(ctx context.Context, n *wechatpay.RefundNotice, source string) (Result, error) {
	if err := ValidateRefundNotice(n); err != nil {
		return Result{}, err
	}
	if acct := accountMchID(n.SpMchID, n.MchID); !l.ours(acct) {
		return Result{}, invalid("refund %s is for merchant %s, which this deployment does not serve", n.OutRefundNo, acct)
	}
	now := l.now()
	owner := refundOwner(n)
	key := RefundKey(owner, n.OutRefundNo)
	data, err := json.Marshal(n)
	if err != nil {
		return Result{}, fmt.Errorf("payment: encode refund: %w", err)
	}
	amount := strconv.FormatInt(n.Amount.Refund, 10)
	set := map[string]string{
		AttrState: n.RefundStatus, AttrRefundID: n.RefundID, AttrOutTradeNo: n.OutTradeNo, AttrOutRefundNo: n.OutRefundNo,
		AttrTransactionID: n.TransactionID, AttrAmount: amount, AttrMchID: owner, AttrSuccessTime: n.SuccessTime,
		AttrSource: source, AttrUpdatedAt: stamp(now), AttrData: string(data),
		AttrOrderSync: "1", events.AttrSchedIndex: PendingRefunds, events.AttrSchedAt: stamp(now),
	}
	if n.RefundStatus == wechatpay.RefundStatusAbnormal {
		// Nothing to apply to the order yet: the money is neither back nor lost.
		delete(set, AttrOrderSync)
		delete(set, events.AttrSchedIndex)
		delete(set, events.AttrSchedAt)
	}
	evData := RefundEvent{OutRefundNo: n.OutRefundNo, RefundID: n.RefundID, OutTradeNo: n.OutTradeNo, MchID: owner,
		State: n.RefundStatus, Amount: n.Amount.Refund, SuccessTime: n.SuccessTime, UserAccount: n.UserReceivedAccount, TransactionID: n.TransactionID}
	full, evt, err := withEvent(key, refundEventType(n.RefundStatus), now, set, evData)
	if err != nil {
		return Result{}, err
	}
	remove := []string{}
	if _, ok := set[events.AttrSchedIndex]; !ok {
		remove = append(remove, events.AttrSchedIndex, events.AttrSchedAt)
	}
	outbox := events.IndexOutbox
	cond := store.Condition{Attrs: []store.AttrTest{store.AttrIn(AttrState, refundFrom(n.RefundStatus)...), store.AttrIn(AttrAmount, amount)}}
	rec, err := l.Store.Update(ctx, key, store.Change{Set: full, Remove: remove, Pending: &outbox, PendingSince: now}, cond)
	if err == nil {
		return l.afterRefund(ctx, Result{Outcome: Applied, Record: rec, Event: evt})
	}
	var cf *store.ConditionFailedError
	if !errors.As(err, &cf) {
		return Result{}, fmt.Errorf("payment: apply refund %s: %w", key, err)
	}
	if cf.Current == nil {
		rec, err := l.Store.Put(ctx, store.Record{Key: key, Attrs: full, Pending: events.IndexOutbox, PendingSince: now}, store.Condition{Absent: true})
		if err == nil {
			return l.afterRefund(ctx, Result{Outcome: Applied, Record: rec, Event: evt})
		}
		c, ok := raced(err)
		if !ok {
			return Result{}, fmt.Errorf("payment: record refund %s: %w", key, err)
		}
		cf.Current = c
	}
	return l.judgeRefund(ctx, *cf.Current, n, string(data), source)
}

// afterRefund applies a final refund result to its order right away; if that fails the
// refund stays scheduled (order_sync) and reconcile finishes it.
func (l *Ledger) afterRefund(ctx context.Context, res Result) (Result, error) {
	if res.Record.Attrs[AttrOrderSync] == "" {
		return res, nil
	}
	rec, err := l.SyncRefund(ctx, res.Record)
	if err != nil {
		l.log().Warn("refund applied; its effect on the order is left to reconcile", "key", res.Record.Key, "error", err.Error())
		return res, nil
	}
	res.Record = rec
	return res, nil
}

func (l *Ledger) judgeRefund(ctx context.Context, cur store.Record, n *wechatpay.RefundNotice, data, source string) (Result, error) {
	amount := strconv.FormatInt(n.Amount.Refund, 10)
	cx := marker(prefixConflict, n.RefundStatus+"/"+n.RefundID+"/"+amount)
	for range maxRetries {
		st := cur.Attrs[AttrState]
		known := st == n.RefundStatus || (st == StateReview && cur.Attrs[AttrPrevState] == n.RefundStatus)
		if (known && cur.Attrs[AttrAmount] == amount) || cur.Attrs[cx] != "" {
			return Result{Outcome: Duplicate, Record: cur}, nil
		}
		if contains(refundFrom(n.RefundStatus), st) && cur.Attrs[AttrAmount] == amount {
			// A concurrent writer moved it between states that still allow this result.
			return l.ApplyRefund(ctx, n, source)
		}
		var reason string
		switch {
		case cur.Attrs[AttrAmount] != amount:
			reason = fmt.Sprintf("refund %s reported %s fen, %s fen was requested", n.OutRefundNo, amount, cur.Attrs[AttrAmount])
		case st == StateReview:
			reason = fmt.Sprintf("refund result %s arrived for a refund already under review", n.RefundStatus)
		default:
			reason = fmt.Sprintf("refund result %s arrived for a refund already %s", n.RefundStatus, st)
		}
		b, _ := json.Marshal(conflict{OutRefundNo: n.OutRefundNo, Amount: n.Amount.Refund, SuccessTime: n.SuccessTime,
			Status: n.RefundStatus, Source: source, ReceivedAt: stamp(l.now()), Reason: reason, Data: json.RawMessage(data)})
		res, err := l.review(ctx, cur, cx, reason, string(b), func(ev *OrderEvent) { ev.Refund = n })
		if c, ok := raced(err); ok {
			cur = *c
			continue
		}
		return res, err
	}
	return Result{}, fmt.Errorf("payment: judge refund %s: too much contention", cur.Key)
}

// ReserveRefund holds amount of order key for refund outRefundNo, atomically against
// every other refund of the order: two concurrent refunds can never exceed the paid
// amount. Reserving the same out_refund_no again with the same amount is a no-op
// (Duplicate); with another amount it is ErrRefundConflict.
func (l *Ledger) ReserveRefund(ctx context.Context, key, outRefundNo string, amount int64) (Result, error) {
	if amount <= 0 {
		return Result{}, invalid("refund amount %d must be positive", amount)
	}
	cur, err := l.get(ctx, key)
	if err != nil {
		return Result{}, err
	}
	rr := marker(prefixReserved, outRefundNo)
	for range maxRetries {
		if v := cur.Attrs[rr]; v != "" {
			if v == strconv.FormatInt(amount, 10) {
				return Result{Outcome: Duplicate, Record: cur}, nil
			}
			return Result{}, fmt.Errorf("%w: %s holds %s fen of this order, not %d", ErrRefundConflict, outRefundNo, v, amount)
		}
		if st := cur.Attrs[AttrState]; st != wechatpay.TradeStateSuccess && st != wechatpay.TradeStateRefund {
			return Result{}, fmt.Errorf("%w (state %s)", ErrNotRefundable, st)
		}
		reserved := Fen(cur, AttrRefundReserved)
		if remaining := Fen(cur, AttrAmount) - reserved; amount > remaining {
			return Result{}, fmt.Errorf("%w: asked %d fen, %d of %d fen left", ErrOverRefund, amount, remaining, Fen(cur, AttrAmount))
		}
		set := map[string]string{AttrRefundReserved: strconv.FormatInt(reserved+amount, 10), rr: strconv.FormatInt(amount, 10), AttrUpdatedAt: stamp(l.now())}
		rec, err := l.update(ctx, cur, set, nil)
		if c, ok := raced(err); ok {
			cur = *c
			continue
		}
		if err != nil {
			return Result{}, fmt.Errorf("payment: reserve refund %s on %s: %w", outRefundNo, key, err)
		}
		return Result{Outcome: Applied, Record: rec}, nil
	}
	return Result{}, fmt.Errorf("payment: reserve refund on %s: too much contention", key)
}

// RefundRequest is a refund as createorder records it before calling WeChat Pay.
type RefundRequest struct {
	MchID       string // owner (sub_mchid in partner mode)
	OutRefundNo string
	OutTradeNo  string
	OrderID     string
	Amount      int64
	Reason      string
	// TransactionID names the payment refunded when it is not the order's own (a late
	// payment kept on a closed order).
	TransactionID string
}

// RecordRefundRequest writes a PROCESSING refund (put-if-absent), scheduled for a query
// after a minute. An existing refund fails with a *store.ConditionFailedError carrying it.
func (l *Ledger) RecordRefundRequest(ctx context.Context, r RefundRequest) (store.Record, error) {
	now := l.now()
	next := now.Add(time.Minute)
	attrs := map[string]string{
		AttrState: wechatpay.RefundStatusProcessing, AttrAmount: strconv.FormatInt(r.Amount, 10), AttrMchID: r.MchID,
		AttrOutRefundNo: r.OutRefundNo, AttrOutTradeNo: r.OutTradeNo, AttrCreatedAt: stamp(now), AttrUpdatedAt: stamp(now),
		events.AttrSchedIndex: PendingRefunds, events.AttrSchedAt: stamp(next),
	}
	if r.OrderID != "" {
		attrs[AttrOrderID] = r.OrderID
	}
	if r.Reason != "" {
		attrs["reason"] = r.Reason
	}
	if r.TransactionID != "" {
		attrs[AttrTransactionID] = r.TransactionID
	}
	rec, err := l.Store.Put(ctx, store.Record{Key: RefundKey(r.MchID, r.OutRefundNo), Attrs: attrs, Pending: PendingRefunds, PendingSince: next}, store.Condition{Absent: true})
	if err != nil && !errors.Is(err, store.ErrConditionFailed) {
		return store.Record{}, fmt.Errorf("payment: record refund %s: %w", r.OutRefundNo, err)
	}
	return rec, err
}

// SyncRefund applies a final refund's effect to its order — SUCCESS adds to the
// refunded amount (the order becomes REFUND, and order.refunded is recorded when all of
// it is refunded); CLOSED releases its reservation — then clears the refund's
// order_sync debt. Each write is version-conditioned and idempotent (a marker per refund
// on the order), so reconcile can call it again after any crash.
func (l *Ledger) SyncRefund(ctx context.Context, refund store.Record) (store.Record, error) {
	if refund.Attrs[AttrOrderSync] == "" {
		return refund, nil
	}
	owner, outRefundNo := refund.Attrs[AttrMchID], refund.Attrs[AttrOutRefundNo]
	if err := l.syncOrder(ctx, OrderKey(owner, refund.Attrs[AttrOutTradeNo]), outRefundNo, refund.Attrs[AttrState], Fen(refund, AttrAmount)); err != nil {
		return refund, err
	}
	cur := refund
	for range maxRetries {
		if cur.Attrs[AttrOrderSync] == "" {
			return cur, nil
		}
		// A successful refund then waits in its bill day's listing for billfetch: the day
		// WeChat Pay accepted it (our request), or its success for refunds made elsewhere.
		set := map[string]string{}
		remove := []string{AttrOrderSync, events.AttrSchedIndex, events.AttrSchedAt}
		if cur.Attrs[AttrState] == wechatpay.RefundStatusSuccess {
			at := ParseStamp(cur.Attrs[AttrCreatedAt])
			if at.IsZero() {
				at = successAt(cur.Attrs[AttrSuccessTime], l.now())
			}
			set[events.AttrSchedIndex], set[events.AttrSchedAt] = BillDayIndex(owner, at), stamp(at)
			remove = []string{AttrOrderSync}
		}
		rec, err := l.update(ctx, cur, set, remove)
		if c, ok := raced(err); ok {
			cur = *c
			continue
		}
		if err != nil {
			return refund, fmt.Errorf("payment: clear order sync of %s: %w", refund.Key, err)
		}
		return rec, nil
	}
	return refund, fmt.Errorf("payment: clear order sync of %s: too much contention", refund.Key)
}

func (l *Ledger) syncOrder(ctx context.Context, key, outRefundNo, status string, amount int64) error {
	cur, err := l.Store.Get(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil // a refund of an order this store never had: nothing to apply
	}
	if err != nil {
		return fmt.Errorf("payment: read %s: %w", key, err)
	}
	rs, rr := marker(prefixSynced, outRefundNo), marker(prefixReserved, outRefundNo)
	for range maxRetries {
		if cur.Attrs[rs] != "" {
			return nil
		}
		now := l.now()
		set := map[string]string{rs: status, AttrUpdatedAt: stamp(now)}
		var remove []string
		switch status {
		case wechatpay.RefundStatusSuccess:
			settled := Fen(cur, AttrRefundSettled) + amount
			set[AttrRefundSettled] = strconv.FormatInt(settled, 10)
			if cur.Attrs[rr] == "" { // made outside the bundle: count it as held too
				set[AttrRefundReserved] = strconv.FormatInt(Fen(cur, AttrRefundReserved)+amount, 10)
				set[rr] = strconv.FormatInt(amount, 10)
			}
			if cur.Attrs[AttrState] == wechatpay.TradeStateSuccess {
				set[AttrState] = wechatpay.TradeStateRefund
			}
			if settled >= Fen(cur, AttrAmount) && cur.Attrs[AttrState] != StateReview {
				attrs := clone(cur.Attrs)
				for k, v := range set {
					attrs[k] = v
				}
				var err error
				if set, _, err = withEvent(cur.Key, events.OrderRefunded, now, set, orderEvent(attrs)); err != nil {
					return err
				}
			}
		case wechatpay.RefundStatusClosed:
			if v := cur.Attrs[rr]; v != "" {
				n, _ := strconv.ParseInt(v, 10, 64)
				set[AttrRefundReserved] = strconv.FormatInt(max(Fen(cur, AttrRefundReserved)-n, 0), 10)
				remove = append(remove, rr)
			}
		}
		_, err := l.update(ctx, cur, set, remove)
		if c, ok := raced(err); ok {
			cur = *c
			continue
		}
		if err != nil {
			return fmt.Errorf("payment: apply refund %s to %s: %w", outRefundNo, key, err)
		}
		return nil
	}
	return fmt.Errorf("payment: apply refund %s to %s: too much contention", outRefundNo, key)
}
