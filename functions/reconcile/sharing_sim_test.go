package reconcile_test

// A seeded simulation of profit sharing against the simulator, in the spirit of
// internal/dst (which runs a direct merchant; sharing needs a platform): each seed
// generates a history of shared orders (plans with rates and amounts, holds, a
// subsidy), settles, refunds of every size (concurrently with splits in flight), the
// receiver's account made invalid and valid again, the receiver spending its shares
// (a return then fails for its balance), clock moves and reconcile runs — and checks
// after every step that no order's shares to others exceed what it holds at WeChat
// Pay, and that the simulator's money is conserved; at the end, once everything was
// let settle, that the ledger's splits, returns and finishes are WeChat Pay's, every
// held refund was asked, and each split, return and finish was announced exactly once.
// WXPAY_SHARING_SEEDS=n runs n seeds (default 12); WXPAY_SHARING_SEED=s replays one.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paysls/wxpay/functions/reconcile"
	"github.com/paysls/wxpay/internal/paysim"
	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/platform"
	"github.com/paysls/wxpay/shared/store"
	"github.com/paysls/wxpay/shared/wechatpay"
)

const simSupplier = "1900000201"

func TestSharingSimulation(t *testing.T) {
	seeds := envInt("WXPAY_SHARING_SEEDS", 12)
	first := int64(1)
	if s, err := strconv.ParseInt(os.Getenv("WXPAY_SHARING_SEED"), 10, 64); err == nil {
		first, seeds = s, 1
	}
	for seed := first; seed < first+int64(seeds); seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { sharingHistory(t, seed) })
	}
}

type simWorld struct {
	h      *harness
	r      *rand.Rand
	api    platform.API
	j      *reconcile.Job
	orders []string
	step   int
	trace  []string
	spent  map[string]bool // receivers that withdrew what they got: no return from them can succeed for good
}

func (w *simWorld) fail(format string, a ...any) {
	w.h.t.Helper()
	w.h.t.Fatalf("step %d: %s\ntrace (replay with WXPAY_SHARING_SEED):\n%v", w.step, fmt.Sprintf(format, a...), w.trace)
}

func sharingHistory(t *testing.T, seed int64) {
	h := newHarness(t)
	h.platform()
	w := &simWorld{h: h, r: rand.New(rand.NewPCG(uint64(seed), 19)), api: platform.API{Client: h.client, Mode: config.ModeEcommerce, NotifyURL: h.cfg.NotifyURL}}
	if seed%2 == 0 {
		// Half the histories run the job on a store that fails writes now and then:
		// the process dies between a WeChat Pay call and its record (a split sent,
		// not recorded), and the next run must finish what it began.
		h.st = &flakyStore{Store: h.st, r: rand.New(rand.NewPCG(uint64(seed), 7)), every: 6}
	}
	w.j = h.job(reconcile.Options{})
	if err := w.api.AddReceiver(h.ctx, platform.ReceiverInput{Type: wechatpay.ReceiverMerchant, Account: simSupplier, Name: "供应商", RelationType: "SUPPLIER"}); err != nil {
		t.Fatal(err)
	}
	steps := 40 + w.r.IntN(30)
	for w.step = 0; w.step < steps; w.step++ {
		w.op()
		w.invariants()
	}
	// Let everything settle: receivers valid, holds over, refunds settled, runs.
	h.simDelete("/sim/profitsharing/receivers/" + h.cfg.MchID + "/invalid")
	h.simDelete("/sim/profitsharing/receivers/" + simSupplier + "/invalid")
	if f, ok := h.st.(*flakyStore); ok {
		f.every = 0
	}
	for range 6 {
		h.clock.Advance(25 * time.Hour)
		w.settleRefunds()
		w.pass()
		w.invariants()
	}
	w.final()
	st := map[string]int{}
	for _, no := range w.orders {
		o := h.read(no)
		for _, sp := range o.Sharing.Splits {
			st["split_"+sp.State]++
			if sp.Reason != "" && testing.Verbose() {
				t.Logf("%s: %s", sp.OutOrderNo, sp.Reason)
			}
		}
		for _, rl := range o.Sharing.Returns {
			st["return_"+rl.State]++
		}
		if f := o.Sharing.Finish; f != nil {
			st["finish_"+f.State]++
		}
		for _, l := range o.Refunds {
			st["refund_"+l.State]++
		}
	}
	t.Logf("seed %d: %d orders, %d steps: %v", seed, len(w.orders), steps, st)
}

// op runs one generated operation.
func (w *simWorld) op() {
	h, r := w.h, w.r
	switch k := r.IntN(100); {
	case k < 18 || len(w.orders) == 0:
		w.create()
	case k < 30:
		w.settle()
	case k < 46:
		w.refund()
	case k < 52:
		w.settleRefunds()
	case k < 60:
		acct := []string{h.cfg.MchID, simSupplier}[r.IntN(2)]
		if r.IntN(2) == 0 {
			w.note("invalid %s", acct)
			h.simPost("/sim/profitsharing/receivers/"+acct+"/invalid", `{"reason":"ACCOUNT_ABNORMAL"}`)
		} else {
			w.note("valid %s", acct)
			h.simDelete("/sim/profitsharing/receivers/" + acct + "/invalid")
		}
	case k < 65:
		// The receiver spends what it got: a return then fails for its balance.
		for _, b := range h.sim.SharingBalances().Receivers {
			if b.Balance > 0 && r.IntN(2) == 0 {
				w.note("withdraw %s %d", b.Account, b.Balance)
				if w.spent == nil {
					w.spent = map[string]bool{}
				}
				w.spent[b.Account] = true
				h.simPost("/sim/profitsharing/accounts/"+b.Account+"/withdraw", fmt.Sprintf(`{"amount":%d}`, b.Balance))
			}
		}
	case k < 80:
		d := []time.Duration{30 * time.Second, 2 * time.Minute, 20 * time.Minute, 3 * time.Hour}[r.IntN(4)]
		w.note("advance %v", d)
		h.clock.Advance(d)
	default:
		w.pass()
	}
}

func (w *simWorld) note(format string, a ...any) {
	w.trace = append(w.trace, fmt.Sprintf("%d: ", w.step)+fmt.Sprintf(format, a...))
}

func (w *simWorld) pass() {
	w.note("reconcile")
	if _, err := w.j.Pass(w.h.ctx, w.h.clock.Now()); err != nil && !errors.Is(err, store.ErrUnavailable) {
		w.fail("reconcile: %v", err)
	}
}

// create places, pays and records a shared order with a random plan.
func (w *simWorld) create() {
	h, r := w.h, w.r
	no := fmt.Sprintf("SIM%04d", len(w.orders)+1)
	amount := int64(100 + r.IntN(20000))
	plan := &payment.Sharing{API: payment.ShareAPIEcommerce, Planned: true}
	plan.Receivers = append(plan.Receivers, payment.ShareReceiver{Type: wechatpay.ReceiverMerchant, Account: h.cfg.MchID, Rate: int64(1 + r.IntN(2500)), Description: "佣金"})
	if r.IntN(2) == 0 {
		plan.Receivers = append(plan.Receivers, payment.ShareReceiver{Type: wechatpay.ReceiverMerchant, Account: simSupplier, Amount: 1 + int64(r.IntN(int(amount/20))), Description: "供应商"})
	}
	switch r.IntN(4) {
	case 0:
		plan.HoldUntil = h.clock.Now().Add(time.Duration(1+r.IntN(48)) * time.Hour)
	case 1:
		plan.Planned, plan.Receivers = false, nil // decided at the settle
	}
	w.note("create %s %d %+v", no, amount, plan.Receivers)
	h.sharedOrder(no, amount, plan)
	w.orders = append(w.orders, no)
}

func (w *simWorld) pick() *payment.Order {
	no := w.orders[w.r.IntN(len(w.orders))]
	return w.h.read(no)
}

func (w *simWorld) settle() {
	o := w.pick()
	req := payment.SettleRequest{}
	if !o.Sharing.Planned || w.r.IntN(4) == 0 {
		req.Plan = true
		if w.r.IntN(5) > 0 {
			req.Receivers = []payment.ShareReceiver{{Type: wechatpay.ReceiverMerchant, Account: w.h.cfg.MchID, Rate: int64(1 + w.r.IntN(3000)), Description: "佣金"}}
		}
	}
	_, err := w.h.ledger.Settle(w.h.ctx, o, req)
	w.note("settle %s plan=%v: %v", o.OutTradeNo, req.Plan, err)
}

// refund asks for a refund as the order API does: the ledger first, then WeChat Pay
// unless the ledger held it for returns.
func (w *simWorld) refund() {
	h := w.h
	o := w.pick()
	left := o.Payment.Amount - o.Reserved()
	if left <= 0 {
		return
	}
	amount := left
	if w.r.IntN(2) == 0 {
		amount = 1 + int64(w.r.IntN(int(left)))
	}
	no := fmt.Sprintf("RF%s%d", o.OutTradeNo, len(o.Refunds)+1)
	rf, err := h.ledger.RequestRefund(h.ctx, o, payment.RefundRequest{OutRefundNo: no, Amount: amount})
	w.note("refund %s %d: held=%v err=%v", no, amount, rf != nil && rf.Held != "", err)
	if err != nil || rf.Held != "" {
		return
	}
	if _, err := w.api.Refund(h.ctx, o.Owner, "", wechatpay.RefundRequest{OutTradeNo: o.OutTradeNo, OutRefundNo: no,
		Amount: wechatpay.RefundAmount{Refund: amount, Total: o.Amount, Currency: "CNY"}}, false); err != nil {
		w.fail("refund %s refused: %v", no, err)
	}
}

// settleRefunds settles every refund WeChat Pay holds as PROCESSING.
func (w *simWorld) settleRefunds() {
	for _, no := range w.orders {
		for _, l := range w.h.read(no).Refunds {
			if _, _, _, err := w.h.sim.SettleRefund(l.OutRefundNo, wechatpay.RefundStatusSuccess); err == nil {
				w.note("settled %s", l.OutRefundNo)
			}
		}
	}
}

func (w *simWorld) invariants() {
	w.h.t.Helper()
	if b := w.h.sim.SharingBalances(); !b.Conserved {
		w.fail("simulator money not conserved: in %d, out %d", b.In, b.Out)
	}
	for _, no := range w.orders {
		o := w.h.read(no)
		if o.SharedOut() > o.Holds() {
			w.fail("%s: shares to others %d exceed what it holds %d (%+v)", no, o.SharedOut(), o.Holds(), o.Sharing)
		}
	}
}

// spentReturn reports whether a hold's problem is a return refused for the balance of a
// receiver this world made spend it.
func (w *simWorld) spentReturn(problem string) bool {
	if !strings.Contains(problem, "BALANCE_NOT_ENOUGH") {
		return false
	}
	for acct := range w.spent {
		if strings.Contains(problem, "from "+acct+" ") {
			return true
		}
	}
	return false
}

// final compares the ledger with WeChat Pay's record of every order.
func (w *simWorld) final() {
	h := w.h
	for _, no := range w.orders {
		o := h.read(no)
		s := o.Sharing
		for _, hr := range s.Held {
			// A return from a receiver that spent its balance fails (BALANCE_NOT_ENOUGH)
			// until it is credited again, which this world may never do: the refund
			// rightly waits, retried, with the problem shown. Which held refund's return
			// the balance still covered depends on the order reconcile's workers reach
			// the orders in, so a seed lands here only sometimes.
			if w.spentReturn(s.HoldProblem) {
				continue
			}
			w.fail("%s: refund %s still held after everything settled: %s", no, hr.OutRefundNo, s.HoldProblem)
		}
		var view paysim.SharePaymentView
		h.simGet("/sim/profitsharing/payments/"+o.Payment.TransactionID, &view)
		theirs := map[string]string{}
		for _, sp := range view.Splits {
			theirs[sp.OutOrderNo] = sp.Status
			for _, rc := range sp.Receivers {
				theirs[sp.OutOrderNo+"|"+rc.Account] = rc.Result
			}
		}
		for _, ret := range view.Returns {
			theirs[ret.OutReturnNo] = ret.Result
		}
		evs := eventsOf(h.t, h, no)
		judged := 0
		for _, sp := range s.Splits {
			if sp.State == payment.ShareFailed {
				judged++
				continue
			}
			if theirs[sp.OutOrderNo] != sp.State {
				w.fail("%s: split %s is %s here, %s at WeChat Pay", no, sp.OutOrderNo, sp.State, theirs[sp.OutOrderNo])
			}
			if sp.State == wechatpay.ShareFinished {
				judged++
			}
			for _, rc := range sp.Receivers {
				if got := theirs[sp.OutOrderNo+"|"+rc.Account]; got != rc.Result {
					w.fail("%s: share of %s to %s is %s here, %s at WeChat Pay", no, sp.OutOrderNo, rc.Account, rc.Result, got)
				}
			}
		}
		if n := evs[payment.EventShareSucceeded] + evs[payment.EventShareFailed]; n != judged {
			w.fail("%s: %d split events for %d judged splits", no, n, judged)
		}
		final := 0
		for _, rl := range s.Returns {
			got := theirs[rl.OutReturnNo]
			if rl.State == payment.ShareFailed && (got == "FAIL" || got == "") || rl.State == got {
				if rl.State != wechatpay.ReturnProcessing && rl.State != payment.SharePending {
					final++
				}
				continue
			}
			w.fail("%s: return %s is %s here, %s at WeChat Pay", no, rl.OutReturnNo, rl.State, got)
		}
		if n := evs[payment.EventShareReturned] + evs[payment.EventShareReturnFail]; n != final {
			w.fail("%s: %d return events for %d final returns", no, n, final)
		}
		if f := s.Finish; f != nil && f.State == wechatpay.ShareFinished {
			if evs[payment.EventShareFinished] != 1 || !view.Money.Finished {
				w.fail("%s: finished here (%d events), finished at WeChat Pay: %v", no, evs[payment.EventShareFinished], view.Money.Finished)
			}
		} else if view.Money.Finished {
			w.fail("%s: finished at WeChat Pay only (%+v)", no, s.Finish)
		}
	}
}

func (h *harness) simGet(path string, v any) {
	h.t.Helper()
	res, err := http.Get(h.simSrv.URL + path)
	if err != nil {
		h.t.Fatal(err)
	}
	defer res.Body.Close()
	if err := json.NewDecoder(res.Body).Decode(v); err != nil {
		h.t.Fatalf("GET %s: %v", path, err)
	}
}

// flakyStore fails about one write in every: the store lost, or the process gone
// between a WeChat Pay call and its record.
type flakyStore struct {
	store.Store
	mu    sync.Mutex
	r     *rand.Rand
	every int
}

func (f *flakyStore) fail() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.every > 0 && f.r.IntN(f.every) == 0
}

func (f *flakyStore) Update(ctx context.Context, key string, ch store.Change, cond store.Condition) (store.Record, error) {
	if f.fail() {
		return store.Record{}, store.Unavailable("update", errors.New("flaky store"))
	}
	return f.Store.Update(ctx, key, ch, cond)
}

func (f *flakyStore) Put(ctx context.Context, rec store.Record, cond store.Condition) (store.Record, error) {
	if f.fail() {
		return store.Record{}, store.Unavailable("put", errors.New("flaky store"))
	}
	return f.Store.Put(ctx, rec, cond)
}
