package paysim

import (
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/paysls/wxpay/shared/wechatpay"
)

// placeH5 places an H5 order and returns its h5_url.
func (e *env) placeH5(no string, total int64, notifyURL string) string {
	e.t.Helper()
	p := e.nativeOrder(no, total, notifyURL)
	p.SceneInfo = &wechatpay.SceneInfo{PayerClientIP: "203.0.113.7", H5Info: &wechatpay.H5Info{Type: "Wap"}}
	r := e.call("POST", "/v3/pay/transactions/h5", p)
	var pr wechatpay.PrepayResponse
	if r.status != 200 || json.Unmarshal(r.body, &pr) != nil || pr.H5URL == "" {
		e.t.Fatalf("h5 prepay %s: %d %s", no, r.status, r.body)
	}
	return pr.H5URL
}

// submit posts one of the page's forms the way a browser does: the form's action and
// hidden fields, read from the page.
func submit(t *testing.T, base, page, action, ua string) *http.Response {
	t.Helper()
	re := regexp.MustCompile(`(?s)<form method="post" action="([^"]*/` + action + `)">(.*?)</form>`)
	m := re.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no %s form in:\n%s", action, page)
	}
	form := url.Values{}
	for _, in := range regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`).FindAllStringSubmatch(m[2], -1) {
		form.Set(in[1], html.UnescapeString(in[2]))
	}
	req, _ := http.NewRequest("POST", base+html.UnescapeString(m[1]), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", ua)
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func (e *env) tradeState(no string) string {
	e.t.Helper()
	var v OrderView
	if e.simCall("GET", "/sim/orders/"+no, nil, &v) != 200 {
		e.t.Fatalf("no order %s", no)
	}
	return v.Transaction.TradeState
}

func TestH5PagePaysAndReturns(t *testing.T) {
	e := newEnv(t, Config{})
	rc := newReceiver(t, nil)
	h5url := e.placeH5("H5PAY0000001", 1234, rc.url())
	if !strings.HasPrefix(h5url, e.srv.URL+"/sim/h5/wx") || !strings.Contains(h5url, "?package=") {
		t.Fatalf("h5_url %q should point at the simulator", h5url)
	}
	back := "https://shop.example.com/paid?order=42&from=h5"
	link := h5url + "&redirect_url=" + url.QueryEscape(back) // seed 004: URL-encoded

	resp, page := get(t, link, uaSafari)
	if resp.StatusCode != 200 || !strings.Contains(page, "¥12.34") || !strings.Contains(page, "确认支付") || !strings.Contains(page, "取消支付") ||
		!strings.Contains(page, "测试商品") || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Fatalf("page: %d %v\n%s", resp.StatusCode, resp.Header, page)
	}
	if strings.Contains(page, "<script") || strings.Contains(page, "src=") || strings.Contains(page, "<link") {
		t.Fatal("the page loads nothing external and runs no script")
	}

	// Pay: the order is paid, the merchant notified, and the browser sent back.
	resp = submit(t, e.srv.URL, page, "pay", uaSafari)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != back {
		t.Fatalf("pay: %d → %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if s := e.tradeState("H5PAY0000001"); s != "SUCCESS" {
		t.Fatalf("after pay: %s", s)
	}
	var tx wechatpay.Transaction
	e.open(t, rc.next(t), &tx)
	if tx.OutTradeNo != "H5PAY0000001" || tx.TradeType != wechatpay.TradeTypeMWeb || tx.Payer.OpenID != openID(e.id.AppID, defaultSimUser) {
		t.Fatalf("notification %+v", tx)
	}
	// Opening the link again shows it paid, with the way back.
	if resp, page := get(t, link, uaSafari); resp.StatusCode != 200 || !strings.Contains(page, "支付成功") || !strings.Contains(page, html.EscapeString(back)) {
		t.Fatalf("paid page: %d %s", resp.StatusCode, page)
	}
}

func TestH5PageCancel(t *testing.T) {
	e := newEnv(t, Config{})
	h5url := e.placeH5("H5CANCEL0001", 100, "https://merchant.example.com/n")
	back := "https://shop.example.com/r"
	_, page := get(t, h5url+"&redirect_url="+url.QueryEscape(back), uaSafari)
	if resp := submit(t, e.srv.URL, page, "cancel", uaSafari); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != back {
		t.Fatalf("cancel: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if s := e.tradeState("H5CANCEL0001"); s != "NOTPAY" {
		t.Fatalf("a cancelled payment leaves the order unpaid, got %s", s)
	}
	// Without redirect_url: a page, and payment still possible from the link.
	_, page = get(t, h5url, uaSafari)
	resp := submit(t, e.srv.URL, page, "cancel", uaSafari)
	if resp.StatusCode != 200 {
		t.Fatalf("cancel without redirect_url: %d", resp.StatusCode)
	}
	if resp := submit(t, e.srv.URL, page, "pay", uaSafari); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/sim/h5/") {
		t.Fatalf("pay without redirect_url: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if s := e.tradeState("H5CANCEL0001"); s != "SUCCESS" {
		t.Fatal(s)
	}
}

func TestH5PageRefusals(t *testing.T) {
	e := newEnv(t, Config{})
	h5url := e.placeH5("H5REFUSE0001", 100, "https://merchant.example.com/n")
	// Inside WeChat.
	resp, page := get(t, h5url, uaWeChat)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(page, "请在微信外打开订单") {
		t.Fatalf("in WeChat: %d %s", resp.StatusCode, page)
	}
	_, good := get(t, h5url, uaSafari)
	if resp := submit(t, e.srv.URL, good, "pay", uaWeChat); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("paying from WeChat's browser: %d", resp.StatusCode)
	}
	// redirect_url not encoded (seed 004): its query leaks into the h5_url.
	resp, page = get(t, h5url+"&redirect_url=https://shop.example.com/paid?order=1&t=2", uaSafari)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "redirect_url is not URL-encoded") {
		t.Fatalf("unencoded redirect_url: %d %s", resp.StatusCode, page)
	}
	// A tampered package.
	resp, _ = get(t, regexp.MustCompile(`package=\d+`).ReplaceAllString(h5url, "package=1"), uaSafari)
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("wrong package: %d", resp.StatusCode)
	}
	// A redirect_url that is no URL.
	resp, _ = get(t, h5url+"&redirect_url="+url.QueryEscape("javascript:alert(1)"), uaSafari)
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("javascript: redirect_url: %d", resp.StatusCode)
	}
	if s := e.tradeState("H5REFUSE0001"); s != "NOTPAY" {
		t.Fatal(s)
	}
}

// TestH5LinkExpires: an h5_url lives 5 minutes on the virtual clock; placing the same
// order again gives a fresh one.
func TestH5LinkExpires(t *testing.T) {
	e := newEnv(t, Config{})
	h5url := e.placeH5("H5EXPIRE0001", 100, "https://merchant.example.com/n")
	if again := e.placeH5("H5EXPIRE0001", 100, "https://merchant.example.com/n"); again != h5url {
		t.Fatalf("a retry within 5 minutes returns the same link: %q vs %q", again, h5url)
	}
	_, page := get(t, h5url, uaSafari)
	e.advance("5m1s")
	resp, body := get(t, h5url, uaSafari)
	if resp.StatusCode != http.StatusGone || !strings.Contains(body, "支付请求已失效") {
		t.Fatalf("expired link: %d %s", resp.StatusCode, body)
	}
	if resp := submit(t, e.srv.URL, page, "pay", uaSafari); resp.StatusCode != http.StatusGone {
		t.Fatalf("paying through an expired link: %d", resp.StatusCode)
	}
	if s := e.tradeState("H5EXPIRE0001"); s != "NOTPAY" {
		t.Fatal(s)
	}
	fresh := e.placeH5("H5EXPIRE0001", 100, "https://merchant.example.com/n")
	if fresh == h5url {
		t.Fatal("an expired h5_url must be replaced when the order is placed again")
	}
	if resp, _ := get(t, fresh, uaSafari); resp.StatusCode != 200 {
		t.Fatalf("fresh link: %d", resp.StatusCode)
	}
	if resp, _ := get(t, h5url, uaSafari); resp.StatusCode == 200 {
		t.Fatal("the old link stays dead")
	}
}

func TestH5PublicURL(t *testing.T) {
	e := newEnv(t, Config{PublicURL: "https://sim.example.test/"})
	if u := e.placeH5("H5PUBLIC0001", 100, "https://merchant.example.com/n"); !strings.HasPrefix(u, "https://sim.example.test/sim/h5/wx") {
		t.Fatalf("h5_url %q", u)
	}
}
