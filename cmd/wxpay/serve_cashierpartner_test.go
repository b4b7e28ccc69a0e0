package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// On a platform the cashier page looked every order up under the default sub-merchant
// (WXPAY_SUB_MCHID): the link of another sub-merchant's cashier order opened on
// "订单不存在 No such order" — and with no default, every single order's did. The link
// names the order's sub-merchant (covered by its token); the page shows the order,
// places its payment under that sub-merchant, and the payment lands there. A link
// re-pointed at another sub-merchant is refused.
func TestServeCashierLinkOfAnotherSubMerchantsOrder(t *testing.T) {
	t.Setenv("WXPAY_SUB_MCHID", "1900000109")
	_, p := startPlatformServe(t, "partner")
	const sub = "1900000110"
	status, a := p.call("POST", "/orders", map[string]any{"order_id": "CASHSUB001", "sub_mchid": sub, "amount": 250, "description": "cashier", "scene": "cashier"}, true)
	pay, _ := a["pay"].(map[string]any)
	link, _ := pay["cashier_url"].(string)
	if status != http.StatusCreated || link == "" {
		t.Fatalf("create: %d %v", status, a)
	}
	open := func(u string) (int, string) {
		req, _ := http.NewRequest("GET", u, nil)
		req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Chrome/120")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	code, page := open(link)
	if code != http.StatusOK || !strings.Contains(page, "data:image/png;base64,") || !strings.Contains(page, "CASHSUB001") || strings.Contains(page, "No such order") {
		t.Fatalf("the cashier page of %s's order: %d\n%.2000s", sub, code, page)
	}
	if code, _ := open(strings.Replace(link, "/pay/"+sub+".", "/pay/1900000109.", 1)); code != http.StatusForbidden {
		t.Errorf("a link re-pointed at another sub-merchant: %d, want 403", code)
	}
	if status, m := p.call("POST", "/sim/orders/CASHSUB001/pay?sub_mchid="+sub, nil, false); status != http.StatusOK {
		t.Fatalf("pay: %d %v", status, m)
	}
	p.waitPaid("CASHSUB001", sub)
	if status, g := p.call("GET", "/orders/CASHSUB001?sub_mchid=1900000109", nil, true); status != http.StatusNotFound {
		t.Errorf("the default sub-merchant has a CASHSUB001: %d %v", status, g)
	}
}
