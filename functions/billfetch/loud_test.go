package billfetch

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/paysls/wxpay/shared/wechatpay"
)

// A REVIEW found by the bill (a payment for an order closed here, its notification
// lost) is loud once, from the ledger, however many times the day's bill is run.
func TestBillReviewIsLoudOnce(t *testing.T) {
	e := newEnv(t)
	e.ourOrder("BLOUD00001", 400, map[string]string{"state": wechatpay.TradeStateClosed})
	e.prepay("BLOUD00001", 400)
	e.pay("BLOUD00001", true)
	e.nextMorning()
	for range 2 {
		if _, err := e.job().Run(context.Background(), e.clock.Now()); err != nil {
			t.Fatalf("%v\n%s", err, e.logs)
		}
	}
	errs, metrics := 0, 0
	var cause any
	for _, b := range bytes.Split(e.logs.Bytes(), []byte("\n")) {
		var m map[string]any
		if json.Unmarshal(b, &m) != nil {
			continue
		}
		if m["level"] == "ERROR" {
			errs++
			cause = m["cause"]
		}
		if m["_aws"] != nil && m["PaymentReview"] != nil {
			metrics++
		}
	}
	if errs != 1 || metrics != 1 || cause != "paid_after_close" {
		t.Fatalf("%d ERROR lines, %d PaymentReview metrics, cause %v; want one, one, paid_after_close\n%s", errs, metrics, cause, e.logs)
	}
}
