package cashier_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/paysls/wxpay/shared/payment"
)

// TestLinkAbuse drives the cashier as an abuser holding a link printed on a poster:
// 50 alternations of a desktop load (the Native QR), the phone's H5 path and a load
// inside WeChat (JSAPI, after one OAuth), then the same after the h5_url's 5 minutes
// have passed. WeChat Pay binds an out_trade_no to
// the trade_type it was first placed under (OUT_TRADE_NO_USED for another), so each
// scene needs an attempt of its own — but only one per scene: a scene the user comes
// back to answers its live prepay (code_url 2 h, prepay_id 2 h; an h5_url older than
// 5 minutes is asked for again under the same out_trade_no), nothing is closed at
// WeChat Pay, and the order keeps its 99 attempts for real users. Counted at the
// simulator: the out_trade_nos placed per scene (GET /sim/orders) and the prepay
// calls. Then the page still pays.
func TestLinkAbuse(t *testing.T) {
	h := newHarness(t)
	const id = "POSTER000001"
	h.add(id, 990, "海报 Poster", 2*time.Hour)
	link := h.link(id, time.Hour)
	h5 := strings.Replace(link, "/pay/"+id+"?", "/pay/"+id+"/h5?", 1)
	desk, phone, wechat := browserless(t), browserless(t), browserless(t)
	// Inside WeChat: one silent OAuth gives this browser its payer cookie.
	if resp, body := get(t, wechat, oauthReturn(t, h, wechat, oauthStart(t, h, wechat, link)), uaWeChat); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("OAuth return: %d\n%s", resp.StatusCode, body)
	}
	alternate := func(round int) {
		t.Helper()
		for i := range 50 {
			if resp, body := get(t, wechat, link, uaWeChat); resp.StatusCode != http.StatusOK || !strings.Contains(body, "data-jsapi=") {
				t.Fatalf("round %d, WeChat load %d: %d\n%s", round, i, resp.StatusCode, body)
			}
			if resp, body := get(t, desk, link, uaDesktop); resp.StatusCode != http.StatusOK || !strings.Contains(body, "data:image/png;base64,") {
				t.Fatalf("round %d, desktop load %d: %d\n%s", round, i, resp.StatusCode, body)
			}
			if resp, body := get(t, phone, h5, uaSafari); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), h.srv.URL+"/sim/h5/") {
				t.Fatalf("round %d, phone H5 %d: %d %s\n%s", round, i, resp.StatusCode, resp.Header.Get("Location"), body)
			}
		}
	}
	start := time.Now()
	alternate(1)
	t.Logf("50 rounds of WeChat → desktop → phone in %v: placed per scene %v, %d prepay calls, %d attempts", time.Since(start).Round(time.Millisecond),
		h.prepaidAs(), h.prepayCalls.Load(), len(h.simOrders()))
	placed := h.prepaidAs()
	if placed["native"] != 1 || placed["h5"] != 1 || placed["jsapi"] != 1 || len(placed) != 3 || h.prepayCalls.Load() != 3 {
		t.Fatalf("placed per scene %v with %d prepay calls; want one JSAPI, one Native and one H5 payment, placed once each", placed, h.prepayCalls.Load())
	}
	for _, o := range h.simOrders() {
		if o.ClosedAt != "" || o.Transaction.TradeState != "NOTPAY" {
			t.Fatalf("%s is %s at WeChat Pay (closed at %q): switching scenes closes nothing", o.Transaction.OutTradeNo, o.Transaction.TradeState, o.ClosedAt)
		}
	}

	// The h5_url lives 5 minutes: later alternations ask WeChat Pay for a new one under
	// the same out_trade_no; the QR code's code_url still lives and is answered again.
	h.clk.Advance(6 * time.Minute)
	calls := h.prepayCalls.Load()
	alternate(2)
	placed = h.prepaidAs()
	t.Logf("after 6 minutes, 50 more: placed per scene %v, %d prepay calls", placed, h.prepayCalls.Load())
	if placed["native"] != 1 || placed["h5"] != 1 || placed["jsapi"] != 1 || len(placed) != 3 || h.prepayCalls.Load() != calls+1 {
		t.Fatalf("placed per scene %v, %d prepay calls after the first round's %d; want the same three payments and one new h5_url", placed, h.prepayCalls.Load(), calls)
	}

	// The page still pays: the desktop's QR code is paid, the page says so.
	if resp, _ := get(t, desk, link, uaDesktop); resp.StatusCode != http.StatusOK {
		t.Fatalf("desktop after the abuse: %d", resp.StatusCode)
	}
	cur := h.current(id)
	if cur.Scene != "native" || cur.Claim.Answer.CodeURL == "" {
		t.Fatalf("current attempt after a desktop load: %+v", cur)
	}
	h.simPay("code_url", cur.Claim.Answer.CodeURL)
	status := strings.Replace(link, "/pay/"+id+"?", "/pay/"+id+"/status?", 1)
	// simPay moved the clock past the recheck window: the page's next status poll asks
	// WeChat Pay and learns the payment.
	if _, body := get(t, desk, status, uaDesktop); !strings.Contains(body, `"view":"paid"`) {
		t.Fatalf("the page's status poll after the payment: %s", body)
	}
	if s := h.state(id); s != "SUCCESS" {
		t.Fatalf("state %s", s)
	}
	if resp, body := get(t, phone, link, uaSafari); resp.StatusCode != http.StatusOK || !strings.Contains(body, `data-view="paid"`) {
		t.Fatalf("the phone after the payment: %d\n%s", resp.StatusCode, body)
	}
	// The other scenes' payments are no longer wanted: their closes are asked for.
	for _, o := range h.simOrders() {
		if no := o.Transaction.OutTradeNo; no != cur.OutTradeNo {
			a, err := (&payment.Ledger{Store: h.st}).Attempt(h.ctx, h.cfg.MchID, no)
			if err != nil || a.Parked() || a.Close == nil {
				t.Fatalf("%s after the order was paid: %+v %v, want its close asked for", no, a, err)
			}
		}
	}
}
