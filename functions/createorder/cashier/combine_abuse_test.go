package cashier_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/paysls/wxpay/internal/paysim"
	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/orderapi"
	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// TestCombineLinkAbuse is TestLinkAbuse for a combine (合单) of a platform
// (WXPAY_MODE=ecommerce): its cashier link, held by an abuser, loaded 50 times in turn
// on a desktop (Native QR), a phone (H5) and inside WeChat (JSAPI). WeChat Pay binds a
// combine_out_trade_no and its sub-orders' out_trade_nos to the scene they were placed
// under, so each scene has a combine of its own, but only one: counted at the
// simulator, three combines and three combine prepay calls, nothing closed. After the
// h5_url's 5 minutes one more prepay asks for a new h5_url under the same number. The
// page still pays: the desktop's QR code paid, every sub-order SUCCESS, the other
// scenes' combines asked to close.
func TestCombineLinkAbuse(t *testing.T) {
	h := newHarnessWith(t, func(c *config.Config) {
		c.Bundle.Partner, c.Bundle.Mode, c.Bundle.SubMchID, c.Bundle.SubAppID = true, config.ModeEcommerce, "", ""
	})
	const id = "POSTERCART01"
	subs := make([]orderapi.SubOrder, 3)
	for i := range subs {
		subs[i] = orderapi.SubOrder{OrderID: fmt.Sprintf("%s-%d", id, i+1), SubMchID: fmt.Sprintf("19000002%02d", i+1), Amount: 330, Description: fmt.Sprintf("摊位 %d", i+1)}
	}
	if _, err := h.api.Create(h.ctx, orderapi.CreateRequest{OrderID: id, Description: "海报合单 Poster cart", Scene: orderapi.SceneCashier,
		TimeExpire: wechatpay.FormatTime(h.clk.Now().Add(2 * time.Hour)), SubOrders: subs}); err != nil {
		t.Fatalf("cashier combine: %v", err)
	}
	link := h.link(id, time.Hour)
	h5 := strings.Replace(link, "/pay/"+id+"?", "/pay/"+id+"/h5?", 1)
	desk, phone, wechat := browserless(t), browserless(t), browserless(t)
	if resp, body := get(t, wechat, oauthReturn(t, h, wechat, oauthStart(t, h, wechat, link)), uaWeChat); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("OAuth return: %d\n%s", resp.StatusCode, body)
	}
	alternate := func(round int) {
		t.Helper()
		for i := range 50 {
			if resp, body := get(t, desk, link, uaDesktop); resp.StatusCode != http.StatusOK || !strings.Contains(body, "data:image/png;base64,") {
				t.Fatalf("round %d, desktop load %d: %d\n%s", round, i, resp.StatusCode, body)
			}
			if resp, body := get(t, phone, h5, uaSafari); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), h.srv.URL+"/sim/h5/") {
				t.Fatalf("round %d, phone H5 %d: %d %s\n%s", round, i, resp.StatusCode, resp.Header.Get("Location"), body)
			}
			if resp, body := get(t, wechat, link, uaWeChat); resp.StatusCode != http.StatusOK || !strings.Contains(body, "data-jsapi=") {
				t.Fatalf("round %d, WeChat load %d: %d\n%s", round, i, resp.StatusCode, body)
			}
		}
	}
	start := time.Now()
	alternate(1)
	placed := h.combinesPlacedAs(id)
	t.Logf("50 rounds of desktop → phone → WeChat on a combine in %v: combines placed per scene %v, %d combine prepay calls",
		time.Since(start).Round(time.Millisecond), placed, h.combinePrepayCalls.Load())
	if placed["native"] != 1 || placed["h5"] != 1 || placed["jsapi"] != 1 || len(placed) != 3 || h.combinePrepayCalls.Load() != 3 || h.prepayCalls.Load() != 0 {
		t.Fatalf("combines placed per scene %v with %d combine prepay calls (%d single); want one per scene, placed once each",
			placed, h.combinePrepayCalls.Load(), h.prepayCalls.Load())
	}
	for _, c := range h.simCombines() {
		if c.ClosedAt != "" {
			t.Fatalf("%s closed at WeChat Pay: switching scenes closes nothing", c.Transaction.CombineOutTradeNo)
		}
	}

	h.clk.Advance(6 * time.Minute)
	calls := h.combinePrepayCalls.Load()
	alternate(2)
	placed = h.combinesPlacedAs(id)
	t.Logf("after 6 minutes, 50 more: combines placed per scene %v, %d combine prepay calls", placed, h.combinePrepayCalls.Load())
	if placed["native"] != 1 || placed["h5"] != 1 || placed["jsapi"] != 1 || len(placed) != 3 || h.combinePrepayCalls.Load() != calls+1 {
		t.Fatalf("combines placed per scene %v, %d combine prepay calls after the first round's %d; want the same three and one new h5_url",
			placed, h.combinePrepayCalls.Load(), calls)
	}

	// The page still pays: back on the desktop, its QR code (the combine's code_url) paid.
	if resp, _ := get(t, desk, link, uaDesktop); resp.StatusCode != http.StatusOK {
		t.Fatalf("desktop after the abuse: %d", resp.StatusCode)
	}
	l := &payment.Ledger{Store: h.st}
	hist, err := l.Combine(h.ctx, h.cfg.MchID, id)
	if err != nil {
		t.Fatal(err)
	}
	cur := hist.Current
	if cur.Scene != "native" || cur.Claim.Answer.CodeURL == "" || cur.Parked() {
		t.Fatalf("current combine after a desktop load: %s %+v", cur.Scene, cur.Close)
	}
	h.simPay("code_url", cur.Claim.Answer.CodeURL)
	status := strings.Replace(link, "/pay/"+id+"?", "/pay/"+id+"/status?", 1)
	waitFor(t, 10*time.Second, "the page to learn the payment", func() bool {
		_, body := get(t, desk, status, uaDesktop)
		return strings.Contains(body, `"view":"paid"`)
	})
	paid, err := l.SubOrders(h.ctx, cur)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range paid {
		if o.Status() != wechatpay.TradeStateSuccess {
			t.Fatalf("sub-order %s is %s", o.OutTradeNo, o.Status())
		}
	}
	if resp, body := get(t, phone, link, uaSafari); resp.StatusCode != http.StatusOK || !strings.Contains(body, `data-view="paid"`) {
		t.Fatalf("the phone after the payment: %d\n%s", resp.StatusCode, body)
	}
	// The other scenes' combines are no longer wanted: their closes are asked for.
	if err := l.CombinePrevious(h.ctx, hist); err != nil || len(hist.Previous) != 2 {
		t.Fatalf("previous combines: %d %v", len(hist.Previous), err)
	}
	for _, p := range hist.Previous {
		subs, err := l.SubOrders(h.ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range subs {
			if o.Parked() || o.Close == nil {
				t.Fatalf("sub-order %s of %s after the combine was paid: %+v, want its close asked for", o.OutTradeNo, p.CombineNo, o.Close)
			}
		}
	}
}

// simCombines lists the combines placed at WeChat Pay (GET /sim/combines).
func (h *harness) simCombines() []paysim.CombineView {
	h.t.Helper()
	resp, err := http.Get(h.srv.URL + "/sim/combines")
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []paysim.CombineView
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		h.t.Fatal(err)
	}
	return out
}

// combinesPlacedAs counts the combine numbers of combine id placed at WeChat Pay, per
// scene (jsapi, h5, native).
func (h *harness) combinesPlacedAs(id string) map[string]int {
	n := map[string]int{}
	for _, c := range h.simCombines() {
		if no := c.Transaction.CombineOutTradeNo; no == id || strings.HasPrefix(no, id+"_") {
			n[c.Kind]++
		}
	}
	return n
}
