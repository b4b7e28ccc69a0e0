package reconcile_test

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/paysls/wxpay/functions/reconcile"
	"github.com/paysls/wxpay/internal/paysim"
	"github.com/paysls/wxpay/internal/storetest"
	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/payment/paymenttest"
	"github.com/paysls/wxpay/shared/store"
	"github.com/paysls/wxpay/shared/wechatpay"
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// The cost of a run grows with what is due, never with the table: the same due orders
// cost the same store reads beside 0 or N settled orders. N is 2,000 by default;
// WXPAY_RECONCILE_SETTLED=100000 WXPAY_RECONCILE_DUE=1000 reproduces the closing-note
// measurement (reads per run, wall time per 1,000 due orders against the simulator).
func TestStoreReadsGrowWithDueNotTable(t *testing.T) {
	settled := envInt("WXPAY_RECONCILE_SETTLED", 2000)
	due := envInt("WXPAY_RECONCILE_DUE", 100)
	reads := func(settledN int) (int64, int64, time.Duration) {
		h := newHarness(t)
		if err := h.sim.SetFaults(paysim.Faults{DropAll: true}); err != nil {
			t.Fatal(err)
		}
		// Settled orders: paid, their events delivered long ago — in no index.
		var wg sync.WaitGroup
		next := make(chan int)
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range next {
					no := fmt.Sprintf("OLD%09d", i)
					raw := h.st.(*paymenttest.Guard).Store // the table is filled by hand, not by the ledger
					_, err := raw.Put(h.ctx, store.Record{Key: payment.OrderKey(h.cfg.MchID, no), Attrs: map[string]string{
						// Written as a store record directly (a table to be left unread): the
						// flat shape of records written before the typed ledger.
						"state": wechatpay.TradeStateSuccess, "amount": "100", "mchid": h.cfg.MchID,
						"out_trade_no": no, "transaction_id": "42" + no}}, store.Condition{Absent: true})
					if err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		for i := range settledN {
			next <- i
		}
		close(next)
		wg.Wait()
		for i := range due {
			no := fmt.Sprintf("DUE%09d", i)
			h.order(no, 100, 2*time.Hour)
			if i%2 == 0 {
				h.pay(no)
			}
		}
		h.clock.Advance(2 * time.Minute)
		cs := &storetest.Counting{Store: h.st}
		h.st = cs
		j := h.job(reconcile.Options{Concurrency: 8})
		start := time.Now()
		rep := h.pass(j)
		took := time.Since(start)
		if rep.Settled != (due+1)/2 || rep.StillPending != due/2 {
			t.Fatalf("report %+v", rep)
		}
		return cs.Reads.Load(), cs.Writes.Load(), took
	}
	r0, w0, _ := reads(0)
	rN, wN, took := reads(settled)
	t.Logf("%d due orders: %d store reads and %d writes per run beside 0 settled, %d reads and %d writes beside %d settled; wall %v (%v per 1,000 due)",
		due, r0, w0, rN, wN, settled, took.Round(time.Millisecond), (took * 1000 / time.Duration(due)).Round(time.Millisecond))
	if rN != r0 || wN != w0 {
		t.Fatalf("store calls grew with the table: %d/%d reads, %d/%d writes", r0, rN, w0, wN)
	}
}
