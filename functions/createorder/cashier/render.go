package cashier

import (
	"html"
	"strings"
)

// The page is written by hand rather than with html/template: the reflection-based
// text/template engine makes the linker keep every exported method of every type in
// the binary, which put the createorder Lambda bootstrap (that serves this page) at
// 13.3 MB against its 10 MB budget. The page is small and fixed; every value is
// HTML-escaped for its context (text or a quoted attribute) and every URL is one this
// package built (a path on this server, or the data:image/png;base64 QR code checked
// before it gets here), so the context-aware escaping html/template adds has nothing
// left to do. TestPageEscapes holds this to hostile input.

// esc escapes text and quoted-attribute values: & < > " ' all become entities.
func esc(s string) string { return html.EscapeString(s) }

// safeURL lets through the URLs this package builds: same-origin paths, http(s)
// links and PNG data URLs; anything else becomes "#".
func safeURL(u string) string {
	switch {
	case strings.HasPrefix(u, "/") && !strings.HasPrefix(u, "//"),
		strings.HasPrefix(u, "https://"), strings.HasPrefix(u, "http://"),
		strings.HasPrefix(u, "data:image/png;base64,"):
		return esc(u)
	}
	return "#"
}

func hiddenUnless(cond bool) string {
	if cond {
		return ""
	}
	return " hidden"
}

// writePage renders the cashier page for d.
func writePage(b *strings.Builder, d *pageData) {
	w := b.WriteString
	w(`<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="strict-origin-when-cross-origin">
<link rel="icon" href="data:,">
<title>`)
	if d.Merchant != "" {
		w(esc(d.Merchant) + " · ")
	}
	w(`收银台 Checkout</title>
<link rel="stylesheet" href="` + safeURL(d.Prefix+"/pay/_/cashier.css") + `">
<script src="` + safeURL(d.Prefix+"/pay/_/cashier.js") + `" defer></script>
</head>
<body>
<main id="cashier" data-view="` + esc(d.View) + `" data-mode="` + esc(d.Mode) + `"`)
	if d.StatusURL != "" {
		w(` data-status="` + safeURL(d.StatusURL) + `"`)
	}
	if d.JSAPI != "" {
		w(` data-jsapi="` + esc(d.JSAPI) + `"`)
	}
	w(">\n")
	if d.Merchant != "" {
		w(`<p class="merchant">` + esc(d.Merchant) + "</p>\n")
	}
	if d.OrderID != "" {
		w(`<h1>` + esc(d.Description) + `</h1>
<p class="amount"><span class="sr">金额 <span lang="en">Amount</span> </span>` + esc(d.Yuan) + `</p>
<p class="muted">订单号 <span lang="en">Order</span> ` + esc(d.OrderID))
		if d.ExpiresAt != "" && d.View != "paid" {
			w(`<br>有效期至 <span lang="en">Valid until</span> ` + esc(d.ExpiresAt) + ` (UTC+8)`)
		}
		w("</p>\n")
	}
	if d.View == "error" {
		w(`<section data-v="error">
<h1>` + esc(d.ErrZH) + `</h1>
<p lang="en">` + esc(d.ErrEN) + "</p>\n")
		if d.Retry != "" {
			w(`<a class="btn" href="` + safeURL(d.Retry) + `">重试 <span lang="en">Try again</span></a>` + "\n")
		}
		w("</section>\n")
	} else {
		w(`<section data-v="pay"` + hiddenUnless(d.View == "pay") + ">\n")
		switch d.Mode {
		case "jsapi":
			w(`<button id="pay-btn" class="btn primary" type="button">微信支付 <span lang="en">Pay with WeChat</span></button>` + "\n")
		case "h5":
			w(`<a id="pay-btn" class="btn primary" href="` + safeURL(d.PayLink) + `" rel="nofollow">微信支付 <span lang="en">Pay with WeChat</span></a>
<p class="muted">将跳转到微信完成付款 <span lang="en">You will be taken to WeChat to pay</span></p>` + "\n")
		case "native":
			w(`<figure>
<img id="qr" src="` + safeURL(d.QR) + `" width="232" height="232" alt="微信支付二维码 WeChat Pay QR code">
<figcaption>请使用微信“扫一扫”付款 <span lang="en">Scan with WeChat to pay</span></figcaption>
</figure>
<p class="muted">付款后本页自动更新 <span lang="en">This page updates itself once you have paid</span> · <a href="` + safeURL(d.PageLink) + `">刷新 <span lang="en">Refresh</span></a></p>` + "\n")
		}
		w("</section>\n\n")
		w(`<section data-v="return"` + hiddenUnless(d.View == "return") + `>
<h2>支付完成了吗？ <span lang="en">Have you paid?</span></h2>` + "\n")
		if d.NotYet {
			w(`<p class="warn" role="alert">还未收到付款，如已支付请稍候再点一次 <span lang="en">No payment received yet. If you have paid, wait a moment and tap again.</span></p>` + "\n")
		}
		w(`<a id="paid-btn" class="btn primary" href="` + safeURL(d.CheckLink) + `">我已支付 <span lang="en">I have paid</span></a>
<a class="btn" href="` + safeURL(d.PayLink) + `" rel="nofollow">重新支付 <span lang="en">Pay again</span></a>
</section>

<section data-v="confirming"` + hiddenUnless(d.View == "confirming") + `>
<p class="big"><span class="spin" aria-hidden="true"></span>正在确认付款… <span lang="en">Confirming payment…</span></p>
</section>

<section data-v="paid"` + hiddenUnless(d.View == "paid") + `>
<p class="big ok"><span aria-hidden="true">✓</span> 支付成功 <span lang="en">Paid</span></p>
<p class="muted">感谢您的付款 <span lang="en">Thank you</span></p>
</section>

<section data-v="closed"` + hiddenUnless(d.View == "closed") + `>
<p class="big">订单已关闭或已过期 <span lang="en">This order has expired or was closed</span></p>
<p class="muted">无需付款，请联系商户重新下单 <span lang="en">Nothing to pay here: ask the merchant for a new order</span></p>
</section>

<section data-v="review"` + hiddenUnless(d.View == "review") + `>
<p class="big">付款待核实 <span lang="en">Payment under review</span></p>
<p class="muted">请勿重复付款，商户将与您联系 <span lang="en">Do not pay again: the merchant will contact you</span></p>
</section>
`)
	}
	w(`
<p id="note" class="muted" role="status" aria-live="polite"></p>
<footer>微信支付 <span lang="en">WeChat Pay</span></footer>
</main>
</body>
</html>
`)
}
