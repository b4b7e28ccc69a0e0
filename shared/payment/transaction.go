package payment

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/paysls/wxpay/shared/events"
	"github.com/paysls/wxpay/shared/store"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// payableStates are the states a payment may follow.
var payableStates = []string{wechatpay.TradeStateNotPay, wechatpay.TradeStateUserPaying, wechatpay.TradeStatePayError}

// OrderEvent is the data of order.* events.
type OrderEvent struct {
	OrderID       string                  `json:"order_id,omitempty"`
	OutTradeNo    string                  `json:"out_trade_no"`
	MchID         string                  `json:"mchid"`
	State         string                  `json:"state"`
	Amount        int64                   `json:"amount"`
	TransactionID string                  `json:"transaction_id,omitempty"`
	SuccessTime   string                  `json:"success_time,omitempty"`
	Refunded      int64                   `json:"refunded,omitempty"`
	Reason        string                  `json:"reason,omitempty"`
	Conflict      *wechatpay.Transaction  `json:"conflicting_transaction,omitempty"`
	Refund        *wechatpay.RefundNotice `json:"conflicting_refund,omitempty"`
	Source        string                  `json:"source,omitempty"`
}

func orderEvent(attrs map[string]string) OrderEvent {
	amount, _ := strconv.ParseInt(attrs[AttrAmount], 10, 64)
	refunded, _ := strconv.ParseInt(attrs[AttrRefundSettled], 10, 64)
	return OrderEvent{OrderID: attrs[AttrOrderID], OutTradeNo: attrs[AttrOutTradeNo], MchID: attrs[AttrMchID],
		State: attrs[AttrState], Amount: amount, TransactionID: attrs[AttrTransactionID],
		SuccessTime: attrs[AttrSuccessTime], Refunded: refunded, Source: attrs[AttrSource]}
}

// ValidateTransaction checks what a paid transaction must carry; its error matches
// ErrInvalid. trade_state REFUND counts as paid (the order was paid, then refunded).
func ValidateTransaction(tx *wechatpay.Transaction) error {
	switch {
	case tx.TradeState != wechatpay.TradeStateSuccess && tx.TradeState != wechatpay.TradeStateRefund:
		return invalid("transaction %s has trade_state %q; only SUCCESS (or REFUND) is a payment", tx.TransactionID, tx.TradeState)
	case tx.Amount == nil:
		return invalid("transaction %s has no amount", tx.TransactionID)
	case tx.Amount.Total <= 0:
		return invalid("transaction %s has amount.total %d", tx.TransactionID, tx.Amount.Total)
	case tx.TransactionID == "" || len(tx.TransactionID) > 64:
		return invalid("transaction_id %q is empty or longer than 64 characters", tx.TransactionID)
	case OwnerMchID(tx) == "" || len(OwnerMchID(tx)) > 32:
		return invalid("transaction %s: merchant id %q is empty or too long", tx.TransactionID, OwnerMchID(tx))
	}
	if err := wechatpay.ValidateOutTradeNo("out_trade_no", tx.OutTradeNo, 32); err != nil {
		return invalid("transaction %s: %v", tx.TransactionID, err)
	}
	return nil
}

// ApplyTransaction applies a paid transaction to its order. The common case — a
// pending order whose amount, merchant and app match — is one write, which also records
// the order.paid event; a duplicate is recognised from that write's failed condition
// and writes nothing. An order never seen (created outside the bundle) is recorded as
// paid. Anything else is a conflict: the transaction is kept on the order and the order
// moves to REVIEW with an order.review event, re-judged against the current record
// whenever a concurrent writer wins the race.
func (l *Ledger) ApplyTransaction(ctx context.Context, tx *wechatpay.Transaction, source string) (Result, error) {
	if err := ValidateTransaction(tx); err != nil {
		return Result{}, err
	}
	if acct := accountMchID(tx.SpMchID, tx.MchID); !l.ours(acct) {
		return l.foreign(ctx, tx, acct, source)
	}
	now := l.now()
	owner := OwnerMchID(tx)
	key := OrderKey(owner, tx.OutTradeNo)
	data, err := json.Marshal(tx)
	if err != nil {
		return Result{}, fmt.Errorf("payment: encode transaction: %w", err)
	}
	amount := strconv.FormatInt(tx.Amount.Total, 10)
	paid := map[string]string{
		AttrState: wechatpay.TradeStateSuccess, AttrTransactionID: tx.TransactionID,
		AttrSuccessTime: tx.SuccessTime, AttrSource: source, AttrUpdatedAt: stamp(now), AttrData: string(data),
	}
	billDay(paid, owner, tx.SuccessTime, now)
	cond := store.Condition{Attrs: []store.AttrTest{
		store.AttrIn(AttrState, payableStates...),
		store.AttrIn(AttrAmount, amount),
		store.AttrIn(AttrMchID, owner),
		// An order recorded without an app id (created outside the bundle) matches any.
		store.AttrIn(AttrAppID, PayingAppID(tx), ""),
		// A close was requested (re-priced or cancelled): the payment needs a person.
		store.AttrIn(AttrCloseOwed, ""),
	}}
	ev := orderEvent(paid)
	ev.OutTradeNo, ev.MchID, ev.Amount = tx.OutTradeNo, owner, tx.Amount.Total
	set, evt, err := withEvent(key, events.OrderPaid, now, paid, ev)
	if err != nil {
		return Result{}, err
	}
	// The common path does not read first, so order.paid carries what this write sets;
	// the merchant's order_id, which only the record knows, is added when the event is
	// delivered (events.Payload).
	outbox := events.IndexOutbox
	rec, err := l.Store.Update(ctx, key, store.Change{Set: set, Pending: &outbox, PendingSince: now}, cond)
	if err == nil {
		return Result{Outcome: Applied, Record: rec, Event: evt}, nil
	}
	var cf *store.ConditionFailedError
	if !errors.As(err, &cf) {
		return Result{}, fmt.Errorf("payment: apply %s to %s: %w", tx.TransactionID, key, err)
	}
	if cf.Current == nil {
		res, err := l.recordUnknown(ctx, key, tx, paid, amount, source)
		if cur, ok := raced(err); ok {
			return l.judge(ctx, *cur, tx, string(data), source)
		}
		return res, err
	}
	// The condition failed: a duplicate, a race, or a conflict — judged against the
	// record the failed write handed back.
	return l.judge(ctx, *cf.Current, tx, string(data), source)
}

// billDay places a paid record in its bill day's passive listing (once its events are
// delivered), replacing the query schedule it had.
func billDay(set map[string]string, owner, successTime string, now time.Time) {
	at := successAt(successTime, now)
	set[events.AttrSchedIndex], set[events.AttrSchedAt] = BillDayIndex(owner, at), stamp(at)
}

// withEvent returns set plus the attribute of a new event with data: the transition's
// write records its event.
func withEvent(key, typ string, now time.Time, set map[string]string, data any) (map[string]string, *events.Event, error) {
	attr, val, ev, err := events.New(key, typ, now, data)
	if err != nil {
		return nil, nil, err
	}
	out := clone(set)
	out[attr] = val
	return out, &ev, nil
}

// recordUnknown records a payment for an order this store has never seen, rather than
// drop it.
func (l *Ledger) recordUnknown(ctx context.Context, key string, tx *wechatpay.Transaction, paid map[string]string, amount, source string) (Result, error) {
	attrs := clone(paid)
	attrs[AttrAmount] = amount
	attrs[AttrMchID] = OwnerMchID(tx)
	attrs[AttrAppID] = PayingAppID(tx)
	attrs[AttrOutTradeNo] = tx.OutTradeNo
	attrs[AttrUnknownOrder] = "1"
	attrs[AttrCreatedAt] = stamp(l.now())
	set, evt, err := withEvent(key, events.OrderPaid, l.now(), attrs, orderEvent(attrs))
	if err != nil {
		return Result{}, err
	}
	rec, err := l.Store.Put(ctx, store.Record{Key: key, Attrs: set, Pending: events.IndexOutbox, PendingSince: l.now()}, store.Condition{Absent: true})
	if err != nil {
		if _, ok := raced(err); ok {
			return Result{}, err
		}
		return Result{}, fmt.Errorf("payment: record %s: %w", key, err)
	}
	l.log().Warn("payment for an order the bundle never created; recorded as paid", "key", key, "transaction_id", tx.TransactionID)
	return Result{Outcome: Applied, Record: rec, Event: evt}, nil
}

// judge decides what a transaction means for the order as it is now, and writes the
// conflict when there is one. It loops on lost races, re-judging each time.
func (l *Ledger) judge(ctx context.Context, cur store.Record, tx *wechatpay.Transaction, data, source string) (Result, error) {
	amount := strconv.FormatInt(tx.Amount.Total, 10)
	cx := marker(prefixConflict, tx.TransactionID)
	for range maxRetries {
		// The same transaction seen again — paid, refunded since, or kept as a conflict
		// — changes nothing.
		if cur.Attrs[AttrTransactionID] == tx.TransactionID || cur.Attrs[cx] != "" {
			return Result{Outcome: Duplicate, Record: cur}, nil
		}
		if payable(cur, tx, amount) {
			// A concurrent writer moved the order between payable states; try again.
			res, err := l.payExisting(ctx, cur, tx, data, source)
			if c, ok := raced(err); ok {
				cur = *c
				continue
			}
			return res, err
		}
		reason := reviewReason(cur, tx, amount)
		res, err := l.review(ctx, cur, cx, reason, conflictValue(tx, source, l.now(), reason), func(ev *OrderEvent) {
			ev.Conflict = tx
			ev.OutTradeNo = tx.OutTradeNo
		})
		if c, ok := raced(err); ok {
			cur = *c
			continue
		}
		if err == nil && res.Record.Attrs[events.AttrSchedIndex] == PendingLateRefunds {
			l.log().Warn("payment after close: queued for automatic refund", "key", cur.Key, "transaction_id", tx.TransactionID)
		}
		return res, err
	}
	return Result{}, fmt.Errorf("payment: judge %s on %s: too much contention", tx.TransactionID, cur.Key)
}

func payable(cur store.Record, tx *wechatpay.Transaction, amount string) bool {
	a := cur.Attrs
	return contains(payableStates, a[AttrState]) && a[AttrAmount] == amount && a[AttrMchID] == OwnerMchID(tx) &&
		(a[AttrAppID] == "" || a[AttrAppID] == PayingAppID(tx)) && a[AttrCloseOwed] == ""
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// payExisting pays cur conditioned on its version (after a race on the common path).
func (l *Ledger) payExisting(ctx context.Context, cur store.Record, tx *wechatpay.Transaction, data, source string) (Result, error) {
	now := l.now()
	set := map[string]string{
		AttrState: wechatpay.TradeStateSuccess, AttrTransactionID: tx.TransactionID,
		AttrSuccessTime: tx.SuccessTime, AttrSource: source, AttrUpdatedAt: stamp(now), AttrData: data,
	}
	billDay(set, OwnerMchID(tx), tx.SuccessTime, now)
	attrs := clone(cur.Attrs)
	for k, v := range set {
		attrs[k] = v
	}
	set, evt, err := withEvent(cur.Key, events.OrderPaid, now, set, orderEvent(attrs))
	if err != nil {
		return Result{}, err
	}
	rec, err := l.update(ctx, cur, set, nil)
	if err != nil {
		if _, ok := raced(err); ok {
			return Result{}, err
		}
		return Result{}, fmt.Errorf("payment: pay %s: %w", cur.Key, err)
	}
	return Result{Outcome: Applied, Record: rec, Event: evt}, nil
}

func reviewReason(cur store.Record, tx *wechatpay.Transaction, amount string) string {
	a := cur.Attrs
	switch {
	case a[AttrMchID] != OwnerMchID(tx):
		return fmt.Sprintf("paid to merchant %s, the order belongs to %s", OwnerMchID(tx), a[AttrMchID])
	case a[AttrAppID] != "" && a[AttrAppID] != PayingAppID(tx):
		return fmt.Sprintf("paid in app %s, the order was made for %s", PayingAppID(tx), a[AttrAppID])
	case a[AttrState] == wechatpay.TradeStateSuccess || a[AttrState] == wechatpay.TradeStateRefund:
		return fmt.Sprintf("second payment %s (%s fen) for an order already paid by %s", tx.TransactionID, amount, a[AttrTransactionID])
	case a[AttrState] == wechatpay.TradeStateClosed || a[AttrState] == wechatpay.TradeStateRevoked:
		return fmt.Sprintf("payment %s (%s fen) arrived for an order already closed", tx.TransactionID, amount)
	case a[AttrCloseOwed] != "":
		return fmt.Sprintf("payment %s (%s fen) arrived after the order's close was requested (cancelled or re-priced)", tx.TransactionID, amount)
	case a[AttrAmount] != amount:
		return fmt.Sprintf("paid amount %s fen differs from the order's %s fen (transaction %s)", amount, a[AttrAmount], tx.TransactionID)
	case a[AttrState] == StateReview:
		return fmt.Sprintf("payment %s (%s fen) arrived for an order already under review", tx.TransactionID, amount)
	default:
		return fmt.Sprintf("payment %s arrived for an order in state %s", tx.TransactionID, a[AttrState])
	}
}

// conflict is how a conflicting result is kept on its record (attribute cx_…).
type conflict struct {
	TransactionID string          `json:"transaction_id,omitempty"`
	OutRefundNo   string          `json:"out_refund_no,omitempty"`
	Amount        int64           `json:"amount"`
	SuccessTime   string          `json:"success_time,omitempty"`
	Status        string          `json:"status,omitempty"`
	Source        string          `json:"source"`
	ReceivedAt    string          `json:"received_at"`
	Reason        string          `json:"reason"`
	Data          json.RawMessage `json:"data"`
}

func conflictValue(tx *wechatpay.Transaction, source string, now time.Time, reason string) string {
	data, _ := json.Marshal(tx)
	b, _ := json.Marshal(conflict{TransactionID: tx.TransactionID, Amount: tx.Amount.Total, SuccessTime: tx.SuccessTime,
		Status: tx.TradeState, Source: source, ReceivedAt: stamp(now), Reason: reason, Data: data})
	return string(b)
}

// Conflicts lists the conflicting results kept on a record, for people and tools.
func Conflicts(rec store.Record) []json.RawMessage {
	var out []json.RawMessage
	for name, v := range rec.Attrs {
		if len(name) > len(prefixConflict) && name[:len(prefixConflict)] == prefixConflict {
			out = append(out, json.RawMessage(v))
		}
	}
	return out
}

// review moves cur to REVIEW keeping the conflicting result under attribute cx, with
// an order.review event, conditioned on the version judged. Nothing already on the
// record is overwritten: the first payment's transaction id and data stay.
func (l *Ledger) review(ctx context.Context, cur store.Record, cx, reason, value string, decorate func(*OrderEvent)) (Result, error) {
	now := l.now()
	set := map[string]string{AttrState: StateReview, AttrReason: reason, AttrUpdatedAt: stamp(now), cx: value}
	if cur.Attrs[AttrState] != StateReview {
		set[AttrPrevState] = cur.Attrs[AttrState]
	}
	remove := []string{events.AttrSchedIndex, events.AttrSchedAt}
	if strings.HasPrefix(cur.Key, "order/") && cur.Attrs[AttrState] == wechatpay.TradeStateClosed && l.RefundLatePayments {
		set[events.AttrSchedIndex], set[events.AttrSchedAt] = PendingLateRefunds, stamp(now)
		remove = nil
	}
	attrs := clone(cur.Attrs)
	for k, v := range set {
		attrs[k] = v
	}
	ev := orderEvent(attrs)
	ev.Reason = reason
	if decorate != nil {
		decorate(&ev)
	}
	set, evt, err := withEvent(cur.Key, events.OrderReview, now, set, ev)
	if err != nil {
		return Result{}, err
	}
	rec, err := l.update(ctx, cur, set, remove)
	if err != nil {
		if _, ok := raced(err); ok {
			return Result{}, err
		}
		return Result{}, fmt.Errorf("payment: move %s to REVIEW: %w", cur.Key, err)
	}
	l.log().Error("payment put in REVIEW", "key", cur.Key, "reason", reason, "metric", "payment_review")
	return Result{Outcome: Review, Record: rec, Event: evt, Reason: reason}, nil
}

// foreign keeps a genuine transaction for a merchant this deployment does not serve
// (defect: it used to become a paid order under that merchant's key). It is recorded
// once, for review, with an order.review event; repeats write nothing.
func (l *Ledger) foreign(ctx context.Context, tx *wechatpay.Transaction, acct, source string) (Result, error) {
	now := l.now()
	key := ForeignKey(acct, tx.TransactionID)
	reason := fmt.Sprintf("payment %s is for merchant %s, which this deployment does not serve (it serves %v): check WXPAY_MCHID and the notify_url configured for that merchant", tx.TransactionID, acct, l.Merchants)
	attrs := map[string]string{
		AttrState: StateReview, AttrReason: reason, AttrMchID: OwnerMchID(tx), AttrOutTradeNo: tx.OutTradeNo,
		AttrTransactionID: tx.TransactionID, AttrAmount: strconv.FormatInt(tx.Amount.Total, 10),
		AttrSource: source, AttrUpdatedAt: stamp(now), marker(prefixConflict, tx.TransactionID): conflictValue(tx, source, now, reason),
	}
	ev := orderEvent(attrs)
	ev.Reason, ev.Conflict = reason, tx
	set, evt, err := withEvent(key, events.OrderReview, now, attrs, ev)
	if err != nil {
		return Result{}, err
	}
	rec, err := l.Store.Put(ctx, store.Record{Key: key, Attrs: set, Pending: events.IndexOutbox, PendingSince: now}, store.Condition{Absent: true})
	if cur, ok := raced(err); ok {
		return Result{Outcome: Duplicate, Record: *cur, Reason: reason}, nil
	}
	if err != nil {
		return Result{}, fmt.Errorf("payment: record foreign payment %s: %w", key, err)
	}
	l.log().Error("payment for a foreign merchant kept for review", "key", key, "reason", reason, "metric", "payment_review")
	return Result{Outcome: Review, Record: rec, Event: evt, Reason: reason}, nil
}
