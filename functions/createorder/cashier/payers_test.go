package cashier_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/orderapi"
	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// A cashier link opened inside WeChat by several payers — a shop's QR code — gave each
// page load of another openid a fresh JSAPI prepay and closed the last payer's (a
// prepay belongs to one openid), so two payers taking turns used up the order's 99
// attempts. Each payer's attempt is now parked for them and answered again when they
// come back: 50 turns of two payers cost two prepays, the page stays payable for both,
// and a payment by either settles the order.
func TestTwoPayersTakingTurnsReuseTheirPrepays(t *testing.T) {
	for _, payer := range []string{"alice", "bob"} {
		t.Run(payer+" pays", func(t *testing.T) {
			h := newHarness(t)
			id := "TURNS" + strings.ToUpper(payer)
			h.add(id, 800, "轮流 Turns", 2*time.Hour)
			link := h.link(id, time.Hour)
			browsers := map[string]*http.Client{}
			for _, user := range []string{"alice", "bob"} {
				c := browserless(t)
				auth := oauthStart(t, h, c, link)
				q := auth.Query()
				q.Set("sim_user", user) // the simulated WeChat user who opened the link
				auth.RawQuery = q.Encode()
				if resp, body := get(t, c, oauthReturn(t, h, c, auth), uaWeChat); resp.StatusCode != http.StatusSeeOther {
					t.Fatalf("%s: OAuth return %d\n%s", user, resp.StatusCode, body)
				}
				browsers[user] = c
			}
			prepays := map[string]string{} // payer → the prepay_id their page was given
			load := func(user string, i int) {
				t.Helper()
				resp, body := get(t, browsers[user], link, uaWeChat)
				if resp.StatusCode != http.StatusOK || !strings.Contains(body, "data-jsapi=") {
					t.Fatalf("%s, load %d: %d\n%s", user, i, resp.StatusCode, body)
				}
				cur := h.current(id)
				if prev, ok := prepays[user]; ok && prev != cur.Claim.Answer.PrepayID {
					t.Fatalf("%s, load %d: prepay %s, was %s", user, i, cur.Claim.Answer.PrepayID, prev)
				}
				prepays[user] = cur.Claim.Answer.PrepayID
			}
			for i := range 50 {
				load("alice", i)
				load("bob", i)
			}
			if n := h.prepayCalls.Load(); n > 2 || len(h.simOrders()) != 2 {
				t.Fatalf("two payers taking turns 50 times: %d prepay calls, %d orders at WeChat Pay; want 2", n, len(h.simOrders()))
			}
			for _, o := range h.simOrders() {
				if o.ClosedAt != "" || o.Transaction.TradeState != "NOTPAY" {
					t.Fatalf("%s is %s at WeChat Pay (closed at %q): taking turns closes nothing", o.Transaction.OutTradeNo, o.Transaction.TradeState, o.ClosedAt)
				}
			}
			// The payer opens the page once more and pays with the prepay it shows.
			load(payer, 50)
			h.simPay("prepay_id", prepays[payer])
			status := strings.Replace(link, "/pay/"+id+"?", "/pay/"+id+"/status?", 1)
			if _, body := get(t, browsers[payer], status, uaWeChat); !strings.Contains(body, `"view":"paid"`) {
				t.Fatalf("the page's status poll after %s paid: %s", payer, body)
			}
			if s := h.state(id); s != "SUCCESS" {
				t.Fatalf("state %s after %s paid", s, payer)
			}
		})
	}
}

// TestTwoPayersTakingTurnsOnACombine is the same for a platform's combine (合单): 50
// turns of two payers cost two combine prepays, nothing is closed, and the payer who
// comes back and pays settles every sub-order.
func TestTwoPayersTakingTurnsOnACombine(t *testing.T) {
	h := newHarnessWith(t, func(c *config.Config) {
		c.Bundle.Partner, c.Bundle.Mode, c.Bundle.SubMchID, c.Bundle.SubAppID = true, config.ModeEcommerce, "", ""
	})
	const id = "TURNSCART01"
	subs := make([]orderapi.SubOrder, 2)
	for i := range subs {
		subs[i] = orderapi.SubOrder{OrderID: fmt.Sprintf("%s-%d", id, i+1), SubMchID: fmt.Sprintf("19000002%02d", i+1), Amount: 300, Description: fmt.Sprintf("摊位 %d", i+1)}
	}
	if _, err := h.api.Create(h.ctx, orderapi.CreateRequest{OrderID: id, Description: "轮流合单 Turns cart", Scene: orderapi.SceneCashier,
		TimeExpire: wechatpay.FormatTime(h.clk.Now().Add(2 * time.Hour)), SubOrders: subs}); err != nil {
		t.Fatalf("cashier combine: %v", err)
	}
	link := h.link(id, time.Hour)
	browsers := map[string]*http.Client{}
	for _, user := range []string{"alice", "bob"} {
		c := browserless(t)
		auth := oauthStart(t, h, c, link)
		q := auth.Query()
		q.Set("sim_user", user)
		auth.RawQuery = q.Encode()
		if resp, body := get(t, c, oauthReturn(t, h, c, auth), uaWeChat); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("%s: OAuth return %d\n%s", user, resp.StatusCode, body)
		}
		browsers[user] = c
	}
	l := &payment.Ledger{Store: h.st}
	load := func(user string, i int) *payment.Combine {
		t.Helper()
		if resp, body := get(t, browsers[user], link, uaWeChat); resp.StatusCode != http.StatusOK || !strings.Contains(body, "data-jsapi=") {
			t.Fatalf("%s, load %d: %d\n%s", user, i, resp.StatusCode, body)
		}
		hist, err := l.Combine(h.ctx, h.cfg.MchID, id)
		if err != nil {
			t.Fatal(err)
		}
		return hist.Current
	}
	for i := range 50 {
		load("alice", i)
		load("bob", i)
	}
	if n := h.combinePrepayCalls.Load(); n != 2 || len(h.simCombines()) != 2 {
		t.Fatalf("two payers taking turns 50 times on a combine: %d combine prepay calls, %d combines at WeChat Pay; want 2", n, len(h.simCombines()))
	}
	for _, c := range h.simCombines() {
		if c.ClosedAt != "" {
			t.Fatalf("%s closed at WeChat Pay: taking turns closes nothing", c.Transaction.CombineOutTradeNo)
		}
	}
	cur := load("alice", 50)
	h.simPay("prepay_id", cur.Claim.Answer.PrepayID)
	status := strings.Replace(link, "/pay/"+id+"?", "/pay/"+id+"/status?", 1)
	waitFor(t, 10*time.Second, "the page to learn the payment", func() bool {
		_, body := get(t, browsers["alice"], status, uaWeChat)
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
}
