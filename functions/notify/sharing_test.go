package notify_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/paysls/wxpay/shared/events"
	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// A split PROCESSING at WeChat Pay, as the sharing job leaves it.
func sharedSplit(t *testing.T, f *fixture, no string) *payment.Order {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	l := &payment.Ledger{Store: f.st, Now: func() time.Time { return now }}
	plan := &payment.Sharing{API: payment.ShareAPIEcommerce, Planned: true,
		Receivers: []payment.ShareReceiver{{Type: wechatpay.ReceiverMerchant, Account: f.id.MchID, Amount: 30, Description: "佣金"}}}
	if _, err := l.CreateOrder(ctx, payment.NewOrder{MchID: "1900000109", AppID: f.id.AppID, OrderID: no, Amount: 1000, Scene: "native", Sharing: plan}); err != nil {
		t.Fatal(err)
	}
	tx := f.transaction(no, "4200"+no, 1000)
	tx.MchID, tx.SpMchID, tx.SubMchID, tx.SpAppID, tx.AppID = "", f.id.MchID, "1900000109", f.id.AppID, ""
	tx.SuccessTime = wechatpay.FormatTime(now.Add(-2 * time.Minute))
	if _, err := l.ApplyTransaction(ctx, &tx, "test"); err != nil {
		t.Fatal(err)
	}
	o, err := l.Attempt(ctx, "1900000109", no)
	if err != nil {
		t.Fatal(err)
	}
	o, sp, err := l.ReserveSplit(ctx, o)
	if err != nil || sp == nil {
		t.Fatalf("reserve: %v %v", sp, err)
	}
	o, _, err = l.ApplySplit(ctx, o, sp.OutOrderNo, payment.ShareResult{OrderID: "3008" + no, State: wechatpay.ShareProcessing,
		Receivers: []payment.SplitReceiver{{Type: wechatpay.ReceiverMerchant, Account: f.id.MchID, Amount: 30, Result: wechatpay.ShareResultPending}}})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func shareNotice(f *fixture, no string) wechatpay.ProfitSharingNotice {
	n := wechatpay.ProfitSharingNotice{SpMchID: f.id.MchID, SubMchID: "1900000109", TransactionID: "4200" + no, OrderID: "3008" + no,
		OutOrderNo: no + "@S1", SuccessTime: wechatpay.FormatTime(time.Now())}
	n.Receiver.Type, n.Receiver.Account, n.Receiver.Amount, n.Receiver.Description = wechatpay.ReceiverMerchant, f.id.MchID, 30, "佣金"
	return n
}

func shareEvents(t *testing.T, f *fixture, no string) map[string]int {
	t.Helper()
	rec, err := f.st.Get(context.Background(), payment.OrderKey("1900000109", no))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, e := range events.Entries(rec) {
		out[e.Type]++
	}
	return out
}

// PROFITSHARING.SUCCESS (分账动账通知) settles the share it names on its order: the split
// finishes with one profitsharing.succeeded; a redelivery writes nothing; the same
// resource under TRANSACTION.SUCCESS (as merchants report receiving it) is told from a
// payment by its resource and applied the same way; a number this bundle did not make
// is acknowledged and ignored.
func TestProfitSharingNotification(t *testing.T) {
	f := newFixture(t)
	sharedSplit(t, f, "PSN000001")
	body := f.body(t, wechatpay.EventProfitSharingSuccess, shareNotice(f, "PSN000001"))
	for range 2 {
		if w := f.post(t, body, f.signed(t, body)); w.Code != http.StatusNoContent {
			t.Fatalf("answer %d %s", w.Code, w.Body)
		}
	}
	if got := shareEvents(t, f, "PSN000001"); got[payment.EventShareSucceeded] != 1 {
		t.Fatalf("events %v", got)
	}
	o, _ := (&payment.Ledger{Store: f.st}).Attempt(context.Background(), "1900000109", "PSN000001")
	if sp := o.Sharing.Splits[0]; sp.State != wechatpay.ShareFinished || sp.Receivers[0].Result != wechatpay.ShareResultSuccess {
		t.Fatalf("split %+v", sp)
	}

	sharedSplit(t, f, "PSN000002")
	legacy := f.body(t, wechatpay.EventTransactionSuccess, shareNotice(f, "PSN000002"))
	if w := f.post(t, legacy, f.signed(t, legacy)); w.Code != http.StatusNoContent {
		t.Fatalf("legacy event type: %d %s", w.Code, w.Body)
	}
	if got := shareEvents(t, f, "PSN000002"); got[payment.EventShareSucceeded] != 1 || got[events.OrderReview] != 0 {
		t.Fatalf("legacy event type: events %v", got)
	}

	n := shareNotice(f, "PSN000003")
	n.OutOrderNo = "SOMEONE-ELSES-SPLIT"
	stray := f.body(t, wechatpay.EventProfitSharingSuccess, n)
	if w := f.post(t, stray, f.signed(t, stray)); w.Code != http.StatusNoContent {
		t.Fatalf("stray: %d %s", w.Code, w.Body)
	}
	if _, err := f.st.Get(context.Background(), payment.OrderKey("1900000109", "SOMEONE-ELSES-SPLIT")); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("a stray notification wrote something: %v", err)
	}
}

// A genuine PROFITSHARING.SUCCESS naming a split number of the bundle's shape
// ({out_trade_no}@S1) for an order this deployment does not hold — another system's
// on the same platform, or an order removed — is acknowledged and writes nothing. It
// was answered 500 (the store's not-found taken for a failure), so WeChat Pay would
// have retried it for a day and the log would have shown a store error every time.
func TestProfitSharingNotificationForUnknownOrder(t *testing.T) {
	f := newFixture(t)
	n := shareNotice(f, "PSNUNKNOWN1")
	body := f.body(t, wechatpay.EventProfitSharingSuccess, n)
	if w := f.post(t, body, f.signed(t, body)); w.Code != http.StatusNoContent {
		t.Fatalf("answer %d %s, want 204", w.Code, w.Body)
	}
	if _, err := f.st.Get(context.Background(), payment.OrderKey("1900000109", "PSNUNKNOWN1")); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("the notification wrote an order: %v", err)
	}
}

// A refund WeChat Pay reports for a shared order — made by hand in the merchant
// platform, say — that with the shares already paid out to others exceeds what the
// order was paid is kept and puts the order in REVIEW (DESIGN: settled refunds and
// shares never exceed what the order was paid). It left the order REFUND with
// shared_out 30 above room 0 and nothing for a person to look at.
func TestRefundBeyondWhatSharesLeaveIsReviewed(t *testing.T) {
	f := newFixture(t)
	sharedSplit(t, f, "PSNREFUND1")
	rn := wechatpay.RefundNotice{SpMchID: f.id.MchID, SubMchID: "1900000109", OutTradeNo: "PSNREFUND1", TransactionID: "4200PSNREFUND1",
		OutRefundNo: "MANUALPSN1", RefundID: "50300000PSN1", RefundStatus: wechatpay.RefundStatusSuccess, SuccessTime: wechatpay.FormatTime(time.Now()),
		Amount: wechatpay.RefundAmount{Total: 1000, Refund: 1000, PayerTotal: 1000, PayerRefund: 1000}}
	body := f.body(t, wechatpay.EventRefundSuccess, rn)
	for range 2 {
		if w := f.post(t, body, f.signed(t, body)); w.Code != http.StatusNoContent {
			t.Fatalf("answer %d %s", w.Code, w.Body)
		}
	}
	o, err := (&payment.Ledger{Store: f.st}).Attempt(context.Background(), "1900000109", "PSNREFUND1")
	if err != nil {
		t.Fatal(err)
	}
	if !o.InReview() || o.Review.Causes[0].Kind != payment.CauseRefundExceedsPaid || o.Review.Causes[0].OutRefundNo != "MANUALPSN1" {
		t.Fatalf("order %s (shared out %d, holds %d), review %+v", o.Status(), o.SharedOut(), o.Holds(), o.Review)
	}
	if got := shareEvents(t, f, "PSNREFUND1"); got[events.OrderReview] != 1 || got[events.RefundSucceeded] != 1 {
		t.Fatalf("events %v", got)
	}
}
