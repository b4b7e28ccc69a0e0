package cashier_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/paysls/wxpay/shared/config"
)

const (
	uaWeChat  = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.50(0x1800322d) NetType/WIFI Language/zh_CN"
	uaSafari  = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
	uaDesktop = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36"
)

// browserless is an HTTP client with a cookie jar that does not follow redirects.
func browserless(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
}

func get(t *testing.T, c *http.Client, u, ua string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("User-Agent", ua)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestLinkTokenRefusals(t *testing.T) {
	h := newHarness(t)
	h.add("TOKEN000001", 1234, "令牌测试 Token test", 2*time.Hour)
	h.add("TOKEN000002", 99, "另一单 Other", 2*time.Hour)
	c := browserless(t)
	good := h.link("TOKEN000001", time.Hour)
	if resp, body := get(t, c, good, uaDesktop); resp.StatusCode != 200 || !strings.Contains(body, "¥12.34") {
		t.Fatalf("good link: %d\n%s", resp.StatusCode, body)
	}
	u, _ := url.Parse(good)
	tok := u.Query().Get("t")
	exp, mac, _ := strings.Cut(tok, ".")
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	later := time.Now().Add(48 * time.Hour).Unix()
	cases := map[string]string{
		"missing":         h.srv.URL + "/pay/TOKEN000001",
		"mac edited":      h.srv.URL + "/pay/TOKEN000001?t=" + exp + "." + flip(mac, 3),
		"expiry extended": h.srv.URL + "/pay/TOKEN000001?t=" + url.QueryEscape(strings.Replace(tok, exp, strconv.FormatInt(later, 10), 1)),
		"other order":     h.srv.URL + "/pay/TOKEN000002?t=" + url.QueryEscape(tok),
		"garbage":         h.srv.URL + "/pay/TOKEN000001?t=..",
		"status route":    h.srv.URL + "/pay/TOKEN000002/status?t=" + url.QueryEscape(tok),
		"h5 route":        h.srv.URL + "/pay/TOKEN000002/h5?t=" + url.QueryEscape(tok),
		"oauth route":     h.srv.URL + "/pay/TOKEN000002/oauth?code=x&state=y&t=" + url.QueryEscape(tok),
	}
	for name, u := range cases {
		resp, body := get(t, c, u, uaDesktop)
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", name, resp.StatusCode)
		}
		if strings.Contains(body, "¥") || strings.Contains(body, "qr") && strings.Contains(body, "data:image") {
			t.Errorf("%s: a refused link shows the order:\n%s", name, body)
		}
	}
	if n := len(h.simOrders()); n != 1 {
		t.Errorf("%d payments placed at WeChat Pay; refused links must place nothing (want the good link's 1)", n)
	}
	// Expired: the same link after its hour.
	h.clk.Advance(time.Hour + time.Second)
	resp, body := get(t, c, good, uaDesktop)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "已过期") || !strings.Contains(body, "expired") {
		t.Fatalf("expired link: %d\n%s", resp.StatusCode, body)
	}
	resp, body = get(t, c, strings.Replace(good, "/pay/TOKEN000001?", "/pay/TOKEN000001/status?", 1), uaDesktop)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "LINK_REFUSED") {
		t.Fatalf("expired status: %d %s", resp.StatusCode, body)
	}
}

var statePattern = regexp.MustCompile(`^[0-9a-f]{56}$`)

// oauthStart opens the link inside WeChat and returns the authorize URL it redirects to.
func oauthStart(t *testing.T, h *harness, c *http.Client, link string) *url.URL {
	t.Helper()
	resp, body := get(t, c, link, uaWeChat)
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("page in WeChat without openid: %d, want 302 to OAuth\n%s", resp.StatusCode, body)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// oauthReturn follows the authorize URL at the simulator and returns the return URL
// (our /pay/{id}/oauth?…&code=…&state=…).
func oauthReturn(t *testing.T, h *harness, c *http.Client, auth *url.URL) string {
	t.Helper()
	resp, body := get(t, c, auth.String(), uaWeChat)
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("authorize: %d %s", resp.StatusCode, body)
	}
	return resp.Header.Get("Location")
}

func TestOAuthStateAndCodeReplay(t *testing.T) {
	h := newHarness(t)
	h.add("OAUTH00001A", 500, "授权测试 OAuth test", 2*time.Hour)
	h.add("OAUTH00001B", 700, "另一单 Other", 2*time.Hour)
	linkA, linkB := h.link("OAUTH00001A", time.Hour), h.link("OAUTH00001B", time.Hour)
	c := browserless(t)

	auth := oauthStart(t, h, c, linkA)
	q := auth.Query()
	if !strings.HasPrefix(auth.String(), h.srv.URL+"/connect/oauth2/authorize?appid=") || auth.Fragment != "wechat_redirect" ||
		q.Get("appid") != h.cfg.AppID || q.Get("scope") != "snsapi_base" || q.Get("response_type") != "code" ||
		!statePattern.MatchString(q.Get("state")) {
		t.Fatalf("authorize URL %s", auth)
	}
	if ru := q.Get("redirect_uri"); !strings.HasPrefix(ru, h.srv.URL+"/pay/OAUTH00001A/oauth?t=") {
		t.Fatalf("redirect_uri %q", ru)
	}
	ret := oauthReturn(t, h, c, auth)
	resp, body := get(t, c, ret, uaWeChat)
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/pay/OAUTH00001A?t=") {
		t.Fatalf("OAuth return: %d %s %s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	// The page now has the payer: a JSAPI payment, no second OAuth.
	resp, body = get(t, c, linkA, uaWeChat)
	if resp.StatusCode != 200 || !strings.Contains(body, "data-jsapi=") || !strings.Contains(body, "¥5.00") {
		t.Fatalf("page after OAuth: %d\n%s", resp.StatusCode, body)
	}

	refused := func(name string, c *http.Client, u, reason string) {
		t.Helper()
		h.logs.take()
		if resp, _ := get(t, c, u, uaWeChat); resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", name, resp.StatusCode)
		}
		if l := h.logs.take(); !strings.Contains(l, reason) {
			t.Errorf("%s: refused, but not because %q; log:\n%s", name, reason, l)
		}
	}
	// 1. The same return replayed by the same browser: the nonce cookie is spent.
	refused("replayed return", c, ret, "not issued to this browser")
	// 2. Replayed with the nonce cookie put back (someone holding both): WeChat refuses the used code.
	u, _ := url.Parse(ret)
	nonce := u.Query().Get("state")[:16]
	c.Jar.SetCookies(u, []*http.Cookie{{Name: "wxpay_oauth", Value: nonce, Path: "/pay/OAUTH00001A/oauth"}})
	refused("replayed code with its cookie", c, ret, `"errcode":40163`)
	// 3. A fresh, valid return carried to another browser (no nonce cookie).
	c1, c2 := browserless(t), browserless(t)
	retA := oauthReturn(t, h, c1, oauthStart(t, h, c1, linkA))
	refused("return in another browser", c2, retA, "not issued to this browser")
	// 4. A foreign state: order B's state (and its cookie) on order A's return.
	c3 := browserless(t)
	retB := oauthReturn(t, h, c3, oauthStart(t, h, c3, linkB))
	ub, _ := url.Parse(retB)
	ua, _ := url.Parse(linkA)
	foreign := h.srv.URL + "/pay/OAUTH00001A/oauth?t=" + url.QueryEscape(ua.Query().Get("t")) +
		"&code=" + ub.Query().Get("code") + "&state=" + ub.Query().Get("state")
	c3.Jar.SetCookies(ua, []*http.Cookie{{Name: "wxpay_oauth", Value: ub.Query().Get("state")[:16], Path: "/pay/OAUTH00001A/oauth"}})
	refused("foreign state", c3, foreign, "invalid or for another order")
	// 5. An edited state.
	c4 := browserless(t)
	ret4 := oauthReturn(t, h, c4, oauthStart(t, h, c4, linkA))
	u4, _ := url.Parse(ret4)
	st := []byte(u4.Query().Get("state"))
	st[len(st)-1] ^= 1
	q4 := u4.Query()
	q4.Set("state", string(st))
	u4.RawQuery = q4.Encode()
	refused("edited state", c4, u4.String(), "invalid or for another order")
	// 6. A stale state (the code lives 5 minutes; the state 10).
	c5 := browserless(t)
	ret5 := oauthReturn(t, h, c5, oauthStart(t, h, c5, linkA))
	h.clk.Advance(11 * time.Minute)
	refused("stale state", c5, ret5, "OAuth state expired")
	// Secrets never reach the log: AppSecret, API token, link tokens, OAuth codes.
	logged := h.logs.everything()
	for name, secret := range map[string]string{"AppSecret": h.id.AppSecret, "API token": apiToken,
		"link token": ua.Query().Get("t"), "OAuth code": u.Query().Get("code")} {
		if strings.Contains(logged, secret) {
			t.Errorf("the %s is in the log", name)
		}
	}
	// Only the one good exchange made a payer: one JSAPI payment placed.
	if n := h.prepaidAs()["jsapi"]; n != 1 {
		t.Errorf("%d JSAPI payments placed, want 1", n)
	}
}

func TestPageHeadersAndAssets(t *testing.T) {
	h := newHarness(t)
	h.add("HEADERS0001", 100, "头部 Headers", 2*time.Hour)
	c := browserless(t)
	resp, body := get(t, c, h.link("HEADERS0001", time.Hour), uaSafari)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	for hdr, want := range map[string]string{
		"Content-Security-Policy": "script-src 'self'", "Cache-Control": "no-store", "X-Frame-Options": "DENY",
		"X-Content-Type-Options": "nosniff", "Referrer-Policy": "strict-origin-when-cross-origin",
	} {
		if !strings.Contains(resp.Header.Get(hdr), want) {
			t.Errorf("%s: %q, want %q", hdr, resp.Header.Get(hdr), want)
		}
	}
	for _, want := range []string{`<html lang="zh-CN">`, `<span lang="en">`, "¥1.00", "示例小店 Example Shop", "头部 Headers", `href="/pay/HEADERS0001/h5?t=`} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	for path, ct := range map[string]string{"/pay/_/cashier.js": "text/javascript", "/pay/_/cashier.css": "text/css"} {
		resp, body := get(t, c, h.srv.URL+path, uaSafari)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), ct) || len(body) < 100 {
			t.Errorf("%s: %d %s", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
	if resp, _ := get(t, c, h.srv.URL+"/pay/_/page.html", uaSafari); resp.StatusCode != 404 {
		t.Errorf("template served: %d", resp.StatusCode)
	}
	// Unknown order with a valid token (e.g. a lost store): 404 page, nothing created.
	resp, _ = get(t, c, h.link("NOSUCHORDER1", time.Hour), uaDesktop)
	if resp.StatusCode != 404 || len(h.simOrders()) != 0 {
		t.Errorf("unknown order: %d, %d payments placed", resp.StatusCode, len(h.simOrders()))
	}
}

// Inside WeChat without an AppSecret there is no openid to be had: say so, do not
// send the user to an OAuth that cannot complete.
func TestWeChatWithoutAppSecret(t *testing.T) {
	h := newHarnessWith(t, func(c *config.Config) { c.Bundle.AppSecret = config.Secret{} })
	h.add("NOSECRET001", 100, "无密钥 No secret", 2*time.Hour)
	resp, body := get(t, browserless(t), h.link("NOSECRET001", time.Hour), uaWeChat)
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "浏览器") {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
}
