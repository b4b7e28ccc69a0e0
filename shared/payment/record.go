package payment

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/paysls/wxpay/shared/store"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// StateReview is what a record in REVIEW shows as its state (Order.Status,
// Refund.Status). It is an overlay: the record keeps its money state (State) beneath,
// and resolving the review (ResolveReview) shows it again. It is never treated as paid.
const StateReview = "REVIEW"

// Order is one attempt of a merchant order: the record WeChat Pay's payments for one
// out_trade_no are judged against. Attempt 1's out_trade_no is the merchant's order_id;
// a re-priced order has attempts order_id_2, order_id_3, … and attempt 1 points at the
// current one. An order the bundle did not create (paid, or refunded, before it was
// ever seen here) is recorded with Unknown set and no OrderID.
type Order struct {
	Owner      string `json:"owner"` // mchid, or sub_mchid in partner mode
	OutTradeNo string `json:"out_trade_no"`
	OrderID    string `json:"order_id,omitempty"`
	Attempt    int    `json:"attempt,omitempty"` // 1, 2, … (0: not created by the bundle)
	// Current is, on attempt 1 of a re-priced order, the current attempt's number.
	Current int    `json:"current,omitempty"`
	AppID   string `json:"appid,omitempty"` // the app the user pays in
	Amount  int64  `json:"amount"`          // fen
	Scene   string `json:"scene,omitempty"`
	// Newest is, on attempt 1, the highest attempt number the pointer has named (0:
	// Current). It exceeds Current when the pointer went back to an earlier attempt —
	// a cashier page switching back to a scene whose payment still lives (scene.go).
	Newest int `json:"newest,omitempty"`
	// State is WeChat Pay's trade_state of this attempt as the ledger knows it: NOTPAY,
	// USERPAYING, PAYERROR, SUCCESS, REFUND, CLOSED, REVOKED. Never REVIEW: see Status.
	State     string    `json:"state"`
	Unknown   bool      `json:"unknown,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	// Close is set once a close was asked for (re-priced or cancelled) and is owed at
	// WeChat Pay; a payment arriving afterwards needs a person.
	Close *closeRequest `json:"close,omitempty"`
	// Payment is the order's payment: the first transaction that matched it.
	Payment *Payment `json:"payment,omitempty"`
	// Conflicts are every other result WeChat Pay reported for the order, kept whole.
	Conflicts []Conflict `json:"conflicts,omitempty"`
	// Refunds are the order's refund lines: requested through the API (reserved before
	// WeChat Pay is asked) or first seen in a notification, query or bill.
	Refunds []refundLine `json:"refunds,omitempty"`
	Review  reviewLog    `json:"review,omitzero"`
	// LateRefundsOwed: payments kept after the order closed are to be refunded
	// automatically (WXPAY_REFUND_LATE_PAYMENTS=1); reconcile does it.
	LateRefundsOwed bool `json:"late_refunds_owed,omitempty"`
	// FullyRefunded: order.refunded was recorded.
	FullyRefunded bool `json:"fully_refunded,omitempty"`
	// Claim is the create's idempotency record (Powertools' contract).
	Claim Claim `json:"claim,omitzero"`
	// Create is what the create request said beside the money.
	Create CreateInfo `json:"create,omitzero"`
	Bill   BillNote   `json:"bill,omitzero"`
	// NextCheck is when an unpaid attempt is next queried (reconcile); CheckedAt is the
	// last query.
	NextCheck time.Time `json:"next_check,omitzero"`
	CheckedAt time.Time `json:"checked_at,omitzero"`
	Source    string    `json:"source,omitempty"` // who made the last money transition
	UpdatedAt time.Time `json:"updated_at"`
	// EventSeq is the sequence number of the record's last event.
	EventSeq int64 `json:"event_seq,omitempty"`
	// Combine names the combine order (合单) this attempt is a sub-order of (combine.go).
	Combine *combineRef `json:"combine,omitempty"`
	// Sharing is the order's profit sharing and subsidy (sharing.go).
	Sharing *Sharing `json:"sharing,omitempty"`

	raw store.Record
}

// closeRequest is a close asked for and owed at WeChat Pay.
type closeRequest struct {
	At time.Time `json:"at"`           // due (WeChat Pay refuses a close in an order's first 5 minutes)
	By string    `json:"by,omitempty"` // "merchant" (POST …/close), "reprice" or closeByScene
}

// Payment is a transaction accepted as an order's payment.
type Payment struct {
	TransactionID string          `json:"transaction_id"`
	Amount        int64           `json:"amount"` // amount.total, fen
	MchID         string          `json:"mchid"`  // the account paid: mchid, or sp_mchid in partner mode
	AppID         string          `json:"appid,omitempty"`
	SuccessTime   string          `json:"success_time,omitempty"`
	Source        string          `json:"source"`
	ReceivedAt    time.Time       `json:"received_at"`
	Data          json.RawMessage `json:"data,omitempty"` // the transaction as WeChat Pay reported it
}

// Conflict is a result kept because it conflicts with its record.
type Conflict struct {
	Cause         CauseKind       `json:"cause"`
	TransactionID string          `json:"transaction_id,omitempty"`
	OutRefundNo   string          `json:"out_refund_no,omitempty"`
	RefundID      string          `json:"refund_id,omitempty"`
	OutTradeNo    string          `json:"out_trade_no,omitempty"`
	Amount        int64           `json:"amount"`
	Status        string          `json:"status,omitempty"`
	SuccessTime   string          `json:"success_time,omitempty"`
	Source        string          `json:"source"`
	ReceivedAt    time.Time       `json:"received_at"`
	Data          json.RawMessage `json:"data,omitempty"`
}

// refundLine is one refund of an order, as the order counts it.
type refundLine struct {
	OutRefundNo string `json:"out_refund_no"`
	Amount      int64  `json:"amount"`
	// State is PROCESSING, SUCCESS, ABNORMAL or CLOSED.
	State string `json:"state"`
	// Requested: asked for through the API, its amount reserved before WeChat Pay was.
	Requested bool `json:"requested,omitempty"`
	// TransactionID is the payment refunded (a kept late payment, or the order's own).
	TransactionID string `json:"transaction_id,omitempty"`
	// Excess: a settled refund beyond what the order was paid — kept, not counted,
	// and the order is in REVIEW.
	Excess bool `json:"excess,omitempty"`
	// Judged is the state this line was last judged and announced in (its event
	// recorded); "" while it waits for the order's payment (a refund seen first).
	Judged string    `json:"judged,omitempty"`
	At     time.Time `json:"at"`
	// What the last result said, for the refund.* event.
	RefundID    string `json:"refund_id,omitempty"`
	SuccessTime string `json:"success_time,omitempty"`
	UserAccount string `json:"user_received_account,omitempty"`
}

// Claim is the idempotency record of a create, after Powertools' idempotency
// (persistence/base): INPROGRESS with a lease while a request places the payment,
// COMPLETED with the answer and until when it is replayed. The payload hash is the
// request's fingerprint: a replay with another payload is not a replay.
type Claim struct {
	Status      string    `json:"status,omitempty"` // "", claimInProgress or ClaimCompleted
	ID          string    `json:"id,omitempty"`
	PayloadHash string    `json:"payload_hash,omitempty"`
	LeaseUntil  time.Time `json:"lease_until,omitzero"` // INPROGRESS: business clock
	Answer      Prepay    `json:"answer,omitzero"`
	Expiry      time.Time `json:"expiry,omitzero"` // COMPLETED: the answer is replayed until then
}

// Claim statuses.
const (
	claimInProgress = "INPROGRESS"
	ClaimCompleted  = "COMPLETED"
)

// Live reports whether an in-progress claim still holds at now.
func (c Claim) Live(now time.Time) bool {
	return c.Status == claimInProgress && now.Before(c.LeaseUntil)
}

// Replayable reports whether the completed answer may be given again at now.
func (c Claim) Replayable(now time.Time) bool {
	return c.Answer.Any() && now.Before(c.Expiry)
}

// Prepay is WeChat Pay's answer to a prepay: one of the three, by scene.
type Prepay struct {
	PrepayID string `json:"prepay_id,omitempty"`
	H5URL    string `json:"h5_url,omitempty"`
	CodeURL  string `json:"code_url,omitempty"`
}

// Any reports whether the answer holds anything.
func (p Prepay) Any() bool { return p.PrepayID != "" || p.H5URL != "" || p.CodeURL != "" }

// CreateInfo is what a create request said beside the money, kept for replays, views
// and the cashier.
type CreateInfo struct {
	Description string `json:"description,omitempty"`
	Attach      string `json:"attach,omitempty"`
	SignAppID   string `json:"sign_appid,omitempty"` // the app that signs JSAPI/APP pay parameters
	SubAppID    string `json:"sub_appid,omitempty"`
	// CashierFP is the fingerprint of the scene "cashier" create the order came from.
	CashierFP string `json:"cashier_fp,omitempty"`
}

// BillNote is what billfetch noted on a record: the bill date that listed it, or the
// next day's date when a near-midnight success is to be rechecked there.
type BillNote struct {
	Seen    string `json:"seen,omitempty"`
	Recheck string `json:"recheck,omitempty"`
}

// Refund is one refund: requested through the API, or first seen in a notification,
// a query or a bill. It belongs to the order (OutTradeNo, TransactionID) it was first
// recorded for, for good: a later result naming another order is a kept conflict.
type Refund struct {
	Owner string `json:"owner"`
	// Account is the account the order was paid to when it is not Owner: a sub-merchant's
	// service provider or platform (sp_mchid), whose bill day listing the refund waits in
	// beside the payment, so billfetch finds every sub-merchant's refunds of a day without
	// a row of theirs in the bill. "" (also records from before it): Owner's listing.
	Account       string `json:"account,omitempty"`
	OutRefundNo   string `json:"out_refund_no"`
	OutTradeNo    string `json:"out_trade_no"`
	OrderID       string `json:"order_id,omitempty"`
	TransactionID string `json:"transaction_id,omitempty"`
	RefundID      string `json:"refund_id,omitempty"`
	Amount        int64  `json:"amount"`          // requested (or first reported), fen
	Total         int64  `json:"total,omitempty"` // the order total WeChat Pay was told
	// State is PROCESSING, SUCCESS, ABNORMAL or CLOSED. Never REVIEW: see Status.
	State       string          `json:"state"`
	Requested   bool            `json:"requested,omitempty"`
	Reason      string          `json:"reason,omitempty"`
	SuccessTime string          `json:"success_time,omitempty"`
	UserAccount string          `json:"user_received_account,omitempty"`
	Source      string          `json:"source,omitempty"`
	Data        json.RawMessage `json:"data,omitempty"` // the last result as WeChat Pay reported it
	// SyncOwed: the result's effect on its order is still to be written.
	SyncOwed  bool       `json:"sync_owed,omitempty"`
	Conflicts []Conflict `json:"conflicts,omitempty"`
	Review    reviewLog  `json:"review,omitzero"`
	Bill      BillNote   `json:"bill,omitzero"`
	NextCheck time.Time  `json:"next_check,omitzero"`
	CheckedAt time.Time  `json:"checked_at,omitzero"`
	CreatedAt time.Time  `json:"created_at"`
	UpdatedAt time.Time  `json:"updated_at"`
	EventSeq  int64      `json:"event_seq,omitempty"`
	// Advance is the platform's advance of this refund (垫付) and its return (advance.go).
	Advance *Advance `json:"advance,omitempty"`
	// Held says why the refund is not yet asked of WeChat Pay: its order's shares must
	// be taken back first (sharing.go); "" once asked.
	Held string `json:"held,omitempty"`

	// Reissues are the 异常退款 sent while it was ABNORMAL (abnormal.go).
	Reissues []Reissue `json:"reissues,omitempty"`

	raw store.Record
}

// Key is the store key of the order attempt.
func (o *Order) Key() string { return OrderKey(o.Owner, o.OutTradeNo) }

// Record is the stored record the order was decoded from (events, placement, version).
func (o *Order) Record() store.Record { return o.raw }

// InReview reports whether a person must look at the order.
func (o *Order) InReview() bool { return o.Review.open() }

// Status is the state the API shows: REVIEW while in review, else State.
func (o *Order) Status() string {
	if o.InReview() {
		return StateReview
	}
	return o.State
}

// Paid reports whether the attempt holds a payment (it may be refunded since).
func (o *Order) Paid() bool {
	return o.Payment != nil && (o.State == wechatpay.TradeStateSuccess || o.State == wechatpay.TradeStateRefund)
}

// Unsettled reports whether the attempt may still be paid in the ordinary way.
func (o *Order) Unsettled() bool { return payable(o.State) }

// Closed reports whether the attempt is closed (or revoked) at WeChat Pay.
func (o *Order) Closed() bool {
	return o.State == wechatpay.TradeStateClosed || o.State == wechatpay.TradeStateRevoked
}

// paidTotal is every payment the order holds: its own and those kept as conflicts
// (a refund of a kept payment counts against it).
func (o *Order) paidTotal() int64 {
	var n int64
	if o.Payment != nil {
		n = o.Payment.Amount
	}
	for _, c := range o.Conflicts {
		if c.TransactionID != "" && c.OutRefundNo == "" {
			n += c.Amount
		}
	}
	return n
}

// Refunds are counted per transaction: a refund line refunds the transaction it names
// (the order's own payment when it names none), and is bounded by what that
// transaction paid. A refund of a payment kept on the order (a second or late payment)
// never counts as a refund of the order's own payment: the order is REFUND, and
// announced fully refunded, by its own payment's refunds alone.

// lineTx is the transaction line l refunds: the one it names, else the order's own
// payment ("" while the order has none).
func (o *Order) lineTx(l refundLine) string {
	if l.TransactionID != "" {
		return l.TransactionID
	}
	if o.Payment != nil {
		return o.Payment.TransactionID
	}
	return ""
}

// paidOf is what transaction txid paid on this order: its own payment or a kept one
// (0 for a transaction the order does not hold).
func (o *Order) paidOf(txid string) int64 {
	if o.Payment != nil && (txid == "" || txid == o.Payment.TransactionID) {
		return o.Payment.Amount
	}
	for _, c := range o.Conflicts {
		if txid != "" && c.TransactionID == txid && c.OutRefundNo == "" {
			return c.Amount
		}
	}
	return 0
}

// refundedOf is what has been refunded and counted of transaction txid: settled,
// judged lines refunding it.
func (o *Order) refundedOf(txid string) int64 {
	var n int64
	for _, l := range o.Refunds {
		if l.State == wechatpay.RefundStatusSuccess && l.Judged == wechatpay.RefundStatusSuccess && !l.Excess && o.lineTx(l) == txid {
			n += l.Amount
		}
	}
	return n
}

// reservedOf is what refunds hold of transaction txid: every line refunding it that is
// not closed and not excess.
func (o *Order) reservedOf(txid string) int64 {
	var n int64
	for _, l := range o.Refunds {
		if l.State != wechatpay.RefundStatusClosed && !l.Excess && o.lineTx(l) == txid {
			n += l.Amount
		}
	}
	return n
}

// Reserved is what refunds hold of every payment the order holds.
func (o *Order) Reserved() int64 {
	var n int64
	for _, l := range o.Refunds {
		if l.State != wechatpay.RefundStatusClosed && !l.Excess {
			n += l.Amount
		}
	}
	return n
}

// Refunded is what has been refunded of the order's own payment.
func (o *Order) Refunded() int64 {
	if o.Payment == nil {
		return 0
	}
	return o.refundedOf(o.Payment.TransactionID)
}

// refundedKept is what has been refunded of the payments kept on the order.
func (o *Order) refundedKept() int64 {
	var n int64
	for _, l := range o.Refunds {
		if l.State == wechatpay.RefundStatusSuccess && l.Judged == wechatpay.RefundStatusSuccess && !l.Excess &&
			(o.Payment == nil || o.lineTx(l) != o.Payment.TransactionID) {
			n += l.Amount
		}
	}
	return n
}

// Line is the order's refund line for outRefundNo, or nil.
func (o *Order) Line(outRefundNo string) *refundLine {
	for i := range o.Refunds {
		if o.Refunds[i].OutRefundNo == outRefundNo {
			return &o.Refunds[i]
		}
	}
	return nil
}

// Knows reports whether the order holds transaction txid, as payment or conflict.
func (o *Order) Knows(txid string) bool {
	if txid == "" {
		return false
	}
	if o.Payment != nil && o.Payment.TransactionID == txid {
		return true
	}
	return slices.ContainsFunc(o.Conflicts, func(c Conflict) bool { return c.TransactionID == txid && c.OutRefundNo == "" })
}

// Key is the store key of the refund.
func (r *Refund) Key() string { return RefundKey(r.Owner, r.OutRefundNo) }

// Record is the stored record the refund was decoded from.
func (r *Refund) Record() store.Record { return r.raw }

// InReview reports whether a person must look at the refund.
func (r *Refund) InReview() bool { return r.Review.open() }

// Status is the state the API shows: REVIEW while in review, else State.
func (r *Refund) Status() string {
	if r.InReview() {
		return StateReview
	}
	return r.State
}

// final reports whether the refund has a result (SUCCESS, CLOSED; ABNORMAL may still
// change).
func (r *Refund) final() bool {
	return r.State == wechatpay.RefundStatusSuccess || r.State == wechatpay.RefundStatusClosed
}

func payable(state string) bool {
	switch state {
	case wechatpay.TradeStateNotPay, wechatpay.TradeStateUserPaying, wechatpay.TradeStatePayError:
		return true
	}
	return false
}
