package payment

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/paysls/wxpay/internal/judgment"
	"github.com/paysls/wxpay/shared/clock"
	"github.com/paysls/wxpay/shared/events"
	"github.com/paysls/wxpay/shared/store"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// Pending-index names of the records' own schedules (events.IndexOutbox and the
// passive listings are the others).
const (
	PendingOrders  = "orders"  // an order attempt owes a query or a close
	PendingRefunds = "refunds" // a refund owes a query, or its effect on the order
	// PendingLateRefunds lists orders paid after they were closed, whose payment the
	// deployment refunds automatically (WXPAY_REFUND_LATE_PAYMENTS=1).
	PendingLateRefunds = "late_refunds"
)

// Key prefixes of the records the ledger owns.
const (
	prefixOrder   = "order/"
	prefixRefund  = "refund/"
	prefixForeign = "foreign/"
)

// MoneyKey reports whether key names a record only the ledger may write.
func MoneyKey(key string) bool {
	return strings.HasPrefix(key, prefixOrder) || strings.HasPrefix(key, prefixRefund) || strings.HasPrefix(key, prefixForeign) ||
		strings.HasPrefix(key, prefixCombine)
}

// OrderKey is the store key of an order attempt. out_trade_no is unique per merchant,
// so the key carries the merchant that owns the order (sub_mchid in partner mode).
func OrderKey(mchid, outTradeNo string) string { return prefixOrder + mchid + "/" + outTradeNo }

// RefundKey is the store key of a refund.
func RefundKey(mchid, outRefundNo string) string { return prefixRefund + mchid + "/" + outRefundNo }

// ForeignKey is where a transaction for a merchant that is not this deployment's is
// kept for review.
func ForeignKey(mchid, transactionID string) string {
	return prefixForeign + mchid + "/" + transactionID
}

// AttemptNo is the out_trade_no of attempt n of an order: the order_id itself for the
// first, order_id_n after (WeChat Pay needs a new out_trade_no for a new amount).
func AttemptNo(orderID string, n int) string {
	if n <= 1 {
		return orderID
	}
	return fmt.Sprintf("%s_%d", orderID, n)
}

// OwnerMchID is the merchant that owns a transaction: sub_mchid in partner mode.
func OwnerMchID(tx *wechatpay.Transaction) string {
	if tx.SubMchID != "" {
		return tx.SubMchID
	}
	return tx.MchID
}

// payingAppID is the app the user paid in: sub_appid or sp_appid in partner mode.
func payingAppID(tx *wechatpay.Transaction) string {
	switch {
	case tx.SubAppID != "":
		return tx.SubAppID
	case tx.SpAppID != "":
		return tx.SpAppID
	}
	return tx.AppID
}

// accountMchID is the merchant account a transaction was paid to: sp_mchid in partner
// mode, else mchid.
func accountMchID(sp, mch string) string {
	if sp != "" {
		return sp
	}
	return mch
}

// Outcome says what a transition did.
type Outcome string

const (
	// Applied: the record moved to the new state (its events belong to this call).
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
	// Record is the record as stored after the call (or as found, when nothing changed):
	// the one holding the events the call recorded.
	Record store.Record
	// Event is the first merchant event this call recorded (nil when none); Events all.
	Event  *events.Event
	Events []events.Event
	// Order and Refund are the typed records the call left (either may be nil).
	Order  *Order
	Refund *Refund
	// Cause is the review cause this call added (REVIEW) — or, for Refused, nil.
	Cause *Cause
	// Reason says why a REVIEW or a refusal happened, for people.
	Reason string
}

// Errors.
var (
	// ErrInvalid matches results that can never be applied, whatever is retried: a
	// notification carrying them is answered 400, not 5xx.
	ErrInvalid = errors.New("payment: invalid result")
	// ErrNotFound matches reads of records that do not exist (also store.ErrNotFound).
	ErrNotFound = fmt.Errorf("payment: %w", store.ErrNotFound)
	// ErrContended: so many writers changed the record at once that this transition
	// lost every round; nothing was written and a retry is safe.
	ErrContended = errors.New("too many concurrent changes to the same record")
	// ErrRaced: the record changed since it was read; read it again and judge anew.
	ErrRaced = errors.New("payment: the record changed since it was read")
	// ErrNotRefundable and ErrOverRefund are RequestRefund's refusals.
	ErrNotRefundable = errors.New("payment: the order is not paid, so it cannot be refunded")
	ErrOverRefund    = errors.New("payment: the refund exceeds the order's refundable remainder")
	ErrInReview      = errors.New("payment: the order is under review")
	// ErrRefundConflict: the out_refund_no is already used with a different amount or order.
	ErrRefundConflict = errors.New("payment: out_refund_no already used for a different refund")
	// errClaimLost: another request took over the create's claim (its lease ran out).
	errClaimLost = errors.New("payment: the create's claim was taken over")
)

// OtherOrderError is the answer of reading, creating or reserving an out_trade_no that
// is held by another order (an attempt of it) or by a payment the bundle did not
// create. It matches ErrNotFound: the order asked for does not exist.
type OtherOrderError struct {
	OutTradeNo string
	Holder     string // the order_id holding it; "" for a payment the bundle did not create
	Attempt    int
}

func (e *OtherOrderError) Error() string {
	if e.Holder == "" {
		return fmt.Sprintf("out_trade_no %s is already used by a payment this API did not create", e.OutTradeNo)
	}
	return fmt.Sprintf("out_trade_no %s is already attempt %d of order %s", e.OutTradeNo, e.Attempt, e.Holder)
}

// Is makes errors.Is(err, ErrNotFound) true.
func (e *OtherOrderError) Is(t error) bool { return t == ErrNotFound || t == store.ErrNotFound }

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, a...)...)
}

// Ledger is the one writer of order, refund and foreign-payment records.
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
	// Partner says the Merchants are service providers or e-commerce platforms
	// (partner, ecommerce mode), which take no payment of their own: WeChat Pay refuses
	// a service provider's direct order ("受理机构必须传入sub_mch_id"), and its partner
	// notifications always carry sp_mchid and sub_mchid. A payment to one of them without
	// sub_mchid is then no order of its: kept for review (CausePaymentWithoutSubMerchant).
	Partner bool
	Log     *slog.Logger
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

// maxRetries bounds re-judging after lost races. Each loss means another writer made
// progress, so the system never livelocks, but one writer among many (a cashier link
// hammered from two devices, a combine's sub-orders) can lose many rounds in a row:
// the bound is generous, and reaching it is ErrContended — nothing was written, and
// the caller may safely retry.
const maxRetries = 64

// attrDoc holds a record's typed document. The other attributes of a money record are
// its events (events.AttrPrefix…) and its schedule (events.AttrSchedIndex/At), both in
// the events package's encoding.
const attrDoc = "doc"

// pendingEvent is a merchant event a step records.
type pendingEvent struct {
	typ  string
	data any
}

// step is what a decision does to a record.
type step struct {
	outcome Outcome
	events  []pendingEvent
	// cause is the review cause added; loud when it opened the review.
	cause  *Cause
	loud   bool
	reason string
}

// doc is a typed record.
type doc interface {
	*Order | *Refund | *Combine
}

// OrderOf decodes an order (or foreign payment) record listed from the store.
func OrderOf(rec store.Record) (*Order, error) {
	o := &Order{}
	if err := decode(rec, o); err != nil {
		return nil, err
	}
	return o, nil
}

// RefundOf decodes a refund record listed from the store.
func RefundOf(rec store.Record) (*Refund, error) {
	r := &Refund{}
	if err := decode(rec, r); err != nil {
		return nil, err
	}
	return r, nil
}

func decode[T doc](rec store.Record, d T) error {
	if v, ok := rec.Attrs[attrDoc]; ok {
		if err := json.Unmarshal([]byte(v), d); err != nil {
			return fmt.Errorf("payment: decode %s: %w", rec.Key, err)
		}
	} else {
		decodeLegacy(rec, d)
	}
	switch x := any(d).(type) {
	case *Order:
		x.raw = rec
	case *Refund:
		x.raw = rec
	case *Combine:
		x.raw = rec
	}
	return nil
}

// commit writes d (with the step's events) over cur — put-if-absent when cur is nil,
// else conditioned on cur's version — placing the record where its schedule and owed
// events say. A lost race returns the store's *ConditionFailedError.
func commit[T doc](l *Ledger, ctx context.Context, key string, cur *store.Record, d T, st step) (store.Record, []events.Event, error) {
	now := l.now()
	set := map[string]string{}
	var remove []string
	attrs := map[string]string{}
	if cur != nil {
		maps.Copy(attrs, cur.Attrs)
		// Records written before the ledger was typed: their flat attributes go.
		for k := range cur.Attrs {
			if k != attrDoc && k != events.AttrSchedIndex && k != events.AttrSchedAt && !strings.HasPrefix(k, events.AttrPrefix) {
				remove = append(remove, k)
				delete(attrs, k)
			}
		}
	}
	seq := seqOf(d)
	var evs []events.Event
	for _, pe := range st.events {
		var attr, val string
		var ev events.Event
		var err error
		if judgment.CausalEvents.On() {
			seq++
			attr, val, ev, err = events.NewSeq(key, pe.typ, seq, now, pe.data)
		} else {
			attr, val, ev, err = events.New(key, pe.typ, now, pe.data)
		}
		if err != nil {
			return store.Record{}, nil, err
		}
		set[attr], attrs[attr] = val, val
		evs = append(evs, ev)
	}
	setSeq(d, seq, now)
	b, err := json.Marshal(d)
	if err != nil {
		return store.Record{}, nil, fmt.Errorf("payment: encode %s: %w", key, err)
	}
	set[attrDoc], attrs[attrDoc] = string(b), string(b)
	idx, at := l.schedule(d)
	if idx == "" {
		if _, ok := attrs[events.AttrSchedIndex]; ok {
			remove = append(remove, events.AttrSchedIndex, events.AttrSchedAt)
		}
		delete(attrs, events.AttrSchedIndex)
		delete(attrs, events.AttrSchedAt)
	} else {
		s := stamp(at)
		if attrs[events.AttrSchedIndex] != idx {
			set[events.AttrSchedIndex], attrs[events.AttrSchedIndex] = idx, idx
		}
		if attrs[events.AttrSchedAt] != s {
			set[events.AttrSchedAt], attrs[events.AttrSchedAt] = s, s
		}
	}
	pidx, since := events.Placement(attrs, passive)
	var out store.Record
	if cur == nil {
		out, err = l.Store.Put(ctx, store.Record{Key: key, Attrs: attrs, Pending: pidx, PendingSince: since}, store.Condition{Absent: true})
	} else {
		out, err = l.Store.Update(ctx, key, store.Change{Set: set, Remove: remove, Pending: &pidx, PendingSince: since}, store.Condition{Version: cur.Version})
	}
	if err != nil {
		return store.Record{}, nil, err
	}
	return out, evs, nil
}

func seqOf[T doc](d T) int64 {
	switch x := any(d).(type) {
	case *Order:
		return x.EventSeq
	case *Refund:
		return x.EventSeq
	case *Combine:
		return x.EventSeq
	}
	return 0
}

func setSeq[T doc](d T, seq int64, now time.Time) {
	switch x := any(d).(type) {
	case *Order:
		x.EventSeq, x.UpdatedAt = seq, now
	case *Refund:
		x.EventSeq, x.UpdatedAt = seq, now
	case *Combine:
		x.EventSeq, x.UpdatedAt = seq, now
	}
}

func setRaw[T doc](d T, rec store.Record) {
	switch x := any(d).(type) {
	case *Order:
		x.raw = rec
	case *Refund:
		x.raw = rec
	case *Combine:
		x.raw = rec
	}
}

// transact is every transition's shape: read the record (unless have is given), decode
// it, decide with a pure function over the typed record, encode, and write once
// conditioned on the version read; a lost race re-decides on the record the failed
// write handed back.
func transact[T doc](l *Ledger, ctx context.Context, key string, have *store.Record, fresh func() T, decide func(d T, exists bool) (step, error)) (Result, T, error) {
	var zero T
	cur := have
	if cur == assumeAbsent {
		cur = nil // a new record: put-if-absent first, the failed write hands back what is there
	} else if cur == nil {
		rec, err := l.Store.Get(ctx, key)
		switch {
		case err == nil:
			cur = &rec
		case !errors.Is(err, store.ErrNotFound):
			return Result{}, zero, fmt.Errorf("payment: read %s: %w", key, err)
		}
	}
	for range maxRetries {
		d := fresh()
		if cur != nil {
			if err := decode(*cur, d); err != nil {
				return Result{}, zero, err
			}
		}
		st, err := decide(d, cur != nil)
		if err != nil {
			return Result{}, zero, err
		}
		if st.outcome == Duplicate || st.outcome == Refused {
			res := Result{Outcome: st.outcome, Reason: st.reason}
			if cur != nil {
				res.Record = *cur
			}
			return res, d, nil
		}
		rec, evs, err := commit(l, ctx, key, cur, d, st)
		var cf *store.ConditionFailedError
		if errors.As(err, &cf) {
			cur = cf.Current
			continue
		}
		if err != nil {
			return Result{}, zero, fmt.Errorf("payment: write %s: %w", key, err)
		}
		setRaw(d, rec)
		events.Note(ctx, rec, evs) // to a caller that delivers what its own writes recorded (reconcile)
		res := Result{Outcome: st.outcome, Record: rec, Events: evs, Cause: st.cause, Reason: st.reason}
		if len(evs) > 0 {
			res.Event = &evs[0]
		}
		if st.loud && st.cause != nil {
			l.loud(ctx, key, *st.cause)
		}
		return res, d, nil
	}
	return Result{}, zero, fmt.Errorf("payment: write %s: %w", key, ErrContended)
}

// assumeAbsent, passed as the record read, skips the read: the write is
// put-if-absent, and if the record exists its failed condition returns it.
var assumeAbsent = &store.Record{}

func onOrder(l *Ledger, ctx context.Context, key string, have *store.Record, decide func(*Order, bool) (step, error)) (Result, error) {
	res, o, err := transact(l, ctx, key, have, func() *Order { return &Order{} }, decide)
	if err == nil {
		res.Order = o
	}
	return res, err
}

func onRefund(l *Ledger, ctx context.Context, key string, have *store.Record, decide func(*Refund, bool) (step, error)) (Result, error) {
	res, r, err := transact(l, ctx, key, have, func() *Refund { return &Refund{} }, decide)
	if err == nil {
		res.Refund = r
	}
	return res, err
}

// schedule is where a record waits apart from its events: the active debts first (its
// effect on an order, late refunds, a query or close), then the passive listings (in
// REVIEW; a success waiting for its bill).
func (l *Ledger) schedule(d any) (string, time.Time) {
	switch x := d.(type) {
	case *Order:
		return x.schedule()
	case *Refund:
		return x.schedule()
	case *Combine:
		return x.schedule()
	}
	return "", time.Time{}
}

func (o *Order) schedule() (string, time.Time) {
	switch {
	case o.LateRefundsOwed:
		return PendingLateRefunds, o.UpdatedAt
	case o.Sharing != nil && o.shareScheduled(): // sharing.go
		// Before the review listing: an order in REVIEW still follows the splits,
		// returns and finish it had asked WeChat Pay for (NextShare; Reviews lists
		// PendingShares too).
		return PendingShares, o.shareAt()
	case o.InReview():
		return indexReview, o.Review.First().At
	case payable(o.State) && !o.NextCheck.IsZero():
		return PendingOrders, o.NextCheck
	case o.Paid() && o.Bill.Seen == "":
		// Listed under the account paid, whose bill lists it: a sub-merchant's payment
		// under its platform (sp_mchid), whose full bill answers for every sub-merchant —
		// also one with no row at all in the day's bill.
		at := successAt(o.Payment.SuccessTime, o.Payment.ReceivedAt)
		return BillDayIndex(cmp.Or(o.Payment.MchID, o.Owner), at), at
	case o.Sharing != nil && o.fundUnseen(): // sharing_bill.go
		return o.fundSchedule()
	}
	return "", time.Time{}
}

func (r *Refund) schedule() (string, time.Time) {
	switch {
	case r.SyncOwed:
		return PendingRefunds, r.UpdatedAt
	case r.Advance.owed(r.State): // advance.go
		return PendingAdvanceReturns, r.Advance.dueAt(r.UpdatedAt)
	case r.State == wechatpay.RefundStatusProcessing && !r.NextCheck.IsZero():
		// Still owed a query even in REVIEW: a refund put there by a result naming
		// another order is still settling on its own, and WeChat Pay's answer is what
		// its order must show (Reviews lists it here too).
		return PendingRefunds, r.NextCheck
	case r.InReview():
		return indexReview, r.Review.First().At
	case r.State == wechatpay.RefundStatusAbnormal:
		return r.abnormalSchedule() // abnormal.go
	case r.State == wechatpay.RefundStatusSuccess && r.Bill.Seen == "":
		// The day WeChat Pay accepted it (our request), or its success for refunds
		// made elsewhere.
		at := r.CreatedAt
		if !r.Requested {
			at = successAt(r.SuccessTime, r.UpdatedAt)
		}
		return BillDayIndex(cmp.Or(r.Account, r.Owner), at), at
	}
	return "", time.Time{}
}

// Passive listings: indexes a record waits in only to be found by listing them, never
// acted on when "due" (events.Placement keeps them from pulling a record's outbox
// position earlier). BillDayPrefix begins every bill-day listing (BillDayIndex);
// listPrefix the others (indexReview, indexAbnormalRefunds). The names are stored
// index names: they never change.
const (
	BillDayPrefix = "billday_"
	listPrefix    = "list_"
)

// passive reports whether index is one of the ledger's passive listings.
func passive(index string) bool {
	return strings.HasPrefix(index, BillDayPrefix) || strings.HasPrefix(index, listPrefix)
}

// BillDayIndex is the passive listing of what a merchant's bill for the day of at
// (UTC+8) should list: every payment and successful refund is placed there, at its
// time, in the write that makes it succeed (once its events are delivered), and
// billfetch takes it out when the bill lists it. What is left after the bill is paid
// here but absent from WeChat Pay's ledger (本地长款) — found without scanning the table.
func BillDayIndex(mchid string, at time.Time) string {
	return BillDayPrefix + strings.ToLower(mchid) + "_" + at.In(clock.CST).Format("20060102")
}

// successAt parses a WeChat Pay success_time, falling back to fallback.
func successAt(s string, fallback time.Time) time.Time {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC()
	}
	return fallback
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// MarkEvent records an event's delivery state on its record (events.Marker): one
// version-conditioned write of that event's attribute, the record placed by the
// result. The typed document is not touched.
func (l *Ledger) MarkEvent(ctx context.Context, rec store.Record, e events.Entry) (store.Record, error) {
	if !strings.HasPrefix(e.Attr, events.AttrPrefix) {
		return store.Record{}, invalid("%s is not an event attribute", e.Attr)
	}
	if _, ok := rec.Attrs[e.Attr]; !ok {
		return store.Record{}, fmt.Errorf("payment: mark %s on %s: %w", e.ID, rec.Key, ErrNotFound)
	}
	attrs := maps.Clone(rec.Attrs) // not nil: it holds e.Attr
	attrs[e.Attr] = events.Encode(e)
	idx, since := events.Placement(attrs, passive)
	return l.Store.Update(ctx, rec.Key, store.Change{Set: map[string]string{e.Attr: attrs[e.Attr]}, Pending: &idx, PendingSince: since},
		store.Condition{Version: rec.Version})
}

var _ events.Marker = (*Ledger)(nil)
