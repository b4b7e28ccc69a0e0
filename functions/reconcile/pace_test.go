package reconcile_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paysls/wxpay/functions/reconcile"
	"github.com/paysls/wxpay/internal/paysim"
	"github.com/paysls/wxpay/shared/payment"
)

// Every call reconcile makes to WeChat Pay takes its turn at the run's pace (Rate),
// also the calls a refund refused as RESOURCE_NOT_EXISTS makes: its submission, the
// query that it still holds no such refund, and the order query that confirms the
// refusal (payment.ConfirmRefusal). Before, one turn covered all four: a burst of
// refused refunds (WeChat Pay's transient refusal right after payments, paysim's
// refuse_refund_once) made a burst of calls at once, the FREQUENCY_LIMITED the pace
// is there to avoid.
func TestRefusedRefundsCallsArePaced(t *testing.T) {
	h := newHarness(t)
	if err := h.sim.SetFaults(paysim.Faults{DropAll: true}); err != nil {
		t.Fatal(err)
	}
	const n, rate = 4, 20
	var nos []string
	for i := range n {
		no := fmt.Sprintf("PACED%07d", i)
		h.order(no, 1000, 2*time.Hour)
		h.pay(no)
		nos = append(nos, no)
	}
	h.clock.Advance(2 * time.Minute)
	h.pass(h.job(reconcile.Options{})) // the payments learnt by query
	for _, no := range nos {
		o, err := h.ledger.Attempt(h.ctx, h.cfg.MchID, no)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.ledger.RequestRefund(h.ctx, o, payment.RefundRequest{OutRefundNo: "RF" + no, Amount: 600}); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.sim.SetFaults(paysim.Faults{RefuseRefundOnce: nos}); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(2 * time.Minute)
	var mu sync.Mutex
	var at []time.Time
	confirmations := 0
	record := func(w http.ResponseWriter, r *http.Request) bool {
		mu.Lock()
		defer mu.Unlock()
		at = append(at, time.Now())
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/transactions/out-trade-no/") {
			confirmations++
		}
		return false
	}
	h.intercept.Store(&record)
	h.pass(h.job(reconcile.Options{Rate: rate}))
	h.intercept.Store(nil)
	if confirmations != n || len(at) != 4*n {
		t.Fatalf("%d calls, %d order queries: want each refund queried, submitted (refused), queried again and its order queried", len(at), confirmations)
	}
	// The calls start a turn apart: the last no earlier than len-1 turns after the
	// first. Measured as the span from the first arrival to the last, which a slow
	// machine can only lengthen (a pair of arrivals may bunch up behind a late one);
	// a fifth of it is left for the first call arriving late. Before, the 16 calls
	// took 4 turns: about 150 ms.
	if span, want := at[len(at)-1].Sub(at[0]), time.Duration(len(at)-1)*time.Second/rate; span < want*4/5 {
		t.Fatalf("%d calls to WeChat Pay within %v, at a pace of %d a second (want at least %v)", len(at), span, rate, want*4/5)
	}
}
