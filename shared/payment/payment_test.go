package payment_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paysls/wxpay/shared/events"
	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/store"
	"github.com/paysls/wxpay/shared/store/boltstore"
	"github.com/paysls/wxpay/shared/wechatpay"
)

var now = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

func openStore(t *testing.T) store.Store {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "test.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// pendingOrder writes an order as createorder will: NOTPAY, in the pending index.
func pendingOrder(t *testing.T, st store.Store, mchid, no string, amount string) {
	t.Helper()
	_, err := st.Put(context.Background(), store.Record{
		Key:     payment.OrderKey(mchid, no),
		Attrs:   map[string]string{payment.AttrState: wechatpay.TradeStateNotPay, payment.AttrAmount: amount, payment.AttrMchID: mchid},
		Pending: payment.PendingOrders, PendingSince: now.Add(-time.Minute),
	}, store.Condition{Absent: true})
	if err != nil {
		t.Fatal(err)
	}
}

func paid(mchid, no, txid string, total int64) *wechatpay.Transaction {
	return &wechatpay.Transaction{MchID: mchid, AppID: "wxapp", OutTradeNo: no, TransactionID: txid,
		TradeState: wechatpay.TradeStateSuccess, SuccessTime: "2026-11-23T18:00:00+08:00",
		Amount: &wechatpay.Amount{Total: total, PayerTotal: total, Currency: "CNY"}}
}

func pendingKeys(t *testing.T, st store.Store) []string {
	t.Helper()
	page, err := st.ListPending(context.Background(), payment.PendingOrders, store.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, r := range page.Records {
		keys = append(keys, r.Key)
	}
	return keys
}

func TestApplyTransactionPaysPendingOrderOnce(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	pendingOrder(t, st, "1900000001", "ORDER000001", "100")
	if got := pendingKeys(t, st); len(got) != 1 {
		t.Fatalf("pending before = %v", got)
	}
	out, rec, err := applyTx(ctx, st, paid("1900000001", "ORDER000001", "4200000001", 100), "notify", now)
	if err != nil || out != payment.Applied {
		t.Fatalf("first apply = %v, %v", out, err)
	}
	if rec.Attrs[payment.AttrState] != wechatpay.TradeStateSuccess || rec.Attrs[payment.AttrTransactionID] != "4200000001" {
		t.Fatalf("record after apply = %+v", rec.Attrs)
	}
	if got := pendingKeys(t, st); len(got) != 0 {
		t.Fatalf("a paid order must leave the pending index, still there: %v", got)
	}
	out, rec2, err := applyTx(ctx, st, paid("1900000001", "ORDER000001", "4200000001", 100), "notify", now.Add(time.Minute))
	if err != nil || out != payment.Duplicate {
		t.Fatalf("second apply = %v, %v; want duplicate", out, err)
	}
	if rec2.Version != rec.Version {
		t.Fatalf("a duplicate must not write: version %d → %d", rec.Version, rec2.Version)
	}
}

func TestApplyTransactionAmountMismatchGoesToReview(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	pendingOrder(t, st, "1900000001", "ORDER000002", "100")
	out, rec, err := applyTx(ctx, st, paid("1900000001", "ORDER000002", "4200000002", 1), "notify", now)
	if err != nil || out != payment.Review {
		t.Fatalf("apply = %v, %v; want review", out, err)
	}
	if rec.Attrs[payment.AttrState] != payment.StateReview || rec.Attrs[payment.AttrReason] == "" {
		t.Fatalf("record = %+v", rec.Attrs)
	}
	// The retry of the same notification is a duplicate, not a second review.
	out, _, err = applyTx(ctx, st, paid("1900000001", "ORDER000002", "4200000002", 1), "notify", now)
	if err != nil || out != payment.Duplicate {
		t.Fatalf("retry = %v, %v; want duplicate", out, err)
	}
	got, err := st.Get(ctx, payment.OrderKey("1900000001", "ORDER000002"))
	if err != nil || got.Attrs[payment.AttrState] != payment.StateReview {
		t.Fatalf("stored = %+v, %v", got.Attrs, err)
	}
}

func TestApplyTransactionPartnerSubMerchantIsItsOwnOrder(t *testing.T) {
	st := openStore(t)
	pendingOrder(t, st, "1900000001", "ORDER000003", "100")
	tx := paid("1900000001", "ORDER000003", "4200000003", 100)
	tx.SubMchID = "1900000009" // partner-mode payment to another sub-merchant: different key
	out, _, err := applyTx(context.Background(), st, tx, "notify", now)
	if err != nil || out != payment.Applied {
		t.Fatalf("other merchant's order is its own record: %v, %v", out, err)
	}
	got, _ := st.Get(context.Background(), payment.OrderKey("1900000001", "ORDER000003"))
	if got.Attrs[payment.AttrState] != wechatpay.TradeStateNotPay {
		t.Fatalf("order of merchant 1900000001 must be untouched, is %+v", got.Attrs)
	}
}

func TestApplyTransactionWrongAppGoesToReview(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	pendingOrder(t, st, "1900000001", "ORDER000012", "100")
	if _, err := st.Update(ctx, payment.OrderKey("1900000001", "ORDER000012"),
		store.Change{Set: map[string]string{payment.AttrAppID: "wxother"}}, store.Condition{}); err != nil {
		t.Fatal(err)
	}
	out, rec, err := applyTx(ctx, st, paid("1900000001", "ORDER000012", "4200000012", 100), "notify", now)
	if err != nil || out != payment.Review || rec.Attrs[payment.AttrReason] == "" {
		t.Fatalf("apply = %v, %+v, %v", out, rec.Attrs, err)
	}
}

func TestApplyTransactionSecondPaymentGoesToReviewKeepingFirst(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	pendingOrder(t, st, "1900000001", "ORDER000004", "100")
	if _, _, err := applyTx(ctx, st, paid("1900000001", "ORDER000004", "4200000004", 100), "notify", now); err != nil {
		t.Fatal(err)
	}
	out, rec, err := applyTx(ctx, st, paid("1900000001", "ORDER000004", "4200000005", 100), "notify", now)
	if err != nil || out != payment.Review {
		t.Fatalf("second payment = %v, %v", out, err)
	}
	if rec.Attrs[payment.AttrTransactionID] != "4200000004" || len(payment.Conflicts(rec)) != 1 || !strings.Contains(string(payment.Conflicts(rec)[0]), "4200000005") {
		t.Fatalf("first transaction must stay on record, the second beside it: %+v", rec.Attrs)
	}
}

func TestApplyTransactionUnknownOrderIsRecorded(t *testing.T) {
	st := openStore(t)
	out, rec, err := applyTx(context.Background(), st, paid("1900000001", "ELSEWHERE01", "4200000006", 250), "notify", now)
	if err != nil || out != payment.Applied {
		t.Fatalf("apply = %v, %v", out, err)
	}
	if rec.Attrs[payment.AttrAmount] != "250" || rec.Attrs[payment.AttrState] != wechatpay.TradeStateSuccess {
		t.Fatalf("record = %+v", rec.Attrs)
	}
}

func TestApplyTransactionRejectsNonSuccess(t *testing.T) {
	st := openStore(t)
	tx := paid("1900000001", "ORDER000007", "4200000007", 100)
	tx.TradeState = wechatpay.TradeStateNotPay
	if _, _, err := applyTx(context.Background(), st, tx, "notify", now); err == nil {
		t.Fatal("NOTPAY applied as a payment")
	}
	if _, err := st.Get(context.Background(), payment.OrderKey("1900000001", "ORDER000007")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("bad input must change nothing, Get = %v", err)
	}
}

// Many deliveries of one notification at once: exactly one applies, the rest are
// duplicates, and the record is written once.
func TestApplyTransactionConcurrentDuplicates(t *testing.T) {
	st := openStore(t)
	pendingOrder(t, st, "1900000001", "ORDER000008", "100")
	const n = 16
	var wg sync.WaitGroup
	outcomes := make(chan payment.Outcome, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, _, err := applyTx(context.Background(), st, paid("1900000001", "ORDER000008", "4200000008", 100), "notify", now)
			if err != nil {
				t.Error(err)
			}
			outcomes <- out
		}()
	}
	wg.Wait()
	close(outcomes)
	count := map[payment.Outcome]int{}
	for o := range outcomes {
		count[o]++
	}
	if count[payment.Applied] != 1 || count[payment.Duplicate] != n-1 {
		t.Fatalf("outcomes = %v", count)
	}
	got, _ := st.Get(context.Background(), payment.OrderKey("1900000001", "ORDER000008"))
	if got.Version != 2 {
		t.Fatalf("version = %d, want 2 (created, paid once)", got.Version)
	}
}

func TestApplyRefund(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	n := &wechatpay.RefundNotice{MchID: "1900000001", OutTradeNo: "ORDER000009", TransactionID: "4200000009",
		OutRefundNo: "REFUND000009", RefundID: "50300000009", RefundStatus: wechatpay.RefundStatusSuccess,
		Amount: wechatpay.RefundAmount{Refund: 50, Total: 100}}
	out, rec, err := applyRefund(ctx, st, n, "notify", now)
	if err != nil || out != payment.Applied || rec.Attrs[payment.AttrState] != wechatpay.RefundStatusSuccess {
		t.Fatalf("apply = %v, %+v, %v", out, rec.Attrs, err)
	}
	out, _, err = applyRefund(ctx, st, n, "notify", now)
	if err != nil || out != payment.Duplicate {
		t.Fatalf("duplicate = %v, %v", out, err)
	}
	closed := *n
	closed.RefundStatus = wechatpay.RefundStatusClosed
	out, rec, err = applyRefund(ctx, st, &closed, "notify", now)
	if err != nil || out != payment.Review || rec.Attrs[payment.AttrState] != payment.StateReview {
		t.Fatalf("conflicting result = %v, %+v, %v", out, rec.Attrs, err)
	}
	bad := *n
	bad.OutRefundNo, bad.RefundStatus = "REFUND000010", wechatpay.RefundStatusProcessing
	if _, _, err := applyRefund(ctx, st, &bad, "notify", now); err == nil {
		t.Fatal("PROCESSING is not a refund result")
	}
}

// A PROCESSING refund written by the refund API moves to its result in one write.
func TestApplyRefundFromProcessing(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	key := payment.RefundKey("1900000001", "REFUND000011")
	if _, err := st.Put(ctx, store.Record{Key: key, Attrs: map[string]string{payment.AttrState: wechatpay.RefundStatusProcessing, payment.AttrAmount: "30"},
		Pending: payment.PendingRefunds, PendingSince: now}, store.Condition{Absent: true}); err != nil {
		t.Fatal(err)
	}
	n := &wechatpay.RefundNotice{MchID: "1900000001", OutRefundNo: "REFUND000011", RefundID: "50300000011", RefundStatus: wechatpay.RefundStatusAbnormal, Amount: wechatpay.RefundAmount{Refund: 30, Total: 100}}
	out, rec, err := applyRefund(ctx, st, n, "notify", now)
	if err != nil || out != payment.Applied || rec.Version != 2 || rec.Pending != events.IndexOutbox {
		t.Fatalf("apply = %v, %+v, %v", out, rec, err)
	}
}

// applyTx and applyRefund run one Ledger call at a fixed time, the shape most tests want.
func applyTx(ctx context.Context, st store.Store, tx *wechatpay.Transaction, source string, at time.Time) (payment.Outcome, store.Record, error) {
	r, err := (&payment.Ledger{Store: st, Now: func() time.Time { return at }}).ApplyTransaction(ctx, tx, source)
	return r.Outcome, r.Record, err
}

func applyRefund(ctx context.Context, st store.Store, n *wechatpay.RefundNotice, source string, at time.Time) (payment.Outcome, store.Record, error) {
	r, err := (&payment.Ledger{Store: st, Now: func() time.Time { return at }}).ApplyRefund(ctx, n, source)
	return r.Outcome, r.Record, err
}
