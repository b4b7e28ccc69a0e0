package dst

// The one place the checks read the ledger's records directly, through the payment
// package's read functions and attribute names: what the API does not show (kept
// conflicts, the events recorded on a record, refund records of refunds the API does
// not list). When the ledger becomes typed (issue #16), only this file changes.

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"github.com/paysls/wxpay/shared/events"
	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/store"
)

// ledgerRecord is an order attempt or a refund as the ledger holds it.
type ledgerRecord struct {
	found   bool
	key     string
	state   string
	amount  int64
	settled int64 // order: refunds settled on it
	txid    string
	reason  string
	rec     store.Record
	events  []events.Entry
	// conflictRefunds are the out_refund_nos of refund results kept on the record.
	conflictRefunds []string
}

func (w *world) ledger(key string) ledgerRecord {
	rec, err := w.inc.raw.Get(context.Background(), key)
	if errors.Is(err, store.ErrNotFound) || err != nil {
		return ledgerRecord{key: key}
	}
	lr := ledgerRecord{found: true, key: key, rec: rec, state: rec.Attrs[payment.AttrState],
		amount: payment.Fen(rec, payment.AttrAmount), settled: payment.Fen(rec, payment.AttrRefundSettled),
		txid: rec.Attrs[payment.AttrTransactionID], reason: rec.Attrs[payment.AttrReason], events: events.Entries(rec)}
	for _, c := range payment.Conflicts(rec) {
		var v struct {
			OutRefundNo string `json:"out_refund_no"`
		}
		if json.Unmarshal(c, &v) == nil && v.OutRefundNo != "" {
			lr.conflictRefunds = append(lr.conflictRefunds, v.OutRefundNo)
		}
	}
	return lr
}

func (w *world) ledgerOrder(outTradeNo string) ledgerRecord {
	return w.ledger(payment.OrderKey(w.id.MchID, outTradeNo))
}

func (w *world) ledgerRefund(outRefundNo string) ledgerRecord {
	return w.ledger(payment.RefundKey(w.id.MchID, outRefundNo))
}

// knows: the record holds transaction txid, as its payment or kept as a conflict.
func (lr ledgerRecord) knows(txid string) bool {
	return lr.found && payment.KnowsTransaction(lr.rec, txid)
}

func (lr ledgerRecord) keepsRefund(no string) bool {
	for _, c := range lr.conflictRefunds {
		if c == no {
			return true
		}
	}
	return false
}

// isOrderKey / tradeOfKey read an order key's out_trade_no.
func tradeOfKey(key string) (string, bool) {
	if !strings.HasPrefix(key, "order/") {
		return "", false
	}
	return key[strings.LastIndexByte(key, '/')+1:], true
}

// reviewState is the ledger's REVIEW.
const reviewState = payment.StateReview
