package cashier_test

import (
	"net/http"
	"strings"
	"testing"
	"time"
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
