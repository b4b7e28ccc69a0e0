package createorder_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/paysls/wxpay/functions/createorder"
	"github.com/paysls/wxpay/functions/createorder/console"
	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/events"
	"github.com/paysls/wxpay/shared/store"
)

// Without console_users the console is one page saying how to configure it, for every
// path and method under /console; the order API is not affected.
func TestConsoleWithoutUsersSaysHowToConfigureIt(t *testing.T) {
	e := newEnv(t, envOptions{})
	srv := httptest.NewServer(e.h)
	defer srv.Close()
	for _, c := range []struct{ method, path string }{{"GET", "/console/"}, {"GET", "/console/review"}, {"POST", "/console/review/resolve"}, {"GET", "/console"}} {
		req, _ := http.NewRequest(c.method, srv.URL+c.path, nil)
		req.Header.Set("Accept-Language", "en")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "wxpay console passwd") ||
			!strings.Contains(string(body), config.EnvConsoleUsers) || res.Header.Get("Content-Security-Policy") == "" {
			t.Fatalf("%s %s: %d %.400s", c.method, c.path, res.StatusCode, body)
		}
	}
	if status, _ := e.call(t, "POST", "/orders", map[string]any{"order_id": "NOCONSOLE01", "amount": 100, "description": "x", "scene": "native"}); status != http.StatusCreated {
		t.Fatalf("the order API with the console off: %d", status)
	}
}

// The console over the order API's ledger finds an order by a transaction_id no key
// names (it asks WeChat Pay, whose answer names the out_trade_no), by out_refund_no,
// and refuses to refund a transaction that is the order's own payment.
func TestConsoleFindsByTransactionIDAndRefusesOwnPayment(t *testing.T) {
	e := newConsoleEnv(t, envOptions{})
	get := e.get

	e.call(t, "POST", "/orders", map[string]any{"order_id": "FINDTX0001", "amount": 700, "description": "x", "scene": "native"})
	e.pay(t, "FINDTX0001")
	o := e.waitState(t, "FINDTX0001", "SUCCESS")
	txid := o.Payment.TransactionID
	if status, _ := e.call(t, "POST", "/orders/FINDTX0001/refunds", map[string]any{"out_refund_no": "RFFINDTX01", "amount": 200}); status != http.StatusOK {
		t.Fatalf("refund: %d", status)
	}
	before := e.v3.Load()
	page := get("/console/find?q=" + txid)
	if !strings.Contains(page, "FINDTX0001 · SUCCESS") || !strings.Contains(page, "RFFINDTX01") {
		t.Fatalf("find by transaction_id:\n%s", page)
	}
	if e.v3.Load() == before {
		t.Fatal("a transaction_id no key names was found without asking WeChat Pay")
	}
	if page := get("/console/find?q=RFFINDTX01"); !strings.Contains(page, "FINDTX0001 · SUCCESS") {
		t.Fatalf("find by out_refund_no:\n%s", page)
	}
	before = e.v3.Load()
	if page := get("/console/find?q=" + url.QueryEscape("../order/x")); !strings.Contains(page, `id="nothing"`) || e.v3.Load() != before {
		t.Fatalf("a query no id can be was looked up:\n%s", page)
	}

	// The order's own payment is not a kept transaction: refused, nothing reserved.
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(get("/console/review"))
	if csrf == nil {
		t.Fatal("no CSRF token")
	}
	form := url.Values{"csrf": {csrf[1]}, "ref": {"order/" + e.owner() + "/FINDTX0001"}, "transaction_id": {txid}}
	res, _ := e.do("POST", "/console/review/refund", form)
	if loc := res.Header.Get("Location"); res.StatusCode != http.StatusSeeOther || !strings.Contains(loc, "refused=") {
		t.Fatalf("refund of the order's own payment: %d %s", res.StatusCode, loc)
	}
	if o, _ := e.order(t, "FINDTX0001"); o.Reserved() != 200 {
		t.Fatalf("a refused action reserved money: %d reserved", o.Reserved())
	}

	// Resolving a record that does not exist (a stale page, an edited form) is refused
	// as such, not shown as the store failing (暂时无法读取数据) with an ERROR logged.
	form = url.Values{"csrf": {csrf[1]}, "ref": {"order/" + e.owner() + "/NOSUCHREVIEW1"}, "note": {"checked"}}
	res, _ = e.do("POST", "/console/review/resolve", form)
	if loc, _ := url.QueryUnescape(res.Header.Get("Location")); res.StatusCode != http.StatusSeeOther || !strings.Contains(loc, "refused=no such record") {
		t.Fatalf("resolve of a record that does not exist: %d %s", res.StatusCode, loc)
	}
}

// An event the webhook never took within 72 hours is abandoned: the Events view still
// lists it, marked so, and Resend all revives it. It used to vanish from every listing.
func TestConsoleListsAbandonedEvents(t *testing.T) {
	e := newConsoleEnv(t, envOptions{})
	do := func(method, path string, form url.Values) string { _, page := e.do(method, path, form); return page }

	e.call(t, "POST", "/orders", map[string]any{"order_id": "GONEEVT001", "amount": 300, "description": "x", "scene": "native"})
	e.pay(t, "GONEEVT001")
	e.waitState(t, "GONEEVT001", "SUCCESS")
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "gone fishing", http.StatusBadGateway) }))
	defer down.Close()
	d := &events.Deliverer{Store: e.st, Sink: &events.Webhook{URL: down.URL, Secret: []byte("s")}, Marker: e.ledger(), Now: e.clock.Now}
	e.clock.Advance(events.GiveUpAfter + time.Minute)
	if r, err := d.DeliverDue(context.Background()); err != nil || r.Abandoned == 0 {
		t.Fatalf("delivery pass: %+v %v", r, err)
	}
	page := do("GET", "/console/events", nil)
	if !strings.Contains(page, "order.paid") || !strings.Contains(page, "abandoned: undelivered for 72 h") || !strings.Contains(page, "gone fishing") {
		t.Fatalf("the Events view without the abandoned event:\n%s", page)
	}
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page)
	if csrf == nil {
		t.Fatal("no CSRF token")
	}
	do("POST", "/console/events/resend-all", url.Values{"csrf": {csrf[1]}})
	if page := do("GET", "/console/events", nil); strings.Contains(page, "abandoned: undelivered") {
		t.Fatalf("still abandoned after Resend all:\n%s", page)
	}
	if gone, _, err := events.Abandoned(context.Background(), e.st, store.ListOptions{}); err != nil || len(gone) != 0 {
		t.Fatalf("abandoned after Resend all: %d %v", len(gone), err)
	}
}

// A service provider's console shows every sub-merchant's records: Find takes
// "sub_mchid/id" for a sub-merchant that is not the default, and an id alone finds it
// too (the order API noted the sub-merchant holding the number).
func TestPartnerConsoleFindsAnySubMerchant(t *testing.T) {
	e := newConsoleEnv(t, envOptions{partner: true})
	get := e.get
	const other = "1900000777"
	if st, m := e.call(t, "POST", "/orders", map[string]any{"order_id": "SUBFIND001", "amount": 500, "description": "x", "scene": "native", "sub_mchid": other}); st != http.StatusCreated {
		t.Fatalf("create for %s: %d %v", other, st, m)
	}
	if page := get("/console/find?q=" + other + "/SUBFIND001"); !strings.Contains(page, "SUBFIND001 · NOTPAY") || !strings.Contains(page, other) {
		t.Fatalf("find %s/SUBFIND001:\n%s", other, page)
	}
	// Its event links to its story under its sub-merchant.
	e.pay(t, "SUBFIND001")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		page := get("/console/events")
		if strings.Contains(page, `find?q=`+other+`%2FSUBFIND001`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the Events view links the sub-merchant's order without its sub_mchid:\n%s", page)
		}
	}
	if page := get("/console/find?q=SUBFIND001"); !strings.Contains(page, "SUBFIND001 · SUCCESS") || !strings.Contains(page, other) || strings.Contains(page, `id="holders"`) {
		t.Fatalf("find SUBFIND001 (held by %s alone):\n%s", other, page)
	}
	for _, q := range []string{"SUBFIND002", "1900000778/SUBFIND001", "abc/SUBFIND001", other + "/../x"} {
		if page := get("/console/find?q=" + url.QueryEscape(q)); !strings.Contains(page, `id="nothing"`) {
			t.Fatalf("find %q found something:\n%s", q, page)
		}
	}
}

// Order numbers are unique per sub-merchant only: the default sub-merchant and two
// others each hold SHAREDNO01 (one of them inside a combine, one re-priced). Find
// given the number alone showed the default's order and nothing of the others; it
// names every holder, each linked to its own story, and a re-priced attempt's number
// finds its order too.
func TestPlatformConsoleFindNamesEverySubMerchantHoldingANumber(t *testing.T) {
	e := newConsoleEnv(t, envOptions{partner: true, mutate: func(c *config.Config) { c.Bundle.Mode = config.ModeEcommerce }})
	const b, c = "1900000778", "1900000779"
	for _, sub := range []string{e.owner(), b} {
		if st, m := e.call(t, "POST", "/orders", map[string]any{"order_id": "SHAREDNO01", "amount": 500, "description": "x", "scene": "native", "sub_mchid": sub}); st != http.StatusCreated {
			t.Fatalf("create under %s: %d %v", sub, st, m)
		}
	}
	// b's is re-priced: its second attempt is SHAREDNO01_2.
	if st, m := e.call(t, "POST", "/orders", map[string]any{"order_id": "SHAREDNO01", "amount": 600, "description": "x", "scene": "native", "sub_mchid": b}); st != http.StatusCreated || m["out_trade_no"] != "SHAREDNO01_2" {
		t.Fatalf("re-price under %s: %d %v", b, st, m)
	}
	cart := map[string]any{"order_id": "SHAREDCART1", "scene": "native", "description": "cart", "sub_orders": []map[string]any{
		{"order_id": "SHAREDNO01", "sub_mchid": c, "amount": 100, "description": "a"},
		{"order_id": "SHAREDCART1-B", "sub_mchid": b, "amount": 200, "description": "b"}}}
	if st, m := e.call(t, "POST", "/orders", cart); st != http.StatusCreated {
		t.Fatalf("combine: %d %v", st, m)
	}
	holders := func(page string) []string {
		return regexp.MustCompile(`find\?q=(\d+)%2FSHAREDNO01"`).FindAllString(page[max(strings.Index(page, `id="holders"`), 0):], -1)
	}
	page := e.get("/console/find?q=SHAREDNO01")
	if !strings.Contains(page, `id="holders"`) || len(holders(page)) != 3 {
		t.Fatalf("find SHAREDNO01 names %d holders, want 3 (%s, %s, %s):\n%s", len(holders(page)), e.owner(), b, c, page)
	}
	for _, sub := range []string{e.owner(), b, c} {
		if !strings.Contains(page, `find?q=`+sub+`%2FSHAREDNO01"`) {
			t.Errorf("find SHAREDNO01 does not link %s's:\n%s", sub, page)
		}
		// Each link is that sub-merchant's own story.
		if own := e.get("/console/find?q=" + sub + "/SHAREDNO01"); !strings.Contains(own, sub) || !strings.Contains(own, "SHAREDNO01 · NOTPAY") {
			t.Errorf("find %s/SHAREDNO01:\n%s", sub, own)
		}
	}
	if page := e.get("/console/find?q=SHAREDNO01_2"); !strings.Contains(page, "SHAREDNO01 · NOTPAY") || !strings.Contains(page, b) {
		t.Errorf("find SHAREDNO01_2 (%s's second attempt):\n%s", b, page)
	}
	// A refund number alone finds its order under the sub-merchant that asked for it.
	if st, m := e.call(t, "POST", "/orders", map[string]any{"order_id": "RFHOLDER01", "amount": 500, "description": "x", "scene": "native", "sub_mchid": c}); st != http.StatusCreated {
		t.Fatalf("create under %s: %d %v", c, st, m)
	}
	e.pay(t, "RFHOLDER01")
	if st, m := e.call(t, "POST", "/orders/RFHOLDER01/refunds?sub_mchid="+c, map[string]any{"out_refund_no": "RFHOLDERNO1", "amount": 100}); st != http.StatusOK {
		t.Fatalf("refund under %s: %d %v", c, st, m)
	}
	if page := e.get("/console/find?q=RFHOLDERNO1"); !strings.Contains(page, "RFHOLDER01 · ") || !strings.Contains(page, c) || !strings.Contains(page, "RFHOLDERNO1") {
		t.Errorf("find RFHOLDERNO1 (a refund of %s's RFHOLDER01):\n%s", c, page)
	}
}

// An e-commerce platform's ABNORMAL refund goes to 异常退款 through the e-commerce
// endpoint (/v3/ecommerce/refunds/{refund_id}/apply-abnormal-refund), which is the only
// one that knows it: the domestic one answers RESOURCE_NOT_EXISTS.
func TestEcommerceConsoleAbnormalRefund(t *testing.T) {
	e := newConsoleEnv(t, envOptions{partner: true, mutate: func(c *config.Config) { c.Bundle.Mode = config.ModeEcommerce }})
	do := e.do
	if st, m := e.call(t, "POST", "/orders", map[string]any{"order_id": "ECABN00001", "amount": 800, "description": "x", "scene": "native", "sub_mchid": e.owner()}); st != http.StatusCreated {
		t.Fatalf("create: %d %v", st, m)
	}
	e.pay(t, "ECABN00001")
	e.waitState(t, "ECABN00001", "SUCCESS")
	if st, m := e.call(t, "POST", "/orders/ECABN00001/refunds", map[string]any{"out_refund_no": "ECRFABN001", "amount": 300}); st != http.StatusOK {
		t.Fatalf("refund: %d %v", st, m)
	}
	_, nid, _, err := e.sim.SettleRefund("ECRFABN001", "ABNORMAL")
	if err != nil {
		t.Fatal(err)
	}
	e.notified.Wait(t, nid)
	_, page := do("GET", "/console/refunds", nil)
	if !strings.Contains(page, `data-state="ABNORMAL"`) {
		t.Fatalf("the Refunds view after the ABNORMAL notification:\n%s", page)
	}
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page)
	if csrf == nil || !strings.Contains(page, "ECRFABN001") {
		t.Fatalf("the Refunds view:\n%s", page)
	}
	res, _ := do("POST", "/console/refunds/abnormal", url.Values{"csrf": {csrf[1]}, "out_refund_no": {"ECRFABN001"}, "mchid": {e.owner()}, "type": {"MERCHANT_BANK_CARD"}})
	if loc := res.Header.Get("Location"); res.StatusCode != http.StatusSeeOther || strings.Contains(loc, "refused=") || strings.Contains(loc, "failed") {
		t.Fatalf("异常退款: %d %s", res.StatusCode, loc)
	}
	r, err := e.ledger().Refund(context.Background(), e.owner(), "ECRFABN001")
	if err != nil || len(r.Reissues) != 1 {
		t.Fatalf("the ledger's refund after 异常退款: %+v %v", r, err)
	}
}

// consoleEnv is newEnv with the console on (one operator, "ops") served over TLS — its
// session cookie is Secure — and that operator signed in.
type consoleEnv struct {
	*env
	t      *testing.T
	srv    *httptest.Server
	cl     *http.Client
	cookie string
}

func newConsoleEnv(t *testing.T, o envOptions) *consoleEnv {
	t.Helper()
	const password = "correct horse battery staple"
	line, err := console.HashPassword("ops", password)
	if err != nil {
		t.Fatal(err)
	}
	mutate := o.mutate
	o.mutate = func(c *config.Config) {
		if mutate != nil {
			mutate(c)
		}
		c.Bundle.ConsoleUsers = config.NewSecret([]byte(line))
	}
	c := &consoleEnv{env: newEnv(t, o), t: t}
	c.srv = httptest.NewTLSServer(c.h)
	t.Cleanup(c.srv.Close)
	c.cl = c.srv.Client()
	c.cl.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, err := c.cl.PostForm(c.srv.URL+createorder.ConsolePrefix+"/signin", url.Values{"user": {"ops"}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	for _, ck := range res.Cookies() {
		if ck.Name == "wxpay_console" {
			c.cookie = ck.Name + "=" + ck.Value
		}
	}
	if c.cookie == "" {
		t.Fatalf("sign-in: %d, no session cookie", res.StatusCode)
	}
	return c
}

// do makes one console request as the signed-in operator (a form body when form is
// not nil; redirects not followed) and returns the answer with its body read.
func (c *consoleEnv) do(method, path string, form url.Values) (*http.Response, string) {
	c.t.Helper()
	req, _ := http.NewRequest(method, c.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Cookie", c.cookie)
	req.Header.Set("Accept-Language", "en")
	res, err := c.cl.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

// get is a page as the signed-in operator sees it.
func (c *consoleEnv) get(path string) string {
	c.t.Helper()
	_, page := c.do("GET", path, nil)
	return page
}
