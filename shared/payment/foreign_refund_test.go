package payment

import (
	"context"
	"errors"
	"testing"

	"github.com/paysls/wxpay/shared/wechatpay"
)

// A genuine refund result for a merchant this deployment does not serve is kept for
// review, as such a payment is: under foreign/, in REVIEW with a typed cause, loud
// once; a repeat writes nothing; a later result of the same refund is kept beside the
// first (not loud again); no order or refund of this deployment is written. It was an
// invalid result (a 400 WeChat Pay never retries), and nothing was kept.
func TestForeignMerchantRefundKeptForReview(t *testing.T) {
	l, lg := newLedger(t)
	ctx := context.Background()
	n := refunded("FOREIGNR01", "4200000FR", "FOREIGNR01R1", wechatpay.RefundStatusAbnormal, 100)
	n.MchID, n.Amount.Total = "1900000109", 1000
	r := applyRefund(t, l, n, Review)
	key := ForeignRefundKey("1900000109", n)
	if r.Cause == nil || r.Cause.Kind != CauseForeignMerchant || r.Record.Key != key || r.Cause.OutRefundNo != "FOREIGNR01R1" || r.Cause.Amount != 100 {
		t.Fatalf("foreign refund: %+v", r)
	}
	if got := eventTypes(r.Record); got != "order.review" {
		t.Fatalf("events %q, want one order.review", got)
	}
	applyRefund(t, l, n, Duplicate)

	// The same refund, re-issued and settled: kept beside the first, listed, not loud.
	n2 := *n
	n2.RefundStatus = wechatpay.RefundStatusSuccess
	r = applyRefund(t, l, &n2, Review)
	if len(r.Order.Conflicts) != 2 || len(r.Order.Review.Pending()) != 2 || eventTypes(r.Record) != "order.review" {
		t.Fatalf("second result: conflicts %+v, events %q", r.Order.Conflicts, eventTypes(r.Record))
	}
	if lg.loud() != 1 {
		t.Fatalf("%d alarms, want 1", lg.loud())
	}
	if _, err := l.Refund(ctx, "1900000109", "FOREIGNR01R1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a foreign refund became a refund record: %v", err)
	}
	if _, err := l.Attempt(ctx, "1900000109", "FOREIGNR01"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a foreign refund made an order: %v", err)
	}
	listed := 0
	if err := l.Reviews(ctx, func(it ReviewItem) error {
		if it.Key == key && it.Order != nil && it.Order.OutTradeNo == "FOREIGNR01" {
			listed++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if listed != 1 {
		t.Fatalf("the foreign refund is listed %d times in REVIEW, want 1", listed)
	}
}
