package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// `wxpay order` against a running bundle: create prints the state, the amount in yuan
// and the QR code with its code_url; pay plays the payer through the simulator and
// waits for the notification's effect; refund and get; and a missing token or a wrong
// subcommand says what to do.
func TestOrderCommand(t *testing.T) {
	f := startServe(t, "")
	run := func(args ...string) (string, string, int) {
		var out, errb bytes.Buffer
		code := run(context.Background(), append([]string{"order"}, args...), &out, &errb)
		return out.String(), errb.String(), code
	}
	common := []string{"--url", f.srv.URL, "--keys-dir", f.keys}
	out, errs, code := run(append([]string{"create", "--order-id", "CLIORDER001", "--amount", "1234", "--description", "Latte"}, common...)...)
	if code != 0 || !strings.Contains(out, "NOTPAY, ¥12.34") || !strings.Contains(out, "code_url: weixin://wxpay/bizpayurl?pr=") || !strings.Contains(out, "█") {
		t.Fatalf("create: %d\n%s%s", code, out, errs)
	}
	// Pay by "scanning" the code_url the create printed, as a phone would.
	codeURL := out[strings.Index(out, "code_url: ")+len("code_url: "):]
	codeURL = strings.TrimSpace(codeURL[:strings.IndexByte(codeURL, '\n')])
	if out, errs, code = run(append([]string{"pay", codeURL}, common...)...); code != 0 {
		t.Fatalf("pay %s: %d\n%s%s", codeURL, code, out, errs)
	}
	// pay by order id waits for the notification's effect; the order is paid already.
	out, errs, code = run(append([]string{"pay", "CLIORDER001"}, common...)...)
	if code == 0 || !strings.Contains(errs, "ORDERPAID") && !strings.Contains(errs, "paid") {
		t.Fatalf("paying a paid order again: %d\n%s%s", code, out, errs)
	}
	out, errs, code = run(append([]string{"get", "CLIORDER001"}, common...)...)
	if code != 0 || !strings.Contains(out, "SUCCESS, ¥12.34") {
		t.Fatalf("get after pay: %d\n%s%s", code, out, errs)
	}
	out, errs, code = run(append([]string{"refund", "CLIORDER001", "--amount", "234", "--out-refund-no", "CLIREFUND01"}, common...)...)
	if code != 0 || !strings.Contains(out, "refund CLIREFUND01: PROCESSING, ¥2.34") {
		t.Fatalf("refund: %d\n%s%s", code, out, errs)
	}
	out, errs, code = run(append([]string{"get", "CLIORDER001", "--json"}, common...)...)
	var view map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &view) != nil || view["state"] != "SUCCESS" {
		t.Fatalf("get --json: %d\n%s%s", code, out, errs)
	}
	// Over-refund: the API's refusal is shown with its hint, exit 1.
	if _, errs, code = run(append([]string{"refund", "CLIORDER001", "--amount", "5000"}, common...)...); code != 1 || !strings.Contains(errs, "HTTP 4") {
		t.Fatalf("over-refund: %d %s", code, errs)
	}
	if _, errs, code = run("get", "CLIORDER001", "--url", f.srv.URL, "--keys-dir", t.TempDir()); code != 1 || !strings.Contains(errs, "no API token") {
		t.Fatalf("no token: %d %s", code, errs)
	}
	if _, errs, code = run("frobnicate"); code != 2 || !strings.Contains(errs, "create, get, pay, close or refund") {
		t.Fatalf("unknown subcommand: %d %s", code, errs)
	}
	if _, errs, code = run(append([]string{"create"}, common...)...); code != 2 || !strings.Contains(errs, "--amount is required") {
		t.Fatalf("create without amount: %d %s", code, errs)
	}
}

// A platform (WXPAY_MODE=ecommerce) tries a combine order from the terminal: --sub makes
// the sub-orders, pay by the combine's order id pays all of them, get shows each, and
// a combine given one --sub or an --amount beside them is refused before any call.
func TestOrderCommandCombine(t *testing.T) {
	t.Setenv("WXPAY_MODE", "ecommerce")
	srv := startRunServe(t, "--retry-scale", "0.001")
	defer func() {
		if err := srv.stop(); err != nil {
			t.Error(err)
		}
	}()
	run := func(args ...string) (string, string, int) {
		var out, errb bytes.Buffer
		code := run(context.Background(), append([]string{"order"}, args...), &out, &errb)
		return out.String(), errb.String(), code
	}
	common := []string{"--url", srv.base, "--keys-dir", srv.keys}
	out, errs, code := run(append([]string{"create", "--order-id", "CLICART01", "--sub", "1900000101:300", "--sub", "1900000102:200:CLISHOE01"}, common...)...)
	if code != 0 || !strings.Contains(out, "combine order CLICART01") || !strings.Contains(out, "NOTPAY, ¥5.00") ||
		!strings.Contains(out, "sub-order CLICART01-1") || !strings.Contains(out, "sub-order CLISHOE01") || !strings.Contains(out, "code_url: weixin://") {
		t.Fatalf("create: %d\n%s%s", code, out, errs)
	}
	if out, errs, code = run(append([]string{"pay", "CLICART01"}, common...)...); code != 0 || !strings.Contains(out, "SUCCESS, ¥5.00") || strings.Count(out, ": SUCCESS, ") != 3 {
		t.Fatalf("pay: %d\n%s%s", code, out, errs)
	}
	if out, errs, code = run(append([]string{"get", "CLICART01"}, common...)...); code != 0 || !strings.Contains(out, "sub-order CLISHOE01 (out_trade_no") {
		t.Fatalf("get: %d\n%s%s", code, out, errs)
	}
	if out, errs, code = run(append([]string{"get", "CLISHOE01", "--sub-mchid", "1900000102"}, common...)...); code != 0 || !strings.Contains(out, "SUCCESS, ¥2.00") {
		t.Fatalf("get a sub-order: %d\n%s%s", code, out, errs)
	}
	// The combine named with --sub-mchid is said to be a combine, not "no order".
	if _, errs, code = run(append([]string{"get", "CLICART01", "--sub-mchid", "1900000102"}, common...)...); code != 1 ||
		!strings.Contains(errs, "ORDER_IS_COMBINE") || !strings.Contains(errs, "GET /orders/CLISHOE01?sub_mchid=1900000102") || !strings.Contains(errs, "without --sub-mchid") {
		t.Fatalf("get a combine with --sub-mchid: %d %s", code, errs)
	}
	// A single order of a sub-merchant: pay and get name it with --sub-mchid, and
	// without it the refusal says so.
	if out, errs, code = run(append([]string{"create", "--order-id", "CLISINGLE1", "--amount", "700", "--sub-mchid", "1900000103"}, common...)...); code != 0 {
		t.Fatalf("create single: %d\n%s%s", code, out, errs)
	}
	if _, errs, code = run(append([]string{"pay", "CLISINGLE1"}, common...)...); code != 1 || !strings.Contains(errs, "--sub-mchid") {
		t.Fatalf("pay without --sub-mchid: %d %s", code, errs)
	}
	if out, errs, code = run(append([]string{"pay", "CLISINGLE1", "--sub-mchid", "1900000103"}, common...)...); code != 0 || !strings.Contains(out, "SUCCESS, ¥7.00") {
		t.Fatalf("pay single: %d\n%s%s", code, out, errs)
	}
	for _, bad := range [][]string{
		{"create", "--sub", "1900000101:300"},
		{"create", "--sub", "1900000101:300", "--sub", "1900000102:200", "--amount", "500"},
		{"create", "--sub", "1900000101:-3", "--sub", "1900000102:200"},
		{"create", "--sub", "1900000101"},
	} {
		if _, errs, code := run(append(bad, common...)...); code != 2 || errs == "" {
			t.Fatalf("%v: %d %s", bad, code, errs)
		}
	}
}
