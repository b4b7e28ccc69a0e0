package payment

import (
	"context"
	"errors"
	"fmt"

	"github.com/paysls/wxpay/shared/store"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// A partner's or platform's payment is reached only with its sub_mchid: WeChat Pay's
// query by transaction_id takes sp_mchid and sub_mchid together, and the ledger keys the
// order by sub_mchid/out_trade_no. Given a transaction_id alone (the console's Find, a
// merchant's ticket), nothing said which sub-merchant's order it paid: the console
// asked WeChat Pay under the default sub-merchant and found nothing of any other. The
// ledger notes, the first time it sees such a payment, where its transaction_id leads
// — never money: the order's record stays the truth, this only says where to look.
const prefixTransaction = "tx/"

// Attributes of a transaction's note.
const (
	attrTxOwner      = "owner"
	attrTxOutTradeNo = "out_trade_no"
)

// TransactionKey is the note of transaction_id txid of account (sp_mchid).
func TransactionKey(account, txid string) string { return prefixTransaction + account + "/" + txid }

// noteTransaction notes where a partner payment's transaction_id leads (the sub_mchid
// and out_trade_no it paid), before the payment is applied: a crash between the two
// leaves a note of an order not paid yet here (Find reads it and shows the order as it
// is), never a payment Find cannot name. A direct merchant's payment is reached by its
// transaction_id alone and is not noted. The same payment again writes nothing (its
// conditional write fails).
func (l *Ledger) noteTransaction(ctx context.Context, tx *wechatpay.Transaction) error {
	if tx.SubMchID == "" || tx.TransactionID == "" {
		return nil
	}
	rec := store.Record{Key: TransactionKey(accountMchID(tx.SpMchID, tx.MchID), tx.TransactionID),
		Attrs: map[string]string{attrTxOwner: tx.SubMchID, attrTxOutTradeNo: tx.OutTradeNo}}
	if _, err := l.Store.Put(ctx, rec, store.Condition{Absent: true}); err != nil && !errors.Is(err, store.ErrConditionFailed) {
		return fmt.Errorf("payment: note transaction %s of %s/%s: %w", tx.TransactionID, tx.SubMchID, tx.OutTradeNo, err)
	}
	return nil
}

// notedRead reads the order at key that tx pays, as the payment's transition would,
// and notes tx (noteTransaction) unless the order knows it already: a repeat of a known
// payment writes nothing. It returns the record read, for the transition (transact's
// have), or assumeAbsent when there is none.
func (l *Ledger) notedRead(ctx context.Context, key string, tx *wechatpay.Transaction) (*store.Record, error) {
	if tx.SubMchID == "" {
		return nil, nil // nothing to note: the transition reads the order itself
	}
	rec, err := l.Store.Get(ctx, key)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return assumeAbsent, l.noteTransaction(ctx, tx)
	case err != nil:
		return nil, fmt.Errorf("payment: read %s: %w", key, err)
	}
	o, err := OrderOf(rec)
	if err != nil {
		return nil, err
	}
	if !o.Knows(tx.TransactionID) {
		if err := l.noteTransaction(ctx, tx); err != nil {
			return nil, err
		}
	}
	return &rec, nil
}

// TransactionOrder names the order a partner payment paid (its sub_mchid and
// out_trade_no) by its transaction_id under account (sp_mchid), as noted when the ledger
// first saw the payment; ErrNotFound when none was noted (a direct merchant's, one not
// seen here yet, or one recorded before notes existed).
func (l *Ledger) TransactionOrder(ctx context.Context, account, txid string) (owner, outTradeNo string, err error) {
	rec, err := l.Store.Get(ctx, TransactionKey(account, txid))
	if errors.Is(err, store.ErrNotFound) {
		return "", "", fmt.Errorf("payment: transaction %s: %w", txid, ErrNotFound)
	}
	if err != nil {
		return "", "", fmt.Errorf("payment: read transaction %s: %w", txid, err)
	}
	return rec.Attrs[attrTxOwner], rec.Attrs[attrTxOutTradeNo], nil
}
