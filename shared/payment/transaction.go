package payment

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/paysls/wxpay/shared/events"
	"github.com/paysls/wxpay/shared/wechatpay"
)

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
	Cause         *Cause                  `json:"cause,omitempty"`
	Conflict      *wechatpay.Transaction  `json:"conflicting_transaction,omitempty"`
	Refund        *wechatpay.RefundNotice `json:"conflicting_refund,omitempty"`
	Source        string                  `json:"source,omitempty"`
	// ReplacedBy is set on the order.closed of an attempt that is no longer the
	// order's: re-pricing replaced it, and the order goes on under this out_trade_no.
	// The merchant's order is not closed.
	ReplacedBy string `json:"replaced_by,omitempty"`
}

// event is the order as order.* events show it.
func (o *Order) event() OrderEvent {
	ev := OrderEvent{OrderID: o.OrderID, OutTradeNo: o.OutTradeNo, MchID: o.Owner, State: o.Status(), Amount: o.Amount,
		Refunded: o.Refunded(), Source: o.Source}
	if o.Payment != nil {
		ev.TransactionID, ev.SuccessTime = o.Payment.TransactionID, o.Payment.SuccessTime
	}
	return ev
}

// refundEvent is the data of refund.* events.
type refundEvent struct {
	OutRefundNo   string `json:"out_refund_no"`
	RefundID      string `json:"refund_id,omitempty"`
	OutTradeNo    string `json:"out_trade_no"`
	OrderID       string `json:"order_id,omitempty"`
	MchID         string `json:"mchid"`
	State         string `json:"state"`
	Amount        int64  `json:"amount"`
	SuccessTime   string `json:"success_time,omitempty"`
	UserAccount   string `json:"user_received_account,omitempty"`
	TransactionID string `json:"transaction_id,omitempty"`
}

// validateTransaction checks what a paid transaction must carry; its error matches
// ErrInvalid. trade_state REFUND counts as paid (the order was paid, then refunded).
func validateTransaction(tx *wechatpay.Transaction) error {
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

// ApplyTransaction applies a paid transaction (from a notification v3 or v2, a query
// or a bill) to its order: read, judged, one conditional write with its events. A
// pending order whose amount, merchant and app match is paid (order.paid, then the
// refunds seen before the payment, judged now); a known transaction writes nothing; an
// order never seen is recorded as paid; anything else is a conflict, kept on the order,
// which goes to REVIEW (order.review, loud once).
func (l *Ledger) ApplyTransaction(ctx context.Context, tx *wechatpay.Transaction, source string) (Result, error) {
	if err := validateTransaction(tx); err != nil {
		return Result{}, err
	}
	if acct := accountMchID(tx.SpMchID, tx.MchID); !l.ours(acct) || l.Partner && tx.SubMchID == "" {
		return l.foreign(ctx, tx, acct, source)
	}
	data, err := json.Marshal(tx)
	if err != nil {
		return Result{}, fmt.Errorf("payment: encode transaction: %w", err)
	}
	key := OrderKey(OwnerMchID(tx), tx.OutTradeNo)
	have, err := l.notedRead(ctx, key, tx) // txindex.go
	if err != nil {
		return Result{}, err
	}
	return onOrder(l, ctx, key, have, func(o *Order, exists bool) (step, error) {
		return decidePayment(o, exists, tx, data, source, l.now(), l.RefundLatePayments), nil
	})
}

// decidePayment judges a paid transaction against the order as it is.
func decidePayment(o *Order, exists bool, tx *wechatpay.Transaction, data json.RawMessage, source string, now time.Time, lateRefunds bool) step {
	owner, app := OwnerMchID(tx), payingAppID(tx)
	pay := &Payment{TransactionID: tx.TransactionID, Amount: tx.Amount.Total, MchID: accountMchID(tx.SpMchID, tx.MchID), AppID: app,
		SuccessTime: tx.SuccessTime, Source: source, ReceivedAt: now, Data: data}
	if !exists {
		// An order this store has never seen (created outside the bundle): recorded as
		// paid rather than dropped.
		*o = Order{Owner: owner, OutTradeNo: tx.OutTradeNo, AppID: app, Amount: tx.Amount.Total, State: wechatpay.TradeStateNotPay,
			Unknown: true, CreatedAt: now}
	}
	if o.Knows(tx.TransactionID) {
		return step{outcome: Duplicate}
	}
	if o.Unknown && o.Payment == nil && payable(o.State) {
		// Recorded from a refund seen before its payment: the payment says what it is.
		o.Amount, o.AppID = tx.Amount.Total, app
	}
	var kind CauseKind
	var detail string
	amount := tx.Amount.Total
	switch {
	case o.Owner != owner:
		kind, detail = CauseMerchantMismatch, fmt.Sprintf("paid to merchant %s, the order belongs to %s", owner, o.Owner)
	case o.AppID != "" && o.AppID != app:
		kind, detail = CauseAppMismatch, fmt.Sprintf("paid in app %s, the order was made for %s", app, o.AppID)
	case o.Payment != nil:
		kind, detail = causeSecondPayment, fmt.Sprintf("second payment %s (%d fen) for an order already paid by %s", tx.TransactionID, amount, o.Payment.TransactionID)
	case o.Closed():
		kind, detail = CausePaidAfterClose, fmt.Sprintf("payment %s (%d fen) arrived for an order already closed", tx.TransactionID, amount)
	case o.Close != nil && o.Close.By == closeByScene:
		kind, detail = CausePaidAfterCloseRequested, fmt.Sprintf("payment %s (%d fen) arrived for attempt %s after the cashier page had switched the order to another scene's payment", tx.TransactionID, amount, o.OutTradeNo)
	case o.Close != nil:
		kind, detail = CausePaidAfterCloseRequested, fmt.Sprintf("payment %s (%d fen) arrived after the order's close was requested (cancelled or re-priced)", tx.TransactionID, amount)
	case o.Amount != amount:
		kind, detail = CauseAmountMismatch, fmt.Sprintf("paid amount %d fen differs from the order's %d fen (transaction %s)", amount, o.Amount, tx.TransactionID)
	case !payable(o.State):
		kind, detail = causeSecondPayment, fmt.Sprintf("payment %s arrived for an order in state %s", tx.TransactionID, o.State)
	}
	if kind != "" {
		c := Cause{Kind: kind, Detail: detail, TransactionID: tx.TransactionID, Amount: amount, Source: source, At: now}
		o.Conflicts = append(o.Conflicts, Conflict{Cause: kind, TransactionID: tx.TransactionID, OutTradeNo: tx.OutTradeNo, Amount: amount,
			Status: tx.TradeState, SuccessTime: tx.SuccessTime, Source: source, ReceivedAt: now, Data: data})
		if kind == CausePaidAfterClose && lateRefunds && o.Closed() {
			o.LateRefundsOwed = true
		}
		st := o.review(c, func(ev *OrderEvent) { ev.Conflict = tx; ev.OutTradeNo = tx.OutTradeNo })
		// A refund seen before this payment may refund it: judged now that it is kept.
		return o.judgeLines(st, now, source)
	}
	o.Payment, o.State, o.Source, o.NextCheck = pay, wechatpay.TradeStateSuccess, source, time.Time{}
	return o.judgeLines(step{outcome: Applied, events: []pendingEvent{{events.OrderPaid, o.event()}}}, now, source)
}

// review adds cause c to the order; when it opens the review, an order.review event
// (decorated) and a loud log line. A cause added to an open review is listed, not
// announced again.
func (o *Order) review(c Cause, decorate func(*OrderEvent)) step {
	opened := o.Review.add(c)
	st := step{outcome: Review, cause: &c, loud: opened, reason: c.Detail}
	if opened {
		ev := o.event()
		ev.Reason, ev.Cause = c.Detail, &c
		if decorate != nil {
			decorate(&ev)
		}
		st.events = []pendingEvent{{events.OrderReview, ev}}
	}
	return st
}

// foreign keeps a genuine transaction that is no order of this deployment — for a
// merchant it does not serve (it used to become a paid order under that merchant's
// key), or to a service provider or platform it serves without sub_mchid (Partner: it
// used to become a paid order of the platform itself) — whole, under its account and
// transaction_id. It is recorded once, for review, with an order.review event;
// repeats write nothing.
func (l *Ledger) foreign(ctx context.Context, tx *wechatpay.Transaction, acct, source string) (Result, error) {
	data, err := json.Marshal(tx)
	if err != nil {
		return Result{}, fmt.Errorf("payment: encode transaction: %w", err)
	}
	return onOrder(l, ctx, ForeignKey(acct, tx.TransactionID), nil, func(o *Order, exists bool) (step, error) {
		if exists {
			return step{outcome: Duplicate, reason: o.Review.Reason()}, nil
		}
		now := l.now()
		*o = Order{Owner: OwnerMchID(tx), OutTradeNo: tx.OutTradeNo, AppID: payingAppID(tx), Amount: tx.Amount.Total, State: tx.TradeState,
			Unknown: true, CreatedAt: now}
		kind := CauseForeignMerchant
		detail := fmt.Sprintf("payment %s is for merchant %s, which this deployment does not serve (it serves %v): check WXPAY_MCHID and the notify_url configured for that merchant", tx.TransactionID, acct, l.Merchants)
		if l.ours(acct) {
			kind = CausePaymentWithoutSubMerchant
			detail = fmt.Sprintf("payment %s (%d fen, out_trade_no %s) is to %s without a sub_mchid: a service provider or platform takes no payment of its own (WeChat Pay's partner notifications carry sp_mchid and sub_mchid), so it is no order here — check whether a direct merchant's notify_url points at this deployment",
				tx.TransactionID, tx.Amount.Total, tx.OutTradeNo, acct)
		}
		c := Cause{Kind: kind, Detail: detail, TransactionID: tx.TransactionID, Amount: tx.Amount.Total, Source: source, At: now}
		o.Conflicts = []Conflict{{Cause: kind, TransactionID: tx.TransactionID, OutTradeNo: tx.OutTradeNo, Amount: tx.Amount.Total,
			Status: tx.TradeState, SuccessTime: tx.SuccessTime, Source: source, ReceivedAt: now, Data: data}}
		return o.review(c, func(ev *OrderEvent) { ev.Conflict = tx }), nil
	})
}
