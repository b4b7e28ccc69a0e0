package paymenttest_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/payment/paymenttest"
	"github.com/paysls/wxpay/shared/store"
	"github.com/paysls/wxpay/shared/store/boltstore"
)

func TestGuardRefusesMoneyWritesOutsideTheLedger(t *testing.T) {
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	g := &paymenttest.Guard{Store: st}
	ctx := context.Background()
	l := &payment.Ledger{Store: g}
	if _, err := l.CreateOrder(ctx, payment.NewOrder{MchID: "1900000001", OrderID: "GUARD00001", Amount: 1}); err != nil {
		t.Fatalf("the ledger's write: %v", err)
	}
	if _, err := g.Put(ctx, store.Record{Key: "bill/x"}, store.Condition{}); err != nil {
		t.Fatalf("a non-money write: %v", err)
	}
	_, err = g.Update(ctx, payment.OrderKey("1900000001", "GUARD00001"), store.Change{Set: map[string]string{"x": "1"}}, store.Condition{})
	if !errors.Is(err, paymenttest.ErrNotLedger) || len(g.Violations()) != 1 {
		t.Fatalf("a money write from a test: %v, %v", err, g.Violations())
	}
}
