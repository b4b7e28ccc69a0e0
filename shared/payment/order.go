package payment

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/paysls/wxpay/shared/events"
	"github.com/paysls/wxpay/shared/store"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// NewOrder is an order attempt as createorder records it before calling prepay.
type NewOrder struct {
	MchID      string // the owner: mchid, or sub_mchid in partner mode
	AppID      string // the app the user pays in (appid, sub_appid or sp_appid)
	OutTradeNo string
	OrderID    string // the merchant's order id (out_trade_no of its first attempt)
	Amount     int64  // fen
	Scene      string
	ExpiresAt  time.Time
	// Extra attributes createorder keeps on the attempt (names must not collide with
	// the ledger's).
	Extra map[string]string
}

// CreateOrder writes a new NOTPAY attempt in one put-if-absent write, scheduled for its
// first query a minute later — the record notify's one conditional write checks
// against. An existing attempt fails with a *store.ConditionFailedError carrying it.
func (l *Ledger) CreateOrder(ctx context.Context, o NewOrder) (store.Record, error) {
	if err := wechatpay.ValidateOutTradeNo("out_trade_no", o.OutTradeNo, 32); err != nil {
		return store.Record{}, invalid("%v", err)
	}
	if o.Amount <= 0 || o.MchID == "" {
		return store.Record{}, invalid("order %s: amount %d and merchant %q are required", o.OutTradeNo, o.Amount, o.MchID)
	}
	now := l.now()
	attrs := map[string]string{}
	for k, v := range o.Extra {
		attrs[k] = v
	}
	for k, v := range map[string]string{
		AttrState: wechatpay.TradeStateNotPay, AttrAmount: strconv.FormatInt(o.Amount, 10),
		AttrMchID: o.MchID, AttrAppID: o.AppID, AttrOutTradeNo: o.OutTradeNo, AttrOrderID: o.OrderID,
		AttrScene: o.Scene, AttrCreatedAt: stamp(now), AttrUpdatedAt: stamp(now),
	} {
		if v != "" {
			attrs[k] = v
		}
	}
	if !o.ExpiresAt.IsZero() {
		attrs[AttrExpiresAt] = stamp(o.ExpiresAt)
	}
	next := NextCheck(now, o.ExpiresAt, now)
	attrs[events.AttrSchedIndex], attrs[events.AttrSchedAt] = PendingOrders, stamp(next)
	rec, err := l.Store.Put(ctx, store.Record{Key: OrderKey(o.MchID, o.OutTradeNo), Attrs: attrs, Pending: PendingOrders, PendingSince: next}, store.Condition{Absent: true})
	if err != nil && !errors.Is(err, store.ErrConditionFailed) {
		return store.Record{}, fmt.Errorf("payment: create order %s: %w", o.OutTradeNo, err)
	}
	return rec, err
}

// NextCheck is when an unpaid order is next queried, on a schedule that decays with its
// age: about every minute for its first 10 minutes, every 10 minutes up to an hour,
// hourly up to its expiry, and once just after it (when reconcile closes it).
func NextCheck(created, expires, now time.Time) time.Time {
	age := now.Sub(created)
	var next time.Time
	switch {
	case age < 10*time.Minute:
		next = now.Add(time.Minute)
	case age < time.Hour:
		next = now.Add(10 * time.Minute)
	default:
		next = now.Add(time.Hour)
	}
	if !expires.IsZero() {
		if after := expires.Add(time.Minute); now.Before(after) && next.After(after) {
			next = after
		}
	}
	return next
}

// closable are the states a close may follow.
var closable = []string{wechatpay.TradeStateNotPay, wechatpay.TradeStateUserPaying, wechatpay.TradeStatePayError}

// get reads a record, wrapping errors with the key.
func (l *Ledger) get(ctx context.Context, key string) (store.Record, error) {
	rec, err := l.Store.Get(ctx, key)
	if err != nil {
		return store.Record{}, fmt.Errorf("payment: read %s: %w", key, err)
	}
	return rec, nil
}

// RequestClose records that an unpaid attempt must be closed at WeChat Pay, due at at
// (WeChat Pay refuses a close in an order's first 5 minutes, so createorder defers it;
// reconcile carries it out). A payment arriving afterwards goes to REVIEW. Refused when
// the attempt is no longer closable (paid, closed, in review).
func (l *Ledger) RequestClose(ctx context.Context, key string, at time.Time) (Result, error) {
	cur, err := l.get(ctx, key)
	if err != nil {
		return Result{}, err
	}
	for range maxRetries {
		if !contains(closable, cur.Attrs[AttrState]) {
			return Result{Outcome: Refused, Record: cur, Reason: "the order is " + cur.Attrs[AttrState]}, nil
		}
		if cur.Attrs[AttrCloseOwed] != "" {
			return Result{Outcome: Duplicate, Record: cur}, nil
		}
		set := map[string]string{AttrCloseOwed: "1", AttrUpdatedAt: stamp(l.now()),
			events.AttrSchedIndex: PendingOrders, events.AttrSchedAt: stamp(at)}
		rec, err := l.update(ctx, cur, set, nil)
		if c, ok := raced(err); ok {
			cur = *c
			continue
		}
		if err != nil {
			return Result{}, fmt.Errorf("payment: request close of %s: %w", key, err)
		}
		return Result{Outcome: Applied, Record: rec}, nil
	}
	return Result{}, fmt.Errorf("payment: request close of %s: too much contention", key)
}

// MarkClosed records that an attempt is closed (closed at WeChat Pay by us, or found
// CLOSED/REVOKED by a query), with an order.closed event. Refused when the attempt was
// paid or is in review meanwhile; Duplicate when it was already closed.
func (l *Ledger) MarkClosed(ctx context.Context, key, source string) (Result, error) {
	cur, err := l.get(ctx, key)
	if err != nil {
		return Result{}, err
	}
	for range maxRetries {
		switch st := cur.Attrs[AttrState]; {
		case st == wechatpay.TradeStateClosed || st == wechatpay.TradeStateRevoked:
			return Result{Outcome: Duplicate, Record: cur}, nil
		case !contains(closable, st):
			return Result{Outcome: Refused, Record: cur, Reason: "the order is " + st}, nil
		}
		now := l.now()
		set := map[string]string{AttrState: wechatpay.TradeStateClosed, AttrSource: source, AttrUpdatedAt: stamp(now)}
		attrs := clone(cur.Attrs)
		for k, v := range set {
			attrs[k] = v
		}
		set, evt, err := withEvent(cur.Key, events.OrderClosed, now, set, orderEvent(attrs))
		if err != nil {
			return Result{}, err
		}
		rec, err := l.update(ctx, cur, set, []string{AttrCloseOwed, events.AttrSchedIndex, events.AttrSchedAt})
		if c, ok := raced(err); ok {
			cur = *c
			continue
		}
		if err != nil {
			return Result{}, fmt.Errorf("payment: close %s: %w", key, err)
		}
		return Result{Outcome: Applied, Record: rec, Event: evt}, nil
	}
	return Result{}, fmt.Errorf("payment: close %s: too much contention", key)
}

// Reschedule moves rec's own schedule (query or close due) to index at at ("" leaves
// the schedule), recording checkedAt when non-zero, conditioned on the version read. A
// lost race re-reads and goes on only while the record still has the schedule it had
// when read: whoever changed it (a payment moving it to its bill day) decided.
func (l *Ledger) Reschedule(ctx context.Context, rec store.Record, index string, at, checkedAt time.Time) (store.Record, error) {
	was := rec.Attrs[events.AttrSchedIndex]
	cur := rec
	for range maxRetries {
		set := map[string]string{}
		var remove []string
		if index == "" {
			remove = []string{events.AttrSchedIndex, events.AttrSchedAt}
		} else {
			set[events.AttrSchedIndex], set[events.AttrSchedAt] = index, stamp(at)
		}
		if !checkedAt.IsZero() {
			set[AttrCheckedAt] = stamp(checkedAt)
		}
		out, err := l.update(ctx, cur, set, remove)
		if c, ok := raced(err); ok {
			cur = *c
			if cur.Attrs[events.AttrSchedIndex] != was {
				return cur, nil
			}
			continue
		}
		if err != nil {
			return store.Record{}, fmt.Errorf("payment: reschedule %s: %w", rec.Key, err)
		}
		return out, nil
	}
	return store.Record{}, fmt.Errorf("payment: reschedule %s: too much contention", rec.Key)
}

// ApplyQueried applies what a query of WeChat Pay said about an attempt (reconcile, GET
// /orders, billfetch): paid (SUCCESS, or REFUND — it was paid) goes through
// ApplyTransaction; CLOSED/REVOKED closes the attempt; anything else only moves the
// attempt's next check along its decaying schedule.
func (l *Ledger) ApplyQueried(ctx context.Context, rec store.Record, tx *wechatpay.Transaction, source string) (Result, error) {
	switch tx.TradeState {
	case wechatpay.TradeStateSuccess, wechatpay.TradeStateRefund:
		return l.ApplyTransaction(ctx, tx, source)
	case wechatpay.TradeStateClosed, wechatpay.TradeStateRevoked:
		return l.MarkClosed(ctx, rec.Key, source)
	}
	now := l.now()
	if !contains(closable, rec.Attrs[AttrState]) {
		return Result{Outcome: Duplicate, Record: rec}, nil
	}
	next := NextCheck(ParseStamp(rec.Attrs[AttrCreatedAt]), ParseStamp(rec.Attrs[AttrExpiresAt]), now)
	if rec.Attrs[AttrCloseOwed] != "" {
		if at := ParseStamp(rec.Attrs[events.AttrSchedAt]); at.After(now) && at.Before(next) {
			next = at
		}
	}
	out, err := l.Reschedule(ctx, rec, PendingOrders, next, now)
	return Result{Outcome: Duplicate, Record: out}, err
}
