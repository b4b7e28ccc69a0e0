// Package cashier is the hosted cashier page: one link (or its QR code) that pays an
// order in whatever WeChat Pay scene fits where it is opened.
//
//   - Inside WeChat (MicroMessenger): OAuth snsapi_base for the payer's openid (state bound
//     to the order and to this browser, the code exchanged once), a JSAPI payment, and
//     WeixinJSBridge getBrandWCPayRequest. get_brand_wcpay_request:ok only starts
//     "confirming…": the page shows paid once the server says SUCCESS (seed 003).
//   - A phone browser outside WeChat: an H5 payment; h5_url carries redirect_url back to
//     the page's return view (URL-encoded), which shows paid once the order API has the
//     payment and otherwise asks the user to tap "I have paid" — never "unpaid" (seed 004).
//   - A desktop browser: the Native QR code, with live status (polling) that turns the
//     page to paid without a reload. An expired or closed order offers nothing to pay.
//
// Every load asks the order API for the scene's payment; the API answers the scene's
// live prepay when the order has one, so reloads and switches between a desktop and a
// phone place one payment per scene (createorder/scene.go), never one per load.
//
// Routes (public; the link token t guards them — see Link and CheckToken), served by
// createorder's handler beside the order API:
//
//	GET /pay/{order_id}?t=…            the page (&return=1: H5 return view; &check=1: "I have paid")
//	GET /pay/{order_id}/status?t=…     {"state","view"} for the page's polling
//	GET /pay/{order_id}/h5?t=…         creates (or replays) the H5 payment, 303 to h5_url
//	GET /pay/{order_id}/oauth?t=…&code=…&state=…   the OAuth return
//	GET /pay/_/cashier.js, /pay/_/cashier.css      embedded assets
//
// The page is a client of the order API like any merchant backend: it reads the order
// (GET /orders/{order_id}) and places its payment in the browser's scene (POST /orders)
// through an orderapi.Client — in process over createorder's handler, on behalf of the
// browser's request (orderapi.OnBehalfOf), so the API's client-IP rule (TRUSTED_PROXIES)
// and its scene checks judge the user exactly as on a direct call. It imports nothing
// of createorder: createorder imports it (to mount it and to sign its links).
package cashier

import (
	"cmp"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/paysls/wxpay/shared/clock"
	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/orderapi"
)

//go:embed assets
var assets embed.FS

// Options are the function-specific settings of New.
type Options struct {
	Logger *slog.Logger
	// Now is the business clock (link and order expiry); the wall clock when nil.
	Now clock.Func
	// HTTP makes the OAuth code exchange; a client with a 10 s timeout when nil.
	HTTP *http.Client
	// PublicURL is the bundle's base URL as browsers reach it (OAuth redirect_uri, H5
	// redirect_url); cfg.Bundle.PublicURL when empty, else taken from each request.
	PublicURL string
}

// Handler serves the cashier.
type Handler struct {
	api       *orderapi.Client
	key       []byte
	log       *slog.Logger
	now       clock.Func
	http      *http.Client
	public    string // scheme://host[/prefix], or "" to use the request's
	prefix    string // path prefix of public ("" or "/Prod")
	merchant  string
	appID     string // the app OAuth and JSAPI run under
	appSecret []byte
	authBase  string
	oauthBase string
	mux       func() *http.ServeMux // built by the first request (New)
}

// New builds the cashier over api, a client of the order API (createorder passes
// orderapi.InProcess over its own handler). The API token is required (it keys the
// links); without an AppSecret the page cannot get an openid inside WeChat and says so
// there.
func New(cfg config.Config, api *orderapi.Client, opts Options) (*Handler, error) {
	if api == nil {
		return nil, errors.New("cashier: an order API client is required")
	}
	if cfg.Bundle.APIToken.IsZero() {
		return nil, fmt.Errorf("cashier: %s is not set: it keys the cashier links", config.EnvAPIToken)
	}
	h := &Handler{
		api: api, key: DeriveKey(cfg.Bundle.APIToken.Reveal()), log: opts.Logger, now: clock.Or(opts.Now),
		http: opts.HTTP, merchant: cfg.Bundle.MerchantName, appID: cfg.AppID, appSecret: cfg.Bundle.AppSecret.Reveal(),
		authBase:  strings.TrimRight(cmp.Or(cfg.Bundle.OAuthAuthorizeBase, config.DefaultOAuthAuthorizeBase), "/"),
		oauthBase: strings.TrimRight(cmp.Or(cfg.Bundle.OAuthBase, config.DefaultOAuthBase), "/"),
	}
	if cfg.Bundle.Partner && cfg.Bundle.SubAppID != "" {
		h.appID = cfg.Bundle.SubAppID
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	if h.http == nil {
		h.http = &http.Client{Timeout: 10 * time.Second}
	}
	if p := strings.TrimRight(cmp.Or(opts.PublicURL, cfg.Bundle.PublicURL), "/"); p != "" {
		u, err := url.Parse(p)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, fmt.Errorf("cashier: %s=%q: want an absolute http(s) URL such as https://pay.example.com", config.EnvPublicURL, p)
		}
		h.public, h.prefix = p, strings.TrimRight(u.Path, "/")
	}
	if h.public == "" {
		h.log.Warn("cashier: no public URL: OAuth redirect_uri and the H5 redirect_url are built from each request's Host",
			"fix", config.EnvPublicURL)
	}
	if len(h.appSecret) == 0 {
		h.log.Warn("cashier: no AppSecret: inside WeChat the page cannot get the payer's openid for JSAPI",
			"fix", config.EnvAppSecret)
	}
	// The page's routes are registered by its first request, not at start (a cold
	// start is most often an order API call, and the first ServeMux registrations of
	// a process are its most expensive); they depend on no setting.
	h.mux = sync.OnceValue(func() *http.ServeMux {
		mux := http.NewServeMux()
		mux.HandleFunc("GET /pay/_/cashier.js", h.asset)
		mux.HandleFunc("GET /pay/_/cashier.css", h.asset)
		mux.HandleFunc("GET /pay/{order_id}", h.page)
		mux.HandleFunc("GET /pay/{order_id}/status", h.status)
		mux.HandleFunc("GET /pay/{order_id}/h5", h.h5)
		mux.HandleFunc("GET /pay/{order_id}/oauth", h.oauth)
		mux.HandleFunc("/pay/", func(w http.ResponseWriter, r *http.Request) {
			h.fail(w, r, http.StatusNotFound, "页面不存在", "Page not found", "")
		})
		return mux
	})
	return h, nil
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux().ServeHTTP(w, r) }

// base is the public base URL for links leaving the page (OAuth, H5 return).
func (h *Handler) base(r *http.Request) string {
	if h.public != "" {
		return h.public
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// abs makes a rooted path of h.path absolute.
func (h *Handler) abs(r *http.Request, p string) string {
	return h.base(r) + strings.TrimPrefix(p, h.prefix)
}

// path is a rooted path on this deployment (under the public URL's prefix).
func (h *Handler) path(orderID, tail string, q url.Values) string {
	p := h.prefix + "/pay/" + url.PathEscape(orderID) + tail
	if len(q) > 0 {
		p += "?" + q.Encode()
	}
	return p
}

// guard checks the link token; on failure it answers 403 (a page, or JSON for the
// status route) and reports false.
func (h *Handler) guard(w http.ResponseWriter, r *http.Request, asJSON bool) (string, string, bool) {
	id, t := r.PathValue("order_id"), r.URL.Query().Get("t")
	_, err := CheckToken(h.key, id, t, h.now())
	if err == nil {
		return id, t, true
	}
	h.log.Info("cashier: link refused", "order_id", id, "reason", err.Error(), "path", r.URL.Path)
	zh, en := "链接无效", "This payment link is not valid"
	if errors.Is(err, errTokenExpired) {
		zh, en = "链接已过期，请向商户重新获取付款链接", "This payment link has expired: ask the merchant for a new one"
	}
	if asJSON {
		writeJSON(w, http.StatusForbidden, map[string]string{"code": "LINK_REFUSED", "message": en + " · " + zh})
		return "", "", false
	}
	h.fail(w, r, http.StatusForbidden, zh, en, "")
	return "", "", false
}

// Scene choice from the browser.

func isWeChat(ua string) bool { return strings.Contains(ua, "MicroMessenger") }

func isMobile(ua string) bool {
	for _, s := range []string{"Mobile", "Android", "iPhone", "iPad", "iPod", "HarmonyOS"} {
		if strings.Contains(ua, s) {
			return true
		}
	}
	return false
}

// sceneFor picks the scene for a browser: JSAPI inside WeChat, H5 in a phone browser,
// Native elsewhere (seed 000, 002, 004: each scene fails on the wrong side).
func sceneFor(ua string) string {
	switch {
	case isWeChat(ua):
		return orderapi.SceneJSAPI
	case isMobile(ua):
		return orderapi.SceneH5
	}
	return orderapi.SceneNative
}

func paid(state string) bool { return state == "SUCCESS" || state == "REFUND" }

func closed(state string) bool { return state == "CLOSED" || state == "REVOKED" }

// over reports whether the order can no longer be paid: closed, its close asked for
// (the merchant's close, deferred by WeChat Pay's 5-minute rule: the page must not place
// another payment for an order the merchant closed), or past its expiry.
func (h *Handler) over(st *orderapi.OrderView) bool {
	if closed(st.State) || st.ClosePending {
		return true
	}
	if st.ExpiresAt != "" {
		if e, err := time.Parse(time.RFC3339, st.ExpiresAt); err == nil && !h.now().Before(e) {
			return true
		}
	}
	return false
}

// viewOf is the page view for a status: paid, closed or pending.
func (h *Handler) viewOf(st *orderapi.OrderView) string {
	switch {
	case paid(st.State):
		return "paid"
	case st.State == "REVIEW":
		return "review"
	case h.over(st):
		return "closed"
	}
	return "pending"
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// status answers the page's polling: {"state","view"}. GET /orders asks WeChat Pay
// about an unsettled order (at most once per recheck window), so the page learns a
// payment whose notification is late.
func (h *Handler) status(w http.ResponseWriter, r *http.Request) {
	id, _, ok := h.guard(w, r, true)
	if !ok {
		return
	}
	st, err := h.order(r.Context(), id)
	if err != nil {
		code := http.StatusBadGateway
		if notFound(err) {
			code = http.StatusNotFound
		}
		h.log.Warn("cashier: status", "order_id", id, "err", err.Error())
		writeJSON(w, code, map[string]string{"code": "STATUS_UNAVAILABLE", "message": "order status unavailable, try again"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"state": st.State, "view": h.viewOf(st)})
}

// exchange trades an OAuth code for the openid (GET /sns/oauth2/access_token), once.
// WeChat answers HTTP 200 either way; errors carry errcode (40029 invalid, 40163 used).
func (h *Handler) exchange(ctx context.Context, code string) (string, int, error) {
	q := url.Values{"appid": {h.appID}, "secret": {string(h.appSecret)}, "code": {code}, "grant_type": {"authorization_code"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.oauthBase+"/sns/oauth2/access_token?"+q.Encode(), nil)
	if err != nil {
		return "", 0, fmt.Errorf("cashier: OAuth request: %w", err)
	}
	resp, err := h.http.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL carries the AppSecret: never let it into an error
		}
		return "", 0, fmt.Errorf("cashier: OAuth code exchange at %s: %v", h.oauthBase, err)
	}
	defer resp.Body.Close()
	var out struct {
		OpenID  string `json:"openid"`
		ErrCode int    `json:"errcode"`
		ErrMsg  string `json:"errmsg"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&out); err != nil {
		return "", 0, fmt.Errorf("cashier: OAuth code exchange: HTTP %d, unreadable answer: %v", resp.StatusCode, err)
	}
	if out.ErrCode != 0 || out.OpenID == "" {
		return "", out.ErrCode, fmt.Errorf("cashier: OAuth code exchange refused: errcode %d %s", out.ErrCode, out.ErrMsg)
	}
	return out.OpenID, 0, nil
}

// authorizeURL is WeChat's OAuth link (parameters in the documented order; the
// #wechat_redirect fragment is required by WeChat).
func (h *Handler) authorizeURL(redirect, state string) string {
	return h.authBase + "/connect/oauth2/authorize?appid=" + url.QueryEscape(h.appID) +
		"&redirect_uri=" + url.QueryEscape(redirect) + "&response_type=code&scope=snsapi_base&state=" + state + "#wechat_redirect"
}

const (
	cookieNonce = "wxpay_oauth"
	cookiePayer = "wxpay_payer"
)

func (h *Handler) secure(r *http.Request) bool {
	return r.TLS != nil || strings.HasPrefix(h.public, "https://")
}

func (h *Handler) setCookie(w http.ResponseWriter, r *http.Request, name, value, path string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: path, MaxAge: maxAge,
		HttpOnly: true, Secure: h.secure(r), SameSite: http.SameSiteLaxMode})
}

// oauth is the OAuth return: check state, exchange the code once, keep the openid in
// a signed cookie, back to the page.
func (h *Handler) oauth(w http.ResponseWriter, r *http.Request) {
	id, t, ok := h.guard(w, r, false)
	if !ok {
		return
	}
	q := r.URL.Query()
	nonce := ""
	if c, err := r.Cookie(cookieNonce); err == nil {
		nonce = c.Value
	}
	// The nonce is spent now, whatever happens: a second use of this return fails.
	h.setCookie(w, r, cookieNonce, "", h.path(id, "/oauth", nil), -1)
	if err := checkState(h.key, id, q.Get("state"), nonce, h.now()); err != nil {
		h.log.Info("cashier: OAuth return refused", "order_id", id, "reason", err.Error())
		h.fail(w, r, http.StatusForbidden, "授权已失效，请重新打开付款链接", "This sign-in is not valid any more: open the payment link again",
			h.path(id, "", url.Values{"t": {t}}))
		return
	}
	code := q.Get("code")
	if code == "" {
		h.fail(w, r, http.StatusForbidden, "需要微信授权才能付款", "WeChat sign-in is needed to pay", h.path(id, "", url.Values{"t": {t}}))
		return
	}
	openid, errcode, err := h.exchange(r.Context(), code)
	if err != nil {
		h.log.Warn("cashier: OAuth exchange", "order_id", id, "errcode", errcode, "err", err.Error())
		status := http.StatusBadGateway
		if errcode != 0 {
			status = http.StatusForbidden // 40029 invalid, 40163 code been used: a replay
		}
		h.fail(w, r, status, "微信授权失败，请重新打开付款链接", "WeChat sign-in failed: open the payment link again", h.path(id, "", url.Values{"t": {t}}))
		return
	}
	h.setCookie(w, r, cookiePayer, makePayer(h.key, h.appID, openid, h.now()), h.prefix+"/pay/", int(payerTTL/time.Second))
	http.Redirect(w, r, h.path(id, "", url.Values{"t": {t}}), http.StatusSeeOther)
}

// h5 creates (or replays) the H5 payment and sends the browser to h5_url, with the
// return view as redirect_url.
func (h *Handler) h5(w http.ResponseWriter, r *http.Request) {
	id, t, ok := h.guard(w, r, false)
	if !ok {
		return
	}
	back := h.path(id, "", url.Values{"t": {t}})
	st, err := h.order(r.Context(), id)
	if err != nil {
		h.orderError(w, r, id, err)
		return
	}
	if v := h.viewOf(st); v != "pending" || isWeChat(r.UserAgent()) {
		http.Redirect(w, r, back, http.StatusSeeOther)
		return
	}
	ret := h.abs(r, h.path(id, "", url.Values{"t": {t}, "return": {"1"}}))
	ans, err := h.place(r, id, st, orderapi.CreateRequest{Scene: orderapi.SceneH5, H5: &orderapi.H5{Type: "Wap"}, RedirectURL: ret})
	if err != nil {
		h.orderError(w, r, id, err)
		return
	}
	var p orderapi.H5Pay
	_ = ans.DecodePay(&p)
	u, err := url.Parse(p.H5URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") {
		h.log.Error("cashier: H5 answer without a usable h5_url", "order_id", id)
		h.fail(w, r, http.StatusBadGateway, "暂时无法发起支付，请稍后再试", "Payment could not start, try again later", back)
		return
	}
	http.Redirect(w, r, p.H5URL, http.StatusSeeOther)
}

// place asks the order API for the order's payment in req's scene (POST /orders), on
// behalf of the browser of r, under the link id's sub-merchant (LinkID): the order's amount, description and expiry as read in st
// (createorder adds the order's attach), the browser's user agent, and the browser's
// address as the API's client-IP rule sees it. The order API answers the scene's live
// payment when it has one (the same prepay, never a new one per page load) and places
// one otherwise.
func (h *Handler) place(r *http.Request, id string, st *orderapi.OrderView, req orderapi.CreateRequest) (*orderapi.CreateAnswer, error) {
	_, req.SubMchID = orderOf(id)
	req.OrderID, req.Amount, req.Description, req.TimeExpire = st.OrderID, orderapi.Fen(st.Amount), st.Description, st.ExpiresAt
	req.UserAgent = r.UserAgent()
	return h.api.Create(orderapi.OnBehalfOf(r.Context(), r), req)
}

// notFound reports whether the order API said there is no such order.
func notFound(err error) bool { return orderapi.IsCode(err, "ORDER_NOT_FOUND") }

// orderError shows a failure of the order API.
func (h *Handler) orderError(w http.ResponseWriter, r *http.Request, id string, err error) {
	if notFound(err) {
		h.fail(w, r, http.StatusNotFound, "订单不存在", "No such order", "")
		return
	}
	var e *orderapi.Error
	if errors.As(err, &e) {
		h.log.Warn("cashier: order API refused", "order_id", id, "code", e.Code, "message", e.Message)
		status := e.Status
		if status < 400 {
			status = http.StatusBadGateway
		}
		if e.Code == "CREATE_IN_PROGRESS" || e.Code == "BUSY" {
			// The link is being opened on another device (or tab) this very moment: that
			// create finishes within seconds, and loading the page again then shows it.
			h.fail(w, r, status, "另一台设备正在发起这笔支付，请稍后重试", "This payment is being started on another device; try again in a moment ("+e.Code+")", r.URL.RequestURI())
			return
		}
		h.fail(w, r, status, "暂时无法付款", "This order cannot be paid right now ("+e.Code+")", "")
		return
	}
	h.log.Error("cashier: order API", "order_id", id, "err", err.Error())
	h.fail(w, r, http.StatusBadGateway, "暂时无法发起支付，请稍后再试", "Payment could not start, try again later", "")
}

// order reads the order a link id names (LinkID), under its sub-merchant.
func (h *Handler) order(ctx context.Context, id string) (*orderapi.OrderView, error) {
	oid, sub := orderOf(id)
	return h.api.Order(ctx, oid, sub)
}
