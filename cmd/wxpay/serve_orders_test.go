package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The README's curl walk-through, through `wxpay serve` itself: create an order with
// the token from the keys dir, pay it at the simulator, read it back as paid.
func TestServeOrdersWithCurlAlone(t *testing.T) {
	srv := startRunServe(t, "--retry-scale", "0.001")
	base, token := srv.base, srv.token
	curl := func(method, path, body, auth string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		if auth != "" {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		raw, _ := io.ReadAll(res.Body)
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("%s %s: %d %q", method, path, res.StatusCode, raw)
		}
		return res.StatusCode, m
	}
	if status, a := curl("POST", "/orders", `{"order_id":"SERVE00001","amount":100,"description":"coffee","scene":"native"}`, ""); status != 401 {
		t.Fatalf("without the token: %d %v", status, a)
	}
	status, a := curl("POST", "/orders", `{"order_id":"SERVE00001","amount":100,"description":"coffee","scene":"native"}`, token)
	if status != 201 || a["out_trade_no"] != "SERVE00001" {
		t.Fatalf("create: %d %v", status, a)
	}
	pay, _ := a["pay"].(map[string]any)
	if code, _ := pay["code_url"].(string); !strings.HasPrefix(code, "weixin://wxpay/bizpayurl?pr=") {
		t.Fatalf("pay = %v", pay)
	}
	if status, a = curl("POST", "/sim/orders/SERVE00001/pay", "", ""); status != 200 {
		t.Fatalf("sim pay: %d %v", status, a)
	}
	var g map[string]any
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if status, g = curl("GET", "/orders/SERVE00001", "", token); g["state"] == "SUCCESS" {
			break
		}
	}
	if g["state"] != "SUCCESS" || g["transaction_id"] == nil {
		t.Fatalf("order never read as paid: %d %v", status, g)
	}
	if status, a = curl("POST", "/orders/SERVE00001/refunds", `{"out_refund_no":"SERVERF001","amount":40}`, token); status != 200 || a["state"] != "PROCESSING" {
		t.Fatalf("refund: %d %v", status, a)
	}
	if _, a = curl("GET", "/", "", ""); !strings.Contains(strings.Join(toStrings(a["routes"]), " "), "POST /orders") {
		t.Fatalf("GET / does not list the order API: %v", a)
	}
	if err := srv.stop(); err != nil {
		t.Fatal(err)
	}
}

func toStrings(v any) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, x := range l {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}
