package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/paysls/wxpay/shared/clock"
	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/payment"
)

// sharingCart is a combine of three sub-merchants' sub-orders placed for profit
// sharing: each pays the platform a 5 % commission; B also pays a supplier 10 fen (the
// same amount: two lines of one split in the fund bill) and
// waits for the merchant's settle; C is subsidised by the platform (补差) 50 fen.
func sharingCart(id, platform, holdUntil string) map[string]any {
	commission := map[string]any{"type": "MERCHANT_ID", "account": platform, "rate": 0.05, "description": "平台佣金"}
	return map[string]any{"order_id": id, "scene": "native", "description": "cart " + id, "sub_orders": []map[string]any{
		{"order_id": id + "-A", "sub_mchid": "1900000109", "amount": 100, "description": "item 1",
			"profit_sharing": map[string]any{"receivers": []any{commission}}},
		{"order_id": id + "-B", "sub_mchid": "1900000110", "amount": 200, "description": "item 2",
			"profit_sharing": map[string]any{"receivers": []any{commission,
				map[string]any{"type": "MERCHANT_ID", "account": "1900000201", "amount": 10, "description": "供应商"}},
				"hold_until": holdUntil}},
		{"order_id": id + "-C", "sub_mchid": "1900000111", "amount": 300, "description": "item 3",
			"profit_sharing": map[string]any{"receivers": []any{commission}, "subsidy_amount": 50}},
	}}
}

func (p platformAPI) sharingOf(orderID, sub string) map[string]any {
	p.t.Helper()
	status, o := p.call("GET", "/orders/"+orderID+"?sub_mchid="+sub, nil, true)
	if status != 200 {
		p.t.Fatalf("GET %s: %d %v", orderID, status, o)
	}
	ps, _ := o["profit_sharing"].(map[string]any)
	if ps == nil {
		p.t.Fatalf("%s has no profit_sharing: %v", orderID, o)
	}
	return ps
}

func (p platformAPI) reconcile() map[string]any {
	p.t.Helper()
	status, rep := p.call("POST", "/jobs/reconcile", nil, true)
	if status != 200 {
		p.t.Fatalf("reconcile: %d %v", status, rep)
	}
	return rep
}

func (p platformAPI) expect(status int, code, method, path string, body any) {
	p.t.Helper()
	got, e := p.call(method, path, body, true)
	if got != status || e["code"] != code || e["message"] == "" {
		p.t.Fatalf("%s %s: %d %v, want %d %s", method, path, got, e, status, code)
	}
}

// Issue 19 end to end through `wxpay serve` in ecommerce mode: a 3-sub-merchant
// combine placed for profit sharing and paid; each sub-order split (commission to the
// platform) and finished — one after the merchant's settle, one after its subsidy;
// one sub-order refunded after its split (the return first, then the refund); the
// day's encrypted fund bill fetched, decrypted, verified and reconciled with no
// discrepancy; a tampered file and a wrong hash rejected. Bad input is refused with
// {code,message,hint} and nothing sent.
func TestServeEcommerceSharingEndToEnd(t *testing.T) {
	srv, p := startPlatformServe(t, "ecommerce")
	cfg, err := config.FromKeysDir(srv.keys)
	if err != nil {
		t.Fatal(err)
	}
	platform := cfg.MchID
	// Start the day at 10:00 (UTC+8), so that everything below happens on one bill day.
	_, ck := p.call("GET", "/sim/clock", nil, false)
	now, _ := time.Parse(time.RFC3339, ck["now"].(string))
	next := time.Date(now.In(clock.CST).Year(), now.In(clock.CST).Month(), now.In(clock.CST).Day()+1, 10, 0, 0, 0, clock.CST)
	p.call("POST", "/sim/clock", map[string]any{"advance": next.Sub(now).Round(time.Second).String()}, false)
	day := next.Format(time.DateOnly)
	hold := next.AddDate(0, 0, 7).Format(time.RFC3339) // e.g. the buyer's 7 days to confirm receipt

	// Receivers: the supplier is added through WeChat Pay's receivers API.
	p.expect(400, "PARAM_ERROR", "POST", "/profitsharing/receivers", map[string]any{"type": "BANK", "account": "1900000201"})
	bad := sharingCart("SHAREBAD01", platform, hold)
	p.expect(400, "RECEIVER_NOT_ADDED", "POST", "/orders", bad)
	if status, r := p.call("POST", "/profitsharing/receivers", map[string]any{"type": "MERCHANT_ID", "account": "1900000201", "name": "示例供应商有限公司", "relation_type": "SUPPLIER"}, true); status != 200 || r["added"] != true {
		t.Fatalf("add receiver: %d %v", status, r)
	}
	// Bad shares, refused before anything is sent or stored.
	for name, mut := range map[string]func(m map[string]any){
		"above the order": func(m map[string]any) {
			m["receivers"] = []any{map[string]any{"type": "MERCHANT_ID", "account": platform, "amount": 101}}
		},
		"rate and amount": func(m map[string]any) {
			m["receivers"] = []any{map[string]any{"type": "MERCHANT_ID", "account": platform, "amount": 1, "rate": 0.1}}
		},
		"unknown type": func(m map[string]any) {
			m["receivers"] = []any{map[string]any{"type": "WALLET", "account": platform, "amount": 1}}
		},
	} {
		c := sharingCart("SHAREBAD02", platform, hold)
		mut(c["sub_orders"].([]map[string]any)[0]["profit_sharing"].(map[string]any))
		if status, e := p.call("POST", "/orders", c, true); status != 400 || e["code"] != "PARAM_ERROR" || e["hint"] == "" {
			t.Fatalf("%s: %d %v", name, status, e)
		}
	}
	p.expect(404, "ORDER_NOT_FOUND", "GET", "/orders/SHAREBAD02-A?sub_mchid=1900000109", nil)

	// The cart, placed and paid.
	if status, a := p.call("POST", "/orders", sharingCart("SHARECART1", platform, hold), true); status != http.StatusCreated {
		t.Fatalf("create: %d %v", status, a)
	}
	p.expect(409, "ORDER_NOT_PAID", "POST", "/orders/SHARECART1-A/settle?sub_mchid=1900000109", nil)
	if status, _ := p.call("POST", "/sim/combines/SHARECART1/pay", nil, false); status/100 != 2 {
		t.Fatalf("pay: %d", status)
	}
	p.waitState("SHARECART1", "SUCCESS")
	// Within the minute WeChat Pay wants after payment nothing is split.
	p.reconcile()
	if ps := p.sharingOf("SHARECART1-A", "1900000109"); ps["state"] != "due" || ps["splits"] != nil {
		t.Fatalf("split within the first minute: %v", ps)
	}
	p.call("POST", "/sim/clock", map[string]any{"advance": "2m"}, false)
	p.reconcile()
	a, b, c := p.sharingOf("SHARECART1-A", "1900000109"), p.sharingOf("SHARECART1-B", "1900000110"), p.sharingOf("SHARECART1-C", "1900000111")
	if a["state"] != "finished" || c["state"] != "finished" || b["state"] != "held" {
		for _, l := range strings.Split(srv.errOut.String()+srv.out.String(), "\n") {
			if strings.Contains(l, "reconcile") || strings.Contains(l, "SHARECART1") {
				t.Log(l)
			}
		}
		t.Fatalf("after the first run: A %v\nB %v\nC %v", a, b, c)
	}
	if sub := c["subsidy"].(map[string]any); sub["state"] != "SUCCESS" || sub["amount"] != float64(50) {
		t.Fatalf("subsidy of C: %v", sub)
	}
	// C's commission is 5 % of what it holds with its subsidy: 350 → 17.
	if sp := c["splits"].([]any)[0].(map[string]any); sp["amount"] != float64(17) || sp["state"] != "FINISHED" {
		t.Fatalf("split of C: %v", sp)
	}
	// The merchant confirms the cart: B's hold ends.
	if status, s := p.call("POST", "/orders/SHARECART1/settle", nil, true); status != 200 || s["state"] != "settled" {
		t.Fatalf("settle: %d %v", status, s)
	}
	p.reconcile()
	if b = p.sharingOf("SHARECART1-B", "1900000110"); b["state"] != "finished" || b["released"] != float64(200-1-10-10) {
		t.Fatalf("B after the settle: %v", b)
	}

	// A refund of A after its split: held, the commission returned, then refunded.
	status, rf := p.call("POST", "/orders/SHARECART1-A/refunds?sub_mchid=1900000109", map[string]any{"out_refund_no": "RFSHARE1A", "amount": 100}, true)
	if status != 200 || rf["state"] != "PROCESSING" || !strings.Contains(fmt.Sprint(rf["waiting_for"]), "分账回退") {
		t.Fatalf("refund: %d %v", status, rf)
	}
	if st, _ := p.call("POST", "/sim/refunds/RFSHARE1A/settle", nil, false); st == 200 {
		t.Fatal("the refund reached WeChat Pay before the return")
	}
	p.reconcile()
	if a = p.sharingOf("SHARECART1-A", "1900000109"); a["returned"] != float64(5) || a["held_refunds"] != nil {
		t.Fatalf("A after the return: %v", a)
	}
	if st, _ := p.call("POST", "/sim/refunds/RFSHARE1A/settle", nil, false); st != 200 {
		t.Fatalf("settle the refund: %d", st)
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && rf["state"] != "SUCCESS"; time.Sleep(50 * time.Millisecond) {
		_, rf = p.call("GET", "/orders/SHARECART1-A/refunds/RFSHARE1A?sub_mchid=1900000109", nil, true)
	}
	if rf["state"] != "SUCCESS" || rf["waiting_for"] != nil {
		t.Fatalf("refund: %v", rf)
	}
	if _, bal := p.call("GET", "/sim/profitsharing/balances", nil, false); bal["conserved"] != true {
		t.Fatalf("money not conserved: %v", bal)
	}
	evs := p.eventsOf()
	counts := map[string]int{}
	for _, e := range evs {
		d, _ := e["data"].(map[string]any)
		if strings.HasPrefix(fmt.Sprint(d["order_id"]), "SHARECART1-") {
			counts[e["type"].(string)]++
		}
	}
	for typ, want := range map[string]int{payment.EventShareSucceeded: 3, payment.EventShareFinished: 3, payment.EventSubsidySucceeded: 1, payment.EventShareReturned: 1} {
		if counts[typ] != want {
			t.Errorf("%s: %d events, want %d (all: %v)", typ, counts[typ], want, counts)
		}
	}
	// The platform, a MERCHANT_ID receiver, was notified of its shares and its return.
	_, d := p.call("GET", "/sim/deliveries", nil, false)
	if s := fmt.Sprint(d["list"]); !strings.Contains(s, "PROFITSHARING.SUCCESS") || !strings.Contains(s, "PROFITSHARING.RETURN") {
		t.Fatalf("no profit-sharing notifications delivered: %.2000s", s)
	}

	// A settle for a closed order is refused.
	if status, o := p.call("POST", "/orders", map[string]any{"order_id": "SHARECLOSE1", "sub_mchid": "1900000109", "amount": 100, "description": "x",
		"scene": "native", "profit_sharing": true}, true); status != http.StatusCreated {
		t.Fatalf("create: %d %v", status, o)
	}
	p.call("POST", "/orders/SHARECLOSE1/close?sub_mchid=1900000109", nil, true)
	p.call("POST", "/sim/clock", map[string]any{"advance": "6m"}, false)
	p.reconcile()
	p.expect(409, "ORDER_CLOSED", "POST", "/orders/SHARECLOSE1/settle?sub_mchid=1900000109", map[string]any{"receivers": []any{}})

	// The day's encrypted fund bill: every share, return and subsidy matched, every
	// release checked — no discrepancy.
	p.call("POST", "/sim/clock", map[string]any{"advance": "24h"}, false)
	bill := func() map[string]any {
		t.Helper()
		status, rep := p.call("POST", "/jobs/billfetch?date="+day, nil, true)
		raw, _ := json.Marshal(rep)
		var out struct{ Bills []map[string]any }
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatal(err)
		}
		for _, b := range out.Bills {
			if b["type"] == "ecommerce_fundflow_all" {
				if status != 200 && b["status"] == "reconciled" {
					t.Fatalf("billfetch: %d %s", status, raw)
				}
				return b
			}
		}
		t.Fatalf("no sub-merchant fund bill in %s", raw)
		return nil
	}
	fb := bill()
	// Shares: A, B (two receivers), C = 4; the return of A; the subsidy of C.
	if fb["status"] != "reconciled" || fb["matched"] != float64(6) || len(fb["discrepancies"].([]any)) != 0 || fb["hash_ok"] != true {
		t.Fatalf("fund bill: %v", fb)
	}
	for _, fault := range []string{"tamper", "hash"} {
		p.call("POST", "/sim/profitsharing/config", map[string]any{"fund_bill_fault": fault}, false)
		fb = bill()
		rej := fmt.Sprint(fb["rejected"])
		if fb["status"] != "reconciled" || (fault == "tamper" && !strings.Contains(rej, "does not authenticate")) || (fault == "hash" && !strings.Contains(rej, "hash")) {
			t.Fatalf("%s: %v", fault, fb)
		}
		if len(fb["discrepancies"].([]any)) != 0 {
			t.Fatalf("%s: a re-run found discrepancies: %v", fault, fb)
		}
	}
}
