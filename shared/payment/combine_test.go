package payment

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/paysls/wxpay/internal/storetest"
	"github.com/paysls/wxpay/shared/events"

	"github.com/paysls/wxpay/shared/store"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// combineOf creates (and reserves the sub-orders of) a combine of n sub-orders of
// sub-merchants sub1, sub2, … paying 100, 200, … fen.
func combineOf(t testing.TB, l *Ledger, orderID string, n int) *Combine {
	t.Helper()
	ctx := context.Background()
	subs := make([]SubOrder, n)
	for i := range subs {
		subs[i] = SubOrder{OrderID: fmt.Sprintf("%s-%d", orderID, i+1), SubMchID: fmt.Sprintf("sub%d", i+1),
			Amount: int64(100 * (i + 1)), Description: "item", Attach: "a"}
	}
	c, err := l.createCombine(ctx, NewCombine{Owner: mch, AppID: "wxapp", OrderID: orderID, Scene: "native", SubOrders: subs})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.ReserveSubOrders(ctx, c); err != nil {
		t.Fatal(err)
	}
	return c
}

// combinePaid is WeChat Pay's combine notification for c, every sub-order paid.
func combinePaid(c *Combine) *wechatpay.CombineTransaction {
	ct := &wechatpay.CombineTransaction{CombineAppID: "wxapp", CombineMchID: mch, CombineOutTradeNo: c.CombineNo,
		CombinePayerInfo: &wechatpay.CombinePayerInfo{OpenID: "o1"}}
	for i, s := range c.SubOrders {
		ct.SubOrders = append(ct.SubOrders, wechatpay.CombineSubTransaction{MchID: mch, TradeType: "NATIVE", TradeState: wechatpay.TradeStateSuccess,
			SuccessTime: "2026-11-23T18:00:00+08:00", TransactionID: fmt.Sprintf("42%026d", i+1), OutTradeNo: s.OutTradeNo, SubMchID: s.SubMchID,
			Amount: wechatpay.CombineAmount{TotalAmount: s.Amount, Currency: "CNY", PayerAmount: s.Amount}})
	}
	return ct
}

// eventsOf counts the event types recorded on c's sub-orders.
func eventsOf(t *testing.T, l *Ledger, c *Combine) map[string]int {
	t.Helper()
	subs, err := l.SubOrders(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, o := range subs {
		for _, e := range events.Entries(o.Record()) {
			out[e.Type]++
		}
	}
	return out
}

func TestCombineNotificationAppliesEachSubOrderOnce(t *testing.T) {
	l, _ := newLedger(t)
	ctx := context.Background()
	c := combineOf(t, l, "CART000001", 3)
	cs := &storetest.Counting{Store: l.Store}
	l.Store = cs
	res, err := l.ApplyCombine(ctx, combinePaid(c), "notify")
	if err != nil {
		t.Fatal(err)
	}
	if !res.Paid || !res.Announced || res.Writes != 3 {
		t.Fatalf("paid %v announced %v writes %d, want true true 3", res.Paid, res.Announced, res.Writes)
	}
	// One conditional write per sub-order, and — a platform's sub-orders — one note of
	// where each transaction_id leads (txindex.go).
	if w := cs.Writes.Load(); w != 6 {
		t.Errorf("%d store writes for a combine of 3, want 6 (one conditional write per sub-order, one note of its transaction)", w)
	}
	if got := eventsOf(t, l, c); got[events.OrderPaid] != 3 || got[EventCombinePaid] != 1 {
		t.Errorf("events %v, want 3 order.paid and 1 combine.paid", got)
	}
	// Redelivered: nothing is written, nothing announced again.
	w0 := cs.Writes.Load()
	res, err = l.ApplyCombine(ctx, combinePaid(c), "notify")
	if err != nil || res.Announced || res.Writes != 0 || cs.Writes.Load() != w0 {
		t.Fatalf("redelivery: err %v announced %v writes %d/%d", err, res.Announced, res.Writes, cs.Writes.Load()-w0)
	}
	if got := eventsOf(t, l, c); got[events.OrderPaid] != 3 || got[EventCombinePaid] != 1 {
		t.Errorf("after redelivery: events %v", got)
	}
}

// failAfter lets n writes through, then fails every write as a crashed process would.
type failAfter struct {
	store.Store
	n int
}

var errCrash = errors.New("crashed")

func (f *failAfter) Update(ctx context.Context, key string, ch store.Change, cond store.Condition) (store.Record, error) {
	if f.n <= 0 {
		return store.Record{}, errCrash
	}
	f.n--
	return f.Store.Update(ctx, key, ch, cond)
}

func TestCombineNotificationCutByACrashIsFinishedByTheNextDelivery(t *testing.T) {
	defer SetSubOrderParallel(1)() // the crash after exactly one write
	l, _ := newLedger(t)
	ctx := context.Background()
	c := combineOf(t, l, "CART000002", 3)
	real := l.Store
	l.Store = &failAfter{Store: real, n: 1}
	if _, err := l.ApplyCombine(ctx, combinePaid(c), "notify"); !errors.Is(err, errCrash) {
		t.Fatalf("first delivery: %v, want the crash", err)
	}
	if got := eventsOf(t, &Ledger{Store: real}, c); got[events.OrderPaid] != 1 || got[EventCombinePaid] != 0 {
		t.Fatalf("after the crash: events %v, want one sub-order paid and no combine.paid", got)
	}
	l.Store = real
	res, err := l.ApplyCombine(ctx, combinePaid(c), "notify")
	if err != nil || !res.Announced || res.Writes != 2 {
		t.Fatalf("redelivery: err %v announced %v writes %d, want the two remaining sub-orders", err, res.Announced, res.Writes)
	}
	if got := eventsOf(t, l, c); got[events.OrderPaid] != 3 || got[EventCombinePaid] != 1 {
		t.Errorf("events %v, want 3 order.paid and 1 combine.paid", got)
	}
}

func TestCombineSubOrderSettledByAQueryFirst(t *testing.T) {
	l, _ := newLedger(t)
	ctx := context.Background()
	c := combineOf(t, l, "CART000003", 3)
	txs := combinePaid(c).Transactions()
	// The last sub-order (the announcer) settled alone, by a bill or a query.
	if _, err := l.ApplyTransaction(ctx, &txs[2], "bill"); err != nil {
		t.Fatal(err)
	}
	res, err := l.ApplyCombine(ctx, combinePaid(c), "notify")
	if err != nil || !res.Announced || res.Writes != 3 {
		t.Fatalf("err %v announced %v writes %d: two payments and the announcement", err, res.Announced, res.Writes)
	}
	if got := eventsOf(t, l, c); got[events.OrderPaid] != 3 || got[EventCombinePaid] != 1 {
		t.Errorf("events %v", got)
	}
}

func TestCombineAnnouncerMetBeforeTheEnd(t *testing.T) {
	l, _ := newLedger(t)
	ctx := context.Background()
	c := combineOf(t, l, "CART000004", 4)
	ct := combinePaid(c)
	ct.SubOrders[1], ct.SubOrders[3] = ct.SubOrders[3], ct.SubOrders[1] // the announcer second
	res, err := l.ApplyCombine(ctx, ct, "notify")
	if err != nil || !res.Announced || !res.Paid {
		t.Fatalf("err %v announced %v paid %v", err, res.Announced, res.Paid)
	}
	if got := eventsOf(t, l, c); got[events.OrderPaid] != 4 || got[EventCombinePaid] != 1 {
		t.Errorf("events %v", got)
	}
}

func TestCombineWithAFailedSubOrderIsNotAnnounced(t *testing.T) {
	l, _ := newLedger(t)
	ctx := context.Background()
	c := combineOf(t, l, "CART000005", 3)
	ct := combinePaid(c)
	ct.SubOrders[2].TradeState, ct.SubOrders[2].TransactionID, ct.SubOrders[2].SuccessTime = wechatpay.TradeStatePayError, "", ""
	res, err := l.ApplyCombine(ctx, ct, "notify")
	// Two payments and the failure recorded: three writes.
	if err != nil || res.Announced || res.Paid || res.Writes != 3 {
		t.Fatalf("err %v announced %v paid %v writes %d", err, res.Announced, res.Paid, res.Writes)
	}
	failed, err := l.Attempt(ctx, ct.SubOrders[2].SubMchID, ct.SubOrders[2].OutTradeNo)
	if err != nil || failed.Status() != wechatpay.TradeStatePayError || len(events.Entries(failed.Record())) != 0 {
		t.Fatalf("failed sub-order: %+v %v", failed, err)
	}
	// Once recorded, the same result writes nothing.
	if res, err := l.ApplyCombine(ctx, ct, "notify"); err != nil || res.Writes != 0 {
		t.Fatalf("repeat: writes %d, %v", res.Writes, err)
	}
}

func TestCombinePaymentOfTheWrongAmountIsReviewed(t *testing.T) {
	l, lg := newLedger(t)
	ctx := context.Background()
	c := combineOf(t, l, "CART000006", 2)
	ct := combinePaid(c)
	ct.SubOrders[0].Amount.TotalAmount = 1
	res, err := l.ApplyCombine(ctx, ct, "notify")
	if err != nil || res.Announced || res.Paid {
		t.Fatalf("err %v announced %v paid %v", err, res.Announced, res.Paid)
	}
	if res.Results[0].Outcome != Review || lg.loud() != 1 {
		t.Errorf("outcome %s, loud %d: the wrong amount is a REVIEW, loud once", res.Results[0].Outcome, lg.loud())
	}
}

func TestReservingASubOrderHeldByAnotherOrderFails(t *testing.T) {
	l, _ := newLedger(t)
	ctx := context.Background()
	if _, err := l.CreateOrder(ctx, NewOrder{MchID: "sub2", OrderID: "CART000007-2", Amount: 5}); err != nil {
		t.Fatal(err)
	}
	subs := []SubOrder{{OrderID: "CART000007-1", SubMchID: "sub1", Amount: 100}, {OrderID: "CART000007-2", SubMchID: "sub2", Amount: 200}}
	c, err := l.createCombine(ctx, NewCombine{Owner: mch, OrderID: "CART000007", SubOrders: subs})
	if err != nil {
		t.Fatal(err)
	}
	var taken *SubOrderTakenError
	if _, err := l.ReserveSubOrders(ctx, c); !errors.As(err, &taken) || taken.OrderID != "CART000007-2" {
		t.Fatalf("reserve: %v, want the taken sub-order", err)
	}
	// The combine exists: what was reserved for it stays (never removed).
	if o, err := l.Attempt(ctx, "sub1", "CART000007-1"); err != nil || o.Combine == nil || o.Combine.CombineNo != "CART000007" {
		t.Errorf("the sub-order reserved for the combine: %+v %v", o, err)
	}
	if o, err := l.Attempt(ctx, "sub2", "CART000007-2"); err != nil || o.Combine != nil || o.Amount != 5 {
		t.Errorf("the other order was touched: %+v %v", o, err)
	}
}

// oneByOne is a store without a multi-record write (as Redis and DynamoDB): PlaceCombine
// writes one record at a time.
type oneByOne struct{ store.Store }

// On a store without a multi-record write, PlaceCombine reserves the sub-orders first
// and the combine last: a refusal (a sub-order held by another order) leaves nothing
// it wrote, and no combine record was ever visible. A sub-order another create of the
// same attempt adopted meanwhile is never removed by the refused one's undo.
func TestPlaceCombineOneByOne(t *testing.T) {
	l, _ := newLedger(t)
	ctx := context.Background()
	l.Store = oneByOne{l.Store}
	if _, err := l.CreateOrder(ctx, NewOrder{MchID: "sub2", OrderID: "CART000010-2", Amount: 5}); err != nil {
		t.Fatal(err)
	}
	subs := []SubOrder{{OrderID: "CART000010-1", SubMchID: "sub1", Amount: 100}, {OrderID: "CART000010-2", SubMchID: "sub2", Amount: 200}}
	var taken *SubOrderTakenError
	if _, _, err := l.PlaceCombine(ctx, NewCombine{Owner: mch, OrderID: "CART000010", SubOrders: subs}); !errors.As(err, &taken) || taken.Holder != "CART000010-2" {
		t.Fatalf("place: %v, want the taken sub-order", err)
	}
	if _, err := l.Attempt(ctx, "sub1", "CART000010-1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("a refused reservation left its sub-order: %v", err)
	}
	if _, err := l.CombineAttempt(ctx, mch, "CART000010"); !errors.Is(err, ErrNotFound) {
		t.Errorf("a refused reservation wrote its combine: %v", err)
	}
	if o, err := l.Attempt(ctx, "sub2", "CART000010-2"); err != nil || o.Combine != nil || o.Amount != 5 {
		t.Errorf("the other order was touched: %+v %v", o, err)
	}
	// A sub-order written by one create (which the refusal will undo), adopted by
	// another of the same attempt before the undo: the adoption moved its version, so
	// the undo conditioned on the version written leaves it.
	subs[1].OrderID = "CART000010-3"
	c, placed, err := l.PlaceCombine(ctx, NewCombine{Owner: mch, OrderID: "CART000010", SubOrders: subs})
	if err != nil || len(placed) != 2 || c.CombineNo != "CART000010" {
		t.Fatalf("place: %+v %v", placed, err)
	}
	if _, _, err := l.PlaceCombine(ctx, NewCombine{Owner: mch, OrderID: "CART000010", SubOrders: subs}); !errors.As(err, new(*CombineExistsError)) {
		t.Fatalf("again: %v", err)
	}
	adopted, err := l.Attempt(ctx, "sub1", "CART000010-1")
	if err != nil || adopted.Record().Version <= placed[0].Record().Version {
		t.Fatalf("the sub-order met again is adopted with a write: %+v %v", adopted, err)
	}
	if err := l.abandon(ctx, placed[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Attempt(ctx, "sub1", "CART000010-1"); err != nil {
		t.Errorf("an adopted sub-order was removed by its creator's undo: %v", err)
	}
}

func TestRepricedCombineMovesItsSubOrders(t *testing.T) {
	l, _ := newLedger(t)
	ctx := context.Background()
	c1 := combineOf(t, l, "CART000008", 2)
	subs := append([]SubOrder(nil), c1.SubOrders...)
	subs[0].Amount = 150
	c2, err := l.createCombine(ctx, NewCombine{Owner: mch, OrderID: "CART000008", Attempt: 2, SubOrders: subs})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.ReserveSubOrders(ctx, c2); err != nil {
		t.Fatal(err)
	}
	if c2.CombineNo != "CART000008_2" || c2.SubOrders[0].OutTradeNo != "CART000008-1_2" {
		t.Fatalf("attempt 2 numbers %s %s", c2.CombineNo, c2.SubOrders[0].OutTradeNo)
	}
	if _, _, err := l.RequestCombineClose(ctx, c1, now.Add(5*60e9), "reprice"); err != nil {
		t.Fatal(err)
	}
	h, err := l.Combine(ctx, mch, "CART000008")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.PointCombine(ctx, h.First, 1, 2); err != nil {
		t.Fatal(err)
	}
	if err := l.PointSubOrders(ctx, c2); err != nil {
		t.Fatal(err)
	}
	h, err = l.Combine(ctx, mch, "CART000008")
	if err != nil || h.Current.CombineNo != "CART000008_2" {
		t.Fatalf("combine current %v %v", h, err)
	}
	so, err := l.Order(ctx, "sub1", "CART000008-1")
	if err != nil || so.Current.OutTradeNo != "CART000008-1_2" || so.Current.Amount != 150 {
		t.Fatalf("sub-order reads %+v %v, want attempt 2 of 150 fen", so.Current, err)
	}
	// A payment of the replaced attempt's sub-order is kept for review, never lost.
	res, err := l.ApplyCombine(ctx, combinePaid(c1), "notify")
	if err != nil || res.Paid || res.Results[0].Outcome != Review {
		t.Fatalf("late payment of attempt 1: err %v paid %v outcome %s", err, res.Paid, res.Results[0].Outcome)
	}
}

func TestAdvanceReturn(t *testing.T) {
	l, lg := newLedger(t)
	ctx := context.Background()
	o := order(t, l, "ADV0000001", 800)
	if _, err := l.ApplyTransaction(ctx, paid("ADV0000001", "4200000000000000000000000001", 800), "notify"); err != nil {
		t.Fatal(err)
	}
	o, _ = l.Attempt(ctx, mch, o.OutTradeNo)
	rf, err := l.RequestRefund(ctx, o, RefundRequest{OutRefundNo: "RFADV1", Amount: 300, Advance: true})
	if err != nil || rf.Advance == nil {
		t.Fatalf("refund %+v %v: the advance is recorded with the request", rf, err)
	}
	if rf.AdvanceOwed() {
		t.Fatal("a PROCESSING refund owes no return yet")
	}
	res, err := l.ApplyRefund(ctx, &wechatpay.RefundNotice{MchID: mch, OutTradeNo: "ADV0000001", TransactionID: "4200000000000000000000000001",
		OutRefundNo: "RFADV1", RefundID: "50300000001", RefundStatus: wechatpay.RefundStatusSuccess, Amount: wechatpay.RefundAmount{Refund: 300, Total: 800}}, "notify")
	if err != nil {
		t.Fatal(err)
	}
	rf = res.Refund
	if idx, _ := events.Schedule(rf.Record().Attrs); !rf.AdvanceOwed() || idx != PendingAdvanceReturns {
		t.Fatalf("succeeded refund: owed %v schedule %q", rf.AdvanceOwed(), idx)
	}
	ret := &wechatpay.ReturnAdvance{RefundID: "50300000001", AdvanceReturnID: "R1", ReturnAmount: 300, Result: wechatpay.ReturnAdvanceProcessing}
	r1, err := l.RecordAdvanceReturn(ctx, rf, ret, false, "reconcile")
	if err != nil || r1.Refund.Advance.State != wechatpay.ReturnAdvanceProcessing || !r1.Refund.AdvanceOwed() {
		t.Fatalf("processing: %+v %v", r1.Refund.Advance, err)
	}
	ret.Result = wechatpay.ReturnAdvanceFailed
	r2, err := l.RecordAdvanceReturn(ctx, r1.Refund, ret, false, "reconcile")
	if err != nil || r2.Outcome != Review || r2.Refund.AdvanceOwed() || lg.loud() != 1 {
		t.Fatalf("failed: outcome %s owed %v loud %d err %v", r2.Outcome, r2.Refund.AdvanceOwed(), lg.loud(), err)
	}
	if r3, err := l.RecordAdvanceReturn(ctx, r2.Refund, ret, false, "reconcile"); err != nil || r3.Outcome != Duplicate {
		t.Fatalf("repeat: %s %v", r3.Outcome, err)
	}
}

func TestPlaceCombineIsAllOrNothing(t *testing.T) {
	l, _ := newLedger(t)
	ctx := context.Background()
	if _, err := l.CreateOrder(ctx, NewOrder{MchID: "sub2", OrderID: "CART000009-2", Amount: 5}); err != nil {
		t.Fatal(err)
	}
	cs := &storetest.Counting{Store: l.Store}
	l.Store = cs
	subs := []SubOrder{{OrderID: "CART000009-1", SubMchID: "sub1", Amount: 100}, {OrderID: "CART000009-2", SubMchID: "sub2", Amount: 200},
		{OrderID: "CART000009-3", SubMchID: "sub3", Amount: 300}}
	var taken *SubOrderTakenError
	if _, _, err := l.PlaceCombine(ctx, NewCombine{Owner: mch, OrderID: "CART000009", SubOrders: subs}); !errors.As(err, &taken) || taken.Holder != "CART000009-2" {
		t.Fatalf("place: %v, want the taken sub-order", err)
	}
	if cs.Applied.Load() != 0 {
		t.Errorf("%d writes applied by a refused reservation, want none", cs.Applied.Load())
	}
	subs[1].OrderID = "CART000009-4"
	w0 := cs.Writes.Load()
	c, placed, err := l.PlaceCombine(ctx, NewCombine{Owner: mch, OrderID: "CART000009", SubOrders: subs})
	if err != nil || len(placed) != 3 || !placed[2].Combine.Last || placed[0].Combine.CombineNo != c.CombineNo {
		t.Fatalf("place: %+v %v", placed, err)
	}
	if w := cs.Writes.Load() - w0; w != 1 {
		t.Errorf("%d store writes to place a combine of 3, want 1 (one multi-record write)", w)
	}
	// Placed again (a resumed create): the existing records are this attempt's.
	if _, _, err := l.PlaceCombine(ctx, NewCombine{Owner: mch, OrderID: "CART000009", SubOrders: subs}); !errors.As(err, new(*CombineExistsError)) {
		t.Fatalf("again: %v", err)
	}
	res, err := l.ApplyCombine(ctx, combinePaid(c), "notify")
	if err != nil || !res.Announced {
		t.Fatalf("paying a placed combine: %v %v", res.Announced, err)
	}
}

// BenchmarkCombineNotification applies a combine notification of n = 2, 10, 50
// sub-orders (bbolt): conditional writes per notification (goal: at most n) and the
// median latency, and the same for its redelivery (no write).
//
//	go test -run '^$' -bench BenchmarkCombineNotification -benchtime 50x ./shared/payment/
func BenchmarkCombineNotification(b *testing.B) {
	for _, n := range []int{2, 10, 50} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			l, _ := newLedger(b)
			ctx := context.Background()
			cs := &storetest.Counting{Store: l.Store}
			var lat, again []float64
			var writes, reads int64
			i := 0
			for b.Loop() {
				i++
				l.Store = cs.Store
				c := combineOf(b, l, fmt.Sprintf("BENCH%06d", i), n)
				ct := combinePaid(c)
				l.Store = cs
				w0, r0 := cs.Writes.Load(), cs.Reads.Load()
				t0 := time.Now()
				if res, err := l.ApplyCombine(ctx, ct, "notify"); err != nil || !res.Announced {
					b.Fatalf("%v %v", res.Announced, err)
				}
				lat = append(lat, float64(time.Since(t0).Microseconds())/1000)
				writes += cs.Writes.Load() - w0
				reads += cs.Reads.Load() - r0
				w1 := cs.Writes.Load()
				t0 = time.Now()
				if _, err := l.ApplyCombine(ctx, ct, "notify"); err != nil || cs.Writes.Load() != w1 {
					b.Fatalf("redelivery wrote %d, %v", cs.Writes.Load()-w1, err)
				}
				again = append(again, float64(time.Since(t0).Microseconds())/1000)
			}
			b.ReportMetric(float64(writes)/float64(i), "writes/notification")
			b.ReportMetric(float64(reads)/float64(i), "reads/notification")
			b.ReportMetric(medianF(lat), "median-ms")
			b.ReportMetric(medianF(again), "redelivery-median-ms")
		})
	}
}

func medianF(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// Two creates of one combine attempt with other content, one record at a time: the
// first reserved the sub-orders (its amounts) and stopped before its combine; the
// second adopted them and wrote the combine (its amounts), which is what WeChat Pay
// is asked for. Before the combine is placed, SyncSubOrders makes each sub-order carry
// what the combine places for it, so the payment matches instead of going to REVIEW.
func TestSubOrdersCarryWhatTheirCombinePlaces(t *testing.T) {
	l, lg := newLedger(t)
	ctx := context.Background()
	l.Store = oneByOne{l.Store}
	sub := func(amount1, amount2 int64, desc string) []SubOrder {
		return []SubOrder{{OrderID: "CART000011-1", SubMchID: "sub1", Amount: amount1, Description: desc},
			{OrderID: "CART000011-2", SubMchID: "sub2", Amount: amount2, Description: desc}}
	}
	first := &Combine{Owner: mch, CombineNo: "CART000011", OrderID: "CART000011", Attempt: 1, AppID: "wxapp", Scene: "native",
		SubOrders: sub(100, 200, "first")}
	for i := range first.SubOrders {
		first.SubOrders[i].OutTradeNo = first.SubOrders[i].OrderID
	}
	if _, err := l.ReserveSubOrders(ctx, first); err != nil {
		t.Fatal(err)
	}
	c, subs, err := l.PlaceCombine(ctx, NewCombine{Owner: mch, AppID: "wxapp", OrderID: "CART000011", Scene: "native", SubOrders: sub(150, 250, "second")})
	if err != nil {
		t.Fatal(err)
	}
	if subs[0].Amount != 100 || c.SubOrders[0].Amount != 150 {
		t.Fatalf("adopted sub-order %d fen, combine places %d: the race this test is about did not happen", subs[0].Amount, c.SubOrders[0].Amount)
	}
	synced, err := l.SyncSubOrders(ctx, c, subs)
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range synced {
		stored, err := l.Attempt(ctx, o.Owner, o.OutTradeNo)
		if err != nil || stored.Amount != c.SubOrders[i].Amount || stored.Create.Description != "second" || o.Amount != stored.Amount {
			t.Fatalf("sub-order %d after sync: %+v %v, want %d fen", i, stored, err, c.SubOrders[i].Amount)
		}
	}
	// In agreement: nothing is written.
	cs := &storetest.Counting{Store: l.Store}
	l.Store = cs
	if _, err := l.SyncSubOrders(ctx, c, synced); err != nil || cs.Writes.Load() != 0 || cs.Reads.Load() != 0 {
		t.Fatalf("sync of agreeing sub-orders: %v, %d reads %d writes", err, cs.Reads.Load(), cs.Writes.Load())
	}
	res, err := l.ApplyCombine(ctx, combinePaid(c), "notify")
	if err != nil || !res.Paid || !res.Announced || lg.loud() != 0 {
		t.Fatalf("paying the combine: paid %v announced %v loud %d %v", res.Paid, res.Announced, lg.loud(), err)
	}
}
