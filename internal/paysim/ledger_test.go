package paysim

import (
	"net/http"
	"testing"

	"github.com/paysls/wxpay/shared/wechatpay"
)

// TestLedgerAccess: Orders and Refund read what GET /sim/orders and /sim/refunds show.
func TestLedgerAccess(t *testing.T) {
	e := newEnv(t, Config{ManualDelivery: true})
	e.placeNative("LEDGER02", 200, "https://example.com/notify")
	e.placeNative("LEDGER01", 100, "https://example.com/notify")
	if _, _, _, err := e.sim.Pay("LEDGER02", PayRequest{}); err != nil {
		t.Fatal(err)
	}
	r := e.call("POST", "/v3/refund/domestic/refunds", wechatpay.RefundRequest{OutTradeNo: "LEDGER02", OutRefundNo: "LEDGERR1",
		Amount: wechatpay.RefundAmount{Refund: 50, Total: 200, Currency: "CNY"}})
	if r.status != http.StatusOK {
		t.Fatalf("refund: %d %s", r.status, r.body)
	}
	o := e.sim.Orders()
	if len(o) != 2 || o[0].Transaction.OutTradeNo != "LEDGER01" || o[1].Transaction.TradeState != wechatpay.TradeStateRefund || len(o[1].Refunds) != 1 {
		t.Fatalf("orders: %+v", o)
	}
	rf, req, ok := e.sim.Refund("LEDGERR1")
	if !ok || rf.Status != wechatpay.RefundStatusProcessing || rf.OutTradeNo != "LEDGER02" || req.Amount.Refund != 50 {
		t.Fatalf("refund: %+v %+v %t", rf, req, ok)
	}
	if _, _, ok := e.sim.Refund("NOSUCHREFUND"); ok {
		t.Fatal("an unknown refund was found")
	}
}
