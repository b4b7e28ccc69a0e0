// Package payment is the one state machine of orders and refunds. A payment result can
// arrive by notification, by query (reconcile, order status) or by bill; all of them go
// through Apply*, and every transition is a single conditional write to the store: no
// read-then-write race, and a duplicate delivery is recognised from the write's failed
// condition, which hands back the record as it is.
package payment

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/paysls/wxpay/shared/store"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// StateReview marks a record a person must look at: a payment whose amount, merchant or
// app does not match the order, or one that arrived for an order already closed. It is
// never treated as paid.
const StateReview = "REVIEW"

// PendingOrders and PendingRefunds are the pending-index names reconcile reads.
const (
	PendingOrders  = "orders"
	PendingRefunds = "refunds"
)

// Record attribute names, shared by every writer.
const (
	AttrState         = "state"
	AttrAmount        = "amount"
	AttrMchID         = "mchid"
	AttrAppID         = "appid"
	AttrTransactionID = "transaction_id"
	AttrSuccessTime   = "success_time"
	AttrSource        = "source"
	AttrReason        = "review_reason"
	AttrUpdatedAt     = "updated_at"
	AttrData          = "data"
	AttrRefundID      = "refund_id"
	AttrOutTradeNo    = "out_trade_no"
)

// Outcome says what a transition did.
type Outcome string

const (
	// Applied: the record moved to the new state (side effects belong to this call).
	Applied Outcome = "applied"
	// Duplicate: the record was already in that state from the same transaction; nothing
	// changed. The notification must still be acknowledged.
	Duplicate Outcome = "duplicate"
	// Review: the result conflicts with the record; it is now REVIEW, never paid.
	Review Outcome = "review"
)

// OrderKey is the store key of an order. out_trade_no is unique per merchant, so the
// key carries the merchant that owns the order (sub_mchid in partner mode).
func OrderKey(mchid, outTradeNo string) string { return "order/" + mchid + "/" + outTradeNo }

// RefundKey is the store key of a refund.
func RefundKey(mchid, outRefundNo string) string { return "refund/" + mchid + "/" + outRefundNo }

// OwnerMchID is the merchant that owns a transaction: sub_mchid in partner mode.
func OwnerMchID(tx *wechatpay.Transaction) string {
	if tx.SubMchID != "" {
		return tx.SubMchID
	}
	return tx.MchID
}

// PayingAppID is the app the user paid in: sub_appid or sp_appid in partner mode.
func PayingAppID(tx *wechatpay.Transaction) string {
	switch {
	case tx.SubAppID != "":
		return tx.SubAppID
	case tx.SpAppID != "":
		return tx.SpAppID
	}
	return tx.AppID
}

// payableStates are the states a SUCCESS may follow.
var payableStates = []string{wechatpay.TradeStateNotPay, wechatpay.TradeStateUserPaying, wechatpay.TradeStatePayError}

// ApplyTransaction applies a paid transaction (trade_state SUCCESS) to its order. The
// common case — a pending order whose amount, merchant and app match — is one write. A
// duplicate is recognised from that write's failed condition. An order this store has
// never seen (created outside the bundle) is recorded as paid, flagged by source, so no
// payment is lost. Only a conflict costs a second write, to REVIEW.
func ApplyTransaction(ctx context.Context, st store.Store, tx *wechatpay.Transaction, source string, now time.Time) (Outcome, store.Record, error) {
	if tx.TradeState != wechatpay.TradeStateSuccess {
		return "", store.Record{}, fmt.Errorf("payment: ApplyTransaction takes SUCCESS transactions, got trade_state %q", tx.TradeState)
	}
	if tx.Amount == nil {
		return "", store.Record{}, errors.New("payment: transaction has no amount")
	}
	key := OrderKey(OwnerMchID(tx), tx.OutTradeNo)
	data, err := json.Marshal(tx)
	if err != nil {
		return "", store.Record{}, fmt.Errorf("payment: encode transaction: %w", err)
	}
	amount := strconv.FormatInt(tx.Amount.Total, 10)
	paid := map[string]string{
		AttrState: wechatpay.TradeStateSuccess, AttrTransactionID: tx.TransactionID,
		AttrSuccessTime: tx.SuccessTime, AttrSource: source, AttrUpdatedAt: now.UTC().Format(time.RFC3339Nano),
		AttrData: string(data),
	}
	notPending := ""
	cond := store.Condition{Attrs: []store.AttrTest{
		store.AttrIn(AttrState, payableStates...),
		store.AttrIn(AttrAmount, amount),
		store.AttrIn(AttrMchID, OwnerMchID(tx)),
		// An order recorded without an app id (created outside the bundle) matches any.
		store.AttrIn(AttrAppID, PayingAppID(tx), ""),
	}}
	rec, err := st.Update(ctx, key, store.Change{Set: paid, Pending: &notPending}, cond)
	if err == nil {
		return Applied, rec, nil
	}
	var cf *store.ConditionFailedError
	if !errors.As(err, &cf) {
		return "", store.Record{}, fmt.Errorf("payment: apply %s to %s: %w", tx.TransactionID, key, err)
	}
	if cf.Current == nil {
		// Unknown order: record the payment rather than drop it.
		paid[AttrAmount] = amount
		paid[AttrMchID] = OwnerMchID(tx)
		paid[AttrAppID] = PayingAppID(tx)
		paid[AttrOutTradeNo] = tx.OutTradeNo
		rec, err := st.Put(ctx, store.Record{Key: key, Attrs: paid}, store.Condition{Absent: true})
		if err == nil {
			return Applied, rec, nil
		}
		if !errors.As(err, &cf) || cf.Current == nil {
			return "", store.Record{}, fmt.Errorf("payment: record %s: %w", key, err)
		}
		// Lost a race with another writer: judge against what it wrote.
	}
	cur := *cf.Current
	// The same transaction seen again — paid, refunded since, or already under review —
	// changes nothing.
	if cur.Attrs[AttrTransactionID] == tx.TransactionID || cur.Attrs["review_transaction_id"] == tx.TransactionID {
		switch cur.Attrs[AttrState] {
		case wechatpay.TradeStateSuccess, wechatpay.TradeStateRefund, StateReview:
			return Duplicate, cur, nil
		}
	}
	return review(ctx, st, cur, paid, reviewReason(cur, tx, amount))
}

func reviewReason(cur store.Record, tx *wechatpay.Transaction, amount string) string {
	switch {
	case cur.Attrs[AttrAmount] != amount:
		return fmt.Sprintf("paid amount %s fen differs from the order's %s fen", amount, cur.Attrs[AttrAmount])
	case cur.Attrs[AttrMchID] != OwnerMchID(tx):
		return fmt.Sprintf("paid to merchant %s, the order belongs to %s", OwnerMchID(tx), cur.Attrs[AttrMchID])
	case cur.Attrs[AttrAppID] != "" && cur.Attrs[AttrAppID] != PayingAppID(tx):
		return fmt.Sprintf("paid in app %s, the order was made for %s", PayingAppID(tx), cur.Attrs[AttrAppID])
	case cur.Attrs[AttrState] == wechatpay.TradeStateSuccess:
		return fmt.Sprintf("second payment %s for an order already paid by %s", tx.TransactionID, cur.Attrs[AttrTransactionID])
	default:
		return fmt.Sprintf("payment arrived for an order in state %s", cur.Attrs[AttrState])
	}
}

// review moves cur to REVIEW, conditioned on the version we judged, so a concurrent
// change is never overwritten blindly.
func review(ctx context.Context, st store.Store, cur store.Record, paid map[string]string, reason string) (Outcome, store.Record, error) {
	set := map[string]string{AttrState: StateReview, AttrReason: reason}
	for _, k := range []string{AttrTransactionID, AttrSuccessTime, AttrSource, AttrUpdatedAt, AttrData} {
		set[k] = paid[k]
	}
	// A second payment for a paid order keeps the first transaction on record.
	if cur.Attrs[AttrState] == wechatpay.TradeStateSuccess {
		delete(set, AttrTransactionID)
		delete(set, AttrData)
		set["review_transaction_id"] = paid[AttrTransactionID]
	}
	notPending := ""
	rec, err := st.Update(ctx, cur.Key, store.Change{Set: set, Pending: &notPending}, store.Condition{Version: cur.Version})
	if err != nil {
		return "", store.Record{}, fmt.Errorf("payment: move %s to REVIEW: %w", cur.Key, err)
	}
	return Review, rec, nil
}

// refundFrom are the states a refund result may follow: processing, or not yet known
// to this store.
var refundFrom = []string{wechatpay.RefundStatusProcessing, ""}

// ApplyRefund applies a refund result (SUCCESS, ABNORMAL or CLOSED) to its refund
// record in one conditional write; an unknown refund (e.g. made by hand in the merchant
// platform) is created, a duplicate recognised from the failed condition.
func ApplyRefund(ctx context.Context, st store.Store, n *wechatpay.RefundNotice, source string, now time.Time) (Outcome, store.Record, error) {
	owner := n.SubMchID
	if owner == "" {
		owner = n.MchID
	}
	switch n.RefundStatus {
	case wechatpay.RefundStatusSuccess, wechatpay.RefundStatusAbnormal, wechatpay.RefundStatusClosed:
	default:
		return "", store.Record{}, fmt.Errorf("payment: refund %s: status %q is not a result", n.OutRefundNo, n.RefundStatus)
	}
	data, err := json.Marshal(n)
	if err != nil {
		return "", store.Record{}, fmt.Errorf("payment: encode refund: %w", err)
	}
	key := RefundKey(owner, n.OutRefundNo)
	set := map[string]string{
		AttrState: n.RefundStatus, AttrRefundID: n.RefundID, AttrOutTradeNo: n.OutTradeNo,
		AttrTransactionID: n.TransactionID, AttrAmount: strconv.FormatInt(n.Amount.Refund, 10),
		AttrMchID: owner, AttrSuccessTime: n.SuccessTime, AttrSource: source,
		AttrUpdatedAt: now.UTC().Format(time.RFC3339Nano), AttrData: string(data),
	}
	notPending := ""
	rec, err := st.Update(ctx, key, store.Change{Set: set, Pending: &notPending}, store.Condition{Attrs: []store.AttrTest{store.AttrIn(AttrState, refundFrom...)}})
	if err == nil {
		return Applied, rec, nil
	}
	var cf *store.ConditionFailedError
	if !errors.As(err, &cf) {
		return "", store.Record{}, fmt.Errorf("payment: apply refund %s: %w", key, err)
	}
	if cf.Current == nil {
		rec, err := st.Put(ctx, store.Record{Key: key, Attrs: set}, store.Condition{Absent: true})
		if err == nil {
			return Applied, rec, nil
		}
		if !errors.As(err, &cf) || cf.Current == nil {
			return "", store.Record{}, fmt.Errorf("payment: record refund %s: %w", key, err)
		}
	}
	cur := *cf.Current
	if cur.Attrs[AttrState] == n.RefundStatus {
		return Duplicate, cur, nil
	}
	// A refund result never changes once final; a different one is for a person.
	return review(ctx, st, cur, set, fmt.Sprintf("refund result %s arrived for a refund already %s", n.RefundStatus, cur.Attrs[AttrState]))
}
