package payment_test

import (
	"context"
	"testing"

	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/store/storetest"
)

// A notification costs one store call — the conditional write — whether it pays a
// pending order or repeats one already applied. Only anomalies (an order this store has
// never seen, a conflict moved to REVIEW) cost a second.
func TestOneStoreCallPerNotification(t *testing.T) {
	ctx := context.Background()
	base := openStore(t)
	pendingOrder(t, base, "1900000001", "ROUNDTRIP01", "100")
	st := &storetest.Counting{Store: base}
	step := func(name string, want int64, tx func() (payment.Outcome, error), outcome payment.Outcome) {
		t.Helper()
		before := st.Calls()
		got, err := tx()
		if err != nil || got != outcome {
			t.Fatalf("%s: %v, %v; want %v", name, got, err, outcome)
		}
		if n := st.Calls() - before; n != want {
			t.Errorf("%s: %d store calls, want %d", name, n, want)
		}
	}
	apply := func(no, txid string, total int64) func() (payment.Outcome, error) {
		return func() (payment.Outcome, error) {
			out, _, err := applyTx(ctx, st, paid("1900000001", no, txid, total), "notify", now)
			return out, err
		}
	}
	step("payment of a pending order", 1, apply("ROUNDTRIP01", "4200000101", 100), payment.Applied)
	step("duplicate delivery", 1, apply("ROUNDTRIP01", "4200000101", 100), payment.Duplicate)
	step("payment of an order never seen", 2, apply("ROUNDTRIP02", "4200000102", 100), payment.Applied)
	step("duplicate of that", 1, apply("ROUNDTRIP02", "4200000102", 100), payment.Duplicate)
	step("second payment, moved to review", 2, apply("ROUNDTRIP01", "4200000103", 100), payment.Review)
}
