package cashier_test

import (
	"strings"
	"testing"
	"time"
)

// A cashier order the merchant closed within WeChat Pay's first 5 minutes (the close
// recorded, carried out later) is closed to the link: the page shows it closed and
// places nothing. Before, the page placed a new attempt for an order the merchant had
// just closed (found by the DST: seed421310637, seed673267729).
func TestPageAfterTheMerchantsClose(t *testing.T) {
	h := newHarness(t)
	h.add("CLOSEDPG01", 500, "关单后 Closed", 2*time.Hour)
	c := browserless(t)
	link := h.link("CLOSEDPG01", time.Hour)
	if resp, body := get(t, c, link, uaDesktop); resp.StatusCode != 200 || !strings.Contains(body, "data:image/png") {
		t.Fatalf("the open page: %d\n%s", resp.StatusCode, body)
	}
	placed := len(h.simOrders())
	ans, err := h.api.Close(h.ctx, "CLOSEDPG01", "")
	if err != nil || ans.Close != "scheduled" {
		t.Fatalf("the merchant's close: %+v %v, want scheduled (its first 5 minutes)", ans, err)
	}
	for _, ua := range []string{uaDesktop, uaSafari} {
		resp, body := get(t, c, link, ua)
		if resp.StatusCode != 200 || strings.Contains(body, "data:image/png") || !strings.Contains(body, "closed") {
			t.Fatalf("the page after the close (%s): %d\n%s", ua, resp.StatusCode, body)
		}
	}
	resp, _ := get(t, c, strings.Replace(link, "/pay/CLOSEDPG01?", "/pay/CLOSEDPG01/h5?", 1), uaSafari)
	if loc := resp.Header.Get("Location"); strings.Contains(loc, "wx.tenpay.com") || strings.Contains(loc, "/sim/h5/") {
		t.Fatalf("the H5 route after the close sent the browser to pay: %s", loc)
	}
	if n := len(h.simOrders()); n != placed {
		t.Fatalf("%d payments placed at WeChat Pay after the close, want %d", n, placed)
	}
}
