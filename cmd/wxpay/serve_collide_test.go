package main

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/paysls/wxpay/shared/events"
)

// Two sub-merchants of one platform use the same order_id (hence out_trade_no, which
// WeChat Pay keys per sub-merchant) end to end through `wxpay serve`: each creates,
// pays and refunds its own "SHARED01"; each GET shows only its own money, and each
// order's events are delivered once and name its own sub_mchid.
func TestServeSubMerchantsShareOrderNumbers(t *testing.T) {
	_, p := startPlatformServe(t, "ecommerce")
	subs := []string{"1900000109", "1900000110"}
	amount := map[string]float64{subs[0]: 100, subs[1]: 250}
	for _, sub := range subs {
		status, a := p.call("POST", "/orders", map[string]any{"order_id": "SHARED01", "scene": "native", "sub_mchid": sub,
			"amount": amount[sub], "description": "shared number"}, true)
		if status != http.StatusCreated || a["amount"] != amount[sub] {
			t.Fatalf("create under %s: %d %v", sub, status, a)
		}
		pay, _ := a["pay"].(map[string]any)
		if status, m := p.call("POST", "/sim/pay", map[string]any{"code_url": pay["code_url"]}, false); status != 200 {
			t.Fatalf("pay under %s: %d %v", sub, status, m)
		}
	}
	get := func(sub string) map[string]any {
		t.Helper()
		status, g := p.call("GET", "/orders/SHARED01?sub_mchid="+sub, nil, true)
		if status != 200 {
			t.Fatalf("GET under %s: %d %v", sub, status, g)
		}
		return g
	}
	for _, sub := range subs {
		if g := get(sub); g["state"] != "SUCCESS" || g["amount"] != amount[sub] {
			t.Fatalf("%s reads %v", sub, g)
		}
	}
	// Each refunds part of its own order under the same out_refund_no. WeChat Pay keeps
	// out_refund_no unique across the service provider ("服务商系统内部唯一"), so the
	// second is refused: it must end CLOSED, with no money moved off either order.
	status, rf := p.call("POST", "/orders/SHARED01/refunds?sub_mchid="+subs[0], map[string]any{"out_refund_no": "RFSHARED01", "amount": 40}, true)
	if status != 200 || rf["state"] != "PROCESSING" || rf["amount"] != float64(40) {
		t.Fatalf("refund under %s: %d %v", subs[0], status, rf)
	}
	status, rf = p.call("POST", "/orders/SHARED01/refunds?sub_mchid="+subs[1], map[string]any{"out_refund_no": "RFSHARED01", "amount": 90}, true)
	if status != http.StatusBadRequest || rf["code"] != "INVALID_REQUEST" {
		t.Fatalf("the same out_refund_no under %s: %d %v", subs[1], status, rf)
	}
	if status, m := p.call("POST", "/sim/refunds/RFSHARED01/settle", map[string]any{"status": "SUCCESS"}, false); status != 200 {
		t.Fatalf("settle: %d %v", status, m)
	}
	refundsOf := func(g map[string]any) map[string]string {
		out := map[string]string{}
		list, _ := g["refunds"].([]any)
		for _, r := range list {
			m := r.(map[string]any)
			out[fmt.Sprint(m["out_refund_no"], "/", m["amount"])] = fmt.Sprint(m["state"])
		}
		return out
	}
	var g0 map[string]any
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if g0 = get(subs[0]); refundsOf(g0)["RFSHARED01/40"] == "SUCCESS" {
			break
		}
	}
	if g0["amount"] != float64(100) || g0["transaction_id"] == nil || fmt.Sprint(refundsOf(g0)) != "map[RFSHARED01/40:SUCCESS]" {
		t.Fatalf("%s reads %v", subs[0], g0)
	}
	g1 := get(subs[1])
	if g1["amount"] != float64(250) || g1["state"] != "SUCCESS" || g1["transaction_id"] == g0["transaction_id"] || fmt.Sprint(refundsOf(g1)) != "map[RFSHARED01/90:CLOSED]" {
		t.Fatalf("%s reads %v", subs[1], g1)
	}

	// Every event once, naming its own sub-merchant and money.
	want := map[string]string{
		events.OrderPaid + " " + subs[0]:       "100",
		events.OrderPaid + " " + subs[1]:       "250",
		events.RefundSucceeded + " " + subs[0]: "40",
		events.RefundFailed + " " + subs[1]:    "90",
	}
	// The refund's event is recorded by whichever of notify and the order API's read
	// applies the result; on a loaded machine the read may show SUCCESS first, so the
	// listing is read until it holds as many kinds as wanted (or 10 s pass).
	var got map[string][]string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		got = map[string][]string{}
		for _, e := range p.eventsOf() {
			d, _ := e["data"].(map[string]any)
			if d["order_id"] == "SHARED01" {
				k := fmt.Sprint(e["type"], " ", d["mchid"])
				got[k] = append(got[k], fmt.Sprint(d["amount"]))
			}
		}
		if len(got) >= len(want) || time.Now().After(deadline) {
			break
		}
	}
	if len(got) != len(want) {
		t.Errorf("events %v, want %v", got, want)
	}
	for k, amount := range want {
		if len(got[k]) != 1 || got[k][0] != amount {
			t.Errorf("%s: %v, want one of %s fen", k, got[k], amount)
		}
	}
}
