package payment

import (
	"strings"
	"time"

	"github.com/paysls/wxpay/shared/events"
)

// CauseKind is why a record is in REVIEW. Tools branch on the kind (billfetch's
// discrepancy kinds, the console); the detail is for people.
type CauseKind string

// Review causes.
const (
	// Payments.
	CauseSecondPayment           CauseKind = "second_payment"             // another transaction for a paid order
	CauseAmountMismatch          CauseKind = "amount_mismatch"            // paid amount differs from the order's
	CauseMerchantMismatch        CauseKind = "merchant_mismatch"          // paid to another merchant than the order's
	CauseAppMismatch             CauseKind = "app_mismatch"               // paid in another app than the order's
	CausePaidAfterClose          CauseKind = "paid_after_close"           // paid after the order closed
	CausePaidAfterCloseRequested CauseKind = "paid_after_close_request"   // paid after a close was asked for (cancelled or re-priced)
	CauseEarlierAttemptPaid      CauseKind = "earlier_attempt_paid"       // a replaced attempt of a re-priced order was paid (shown on the order)
	CauseForeignMerchant         CauseKind = "foreign_merchant"           // a payment for a merchant this deployment does not serve
	CauseRefundWithoutPayment    CauseKind = "refund_without_payment"     // a refund settled for an order closed unpaid here
	CauseRefundExceedsPaid       CauseKind = "refund_exceeds_paid"        // settled refunds would exceed what the order was paid
	CauseRefundNamesAnotherOrder CauseKind = "refund_names_another_order" // a refund result names another out_trade_no or transaction than its order's
	CauseRefundAmountDiffers     CauseKind = "refund_amount_differs"      // a refund result's amount differs from the refund's
	CauseRefundContradicts       CauseKind = "refund_result_contradicts"  // a refund result contradicts a final one
)

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

// ReviewLog is a record's review history: every cause in the order found (the first is
// never overwritten), and every resolution. The record is in review while a cause is
// not yet covered by a resolution.
type ReviewLog struct {
	Causes []Cause `json:"causes,omitempty"`
	// Resolved counts the causes (from the first) a resolution covers.
	Resolved    int          `json:"resolved,omitempty"`
	Resolutions []Resolution `json:"resolutions,omitempty"`
}

// Resolution is a person marking a review resolved. It never edits money.
type Resolution struct {
	By     string    `json:"by"`
	Note   string    `json:"note,omitempty"`
	At     time.Time `json:"at"`
	Causes int       `json:"causes"` // how many causes it covers
}

// Open reports whether a cause is not yet resolved.
func (r ReviewLog) Open() bool { return len(r.Causes) > r.Resolved }

// First is the first cause (the one that opened the current review), or nil.
func (r ReviewLog) First() *Cause {
	if !r.Open() {
		return nil
	}
	return &r.Causes[r.Resolved]
}

// Open returns the causes not yet resolved.
func (r ReviewLog) Pending() []Cause {
	if !r.Open() {
		return nil
	}
	return r.Causes[r.Resolved:]
}

// Reason is the open causes' details joined, for people.
func (r ReviewLog) Reason() string {
	var parts []string
	for _, c := range r.Pending() {
		parts = append(parts, c.Detail)
	}
	return strings.Join(parts, "; ")
}

// IndexReview is the passive listing of the records in REVIEW (orders, refunds,
// foreign payments): a record in review waits there when it owes nothing else, or
// carries it as its schedule while it sits in the outbox or the late-refund schedule,
// so Reviews finds every one without scanning the table.
const IndexReview = events.ListPrefix + "review"

// ReviewEvent is the data of order.review_resolved events.
type ReviewEvent struct {
	Key        string  `json:"record"`
	OrderID    string  `json:"order_id,omitempty"`
	OutTradeNo string  `json:"out_trade_no,omitempty"`
	OutRefund  string  `json:"out_refund_no,omitempty"`
	ResolvedBy string  `json:"resolved_by"`
	Note       string  `json:"note,omitempty"`
	Causes     []Cause `json:"causes"`
	State      string  `json:"state"`
}

// ReviewItem is one record in REVIEW: an order attempt (or a foreign payment) or a
// refund.
type ReviewItem struct {
	Key    string
	Order  *Order
	Refund *Refund
}
