package payment_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/paysls/wxpay/shared/events"
	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/store"
	"github.com/paysls/wxpay/shared/wechatpay"
)

func ledger(st store.Store) *payment.Ledger {
	return &payment.Ledger{Store: st, Now: func() time.Time { return now }, Merchants: []string{"1900000001"}}
}

func get(t *testing.T, st store.Store, key string) store.Record {
	t.Helper()
	rec, err := st.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func eventTypes(rec store.Record) []string {
	var out []string
	for _, e := range events.Entries(rec) {
		out = append(out, e.Type)
	}
	slices.Sort(out)
	return out
}

// Issue 8 defect 1: A pays, B pays (REVIEW), C pays: every transaction stays on record,
// and a retry of any of them writes nothing.
func TestEveryTransactionIsKept(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	l := ledger(st)
	pendingOrder(t, st, "1900000001", "KEEPALL001", "100")
	key := payment.OrderKey("1900000001", "KEEPALL001")
	for i, txid := range []string{"4200000A", "4200000B", "4200000C"} {
		r, err := l.ApplyTransaction(ctx, paid("1900000001", "KEEPALL001", txid, 100), "notify")
		want := payment.Review
		if i == 0 {
			want = payment.Applied
		}
		if err != nil || r.Outcome != want || r.Event == nil {
			t.Fatalf("%s: %v %v %v", txid, r.Outcome, r.Event, err)
		}
	}
	rec := get(t, st, key)
	if rec.Attrs[payment.AttrTransactionID] != "4200000A" || len(payment.Conflicts(rec)) != 2 || rec.Attrs[payment.AttrState] != payment.StateReview {
		t.Fatalf("record lost a payment: %+v", rec.Attrs)
	}
	for _, txid := range []string{"4200000A", "4200000B", "4200000C"} {
		r, err := l.ApplyTransaction(ctx, paid("1900000001", "KEEPALL001", txid, 100), "notify")
		if err != nil || r.Outcome != payment.Duplicate || r.Event != nil {
			t.Fatalf("retry of %s: %v %v", txid, r.Outcome, err)
		}
	}
	if again := get(t, st, key); again.Version != rec.Version {
		t.Fatalf("retries rewrote the record: version %d → %d", rec.Version, again.Version)
	}
	if got := eventTypes(rec); fmt.Sprint(got) != "[order.paid order.review order.review]" {
		t.Fatalf("events = %v", got)
	}
}

// Amount mismatch X (REVIEW) followed by Y keeps X and Y.
func TestMismatchThenPaymentKeepsBoth(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	l := ledger(st)
	pendingOrder(t, st, "1900000001", "KEEPALL002", "100")
	for _, tx := range []*wechatpay.Transaction{paid("1900000001", "KEEPALL002", "4200000X", 1), paid("1900000001", "KEEPALL002", "4200000Y", 100)} {
		if r, err := l.ApplyTransaction(ctx, tx, "notify"); err != nil || r.Outcome != payment.Review {
			t.Fatalf("%s: %v %v", tx.TransactionID, r.Outcome, err)
		}
	}
	rec := get(t, st, payment.OrderKey("1900000001", "KEEPALL002"))
	if n := len(payment.Conflicts(rec)); n != 2 || rec.Attrs[payment.AttrTransactionID] != "" {
		t.Fatalf("want both payments kept as conflicts, none taken as the payment: %d, %+v", n, rec.Attrs)
	}
}

// Concurrent copies of two conflicting payments: no error (it used to be 500 on a
// version race), both kept, one paid and one review event.
func TestConcurrentConflictingPayments(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	l := ledger(st)
	pendingOrder(t, st, "1900000001", "RACE000001", "100")
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			txid := []string{"4200000P", "4200000Q"}[i%2]
			if _, err := l.ApplyTransaction(ctx, paid("1900000001", "RACE000001", txid, 100), "notify"); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	rec := get(t, st, payment.OrderKey("1900000001", "RACE000001"))
	if rec.Attrs[payment.AttrTransactionID] == "" || len(payment.Conflicts(rec)) != 1 || fmt.Sprint(eventTypes(rec)) != "[order.paid order.review]" {
		t.Fatalf("record = %+v events %v", rec.Attrs, eventTypes(rec))
	}
}

// Issue 8 defect 3: results that can never succeed are ErrInvalid (notify answers 400).
func TestInvalidResults(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	l := ledger(st)
	notPay := paid("1900000001", "INVALID001", "42", 100)
	notPay.TradeState = wechatpay.TradeStateNotPay
	noAmount := paid("1900000001", "INVALID002", "42", 100)
	noAmount.Amount = nil
	long := paid("1900000001", "X234567890123456789012345678901234", "42", 100)
	for name, tx := range map[string]*wechatpay.Transaction{"not paid": notPay, "no amount": noAmount, "long out_trade_no": long} {
		if _, err := l.ApplyTransaction(ctx, tx, "notify"); !errors.Is(err, payment.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	proc := &wechatpay.RefundNotice{MchID: "1900000001", OutRefundNo: "R1", RefundStatus: wechatpay.RefundStatusProcessing, Amount: wechatpay.RefundAmount{Refund: 1}}
	if _, err := l.ApplyRefund(ctx, proc, "notify"); !errors.Is(err, payment.ErrInvalid) {
		t.Errorf("PROCESSING refund: %v, want ErrInvalid", err)
	}
	page, _ := st.ListPending(ctx, events.IndexOutbox, store.ListOptions{})
	if len(page.Records) != 0 {
		t.Fatalf("invalid input wrote %d records", len(page.Records))
	}
}

// Issue 8 defect 7: a foreign merchant's payment never becomes a paid order here.
func TestForeignMerchantKeptForReview(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	l := ledger(st)
	tx := paid("1900000999", "FOREIGN001", "4200000F", 100)
	r, err := l.ApplyTransaction(ctx, tx, "notify")
	if err != nil || r.Outcome != payment.Review || r.Event == nil || r.Event.Type != events.OrderReview {
		t.Fatalf("foreign: %+v %v", r, err)
	}
	if _, err := st.Get(ctx, payment.OrderKey("1900000999", "FOREIGN001")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a paid order was created under the foreign merchant: %v", err)
	}
	if r, err := l.ApplyTransaction(ctx, tx, "notify"); err != nil || r.Outcome != payment.Duplicate {
		t.Fatalf("repeat: %v %v", r.Outcome, err)
	}
	// Partner mode: the account is sp_mchid; a sub-merchant of ours is fine.
	sub := paid("1900000001", "PARTNER001", "4200000S", 100)
	sub.SpMchID, sub.SubMchID, sub.MchID = "1900000001", "1900000777", ""
	if r, err := l.ApplyTransaction(ctx, sub, "notify"); err != nil || r.Outcome != payment.Applied {
		t.Fatalf("partner payment: %v %v", r.Outcome, err)
	}
}

// Issue 8 defect 2: SUCCESS then ABNORMAL goes to REVIEW once and keeps both; ABNORMAL
// then SUCCESS is a legitimate sequence.
func TestRefundResults(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	l := ledger(st)
	n := func(no, status string) *wechatpay.RefundNotice {
		return &wechatpay.RefundNotice{MchID: "1900000001", OutTradeNo: "ORDERRF001", OutRefundNo: no, RefundID: "503" + no,
			RefundStatus: status, Amount: wechatpay.RefundAmount{Refund: 40, Total: 100}}
	}
	if r, err := l.ApplyRefund(ctx, n("RF1", "SUCCESS"), "notify"); err != nil || r.Outcome != payment.Applied || r.Event.Type != events.RefundSucceeded {
		t.Fatalf("success: %+v %v", r, err)
	}
	r, err := l.ApplyRefund(ctx, n("RF1", "ABNORMAL"), "notify")
	if err != nil || r.Outcome != payment.Review {
		t.Fatalf("abnormal after success: %v %v", r.Outcome, err)
	}
	rec := get(t, st, payment.RefundKey("1900000001", "RF1"))
	for range 3 {
		if r, err := l.ApplyRefund(ctx, n("RF1", "ABNORMAL"), "notify"); err != nil || r.Outcome != payment.Duplicate {
			t.Fatalf("retry: %v %v", r.Outcome, err)
		}
		if r, err := l.ApplyRefund(ctx, n("RF1", "SUCCESS"), "notify"); err != nil || r.Outcome != payment.Duplicate {
			t.Fatalf("retry of the original: %v %v", r.Outcome, err)
		}
	}
	after := get(t, st, payment.RefundKey("1900000001", "RF1"))
	if after.Version != rec.Version || after.Attrs[payment.AttrPrevState] != "SUCCESS" || len(payment.Conflicts(after)) != 1 {
		t.Fatalf("retries must not rewrite; original kept: v%d→v%d %+v", rec.Version, after.Version, after.Attrs)
	}
	if r, err := l.ApplyRefund(ctx, n("RF2", "ABNORMAL"), "notify"); err != nil || r.Outcome != payment.Applied || r.Event.Type != events.RefundFailed {
		t.Fatalf("abnormal: %+v %v", r, err)
	}
	if r, err := l.ApplyRefund(ctx, n("RF2", "SUCCESS"), "notify"); err != nil || r.Outcome != payment.Applied || r.Event.Type != events.RefundSucceeded {
		t.Fatalf("abnormal then success must apply: %+v %v", r, err)
	}
}

func paidOrder(t *testing.T, st store.Store, no string, amount int64) string {
	t.Helper()
	pendingOrder(t, st, "1900000001", no, fmt.Sprint(amount))
	if _, err := ledger(st).ApplyTransaction(context.Background(), paid("1900000001", no, "42"+no, amount), "notify"); err != nil {
		t.Fatal(err)
	}
	return payment.OrderKey("1900000001", no)
}

// Two concurrent refunds can never exceed the paid amount.
func TestReserveRefundIsAtomic(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	l := ledger(st)
	key := paidOrder(t, st, "REFUNDS001", 100)
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, over := 0, 0
	won := ""
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := l.ReserveRefund(ctx, key, fmt.Sprintf("RFA%03d", i), 30)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
				won = fmt.Sprintf("RFA%03d", i)
			case errors.Is(err, payment.ErrOverRefund):
				over++
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if ok != 3 || over != 7 || payment.Fen(get(t, st, key), payment.AttrRefundReserved) != 90 {
		t.Fatalf("ok=%d over=%d reserved=%d", ok, over, payment.Fen(get(t, st, key), payment.AttrRefundReserved))
	}
	if r, err := l.ReserveRefund(ctx, key, won, 30); err != nil || r.Outcome != payment.Duplicate {
		t.Fatalf("same out_refund_no again: %v %v", r.Outcome, err)
	}
	if _, err := l.ReserveRefund(ctx, key, won, 20); !errors.Is(err, payment.ErrRefundConflict) {
		t.Fatalf("same out_refund_no, other amount: %v", err)
	}
}

// Refunds that add up to the order make it REFUND with one order.refunded event; a
// closed refund releases its reservation.
func TestRefundsSyncToOrder(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	l := ledger(st)
	key := paidOrder(t, st, "REFUNDS002", 100)
	for _, no := range []string{"RFB1", "RFB2", "RFB3"} {
		if _, err := l.ReserveRefund(ctx, key, no, 50); err != nil && no != "RFB3" {
			t.Fatal(err)
		}
	}
	notice := func(no, status string) *wechatpay.RefundNotice {
		return &wechatpay.RefundNotice{MchID: "1900000001", OutTradeNo: "REFUNDS002", OutRefundNo: no, RefundID: "5" + no,
			RefundStatus: status, Amount: wechatpay.RefundAmount{Refund: 50, Total: 100}}
	}
	if _, err := l.RecordRefundRequest(ctx, payment.RefundRequest{MchID: "1900000001", OutRefundNo: "RFB1", OutTradeNo: "REFUNDS002", Amount: 50}); err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct{ no, status string }{{"RFB1", "SUCCESS"}, {"RFB2", "CLOSED"}} {
		if _, err := l.ApplyRefund(ctx, notice(step.no, step.status), "notify"); err != nil {
			t.Fatal(err)
		}
	}
	rec := get(t, st, key)
	if rec.Attrs[payment.AttrState] != wechatpay.TradeStateRefund || payment.Fen(rec, payment.AttrRefundReserved) != 50 || payment.Fen(rec, payment.AttrRefundSettled) != 50 {
		t.Fatalf("after one success and one closed: %+v", rec.Attrs)
	}
	if _, err := l.ReserveRefund(ctx, key, "RFB4", 50); err != nil {
		t.Fatalf("the closed refund's 50 must be refundable again: %v", err)
	}
	if _, err := l.ApplyRefund(ctx, notice("RFB4", "SUCCESS"), "notify"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.ApplyRefund(ctx, notice("RFB4", "SUCCESS"), "notify"); err != nil {
		t.Fatal(err)
	}
	rec = get(t, st, key)
	if got := fmt.Sprint(eventTypes(rec)); got != "[order.paid order.refunded]" || payment.Fen(rec, payment.AttrRefundSettled) != 100 {
		t.Fatalf("events %s settled %d", got, payment.Fen(rec, payment.AttrRefundSettled))
	}
	if r := get(t, st, payment.RefundKey("1900000001", "RFB4")); r.Attrs[payment.AttrOrderSync] != "" {
		t.Fatalf("order sync still owed: %+v", r.Attrs)
	}
}

// Paid after close, and paid after a close was requested: REVIEW, never silently paid.
func TestPaidAfterClose(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	l := ledger(st)
	l.RefundLatePayments = true
	pendingOrder(t, st, "1900000001", "LATEPAY001", "100")
	pendingOrder(t, st, "1900000001", "LATEPAY002", "100")
	k1, k2 := payment.OrderKey("1900000001", "LATEPAY001"), payment.OrderKey("1900000001", "LATEPAY002")
	if r, err := l.MarkClosed(ctx, k1, "reconcile"); err != nil || r.Outcome != payment.Applied || r.Event.Type != events.OrderClosed {
		t.Fatalf("close: %+v %v", r, err)
	}
	if r, err := l.MarkClosed(ctx, k1, "reconcile"); err != nil || r.Outcome != payment.Duplicate {
		t.Fatalf("close again: %v %v", r.Outcome, err)
	}
	if r, err := l.ApplyTransaction(ctx, paid("1900000001", "LATEPAY001", "42L1", 100), "notify"); err != nil || r.Outcome != payment.Review {
		t.Fatalf("paid after close: %v %v", r.Outcome, err)
	}
	rec := get(t, st, k1)
	if rec.Attrs[events.AttrSchedIndex] != payment.PendingLateRefunds || rec.Pending != events.IndexOutbox {
		t.Fatalf("late payment must owe an event, then a refund: %+v pending %q", rec.Attrs, rec.Pending)
	}
	if r, err := l.RequestClose(ctx, k2, now.Add(5*time.Minute)); err != nil || r.Outcome != payment.Applied {
		t.Fatalf("request close: %v %v", r.Outcome, err)
	}
	if r, err := l.ApplyTransaction(ctx, paid("1900000001", "LATEPAY002", "42L2", 100), "notify"); err != nil || r.Outcome != payment.Review {
		t.Fatalf("paid after close requested: %v %v", r.Outcome, err)
	}
	if r, err := l.MarkClosed(ctx, k2, "reconcile"); err != nil || r.Outcome != payment.Refused {
		t.Fatalf("closing an order under review: %v %v", r.Outcome, err)
	}
}

// The outbox: every transition's event is listed once, delivered, and the record then
// returns to its own schedule (or none).
func TestOutboxPlacement(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	l := ledger(st)
	o, err := l.CreateOrder(ctx, payment.NewOrder{MchID: "1900000001", AppID: "wxapp", OutTradeNo: "OUTBOX0001", OrderID: "OUTBOX0001", Amount: 100, Scene: "native", ExpiresAt: now.Add(2 * time.Hour)})
	if err != nil || o.Pending != payment.PendingOrders || !o.PendingSince.Equal(now.Add(time.Minute)) {
		t.Fatalf("create: %+v %v", o, err)
	}
	if _, err := l.CreateOrder(ctx, payment.NewOrder{MchID: "1900000001", OutTradeNo: "OUTBOX0001", Amount: 100}); !errors.Is(err, store.ErrConditionFailed) {
		t.Fatalf("create twice: %v", err)
	}
	r, err := l.ApplyTransaction(ctx, paid("1900000001", "OUTBOX0001", "42OB", 100), "notify")
	if err != nil || r.Record.Pending != events.IndexOutbox {
		t.Fatalf("paid: %+v %v", r.Record, err)
	}
	owed := events.Owed(r.Record)
	if len(owed) != 1 || owed[0].ID != r.Event.ID {
		t.Fatalf("owed = %+v", owed)
	}
	key, attr, err := events.Locate(r.Event.ID)
	if err != nil || key != r.Record.Key || attr != owed[0].Attr {
		t.Fatalf("locate %s = %s %s %v", r.Event.ID, key, attr, err)
	}
}
