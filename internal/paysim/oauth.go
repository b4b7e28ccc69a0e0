package paysim

// WeChat's web OAuth for official-account pages (网页授权), the way a JSAPI payment gets
// the payer's openid (seed 003):
//
//	GET https://open.weixin.qq.com/connect/oauth2/authorize?appid=APPID&redirect_uri=URL
//	    &response_type=code&scope=snsapi_base&state=STATE#wechat_redirect
//	  → 302 URL?code=CODE&state=STATE (snsapi_base is silent: no consent page)
//	GET https://api.weixin.qq.com/sns/oauth2/access_token?appid=APPID&secret=SECRET
//	    &code=CODE&grant_type=authorization_code
//	  → {"access_token","expires_in":7200,"refresh_token","openid","scope"}
//
// References: WeChat's 网页授权 guide,
// https://developers.weixin.qq.com/doc/offiaccount/OA_Web_Apps/Wechat_webpage_authorization.html
// (a code works once and expires after 5 minutes unused; state: a-zA-Z0-9, at most
// 128 bytes), and the snsAccessToken reference,
// https://developers.weixin.qq.com/doc/service/api/webdev/access/api_snsaccesstoken
// (query appid, secret, code, grant_type=authorization_code; answer access_token,
// expires_in, refresh_token, openid, unionid only for snsapi_userinfo, is_snapshotuser).
// Errors are HTTP 200 with {"errcode":N,"errmsg":"…, rid: …"}; the codes are WeChat's
// global return codes as developers meet them (developers.weixin.qq.com community
// threads quote each answer verbatim): 40029 "invalid code" (unknown, expired or another
// app's code), 40163 "code been used", 40125 "invalid appsecret", 40013 "invalid appid",
// 40002 "invalid grant_type", 41002 "appid missing", 41004 "appsecret missing",
// 41008 "missing code".

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"
)

const (
	// oauthCodeLifetime: "code … 5分钟未被使用自动过期".
	oauthCodeLifetime = 5 * time.Minute
	// oauthTokenLifetime is expires_in of a web access_token (7200 s).
	oauthTokenLifetime = 2 * time.Hour
	// defaultSimUser is the simulated WeChat user when a request names none.
	defaultSimUser = "alice"
	// simUserParam and simUserHeader choose the simulated WeChat user on
	// /connect/oauth2/authorize (the query parameter wins).
	simUserParam  = "sim_user"
	simUserHeader = "X-Sim-User"
)

// oauthCode is one authorization code handed out by the authorize redirect.
type oauthCode struct {
	appID, openID, scope string
	expires              time.Time
	used                 bool
}

// openID is the openid the simulator gives user under appid: deterministic (the same
// on every run and machine), different per app as WeChat's are, 28 characters
// starting with "o" like real ones.
func openID(appID, user string) string {
	sum := sha256.Sum256([]byte("paysim openid\x00" + appID + "\x00" + user))
	return "o" + base64.RawURLEncoding.EncodeToString(sum[:])[:27]
}

// oauthSecret is the AppSecret of appid, if the simulator knows the app.
func (s *Simulator) oauthSecret(appID string) (string, bool) {
	if appID == "" {
		return "", false
	}
	if appID == s.id.AppID {
		return s.id.AppSecret, true
	}
	secret, ok := s.cfg.OAuthApps[appID]
	return secret, ok
}

// isWeChat tells whether a User-Agent is WeChat's in-app browser.
func isWeChat(ua string) bool { return strings.Contains(ua, "MicroMessenger") }

// isOtherBrowser tells a real browser outside WeChat from programmatic clients (curl,
// Go's http.Client), which tests use and which the simulator lets through.
func isOtherBrowser(ua string) bool { return strings.HasPrefix(ua, "Mozilla/") && !isWeChat(ua) }

// oauthAuthorize handles GET /connect/oauth2/authorize.
func (s *Simulator) oauthAuthorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if isOtherBrowser(r.UserAgent()) {
		// WeChat's authorize page only works in WeChat's browser; JSAPI as a whole does
		// (seed 002: "该商户暂不支持通过外部拉起微信完成支付").
		simPage(w, http.StatusForbidden, "请在微信客户端打开链接", "Please open this link in WeChat",
			"网页授权只能在微信内置浏览器中进行。 WeChat web authorization (and JSAPI payment) only works inside WeChat: outside it use H5 payment (mobile browser) or a Native QR code (desktop).", "")
		return
	}
	appID, redirect, scope, st := q.Get("appid"), q.Get("redirect_uri"), q.Get("scope"), q.Get("state")
	fail := func(zh, en string) {
		simPage(w, http.StatusBadRequest, zh, en, "", "")
	}
	if appID == "" {
		fail("参数错误: appid 不能为空", "appid is missing")
		return
	}
	if _, ok := s.oauthSecret(appID); !ok {
		fail("参数错误: appid 无效", fmt.Sprintf("appid %q is not an official account the simulator knows (it knows %s)", appID, s.id.AppID))
		return
	}
	if rt := q.Get("response_type"); rt != "code" {
		fail("参数错误: response_type", fmt.Sprintf("response_type must be code, got %q", rt))
		return
	}
	if scope != "snsapi_base" && scope != "snsapi_userinfo" {
		fail("Scope 参数错误或没有 Scope 权限", fmt.Sprintf("scope must be snsapi_base (silent, openid only) or snsapi_userinfo, got %q", scope))
		return
	}
	if len(st) > 128 {
		fail("参数错误: state", "state is longer than 128 bytes")
		return
	}
	u, err := url.Parse(redirect)
	if redirect == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		fail("redirect_uri 参数错误", fmt.Sprintf("redirect_uri %q must be an absolute http(s) URL, URL-encoded into the authorize link", redirect))
		return
	}
	user := q.Get(simUserParam)
	if user == "" {
		user = r.Header.Get(simUserHeader)
	}
	if user == "" {
		user = defaultSimUser
	}
	// WeChat appends code and state to the query, before any #fragment (an SPA's hash
	// route keeps working). A refused snsapi_userinfo consent comes back with state only.
	enc := "state=" + url.QueryEscape(st)
	if scope != "snsapi_userinfo" || q.Get("sim_deny") != "1" {
		code := s.ids.alnum(32)
		s.mu.Lock()
		s.st.oauthCodes[code] = &oauthCode{appID: appID, openID: openID(appID, user), scope: scope, expires: s.now().Add(oauthCodeLifetime)}
		s.mu.Unlock()
		enc = "code=" + code + "&" + enc
	}
	if u.RawQuery != "" {
		u.RawQuery += "&" + enc
	} else {
		u.RawQuery = enc
	}
	s.log.Info("paysim: oauth authorize", "appid", appID, "scope", scope, "user", user)
	http.Redirect(w, r, u.String(), http.StatusFound)
}

// oauthError is WeChat's error answer: HTTP 200 with errcode and errmsg.
func oauthError(w http.ResponseWriter, code int, msg string) {
	simJSON(w, http.StatusOK, map[string]any{"errcode": code, "errmsg": msg + ", rid: " + newRID()})
}

// newRID looks like the rid WeChat appends to errmsg: 6583f22d-35b1b023-4a6d02b6.
func newRID() string {
	id := strings.ToLower(newRequestID())
	return id[:8] + "-" + id[8:16] + "-" + id[16:24]
}

// OAuthToken is the successful answer of /sns/oauth2/access_token.
type OAuthToken struct {
	AccessToken  string `json:"access_token"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
	OpenID       string `json:"openid"`
	Scope        string `json:"scope"`
}

// oauthAccessToken handles GET /sns/oauth2/access_token.
func (s *Simulator) oauthAccessToken(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	appID, secret, code := q.Get("appid"), q.Get("secret"), q.Get("code")
	if appID == "" {
		oauthError(w, 41002, "appid missing")
		return
	}
	want, ok := s.oauthSecret(appID)
	if !ok {
		oauthError(w, 40013, "invalid appid")
		return
	}
	if secret == "" {
		oauthError(w, 41004, "appsecret missing")
		return
	}
	if want == "" || subtle.ConstantTimeCompare([]byte(secret), []byte(want)) != 1 {
		oauthError(w, 40125, "invalid appsecret")
		return
	}
	if q.Get("grant_type") != "authorization_code" {
		oauthError(w, 40002, "invalid grant_type")
		return
	}
	if code == "" {
		oauthError(w, 41008, "missing code")
		return
	}
	s.mu.Lock()
	c, ok := s.st.oauthCodes[code]
	switch {
	case !ok || c.appID != appID:
		s.mu.Unlock()
		oauthError(w, 40029, "invalid code")
		return
	case c.used:
		s.mu.Unlock()
		oauthError(w, 40163, "code been used")
		return
	case s.now().After(c.expires):
		s.mu.Unlock()
		oauthError(w, 40029, "invalid code")
		return
	}
	c.used = true
	s.mu.Unlock()
	s.log.Info("paysim: oauth code exchanged", "appid", appID, "scope", c.scope)
	simJSON(w, http.StatusOK, OAuthToken{
		AccessToken: s.ids.alnum(86), ExpiresIn: int(oauthTokenLifetime / time.Second),
		RefreshToken: s.ids.alnum(86), OpenID: c.openID, Scope: c.scope,
	})
}

// simOpenID handles GET /sim/oauth/openid?appid=…&user=…: the openid a simulated
// user has under an app, for tests that pay as a given user.
func (s *Simulator) simOpenID(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	appID, user := q.Get("appid"), q.Get("user")
	if appID == "" {
		appID = s.id.AppID
	}
	if user == "" {
		user = defaultSimUser
	}
	simJSON(w, http.StatusOK, map[string]string{"appid": appID, "user": user, "openid": openID(appID, user)})
}

// simPage writes a small bilingual HTML page, as WeChat shows its own errors.
// link, when set, is offered as a "back" button.
func simPage(w http.ResponseWriter, status int, zh, en, detail, link string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", pageCSP)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = messageTmpl.Execute(w, map[string]string{"ZH": zh, "EN": en, "Detail": detail, "Link": link})
}

var messageTmpl = template.Must(template.New("msg").Parse(pageHead + `
<main>
<h1>{{.ZH}}</h1>
<p lang="en">{{.EN}}</p>
{{if .Detail}}<p class="muted">{{.Detail}}</p>{{end}}
{{if .Link}}<p><a class="btn" href="{{.Link}}">返回商户 · Back to the merchant</a></p>{{end}}
<p class="muted">paysim · 模拟微信支付 · simulated WeChat Pay</p>
</main></body></html>`))
