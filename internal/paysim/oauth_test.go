package paysim

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// authorizeURL is the link a merchant page sends the user to (seed 003).
func (e *env) authorizeURL(appID, redirect, scope, state string, extra ...string) string {
	q := url.Values{"appid": {appID}, "redirect_uri": {redirect}, "response_type": {"code"}, "scope": {scope}, "state": {state}}
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	return e.srv.URL + "/connect/oauth2/authorize?" + q.Encode() + "#wechat_redirect"
}

// authorize follows the authorize link as WeChat's browser would and returns the code.
func (e *env) authorize(t *testing.T, appID, user string) string {
	t.Helper()
	resp, _ := get(t, e.authorizeURL(appID, "https://shop.example.com/oauth/cb", "snsapi_base", "ORDER42", simUserParam, user), uaWeChat)
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("authorize: %d", resp.StatusCode)
	}
	loc, _ := url.Parse(resp.Header.Get("Location"))
	return loc.Query().Get("code")
}

type tokenAnswer struct {
	OAuthToken
	ErrCode int    `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

// exchange calls /sns/oauth2/access_token.
func (e *env) exchange(t *testing.T, appID, secret, code, grant string) tokenAnswer {
	t.Helper()
	q := url.Values{"appid": {appID}, "secret": {secret}, "code": {code}, "grant_type": {grant}}
	resp, body := get(t, e.srv.URL+"/sns/oauth2/access_token?"+q.Encode(), "")
	if resp.StatusCode != 200 {
		t.Fatalf("WeChat answers errors with HTTP 200 too; got %d %s", resp.StatusCode, body)
	}
	var a tokenAnswer
	if err := json.Unmarshal([]byte(body), &a); err != nil {
		t.Fatalf("%v in %s", err, body)
	}
	if a.ErrCode != 0 && !regexp.MustCompile(`, rid: [0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}$`).MatchString(a.ErrMsg) {
		t.Fatalf("errmsg %q: want WeChat's form \"…, rid: …\"", a.ErrMsg)
	}
	return a
}

func TestOAuthSnsapiBase(t *testing.T) {
	e := newEnv(t, Config{})
	id := e.id
	// The redirect keeps the page's own query and hash route; code and state go into
	// the query, as WeChat does.
	resp, _ := get(t, e.authorizeURL(id.AppID, "https://shop.example.com/pay/cb?order=42#/result", "snsapi_base", "S1"), uaWeChat)
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !regexp.MustCompile(`^https://shop\.example\.com/pay/cb\?order=42&code=[0-9A-Za-z]{32}&state=S1#/result$`).MatchString(loc) {
		t.Fatalf("authorize: %d %q", resp.StatusCode, loc)
	}
	u, _ := url.Parse(loc)
	code := u.Query().Get("code")

	a := e.exchange(t, id.AppID, id.AppSecret, code, "authorization_code")
	if a.ErrCode != 0 || a.OpenID != openID(id.AppID, defaultSimUser) || a.Scope != "snsapi_base" || a.ExpiresIn != 7200 ||
		a.AccessToken == "" || a.RefreshToken == "" || len(a.OpenID) != 28 || a.OpenID[0] != 'o' {
		t.Fatalf("exchange: %+v", a)
	}
	// A code works once.
	if a := e.exchange(t, id.AppID, id.AppSecret, code, "authorization_code"); a.ErrCode != 40163 || !strings.HasPrefix(a.ErrMsg, "code been used") || a.OpenID != "" {
		t.Fatalf("replayed code: %+v", a)
	}

	// Every other refusal, in WeChat's codes.
	fresh := e.authorize(t, id.AppID, "")
	for _, c := range []struct {
		name                       string
		appid, secret, code, grant string
		errcode                    int
		msg                        string
	}{
		{"unknown code", id.AppID, id.AppSecret, "0011AbCdEfGh", "authorization_code", 40029, "invalid code"},
		{"wrong secret", id.AppID, strings.Repeat("0", 32), fresh, "authorization_code", 40125, "invalid appsecret"},
		{"unknown appid", "wx0000000000000000", id.AppSecret, fresh, "authorization_code", 40013, "invalid appid"},
		{"no appid", "", id.AppSecret, fresh, "authorization_code", 41002, "appid missing"},
		{"no secret", id.AppID, "", fresh, "authorization_code", 41004, "appsecret missing"},
		{"wrong grant_type", id.AppID, id.AppSecret, fresh, "client_credential", 40002, "invalid grant_type"},
		{"no code", id.AppID, id.AppSecret, "", "authorization_code", 41008, "missing code"},
	} {
		if a := e.exchange(t, c.appid, c.secret, c.code, c.grant); a.ErrCode != c.errcode || !strings.HasPrefix(a.ErrMsg, c.msg) {
			t.Errorf("%s: %+v, want %d %s", c.name, a, c.errcode, c.msg)
		}
	}
	// None of those used the code up.
	if a := e.exchange(t, id.AppID, id.AppSecret, fresh, "authorization_code"); a.ErrCode != 0 {
		t.Fatalf("refused attempts must not consume the code: %+v", a)
	}
}

func TestOAuthCodeExpiresOnTheVirtualClock(t *testing.T) {
	e := newEnv(t, Config{})
	early, late := e.authorize(t, e.id.AppID, ""), e.authorize(t, e.id.AppID, "")
	e.advance("4m59s")
	if a := e.exchange(t, e.id.AppID, e.id.AppSecret, early, "authorization_code"); a.ErrCode != 0 {
		t.Fatalf("a code is good for 5 minutes: %+v", a)
	}
	e.advance("2s")
	if a := e.exchange(t, e.id.AppID, e.id.AppSecret, late, "authorization_code"); a.ErrCode != 40029 {
		t.Fatalf("a code unused for 5 minutes expires: %+v", a)
	}
}

func TestOAuthUsersAndApps(t *testing.T) {
	const subApp, subSecret = "wx1111111111111111", "0123456789abcdef0123456789abcdef"
	e := newEnv(t, Config{OAuthApps: map[string]string{subApp: subSecret}})
	id := e.id
	alice := e.exchange(t, id.AppID, id.AppSecret, e.authorize(t, id.AppID, "alice"), "authorization_code").OpenID
	bob := e.exchange(t, id.AppID, id.AppSecret, e.authorize(t, id.AppID, "bob"), "authorization_code").OpenID
	if alice == "" || alice == bob || alice != openID(id.AppID, "alice") || bob != openID(id.AppID, "bob") {
		t.Fatalf("openids alice %q bob %q", alice, bob)
	}
	// The header chooses the user too.
	resp, _ := get(t, e.authorizeURL(id.AppID, "https://shop.example.com/cb", "snsapi_base", "S"), uaWeChat, simUserHeader, "bob")
	u, _ := url.Parse(resp.Header.Get("Location"))
	if got := e.exchange(t, id.AppID, id.AppSecret, u.Query().Get("code"), "authorization_code").OpenID; got != bob {
		t.Fatalf("X-Sim-User: %q, want %q", got, bob)
	}
	// Another app: another openid for the same person, its own secret, and codes do
	// not cross apps.
	code := e.authorize(t, subApp, "alice")
	if a := e.exchange(t, id.AppID, id.AppSecret, code, "authorization_code"); a.ErrCode != 40029 {
		t.Fatalf("a code of another app: %+v", a)
	}
	if a := e.exchange(t, subApp, id.AppSecret, code, "authorization_code"); a.ErrCode != 40125 {
		t.Fatalf("the main app's secret for the sub app: %+v", a)
	}
	if a := e.exchange(t, subApp, subSecret, code, "authorization_code"); a.ErrCode != 0 || a.OpenID != openID(subApp, "alice") || a.OpenID == alice {
		t.Fatalf("sub app: %+v", a)
	}
	var v map[string]string
	if e.simCall("GET", "/sim/oauth/openid?user=bob", nil, &v) != 200 || v["openid"] != bob || v["appid"] != id.AppID {
		t.Fatalf("/sim/oauth/openid: %v", v)
	}
}

func TestOAuthAuthorizeRefusals(t *testing.T) {
	e := newEnv(t, Config{})
	id := e.id
	cb := "https://shop.example.com/cb"
	for _, c := range []struct {
		name, url, ua string
		status        int
		want          string
	}{
		{"outside WeChat", e.authorizeURL(id.AppID, cb, "snsapi_base", "S"), uaSafari, 403, "请在微信客户端打开链接"},
		{"desktop browser", e.authorizeURL(id.AppID, cb, "snsapi_base", "S"), uaDesktop, 403, "请在微信客户端打开链接"},
		{"unknown appid", e.authorizeURL("wx0000000000000000", cb, "snsapi_base", "S"), uaWeChat, 400, "appid"},
		{"bad scope", e.authorizeURL(id.AppID, cb, "snsapi_login", "S"), uaWeChat, 400, "Scope"},
		{"relative redirect_uri", e.authorizeURL(id.AppID, "/cb", "snsapi_base", "S"), uaWeChat, 400, "redirect_uri"},
		{"long state", e.authorizeURL(id.AppID, cb, "snsapi_base", strings.Repeat("s", 129)), uaWeChat, 400, "state"},
		{"response_type", strings.Replace(e.authorizeURL(id.AppID, cb, "snsapi_base", "S"), "response_type=code", "response_type=token", 1), uaWeChat, 400, "response_type"},
	} {
		resp, body := get(t, c.url, c.ua)
		if resp.StatusCode != c.status || !strings.Contains(body, c.want) || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			t.Errorf("%s: %d %s", c.name, resp.StatusCode, body)
		}
	}
	// snsapi_userinfo refused by the user: back with state only.
	resp, _ := get(t, e.authorizeURL(id.AppID, cb, "snsapi_userinfo", "S9", "sim_deny", "1"), uaWeChat)
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || loc != cb+"?state=S9" {
		t.Fatalf("denied consent: %d %q", resp.StatusCode, loc)
	}
}
