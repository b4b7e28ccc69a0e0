package cashier_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/paysls/wxpay/shared/orderapi"
	"github.com/paysls/wxpay/shared/payment"
)

// TestBrowserSceneSwitch: the order created with POST /orders scene "cashier" (the
// merchant's attach kept); the link opened on a desktop shows the Native QR of the
// stored order placed in place (same out_trade_no); the same link opened on a phone
// switches to H5 (attempt _2, the QR's attempt no longer the current one), pays at
// WeChat's H5 page, comes back and shows paid; the desktop page, still open, turns to
// paid too.
func TestBrowserSceneSwitch(t *testing.T) {
	h := newHarness(t)
	desk := newBrowser(t, uaDesktop, 1024, 768, false)
	phone := newBrowser(t, uaSafari, 360, 740, true)

	const id = "APICASHIER01"
	created, err := h.api.Create(h.ctx, orderapi.CreateRequest{OrderID: id, Amount: 4200, Description: "手冲咖啡 Pour-over",
		Scene: orderapi.SceneCashier, Attach: "table=7"})
	if err != nil {
		t.Fatal(err)
	}
	var cp orderapi.CashierPay
	if err := created.DecodePay(&cp); err != nil || created.Replayed || created.Scene != "cashier" || !strings.HasPrefix(cp.CashierURL, h.srv.URL+"/pay/"+id+"?t=") {
		t.Fatalf("POST /orders scene cashier: %+v %+v %v", created, cp, err)
	}
	link := cp.CashierURL
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
	desk.shot("1-desktop-qr")

	phone.do("open the same link on a phone", chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS("#pay-btn")))
	phone.do("tap pay", chromedp.Click(chromedp.CSS("#pay-btn")), chromedp.WaitVisible(chromedp.CSS("button.pay")))
	a2 := attempt(id + "_2")
	if a2.Scene != "h5" || !strings.HasPrefix(phone.location(), a2.Claim.Answer.H5URL+"&redirect_url=") {
		t.Fatalf("phone at %s; attempt 2 %+v", phone.location(), a2)
	}
	if cur := h.current(id); cur.OutTradeNo != id+"_2" {
		t.Fatalf("after the switch the order's current attempt is %s, want %s_2", cur.OutTradeNo, id)
	}
	if got := h.prepayRequest(id + "_2").Attach; got != "table=7" {
		t.Fatalf("H5 prepay sent attach %q, want the cashier order's", got)
	}
	phone.do("pay at WeChat's H5 page", chromedp.Click(chromedp.CSS("button.pay")))
	waitFor(t, 10*time.Second, "the return from WeChat's H5 page", func() bool { v := phone.view(); return v == "return" || v == "paid" })
	if phone.view() == "return" {
		phone.do("tap I have paid", chromedp.Click(chromedp.CSS("#paid-btn")))
	}
	phone.waitView("paid", 10*time.Second)
	if s := attempt(id + "_2").Status(); s != "SUCCESS" {
		t.Fatalf("phone says paid, store says %s", s)
	}
	phone.shot("2-phone-paid")
	desk.waitView("paid", 15*time.Second)
	desk.shot("3-desktop-paid")
}
