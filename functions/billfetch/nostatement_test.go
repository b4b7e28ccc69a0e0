package billfetch

import (
	"context"
	"testing"
	"time"

	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// A day WeChat Pay has no transaction for at all (NO_STATEMENT_EXIST) skipped the long
// check: a payment that succeeded here that day was never reported missing from its
// ledger.
func TestPaymentOfADayWithoutStatementIsMissingFromTheBill(t *testing.T) {
	e := newEnv(t)
	mch := e.id.MchID
	e.ourOrder("NOSTMT0001", 600, map[string]string{"state": wechatpay.TradeStateSuccess,
		"transaction_id": "4200000000000000000779", "success_time": wechatpay.FormatTime(day.Add(11 * time.Hour))})
	e.placeOnBillDay(payment.OrderKey(mch, "NOSTMT0001"), day.Add(11*time.Hour))
	e.nextMorning()
	rep, err := e.job().Run(context.Background(), e.clock.Now())
	if err != nil {
		t.Fatalf("%v\n%s", err, e.logs)
	}
	trade, _ := bills(t, rep)
	if trade.Status != StatusNoStatement || len(trade.Discrepancies) != 1 || trade.Discrepancies[0].OutTradeNo != "NOSTMT0001" ||
		trade.Discrepancies[0].Kind != KindMissingFromBill {
		t.Fatalf("trade:\n%s\nlogs:\n%s", dump(trade), e.logs)
	}
}
