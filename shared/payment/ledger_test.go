package payment

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paysls/wxpay/internal/judgment"
	"github.com/paysls/wxpay/internal/storetest"
	"github.com/paysls/wxpay/shared/events"

	"github.com/paysls/wxpay/shared/store"
	"github.com/paysls/wxpay/shared/store/boltstore"
	"github.com/paysls/wxpay/shared/wechatpay"
)

const mch = "1900000001"

var now = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

func openStore(t testing.TB) store.Store {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "test.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// logs collects the ledger's JSON log lines.
type logs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (c *logs) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.Write(p)
}

// loud counts REVIEW alarms: ERROR lines carrying the PaymentReview metric.
func (c *logs) loud() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, l := range bytes.Split(c.buf.Bytes(), []byte("\n")) {
		var m map[string]any
		if json.Unmarshal(l, &m) == nil && m["level"] == "ERROR" && m["PaymentReview"] == float64(1) && m["_aws"] != nil {
			n++
		}
	}
	return n
}

func newLedger(t testing.TB) (*Ledger, *logs) {
	var lg logs
	return &Ledger{Store: openStore(t), Now: func() time.Time { return now }, Merchants: []string{mch},
		Log: slog.New(slog.NewJSONHandler(&lg, nil))}, &lg
}

func order(t testing.TB, l *Ledger, no string, amount int64) *Order {
	t.Helper()
	o, err := l.CreateOrder(context.Background(), NewOrder{MchID: mch, AppID: "wxapp", OrderID: no, Amount: amount, Scene: "native"})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func paid(no, txid string, total int64) *wechatpay.Transaction {
	return &wechatpay.Transaction{MchID: mch, AppID: "wxapp", OutTradeNo: no, TransactionID: txid,
		TradeState: wechatpay.TradeStateSuccess, SuccessTime: "2026-11-23T18:00:00+08:00",
		Amount: &wechatpay.Amount{Total: total, PayerTotal: total, Currency: "CNY"}}
}

func refunded(no, txid, refundNo, status string, amount int64) *wechatpay.RefundNotice {
	return &wechatpay.RefundNotice{MchID: mch, OutTradeNo: no, TransactionID: txid, OutRefundNo: refundNo, RefundID: "503" + refundNo,
		RefundStatus: status, Amount: wechatpay.RefundAmount{Refund: amount, Total: amount}}
}

func attempt(t testing.TB, l *Ledger, no string) *Order {
	t.Helper()
	o, err := l.Attempt(context.Background(), mch, no)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func eventTypes(rec store.Record) string {
	var out []string
	for _, e := range events.Entries(rec) {
		out = append(out, e.Type)
	}
	return strings.Join(out, ",")
}

func apply(t testing.TB, l *Ledger, tx *wechatpay.Transaction, want Outcome) Result {
	t.Helper()
	r, err := l.ApplyTransaction(context.Background(), tx, "notify")
	if err != nil || r.Outcome != want {
		t.Fatalf("apply %s: %v %v, want %v", tx.TransactionID, r.Outcome, err, want)
	}
	return r
}

func applyRefund(t testing.TB, l *Ledger, n *wechatpay.RefundNotice, want Outcome) Result {
	t.Helper()
	r, err := l.ApplyRefund(context.Background(), n, "notify")
	if err != nil || r.Outcome != want {
		t.Fatalf("refund %s %s: %v %v, want %v", n.OutRefundNo, n.RefundStatus, r.Outcome, err, want)
	}
	return r
}

// A pays, B pays (REVIEW), C pays: every transaction stays, the first cause is never
// overwritten, every cause is listed, the review is loud once, and retries write
// nothing.
func TestEveryTransactionIsKeptAndReviewIsLoudOnce(t *testing.T) {
	l, lg := newLedger(t)
	order(t, l, "KEEPALL001", 100)
	apply(t, l, paid("KEEPALL001", "4200000A", 100), Applied)
	apply(t, l, paid("KEEPALL001", "4200000B", 100), Review)
	apply(t, l, paid("KEEPALL001", "4200000C", 90), Review)
	o := attempt(t, l, "KEEPALL001")
	if o.Status() != StateReview || o.State != wechatpay.TradeStateSuccess || o.Payment.TransactionID != "4200000A" || len(o.Conflicts) != 2 {
		t.Fatalf("order = %+v", o)
	}
	if c := o.Review.Causes; len(c) != 2 || c[0].Kind != causeSecondPayment || c[0].TransactionID != "4200000B" || c[1].TransactionID != "4200000C" {
		t.Fatalf("causes = %+v", c)
	}
	if lg.loud() != 1 || eventTypes(o.Record()) != "order.paid,order.review" {
		t.Fatalf("%d alarms, events %s; want 1 and order.paid,order.review", lg.loud(), eventTypes(o.Record()))
	}
	for _, txid := range []string{"4200000A", "4200000C", "4200000B"} {
		apply(t, l, paid("KEEPALL001", txid, 100), Duplicate)
	}
	if again := attempt(t, l, "KEEPALL001"); again.Record().Version != o.Record().Version {
		t.Fatal("retries of known transactions wrote")
	}
}

// Each mismatch is typed; an amount mismatch keeps the order unpaid beneath its review.
func TestCausesAreTyped(t *testing.T) {
	l, _ := newLedger(t)
	cases := []struct {
		no   string
		tx   func(*wechatpay.Transaction)
		kind CauseKind
	}{
		{"CAUSEAMT01", func(tx *wechatpay.Transaction) { tx.Amount.Total = 99 }, CauseAmountMismatch},
		{"CAUSEAPP01", func(tx *wechatpay.Transaction) { tx.AppID = "wxother" }, CauseAppMismatch},
	}
	for _, c := range cases {
		order(t, l, c.no, 100)
		tx := paid(c.no, "42"+c.no, 100)
		c.tx(tx)
		r := apply(t, l, tx, Review)
		if r.Cause == nil || r.Cause.Kind != c.kind || r.Order.State != wechatpay.TradeStateNotPay || r.Order.Payment != nil {
			t.Fatalf("%s: %+v", c.no, r.Order)
		}
	}
	// Closed, then paid: paid_after_close; a close requested, then paid: the other kind.
	order(t, l, "CAUSECLS01", 100)
	if _, err := l.MarkClosed(context.Background(), OrderKey(mch, "CAUSECLS01"), "test"); err != nil {
		t.Fatal(err)
	}
	if r := apply(t, l, paid("CAUSECLS01", "42CLS", 100), Review); r.Cause.Kind != CausePaidAfterClose {
		t.Fatalf("closed: %+v", r.Cause)
	}
	order(t, l, "CAUSEREQ01", 100)
	if _, err := l.RequestClose(context.Background(), OrderKey(mch, "CAUSEREQ01"), now.Add(5*time.Minute), "reprice"); err != nil {
		t.Fatal(err)
	}
	if r := apply(t, l, paid("CAUSEREQ01", "42REQ", 100), Review); r.Cause.Kind != CausePaidAfterCloseRequested {
		t.Fatalf("close requested: %+v", r.Cause)
	}
}

func TestConcurrentConflictingPayments(t *testing.T) {
	l, lg := newLedger(t)
	order(t, l, "RACE000001", 100)
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			txid := []string{"4200000P", "4200000Q"}[i%2]
			if _, err := l.ApplyTransaction(context.Background(), paid("RACE000001", txid, 100), "notify"); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	o := attempt(t, l, "RACE000001")
	if o.Payment == nil || len(o.Conflicts) != 1 || eventTypes(o.Record()) != "order.paid,order.review" || lg.loud() != 1 {
		t.Fatalf("order = %+v events %s, %d alarms", o, eventTypes(o.Record()), lg.loud())
	}
}

func TestInvalidResults(t *testing.T) {
	l, _ := newLedger(t)
	bad := paid("INVALID001", "", 100)
	if _, err := l.ApplyTransaction(context.Background(), bad, "notify"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("no transaction id: %v", err)
	}
	n := refunded("", "42", "RFINVALID1", wechatpay.RefundStatusSuccess, 10)
	if _, err := l.ApplyRefund(context.Background(), n, "notify"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a refund naming no order: %v", err)
	}
}

func TestForeignMerchantKeptForReview(t *testing.T) {
	l, lg := newLedger(t)
	tx := paid("FOREIGN001", "4200000F", 100)
	tx.MchID = "1900000109"
	r := apply(t, l, tx, Review)
	if r.Cause.Kind != CauseForeignMerchant || r.Record.Key != ForeignKey("1900000109", "4200000F") {
		t.Fatalf("foreign: %+v", r)
	}
	apply(t, l, tx, Duplicate)
	if _, err := l.Attempt(context.Background(), "1900000109", "FOREIGN001"); !errors.Is(err, ErrNotFound) {
		t.Fatal("a foreign payment became an order")
	}
	if lg.loud() != 1 {
		t.Fatalf("%d alarms", lg.loud())
	}
}

// A refund requested through the API reserves its amount atomically: 20 concurrent
// requests of 30 on an order of 100 leave at most 100 reserved.
func TestRequestRefundIsAtomic(t *testing.T) {
	l, _ := newLedger(t)
	order(t, l, "RESERVE001", 100)
	apply(t, l, paid("RESERVE001", "42RES", 100), Applied)
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := attempt(t, l, "RESERVE001")
			_, err := l.RequestRefund(context.Background(), o, RefundRequest{OutRefundNo: fmt.Sprintf("RFRES%03d", i), Amount: 30})
			switch {
			case err == nil:
				mu.Lock()
				ok++
				mu.Unlock()
			case !errors.Is(err, ErrOverRefund):
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if o := attempt(t, l, "RESERVE001"); ok != 3 || o.reservedOf(o.Payment.TransactionID) != 90 {
		t.Fatalf("%d refunds accepted, %d reserved; want 3 and 90", ok, o.reservedOf(o.Payment.TransactionID))
	}
	// The same request again is the same refund; another amount under its number is not.
	o := attempt(t, l, "RESERVE001")
	var first string
	for _, line := range o.Refunds {
		first = line.OutRefundNo
		break
	}
	if _, err := l.RequestRefund(context.Background(), o, RefundRequest{OutRefundNo: first, Amount: 30}); err != nil {
		t.Fatalf("repeat: %v", err)
	}
	if _, err := l.RequestRefund(context.Background(), o, RefundRequest{OutRefundNo: first, Amount: 10}); !errors.Is(err, ErrRefundConflict) {
		t.Fatalf("another amount: %v", err)
	}
}

// Refund results on the refund: SUCCESS then ABNORMAL is a contradiction kept for
// review (loud once, first cause kept); ABNORMAL then SUCCESS is legitimate. The order
// takes the settled refund and announces order.refunded once.
func TestRefundResults(t *testing.T) {
	l, lg := newLedger(t)
	order(t, l, "RFORDER001", 100)
	apply(t, l, paid("RFORDER001", "42RF1", 100), Applied)
	applyRefund(t, l, refunded("RFORDER001", "42RF1", "RF0001", wechatpay.RefundStatusAbnormal, 100), Applied)
	applyRefund(t, l, refunded("RFORDER001", "42RF1", "RF0001", wechatpay.RefundStatusSuccess, 100), Applied)
	applyRefund(t, l, refunded("RFORDER001", "42RF1", "RF0001", wechatpay.RefundStatusSuccess, 100), Duplicate)
	r := applyRefund(t, l, refunded("RFORDER001", "42RF1", "RF0001", wechatpay.RefundStatusClosed, 100), Review)
	if r.Cause.Kind != CauseRefundContradicts {
		t.Fatalf("cause %+v", r.Cause)
	}
	applyRefund(t, l, refunded("RFORDER001", "42RF1", "RF0001", wechatpay.RefundStatusClosed, 100), Duplicate)
	o := attempt(t, l, "RFORDER001")
	if o.Status() != wechatpay.TradeStateRefund || o.Refunded() != 100 || eventTypes(o.Record()) != "order.paid,refund.failed,refund.succeeded,order.refunded" {
		t.Fatalf("order %s refunded %d events %s", o.Status(), o.Refunded(), eventTypes(o.Record()))
	}
	if lg.loud() != 1 {
		t.Fatalf("%d alarms", lg.loud())
	}
}

// A refund seen before its payment waits on its order (recorded to hold it): when the
// payment arrives the order is REFUND and its events read paid, refunded.
func TestRefundBeforePayment(t *testing.T) {
	l, _ := newLedger(t)
	applyRefund(t, l, refunded("EARLY00001", "42EARLY", "RFEARLY1", wechatpay.RefundStatusSuccess, 800), Applied)
	o := attempt(t, l, "EARLY00001")
	if !o.Unknown || len(o.Refunds) != 1 || o.Refunded() != 0 || eventTypes(o.Record()) != "" {
		t.Fatalf("before the payment: %+v events %q", o, eventTypes(o.Record()))
	}
	apply(t, l, paid("EARLY00001", "42EARLY", 800), Applied)
	o = attempt(t, l, "EARLY00001")
	if o.Status() != wechatpay.TradeStateRefund || o.Refunded() != 800 || eventTypes(o.Record()) != "order.paid,refund.succeeded,order.refunded" {
		t.Fatalf("after: %s %d %s", o.Status(), o.Refunded(), eventTypes(o.Record()))
	}
	rf, err := l.Refund(context.Background(), mch, "RFEARLY1")
	if err != nil || rf.SyncOwed || rf.OutTradeNo != "EARLY00001" {
		t.Fatalf("refund %+v %v", rf, err)
	}
}

// Refunds beyond what the order was paid are kept as excess, the order in REVIEW; a
// later result naming another order is a conflict on the refund, never a re-point.
func TestRefundsJudgedAgainstTheirOrder(t *testing.T) {
	l, lg := newLedger(t)
	order(t, l, "OVER000001", 500)
	apply(t, l, paid("OVER000001", "42OVER", 500), Applied)
	for i, amt := range []int64{500, 500, 400} {
		applyRefund(t, l, refunded("OVER000001", "42OVER", fmt.Sprintf("RFOVER%d", i), wechatpay.RefundStatusSuccess, amt), []Outcome{Applied, Review, Review}[i])
	}
	o := attempt(t, l, "OVER000001")
	if o.Status() != StateReview || o.Refunded() != 500 || len(o.Refunds) != 3 || o.Review.Causes[0].Kind != CauseRefundExceedsPaid || len(o.Review.Causes) != 2 {
		t.Fatalf("order %+v", o)
	}
	if got := strings.Count(eventTypes(o.Record()), "order.refunded"); got != 1 {
		t.Fatalf("%d order.refunded", got)
	}
	order(t, l, "OTHER00001", 300)
	apply(t, l, paid("OTHER00001", "42OTH", 300), Applied)
	applyRefund(t, l, refunded("OVER000001", "42OVER", "RFMOVE1", wechatpay.RefundStatusAbnormal, 100), Applied)
	r := applyRefund(t, l, refunded("OTHER00001", "42OTH", "RFMOVE1", wechatpay.RefundStatusSuccess, 100), Review)
	if r.Cause.Kind != causeRefundNamesAnotherOrder || r.Refund.OutTradeNo != "OVER000001" {
		t.Fatalf("re-pointed: %+v", r.Refund)
	}
	if other := attempt(t, l, "OTHER00001"); len(other.Refunds) != 0 || other.Status() != wechatpay.TradeStateSuccess {
		t.Fatalf("the other order changed: %+v", other)
	}
	if lg.loud() != 2 { // the order's review, the refund's review
		t.Fatalf("%d alarms", lg.loud())
	}
}

// ResolveReview: an order.review_resolved event, the money state shown again, nothing
// of money edited; a new cause afterwards opens a new review (loud again).
func TestResolveReview(t *testing.T) {
	l, lg := newLedger(t)
	order(t, l, "RESOLVE001", 100)
	apply(t, l, paid("RESOLVE001", "42RSA", 100), Applied)
	apply(t, l, paid("RESOLVE001", "42RSB", 100), Review)
	before := attempt(t, l, "RESOLVE001")
	r, err := l.ResolveReview(context.Background(), before.Key(), "ops@shop", "refunded B by hand")
	if err != nil || r.Outcome != Applied || r.Event == nil || r.Event.Type != events.OrderReviewResolved {
		t.Fatalf("resolve: %+v %v", r, err)
	}
	o := attempt(t, l, "RESOLVE001")
	if o.Status() != wechatpay.TradeStateSuccess || o.Payment.TransactionID != "42RSA" || len(o.Conflicts) != 1 || len(o.Review.Causes) != 1 || o.Review.Resolutions[0].By != "ops@shop" {
		t.Fatalf("after resolving: %+v", o)
	}
	if r, _ := l.ResolveReview(context.Background(), o.Key(), "ops@shop", "again"); r.Outcome != Refused {
		t.Fatalf("resolving a resolved review: %v", r.Outcome)
	}
	apply(t, l, paid("RESOLVE001", "42RSC", 100), Review)
	if o := attempt(t, l, "RESOLVE001"); o.Review.First().TransactionID != "42RSC" || lg.loud() != 2 {
		t.Fatalf("new review: first %+v, %d alarms", o.Review.First(), lg.loud())
	}
}

// Reviews lists every record in REVIEW without scanning: the review listing, and the
// outbox entries whose schedule it is.
func TestReviewsListing(t *testing.T) {
	l, _ := newLedger(t)
	for _, no := range []string{"LISTREV001", "LISTREV002", "LISTOK0001"} {
		order(t, l, no, 100)
		apply(t, l, paid(no, "42"+no, 100), Applied)
	}
	apply(t, l, paid("LISTREV001", "42X1", 100), Review)
	apply(t, l, paid("LISTREV002", "42X2", 100), Review)
	applyRefund(t, l, refunded("LISTOK0001", "42LISTOK0001", "RFLIST1", wechatpay.RefundStatusSuccess, 100), Applied)
	applyRefund(t, l, refunded("LISTOK0001", "42LISTOK0001", "RFLIST1", wechatpay.RefundStatusClosed, 100), Review)
	// LISTREV002's events are delivered: it leaves the outbox for the review listing.
	rec := attempt(t, l, "LISTREV002").Record()
	for _, e := range events.Owed(rec) {
		e.DeliveredAt, e.NextAt = now, time.Time{}
		var err error
		if rec, err = l.MarkEvent(context.Background(), rec, e); err != nil {
			t.Fatal(err)
		}
	}
	if rec.Pending != indexReview {
		t.Fatalf("delivered review record sits in %q", rec.Pending)
	}
	var got []string
	if err := l.Reviews(context.Background(), func(it ReviewItem) error { got = append(got, it.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	want := []string{OrderKey(mch, "LISTREV002"), OrderKey(mch, "LISTREV001"), RefundKey(mch, "RFLIST1")}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("reviews %v, want %v", got, want)
	}
}

// A record's events carry a sequence: with one timestamp (a frozen clock) they still
// read, and are delivered, in the order recorded.
func TestEventsFollowTheirSequence(t *testing.T) {
	l, _ := newLedger(t)
	order(t, l, "SEQUENCE01", 100)
	apply(t, l, paid("SEQUENCE01", "42SEQ", 100), Applied)
	for i := range 5 {
		applyRefund(t, l, refunded("SEQUENCE01", "42SEQ", fmt.Sprintf("RFSEQ%d", i), wechatpay.RefundStatusSuccess, 20), Applied)
	}
	es := events.Entries(attempt(t, l, "SEQUENCE01").Record())
	for i, e := range es {
		if e.Seq != int64(i+1) || !strings.HasPrefix(e.ID, fmt.Sprintf("evt_%010d.", i+1)) {
			t.Fatalf("event %d: seq %d id %s", i, e.Seq, e.ID)
		}
	}
	if got := eventTypes(attempt(t, l, "SEQUENCE01").Record()); got != "order.paid,refund.succeeded,refund.succeeded,refund.succeeded,refund.succeeded,refund.succeeded,order.refunded" {
		t.Fatalf("events %s", got)
	}
}

// Store calls, measured: a notification is one read and at most one write; a repeat
// is the read alone.
func TestStoreCallsPerNotification(t *testing.T) {
	l, _ := newLedger(t)
	counting := &storetest.Counting{Store: l.Store}
	l.Store = counting
	order(t, l, "CALLS00001", 100)
	step := func(name string, reads, writes int64, f func()) {
		t.Helper()
		r0, w0 := counting.Reads.Load(), counting.Writes.Load()
		f()
		if r, w := counting.Reads.Load()-r0, counting.Writes.Load()-w0; r != reads || w != writes {
			t.Errorf("%s: %d reads %d writes, want %d and %d", name, r, w, reads, writes)
		}
	}
	step("payment of a pending order", 1, 1, func() { apply(t, l, paid("CALLS00001", "42CALLS", 100), Applied) })
	step("duplicate delivery", 1, 0, func() { apply(t, l, paid("CALLS00001", "42CALLS", 100), Duplicate) })
	step("payment of an order never seen", 1, 1, func() { apply(t, l, paid("CALLS00002", "42CALLS2", 100), Applied) })
	step("second payment, to review", 1, 1, func() { apply(t, l, paid("CALLS00001", "42CALLS3", 100), Review) })
	step("refund result", 2, 3, func() {
		applyRefund(t, l, refunded("CALLS00002", "42CALLS2", "RFCALLS1", wechatpay.RefundStatusSuccess, 50), Applied)
	})
	step("refund result again", 1, 0, func() {
		applyRefund(t, l, refunded("CALLS00002", "42CALLS2", "RFCALLS1", wechatpay.RefundStatusSuccess, 50), Duplicate)
	})
}

// The create's claim follows Powertools' contract, on the business clock.
func TestClaimContract(t *testing.T) {
	l, _ := newLedger(t)
	clock := now
	l.Now = func() time.Time { return clock }
	o, err := l.CreateOrder(context.Background(), NewOrder{MchID: mch, OrderID: "CLAIM00001", Amount: 100,
		Claim: &ClaimRequest{ID: "c1", PayloadHash: "fp1", Lease: 8 * time.Second}})
	if err != nil || o.Claim.Status != claimInProgress || !o.Claim.Live(clock) || o.Claim.Live(clock.Add(8*time.Second)) {
		t.Fatalf("in progress: %+v %v", o.Claim, err)
	}
	if _, err := l.Complete(context.Background(), o, "other", Prepay{PrepayID: "wx1"}, clock.Add(time.Hour)); !errors.Is(err, errClaimLost) {
		t.Fatalf("completing another's claim: %v", err)
	}
	o, err = l.Complete(context.Background(), o, "c1", Prepay{PrepayID: "wx1"}, clock.Add(time.Hour))
	if err != nil || o.Claim.Status != ClaimCompleted || o.Claim.PayloadHash != "fp1" || !o.Claim.Replayable(clock) || o.Claim.Replayable(clock.Add(time.Hour)) {
		t.Fatalf("completed: %+v %v", o.Claim, err)
	}
	var ex *ExistsError
	if _, err := l.CreateOrder(context.Background(), NewOrder{MchID: mch, OrderID: "CLAIM00001", Amount: 100}); !errors.As(err, &ex) || ex.Order.OrderID != "CLAIM00001" {
		t.Fatalf("taken out_trade_no: %v", err)
	}
	// A stale read cannot take the claim.
	if _, err := l.Claim(context.Background(), o, ClaimRequest{ID: "c2", PayloadHash: "fp1", Lease: time.Second}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Claim(context.Background(), o, ClaimRequest{ID: "c3", PayloadHash: "fp1", Lease: time.Second}); !errors.Is(err, ErrRaced) {
		t.Fatalf("claim from a stale read: %v", err)
	}
}

// An order never reads another order's attempt: X_2 is an order of its own, so X's
// re-price cannot reserve it, and reading X_2 as an order of X's is refused.
func TestAttemptsCannotCollide(t *testing.T) {
	l, _ := newLedger(t)
	order(t, l, "COLLIDE_2", 100)
	first := order(t, l, "COLLIDE", 100)
	var ex *ExistsError
	_, err := l.CreateOrder(context.Background(), NewOrder{MchID: mch, OrderID: "COLLIDE", Attempt: 2, Amount: 200})
	if !errors.As(err, &ex) || ex.Order.OrderID != "COLLIDE_2" {
		t.Fatalf("reserving a taken attempt: %v", err)
	}
	if h, err := l.Order(context.Background(), mch, "COLLIDE"); err != nil || h.Current.Key() != first.Key() {
		t.Fatalf("order after the failed reservation: %+v %v", h, err)
	}
	y := order(t, l, "ATTEMPTY", 100)
	if _, err := l.CreateOrder(context.Background(), NewOrder{MchID: mch, OrderID: "ATTEMPTY", Attempt: 2, Amount: 200}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.PointTo(context.Background(), y, 1, 2); err != nil {
		t.Fatal(err)
	}
	var other *OtherOrderError
	if _, err := l.Order(context.Background(), mch, "ATTEMPTY_2"); !errors.As(err, &other) || !errors.Is(err, ErrNotFound) || other.Holder != "ATTEMPTY" {
		t.Fatalf("reading an attempt as an order: %v", err)
	}
	if h, err := l.Order(context.Background(), mch, "ATTEMPTY"); err != nil || h.Current.OutTradeNo != "ATTEMPTY_2" {
		t.Fatalf("re-priced order: %+v %v", h, err)
	}
}

// A record written before the typed ledger (flat attributes) is read, and its first
// typed write replaces the flat attributes.
func TestLegacyRecordsAreRead(t *testing.T) {
	l, _ := newLedger(t)
	key := OrderKey(mch, "LEGACY0001")
	if _, err := l.Store.Put(context.Background(), store.Record{Key: key, Attrs: map[string]string{"state": "NOTPAY", "amount": "100", "mchid": mch,
		"appid": "wxapp", "out_trade_no": "LEGACY0001", "order_id": "LEGACY0001", "co_fp": "fp"}}, store.Condition{}); err != nil {
		t.Fatal(err)
	}
	o := attempt(t, l, "LEGACY0001")
	if o.Amount != 100 || o.OrderID != "LEGACY0001" || o.Claim.PayloadHash != "fp" {
		t.Fatalf("legacy order %+v", o)
	}
	apply(t, l, paid("LEGACY0001", "42LEG", 100), Applied)
	rec := attempt(t, l, "LEGACY0001").Record()
	if _, flat := rec.Attrs["state"]; flat || rec.Attrs["doc"] == "" {
		t.Fatalf("attributes after a typed write: %v", rec.Attrs)
	}
}

// The judgment switches reintroduce what they prevent (for the simulation test).
func TestJudgmentSwitches(t *testing.T) {
	t.Run("refund-vs-order", func(t *testing.T) {
		t.Cleanup(judgment.RefundVsOrder.Set(false))
		l, _ := newLedger(t)
		order(t, l, "SWREFUND01", 100)
		apply(t, l, paid("SWREFUND01", "42SW1", 100), Applied)
		applyRefund(t, l, refunded("SWREFUND01", "42SW1", "RFSW1", wechatpay.RefundStatusSuccess, 100), Applied)
		applyRefund(t, l, refunded("SWREFUND01", "42SW1", "RFSW2", wechatpay.RefundStatusSuccess, 100), Applied)
		if o := attempt(t, l, "SWREFUND01"); o.Refunded() != 200 || o.InReview() {
			t.Fatalf("switched off, refunds should go unjudged: %d %v", o.Refunded(), o.InReview())
		}
	})
	t.Run("causal-events", func(t *testing.T) {
		t.Cleanup(judgment.CausalEvents.Set(false))
		l, _ := newLedger(t)
		clock := now
		l.Now = func() time.Time { return clock }
		order(t, l, "SWCAUSAL01", 100)
		applyRefund(t, l, refunded("SWCAUSAL01", "42SW2", "RFSW3", wechatpay.RefundStatusSuccess, 100), Applied)
		clock = clock.Add(time.Second)
		apply(t, l, paid("SWCAUSAL01", "42SW2", 100), Applied)
		o := attempt(t, l, "SWCAUSAL01")
		if es := events.Entries(o.Record()); len(es) == 0 || es[0].Type != events.RefundSucceeded || o.Refunded() != 100 {
			t.Fatalf("switched off, the refund should be announced before the payment it returns: %s %d", eventTypes(o.Record()), o.Refunded())
		}
	})
}

// A refund of a payment kept on the order (a second payment) counts against that
// payment, never against the order's own: the order is not REFUND, not announced
// refunded, and its own payment can still be refunded in full — but not beyond it,
// whatever the kept payment holds. A result refunding more than the kept payment paid
// is excess, kept for review.
func TestKeptPaymentRefundsCountAgainstTheKeptPayment(t *testing.T) {
	ctx := context.Background()
	l, _ := newLedger(t)
	order(t, l, "KEPTREF001", 1200)
	apply(t, l, paid("KEPTREF001", "4200OWN", 1200), Applied)
	apply(t, l, paid("KEPTREF001", "4200KEPT", 1000), Review)
	o := attempt(t, l, "KEPTREF001")
	if _, err := l.RequestRefund(ctx, o, RefundRequest{OutRefundNo: "RFKEPT1", Amount: 1001, TransactionID: "4200KEPT"}); !errors.Is(err, ErrOverRefund) {
		t.Fatalf("refund of 1001 fen of a 1000 fen kept payment: %v, want ErrOverRefund", err)
	}
	if _, err := l.RequestRefund(ctx, o, RefundRequest{OutRefundNo: "RFKEPT1", Amount: 1000, TransactionID: "4200KEPT"}); err != nil {
		t.Fatal(err)
	}
	applyRefund(t, l, refunded("KEPTREF001", "4200KEPT", "RFKEPT1", wechatpay.RefundStatusSuccess, 1000), Applied)
	o = attempt(t, l, "KEPTREF001")
	if o.Refunded() != 0 || o.refundedKept() != 1000 || o.State != wechatpay.TradeStateSuccess || strings.Contains(eventTypes(o.Record()), "order.refunded") {
		t.Fatalf("after the kept payment's refund: own refunded %d, kept refunded %d, state %s, events %s; want 0, 1000, SUCCESS, no order.refunded",
			o.Refunded(), o.refundedKept(), o.State, eventTypes(o.Record()))
	}
	if _, err := l.ResolveReview(ctx, o.Key(), "ops", "second payment refunded"); err != nil {
		t.Fatal(err)
	}
	o = attempt(t, l, "KEPTREF001")
	if _, err := l.RequestRefund(ctx, o, RefundRequest{OutRefundNo: "RFOWN1", Amount: 1201}); !errors.Is(err, ErrOverRefund) {
		t.Fatalf("refund of 1201 fen of the own 1200 fen payment: %v, want ErrOverRefund (the kept payment's room is not the order's)", err)
	}
	if _, err := l.RequestRefund(ctx, o, RefundRequest{OutRefundNo: "RFOWN1", Amount: 1200}); err != nil {
		t.Fatal(err)
	}
	applyRefund(t, l, refunded("KEPTREF001", "4200OWN", "RFOWN1", wechatpay.RefundStatusSuccess, 1200), Applied)
	o = attempt(t, l, "KEPTREF001")
	if o.Refunded() != 1200 || o.State != wechatpay.TradeStateRefund || strings.Count(eventTypes(o.Record()), "order.refunded") != 1 {
		t.Fatalf("after the own refund: refunded %d, state %s, events %s", o.Refunded(), o.State, eventTypes(o.Record()))
	}

	// A result refunding more of a kept payment than it paid is excess, whatever the
	// order holds in all.
	order(t, l, "KEPTREF002", 1200)
	apply(t, l, paid("KEPTREF002", "4200OWN2", 1200), Applied)
	apply(t, l, paid("KEPTREF002", "4200KEPT2", 100), Review)
	r := applyRefund(t, l, refunded("KEPTREF002", "4200KEPT2", "RFKEPT2", wechatpay.RefundStatusSuccess, 500), Review)
	if r.Cause == nil || r.Cause.Kind != CauseRefundExceedsPaid {
		t.Fatalf("500 fen refunded of a 100 fen kept payment: cause %+v, want refund_exceeds_paid", r.Cause)
	}
	if o := attempt(t, l, "KEPTREF002"); o.Refunded() != 0 || o.refundedKept() != 0 {
		t.Fatalf("the excess refund was counted: own %d, kept %d", o.Refunded(), o.refundedKept())
	}
}

// Closing an attempt re-pricing replaced (or reserved and never reached) closes the
// attempt, not the merchant's order: its order.closed names the attempt the order goes
// on under, so a merchant keyed by order_id does not cancel an order still payable.
func TestReplacedAttemptsCloseAsAttempts(t *testing.T) {
	ctx := context.Background()
	l, _ := newLedger(t)
	first := order(t, l, "REPLACED01", 100)
	for n := 2; n <= 3; n++ {
		if _, err := l.CreateOrder(ctx, NewOrder{MchID: mch, AppID: "wxapp", OrderID: "REPLACED01", Attempt: n, Amount: 100 * int64(n), Scene: "native"}); err != nil {
			t.Fatal(err)
		}
	}
	first, err := l.PointTo(ctx, first, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	closed := func(no string) map[string]any {
		t.Helper()
		if _, err := l.MarkClosed(ctx, OrderKey(mch, no), "reconcile"); err != nil {
			t.Fatal(err)
		}
		es := events.Entries(attempt(t, l, no).Record())
		var data map[string]any
		if len(es) == 0 || es[len(es)-1].Type != events.OrderClosed || json.Unmarshal(es[len(es)-1].Data, &data) != nil {
			t.Fatalf("%s: events %s", no, eventTypes(attempt(t, l, no).Record()))
		}
		return data
	}
	if d := closed("REPLACED01"); d["replaced_by"] != "REPLACED01_2" {
		t.Fatalf("attempt 1 replaced by _2: order.closed %v", d)
	}
	if d := closed("REPLACED01_3"); d["replaced_by"] != "REPLACED01_2" {
		t.Fatalf("attempt 3 reserved, never reached: order.closed %v", d)
	}
	if d := closed("REPLACED01_2"); d["replaced_by"] != nil {
		t.Fatalf("the current attempt closed is the order closed: order.closed %v", d)
	}
}

// A refund is asked of WeChat Pay in one form whoever asks (createorder at once,
// reconcile after a hold or a lost submit): the order's own payment by out_trade_no, a
// payment kept on the order by its transaction_id, with the reason and total recorded
// and the order's sub_appid. A repeat in another form under the same out_refund_no is
// refused by WeChat Pay, and a refusal read as final closes a refund it is paying.
func TestWeChatRefundOneForm(t *testing.T) {
	l, _ := newLedger(t)
	ctx := context.Background()
	order(t, l, "ONEFORM001", 800)
	apply(t, l, paid("ONEFORM001", "42ONEFORM", 800), Applied)
	o := attempt(t, l, "ONEFORM001")
	o.Create.SubAppID = "wxsub"
	r, err := l.RequestRefund(ctx, o, RefundRequest{OutRefundNo: "RFONEFORM1", Amount: 300, Reason: "退货"})
	if err != nil {
		t.Fatal(err)
	}
	req, app := WeChatRefund(o, r, "https://n.example/notify")
	if req.OutTradeNo != "ONEFORM001" || req.TransactionID != "" || req.OutRefundNo != "RFONEFORM1" || req.Reason != "退货" ||
		req.Amount.Refund != 300 || req.Amount.Total != 800 || req.NotifyURL != "https://n.example/notify" || app != "wxsub" {
		t.Fatalf("own payment: %+v, sub_appid %q", req, app)
	}
	// The form does not depend on what the record holds beyond that: the record read
	// back (as reconcile reads it) asks the same.
	again, err := l.Refund(ctx, mch, "RFONEFORM1")
	if err != nil {
		t.Fatal(err)
	}
	if req2, _ := WeChatRefund(o, again, "https://n.example/notify"); req2 != req {
		t.Fatalf("read back: %+v, first %+v", req2, req)
	}

	// A payment kept on a closed order is named by its transaction.
	key := order(t, l, "ONEFORM002", 500).Key()
	if _, err := l.MarkClosed(ctx, key, "test"); err != nil {
		t.Fatal(err)
	}
	apply(t, l, paid("ONEFORM002", "43ONEFORM", 500), Review)
	o = attempt(t, l, "ONEFORM002")
	r, err = l.RequestRefund(ctx, o, RefundRequest{OutRefundNo: "RFONEFORM2", Amount: 500, TransactionID: "43ONEFORM"})
	if err != nil {
		t.Fatal(err)
	}
	if req, _ := WeChatRefund(o, r, ""); req.OutTradeNo != "" || req.TransactionID != "43ONEFORM" || req.Amount.Total != 500 {
		t.Fatalf("kept payment: %+v", req)
	}
}
