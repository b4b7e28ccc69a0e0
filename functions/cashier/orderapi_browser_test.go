package cashier_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/paysls/wxpay/functions/cashier"
	"github.com/paysls/wxpay/functions/createorder"
	"github.com/paysls/wxpay/shared/payment"
)

// TestBrowserThroughOrderAPI: the cashier wired as `wxpay serve` wires it — the real
// order API (createorder) behind cashier.APIOrders, the order created with POST /orders
// scene "cashier". The link opened on a desktop shows the Native QR of the stored order
// placed in place (same out_trade_no); the same link opened on a phone switches to H5
// (attempt _2, the QR's attempt closed by deferral), pays at WeChat's H5 page, comes
// back and shows paid (GET /orders asked WeChat Pay); the desktop page, still open, turns
// to paid too.
func TestBrowserThroughOrderAPI(t *testing.T) {
	h := newHarness(t)
	desk := newBrowser(t, uaDesktop, 1024, 768, false)
	phone := newBrowser(t, uaSafari, 360, 740, true)

	cfg := h.cfg
	var handler http.Handler = http.NotFoundHandler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	cfg.Bundle.PublicURL = srv.URL
	api, err := createorder.New(cfg, h.st, createorder.Options{Logger: quiet(), Now: h.clk.Now, Simulator: true})
	if err != nil {
		t.Fatal(err)
	}
	page, err := cashier.New(cfg, cashier.APIOrders{API: api, Token: apiToken}, cashier.Options{Logger: quiet(), Now: h.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/orders", api)
	mux.Handle("/orders/", api)
	mux.Handle("/pay/", page)
	mux.Handle("/", h.sim)
	handler = mux

	const id = "APICASHIER01"
	body, _ := json.Marshal(map[string]any{"order_id": id, "amount": 4200, "description": "手冲咖啡 Pour-over", "scene": "cashier", "attach": "table=7"})
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/orders", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+apiToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	var created struct {
		Scene string `json:"scene"`
		Pay   struct {
			CashierURL string `json:"cashier_url"`
		} `json:"pay"`
	}
	if err := json.Unmarshal(raw, &created); err != nil || res.StatusCode != 201 || created.Scene != "cashier" || !strings.HasPrefix(created.Pay.CashierURL, srv.URL+"/pay/"+id+"?t=") {
		t.Fatalf("POST /orders scene cashier: %d %s", res.StatusCode, raw)
	}
	link := created.Pay.CashierURL
	attempt := func(no string) *payment.Order {
		o, err := (&payment.Ledger{Store: h.st}).Attempt(h.ctx, h.cfg.MchID, no)
		if err != nil {
			t.Fatalf("attempt %s: %v", no, err)
		}
		return o
	}

	desk.do("open link on a desktop", chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS("#qr")))
	a1 := attempt(id)
	if a1.Scene != "native" || a1.Claim.Answer.CodeURL == "" {
		t.Fatalf("attempt 1 after the desktop opened the link: %+v", a1)
	}
	if got := desk.eval(`document.querySelector('.amount').textContent`); !strings.Contains(got, "¥42.00") {
		t.Fatalf("amount %q", got)
	}
	desk.shot("1-api-desktop-qr")

	phone.do("open the same link on a phone", chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS("#pay-btn")))
	phone.do("tap pay", chromedp.Click(chromedp.CSS("#pay-btn")), chromedp.WaitVisible(chromedp.CSS("button.pay")))
	a2 := attempt(id + "_2")
	if a2.Scene != "h5" || !strings.HasPrefix(phone.location(), a2.Claim.Answer.H5URL+"&redirect_url=") {
		t.Fatalf("phone at %s; attempt 2 %+v", phone.location(), a2)
	}
	if a1 = attempt(id); a1.Close == nil {
		t.Fatalf("the desktop QR's attempt owes no close after the switch: %+v", a1)
	}
	var view struct {
		Request struct{ Attach string } `json:"prepay_request"`
	}
	if res, err := http.Get(h.srv.URL + "/sim/orders/" + id + "_2"); err != nil {
		t.Fatal(err)
	} else {
		err = json.NewDecoder(res.Body).Decode(&view)
		res.Body.Close()
		if err != nil || view.Request.Attach != "table=7" {
			t.Fatalf("H5 prepay sent attach %q (%v), want the cashier order's", view.Request.Attach, err)
		}
	}
	phone.do("pay at WeChat's H5 page", chromedp.Click(chromedp.CSS("button.pay")))
	viewNow := func() string {
		v, _ := chromedp.Run(phone.ctx, chromedp.Evaluate[string](`(document.getElementById('cashier') || {getAttribute(){return ''}}).getAttribute('data-view') || ''`))
		return v
	}
	waitFor(t, 10*time.Second, "the return from WeChat's H5 page", func() bool { v := viewNow(); return v == "return" || v == "paid" })
	// Through the order API the return view may already be paid: GET /orders asks WeChat
	// Pay about an unsettled order on its own (APIOrders cannot honour ask=false), and
	// a "paid" it learns that way is the truth, not the front end's word.
	if viewNow() == "return" {
		phone.do("tap I have paid", chromedp.Click(chromedp.CSS("#paid-btn")))
	}
	phone.waitView("paid", 10*time.Second)
	if s := attempt(id + "_2").Status(); s != "SUCCESS" {
		t.Fatalf("phone says paid, store says %s", s)
	}
	phone.shot("2-api-phone-paid")
	desk.waitView("paid", 15*time.Second)
	desk.shot("3-api-desktop-paid")
}
