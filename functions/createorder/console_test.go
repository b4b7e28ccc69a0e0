package createorder_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/paysls/wxpay/functions/createorder"
	"github.com/paysls/wxpay/functions/createorder/console"
	"github.com/paysls/wxpay/shared/config"
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
	const password = "correct horse battery staple"
	line, err := console.HashPassword("ops", password)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, envOptions{mutate: func(c *config.Config) { c.Bundle.ConsoleUsers = config.NewSecret([]byte(line)) }})
	srv := httptest.NewTLSServer(e.h) // the session cookie is Secure
	defer srv.Close()
	cl := srv.Client()
	cl.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, err := cl.PostForm(srv.URL+createorder.ConsolePrefix+"/signin", url.Values{"user": {"ops"}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	var cookie string
	for _, c := range res.Cookies() {
		if c.Name == "wxpay_console" {
			cookie = c.Name + "=" + c.Value
		}
	}
	if cookie == "" {
		t.Fatalf("sign-in: %d, no session cookie", res.StatusCode)
	}
	get := func(path string) string {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		req.Header.Set("Cookie", cookie)
		req.Header.Set("Accept-Language", "en")
		res, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return string(b)
	}

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
	req, _ := http.NewRequest("POST", srv.URL+"/console/review/refund", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Cookie", cookie)
	res, err = cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if loc := res.Header.Get("Location"); res.StatusCode != http.StatusSeeOther || !strings.Contains(loc, "refused=") {
		t.Fatalf("refund of the order's own payment: %d %s", res.StatusCode, loc)
	}
	if o, _ := e.order(t, "FINDTX0001"); o.Reserved() != 200 {
		t.Fatalf("a refused action reserved money: %d reserved", o.Reserved())
	}

	// Resolving a record that does not exist (a stale page, an edited form) is refused
	// as such, not shown as the store failing (暂时无法读取数据) with an ERROR logged.
	form = url.Values{"csrf": {csrf[1]}, "ref": {"order/" + e.owner() + "/NOSUCHREVIEW1"}, "note": {"checked"}}
	req, _ = http.NewRequest("POST", srv.URL+"/console/review/resolve", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Cookie", cookie)
	res, err = cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if loc, _ := url.QueryUnescape(res.Header.Get("Location")); res.StatusCode != http.StatusSeeOther || !strings.Contains(loc, "refused=no such record") {
		t.Fatalf("resolve of a record that does not exist: %d %s", res.StatusCode, loc)
	}
}
