package createorder_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/paysls/wxpay/internal/paysim"
	"github.com/paysls/wxpay/shared/config"
)

// The console's Find did not know combines (合单): a combine's order_id found nothing.
// It finds the combine — by its order_id or an attempt's combine_out_trade_no — and
// shows its attempts and its sub-orders, each linked to its own story.
func TestConsoleFindsACombine(t *testing.T) {
	e := newConsoleEnv(t, envOptions{partner: true, mutate: func(c *config.Config) {
		c.Bundle.Mode, c.Bundle.SubMchID, c.Bundle.SubAppID = config.ModeEcommerce, "", ""
	}})
	if s, a := e.call(t, "POST", "/orders", combineBody("CARTFIND01", 2, "native")); s != http.StatusCreated {
		t.Fatalf("create: %d %v", s, a)
	}
	_, nid, status, err := e.sim.PayCombine("CARTFIND01", paysim.CombinePayRequest{FailSubOrders: []string{"CARTFIND01-02"}})
	if err != nil {
		t.Fatalf("pay: %d %v", status, err)
	}
	e.notified.Wait(t, nid)
	for _, q := range []string{"CARTFIND01", "1900000101/CARTFIND01-01"} {
		page := e.get("/console/find?q=" + url.QueryEscape(q))
		if strings.Contains(page, `id="nothing"`) {
			t.Fatalf("find %s found nothing:\n%s", q, page)
		}
	}
	page := e.get("/console/find?q=CARTFIND01")
	for _, want := range []string{
		"CARTFIND01 · PARTIAL", "Sub-orders (combine)",
		`find?q=1900000101%2FCARTFIND01-01">CARTFIND01-01</a>`, `find?q=1900000102%2FCARTFIND01-02">CARTFIND01-02</a>`,
		"<td>SUCCESS</td>", "<td>PAYERROR</td>", "order.paid",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the combine's story lacks %q:\n%s", want, page)
		}
	}
	// A re-priced combine is found by its new attempt's number too, with both attempts.
	b := combineBody("CARTFIND02", 2, "native")
	e.call(t, "POST", "/orders", b)
	b["sub_orders"].([]map[string]any)[1]["amount"] = 150
	if s, a := e.call(t, "POST", "/orders", b); s != http.StatusCreated || a["combine_out_trade_no"] != "CARTFIND02_2" {
		t.Fatalf("re-price: %d %v", s, a)
	}
	page = e.get("/console/find?q=CARTFIND02_2")
	if !strings.Contains(page, "CARTFIND02 · NOTPAY") || !strings.Contains(page, "<code>CARTFIND02</code>") || !strings.Contains(page, "<code>CARTFIND02-02_2</code>") {
		t.Errorf("the re-priced combine's story:\n%s", page)
	}
}
