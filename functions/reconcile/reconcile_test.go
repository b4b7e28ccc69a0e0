package reconcile_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paysls/wxpay/functions/notify"
	"github.com/paysls/wxpay/functions/reconcile"
	"github.com/paysls/wxpay/internal/paysim"
	"github.com/paysls/wxpay/shared/events"
	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// Notifications all lost (the simulator's drop fault / an unreachable notify_url):
// one run settles every paid order, leaves the unpaid ones pending, and delivers one
// order.paid event per payment (the flaky webhook's first refusals retried later).
func TestOneRunSettlesDroppedNotifications(t *testing.T) {
	h := newHarness(t)
	if err := h.sim.SetFaults(paysim.Faults{DropAll: true}); err != nil {
		t.Fatal(err)
	}
	var paid, unpaid []string
	for i := range 12 {
		no := fmt.Sprintf("DROP%06d", i)
		key := h.order(no, int64(100+i), 2*time.Hour)
		if i%3 == 2 {
			unpaid = append(unpaid, key)
			continue
		}
		h.pay(no)
		paid = append(paid, key)
	}
	j := h.job(reconcile.Options{})
	if rep := h.pass(j); rep.Examined != 0 {
		t.Fatalf("nothing is due in the first minute, yet examined %d", rep.Examined)
	}
	h.clock.Advance(2 * time.Minute)
	rep := h.pass(j)
	// The run tried each order.paid right after settling its payment: the flaky
	// webhook refused every first attempt.
	if rep.Settled != len(paid) || rep.StillPending != len(unpaid) || rep.Errors != 0 || rep.EventsFailed != len(paid) {
		t.Fatalf("report %+v, want %d settled, %d pending and %d first attempts refused", rep, len(paid), len(unpaid), len(paid))
	}
	for _, k := range paid {
		if s := h.state(k); s != wechatpay.TradeStateSuccess {
			t.Fatalf("%s is %s", k, s)
		}
	}
	for _, k := range unpaid {
		if s := h.state(k); s != wechatpay.TradeStateNotPay {
			t.Fatalf("%s is %s", k, s)
		}
	}
	// The back-off brings them back.
	h.clock.Advance(events.Backoff(1) + time.Second)
	h.pass(j)
	if got := h.hook.count(events.OrderPaid); got != len(paid) {
		t.Fatalf("%d order.paid delivered, want %d", got, len(paid))
	}
	// A second run right away re-queries nothing (every pending order moved on).
	before := h.calls.Load()
	if rep := h.pass(j); rep.Examined != 0 || h.calls.Load() != before {
		t.Fatalf("second run examined %d and made %d calls", rep.Examined, h.calls.Load()-before)
	}
}

// A notification and three concurrent reconcile runs on the same 20 orders give 20
// transitions and 20 order.paid events: the simulator delivers every payment to the
// real notify function over HTTP while three reconcile runs query the same orders.
func TestNotifyAndConcurrentRunsTransitionOnce(t *testing.T) {
	h := newHarness(t)
	nh, err := notify.New(h.cfg, h.st, quiet())
	if err != nil {
		t.Fatal(err)
	}
	nh.Ledger.Now = h.clock.Now
	// answered signals each notification notify accepted (2xx: the simulator stops
	// retrying it), so the test waits for exactly the 20 it sends.
	answered := make(chan struct{}, 64)
	notifySrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		nh.ServeHTTP(rec, r)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
		if rec.Code/100 == 2 {
			answered <- struct{}{}
		}
	}))
	t.Cleanup(notifySrv.Close)
	h.cfg.NotifyURL = notifySrv.URL + "/notify"
	var nos []string
	for i := range 20 {
		no := fmt.Sprintf("RACE%06d", i)
		h.order(no, 500, 2*time.Hour)
		nos = append(nos, no)
	}
	h.clock.Advance(2 * time.Minute) // every order due for its first query
	for _, no := range nos {
		h.pay(no) // its notification is on its way to notify while the runs start
	}
	var wg sync.WaitGroup
	var settled atomic.Int64
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 3 {
				rep, err := h.job(reconcile.Options{Concurrency: 4}).Pass(h.ctx, h.clock.Now())
				if err != nil {
					t.Error(err)
				}
				settled.Add(int64(rep.Settled))
			}
		}()
	}
	wg.Wait()
	// Let every notification land (each is a duplicate or the transition).
	for i := range nos {
		select {
		case <-answered:
		case <-time.After(10 * time.Second):
			t.Fatalf("notify accepted %d of %d notifications", i, len(nos))
		}
	}
	paidEvents := 0
	for _, no := range nos {
		rec, _ := h.st.Get(h.ctx, payment.OrderKey(h.cfg.MchID, no))
		n := 0
		for _, e := range events.Entries(rec) {
			if e.Type == events.OrderPaid {
				n++
			}
		}
		o, _ := payment.OrderOf(rec)
		if n != 1 || o.Status() != wechatpay.TradeStateSuccess || len(o.Conflicts) != 0 {
			t.Fatalf("%s: %d order.paid events, state %s, %d conflicts", no, n, o.Status(), len(o.Conflicts))
		}
		paidEvents += n
	}
	if paidEvents != 20 {
		t.Fatalf("%d order.paid events recorded, want 20", paidEvents)
	}
	t.Logf("of 20 transitions, reconcile made %d and notify the rest", settled.Load())
}

// Expired orders are closed at WeChat Pay and locally; a deferred close of an order
// younger than 5 minutes waits for the rule, then happens.
func TestExpiryAndDeferredClose(t *testing.T) {
	h := newHarness(t)
	old := h.order("EXPIRE000001", 100, 30*time.Minute)
	h.clock.Advance(31 * time.Minute)
	young := h.order("DEFER0000001", 100, 2*time.Hour)
	if r, err := h.ledger.RequestClose(h.ctx, young, h.clock.Now().Add(time.Minute), "merchant"); err != nil || r.Outcome != payment.Applied {
		t.Fatalf("request close: %v %v", r.Outcome, err)
	}
	h.clock.Advance(2 * time.Minute) // young is 2 minutes old: WeChat Pay would refuse
	j := h.job(reconcile.Options{})
	rep := h.pass(j)
	if rep.Closed != 1 || h.state(old) != wechatpay.TradeStateClosed || h.state(young) != wechatpay.TradeStateNotPay {
		t.Fatalf("first run %+v: old %s young %s", rep, h.state(old), h.state(young))
	}
	if tx, err := h.client.QueryByOutTradeNo(h.ctx, "EXPIRE000001"); err != nil || tx.TradeState != wechatpay.TradeStateClosed {
		t.Fatalf("not closed at WeChat Pay: %+v %v", tx, err)
	}
	h.clock.Advance(4 * time.Minute)
	rep = h.pass(j)
	if rep.Closed != 1 || h.state(young) != wechatpay.TradeStateClosed {
		t.Fatalf("second run %+v: young %s", rep, h.state(young))
	}
	h.clock.Advance(time.Minute)
	h.pass(j)
	h.clock.Advance(time.Minute)
	h.pass(j)
	if h.hook.count(events.OrderClosed) != 2 {
		t.Fatalf("order.closed delivered %d times, want 2", h.hook.count(events.OrderClosed))
	}
}

// An attempt the cashier page parked (it switched to another scene and may switch back)
// is queried but not closed before its close is due — its expiry, when WeChat Pay
// closes it anyway — and closed then.
func TestParkedAttemptClosedAtItsExpiry(t *testing.T) {
	h := newHarness(t)
	parked := h.order("PARKED000001", 100, time.Hour)
	o, err := h.ledger.Attempt(h.ctx, h.cfg.MchID, "PARKED000001")
	if err != nil {
		t.Fatal(err)
	}
	if r, err := h.ledger.Park(h.ctx, parked, o.ExpiresAt); err != nil || r.Outcome != payment.Applied {
		t.Fatalf("park: %v %v", r.Outcome, err)
	}
	j := h.job(reconcile.Options{})
	for range 5 { // 10-minute steps through the attempt's hour
		h.clock.Advance(10 * time.Minute)
		if rep := h.pass(j); rep.Closed != 0 || h.state(parked) != wechatpay.TradeStateNotPay {
			t.Fatalf("at %v: %+v, state %s; a parked attempt is closed only when its close is due", h.clock.Now().Sub(o.CreatedAt), rep, h.state(parked))
		}
	}
	h.clock.Advance(11 * time.Minute)
	if rep := h.pass(j); rep.Closed != 1 || h.state(parked) != wechatpay.TradeStateClosed {
		t.Fatalf("after its expiry: %+v, state %s", rep, h.state(parked))
	}
}

// A payment that arrives after the order was closed is never dropped: REVIEW, and with
// WXPAY_REFUND_LATE_PAYMENTS the payment is refunded automatically.
func TestPaidAfterCloseIsRefunded(t *testing.T) {
	h := newHarness(t)
	h.cfg.Bundle.RefundLatePayments = true
	h.ledger.RefundLatePayments = true
	key := h.order("LATE00000001", 300, 2*time.Hour)
	// The close raced the payment: closed here, paid at WeChat Pay.
	h.pay("LATE00000001")
	if _, err := h.ledger.MarkClosed(h.ctx, key, "test"); err != nil {
		t.Fatal(err)
	}
	tx, err := h.client.QueryByOutTradeNo(h.ctx, "LATE00000001")
	if err != nil {
		t.Fatal(err)
	}
	if r, err := h.ledger.ApplyTransaction(h.ctx, tx, "notify"); err != nil || r.Outcome != payment.Review {
		t.Fatalf("late payment: %v %v", r.Outcome, err)
	}
	rep := h.pass(h.job(reconcile.Options{}))
	if rep.LateRefunds != 1 {
		t.Fatalf("report %+v", rep)
	}
	rf, err := h.client.QueryRefund(h.ctx, reconcile.LateRefundNo(tx.TransactionID))
	if err != nil || rf.Amount.Refund != 300 {
		t.Fatalf("refund at WeChat Pay: %+v %v", rf, err)
	}
	if h.state(key) != payment.StateReview {
		t.Fatalf("order must stay in REVIEW for a person, is %s", h.state(key))
	}
	// Another run refunds nothing twice.
	if rep := h.pass(h.job(reconcile.Options{})); rep.LateRefunds != 0 {
		t.Fatalf("second run refunded again: %+v", rep)
	}
}

// A FREQUENCY_LIMITED storm is ridden out: the run finishes, nothing is lost, and the
// throttled orders settle on a later run.
func TestFrequencyLimitedStorm(t *testing.T) {
	h := newHarness(t)
	if err := h.sim.SetFaults(paysim.Faults{DropAll: true}); err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		no := fmt.Sprintf("STORM%06d", i)
		h.order(no, 100, 2*time.Hour)
		h.pay(no)
	}
	h.clock.Advance(2 * time.Minute)
	// The simulator's own storm: every second query answered 429 FREQUENCY_LIMITED,
	// signed, as WeChat Pay answers a merchant over its rate limit.
	if err := h.sim.SetFaults(paysim.Faults{DropAll: true, FrequencyLimited: &paysim.FrequencyLimit{Rate: 0.5, Pattern: "GET /v3/pay/transactions/*"}}); err != nil {
		t.Fatal(err)
	}
	j := h.job(reconcile.Options{Rate: 200})
	first := h.pass(j)
	if err := h.sim.SetFaults(paysim.Faults{DropAll: true}); err != nil {
		t.Fatal(err)
	}
	settled := first.Settled
	for range 3 {
		h.clock.Advance(2 * time.Minute)
		settled += h.pass(j).Settled
	}
	if settled != 30 || first.Errors != 0 {
		t.Fatalf("first run %+v; settled %d of 30 in all", first, settled)
	}
	t.Logf("storm: first run settled %d, throttled %d (client retries absorbed the rest)", first.Settled, first.Throttled)
}

// A run cut by its deadline stops taking work, reports it, and the next run resumes
// with what is still due.
func TestDeadlineCutResumes(t *testing.T) {
	h := newHarness(t)
	if err := h.sim.SetFaults(paysim.Faults{DropAll: true}); err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		no := fmt.Sprintf("CUT%06d", i)
		h.order(no, 100, 2*time.Hour)
		h.pay(no)
	}
	h.clock.Advance(2 * time.Minute)
	// 20 calls/s: 40 orders need two seconds, so a 1.2 s budget always cuts the run, and
	// leaves a loaded machine (the whole suite in parallel) time to settle some first.
	j := h.job(reconcile.Options{Rate: 20, Concurrency: 2, Margin: 100 * time.Millisecond})
	ctx, cancel := context.WithTimeout(h.ctx, 1200*time.Millisecond)
	defer cancel()
	first, err := j.Pass(ctx, h.clock.Now())
	if err != nil || first.Stopped != "deadline" || first.Settled == 0 || first.Settled >= 40 {
		t.Fatalf("cut run: %+v %v", first, err)
	}
	second := h.pass(h.job(reconcile.Options{}))
	if first.Settled+second.Settled != 40 {
		t.Fatalf("settled %d + %d, want 40", first.Settled, second.Settled)
	}
}

// Refunds: a lost REFUND notification is settled by query; one still PROCESSING after
// 8 days is reported; one recorded but never submitted is submitted.
func TestRefunds(t *testing.T) {
	h := newHarness(t)
	if err := h.sim.SetFaults(paysim.Faults{DropAll: true}); err != nil {
		t.Fatal(err)
	}
	key := h.order("REFUND000001", 1000, 2*time.Hour)
	h.pay("REFUND000001")
	h.clock.Advance(2 * time.Minute)
	h.pass(h.job(reconcile.Options{}))
	refund := func(no string, amount int64, submit bool) {
		o, err := h.ledger.Attempt(h.ctx, h.cfg.MchID, "REFUND000001")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.ledger.RequestRefund(h.ctx, o, payment.RefundRequest{OutRefundNo: no, Amount: amount}); err != nil {
			t.Fatal(err)
		}
		if submit {
			if _, err := h.client.CreateRefund(h.ctx, wechatpay.RefundRequest{OutTradeNo: "REFUND000001", OutRefundNo: no, NotifyURL: h.cfg.NotifyURL,
				Amount: wechatpay.RefundAmount{Refund: amount, Total: 1000, Currency: "CNY"}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	refund("RFSETTLED001", 300, true)
	refund("RFSTUCK00001", 200, true)
	refund("RFNEVERSENT1", 500, false)
	if _, _, _, err := h.sim.SettleRefund("RFSETTLED001", wechatpay.RefundStatusSuccess); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(2 * time.Minute)
	rep := h.pass(h.job(reconcile.Options{}))
	if rep.RefundsSettled != 1 || rep.StillPending != 2 {
		t.Fatalf("report %+v", rep)
	}
	rec, _ := h.st.Get(h.ctx, key)
	if o, _ := payment.OrderOf(rec); o.Refunded() != 300 || o.Status() != wechatpay.TradeStateRefund {
		t.Fatalf("order after the refund: %+v", o)
	}
	if rf, err := h.client.QueryRefund(h.ctx, "RFNEVERSENT1"); err != nil || rf.Amount.Refund != 500 {
		t.Fatalf("never-sent refund was not submitted: %+v %v", rf, err)
	}
	h.clock.Advance(9 * 24 * time.Hour)
	rep = h.pass(h.job(reconcile.Options{}))
	if rep.RefundsStuck != 2 {
		t.Fatalf("report after 9 days %+v", rep)
	}
}

// A refund recorded but never submitted (the creator stopped before the call), which
// WeChat Pay then refuses — a refund made elsewhere left less than it asks — never
// existed: reconcile closes it (refund.failed, the reservation released) once WeChat
// Pay says again it holds no such refund, instead of asking every run for ever.
func TestNeverSubmittedRefundRefusedIsClosed(t *testing.T) {
	h := newHarness(t)
	if err := h.sim.SetFaults(paysim.Faults{DropAll: true}); err != nil {
		t.Fatal(err)
	}
	key := h.order("REFUSED00001", 1000, 2*time.Hour)
	h.pay("REFUSED00001")
	h.clock.Advance(2 * time.Minute)
	h.pass(h.job(reconcile.Options{}))
	o, err := h.ledger.Attempt(h.ctx, h.cfg.MchID, "REFUSED00001")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.ledger.RequestRefund(h.ctx, o, payment.RefundRequest{OutRefundNo: "RFREFUSED001", Amount: 600}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.client.CreateRefund(h.ctx, wechatpay.RefundRequest{OutTradeNo: "REFUSED00001", OutRefundNo: "RFELSEWHERE1", NotifyURL: h.cfg.NotifyURL,
		Amount: wechatpay.RefundAmount{Refund: 1000, Total: 1000, Currency: "CNY"}}); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(2 * time.Minute)
	h.pass(h.job(reconcile.Options{}))
	if got := h.state("refund/" + h.cfg.MchID + "/RFREFUSED001"); got != wechatpay.RefundStatusClosed {
		t.Fatalf("a refund WeChat Pay refused and does not hold: %s, want CLOSED", got)
	}
	rec, _ := h.st.Get(h.ctx, key)
	if o, _ := payment.OrderOf(rec); o.Reserved() != 0 || o.InReview() {
		t.Fatalf("the refused refund still reserves %d fen; order %s (a plain refusal contradicts nothing)", o.Reserved(), o.Status())
	}
}

// An attempt that never reached WeChat Pay (the cashier's placeholder, or a prepay that
// never arrived) is closed locally once due: the query answers ORDER_NOT_EXIST, and so
// does a close that raced it — neither is a failure.
func TestAttemptNeverPlacedIsClosedLocally(t *testing.T) {
	h := newHarness(t)
	exp := h.clock.Now().Add(30 * time.Minute)
	placeholder := func(no string) string {
		if _, err := h.ledger.CreateOrder(h.ctx, payment.NewOrder{MchID: h.cfg.MchID, AppID: h.cfg.AppID, OutTradeNo: no, OrderID: no,
			Amount: 100, Scene: "cashier", ExpiresAt: exp}); err != nil {
			t.Fatal(err)
		}
		return payment.OrderKey(h.cfg.MchID, no)
	}
	expired := placeholder("NEVER0000001")
	owed := placeholder("NEVER0000002")
	if r, err := h.ledger.RequestClose(h.ctx, owed, h.clock.Now().Add(5*time.Minute), "merchant"); err != nil || r.Outcome != payment.Applied {
		t.Fatalf("request close: %v %v", r.Outcome, err)
	}
	j := h.job(reconcile.Options{})
	h.clock.Advance(6 * time.Minute)
	rep := h.pass(j)
	if rep.Errors != 0 || rep.Closed != 1 || h.state(expired) != wechatpay.TradeStateNotPay || h.state(owed) != wechatpay.TradeStateClosed {
		t.Fatalf("first run %+v: expired-later %s, close owed %s", rep, h.state(expired), h.state(owed))
	}
	h.clock.Advance(31 * time.Minute)
	if rep = h.pass(j); rep.Errors != 0 || rep.Closed != 1 || h.state(expired) != wechatpay.TradeStateClosed {
		t.Fatalf("after expiry %+v: %s", rep, h.state(expired))
	}

	// A placed order owing a close whose query says NOTPAY but whose close answers
	// ORDER_NOT_EXIST (the order vanished in between): closed locally, not counted as an error.
	key := h.order("NOEXIST00001", 100, 2*time.Hour)
	if r, err := h.ledger.RequestClose(h.ctx, key, h.clock.Now().Add(5*time.Minute), "merchant"); err != nil || r.Outcome != payment.Applied {
		t.Fatalf("request close: %v %v", r.Outcome, err)
	}
	h.clock.Advance(6 * time.Minute)
	var closes atomic.Int64
	notExist := func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/close") {
			return false
		}
		closes.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"code":"ORDER_NOT_EXIST","message":"订单不存在"}`))
		return true
	}
	h.intercept.Store(&notExist)
	rep = h.pass(j)
	h.intercept.Store(nil)
	if closes.Load() != 1 || rep.Errors != 0 || rep.Closed != 1 || h.state(key) != wechatpay.TradeStateClosed {
		t.Fatalf("close answered ORDER_NOT_EXIST %d times: report %+v, state %s", closes.Load(), rep, h.state(key))
	}
}
