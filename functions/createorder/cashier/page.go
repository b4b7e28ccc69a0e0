package cashier

import (
	"encoding/json"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/paysls/wxpay/shared/clock"
	"github.com/paysls/wxpay/shared/orderapi"
)

// yuan formats an amount in fen as "¥12.34": integer arithmetic, never a float.
func yuan(fen int64) string {
	sign := ""
	if fen < 0 {
		sign, fen = "-", -fen
	}
	return sign + "¥" + strconv.FormatInt(fen/100, 10) + "." + twoDigits(fen%100)
}

func twoDigits(n int64) string {
	if n < 10 {
		return "0" + strconv.FormatInt(n, 10)
	}
	return strconv.FormatInt(n, 10)
}

// csp: scripts and styles come from the embedded files only (no inline code, no CDN);
// images are ours or the QR data: URL; the page talks only to its own origin; forms go
// nowhere (the page has none); nothing may frame it.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'"

// pageData is what writePage renders (render.go).
type pageData struct {
	Status      int
	Prefix      string
	Merchant    string
	Description string
	Yuan        string
	OrderID     string
	Mode        string // jsapi, h5, native, or "" (nothing to pay from here)
	View        string // pay, return, paid, closed, review, error
	NotYet      bool   // return view after "I have paid" found nothing yet
	StatusURL   string
	JSAPI       string // JSON of the getBrandWCPayRequest object
	QR          string // a data:image/png;base64 URL
	PayLink     string // H5: create and go to h5_url
	CheckLink   string // H5 return: "I have paid"
	PageLink    string
	ExpiresAt   string
	ErrZH       string
	ErrEN       string
	Retry       string
}

func (h *Handler) render(w http.ResponseWriter, d *pageData) {
	d.Prefix = h.prefix
	if d.Merchant == "" {
		d.Merchant = h.merchant
	}
	var buf strings.Builder
	writePage(&buf, d)
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Content-Security-Policy", csp)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	// The page URL carries the link token; pay-sign fields are per view.
	hd.Set("Cache-Control", "no-store")
	// WeChat's H5 page checks the Referer's domain against the merchant's authorised
	// one ("商家参数格式有误" when it is empty): keep the origin on cross-origin hops.
	hd.Set("Referrer-Policy", "strict-origin-when-cross-origin")
	status := d.Status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, _ = w.Write([]byte(buf.String()))
}

// fail renders an error page.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, status int, zh, en, retry string) {
	h.render(w, &pageData{Status: status, View: "error", ErrZH: zh, ErrEN: en, Retry: retry})
}

// page is GET /pay/{order_id}: picks the scene from the browser and renders it.
func (h *Handler) page(w http.ResponseWriter, r *http.Request) {
	id, t, ok := h.guard(w, r, false)
	if !ok {
		return
	}
	ctx := r.Context()
	q := r.URL.Query()
	check := q.Get("check") == "1"
	ret := q.Get("return") == "1"
	// The H5 return view shows "I have paid" rather than concluding anything unpaid;
	// GET /orders asks WeChat Pay about an unsettled order on its own, so a payment it
	// learns that way shows at once.
	st, err := h.order(ctx, id)
	if err != nil {
		h.orderError(w, r, id, err)
		return
	}
	tq := url.Values{"t": {t}}
	d := &pageData{
		Description: st.Description, Yuan: yuan(st.Amount), OrderID: st.OrderID,
		StatusURL: h.path(id, "/status", tq), PageLink: h.path(id, "", tq),
	}
	if e, err := time.Parse(time.RFC3339, st.ExpiresAt); err == nil {
		d.ExpiresAt = e.In(clock.CST).Format("2006-01-02 15:04")
	}
	switch h.viewOf(st) {
	case "paid":
		d.View = "paid"
		h.render(w, d)
		return
	case "closed":
		d.View = "closed"
		h.render(w, d)
		return
	case "review":
		d.View = "review"
		h.render(w, d)
		return
	}
	ua := r.UserAgent()
	scene := sceneFor(ua)
	if ret || check {
		scene = orderapi.SceneH5
	}
	d.Mode, d.View = scene, "pay"
	switch scene {
	case orderapi.SceneH5:
		if isWeChat(ua) {
			// Back in WeChat with an H5 link: JSAPI is the way here.
			http.Redirect(w, r, h.path(id, "", tq), http.StatusSeeOther)
			return
		}
		d.PayLink = h.path(id, "/h5", tq)
		if ret || check {
			d.View, d.NotYet = "return", check
			d.CheckLink = h.path(id, "", url.Values{"t": {t}, "check": {"1"}})
		}
		h.render(w, d)
	case orderapi.SceneNative:
		ans, err := h.place(r, id, st, orderapi.CreateRequest{Scene: orderapi.SceneNative})
		if err != nil {
			h.orderError(w, r, id, err)
			return
		}
		var p orderapi.NativePay
		_ = ans.DecodePay(&p)
		if !strings.HasPrefix(p.QRPNG, "data:image/png;base64,") {
			h.log.Error("cashier: native answer without a PNG QR code", "order_id", id)
			h.fail(w, r, http.StatusBadGateway, "暂时无法显示付款码", "The payment code is unavailable, try again later", d.PageLink)
			return
		}
		d.QR = p.QRPNG // a data:image/png;base64 URL checked above
		h.render(w, d)
	case orderapi.SceneJSAPI:
		h.jsapi(w, r, id, t, st, d)
	}
}

// jsapi: without the payer's openid, off to WeChat OAuth; with it, the JSAPI payment.
func (h *Handler) jsapi(w http.ResponseWriter, r *http.Request, id, t string, st *orderapi.OrderView, d *pageData) {
	openid := ""
	if c, err := r.Cookie(cookiePayer); err == nil {
		openid, _ = checkPayer(h.key, h.appID, c.Value, h.now())
	}
	if openid == "" {
		if len(h.appSecret) == 0 || h.appID == "" {
			h.fail(w, r, http.StatusServiceUnavailable, "商户未配置公众号授权，请在浏览器中打开此链接",
				"This merchant cannot take payments inside WeChat yet: open the link in a browser", "")
			return
		}
		nonce := newNonce()
		h.setCookie(w, r, cookieNonce, nonce, h.path(id, "/oauth", nil), int(stateTTL/time.Second))
		redirect := h.abs(r, h.path(id, "/oauth", url.Values{"t": {t}}))
		http.Redirect(w, r, h.authorizeURL(redirect, makeState(h.key, id, nonce, h.now())), http.StatusFound)
		return
	}
	ans, err := h.place(r, id, st, orderapi.CreateRequest{Scene: orderapi.SceneJSAPI, Payer: &orderapi.Payer{OpenID: openid}})
	if err != nil {
		h.orderError(w, r, id, err)
		return
	}
	// The object WeixinJSBridge.invoke('getBrandWCPayRequest', …) takes.
	var p orderapi.JSAPIPay
	_ = ans.DecodePay(&p)
	b, err := json.Marshal(p)
	if err != nil || p.PaySign == "" {
		h.log.Error("cashier: JSAPI answer without pay-sign fields", "order_id", id)
		h.fail(w, r, http.StatusBadGateway, "暂时无法发起支付，请稍后再试", "Payment could not start, try again later", d.PageLink)
		return
	}
	d.JSAPI = string(b)
	h.render(w, d)
}

var assetTypes = map[string]string{".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}

// asset serves the embedded script and style sheet.
func (h *Handler) asset(w http.ResponseWriter, r *http.Request) {
	name := path.Base(r.URL.Path)
	ct, ok := assetTypes[path.Ext(name)]
	if !ok {
		http.NotFound(w, r)
		return
	}
	b, err := fs.ReadFile(assets, "assets/"+name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(b)
}
