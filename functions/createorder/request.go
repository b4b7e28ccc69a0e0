package createorder

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/paysls/wxpay/shared/apiauth"
	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/orderapi"
	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// Scenes of POST /orders (orderapi's words; cashier answers a link to the hosted
// cashier page, package cashier, and sends nothing to WeChat Pay until it is opened).
const (
	SceneJSAPI       = orderapi.SceneJSAPI
	SceneMiniProgram = orderapi.SceneMiniProgram
	SceneApp         = orderapi.SceneApp
	SceneH5          = orderapi.SceneH5
	SceneNative      = orderapi.SceneNative
	SceneAuto        = orderapi.SceneAuto
	SceneCashier     = orderapi.SceneCashier
)

// MaxOrderIDLen leaves room for the attempt suffix of a re-priced order: out_trade_no
// is {order_id} for the first attempt and {order_id}_2 … {order_id}_99 after, all
// within WeChat Pay's 32 characters.
const MaxOrderIDLen = 29

// maxAttempts bounds re-pricing of one order.
const maxAttempts = 99

// validOrderID: 6 to MaxOrderIDLen of digits, letters and _-*|. A loop, not a
// regexp: `^[0-9A-Za-z_*|-]{6,29}$` compiled at package init to 29 copies of its
// class, a cost in every cold start of createorder.
func validOrderID(id string) bool {
	if len(id) < 6 || len(id) > MaxOrderIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !('0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || c == '_' || c == '*' || c == '|' || c == '-') {
			return false
		}
	}
	return true
}

// WeChat's own wording for a scene used on the wrong side of the WeChat client.
const (
	msgH5InWeChat     = "请在微信外打开订单，进行支付"
	msgJSAPIOutWeChat = "该商户暂不支持通过外部拉起微信完成支付"
)

// order is a validated create request.
type order struct {
	orderID     string
	amount      int64
	scene       string          // resolved: jsapi, miniprogram, app, h5, native
	wx          wechatpay.Scene // the prepay endpoint
	description string
	attach      string
	goodsTag    string
	expire      time.Time // explicit time_expire; zero when not given
	payer       *wechatpay.Payer
	h5          *wechatpay.H5Info
	redirectURL string
	clientIP    string
	owner       string // the merchant owning the order key: mchid, or sub_mchid
	subMchID    string
	subAppID    string
	appID       string // the app WeChat Pay reports the payment in (what notify checks)
	signAppID   string // the app the pay bundle is signed for (JSAPI appId / APP appid)
	fp          string
	// cashierFP is the fingerprint of the cashier create this order came from, carried
	// onto its real-scene attempts while the amount is unchanged (so the merchant's
	// replayed cashier create still answers the same link).
	cashierFP string
	// sharing is the order's profit sharing (sharing.go), nil when not shared.
	sharing *payment.Sharing
}

// parseAmount words what is wrong with an amount's raw JSON (orderapi.Fen refuses
// anything but a JSON integer while decoding): 1.5, 1e2, "100", null and numbers beyond
// int64 are refused here with the same sentences as checkAmount's.
func parseAmount(raw string) (int64, *apiError) {
	s := strings.TrimSpace(raw)
	if s == "" || s == "null" {
		return 0, badRequest(wechatpay.CodeParamError, "amount is required").withHint(amountHint)
	}
	neg := strings.HasPrefix(s, "-")
	digits := strings.TrimPrefix(s, "-")
	if digits == "" || strings.Trim(digits, "0123456789") != "" {
		return 0, badRequest(wechatpay.CodeParamError, "amount %s is not an integer number of fen", apiauth.Clip(s)).withHint(amountHint)
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return 0, tooMuch(s)
	}
	if neg {
		n = -n
	}
	return n, checkAmount(orderapi.Fen(n))
}

const amountHint = "amount is an integer number of fen (分): 100 means ¥1.00 · 金额单位为分，须为正整数"

// checkAmount accepts 1 fen up to WeChat Pay's amount.total limit.
func checkAmount(f orderapi.Fen) *apiError {
	n := int64(f)
	if n <= 0 {
		return badRequest(wechatpay.CodeParamError, "amount must be positive, got %d", n).withHint(amountHint)
	}
	if n > wechatpay.MaxAmount {
		return tooMuch(strconv.FormatInt(n, 10))
	}
	return nil
}

func tooMuch(s string) *apiError {
	return badRequest(wechatpay.CodeParamError, "amount %s fen is more than WeChat Pay accepts: amount.total is at most %d fen (¥%s)", apiauth.Clip(s), wechatpay.MaxAmount, yuan(wechatpay.MaxAmount)).
		withHint("WeChat Pay's amount.total is a 32-bit integer of fen; split a larger sum into several orders · 订单金额超出微信支付上限")
}

// yuan formats fen as yuan with thousands separators: 2147483647 → 21,474,836.47.
func yuan(fen int64) string {
	whole := strconv.FormatInt(fen/100, 10)
	var b strings.Builder
	for i, c := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return fmt.Sprintf("%s.%02d", b.String(), fen%100)
}

// ValidateOrderID checks an order_id: 6 to 29 characters of digits, letters and _-*|.
func ValidateOrderID(id string) *apiError {
	if !validOrderID(id) {
		return badRequest(wechatpay.CodeParamError, "order_id %s must be 6 to %d characters of digits, letters and _-*| (it becomes out_trade_no; re-priced attempts add _2, _3, … within WeChat Pay's 32)", apiauth.Echo(id), MaxOrderIDLen).
			withHint("use your own order number, e.g. 20240101000123 · 商户订单号须为6-29位数字、字母或_-*|")
	}
	return nil
}

// inWeChat reports whether a user agent is the WeChat client (or its mini-program web view).
func inWeChat(ua string) bool { return strings.Contains(ua, "MicroMessenger") }

// mobileUA reports whether a user agent is a mobile browser.
func mobileUA(ua string) bool {
	for _, s := range []string{"Mobile", "Android", "iPhone", "iPad", "iPod", "HarmonyOS", "Windows Phone"} {
		if strings.Contains(ua, s) {
			return true
		}
	}
	return false
}

// validate turns a create request into an order, or refuses it. Nothing here touches
// the store or WeChat Pay.
func (h *Handler) validate(r *http.Request, req *orderapi.CreateRequest) (*order, *apiError) {
	o := &order{orderID: req.OrderID, description: req.Description, attach: req.Attach, goodsTag: req.GoodsTag, redirectURL: req.RedirectURL}
	if e := ValidateOrderID(req.OrderID); e != nil {
		return nil, e
	}
	if e := checkAmount(req.Amount); e != nil {
		return nil, e
	}
	o.amount = int64(req.Amount)
	if err := wechatpay.ValidateDescription(req.Description); err != nil {
		return nil, badRequest(wechatpay.CodeParamError, "%s", fieldIssueOf(err)).withHint("description is shown in the user's WeChat bill: 1 to 127 characters · 商品描述不能超过127个字符")
	}
	if len(req.Attach) > 128 {
		return nil, badRequest(wechatpay.CodeParamError, "attach is %d bytes; WeChat Pay accepts at most 128", len(req.Attach))
	}
	if len(req.GoodsTag) > 32 {
		return nil, badRequest(wechatpay.CodeParamError, "goods_tag is %d bytes; at most 32", len(req.GoodsTag))
	}

	// Merchant: direct, or partner with a sub-merchant.
	if h.partner {
		o.subMchID, o.subAppID = cmp.Or(req.SubMchID, h.cfg.Bundle.SubMchID), cmp.Or(req.SubAppID, h.cfg.Bundle.SubAppID)
		if o.subMchID == "" {
			return nil, badRequest(wechatpay.CodeParamError, "sub_mchid is required in partner and ecommerce mode").
				withHint("send sub_mchid (the sub-merchant the order is for) or set WXPAY_SUB_MCHID · 服务商与电商平台模式须指定子商户号")
		}
		if len(o.subMchID) > 32 || len(o.subAppID) > 32 {
			return nil, badRequest(wechatpay.CodeParamError, "sub_mchid/sub_appid are at most 32 characters")
		}
		if !digits(o.subMchID) {
			return nil, badRequest(wechatpay.CodeParamError, "sub_mchid %s is not a merchant number: a sub_mchid is digits, e.g. 1900000109", apiauth.Echo(o.subMchID))
		}
		if e := h.notOwnMchID("sub_mchid", o.subMchID, req.SubMchID == ""); e != nil {
			return nil, e
		}
		o.owner = o.subMchID
	} else {
		if req.SubMchID != "" || req.SubAppID != "" {
			return nil, badRequest(wechatpay.CodeParamError, "sub_mchid/sub_appid are partner-mode fields; this deployment is a direct merchant").
				withHint("remove them, or deploy with WXPAY_PARTNER=1 as a service provider")
		}
		o.owner = h.cfg.MchID
	}

	// Scene.
	ua := req.UserAgent
	scene := strings.ToLower(strings.TrimSpace(req.Scene))
	switch scene {
	case SceneAuto:
		if ua == "" {
			ua = r.Header.Get("User-Agent")
		}
		switch {
		case inWeChat(ua) && hasOpenID(req.Payer):
			scene = SceneJSAPI
		case inWeChat(ua):
			return nil, badRequest("OPENID_REQUIRED", "the user is inside WeChat, where only JSAPI can pay, and JSAPI needs the user's openid (payer.openid)").
				withHint("get it silently with OAuth snsapi_base: redirect the user to https://open.weixin.qq.com/connect/oauth2/authorize?appid=APPID&redirect_uri=…&response_type=code&scope=snsapi_base#wechat_redirect, then GET /oauth/openid?code=CODE · 微信内支付须先通过网页授权(snsapi_base)获取openid")
		case mobileUA(ua):
			scene = SceneH5
		default:
			scene = SceneNative
		}
	case SceneJSAPI, SceneMiniProgram:
		if req.UserAgent != "" && !inWeChat(req.UserAgent) {
			return nil, badRequest("NOT_IN_WECHAT", "%s: JSAPI payment runs only inside the WeChat client, and user_agent is not WeChat's", msgJSAPIOutWeChat).
				withHint("outside WeChat use scene h5 (mobile browser) or native (QR code on desktop), or scene auto")
		}
	case SceneH5:
		if req.UserAgent != "" && inWeChat(req.UserAgent) {
			return nil, badRequest("IN_WECHAT", "%s: H5 payment cannot be opened inside the WeChat client", msgH5InWeChat).
				withHint("inside WeChat use scene jsapi with the user's openid (GET /oauth/openid), or scene auto")
		}
	case SceneApp, SceneNative:
	case SceneCashier:
		if h.publicURL == "" {
			return nil, badRequest("PUBLIC_URL_REQUIRED", "scene cashier answers a link to the cashier page, and this deployment does not know its public URL").
				withHint("set " + config.EnvPublicURL + " to the base URL browsers reach this bundle at (e.g. https://pay.example.com), or use scene native/h5/jsapi · 收银台链接须配置 " + config.EnvPublicURL)
		}
		if req.Payer != nil || req.H5 != nil || req.RedirectURL != "" {
			return nil, badRequest(wechatpay.CodeParamError, "scene cashier takes no payer, h5 or redirect_url: the cashier page finds them in the browser it is opened in")
		}
	case "":
		return nil, badRequest(wechatpay.CodeParamError, "scene is required: jsapi, miniprogram, app, h5, native, auto or cashier")
	default:
		return nil, badRequest(wechatpay.CodeParamError, "unknown scene %s: want jsapi, miniprogram, app, h5, native, auto or cashier", apiauth.Echo(req.Scene))
	}
	o.scene = scene
	o.appID, o.signAppID = h.cfg.AppID, h.cfg.AppID
	if h.partner && o.subAppID != "" {
		// WeChat Pay reports the payment under sub_appid whenever the order carries it.
		o.appID, o.signAppID = o.subAppID, o.subAppID
	}
	switch scene {
	case SceneJSAPI, SceneMiniProgram:
		o.wx = wechatpay.SceneJSAPI
		p, e := h.payer(req.Payer, o)
		if e != nil {
			return nil, e
		}
		o.payer = p
	case SceneApp:
		o.wx = wechatpay.SceneApp
	case SceneNative:
		o.wx = wechatpay.SceneNative
	case SceneH5:
		o.wx = wechatpay.SceneH5
		info := wechatpay.H5Info{Type: "Wap"}
		if req.H5 != nil {
			info = wechatpay.H5Info(*req.H5)
			if info.Type == "" {
				info.Type = "Wap"
			}
		}
		switch info.Type {
		case "Wap", "iOS", "Android":
		default:
			return nil, badRequest(wechatpay.CodeParamError, "h5.type %s: want Wap (mobile web), iOS or Android (an app opening H5 pay)", apiauth.Echo(info.Type))
		}
		o.h5 = &info
		ip, err := ClientIP(r, h.cfg.Bundle.TrustedProxies)
		if err != nil {
			return nil, badRequest("CLIENT_IP_UNKNOWN", "%v", err).
				withHint("H5 needs the user's real IP: call this API from the user's request path, or list your proxies in TRUSTED_PROXIES so X-Forwarded-For is read · H5支付须上传用户真实IP")
		}
		o.clientIP = ip
		if req.RedirectURL != "" {
			u, err := url.Parse(req.RedirectURL)
			if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				return nil, badRequest(wechatpay.CodeParamError, "redirect_url %s must be an absolute http(s) URL on your H5 domain", apiauth.Echo(req.RedirectURL))
			}
		}
	}
	if req.TimeExpire != "" {
		t, err := time.Parse(time.RFC3339, req.TimeExpire)
		if err != nil {
			return nil, badRequest(wechatpay.CodeParamError, "time_expire %s is not RFC 3339 with a zone, e.g. 2024-06-08T10:34:56+08:00", apiauth.Echo(req.TimeExpire))
		}
		if !t.After(h.now()) {
			return nil, badRequest(wechatpay.CodeParamError, "time_expire %s is in the past", req.TimeExpire).
				withHint("give a time at least a minute ahead, or leave it out for the default lifetime (WXPAY_ORDER_TTL)")
		}
		o.expire = t
	}
	var e *apiError
	if o.sharing, e = h.parseSharing(r.Context(), req.ProfitSharing, "profit_sharing", o.owner, o.amount, false); e != nil { // sharing.go
		return nil, e
	}
	o.fp = fingerprint(o)
	return o, nil
}

// fieldIssueOf words a validation error as a sentence ("description is required").
func fieldIssueOf(err error) string {
	var ve *wechatpay.ValidationError
	if errors.As(err, &ve) {
		return fieldIssue(ve)
	}
	return err.Error()
}

func hasOpenID(p *orderapi.Payer) bool {
	return p != nil && (p.OpenID != "" || p.SpOpenID != "" || p.SubOpenID != "")
}

// payer maps the request's payer to the prepay field of the mode, and picks the app
// the pay bundle is signed for.
func (h *Handler) payer(p *orderapi.Payer, o *order) (*wechatpay.Payer, *apiError) {
	hint := "get the openid with OAuth snsapi_base (GET /oauth/openid?code=…) or wx.login in a mini-program · JSAPI支付须传用户openid"
	if !hasOpenID(p) {
		return nil, badRequest(wechatpay.CodeParamError, "%s needs payer.openid: the paying user's openid under appid %s", o.scene, o.signAppID).withHint(hint)
	}
	for _, v := range []string{p.OpenID, p.SpOpenID, p.SubOpenID} {
		if len(v) > 128 {
			return nil, badRequest(wechatpay.CodeParamError, "payer openid is longer than 128 characters")
		}
		// An openid is letters, digits, _ and - (28 of them from WeChat). A padded or
		// templated value ("   ", "{{openid}}") would be sent to WeChat Pay, recorded
		// as an order and fail only when the user tries to pay.
		if strings.TrimLeft(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") != "" {
			return nil, badRequest(wechatpay.CodeParamError, "payer openid %s is not an openid: it has characters other than letters, digits, _ and -", apiauth.Echo(v)).withHint(hint)
		}
	}
	if !h.partner {
		if p.SpOpenID != "" || p.SubOpenID != "" {
			return nil, badRequest(wechatpay.CodeParamError, "payer.sp_openid/sub_openid are partner-mode fields; send payer.openid")
		}
		return &wechatpay.Payer{OpenID: p.OpenID}, nil
	}
	out := &wechatpay.Payer{SpOpenID: p.SpOpenID, SubOpenID: p.SubOpenID}
	if p.OpenID != "" {
		if out.SpOpenID != "" || out.SubOpenID != "" {
			return nil, badRequest(wechatpay.CodeParamError, "send payer.openid or payer.sp_openid/sub_openid, not both")
		}
		if o.subAppID != "" {
			out.SubOpenID = p.OpenID
		} else {
			out.SpOpenID = p.OpenID
		}
	}
	if out.SubOpenID != "" {
		if o.subAppID == "" {
			return nil, badRequest(wechatpay.CodeParamError, "payer.sub_openid needs sub_appid (the sub-merchant's app the openid belongs to)")
		}
		o.signAppID = o.subAppID
	} else {
		o.signAppID = h.cfg.AppID // sp_openid: the page runs in the service provider's app
	}
	return out, nil
}

// fingerprint is the content of an order that must match for a replay: what WeChat
// Pay's prepay would see, minus the per-request parts (client IP, redirect_url, the
// user agent, a default expiry).
func fingerprint(o *order) string {
	b, _ := json.Marshal(struct {
		Scene, Description, Attach, GoodsTag, Expire, SubAppID string
		Amount                                                 int64
		Payer                                                  *wechatpay.Payer
		H5                                                     *wechatpay.H5Info
		Sharing                                                *payment.Sharing `json:",omitempty"`
	}{o.scene, o.description, o.attach, o.goodsTag, stampOrEmpty(o.expire), o.subAppID, o.amount, o.payer, o.h5, o.sharing})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

func stampOrEmpty(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// ClientIP is the address of the user as the platform saw it: the adapter's RemoteAddr
// (API Gateway / Function URL sourceIp, SCF x-scf-remote-addr, the TCP peer locally).
// When that address is a trusted proxy, X-Forwarded-For is walked from the right — each
// trusted hop appended the address it saw — to the first address that is not a trusted
// proxy. The leftmost entries are whatever the client sent and are never taken on trust;
// a proxy's own address is never returned.
func ClientIP(r *http.Request, trusted []netip.Prefix) (string, error) {
	remote, err := parseHostIP(r.RemoteAddr)
	if err != nil {
		return "", fmt.Errorf("the request's source address %q is not an IP address", r.RemoteAddr)
	}
	if !isTrusted(remote, trusted) {
		return remote.String(), nil
	}
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		for _, f := range strings.Split(v, ",") {
			if f = strings.TrimSpace(f); f != "" {
				hops = append(hops, f)
			}
		}
	}
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := parseHostIP(hops[i])
		if err != nil {
			return "", fmt.Errorf("X-Forwarded-For entry %q (appended by a trusted proxy) is not an IP address", hops[i])
		}
		if !isTrusted(a, trusted) {
			return a.String(), nil
		}
	}
	return "", fmt.Errorf("the request came from trusted proxy %s and X-Forwarded-For names no address outside TRUSTED_PROXIES, so the user's IP is unknown", remote)
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// parseHostIP reads "1.2.3.4", "1.2.3.4:5678", "[::1]:80" or "::1".
func parseHostIP(s string) (netip.Addr, error) {
	s = strings.TrimSpace(s)
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), nil
	}
	a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"))
	if err != nil {
		return netip.Addr{}, err
	}
	return a.Unmap().WithZone(""), nil
}

// digits reports whether s is a merchant number: WeChat Pay's mchid and sub_mchid are
// digits only.
func digits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// notOwnMchID refuses this deployment's own mchid (the platform's or service provider's
// sp_mchid) where a sub-merchant is named: an order is paid to a sub-merchant (子商户,
// 二级商户), never to the platform itself, and WeChat Pay refuses such an order. The
// simulator took it, so a merchant confusing WXPAY_MCHID with a sub_mchid placed
// orders locally that would fail live — and kept under the platform's own number.
// fromDefault: the value came from WXPAY_SUB_MCHID.
func (h *Handler) notOwnMchID(field, sub string, fromDefault bool) *apiError {
	if sub != h.cfg.MchID {
		return nil
	}
	where := field
	if fromDefault {
		where = field + " (from " + config.EnvSubMchID + ")"
	}
	return badRequest(wechatpay.CodeParamError, "%s %s is this deployment's own mchid (%s, the platform's or service provider's sp_mchid): an order is paid to a sub-merchant, never to the platform itself", where, sub, config.EnvMchID).
		withHint("name the sub-merchant the order is for (子商户/二级商户号), not WXPAY_MCHID · sub_mchid 须为子商户号，不能是服务商/平台自身的商户号")
}
