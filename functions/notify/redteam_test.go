package notify_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/paysls/wxpay/shared/events"
	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// A genuine PROFITSHARING.SUCCESS that contradicts the ledger — a receiver's amount
// other than the one the split asked for, or a split of an order whose split was never
// asked (held until the merchant settles) — says WeChat Pay moved money the ledger
// does not account for. DESIGN: every conflict is kept, with a typed cause, in REVIEW.
// Both were acknowledged as "duplicate" (an INFO line) and dropped: no REVIEW, no
// order.review, nothing kept; only the next day's fund bill could notice.
func TestProfitSharingNoticeContradictingTheLedgerIsReviewed(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()

	// A split asked for 30 fen; WeChat Pay reports 40 to the same receiver.
	sharedSplit(t, f, "PSNCONFL1")
	n := shareNotice(f, "PSNCONFL1")
	n.Receiver.Amount = 40
	body := f.body(t, wechatpay.EventProfitSharingSuccess, n)
	if w := f.post(t, body, f.signed(t, body)); w.Code != http.StatusNoContent {
		t.Fatalf("answer %d %s", w.Code, w.Body)
	}
	o, err := (&payment.Ledger{Store: f.st}).Attempt(ctx, "1900000109", "PSNCONFL1")
	if err != nil {
		t.Fatal(err)
	}
	if !o.InReview() || shareEvents(t, f, "PSNCONFL1")[events.OrderReview] != 1 {
		t.Errorf("a split reported as 40 fen where 30 were asked: in review %v, events %v", o.InReview(), shareEvents(t, f, "PSNCONFL1"))
	}

	// A paid order whose split waits for the merchant's settle: nothing was asked.
	now := time.Now().UTC()
	l := &payment.Ledger{Store: f.st, Now: func() time.Time { return now }}
	plan := &payment.Sharing{API: payment.ShareAPIEcommerce, Planned: true, HoldUntil: now.Add(7 * 24 * time.Hour),
		Receivers: []payment.ShareReceiver{{Type: wechatpay.ReceiverMerchant, Account: f.id.MchID, Amount: 30, Description: "佣金"}}}
	if _, err := l.CreateOrder(ctx, payment.NewOrder{MchID: "1900000109", AppID: f.id.AppID, OrderID: "PSNCONFL2", Amount: 1000, Scene: "native", Sharing: plan}); err != nil {
		t.Fatal(err)
	}
	tx := f.transaction("PSNCONFL2", "4200PSNCONFL2", 1000)
	tx.MchID, tx.SpMchID, tx.SubMchID, tx.SpAppID, tx.AppID = "", f.id.MchID, "1900000109", f.id.AppID, ""
	if _, err := l.ApplyTransaction(ctx, &tx, "test"); err != nil {
		t.Fatal(err)
	}
	n = shareNotice(f, "PSNCONFL2")
	n.Receiver.Amount = 900
	body = f.body(t, wechatpay.EventProfitSharingSuccess, n)
	if w := f.post(t, body, f.signed(t, body)); w.Code != http.StatusNoContent {
		t.Fatalf("answer %d %s", w.Code, w.Body)
	}
	o, err = l.Attempt(ctx, "1900000109", "PSNCONFL2")
	if err != nil {
		t.Fatal(err)
	}
	if !o.InReview() || shareEvents(t, f, "PSNCONFL2")[events.OrderReview] != 1 {
		t.Errorf("a split of 900 fen never asked for: in review %v, events %v", o.InReview(), shareEvents(t, f, "PSNCONFL2"))
	}
}

// README (Notifications): "A genuine notification for a merchant this deployment does
// not serve is acknowledged and kept for review". A payment is (foreign/<mchid>/…, in
// REVIEW), but a genuine REFUND.SUCCESS naming another service provider or merchant
// was answered 400 "invalid result" — WeChat Pay does not retry a 400 — and nothing
// was kept: a refund of someone's money reported to this notify_url vanished without
// a review.
func TestForeignMerchantRefundNoticeIsKeptForReview(t *testing.T) {
	f := newFixture(t)
	// As setup.go configures it: this deployment serves its own mchid (an empty list
	// serves every merchant, and nothing would be foreign).
	f.h.Ledger.Merchants = []string{f.id.MchID}
	ctx := context.Background()
	rn := wechatpay.RefundNotice{SpMchID: "1900000001", SubMchID: "1900000109", OutTradeNo: "FOREIGNR01", TransactionID: "4200FOREIGNR01",
		OutRefundNo: "FOREIGNR01R1", RefundID: "50300000FOREIGN1", RefundStatus: wechatpay.RefundStatusSuccess, SuccessTime: wechatpay.FormatTime(time.Now()),
		Amount: wechatpay.RefundAmount{Total: 1000, Refund: 100, PayerTotal: 1000, PayerRefund: 100}}
	body := f.body(t, wechatpay.EventRefundSuccess, rn)
	if w := f.post(t, body, f.signed(t, body)); w.Code != http.StatusNoContent {
		t.Fatalf("answer %d %s, want 204: acknowledged and kept", w.Code, w.Body)
	}
	kept := 0
	if err := (&payment.Ledger{Store: f.st}).Reviews(ctx, func(it payment.ReviewItem) error {
		if it.Refund != nil && it.Refund.OutRefundNo == "FOREIGNR01R1" || it.Order != nil && it.Order.OutTradeNo == "FOREIGNR01" {
			kept++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if kept == 0 {
		t.Fatal("the foreign refund is not kept in REVIEW")
	}
	// Loud once (one order.review), and a redelivery writes nothing.
	rec, err := f.st.Get(ctx, payment.ForeignRefundKey("1900000001", &rn))
	if err != nil {
		t.Fatal(err)
	}
	if evs := events.Entries(rec); len(evs) != 1 || evs[0].Type != events.OrderReview {
		t.Fatalf("foreign refund events = %+v, want one order.review", evs)
	}
	if w := f.post(t, body, f.signed(t, body)); w.Code != http.StatusNoContent {
		t.Fatalf("redelivery: answer %d %s", w.Code, w.Body)
	}
	if again, _ := f.st.Get(ctx, rec.Key); again.Version != rec.Version {
		t.Fatal("a redelivered foreign refund wrote again")
	}
}
