package payment

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/paysls/wxpay/shared/events"
	"github.com/paysls/wxpay/shared/metrics"
	"github.com/paysls/wxpay/shared/store"
)

// CauseKind is why a record is in REVIEW. Tools branch on the kind (billfetch's
// discrepancy kinds, the console); the detail is for people.
type CauseKind string

// Review causes.
const (
	// Payments.
	causeSecondPayment           CauseKind = "second_payment"             // another transaction for a paid order
	CauseAmountMismatch          CauseKind = "amount_mismatch"            // paid amount differs from the order's
	CauseMerchantMismatch        CauseKind = "merchant_mismatch"          // paid to another merchant than the order's
	CauseAppMismatch             CauseKind = "app_mismatch"               // paid in another app than the order's
	CausePaidAfterClose          CauseKind = "paid_after_close"           // paid after the order closed
	CausePaidAfterCloseRequested CauseKind = "paid_after_close_request"   // paid after a close was asked for (cancelled or re-priced)
	CauseEarlierAttemptPaid      CauseKind = "earlier_attempt_paid"       // a replaced attempt of a re-priced order was paid (shown on the order)
	CauseForeignMerchant         CauseKind = "foreign_merchant"           // a payment for a merchant this deployment does not serve
	causeRefundWithoutPayment    CauseKind = "refund_without_payment"     // a refund settled for an order closed unpaid here
	CauseRefundExceedsPaid       CauseKind = "refund_exceeds_paid"        // settled refunds would exceed what the order was paid
	causeRefundNamesAnotherOrder CauseKind = "refund_names_another_order" // a refund result names another out_trade_no or transaction than its order's
	causeRefundAmountDiffers     CauseKind = "refund_amount_differs"      // a refund result's amount differs from the refund's
	CauseRefundContradicts       CauseKind = "refund_result_contradicts"  // a refund result contradicts a final one
)

// CausePaymentWithoutSubMerchant: a payment to a service provider or platform without
// sub_mchid (Ledger.Partner) — no order of a sub-merchant, and one the provider cannot
// take itself.
const CausePaymentWithoutSubMerchant CauseKind = "payment_without_sub_merchant"

// Cause is one reason a record is in REVIEW.
type Cause struct {
	Kind          CauseKind `json:"kind"`
	Detail        string    `json:"detail"`
	TransactionID string    `json:"transaction_id,omitempty"`
	OutRefundNo   string    `json:"out_refund_no,omitempty"`
	Amount        int64     `json:"amount,omitempty"`
	Source        string    `json:"source,omitempty"`
	At            time.Time `json:"at"`
}

// reviewLog is a record's review history: every cause in the order found (the first is
// never overwritten), and every resolution. The record is in review while a cause is
// not yet covered by a resolution.
type reviewLog struct {
	Causes []Cause `json:"causes,omitempty"`
	// Resolved counts the causes (from the first) a resolution covers.
	Resolved    int          `json:"resolved,omitempty"`
	Resolutions []resolution `json:"resolutions,omitempty"`
}

// resolution is a person marking a review resolved. It never edits money.
type resolution struct {
	By     string    `json:"by"`
	Note   string    `json:"note,omitempty"`
	At     time.Time `json:"at"`
	Causes int       `json:"causes"` // how many causes it covers
}

// open reports whether a cause is not yet resolved.
func (r reviewLog) open() bool { return len(r.Causes) > r.Resolved }

// First is the first cause (the one that opened the current review), or nil.
func (r reviewLog) First() *Cause {
	if !r.open() {
		return nil
	}
	return &r.Causes[r.Resolved]
}

// Open returns the causes not yet resolved.
func (r reviewLog) Pending() []Cause {
	if !r.open() {
		return nil
	}
	return r.Causes[r.Resolved:]
}

// Reason is the open causes' details joined, for people.
func (r reviewLog) Reason() string {
	var parts []string
	for _, c := range r.Pending() {
		parts = append(parts, c.Detail)
	}
	return strings.Join(parts, "; ")
}

// add records c and reports whether it opened the review (the record was not in
// review): only then is it loud.
func (r *reviewLog) add(c Cause) (opened bool) {
	opened = !r.open()
	r.Causes = append(r.Causes, c)
	return opened
}

// indexReview is the passive listing of the records in REVIEW (orders, refunds,
// foreign payments): a record in review waits there when it owes nothing else, or
// carries it as its schedule while it sits in the outbox or the late-refund schedule,
// so Reviews finds every one without scanning the table.
const indexReview = listPrefix + "review"

// loud makes a REVIEW heard, once, from the ledger, whatever path caused it: one ERROR
// line that is also the PaymentReview metric (EMF), beside the order.review event the
// transition recorded.
func (l *Ledger) loud(ctx context.Context, key string, c Cause) {
	attrs := []any{"key", key, "cause", string(c.Kind), "detail", c.Detail, "source", c.Source, "metric", "payment_review"}
	if c.TransactionID != "" {
		attrs = append(attrs, "transaction_id", c.TransactionID)
	}
	if c.OutRefundNo != "" {
		attrs = append(attrs, "out_refund_no", c.OutRefundNo)
	}
	l.log().ErrorContext(ctx, "payment put in REVIEW: a person must resolve it (see README, REVIEW)",
		append(attrs, metrics.Count(l.now(), "PaymentReview")...)...)
}

// reviewEvent is the data of order.review_resolved events.
type reviewEvent struct {
	Key        string  `json:"record"`
	OrderID    string  `json:"order_id,omitempty"`
	OutTradeNo string  `json:"out_trade_no,omitempty"`
	OutRefund  string  `json:"out_refund_no,omitempty"`
	ResolvedBy string  `json:"resolved_by"`
	Note       string  `json:"note,omitempty"`
	Causes     []Cause `json:"causes"`
	State      string  `json:"state"`
}

// ResolveReview marks the open review of an order or refund record resolved by who,
// with a note, recording an order.review_resolved event. It never edits money: the
// record shows its money state again, every cause and conflict stays listed. Refused
// when the record is not in review.
func (l *Ledger) ResolveReview(ctx context.Context, key, who, note string) (Result, error) {
	if strings.TrimSpace(who) == "" {
		return Result{}, invalid("a resolution names who resolved it")
	}
	now := l.now()
	resolve := func(rv *reviewLog, ev reviewEvent) (step, error) {
		if !rv.open() {
			return step{outcome: Refused, reason: "the record is not in review"}, nil
		}
		ev.Causes = rv.Pending()
		rv.Resolutions = append(rv.Resolutions, resolution{By: who, Note: note, At: now, Causes: len(rv.Causes)})
		rv.Resolved = len(rv.Causes)
		ev.ResolvedBy, ev.Note = who, note
		return step{outcome: Applied, events: []pendingEvent{{events.OrderReviewResolved, ev}}}, nil
	}
	switch {
	case strings.HasPrefix(key, prefixRefund):
		return onRefund(l, ctx, key, nil, func(r *Refund, exists bool) (step, error) {
			if !exists {
				return step{}, fmt.Errorf("resolve %s: %w", key, ErrNotFound)
			}
			st, err := resolve(&r.Review, reviewEvent{Key: key, OrderID: r.OrderID, OutTradeNo: r.OutTradeNo, OutRefund: r.OutRefundNo})
			if st.outcome == Applied {
				st.events[0].data = withState(st.events[0].data, r.Status())
			}
			return st, err
		})
	case strings.HasPrefix(key, prefixOrder), strings.HasPrefix(key, prefixForeign):
		return onOrder(l, ctx, key, nil, func(o *Order, exists bool) (step, error) {
			if !exists {
				return step{}, fmt.Errorf("resolve %s: %w", key, ErrNotFound)
			}
			st, err := resolve(&o.Review, reviewEvent{Key: key, OrderID: o.OrderID, OutTradeNo: o.OutTradeNo})
			if st.outcome == Applied {
				o.LateRefundsOwed = false
				st.events[0].data = withState(st.events[0].data, o.Status())
			}
			return st, err
		})
	}
	return Result{}, invalid("%s is not an order or refund record", key)
}

func withState(data any, state string) any {
	ev := data.(reviewEvent)
	ev.State = state
	return ev
}

// ReviewItem is one record in REVIEW: an order attempt (or a foreign payment) or a
// refund.
type ReviewItem struct {
	Key    string
	Order  *Order
	Refund *Refund
}

// Reviews calls fn for every record in REVIEW, oldest review first within each
// listing. It reads only listings (the review index, and the outbox, late-refund,
// refund-query and sharing schedules for records that also owe something there), never
// the table.
func (l *Ledger) Reviews(ctx context.Context, fn func(ReviewItem) error) error {
	for _, index := range []string{indexReview, events.IndexOutbox, PendingLateRefunds, PendingRefunds, PendingShares} {
		opts := store.ListOptions{Limit: store.MaxListLimit}
		for {
			page, err := l.Store.ListPending(ctx, index, opts)
			if err != nil {
				return fmt.Errorf("payment: list %s: %w", index, err)
			}
			for _, rec := range page.Records {
				if sched := rec.Attrs[events.AttrSchedIndex]; index == events.IndexOutbox && sched != indexReview && sched != PendingLateRefunds && sched != PendingRefunds && sched != PendingShares {
					continue
				}
				item, ok, err := reviewItem(rec)
				if err != nil {
					return err
				}
				if !ok {
					continue
				}
				if err := fn(item); err != nil {
					return err
				}
			}
			if page.Cursor == "" {
				break
			}
			opts.Cursor = page.Cursor
		}
	}
	return nil
}

func reviewItem(rec store.Record) (ReviewItem, bool, error) {
	switch {
	case strings.HasPrefix(rec.Key, prefixRefund):
		r, err := RefundOf(rec)
		if err != nil {
			return ReviewItem{}, false, err
		}
		return ReviewItem{Key: rec.Key, Refund: r}, r.InReview(), nil
	case strings.HasPrefix(rec.Key, prefixOrder), strings.HasPrefix(rec.Key, prefixForeign):
		o, err := OrderOf(rec)
		if err != nil {
			return ReviewItem{}, false, err
		}
		return ReviewItem{Key: rec.Key, Order: o}, o.InReview(), nil
	}
	return ReviewItem{}, false, nil
}
