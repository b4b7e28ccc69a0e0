package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/paysls/wxpay/internal/testbrowser"
)

// The operations console driven in Chromium against `wxpay serve` with the simulator,
// as an operator would: sign in with the user serve made; a webhook that fails, its
// event resent once the receiver is back; a REVIEW made by a second payment (a
// replaced attempt paid after the order was re-priced), its kept transaction refunded
// and the order resolved with a note; the day's bill and its discrepancy; an ABNORMAL
// refund sent to 异常退款 and settled by the simulator; a refund PROCESSING beyond 7
// working days; hostile values in every field the console shows, rendered inert; and
// actions without the CSRF token, from another origin or without the session, refused.
// Screenshots of every view go to $WXPAY_SCREENSHOTS/<test> or the test's artifact dir.

// hostile is put into every value an operator or a third party controls.
const hostile = `"><script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'`

type consoleBrowser struct {
	t    *testing.T
	ctx  context.Context
	dir  string
	base string
}

func newConsoleBrowser(t *testing.T, base string) *consoleBrowser {
	t.Helper()
	tab := testbrowser.Open(t, testbrowser.Options{What: "the console's", Width: 1280, Height: 900, Timeout: 4 * time.Minute,
		// 403/401 answers the test asks for are logged by Chromium as failed loads.
		Expected: func(text, _ string) bool { return strings.Contains(text, "status of 40") }})
	return &consoleBrowser{t: t, ctx: tab.Ctx, dir: tab.Dir, base: base}
}

func (b *consoleBrowser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		html, _ := chromedp.Run(b.ctx, chromedp.OuterHTML(chromedp.CSS("body")))
		b.t.Fatalf("%s: %v\n%s", what, err, html)
	}
}

func (b *consoleBrowser) open(path string) {
	b.t.Helper()
	b.do("open "+path, chromedp.Navigate(b.base+path), chromedp.WaitReady(chromedp.CSS("body")))
	b.inert(path)
}

func (b *consoleBrowser) eval(js string) string {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](js))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

func (b *consoleBrowser) text() string { return b.eval(`document.body.innerText`) }

// inert checks that nothing hostile became markup: no script but the console's own,
// no img the console did not draw, no event-handler attribute, nothing ran.
func (b *consoleBrowser) inert(where string) {
	b.t.Helper()
	got := b.eval(`(function(){
		var bad = [];
		document.querySelectorAll('script').forEach(function(s){ if (!/\/console\/_\/console\.js$/.test(s.src)) bad.push('script ' + s.outerHTML.slice(0,80)); });
		document.querySelectorAll('img').forEach(function(i){ bad.push('img ' + i.outerHTML.slice(0,80)); });
		document.querySelectorAll('*').forEach(function(e){ for (var a of e.attributes) if (/^on/i.test(a.name)) bad.push('attr ' + a.name); });
		if (window.__pwned) bad.push('script ran: ' + window.__pwned);
		return bad.join('; ');
	})()`)
	if got != "" {
		b.t.Fatalf("%s: hostile value live in the page: %s", where, got)
	}
}

func (b *consoleBrowser) shot(name string) {
	b.t.Helper()
	buf, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	p := filepath.Join(b.dir, name+".png")
	if err := os.WriteFile(p, buf, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot %s", p)
}

// waitPage reloads path until the page's text contains want.
func (b *consoleBrowser) waitPage(path, want string, within time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(within)
	for {
		b.open(path)
		txt := b.text()
		if strings.Contains(txt, want) {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("%s never showed %q within %v; it shows:\n%s", path, want, within, txt)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// receiver is the merchant's webhook: failing (500 with a hostile body) until it
// recovers; it keeps the types of the events it acknowledged.
type receiver struct {
	srv  *httptest.Server
	down atomic.Bool
	mu   sync.Mutex
	got  []string
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var ev struct{ Type string }
		_ = json.NewDecoder(req.Body).Decode(&ev)
		if r.down.Load() {
			http.Error(w, "maintenance "+hostile, http.StatusInternalServerError)
			return
		}
		r.mu.Lock()
		r.got = append(r.got, ev.Type)
		r.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) received(typ string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, g := range r.got {
		if g == typ {
			n++
		}
	}
	return n
}

// bundleAPI calls serve's order API, the simulator's driver and its jobs.
type bundleAPI struct {
	t           *testing.T
	base, token string
}

func (a bundleAPI) call(method, path, body string, wantStatus int) map[string]any {
	a.t.Helper()
	req, _ := http.NewRequest(method, a.base+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if wantStatus != 0 && res.StatusCode != wantStatus {
		a.t.Fatalf("%s %s: %d %s", method, path, res.StatusCode, raw)
	}
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return m
}

func (a bundleAPI) order(id string, amount int) {
	a.t.Helper()
	a.call("POST", "/orders", fmt.Sprintf(`{"order_id":%q,"amount":%d,"description":"控制台测试 console test","scene":"native"}`, id, amount), 0)
}

func (a bundleAPI) pay(outTradeNo string) map[string]any {
	a.t.Helper()
	return a.call("POST", "/sim/orders/"+outTradeNo+"/pay", "", http.StatusOK)
}

func (a bundleAPI) waitState(id, want string) {
	a.t.Helper()
	var got any
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if got = a.call("GET", "/orders/"+id, "", 0)["state"]; got == want {
			return
		}
	}
	a.t.Fatalf("order %s: state %v, want %s", id, got, want)
}

func (a bundleAPI) waitRefund(id, no, want string) {
	a.t.Helper()
	var got any
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if got = a.call("GET", "/orders/"+id+"/refunds/"+no, "", 0)["state"]; got == want {
			return
		}
	}
	a.t.Fatalf("refund %s of %s: state %v, want %s", no, id, got, want)
}

func (a bundleAPI) advance(d string) {
	a.t.Helper()
	a.call("POST", "/sim/clock", `{"advance":"`+d+`"}`, http.StatusOK)
}

// untilNextDayAt is how far the simulator's clock is from hour:minute (+08:00) of the
// next day, as an advance ("…s").
func (a bundleAPI) untilNextDayAt(hour, minute int) string {
	a.t.Helper()
	raw, _ := a.call("GET", "/sim/clock", "", http.StatusOK)["now"].(string)
	now, err := time.Parse(time.RFC3339, raw)
	if err != nil {
		a.t.Fatalf("the simulator's clock reads %q: %v", raw, err)
	}
	y, m, d := now.Date() // the simulator's clock reads in UTC+8
	target := time.Date(y, m, d+1, hour, minute, 0, 0, now.Location())
	return fmt.Sprintf("%ds", int64(target.Sub(now).Seconds())+1)
}

func (a bundleAPI) today() string {
	a.t.Helper()
	now, _ := a.call("GET", "/sim/clock", "", http.StatusOK)["now"].(string)
	return now[:10] // the simulator's clock reads in UTC+8
}

func TestBrowserConsole(t *testing.T) {
	t.Setenv("WXPAY_PUBLIC_URL", "")
	t.Setenv("WXPAY_WEBHOOK_URL", "")
	t.Setenv("WXPAY_CONSOLE_USERS", "")
	hook := newReceiver(t)
	hook.down.Store(true)
	srv := startRunServe(t, "--webhook-url", hook.srv.URL)
	t.Cleanup(func() { _ = srv.stop() })
	m := regexp.MustCompile(`/console/ +the operations console: user admin, password (\S+) `).FindStringSubmatch(srv.out.String())
	if m == nil {
		t.Fatalf("serve printed no console user:\n%s", srv.out.String())
	}
	password := m[1]
	api := bundleAPI{t: t, base: srv.base, token: srv.token}
	b := newConsoleBrowser(t, srv.base)

	// Signed out: every page is the sign-in form, whatever the path (no 404 that tells
	// which actions exist); a hostile return address stays on the console.
	b.open("/console/?lang=zh") // Chinese, as a browser preferring it gets by default
	b.open("/console/events/resend-all?next=" + url.QueryEscape(hostile))
	if n := b.eval(`String(document.querySelectorAll('form[action="/console/signin"]').length)`); n != "1" {
		t.Fatalf("signed out: no sign-in form:\n%s", b.text())
	}
	b.shot("00-signin")
	b.do("wrong password", chromedp.SendKeys(chromedp.CSS(`input[name=user]`), hostile), chromedp.SendKeys(chromedp.CSS(`input[name=password]`), "not the password"),
		chromedp.Click(chromedp.CSS(`button[type=submit]`)), chromedp.WaitVisible(chromedp.CSS(`.problem`)))
	b.inert("failed sign-in")
	b.do("sign in", chromedp.SendKeys(chromedp.CSS(`input[name=user]`), "admin"),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), password), chromedp.Click(chromedp.CSS(`button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`header nav`)))
	b.inert("signed in")

	// 1. A failing webhook: the event shows with the receiver's (hostile) answer; once
	// the receiver is back, Resend delivers it and it leaves the list.
	api.order("EVT0000001", 990)
	api.pay("EVT0000001")
	api.waitState("EVT0000001", "SUCCESS")
	b.waitPage("/console/events", "HTTP 500", 20*time.Second)
	if !strings.Contains(b.text(), "maintenance") || !strings.Contains(b.text(), `<script>window.__pwned=1</script>`) {
		t.Fatalf("the webhook's last error is not shown as text:\n%s", b.text())
	}
	b.shot("01-events-failing")
	hook.down.Store(false)
	row := `//tr[.//code[text()="order.paid"] and .//a[text()="EVT0000001"]]`
	b.do("resend", chromedp.Click(chromedp.Search(row+`//button`)), chromedp.WaitVisible(chromedp.CSS(`.ok`)))
	if hook.received("order.paid") != 1 {
		t.Fatalf("the resent order.paid was not delivered: the receiver has %v", hook.got)
	}
	b.open("/console/events")
	if strings.Contains(b.text(), "EVT0000001") {
		t.Fatalf("a delivered event is still listed:\n%s", b.text())
	}
	b.shot("02-events-resent")

	// 2. A REVIEW made by a second payment: REV0000001 re-priced (attempt _2) and paid,
	// then its replaced attempt paid too. A refund of another order stays PROCESSING
	// (stuck later), one goes ABNORMAL.
	day := api.today()
	api.order("REV0000001", 1000)
	api.order("REV0000001", 1200)
	api.pay("REV0000001_2")
	kept := api.pay("REV0000001")["transaction"].(map[string]any)["transaction_id"].(string)
	api.waitState("REV0000001", "REVIEW")
	api.order("STK0000001", 500)
	api.pay("STK0000001")
	api.waitState("STK0000001", "SUCCESS")
	api.call("POST", "/orders/STK0000001/refunds", `{"out_refund_no":"RFSTK00001","amount":500}`, http.StatusOK)
	api.order("ABN0000001", 800)
	api.pay("ABN0000001")
	api.waitState("ABN0000001", "SUCCESS")
	api.call("POST", "/orders/ABN0000001/refunds", `{"out_refund_no":"RFABN00001","amount":800,"reason":"`+strings.ReplaceAll(hostile, `"`, `\"`)[:60]+`"}`, http.StatusOK)
	api.call("POST", "/sim/refunds/RFABN00001/settle", `{"status":"ABNORMAL"}`, http.StatusOK)

	b.waitPage("/console/review", kept, 10*time.Second)
	card := `section.review[data-ref$="/REV0000001"]`
	if txt := b.eval(`document.querySelector('` + card + `').innerText`); !strings.Contains(txt, "paid_after_close_request") || !strings.Contains(txt, "REV0000001_2") {
		t.Fatalf("the review card lacks its cause or the order's own payment:\n%s", txt)
	}
	b.shot("03-review")

	// 3. The day's bill, fetched while the review is open: its discrepancy names the order.
	// WeChat Pay (and the simulator) has a day's bill from 10:00 the next day: "24h" from a
	// run between midnight and 10:00 (+08:00) asked too early (STATEMENT_CREATING).
	api.advance(api.untilNextDayAt(10, 30))
	api.call("POST", "/jobs/billfetch?date="+day, "", http.StatusOK)
	b.open("/console/bills")
	if txt := b.text(); !strings.Contains(txt, day) || !strings.Contains(txt, "state_mismatch") || !strings.Contains(txt, "REV0000001") {
		t.Fatalf("the bill's discrepancy is not shown:\n%s", txt)
	}
	if href := b.eval(`(document.querySelector('section.bill a[href*="find?q=REV0000001"]')||{}).href||''`); href == "" {
		t.Fatal("the discrepancy does not link to its order")
	}
	b.shot("04-bills")
	api.order("NEW0000001", 1500) // today, not billed yet: the ledger's listing
	api.pay("NEW0000001")
	api.waitState("NEW0000001", "SUCCESS")
	b.waitPage("/console/", "15.00", 10*time.Second)
	if n := b.eval(`String(document.querySelectorAll('svg.chart rect.paid').length)`); n != "14" {
		t.Fatalf("the chart has %s paid bars, want 14", n)
	}
	b.shot("05-today")

	// 4. The kept transaction refunded (the confirm dialog accepted), the refund settled
	// by the simulator, the order resolved with a (hostile) note.
	b.open("/console/review")
	b.eval(`window.confirm = function(){ return true }; ''`)
	b.do("refund the kept transaction", chromedp.Click(chromedp.Search(`//section[@data-ref="order/`+mchOf(t, srv)+`/REV0000001"]//tr[.//code[text()="`+kept+`"]]//button`)),
		chromedp.WaitVisible(chromedp.CSS(`.ok`)))
	api.call("POST", "/sim/refunds/LATE"+kept+"/settle", "", http.StatusOK)
	b.waitPage("/console/review", "LATE"+kept+" SUCCESS", 10*time.Second)
	b.shot("06-review-refunded")
	b.do("resolve", chromedp.SendKeys(chromedp.CSS(card+` input[name=note]`), "退还重复支付 refunded the duplicate "+hostile),
		chromedp.Click(chromedp.CSS(card+` form.resolve button`)), chromedp.WaitVisible(chromedp.CSS(`.ok`)))
	b.inert("after resolve")
	if strings.Contains(b.text(), "REV0000001") && b.eval(`String(!!document.querySelector('`+card+`'))`) == "true" {
		t.Fatalf("the resolved order is still under review:\n%s", b.text())
	}
	if s := api.call("GET", "/orders/REV0000001", "", http.StatusOK)["state"]; s == "REVIEW" {
		t.Fatalf("the order API still shows REVIEW after the resolution")
	}
	waitFor(t, "order.review_resolved at the webhook", 10*time.Second, func() bool { return hook.received("order.review_resolved") == 1 })
	b.open("/console/find?q=REV0000001")
	if txt := b.text(); !strings.Contains(txt, "refunded the duplicate") || !strings.Contains(txt, "order.review_resolved") || !strings.Contains(txt, "LATE"+kept) {
		t.Fatalf("the story lacks the resolution, its event or the refund:\n%s", txt)
	}
	b.shot("07-find-resolved")

	// 5. The ABNORMAL refund sent to 异常退款 (card fields encrypted for WeChat Pay), back
	// to PROCESSING, settled by the simulator.
	b.waitPage("/console/refunds", "RFABN00001", 10*time.Second)
	b.shot("08-refunds-abnormal")
	form := `section.refund[data-state="ABNORMAL"] form.abnormal`
	b.do("异常退款", chromedp.SendKeys(chromedp.CSS(form+` input[name=bank_type]`), "ICBC_DEBIT"),
		chromedp.SendKeys(chromedp.CSS(form+` input[name=bank_account]`), "6222020200112233445"),
		chromedp.SendKeys(chromedp.CSS(form+` input[name=real_name]`), "张三"+hostile[:20]),
		chromedp.Click(chromedp.CSS(form+` button`)), chromedp.WaitVisible(chromedp.CSS(`.ok`)))
	if strings.Contains(b.text(), "ABNORMAL") {
		t.Fatalf("the reissued refund is still listed ABNORMAL:\n%s", b.text())
	}
	sim, _ := api.call("GET", "/sim/refunds/RFABN00001", "", http.StatusOK)["refund"].(map[string]any)
	if sim["status"] != "PROCESSING" || sim["channel"] != "OTHER_BANKCARD" {
		t.Fatalf("the simulator's refund after 异常退款: %v", sim)
	}
	api.waitRefund("ABN0000001", "RFABN00001", "PROCESSING")
	api.call("POST", "/sim/refunds/RFABN00001/settle", "", http.StatusOK)
	api.waitRefund("ABN0000001", "RFABN00001", "SUCCESS")
	b.open("/console/find?q=RFABN00001")
	if txt := b.text(); !strings.Contains(txt, "USER_BANK_CARD ICBC_DEBIT") || !strings.Contains(txt, "SUCCESS") || strings.Contains(txt, "6222020200112233445") {
		t.Fatalf("the story of the reissued refund:\n%s", txt)
	}
	b.shot("09-find-abnormal-settled")

	// 6. RFSTK00001, still PROCESSING twelve days later: more than 7 working days.
	api.advance("288h")
	b.waitPage("/console/refunds", "RFSTK00001", 10*time.Second)
	b.shot("10-refunds-stuck")

	// 7. Hostile values where they can be typed or sent: the search box, the
	// confirmation banners, the audit log (the note), the language switch.
	b.open("/console/find?q=" + url.QueryEscape(hostile))
	if !strings.Contains(b.text(), `<script>window.__pwned=1</script>`) {
		t.Fatalf("the hostile query is not shown as text:\n%s", b.text())
	}
	b.shot("11-hostile-find")
	b.open("/console/review?ok=" + url.QueryEscape(hostile))
	b.open("/console/events?refused=" + url.QueryEscape(hostile))
	b.open("/console/audit?lang=en")
	if !strings.Contains(b.text(), "refunded the duplicate") || !strings.Contains(b.text(), "abnormal_refund") {
		t.Fatalf("the audit log lacks the actions:\n%s", b.text())
	}
	if strings.Contains(b.text(), "6222020200112233445") {
		t.Fatal("the card number reached the audit log")
	}
	b.shot("12-audit")

	// 8. Actions without the CSRF token, from another origin, without the session, on
	// an event owed to a receiver that is down again.
	hook.down.Store(true)
	api.order("CSRF000001", 100)
	api.pay("CSRF000001")
	b.waitPage("/console/events?lang=zh", "CSRF000001", 20*time.Second)
	b.eval(`document.querySelectorAll('input[name=csrf]').forEach(function(i){ i.value = 'stale' }); ''`)
	b.do("resend all with a stale token", chromedp.Click(chromedp.CSS(`form[action$="/resend-all"] button`)), chromedp.WaitVisible(chromedp.CSS(`.problem`)))
	if !strings.Contains(b.text(), "表单已过期") {
		t.Fatalf("a stale CSRF token was not refused:\n%s", b.text())
	}
	b.shot("13-csrf-refused")
	res, err := chromedp.Call(b.ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{srv.base + "/console/"}})
	if err != nil {
		t.Fatal(err)
	}
	cookies := res.Cookies
	var session string
	for _, c := range cookies {
		if c.Name == "wxpay_console" {
			session = c.Value
		}
	}
	if session == "" {
		t.Fatalf("no session cookie in the browser: %v", cookies)
	}
	b.open("/console/events")
	tok := b.eval(`document.querySelector('input[name=csrf]').value`)
	post := func(form url.Values, hdr ...string) int {
		req, _ := http.NewRequest("POST", srv.base+"/console/events/resend-all", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	sess := "wxpay_console=" + session
	for _, c := range []struct {
		name string
		code int
		form url.Values
		hdr  []string
	}{
		{"no session", 401, url.Values{"csrf": {tok}}, nil},
		{"no token", 403, url.Values{}, []string{"Cookie", sess}},
		{"another origin", 403, url.Values{"csrf": {tok}}, []string{"Cookie", sess, "Origin", "https://evil.example"}},
	} {
		if got := post(c.form, c.hdr...); got != c.code {
			t.Errorf("%s: %d, want %d", c.name, got, c.code)
		}
	}
	if got := post(url.Values{"csrf": {tok}}, "Cookie", sess); got != http.StatusSeeOther {
		t.Errorf("the same action with the session and its token: %d, want 303", got)
	}
	if _, err := chromedp.Call(b.ctx, network.ClearBrowserCookies, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	b.do("an action without the session", chromedp.Click(chromedp.CSS(`form[action$="/resend-all"] button`)), chromedp.WaitVisible(chromedp.CSS(`.problem`)))
	if txt := b.text(); !strings.Contains(txt, "请先登录") && !strings.Contains(txt, "Sign in first") { // the language cookie went too
		t.Fatalf("an action without the session was not refused:\n%s", b.text())
	}
	b.shot("14-session-refused")
	b.open("/console/audit")
	if n := b.eval(`String(document.querySelectorAll('form[action="/console/signin"]').length)`); n != "1" {
		t.Fatal("without the session the audit log was shown")
	}
}

// mchOf is the simulator identity's mchid (the owner in review refs).
func mchOf(t *testing.T, srv *runningServe) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(srv.keys, "mchid"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}
