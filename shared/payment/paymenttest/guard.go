// Package paymenttest holds the run-time half of "only the ledger writes money": a
// store wrapper that refuses, and reports, any write to an order, refund or foreign
// record whose call stack does not come from shared/payment. The static half is
// shared/payment's ownership test.
package paymenttest

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/store"
)

// ledgerPrefix is the function-name prefix of shared/payment's code (not of its
// subpackages, such as this one).
const ledgerPrefix = "github.com/paysls/wxpay/shared/payment."

// ErrNotLedger is the error a guarded write outside the ledger fails with.
var ErrNotLedger = fmt.Errorf("paymenttest: a money record written outside shared/payment")

// Guard passes every call to Store, refusing writes to money records that do not come
// from the ledger.
type Guard struct {
	store.Store
	mu         sync.Mutex
	violations []string
}

// Check wraps st in a Guard that fails t (at cleanup) for every refused write.
func Check(t testing.TB, st store.Store) *Guard {
	g := &Guard{Store: st}
	t.Cleanup(func() {
		if v := g.Violations(); len(v) > 0 {
			t.Errorf("money records written outside the ledger:\n%s", strings.Join(v, "\n"))
		}
	})
	return g
}

// Violations lists the refused writes so far.
func (g *Guard) Violations() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.violations...)
}

func (g *Guard) check(op, key string) error {
	if !payment.MoneyKey(key) {
		return nil
	}
	pcs := make([]uintptr, 64)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(3, pcs)])
	var stack []string
	for {
		f, more := frames.Next()
		if strings.HasPrefix(f.Function, ledgerPrefix) {
			return nil
		}
		stack = append(stack, f.Function)
		if !more {
			break
		}
	}
	g.mu.Lock()
	g.violations = append(g.violations, fmt.Sprintf("%s %s from %s", op, key, strings.Join(stack, " ← ")))
	g.mu.Unlock()
	return fmt.Errorf("%w: %s %s", ErrNotLedger, op, key)
}

// Put implements store.Store.
func (g *Guard) Put(ctx context.Context, rec store.Record, cond store.Condition) (store.Record, error) {
	if err := g.check("Put", rec.Key); err != nil {
		return store.Record{}, err
	}
	return g.Store.Put(ctx, rec, cond)
}

// Update implements store.Store.
func (g *Guard) Update(ctx context.Context, key string, ch store.Change, cond store.Condition) (store.Record, error) {
	if err := g.check("Update", key); err != nil {
		return store.Record{}, err
	}
	return g.Store.Update(ctx, key, ch, cond)
}

// Delete implements store.Store.
func (g *Guard) Delete(ctx context.Context, key string, cond store.Condition) error {
	if err := g.check("Delete", key); err != nil {
		return err
	}
	return g.Store.Delete(ctx, key, cond)
}
