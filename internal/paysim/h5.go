package paysim

// The page behind an H5 payment's h5_url (WeChat's 微信支付中间页, mweb_url in APIv2).
// The real one lives at https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb?prepay_id=…
// &package=…; the simulator's at {base}/sim/h5/{prepay_id}?package=…, where a tester
// pays or cancels. WeChat's H5 guide (seed 004) sets the rules reproduced here:
//   - the link is valid for 5 minutes after it was made ("支付请求已失效,请重新发起支付");
//   - it cannot be opened inside WeChat ("请在微信外打开订单,进行支付");
//   - the merchant may append &redirect_url=… to come back to, which must be
//     URL-encoded (an unencoded one fails: "iOS: 签名验证失败 / Android: 系统繁忙");
//   - coming back does not mean paid: the merchant's page asks the user to tap before
//     it queries the order.

import (
	"cmp"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/paysls/wxpay/shared/wechatpay"
)

// h5LinkLifetime: "MWEB_URL生成后,有效期为5分钟".
const h5LinkLifetime = 5 * time.Minute

// h5Link is one h5_url handed out by an H5 prepay.
type h5Link struct {
	outTradeNo string // the order's orderKey (sub_mchid/out_trade_no in partner mode)
	pkg        string // the package parameter, checked like WeChat checks it
	created    time.Time
}

// pageCSP: the pages load nothing from anywhere; forms may post back and follow the
// merchant's redirect_url.
const pageCSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; frame-ancestors 'none'"

const pageHead = `<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>微信支付 · WeChat Pay (paysim)</title>
<style>
body{margin:0;font:16px/1.5 -apple-system,"PingFang SC","Microsoft YaHei",sans-serif;background:#ededed;color:#111}
main{max-width:420px;margin:0 auto;padding:32px 20px;text-align:center}
h1{font-size:20px;font-weight:600;margin:24px 0 8px}
.amount{font-size:40px;font-weight:600;margin:8px 0}
.muted{color:#555;font-size:14px}
.btn{display:block;width:100%;box-sizing:border-box;margin:12px 0;padding:12px;border:0;border-radius:8px;font-size:17px;text-decoration:none;cursor:pointer}
.pay{background:#07c160;color:#fff}
.cancel{background:#fff;color:#111}
a.btn{background:#fff;color:#06ae56}
</style></head><body>`

var payTmpl = template.Must(template.New("pay").Parse(pageHead + `
<main>
<p class="muted">{{.Merchant}}</p>
<h1>{{.Description}}</h1>
<p class="amount">¥{{.Yuan}}</p>
<p class="muted">商户订单号 Order {{.OutTradeNo}}<br>链接 {{.ExpiresIn}} 后失效 · link expires in {{.ExpiresIn}}</p>
<form method="post" action="/sim/h5/{{.PrepayID}}/pay">
<input type="hidden" name="package" value="{{.Package}}">
<input type="hidden" name="redirect_url" value="{{.RedirectURL}}">
<button class="btn pay" type="submit">确认支付 · Pay</button>
</form>
<form method="post" action="/sim/h5/{{.PrepayID}}/cancel">
<input type="hidden" name="package" value="{{.Package}}">
<input type="hidden" name="redirect_url" value="{{.RedirectURL}}">
<button class="btn cancel" type="submit">取消支付 · Cancel</button>
</form>
<p class="muted">paysim · 模拟微信支付 · simulated WeChat Pay: no real money moves</p>
</main></body></html>`))

// newH5Link registers a fresh h5_url for o. Called under s.mu.
func (s *Simulator) newH5Link(base, prepayID, outTradeNo string, now time.Time) string {
	pkg := s.ids.digits(10)
	s.st.h5Links[prepayID] = &h5Link{outTradeNo: outTradeNo, pkg: pkg, created: now}
	return base + "/sim/h5/" + prepayID + "?package=" + pkg
}

// baseURL is the simulator's own base URL as the client of r reached it (or
// Config.PublicURL).
func (s *Simulator) baseURL(r *http.Request) string {
	if s.cfg.PublicURL != "" {
		return s.cfg.PublicURL
	}
	return requestBase(r)
}

// requestBase is scheme://host as the client of r addressed the simulator.
func requestBase(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// h5Target is a checked h5_url request: the order behind it and where to go back.
type h5Target struct {
	prepayID, pkg, redirect string
	link                    *h5Link
}

// h5Refusal is a page to show instead of the cashier.
type h5Refusal struct {
	status         int
	zh, en, detail string
}

// checkH5 applies WeChat's rules to a request for prepayID carrying pkg and redirect
// (raw is the raw query of a GET, to catch an unencoded redirect_url).
func (s *Simulator) checkH5(r *http.Request, prepayID, pkg, redirect string) (*h5Target, *h5Refusal) {
	if isWeChat(r.UserAgent()) {
		return nil, &h5Refusal{http.StatusForbidden, "请在微信外打开订单,进行支付", "Open this order outside WeChat to pay",
			"H5 支付不能在微信客户端内调起,请在外部浏览器调起。 H5 payment cannot start inside WeChat's browser: use JSAPI there."}
	}
	if redirect != "" {
		u, err := url.Parse(redirect)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, &h5Refusal{http.StatusBadRequest, "商家存在未配置的参数,请联系商家解决", "The merchant's redirect_url is not valid",
				fmt.Sprintf("redirect_url %q must be an absolute http(s) URL on the H5 domain registered with WeChat Pay.", redirect)}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	link := s.st.h5Links[prepayID]
	if link == nil || link.pkg != pkg {
		return nil, &h5Refusal{http.StatusNotFound, "商家参数格式有误,请联系商家解决", "Unknown payment link",
			"No H5 payment has this prepay_id and package: use h5_url exactly as the prepay call returned it."}
	}
	if now := s.now(); now.After(link.created.Add(h5LinkLifetime)) {
		return nil, &h5Refusal{http.StatusGone, "支付请求已失效,请重新发起支付", "This payment request has expired",
			fmt.Sprintf("h5_url is valid for 5 minutes; this one was made at %s. Place the order again (the same request gives a fresh h5_url).", rfc3339CST(link.created))}
	}
	return &h5Target{prepayID: prepayID, pkg: pkg, redirect: redirect, link: link}, nil
}

// checkRawH5Query refuses a query whose redirect_url was appended without encoding:
// its "://" shows, and any "&" of its own query became parameters of the h5_url.
func checkRawH5Query(raw string) *h5Refusal {
	for _, kv := range strings.Split(raw, "&") {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "package", "prepay_id":
		case "redirect_url":
			if strings.Contains(v, "://") || strings.ContainsAny(v, "?#") {
				return unencodedRedirect(v)
			}
		default:
			return unencodedRedirect(kv)
		}
	}
	return nil
}

func unencodedRedirect(part string) *h5Refusal {
	return &h5Refusal{http.StatusBadRequest, "系统繁忙,请稍后再试 (iOS: 签名验证失败)", "redirect_url is not URL-encoded",
		fmt.Sprintf("h5_url carries %q: append redirect_url URL-encoded, e.g. &redirect_url=https%%3A%%2F%%2Fshop.example.com%%2Fpaid%%3Forder%%3D1 (url.QueryEscape).", part)}
}

func (f *h5Refusal) write(w http.ResponseWriter) { simPage(w, f.status, f.zh, f.en, f.detail, "") }

// h5Page handles GET /sim/h5/{prepay_id}.
func (s *Simulator) h5Page(w http.ResponseWriter, r *http.Request) {
	if f := checkRawH5Query(r.URL.RawQuery); f != nil {
		f.write(w)
		return
	}
	q := r.URL.Query()
	t, f := s.checkH5(r, r.PathValue("prepay_id"), q.Get("package"), q.Get("redirect_url"))
	if f != nil {
		f.write(w)
		return
	}
	if s.combineH5Page(w, t) {
		return
	}
	s.mu.Lock()
	o := s.st.orders[t.link.outTradeNo]
	now := s.now()
	s.expire(o, now)
	state, req := o.TradeState, o.Request
	s.mu.Unlock()
	switch state {
	case wechatpay.TradeStateNotPay, wechatpay.TradeStateUserPaying:
	case wechatpay.TradeStateSuccess, wechatpay.TradeStateRefund:
		simPage(w, http.StatusOK, "支付成功", "Paid", "商户订单号 Order "+req.OutTradeNo, t.redirect)
		return
	default:
		simPage(w, http.StatusConflict, "订单"+tradeStateDesc(state), "The order is "+state+" and cannot be paid", "商户订单号 Order "+req.OutTradeNo, t.redirect)
		return
	}
	merchant := req.MchID
	if o.Partner {
		merchant = req.SubMchID
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", pageCSP)
	w.Header().Set("Cache-Control", "no-store")
	_ = payTmpl.Execute(w, map[string]string{
		"Merchant": "商户号 Merchant " + merchant, "Description": req.Description, "Yuan": yuan(req.Amount.Total),
		"OutTradeNo": req.OutTradeNo, "PrepayID": t.prepayID, "Package": t.pkg, "RedirectURL": t.redirect,
		"ExpiresIn": t.link.created.Add(h5LinkLifetime).Sub(now).Round(time.Second).String(),
	})
}

// h5Action handles POST /sim/h5/{prepay_id}/pay and …/cancel, the page's two buttons.
// Pay settles the order as /sim/orders/{out_trade_no}/pay does (and notifies); cancel
// leaves it unpaid, as a user backing out does. Both then go to redirect_url, if the
// h5_url carried one.
func (s *Simulator) h5Action(w http.ResponseWriter, r *http.Request) {
	action := r.PathValue("action")
	if action != "pay" && action != "cancel" {
		http.NotFound(w, r)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		simPage(w, http.StatusBadRequest, "参数错误", "Bad form", err.Error(), "")
		return
	}
	t, f := s.checkH5(r, r.PathValue("prepay_id"), r.PostForm.Get("package"), r.PostForm.Get("redirect_url"))
	if f != nil {
		f.write(w)
		return
	}
	back := t.redirect
	if back == "" {
		back = "/sim/h5/" + t.prepayID + "?package=" + url.QueryEscape(t.pkg)
	}
	if action == "cancel" {
		s.log.Info("paysim: h5 payment cancelled by the user", "out_trade_no", t.link.outTradeNo)
		if t.redirect == "" {
			simPage(w, http.StatusOK, "已取消支付", "Payment cancelled", "订单未支付 · the order stays unpaid", "")
			return
		}
		http.Redirect(w, r, back, http.StatusSeeOther)
		return
	}
	if s.payCombineH5(w, r, t, back) {
		return
	}
	s.mu.Lock()
	o := s.st.orders[t.link.outTradeNo]
	appID := cmp.Or(o.Request.AppID, o.Request.SubAppID, o.Request.SpAppID)
	s.mu.Unlock()
	if _, _, status, err := s.Pay(t.link.outTradeNo, PayRequest{OpenID: openID(appID, defaultSimUser)}); err != nil {
		simPage(w, status, "支付失败", "Payment failed", err.Error(), t.redirect)
		return
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}
