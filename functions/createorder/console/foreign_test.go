package console

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/store/boltstore"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// A refund result for a merchant this deployment does not serve is kept by the ledger
// under foreign/ (payment.ForeignRefundKey): the review listing shows it as a refund —
// its out_refund_no and refunded amount, the kept result, never refundable here — not
// as a payment of the other merchant's order.
func TestReviewsShowAForeignRefund(t *testing.T) {
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "console.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx := context.Background()
	l := &payment.Ledger{Store: st, Now: func() time.Time { return time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC) }, Merchants: []string{"1900000109"}}
	n := &wechatpay.RefundNotice{MchID: "1900000777", OutTradeNo: "THEIRS0001", TransactionID: "4200THEIRS0001", OutRefundNo: "THEIRSR1",
		RefundID: "50300THEIRS1", RefundStatus: wechatpay.RefundStatusSuccess, Amount: wechatpay.RefundAmount{Refund: 120, Total: 1000}}
	if res, err := l.ApplyRefund(ctx, n, "notify"); err != nil || res.Outcome != payment.Review {
		t.Fatalf("apply: %v %v", res.Outcome, err)
	}
	s := &LedgerSource{Ledger: l, Owners: []string{"1900000109"}, AnyOwner: true}
	rvs, err := s.Reviews(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rvs) != 1 {
		t.Fatalf("reviews %+v", rvs)
	}
	rv := rvs[0]
	if rv.Ref != payment.ForeignRefundKey("1900000777", n) || rv.Kind != "refund" || rv.OutRefund != "THEIRSR1" || rv.Amount != 120 ||
		len(rv.Causes) != 1 || rv.Causes[0].Kind != string(payment.CauseForeignMerchant) {
		t.Fatalf("review %+v", rv)
	}
	if len(rv.Kept) != 1 || rv.Kept[0].OutRefundNo != "THEIRSR1" || rv.Kept[0].Amount != 120 || rv.Kept[0].Refundable {
		t.Fatalf("kept %+v", rv.Kept)
	}
}
