package reconcile_test

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/paysls/wxpay/functions/notify"
	"github.com/paysls/wxpay/functions/reconcile"
	"github.com/paysls/wxpay/internal/paysim"
	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/events"
	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// lateNotify is the real notify function behind the simulator's manual queue: a
// notification reaches it only when the test delivers it, as late as it likes.
func lateNotify(t *testing.T, h *harness) {
	t.Helper()
	nh, err := notify.New(h.cfg, h.st, quiet())
	if err != nil {
		t.Fatal(err)
	}
	nh.Ledger.Now, nh.Deliverer.Now = h.clock.Now, h.clock.Now
	srv := httptest.NewServer(nh)
	t.Cleanup(srv.Close)
	h.cfg.NotifyURL = srv.URL + "/notify" // the prepays and refunds name it; nothing is sent yet
}

// deliverLate delivers every queued notification about no (out_trade_no or
// out_refund_no) and wants notify to acknowledge it.
func deliverLate(t *testing.T, h *harness, no string) {
	t.Helper()
	n := 0
	for _, q := range h.sim.Queued() {
		if q.OutTradeNo != no && q.OutRefundNo != no {
			continue
		}
		d, err := h.sim.DeliverQueued(h.ctx, q.ID)
		if err != nil || d.Status/100 != 2 {
			t.Fatalf("the late notification %s: %d %v %s", q.Event, d.Status, err, d.ResponseBody)
		}
		n++
	}
	if n == 0 {
		t.Fatalf("no notification about %s was queued", no)
	}
}

// A payment whose notification is lost, and a refund whose notification is lost: the
// run of reconcile that settles each delivers its event to the merchant in that same
// run (0 s after the settling on the injected clock), and the merchant receives each
// event exactly once after a second run and the late notifications.
func TestRunDeliversWhatItSettles(t *testing.T) {
	h := newHarnessSim(t, paysim.Config{ManualDelivery: true})
	h.hook = newWebhook(t, false)
	h.cfg.Bundle.WebhookURL, h.cfg.Bundle.WebhookSecret = h.hook.srv.URL, config.NewSecret([]byte("whsec"))
	lateNotify(t, h)
	j := h.job(reconcile.Options{})
	key := h.order("LATEPAY00001", 1000, 2*time.Hour)
	h.pay("LATEPAY00001")

	h.clock.Advance(2 * time.Minute)
	rep := h.pass(j)
	if rep.Settled != 1 {
		t.Fatalf("the run that should settle the payment: %+v", rep)
	}
	// Runs every 5 minutes, as template.yaml schedules them, until the merchant has it.
	runs := 0
	for ; h.hook.count(events.OrderPaid) == 0 && runs < 3; runs++ {
		h.clock.Advance(5 * time.Minute)
		h.pass(j)
	}
	paidAfter := deliveredAfterRecorded(t, h, key, events.OrderPaid)
	if runs != 0 || rep.Delivered != 1 || h.hook.count(events.OrderPaid) != 1 {
		t.Fatalf("order.paid reached the merchant %d runs (%v) after the run that settled the payment (report %+v), want in that run",
			runs, paidAfter, rep)
	}

	// A refund, submitted to WeChat Pay, settled there; its notification is lost too.
	o, err := h.ledger.Attempt(h.ctx, h.cfg.MchID, "LATEPAY00001")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.ledger.RequestRefund(h.ctx, o, payment.RefundRequest{OutRefundNo: "LATEREFUND01", Amount: 1000}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.client.CreateRefund(h.ctx, wechatpay.RefundRequest{OutTradeNo: "LATEPAY00001", OutRefundNo: "LATEREFUND01", NotifyURL: h.cfg.NotifyURL,
		Amount: wechatpay.RefundAmount{Refund: 1000, Total: 1000, Currency: "CNY"}}); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := h.sim.SettleRefund("LATEREFUND01", wechatpay.RefundStatusSuccess); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(2 * time.Minute)
	rep = h.pass(j)
	if rep.RefundsSettled != 1 || h.hook.count(events.RefundSucceeded) != 1 || h.hook.count(events.OrderRefunded) != 1 {
		t.Fatalf("the run that settled the refund: %+v; the merchant has %d refund.succeeded, %d order.refunded",
			rep, h.hook.count(events.RefundSucceeded), h.hook.count(events.OrderRefunded))
	}
	refundAfter := deliveredAfterRecorded(t, h, key, events.RefundSucceeded)

	// A second run, then the late notifications: nothing more reaches the merchant.
	h.clock.Advance(10 * time.Minute)
	if rep := h.pass(j); rep.Delivered != 0 {
		t.Fatalf("the second run delivered %d events", rep.Delivered)
	}
	deliverLate(t, h, "LATEPAY00001")
	deliverLate(t, h, "LATEREFUND01")
	h.clock.Advance(10 * time.Minute)
	h.pass(j)
	for typ, want := range map[string]int{events.OrderPaid: 1, events.RefundSucceeded: 1, events.OrderRefunded: 1} {
		if got := h.hook.count(typ); got != want {
			t.Errorf("the merchant received %d %s, want %d", got, typ, want)
		}
	}
	h.hook.mu.Lock()
	for id, n := range h.hook.seen {
		if n != 1 {
			t.Errorf("event %s was sent %d times", id, n)
		}
	}
	h.hook.mu.Unlock()
	t.Logf("settled → delivered on the injected clock: order.paid %v, refund.succeeded %v (0 runs later)", paidAfter, refundAfter)
}

// deliveredAfterRecorded is how long after it was recorded the event of typ on key was
// delivered (on the injected clock); it fails the test if it was not.
func deliveredAfterRecorded(t *testing.T, h *harness, key, typ string) time.Duration {
	t.Helper()
	rec, err := h.st.Get(h.ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events.Entries(rec) {
		if e.Type == typ {
			if e.DeliveredAt.IsZero() {
				t.Fatalf("%s of %s is not delivered: %+v", typ, key, e)
			}
			return e.DeliveredAt.Sub(e.CreatedAt)
		}
	}
	t.Fatalf("%s holds no %s", key, typ)
	return 0
}
