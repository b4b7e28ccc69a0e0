package payment

// The typed ledger's API, published ahead of its implementation (issue 16). The
// methods below have their final signatures; until the commits that move the callers
// over land, they answer errNotYet, and the attribute-map methods in payment.go,
// order.go, transaction.go and refund.go keep working. These change signature when
// the typed implementation replaces them:
//
//	CreateOrder(ctx, NewOrder) (*Order, error)          // *ExistsError when taken; NewOrder gains OrderID/Attempt/Create/Claim
//	RequestClose(ctx, key, at, by string) (Result, error)
//	Reschedule(ctx, *Order, next, checkedAt) (*Order, error)
//	ApplyQueried(ctx, *Order, *wechatpay.Transaction, source) (Result, error)
//	SyncRefund(ctx, *Refund) (Result, error)
//	ReserveRefund + RecordRefundRequest → RequestRefund(ctx, *Order, RefundRequest) (*Refund, error)
//	Annotate → NoteBill(ctx, store.Record, BillNote)
//	Attr* constants, Fen, ParseStamp, Conflicts, KnowsTransaction → the typed fields
//	(Order.Payment, Order.Conflicts, Order.Knows, Order.Refunded, …)
//
// Result gains Events, Order, Refund and Cause.

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/paysls/wxpay/shared/events"
	"github.com/paysls/wxpay/shared/store"
)

var errNotYet = errors.New("payment: the typed ledger lands in the next commits")

// History is a merchant order as its attempts tell it.
type History struct {
	// First is attempt 1 (out_trade_no = order_id), which points at the current one.
	First *Order
	// Current is the attempt payments are expected on now.
	Current *Order
	// Previous are the replaced attempts, oldest first (filled by Ledger.Previous).
	Previous []*Order
}

// ClaimRequest is a create taking an attempt's idempotency claim.
type ClaimRequest struct {
	ID          string
	PayloadHash string
	Lease       time.Duration // on the business clock
}

// Upgrade is the cashier placeholder becoming a real scene's payment, in place.
type Upgrade struct {
	Scene, AppID string
	Create       CreateInfo
	Claim        ClaimRequest
}

// ExistsError is CreateOrder's answer when the out_trade_no is taken: Order is the
// attempt as it is (this order's, or another's). It matches store.ErrConditionFailed.
type ExistsError struct{ Order *Order }

// OtherOrderError: an out_trade_no held by another order's attempt or by a payment the
// bundle did not create. It matches ErrNotFound.
type OtherOrderError struct {
	OutTradeNo string
	Holder     string
	Attempt    int
}

// Errors of the typed API.
var (
	ErrNotFound  = errors.New("payment: not found")
	ErrRaced     = errors.New("payment: the record changed since it was read")
	ErrInReview  = errors.New("payment: the order is under review")
	ErrClaimLost = errors.New("payment: the create's claim was taken over")
)

// TypedRefundRequest is RefundRequest of the typed API (renamed when it lands).
type TypedRefundRequest struct {
	OutRefundNo   string
	Amount        int64
	Reason        string
	TransactionID string
}

// Reads.

// Order reads order orderID: attempt 1 and the current attempt, each verified to be
// this order's; another order's attempt is *OtherOrderError.
func (l *Ledger) Order(ctx context.Context, owner, orderID string) (*History, error) {
	return nil, errNotYet
}

// Previous fills h.Previous.
func (l *Ledger) Previous(ctx context.Context, h *History) error { return errNotYet }

// Attempt reads one order attempt by out_trade_no.
func (l *Ledger) Attempt(ctx context.Context, owner, outTradeNo string) (*Order, error) {
	return nil, errNotYet
}

// Refund reads a refund.
func (l *Ledger) Refund(ctx context.Context, owner, outRefundNo string) (*Refund, error) {
	return nil, errNotYet
}

// RefundsOf reads the refunds of an order's lines.
func (l *Ledger) RefundsOf(ctx context.Context, o *Order) ([]*Refund, error) { return nil, errNotYet }

// Reviews calls fn for every record in REVIEW, reading listings only.
func (l *Ledger) Reviews(ctx context.Context, fn func(ReviewItem) error) error { return errNotYet }

// Transitions.

// Claim takes an attempt's idempotency claim (INPROGRESS, lease on the business clock).
func (l *Ledger) Claim(ctx context.Context, o *Order, c ClaimRequest) (*Order, error) {
	return nil, errNotYet
}

// Complete records the prepay answer of a claim (COMPLETED, replayable until expiry).
func (l *Ledger) Complete(ctx context.Context, o *Order, claimID string, ans Prepay, expiry time.Time) (*Order, error) {
	return nil, errNotYet
}

// Release gives up a claim after a failed prepay.
func (l *Ledger) Release(ctx context.Context, o *Order, claimID string) error { return errNotYet }

// Upgrade turns the cashier placeholder into a real scene's payment, in place.
func (l *Ledger) Upgrade(ctx context.Context, o *Order, u Upgrade) (*Order, error) {
	return nil, errNotYet
}

// PointTo moves attempt 1's pointer from attempt `from` to the reserved attempt `to`.
func (l *Ledger) PointTo(ctx context.Context, first *Order, from, to int) (*Order, error) {
	return nil, errNotYet
}

// Abandon removes a reserved attempt never placed.
func (l *Ledger) Abandon(ctx context.Context, o *Order) error { return errNotYet }

// RequestRefund reserves a refund on its order and records it PROCESSING.
func (l *Ledger) RequestRefund(ctx context.Context, o *Order, req TypedRefundRequest) (*Refund, error) {
	return nil, errNotYet
}

// LateRefundsDone records that reconcile asked for every late payment's refund.
func (l *Ledger) LateRefundsDone(ctx context.Context, o *Order) (*Order, error) {
	return nil, errNotYet
}

// RescheduleRefund moves a PROCESSING refund's next query.
func (l *Ledger) RescheduleRefund(ctx context.Context, r *Refund, next, checkedAt time.Time) (*Refund, error) {
	return nil, errNotYet
}

// ResolveReview marks a record's open review resolved (order.review_resolved); never
// an edit of money.
func (l *Ledger) ResolveReview(ctx context.Context, key, who, note string) (Result, error) {
	return Result{}, errNotYet
}

// NoteBill records what billfetch found for a settled order or refund.
func (l *Ledger) NoteBill(ctx context.Context, rec store.Record, note BillNote) (store.Record, error) {
	return store.Record{}, errNotYet
}

// OrderOf decodes an order record listed from the store.
func OrderOf(rec store.Record) (*Order, error) { return nil, errNotYet }

// RefundOf decodes a refund record listed from the store.
func RefundOf(rec store.Record) (*Refund, error) { return nil, errNotYet }

// MoneyKey reports whether key names a record only the ledger may write.
func MoneyKey(key string) bool {
	return strings.HasPrefix(key, "order/") || strings.HasPrefix(key, "refund/") || strings.HasPrefix(key, "foreign/")
}

// AttemptNo is the out_trade_no of attempt n of an order.
func AttemptNo(orderID string, n int) string {
	if n <= 1 {
		return orderID
	}
	return orderID + "_" + itoa(n)
}

func itoa(n int) string {
	b := []byte{}
	for n > 0 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	return string(b)
}

// MarkEvent records an event's delivery state on its record (events.Marker): one
// version-conditioned write of that event's attribute, the record placed by the result.
func (l *Ledger) MarkEvent(ctx context.Context, rec store.Record, e events.Entry) (store.Record, error) {
	if !strings.HasPrefix(e.Attr, events.AttrPrefix) {
		return store.Record{}, invalid("%s is not an event attribute", e.Attr)
	}
	attrs := make(map[string]string, len(rec.Attrs))
	for k, v := range rec.Attrs {
		attrs[k] = v
	}
	attrs[e.Attr] = events.Encode(e)
	idx, since := events.Placement(attrs)
	return l.Store.Update(ctx, rec.Key, store.Change{Set: map[string]string{e.Attr: attrs[e.Attr]}, Pending: &idx, PendingSince: since},
		store.Condition{Version: rec.Version})
}

var _ events.Marker = (*Ledger)(nil)
