package notify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/events"
	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/store"
	"github.com/paysls/wxpay/shared/wechatpay"
)

func (f *fixture) pay(t *testing.T, no, txid string, total int64) *httptest.ResponseRecorder {
	t.Helper()
	body := f.body(t, wechatpay.EventTransactionSuccess, f.transaction(no, txid, total))
	return f.post(t, body, f.signed(t, body))
}

func (f *fixture) order(t *testing.T, no string) store.Record {
	t.Helper()
	rec, err := f.st.Get(context.Background(), payment.OrderKey(f.id.MchID, no))
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func want204(t *testing.T, w *httptest.ResponseRecorder, what string) {
	t.Helper()
	if w.Code != http.StatusNoContent {
		t.Fatalf("%s: status %d %s, want 204", what, w.Code, w.Body)
	}
}

// Defect 1 over HTTP: A pays, B pays (REVIEW), C pays — every transaction id stays on
// the order, and a retry of any of them writes nothing (it used to erase the others).
func TestReviewKeepsEveryPaymentOverHTTP(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.h.Ledger.CreateOrder(ctx, payment.NewOrder{MchID: f.id.MchID, AppID: f.id.AppID, OutTradeNo: "REVIEW0001", Amount: 100}); err != nil {
		t.Fatal(err)
	}
	want204(t, f.pay(t, "REVIEW0001", "4200000000000000A", 100), "A")
	want204(t, f.pay(t, "REVIEW0001", "4200000000000000B", 100), "B")
	want204(t, f.pay(t, "REVIEW0001", "4200000000000000C", 100), "C")
	rec := f.order(t, "REVIEW0001")
	o := ord(t, rec)
	if o.Status() != payment.StateReview || o.Payment.TransactionID != "4200000000000000A" {
		t.Fatalf("order = %s / %s, want REVIEW keeping A", o.Status(), o.Payment.TransactionID)
	}
	kept := map[string]bool{o.Payment.TransactionID: true}
	for _, c := range o.Conflicts {
		kept[c.TransactionID] = true
	}
	for _, id := range []string{"4200000000000000A", "4200000000000000B", "4200000000000000C"} {
		if !kept[id] {
			t.Fatalf("transaction %s lost; kept %v", id, kept)
		}
	}
	for _, id := range []string{"4200000000000000A", "4200000000000000C", "4200000000000000B"} {
		want204(t, f.pay(t, "REVIEW0001", id, 100), "retry "+id)
	}
	if again := f.order(t, "REVIEW0001"); again.Version != rec.Version {
		t.Fatalf("retries of known transactions wrote: version %d → %d", rec.Version, again.Version)
	}

	// A wrong amount X, then Y: both kept.
	if _, err := f.h.Ledger.CreateOrder(ctx, payment.NewOrder{MchID: f.id.MchID, AppID: f.id.AppID, OutTradeNo: "REVIEW0002", Amount: 100}); err != nil {
		t.Fatal(err)
	}
	want204(t, f.pay(t, "REVIEW0002", "4200000000000000X", 90), "X")
	want204(t, f.pay(t, "REVIEW0002", "4200000000000000Y", 80), "Y")
	if n := len(ord(t, f.order(t, "REVIEW0002")).Conflicts); n != 2 {
		t.Fatalf("amount mismatches kept: %d, want 2", n)
	}
}

// Defect 2 over HTTP: SUCCESS then ABNORMAL is one REVIEW, not rewritten by retries;
// ABNORMAL then SUCCESS (re-issued to another account) is legitimate.
func TestRefundResultsOverHTTP(t *testing.T) {
	f := newFixture(t)
	refund := func(no, status string) wechatpay.RefundNotice {
		return wechatpay.RefundNotice{MchID: f.id.MchID, OutTradeNo: "RFORDER" + no, TransactionID: "4200000000" + no,
			OutRefundNo: "RF" + no, RefundID: "5030000" + no, RefundStatus: status,
			Amount: wechatpay.RefundAmount{Total: 100, Refund: 100, PayerTotal: 100, PayerRefund: 100}}
	}
	send := func(rn wechatpay.RefundNotice, event string) {
		t.Helper()
		body := f.body(t, event, rn)
		want204(t, f.post(t, body, f.signed(t, body)), rn.OutRefundNo+" "+rn.RefundStatus)
	}
	get := func(no string) store.Record {
		rec, err := f.st.Get(context.Background(), payment.RefundKey(f.id.MchID, "RF"+no))
		if err != nil {
			t.Fatal(err)
		}
		return rec
	}
	send(refund("0001", wechatpay.RefundStatusSuccess), wechatpay.EventRefundSuccess)
	send(refund("0001", wechatpay.RefundStatusAbnormal), wechatpay.EventRefundAbnormal)
	rec := get("0001")
	if r := rfd(t, rec); r.Status() != payment.StateReview || r.Review.Reason() == "" || r.Review.First().Kind != payment.CauseRefundContradicts {
		t.Fatalf("SUCCESS then ABNORMAL: %+v", r)
	}
	send(refund("0001", wechatpay.RefundStatusAbnormal), wechatpay.EventRefundAbnormal)
	send(refund("0001", wechatpay.RefundStatusSuccess), wechatpay.EventRefundSuccess)
	if again := get("0001"); again.Version != rec.Version || rfd(t, again).Review.Reason() != rfd(t, rec).Review.Reason() {
		t.Fatalf("retries rewrote the REVIEW: version %d → %d, reason %q → %q", rec.Version, again.Version, rfd(t, rec).Review.Reason(), rfd(t, again).Review.Reason())
	}

	send(refund("0002", wechatpay.RefundStatusAbnormal), wechatpay.EventRefundAbnormal)
	send(refund("0002", wechatpay.RefundStatusSuccess), wechatpay.EventRefundSuccess)
	if st := rfd(t, get("0002")).Status(); st != wechatpay.RefundStatusSuccess {
		t.Fatalf("ABNORMAL then SUCCESS: state %s, want SUCCESS", st)
	}
}

// Defect 3 over HTTP: input that can never succeed is 400 (WeChat Pay stops retrying),
// says why, and writes nothing.
func TestNeverSucceedingInputIs400(t *testing.T) {
	f := newFixture(t)
	notPaid := f.transaction("NEVER00001", "4200000000200001", 100)
	notPaid.TradeState = wechatpay.TradeStateNotPay
	noAmount := f.transaction("NEVER00002", "4200000000200002", 100)
	noAmount.Amount = nil
	tooLong := f.transaction("NEVER00003"+strings.Repeat("9", 30), "4200000000200003", 100)
	processing := wechatpay.RefundNotice{MchID: f.id.MchID, OutTradeNo: "NEVER00004", TransactionID: "4200000000200004",
		OutRefundNo: "NEVERRF0004", RefundID: "503000200004", RefundStatus: wechatpay.RefundStatusProcessing,
		Amount: wechatpay.RefundAmount{Total: 100, Refund: 100}}
	cases := []struct {
		name, event string
		resource    any
		msg         string
	}{
		{"trade_state NOTPAY in TRANSACTION.SUCCESS", wechatpay.EventTransactionSuccess, notPaid, "trade_state"},
		{"no amount", wechatpay.EventTransactionSuccess, noAmount, "amount"},
		{"out_trade_no of 40 characters", wechatpay.EventTransactionSuccess, tooLong, "out_trade_no"},
		{"refund_status PROCESSING", wechatpay.EventRefundSuccess, processing, "PROCESSING"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body := f.body(t, c.event, c.resource)
			wantFail(t, f.post(t, body, f.signed(t, body)), http.StatusBadRequest, c.msg)
		})
	}
	f.mustAbsent(t, "NEVER00001")
	f.mustAbsent(t, "NEVER00002")
	if _, err := f.st.Get(context.Background(), payment.RefundKey(f.id.MchID, "NEVERRF0004")); err == nil {
		t.Fatal("a PROCESSING refund notification was recorded")
	}
}

// Defect 7 over HTTP: a payment for another merchant is acknowledged (WeChat Pay would
// retry it for a day otherwise), never becomes a paid order, and is kept for review.
func TestForeignMerchantIsKeptForReviewAndAcknowledged(t *testing.T) {
	f := newFixture(t)
	f.h.Ledger.Merchants = []string{f.id.MchID}
	tx := f.transaction("FOREIGN001", "4200000000300001", 100)
	tx.MchID = "1900000109"
	body := f.body(t, wechatpay.EventTransactionSuccess, tx)
	want204(t, f.post(t, body, f.signed(t, body)), "foreign payment")
	ctx := context.Background()
	if _, err := f.st.Get(ctx, payment.OrderKey("1900000109", "FOREIGN001")); err == nil {
		t.Fatal("a foreign merchant's payment became an order")
	}
	rec, err := f.st.Get(ctx, payment.ForeignKey("1900000109", "4200000000300001"))
	if err != nil || ord(t, rec).Status() != payment.StateReview || !strings.Contains(ord(t, rec).Review.Reason(), "1900000109") {
		t.Fatalf("foreign payment record = %+v, %v", rec.Attrs, err)
	}
	if evs := events.Entries(rec); len(evs) != 1 || evs[0].Type != events.OrderReview {
		t.Fatalf("foreign payment events = %+v, want one order.review", evs)
	}
	want204(t, f.post(t, body, f.signed(t, body)), "foreign payment again")
	if again, _ := f.st.Get(ctx, rec.Key); again.Version != rec.Version {
		t.Fatal("a repeated foreign payment wrote again")
	}
}

// stalled is a store whose writes and reads hang, ignoring their context, until
// released — as a bbolt file lock held by a stuck process or a hung connection does.
type stalled struct {
	store.Store
	release chan struct{}
}

func (s stalled) Get(ctx context.Context, key string) (store.Record, error) {
	<-s.release
	return s.Store.Get(ctx, key)
}
func (s stalled) Put(ctx context.Context, rec store.Record, c store.Condition) (store.Record, error) {
	<-s.release
	return s.Store.Put(ctx, rec, c)
}
func (s stalled) Update(ctx context.Context, key string, ch store.Change, c store.Condition) (store.Record, error) {
	<-s.release
	return s.Store.Update(ctx, key, ch, c)
}

// Defect 4: a stalled store is answered 5xx before WeChat Pay's 5 s timeout, on both
// formats (v3 held a request for 8 s once; v2 had no deadline and answered after
// 10 s), and the answer does not say what the store is.
func TestStalledStoreIsAnswered5xxWithinTheBudget(t *testing.T) {
	for _, format := range []string{"v3", "v2"} {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			release := make(chan struct{})
			defer close(release)
			f.h.Ledger = &payment.Ledger{Store: stalled{Store: f.st, release: release}}
			f.h.APIv2Key = config.NewSecret([]byte(f.id.APIv2Key))
			xml := f.v2payment(t, "STALLV2001", "4200000000400002", 100, "", f.id.APIv2Key)
			send := func() *httptest.ResponseRecorder { return postXML(t, f.handler, xml) }
			if format == "v3" {
				body := f.body(t, wechatpay.EventTransactionSuccess, f.transaction("STALL00001", "4200000000400001", 100))
				sig := f.signed(t, body)
				send = func() *httptest.ResponseRecorder { return f.post(t, body, sig) }
			}
			answered := make(chan *httptest.ResponseRecorder, 1)
			start := time.Now()
			go func() { answered <- send() }()
			var w *httptest.ResponseRecorder
			select {
			case w = <-answered:
			case <-time.After(6 * time.Second):
				t.Fatal("no answer after 6 s: WeChat Pay gave up at 5 s")
			}
			took := time.Since(start)
			if w.Code != http.StatusServiceUnavailable || took >= 5*time.Second || took < 3*time.Second {
				t.Fatalf("stalled store: %d after %v, want 503 after the 4 s budget and before 5 s", w.Code, took)
			}
			if format == "v2" {
				wantXML(t, w.Code, w.Body.Bytes(), http.StatusServiceUnavailable, "FAIL", "retry")
			} else {
				wantFail(t, w, http.StatusServiceUnavailable, "retry")
			}
			if strings.Contains(w.Body.String(), "bolt") || strings.Contains(w.Body.String(), "store") {
				t.Fatalf("the answer names the store: %s", w.Body)
			}
		})
	}
}

// logCapture collects JSON log lines.
type logCapture struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (c *logCapture) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.Write(p)
}

func (c *logCapture) lines() []map[string]any {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []map[string]any
	for _, l := range bytes.Split(c.buf.Bytes(), []byte("\n")) {
		var m map[string]any
		if json.Unmarshal(l, &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// Defect 6: a REVIEW is loud exactly once, from the ledger: one ERROR line carrying its
// typed cause and the PaymentReview metric (a field and a CloudWatch EMF block — the
// same line), and one order.review event; notify's own line is not a second ERROR, and
// a further conflict on the order under review is listed, not announced again.
func TestReviewIsAnErrorWithAMetricAndAnEvent(t *testing.T) {
	f := newFixture(t)
	var logs logCapture
	f.h.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	f.h.Ledger.Log = f.h.Logger
	want204(t, f.pay(t, "LOUD000001", "4200000000500001", 100), "first payment")
	want204(t, f.pay(t, "LOUD000001", "4200000000500002", 100), "second payment")
	want204(t, f.pay(t, "LOUD000001", "4200000000500003", 100), "third payment")
	want204(t, f.pay(t, "LOUD000001", "4200000000500002", 100), "second payment again")
	wantLoudOnce(t, logs.lines(), "second_payment")
	var types []string
	for _, e := range events.Entries(f.order(t, "LOUD000001")) {
		types = append(types, e.Type)
	}
	if strings.Join(types, ",") != "order.paid,order.review" {
		t.Fatalf("events on the order = %v, want order.paid then order.review", types)
	}
	if o := ord(t, f.order(t, "LOUD000001")); len(o.Review.Causes) != 2 || o.Review.Causes[0].TransactionID != "4200000000500002" {
		t.Fatalf("causes = %+v, want both conflicts listed, the first first", o.Review.Causes)
	}
}

// wantLoudOnce checks that log lines hold exactly one REVIEW alarm — an ERROR line with
// the cause kind and the PaymentReview EMF metric — and no other ERROR line about it.
func wantLoudOnce(t *testing.T, lines []map[string]any, kind string) {
	t.Helper()
	var loud []map[string]any
	metrics := 0
	for _, l := range lines {
		if _, ok := l["_aws"]; ok && l["PaymentReview"] != nil {
			metrics++
		}
		if l["level"] == "ERROR" {
			loud = append(loud, l)
		}
	}
	if len(loud) != 1 || metrics != 1 {
		t.Fatalf("%d ERROR lines and %d PaymentReview metrics, want one of each: %v", len(loud), metrics, loud)
	}
	l := loud[0]
	emf, _ := l["_aws"].(map[string]any)
	if l["cause"] != kind || l["metric"] != "payment_review" || l["PaymentReview"] != float64(1) || emf == nil || emf["CloudWatchMetrics"] == nil {
		t.Fatalf("REVIEW line = %v, want cause %s with the PaymentReview metric", l, kind)
	}
}

// receiver is a merchant's webhook endpoint.
type receiver struct {
	srv   *httptest.Server
	hits  atomic.Int32
	delay time.Duration
	mu    sync.Mutex
	ids   []string
}

func newReceiver(t *testing.T, delay time.Duration) *receiver {
	r := &receiver{delay: delay}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.hits.Add(1)
		io.Copy(io.Discard, req.Body)
		select {
		case <-time.After(r.delay):
		case <-req.Context().Done():
			return
		}
		r.mu.Lock()
		r.ids = append(r.ids, req.Header.Get(events.HeaderEventID))
		r.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// notify tries the event once right after its write: delivered and marked before the
// 204, so the outbox owes nothing; a duplicate notification sends nothing more.
func TestEventDeliveredRightAfterTheWrite(t *testing.T) {
	f := newFixture(t)
	rcv := newReceiver(t, 0)
	f.h.Deliverer = &events.Deliverer{Store: f.st, Marker: f.h.Ledger, Sink: &events.Webhook{URL: rcv.srv.URL, Secret: []byte("s")}}
	want204(t, f.pay(t, "DELIVER001", "4200000000600001", 100), "payment")
	want204(t, f.pay(t, "DELIVER001", "4200000000600001", 100), "duplicate")
	if rcv.hits.Load() != 1 {
		t.Fatalf("webhook hits = %d, want 1", rcv.hits.Load())
	}
	rec := f.order(t, "DELIVER001")
	if owed := events.Owed(rec); len(owed) != 0 || rec.Pending == events.IndexOutbox {
		t.Fatalf("event still owed after delivery: %+v (pending %q)", owed, rec.Pending)
	}
}

// A slow webhook never holds the answer past DeliverWithin; the event stays owed.
func TestSlowWebhookDoesNotDelayTheAnswer(t *testing.T) {
	f := newFixture(t)
	rcv := newReceiver(t, 10*time.Second)
	f.h.Deliverer = &events.Deliverer{Store: f.st, Marker: f.h.Ledger, Sink: &events.Webhook{URL: rcv.srv.URL, Secret: []byte("s")}}
	f.h.DeliverWithin = 300 * time.Millisecond
	start := time.Now()
	want204(t, f.pay(t, "DELIVER002", "4200000000600002", 100), "payment")
	if took := time.Since(start); took > time.Second {
		t.Fatalf("answer took %v behind a slow webhook", took)
	}
	if owed := events.Owed(f.order(t, "DELIVER002")); len(owed) != 1 {
		t.Fatalf("owed events = %d, want the undelivered one", len(owed))
	}
}
