package reconcile_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paysls/wxpay/functions/reconcile"
	"github.com/paysls/wxpay/internal/paysim"
	"github.com/paysls/wxpay/shared/events"
	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/wechatpay"
)

type lines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// alarms counts ERROR lines and PaymentReview metrics.
func (l *lines) alarms() (errs, metrics int, causes []any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, b := range bytes.Split(l.buf.Bytes(), []byte("\n")) {
		var m map[string]any
		if json.Unmarshal(b, &m) != nil {
			continue
		}
		if m["level"] == "ERROR" {
			errs++
			causes = append(causes, m["cause"])
		}
		if m["_aws"] != nil && m["PaymentReview"] != nil {
			metrics++
		}
	}
	return errs, metrics, causes
}

// A REVIEW found by reconcile's query (a payment after the order's close was asked
// for, its notification lost) is loud once, from the ledger, however many runs follow.
func TestQueryReviewIsLoudOnce(t *testing.T) {
	h := newHarness(t)
	key := h.order("QLOUD00001", 100, 2*time.Hour)
	if r, err := h.ledger.RequestClose(h.ctx, key, h.clock.Now().Add(5*time.Minute), "merchant"); err != nil || r.Outcome != "applied" {
		t.Fatalf("%v %v", r.Outcome, err)
	}
	h.pay("QLOUD00001")
	var out lines
	j := h.job(reconcile.Options{Logger: slog.New(slog.NewJSONHandler(&out, nil))})
	for range 3 {
		h.clock.Advance(10 * time.Minute)
		h.pass(j)
	}
	if st := h.state(key); st != "REVIEW" {
		t.Fatalf("state %s, want REVIEW", st)
	}
	if errs, metrics, causes := out.alarms(); errs != 1 || metrics != 1 || causes[0] != "paid_after_close_request" {
		t.Fatalf("%d ERROR lines (%v), %d metrics; want one of each, cause paid_after_close_request", errs, causes, metrics)
	}
}

// A refund of an order the ledger holds paid, which WeChat Pay refuses because it holds
// no paid order to refund (申请退款 RESOURCE_NOT_EXISTS "订单不存在": the order unpaid
// there, or unknown): the refund never existed and is closed, as before, but the ledger
// and WeChat Pay contradict each other about the payment — the order goes to REVIEW
// (payment_not_held) with the refusal kept beside its payment, loud once however many
// runs follow. Before, the refund was closed with a WARN and the order stayed PAID.
func TestRefundRefusedForAPaymentNotHeldIsReviewed(t *testing.T) {
	for _, c := range []struct{ name, no string }{{"unpaid there", "NOTHELD00001"}, {"unknown there", "NOTHELD00002"}} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t)
			exp := h.clock.Now().Add(2 * time.Hour)
			key := payment.OrderKey(h.cfg.MchID, c.no)
			if c.no == "NOTHELD00001" {
				h.order(c.no, 1000, 2*time.Hour) // placed at WeChat Pay, never paid there
			} else if _, err := h.ledger.CreateOrder(h.ctx, payment.NewOrder{MchID: h.cfg.MchID, AppID: h.cfg.AppID, OutTradeNo: c.no, OrderID: c.no,
				Amount: 1000, Scene: "native", ExpiresAt: exp}); err != nil {
				t.Fatal(err)
			}
			// The ledger holds it paid (a payment result WeChat Pay does not hold).
			tx := &wechatpay.Transaction{AppID: h.cfg.AppID, MchID: h.cfg.MchID, OutTradeNo: c.no, TransactionID: "4200000000" + c.no, TradeType: "NATIVE",
				TradeState: wechatpay.TradeStateSuccess, SuccessTime: wechatpay.FormatTime(h.clock.Now()),
				Amount: &wechatpay.Amount{Total: 1000, PayerTotal: 1000, Currency: "CNY", PayerCurrency: "CNY"}}
			if r, err := h.ledger.ApplyTransaction(h.ctx, tx, "notify"); err != nil || r.Outcome != payment.Applied {
				t.Fatalf("paid here: %v %v", r.Outcome, err)
			}
			o, err := h.ledger.Attempt(h.ctx, h.cfg.MchID, c.no)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := h.ledger.RequestRefund(h.ctx, o, payment.RefundRequest{OutRefundNo: "RF" + c.no, Amount: 600}); err != nil {
				t.Fatal(err)
			}
			var out lines
			j := h.job(reconcile.Options{Logger: slog.New(slog.NewJSONHandler(&out, nil))})
			for range 3 {
				h.clock.Advance(2 * time.Minute)
				h.pass(j)
			}
			if got := h.state("refund/" + h.cfg.MchID + "/RF" + c.no); got != wechatpay.RefundStatusClosed {
				t.Fatalf("the refused refund: %s, want CLOSED", got)
			}
			rec, err := h.st.Get(h.ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			o, _ = payment.OrderOf(rec)
			if !o.InReview() || o.Review.First().Kind != payment.CausePaymentNotHeld || o.Reserved() != 0 {
				t.Fatalf("order %s, causes %+v, reserved %d: want REVIEW payment_not_held, nothing reserved", o.Status(), o.Review.Causes, o.Reserved())
			}
			if o.Payment == nil || o.Payment.TransactionID != tx.TransactionID {
				t.Fatalf("the payment held here was not kept: %+v", o.Payment)
			}
			k := o.Conflicts[len(o.Conflicts)-1]
			if k.Cause != payment.CausePaymentNotHeld || k.OutRefundNo != "RF"+c.no || !strings.Contains(string(k.Data), wechatpay.CodeResourceNotExists) {
				t.Fatalf("the refusal is not kept: %+v %s", k, k.Data)
			}
			if errs, metrics, causes := out.alarms(); errs != 1 || metrics != 1 || causes[0] != string(payment.CausePaymentNotHeld) {
				t.Fatalf("%d ERROR lines (%v), %d metrics; want one of each, cause payment_not_held", errs, causes, metrics)
			}
			n := 0
			for _, e := range events.Entries(rec) {
				if e.Type == events.OrderReview {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("order.review recorded %d times", n)
			}
		})
	}
}

// The same refusal for an order WeChat Pay holds paid (merchants report 申请退款
// answering RESOURCE_NOT_EXISTS "订单不存在" for a moment right after a payment) is
// not the contradiction: WeChat Pay's order query answers SUCCESS, so the refund is
// neither closed nor reviewed, but submitted again a minute later — and accepted.
// Before the order query, it was closed and the order went to REVIEW.
func TestRefundRefusedTransientlyIsSubmittedAgain(t *testing.T) {
	h := newHarness(t)
	no := "TRANSIENT001"
	key := h.order(no, 1000, 2*time.Hour)
	h.pay(no)
	o, err := h.ledger.Attempt(h.ctx, h.cfg.MchID, no)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := h.client.QueryByOutTradeNo(h.ctx, no)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := h.ledger.ApplyTransaction(h.ctx, tx, "notify"); err != nil || r.Outcome != payment.Applied {
		t.Fatalf("paid here: %v %v", r.Outcome, err)
	}
	if o, err = h.ledger.Attempt(h.ctx, h.cfg.MchID, no); err != nil {
		t.Fatal(err)
	}
	// Recorded, never submitted (the creator stopped): reconcile submits it.
	if _, err := h.ledger.RequestRefund(h.ctx, o, payment.RefundRequest{OutRefundNo: "RF" + no, Amount: 600}); err != nil {
		t.Fatal(err)
	}
	if err := h.sim.SetFaults(paysim.Faults{RefuseRefundOnce: []string{no}}); err != nil {
		t.Fatal(err)
	}
	rkey := "refund/" + h.cfg.MchID + "/RF" + no
	j := h.job(reconcile.Options{})
	h.clock.Advance(2 * time.Minute)
	h.pass(j)
	rec, err := h.st.Get(h.ctx, rkey)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := payment.RefundOf(rec)
	if r.State != wechatpay.RefundStatusProcessing || r.InReview() || !r.NextCheck.Equal(h.clock.Now().Add(time.Minute)) {
		t.Fatalf("after the refusal: refund %s, next check %v (now %v); want PROCESSING, a minute later", r.Status(), r.NextCheck, h.clock.Now())
	}
	if st := h.state(key); st != wechatpay.TradeStateSuccess {
		t.Fatalf("order %s after the refusal, want SUCCESS (paid)", st)
	}
	h.clock.Advance(2 * time.Minute)
	h.pass(j)
	if got, err := h.client.QueryRefund(h.ctx, "RF"+no); err != nil || got.Amount.Refund != 600 {
		t.Fatalf("the refund at WeChat Pay: %+v %v; want it submitted again", got, err)
	}
	if st := h.state(key); st == "REVIEW" {
		t.Fatalf("order %s after the refund went through", st)
	}
	if st := h.state(rkey); st == wechatpay.RefundStatusClosed {
		t.Fatalf("refund %s", st)
	}
}
