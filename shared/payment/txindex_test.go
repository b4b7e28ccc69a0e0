package payment

import (
	"context"
	"errors"
	"testing"

	"github.com/paysls/wxpay/internal/storetest"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// A partner payment's transaction_id leads to the order it paid (its sub_mchid and
// out_trade_no), noted the first time the ledger sees it — also a payment of an order
// created outside the bundle; a repeat writes nothing; a direct merchant's payment is
// not noted (its transaction_id alone reaches it at WeChat Pay).
func TestTransactionOrderIsNotedOnce(t *testing.T) {
	l, _ := newLedger(t)
	ctx := context.Background()
	cs := &storetest.Counting{Store: l.Store}
	l.Store = cs
	partner := func(sub, no, txid string) *wechatpay.Transaction {
		tx := paid(no, txid, 100)
		tx.SpMchID, tx.MchID, tx.SubMchID = mch, "", sub
		return tx
	}
	for _, c := range []struct{ sub, no, txid string }{
		{"1900000101", "TXNOTE01", "4200000000000000000000000101"},
		{"1900000102", "TXNOTE01", "4200000000000000000000000102"}, // the same number, another sub-merchant
	} {
		r0, w0 := cs.Reads.Load(), cs.Writes.Load()
		if r, err := l.ApplyTransaction(ctx, partner(c.sub, c.no, c.txid), "notify"); err != nil || r.Outcome != Applied {
			t.Fatalf("%s/%s: %v %v", c.sub, c.no, r.Outcome, err)
		}
		// The README's store calls: a sub-merchant's new payment is 1 read, the note
		// and the order's conditional write.
		if reads, writes := cs.Reads.Load()-r0, cs.Writes.Load()-w0; reads != 1 || writes != 2 {
			t.Fatalf("%s/%s: %d reads and %d writes, want 1 and 2", c.sub, c.no, reads, writes)
		}
		owner, no, err := l.TransactionOrder(ctx, mch, c.txid)
		if err != nil || owner != c.sub || no != c.no {
			t.Fatalf("%s leads to %s/%s (%v), want %s/%s", c.txid, owner, no, err, c.sub, c.no)
		}
	}
	w := cs.Writes.Load()
	if r, err := l.ApplyTransaction(ctx, partner("1900000101", "TXNOTE01", "4200000000000000000000000101"), "reconcile"); err != nil || r.Outcome != Duplicate || cs.Writes.Load() != w {
		t.Fatalf("the same payment again: %v %v, %d writes", r.Outcome, err, cs.Writes.Load()-w)
	}
	order(t, l, "TXDIRECT1", 100)
	if _, err := l.ApplyTransaction(ctx, paid("TXDIRECT1", "4200000000000000000000000103", 100), "notify"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.TransactionOrder(ctx, mch, "4200000000000000000000000103"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a direct payment was noted: %v", err)
	}
}
