package main

import (
	"net/http"
	"strings"
	"testing"
)

// On a platform, wxpay trigger could only send a direct merchant's notification
// (mchid, no sub_mchid): aimed at a sub-merchant's order it was acknowledged and
// recorded as a payment of the platform itself that this API did not create, with an
// order.paid for the platform — while the sub-merchant's order stayed NOTPAY and
// trigger said ✔. --sub-mchid sends it as WeChat Pay does for partner and e-commerce
// orders (sp_mchid, sub_mchid), v3 and v2 alike, and reads the effect on that order.
func TestTriggerPaysAndRefundsASubMerchantsOrder(t *testing.T) {
	srv, p := startPlatformServe(t, "ecommerce")
	const sub = "1900000110"
	if status, a := p.call("POST", "/orders", map[string]any{"order_id": "TRIGSUB001", "sub_mchid": sub, "amount": 300, "description": "x", "scene": "native"}, true); status != http.StatusCreated {
		t.Fatalf("create: %d %v", status, a)
	}
	code, out, errOut := runCmd(t, "trigger", "--keys-dir", srv.keys, "--url", srv.base+"/notify", "--out-trade-no", "TRIGSUB001", "--amount", "300", "--sub-mchid", sub)
	if code != 0 || !strings.Contains(out, `"sub_mchid":"`+sub+`"`) || !strings.Contains(out, "effect on the bundle: order TRIGSUB001 NOTPAY → SUCCESS") {
		t.Fatalf("trigger --sub-mchid: exit %d\n%s%s", code, out, errOut)
	}
	_, g := p.call("GET", "/orders/TRIGSUB001?sub_mchid="+sub, nil, true)
	txid, _ := g["transaction_id"].(string)
	if g["state"] != "SUCCESS" || txid == "" {
		t.Fatalf("after the trigger: %v", g)
	}
	// A manual refund of it, notified in v2 XML with sub_mch_id.
	code, out, errOut = runCmd(t, "trigger", "--v2", "--keys-dir", srv.keys, "--url", srv.base+"/notify", "--out-trade-no", "TRIGSUB001", "--amount", "300",
		"--event", "REFUND.SUCCESS", "--out-refund-no", "TRIGSUBRF1", "--refund-amount", "100", "--transaction-id", txid, "--sub-mchid", sub)
	if code != 0 {
		t.Fatalf("trigger --v2 refund: exit %d\n%s%s", code, out, errOut)
	}
	_, g = p.call("GET", "/orders/TRIGSUB001?sub_mchid="+sub, nil, true)
	if g["refunded"] != float64(100) || g["state"] != "REFUND" {
		t.Errorf("after the v2 refund: %v", g)
	}
	// Nothing was recorded for the platform itself.
	for _, e := range p.eventsOf() {
		if d, _ := e["data"].(map[string]any); d["out_trade_no"] == "TRIGSUB001" && d["mchid"] != sub {
			t.Errorf("an event for another merchant than %s: %v", sub, e)
		}
	}
	if code, _, errOut := runCmd(t, "trigger", "--keys-dir", srv.keys, "--url", srv.base+"/notify", "--out-trade-no", "TRIGSUB001", "--amount", "300", "--sub-mchid", "19x"); code == 0 {
		t.Errorf("a sub_mchid that is not digits was sent (%s)", errOut)
	}
}
