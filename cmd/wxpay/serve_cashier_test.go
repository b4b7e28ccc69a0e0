package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/paysls/wxpay/shared/orderapi"
)

// The cashier through `wxpay serve`: POST /orders with scene "cashier" answers a link
// on the serve base (the simulator mode's public URL); opening it in a desktop browser
// over plain HTTP shows the page with the Native QR code (the placeholder placed in
// place); paying that QR code flips the page's status to paid; a tampered link is 403.
func TestServeCashier(t *testing.T) {
	t.Setenv("WXPAY_PUBLIC_URL", "")
	srv := startRunServe(t, "--retry-scale", "0.001")
	base, token := srv.base, srv.token
	const desktop = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36"
	do := func(method, target, body string, hdr ...string) (int, http.Header, []byte) {
		t.Helper()
		if !strings.HasPrefix(target, "http") {
			target = base + target
		}
		req, _ := http.NewRequest(method, target, strings.NewReader(body))
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		raw, _ := io.ReadAll(res.Body)
		return res.StatusCode, res.Header, raw
	}
	api := orderapi.New(base, token, nil)
	ctx := context.Background()

	a, err := api.Create(ctx, orderapi.CreateRequest{OrderID: "SERVECASH01", Amount: 2500, Description: "咖啡 coffee", Scene: orderapi.SceneCashier})
	if err != nil {
		t.Fatal(err)
	}
	var pay orderapi.CashierPay
	if err := a.DecodePay(&pay); err != nil || a.Replayed || a.Scene != "cashier" || !strings.HasPrefix(pay.CashierURL, base+"/pay/SERVECASH01?t=") || !strings.HasPrefix(pay.QRPNG, "data:image/png;base64,") {
		t.Fatalf("cashier create: %+v %+v %v", a, pay, err)
	}
	link := pay.CashierURL
	status, hdr, page := do("GET", link, "", "User-Agent", desktop)
	if status != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") || hdr.Get("Content-Security-Policy") == "" {
		t.Fatalf("page: %d %v %.300q", status, hdr, page)
	}
	if !regexp.MustCompile(`<img[^>]+src="data:image/png;base64,`).Match(page) || !strings.Contains(string(page), "¥25.00") || !strings.Contains(string(page), "咖啡 coffee") {
		t.Fatalf("the desktop page shows no QR code, amount or description: %.2000s", page)
	}
	// The page placed the Native payment on the order itself.
	g, err := api.Order(ctx, "SERVECASH01", "")
	if err != nil || g.Scene != "native" || g.OutTradeNo != "SERVECASH01" || g.Description != "咖啡 coffee" {
		t.Fatalf("order after the page opened: %+v %v", g, err)
	}
	// Its status route follows the payment.
	u, _ := url.Parse(link)
	statusURL := base + "/pay/SERVECASH01/status?" + u.RawQuery
	if status, _, raw := do("GET", statusURL, ""); status != 200 || !strings.Contains(string(raw), `"view":"pending"`) {
		t.Fatalf("status before paying: %d %s", status, raw)
	}
	if status, _, raw := do("POST", "/sim/orders/SERVECASH01/pay", ""); status != 200 {
		t.Fatalf("sim pay: %d %s", status, raw)
	}
	var view string
	for deadline := time.Now().Add(10 * time.Second); view != "paid" && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		_, _, raw := do("GET", statusURL, "")
		var s map[string]string
		_ = json.Unmarshal(raw, &s)
		view = s["view"]
	}
	if view != "paid" {
		t.Fatalf("the cashier status never turned paid (last %q)", view)
	}

	// A tampered token, another order under the same token, or none: 403.
	tt := u.Query().Get("t")
	dot := strings.IndexByte(tt, '.')
	flip := byte('A')
	if tt[dot+1] == 'A' {
		flip = 'B'
	}
	tampered := tt[:dot+1] + string(flip) + tt[dot+2:] // the MAC's first character
	for _, target := range []string{
		base + "/pay/SERVECASH01?t=" + url.QueryEscape(tampered),
		base + "/pay/SERVECASH02?t=" + url.QueryEscape(tt),
		base + "/pay/SERVECASH01",
	} {
		if status, _, raw := do("GET", target, "", "User-Agent", desktop); status != http.StatusForbidden {
			t.Fatalf("GET %s: %d, want 403: %.300s", target, status, raw)
		}
	}
	if status, a := curlGetRoot(t, base); status != 200 || !strings.Contains(strings.Join(toStrings(a["routes"]), " "), "GET /pay/") {
		t.Fatalf("GET / does not list the cashier: %v", a)
	}
	if err := srv.stop(); err != nil {
		t.Fatal(err)
	}
}

func curlGetRoot(t *testing.T, base string) (int, map[string]any) {
	t.Helper()
	res, err := http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(res.Body).Decode(&m)
	return res.StatusCode, m
}
