package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/paysls/wxpay/shared/config"
)

// A subsidy return (补差回退) after a refund of a shared sub-order never leaves the
// order's shares to others above what it holds. C is paid 300 fen, subsidised 50 and
// split 17 (5 % of 350) to the platform, then refunded in full: the order holds the 50
// of the subsidy, 17 of which the platform received. Returning all 50 would leave 0 for
// the 17 shared out — the sub-merchant's balance at WeChat Pay went 19 fen below zero. It is
// refused with the most that can go back now (33), which is accepted.
func TestServeSubsidyReturnKeepsSharesWithinWhatTheOrderHolds(t *testing.T) {
	srv, p := startPlatformServe(t, "ecommerce")
	cfg, err := config.FromKeysDir(srv.keys)
	if err != nil {
		t.Fatal(err)
	}
	if status, r := p.call("POST", "/profitsharing/receivers", map[string]any{"type": "MERCHANT_ID", "account": "1900000201", "name": "示例供应商有限公司", "relation_type": "SUPPLIER"}, true); status != 200 {
		t.Fatalf("add receiver: %d %v", status, r)
	}
	cart := sharingCart("SUBRET0001", cfg.MchID, time.Now().AddDate(0, 0, 7).Format(time.RFC3339))
	if status, a := p.call("POST", "/orders", cart, true); status != http.StatusCreated {
		t.Fatalf("create: %d %v", status, a)
	}
	if status, _ := p.call("POST", "/sim/combines/SUBRET0001/pay", nil, false); status/100 != 2 {
		t.Fatalf("pay: %d", status)
	}
	p.waitState("SUBRET0001", "SUCCESS")
	p.call("POST", "/sim/clock", map[string]any{"advance": "2m"}, false)
	p.reconcile()
	if c := p.sharingOf("SUBRET0001-C", "1900000111"); c["state"] != "finished" || c["shared_out"] != float64(17) {
		t.Fatalf("C after its split: %v", c)
	}
	const path = "/orders/SUBRET0001-C"
	if status, rf := p.call("POST", path+"/refunds?sub_mchid=1900000111", map[string]any{"out_refund_no": "RFSUBRET1C", "amount": 300}, true); status != 200 {
		t.Fatalf("refund: %d %v", status, rf)
	}
	p.reconcile()
	if st, _ := p.call("POST", "/sim/refunds/RFSUBRET1C/settle", nil, false); st != 200 {
		t.Fatalf("settle the refund: %d", st)
	}
	var rf map[string]any
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && (rf == nil || rf["state"] != "SUCCESS"); time.Sleep(50 * time.Millisecond) {
		_, rf = p.call("GET", path+"/refunds/RFSUBRET1C?sub_mchid=1900000111", nil, true)
	}
	if rf["state"] != "SUCCESS" {
		t.Fatalf("refund: %v", rf)
	}

	status, e := p.call("POST", path+"/subsidy/returns?sub_mchid=1900000111", map[string]any{"out_refund_no": "RFSUBRET1C", "amount": 50}, true)
	if status != http.StatusConflict || e["code"] != "SUBSIDY_REFUSED" || !strings.Contains(e["message"].(string), "33") {
		t.Fatalf("subsidy return beyond what the shares leave: %d %v", status, e)
	}
	if c := p.sharingOf("SUBRET0001-C", "1900000111"); c["shared_out"].(float64) > c["room"].(float64) {
		t.Fatalf("shares above what the order holds: %v", c)
	}
	if status, r := p.call("POST", path+"/subsidy/returns?sub_mchid=1900000111", map[string]any{"out_refund_no": "RFSUBRET1C", "amount": 33}, true); status != 200 {
		t.Fatalf("subsidy return of what is free: %d %v", status, r)
	}
	c := p.sharingOf("SUBRET0001-C", "1900000111")
	if c["shared_out"].(float64) > c["room"].(float64) {
		t.Fatalf("shares above what the order holds: %v", c)
	}
	if _, bal := p.call("GET", "/sim/profitsharing/balances", nil, false); bal["conserved"] != true {
		t.Fatalf("money not conserved: %v", bal)
	}
}
