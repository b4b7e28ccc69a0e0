package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The README's curl walk-through, through `wxpay serve` itself: create an order with
// the token from the keys dir, pay it at the simulator, read it back as paid.
func TestServeOrdersWithCurlAlone(t *testing.T) {
	t.Setenv("WXPAY_MCHID", "")
	t.Setenv("WXPAY_KEYS_DIR", "")
	dir := t.TempDir()
	keys := filepath.Join(dir, "sim")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- runServe(ctx, []string{"--addr", "127.0.0.1:0", "--keys-dir", keys, "--retry-scale", "0.001"}, &out, &errOut)
	}()
	var base string
	for deadline := time.Now().Add(10 * time.Second); base == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if _, rest, ok := strings.Cut(out.String(), "listening on "); ok {
			base, _, _ = strings.Cut(rest, "\n")
		}
	}
	if base == "" {
		t.Fatalf("no banner; stdout %q stderr %q", out.String(), errOut.String())
	}
	tok, err := os.ReadFile(filepath.Join(keys, apiTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(string(tok))
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
	if status, a = curl("GET", "/", "", ""); !strings.Contains(strings.Join(toStrings(a["routes"]), " "), "POST /orders") {
		t.Fatalf("GET / does not list the order API: %v", a)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop")
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
