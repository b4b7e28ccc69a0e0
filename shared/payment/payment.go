package payment

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/paysls/wxpay/shared/clock"
	"github.com/paysls/wxpay/shared/events"
	"github.com/paysls/wxpay/shared/store"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// StateReview marks a record a person must look at: a payment whose amount, merchant or
// app does not match the order, a second payment, one that arrived for an order already
// closed (or whose close was requested), or a refund result contradicting an earlier
// final one. It is never treated as paid.
const StateReview = "REVIEW"

// Pending-index names of the records' own schedules (events.IndexOutbox is the other).
const (
	PendingOrders  = "orders"  // an order attempt owes a query or a close
	PendingRefunds = "refunds" // a refund owes a query, or its effect on the order
	// PendingLateRefunds lists orders paid after they were closed, whose payment the
	// deployment refunds automatically (WXPAY_REFUND_LATE_PAYMENTS=1).
	PendingLateRefunds = "late_refunds"
)

// cst is China Standard Time: bill days are in UTC+8.
var cst = time.FixedZone("CST", 8*3600)

// BillDayIndex is the passive listing of what a merchant's bill for the day of at
// (UTC+8) should list: every payment and successful refund is placed there, at its
// time, in the write that makes it succeed (once its events are delivered), and
// billfetch takes it out when the bill lists it. What is left after the bill is paid
// here but absent from WeChat Pay's ledger (本地长款) — found without scanning the table.
func BillDayIndex(mchid string, at time.Time) string {
	return events.PassivePrefix + strings.ToLower(mchid) + "_" + at.In(cst).Format("20060102")
}

// successAt parses a WeChat Pay success_time, falling back to fallback.
func successAt(s string, fallback time.Time) time.Time {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC()
	}
	return fallback
}

// Record attribute names, shared by every writer.
const (
	AttrState          = "state"
	AttrAmount         = "amount"
	AttrMchID          = "mchid"
	AttrAppID          = "appid"
	AttrTransactionID  = "transaction_id"
	AttrSuccessTime    = "success_time"
	AttrSource         = "source"
	AttrReason         = "review_reason"
	AttrPrevState      = "review_prev_state"
	AttrUpdatedAt      = "updated_at"
	AttrData           = "data"
	AttrRefundID       = "refund_id"
	AttrOutTradeNo     = "out_trade_no"
	AttrOutRefundNo    = "out_refund_no"
	AttrOrderID        = "order_id"
	AttrScene          = "scene"
	AttrCreatedAt      = "created_at"
	AttrExpiresAt      = "time_expire"
	AttrCheckedAt      = "checked_at"
	AttrCloseOwed      = "close_owed"      // "1": the attempt must be closed at WeChat Pay
	AttrRefundReserved = "refund_reserved" // fen held by refunds requested and not failed
	AttrRefundSettled  = "refund_settled"  // fen refunded successfully
	AttrOrderSync      = "order_sync"      // on a refund: "1" while its effect on the order is owed
	AttrUnknownOrder   = "unknown_order"   // "1": paid, but the bundle never created it
)

// Attribute prefixes of per-item markers on a record (suffix: hash of the item's id).
const (
	prefixConflict = "cx_" // a conflicting transaction or refund result, kept whole
	prefixReserved = "rr_" // a refund's reservation on its order (value: fen)
	prefixSynced   = "rs_" // a refund's final result applied to its order
)

// Outcome says what a transition did.
type Outcome string

const (
	// Applied: the record moved to the new state (its event belongs to this call).
	Applied Outcome = "applied"
	// Duplicate: the result was already known; nothing was written. A notification must
	// still be acknowledged.
	Duplicate Outcome = "duplicate"
	// Review: the result conflicts with the record; it is kept, and the record is REVIEW.
	Review Outcome = "review"
	// Refused: the record's state does not allow the transition (e.g. closing a paid
	// order); nothing was written.
	Refused Outcome = "refused"
)

// Result is what a Ledger call did.
type Result struct {
	Outcome Outcome
	// Record is the record as stored after the call (or as found, when nothing changed).
	Record store.Record
	// Event is the merchant event this call recorded, nil when it recorded none.
	Event *events.Event
	// Reason says why a REVIEW or a refusal happened.
	Reason string
	// Typed API (filled once it lands): every event recorded, the typed records left,
	// the review cause added.
	Events []events.Event
	Order  *Order
	Refund *Refund
	Cause  *Cause
}

// ErrInvalid matches results that can never be applied, whatever is retried: a
// notification carrying them is answered 400, not 5xx.
var ErrInvalid = errors.New("payment: invalid result")

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, a...)...)
}

// Ledger applies payment results to the store.
type Ledger struct {
	Store store.Store
	// Now is the business clock (the simulator's virtual clock under `wxpay serve`).
	Now clock.Func
	// Merchants are the merchant ids this deployment takes payments for: mchid in direct
	// mode, sp_mchid in partner mode. A result for any other merchant never becomes a
	// paid order here; it is recorded for review. Empty accepts every merchant.
	Merchants []string
	// RefundLatePayments puts orders paid after their close into PendingLateRefunds.
	RefundLatePayments bool
	Log                *slog.Logger
}

func (l *Ledger) now() time.Time { return clock.Or(l.Now)().UTC() }

func (l *Ledger) log() *slog.Logger {
	if l.Log != nil {
		return l.Log
	}
	return slog.Default()
}

// ours reports whether merchant (the direct mchid or the sp_mchid) is this deployment's.
func (l *Ledger) ours(merchant string) bool {
	return len(l.Merchants) == 0 || slices.Contains(l.Merchants, merchant)
}

// OrderKey is the store key of an order attempt. out_trade_no is unique per merchant,
// so the key carries the merchant that owns the order (sub_mchid in partner mode).
func OrderKey(mchid, outTradeNo string) string { return "order/" + mchid + "/" + outTradeNo }

// RefundKey is the store key of a refund.
func RefundKey(mchid, outRefundNo string) string { return "refund/" + mchid + "/" + outRefundNo }

// ForeignKey is where a transaction for a merchant that is not this deployment's is
// kept for review.
func ForeignKey(mchid, transactionID string) string { return "foreign/" + mchid + "/" + transactionID }

// OwnerMchID is the merchant that owns a transaction: sub_mchid in partner mode.
func OwnerMchID(tx *wechatpay.Transaction) string {
	if tx.SubMchID != "" {
		return tx.SubMchID
	}
	return tx.MchID
}

// accountMchID is the merchant account a transaction was paid to: sp_mchid in partner
// mode, else mchid.
func accountMchID(sp, mch string) string {
	if sp != "" {
		return sp
	}
	return mch
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

// marker is the attribute name of a per-item marker: prefix + 16 hex digits of the
// item's SHA-256, so any id (any length, any characters) fits the attribute-name rule.
func marker(prefix, id string) string {
	h := sha256.Sum256([]byte(id))
	return prefix + hex.EncodeToString(h[:8])
}

// Fen reads an integer amount attribute (0 when unset).
func Fen(rec store.Record, attr string) int64 {
	n, _ := strconv.ParseInt(rec.Attrs[attr], 10, 64)
	return n
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// ParseStamp reads a time attribute written by the ledger (zero when unset or malformed).
func ParseStamp(s string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}

func clone(m map[string]string) map[string]string {
	out := make(map[string]string, len(m)+4)
	for k, v := range m {
		out[k] = v
	}
	return out
}

// place returns the Pending fields for a record whose attributes will be attrs after a
// change that sets set and removes remove.
func place(cur map[string]string, set map[string]string, remove []string) (*string, time.Time) {
	attrs := clone(cur)
	for _, k := range remove {
		delete(attrs, k)
	}
	for k, v := range set {
		attrs[k] = v
	}
	return events.PlacementChange(attrs)
}

// update writes a change to cur's version, placing the record by its resulting
// attributes. A failed condition returns the ConditionFailedError for the caller to
// re-judge.
func (l *Ledger) update(ctx context.Context, cur store.Record, set map[string]string, remove []string) (store.Record, error) {
	idx, since := place(cur.Attrs, set, remove)
	return l.Store.Update(ctx, cur.Key, store.Change{Set: set, Remove: remove, Pending: idx, PendingSince: since}, store.Condition{Version: cur.Version})
}

// maxRetries bounds re-judging after lost races; each loss means another writer made
// progress, so this is never reached in practice.
const maxRetries = 16

// Annotate sets and removes attributes of rec (not money: notes such as billfetch's
// bill_seen), version-conditioned and re-read on a lost race, keeping the record's
// index placement. It returns the record as stored.
func (l *Ledger) Annotate(ctx context.Context, rec store.Record, set map[string]string, remove []string) (store.Record, error) {
	cur := rec
	for range maxRetries {
		out, err := l.update(ctx, cur, set, remove)
		if c, ok := raced(err); ok {
			cur = *c
			continue
		}
		if err != nil {
			return store.Record{}, fmt.Errorf("payment: annotate %s: %w", rec.Key, err)
		}
		return out, nil
	}
	return store.Record{}, fmt.Errorf("payment: annotate %s: too much contention", rec.Key)
}

// KnowsTransaction reports whether an order record holds transaction txid: as its
// payment, or kept as a conflict.
func KnowsTransaction(rec store.Record, txid string) bool {
	return txid != "" && (rec.Attrs[AttrTransactionID] == txid || rec.Attrs[marker(prefixConflict, txid)] != "")
}

func raced(err error) (*store.Record, bool) {
	var cf *store.ConditionFailedError
	if errors.As(err, &cf) && cf.Current != nil {
		return cf.Current, true
	}
	return nil, false
}
