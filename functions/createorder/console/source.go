package console

import (
	"context"
	"errors"
	"time"
)

// Source is what the console reads and does. Its implementation (ledger.go) goes
// through the ledger, the outbox and the stored bill reports; reads never scan the
// table, and every action is a ledger transition or a WeChat Pay call made under the
// order API's rules — the console never edits money.
type Source interface {
	// Days are the payments and refunds of the last n days (UTC+8), newest first.
	Days(ctx context.Context, n int) ([]Day, error)
	Reviews(ctx context.Context) ([]Review, error)
	Events(ctx context.Context) ([]EventItem, error)
	Bills(ctx context.Context, days int) ([]BillDay, error)
	Refunds(ctx context.Context) ([]StuckRefund, error)
	// Find returns nil when nothing matches q.
	Find(ctx context.Context, q string) (*Story, error)

	// RefundKept refunds a transaction kept on an order in REVIEW, in full.
	RefundKept(ctx context.Context, who, ref, transactionID string) error
	// Resolve marks an order or refund in REVIEW resolved with a note.
	Resolve(ctx context.Context, who, ref, note string) error
	Resend(ctx context.Context, who, eventID string) error
	ResendAll(ctx context.Context, who string) (int, error)
	// AbnormalRefund sends an ABNORMAL refund to 异常退款 (apply-abnormal-refund).
	AbnormalRefund(ctx context.Context, who string, req AbnormalRequest) error
}

// ErrRefused is an action the rules refuse (an amount left, a state that moved on):
// shown to the operator with its message, not logged as a failure.
var ErrRefused = errors.New("refused")

// Day is one day's money.
type Day struct {
	Date                   string // 2006-01-02, UTC+8
	Paid, Refunded         int64  // fen
	PaidCount, RefundCount int
	FromBill               bool // the day's bill was fetched; else the ledger's listing
}

// Cause is one reason a record is in REVIEW.
type Cause struct {
	Kind   string
	Detail string
	At     time.Time
}

// Kept is a transaction or refund result kept on a record in REVIEW (and, first, the
// record's own payment, for comparison).
type Kept struct {
	TransactionID string
	OutRefundNo   string
	OutTradeNo    string
	Amount        int64
	Time          string
	Kind          string
	// Refundable: the console may refund it (a payment kept on the order that is not
	// its own and not refunded yet).
	Refundable bool
	// Refund is the refund of it already asked for: out_refund_no and state.
	Refund string
}

// Review is a record in REVIEW.
type Review struct {
	Ref        string // opaque, for actions
	Kind       string // order or refund
	OrderID    string
	OutTradeNo string
	OutRefund  string
	MchID      string
	Amount     int64
	Since      time.Time
	// Find is the query Find shows its order by ("": the order_id).
	Find   string
	Causes []Cause
	Kept   []Kept
}

// EventItem is an event still owed to the merchant.
type EventItem struct {
	ID         string
	Type       string
	Sink       string
	CreatedAt  time.Time
	Attempts   int
	NextAt     time.Time
	LastStatus int
	LastError  string
	OrderID    string
	// Abandoned: retries gave up (events.GiveUpAfter); only a resend sends it again.
	Abandoned bool
	// Find is the query Find shows its order by ("": the order_id).
	Find string
}

// BillDay is one stored bill report.
type BillDay struct {
	Date, Type, MchID      string
	Status                 string // reconciled, no_statement, not_ready, hash_mismatch, failed
	Error                  string
	HashChecked            bool
	Rows, Matched, Settled int
	Discrepancies          []Discrepancy
	// Listed < len(all) when the report kept only the first of many.
	Truncated bool
}

// Discrepancy is one difference between a bill and the ledger.
type Discrepancy struct {
	Kind        string
	OutTradeNo  string
	OutRefundNo string
	OrderID     string
	Detail      string
}

// StuckRefund is a refund PROCESSING too long, or ABNORMAL.
type StuckRefund struct {
	OutRefundNo, RefundID, OrderID, OutTradeNo, MchID string
	State                                             string
	Amount                                            int64
	Since                                             time.Time
	// WorkingDays PROCESSING refunds have waited (Monday to Friday, UTC+8).
	WorkingDays int
	// Reissues are the 异常退款 already sent for it.
	Reissues int
	// Find is the query Find shows its order by ("": the order_id).
	Find string
}

// AbnormalRequest is an 异常退款 application. The card fields are encrypted with WeChat
// Pay's public key before they leave the process and are never stored or logged.
type AbnormalRequest struct {
	OutRefundNo string
	MchID       string // the refund's merchant (sub_mchid), as listed
	ToMerchant  bool   // MERCHANT_BANK_CARD, else USER_BANK_CARD
	BankType    string
	BankAccount string
	RealName    string
}

// Story is an order's whole story.
type Story struct {
	OrderID    string
	OutTradeNo string
	MchID      string
	State      string
	Amount     int64
	Refunded   int64
	Attempts   []Attempt
	Refunds    []StoryRefund
	Events     []StoryEvent
	Causes     []Cause
	Kept       []Kept
	ReviewRef  string
	// Resolutions are the reviews people resolved, with their notes.
	Resolutions []Resolution
	// SubOrders are a combine's (合单) sub-orders, of its current attempt: the story is
	// the combine's, each sub-order's own story is a Find of its Find query away.
	SubOrders []StorySubOrder
	// Holders are the Find queries (sub_mchid/id) of every sub-merchant holding the
	// number a bare query named, this story's first, when more than one does: order
	// numbers are unique per sub-merchant only, so "SHARED01" may be several orders.
	Holders []string
}

// StorySubOrder is one sub-order of a combine in its story.
type StorySubOrder struct {
	OrderID, OutTradeNo, SubMchID, State, TransactionID string
	Amount                                              int64
	// Find is the Find query of its own story (sub_mchid/order_id).
	Find string
}

// Resolution is a person marking a review resolved.
type Resolution struct {
	By, Note string
	At       time.Time
}

// Attempt is one out_trade_no of an order.
type Attempt struct {
	OutTradeNo, State, Scene, TransactionID, PaidAt string
	Amount                                          int64
	CreatedAt                                       time.Time
}

// StoryRefund is a refund in a story.
type StoryRefund struct {
	OutRefundNo, RefundID, State, SuccessTime string
	Amount                                    int64
	// TransactionID is the payment it refunds; Reissued the 异常退款 sent for it.
	TransactionID string
	Reissued      []string
}

// StoryEvent is an event in a story with its deliveries.
type StoryEvent struct {
	ID, Type    string
	CreatedAt   time.Time
	Attempts    int
	DeliveredAt time.Time
	LastStatus  int
	LastError   string
}
