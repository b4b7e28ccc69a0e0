package cashier_test

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"rsc.io/qr"

	"github.com/paysls/wxpay/internal/testbrowser"
	"github.com/paysls/wxpay/shared/orderapi"
)

// browser is one headless Chromium tab with the given user agent and viewport.
type browser struct {
	t   *testing.T
	ctx context.Context
	dir string
}

func newBrowser(t *testing.T, ua string, width, height int64, mobile bool) *browser {
	t.Helper()
	tab := testbrowser.Open(t, testbrowser.Options{What: "the cashier's", UserAgent: ua, Width: width, Height: height, Mobile: mobile,
		Timeout: 90 * time.Second, Expected: func(_, url string) bool { return strings.HasSuffix(url, "/favicon.ico") }})
	return &browser{t: t, ctx: tab.Ctx, dir: tab.Dir}
}

func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// waitView waits until the page shows view (the section and main's data-view).
func (b *browser) waitView(view string, within time.Duration) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, within)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`section[data-v="`+view+`"]`))); err != nil {
		loc, _ := chromedp.Run(b.ctx, chromedp.Location())
		html, _ := chromedp.Run(b.ctx, chromedp.OuterHTML(chromedp.CSS("body")))
		b.t.Fatalf("view %q not shown within %v: %v\nat %s\n%s", view, within, err, loc, html)
	}
	if got := b.eval(`document.getElementById('cashier').getAttribute('data-view')`); got != view {
		b.t.Fatalf("data-view %q, want %q", got, view)
	}
}

func (b *browser) eval(js string) string {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](js))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// view is the page's data-view now ("" between documents).
func (b *browser) view() string {
	v, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`(document.getElementById('cashier') || {getAttribute(){return ''}}).getAttribute('data-view') || ''`))
	return v
}

func (b *browser) location() string {
	b.t.Helper()
	loc, err := chromedp.Run(b.ctx, chromedp.Location())
	if err != nil {
		b.t.Fatal(err)
	}
	return loc
}

// shot writes a full-page PNG screenshot and logs its path.
func (b *browser) shot(name string) {
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

// injectBridge installs the WeixinJSBridge stub in every new document, before the
// page's scripts.
func (b *browser) injectBridge() {
	b.t.Helper()
	src, err := os.ReadFile("testdata/wxbridge_stub.js")
	if err != nil {
		b.t.Fatal(err)
	}
	if err := chromedp.Do(b.ctx, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: string(src)})
		return err
	})); err != nil {
		b.t.Fatalf("inject WeixinJSBridge stub: %v", err)
	}
}

func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestBrowserWeChatJSAPI: inside WeChat the page gets the openid by OAuth, creates the
// JSAPI payment and calls getBrandWCPayRequest with a paySign that verifies with the
// merchant key; on get_brand_wcpay_request:ok it only shows "confirming" and turns to
// paid after the server has learned the payment from WeChat Pay.
func TestBrowserWeChatJSAPI(t *testing.T) {
	h := newHarness(t)
	b := newBrowser(t, uaWeChat, 360, 740, true)
	b.injectBridge()
	const id = "JSAPI0000001"
	h.add(id, 1234, "拿铁咖啡 大杯 Caffè latte, large", 2*time.Hour)
	link := h.link(id, time.Hour)

	b.do("open link in WeChat", chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS("#pay-btn")))
	// (The #wechat_redirect fragment of the authorize link stays with the browser across
	// the redirects, as it does in any browser; WeChat strips it itself.)
	if loc, _, _ := strings.Cut(b.location(), "#"); loc != link {
		t.Fatalf("after OAuth the browser is at %s, want the link back without code/state", loc)
	}
	if got := b.eval(`document.querySelector('.amount').textContent`); !strings.Contains(got, "¥12.34") {
		t.Fatalf("amount %q", got)
	}
	b.shot("1-jsapi-pay")
	if n := len(h.jsapiChecks()); n != 0 {
		t.Fatalf("getBrandWCPayRequest called %d times before the user tapped", n)
	}

	b.do("tap pay", chromedp.Click(chromedp.CSS("#pay-btn")))
	b.waitView("confirming", 10*time.Second)
	waitFor(t, 5*time.Second, "the bridge stub's verification", func() bool { return len(h.jsapiChecks()) == 1 })
	chk := h.jsapiChecks()[0]
	if chk.err != nil {
		t.Fatalf("paySign check: %v (%+v)", chk.err, chk.params)
	}
	cur := h.current(id)
	if p := h.prepayRequest(cur.OutTradeNo).Payer; cur.Scene != orderapi.SceneJSAPI || chk.prepayID != cur.Claim.Answer.PrepayID || p == nil || p.OpenID == "" {
		t.Fatalf("bridge got prepay %q; attempt %+v", chk.prepayID, cur)
	}
	// The check can fail: the same object with another nonce does not verify.
	forged := chk.params
	forged.NonceStr += "x"
	if checkPaySign(&h.id.MerchantKey.PublicKey, h.cfg.AppID, forged, time.Now()) == nil {
		t.Fatal("a forged nonceStr verified")
	}

	// err_msg ok, but nothing is paid yet: the page keeps asking and stays on confirming.
	polls := h.statusPolls.Load()
	waitFor(t, 10*time.Second, "the page to poll the status after get_brand_wcpay_request:ok", func() bool { return h.statusPolls.Load() > polls })
	// Past the recheck window: the poll after this one asks WeChat Pay, which knows of
	// no payment either.
	h.clk.Advance(recheck)
	polls = h.statusPolls.Load()
	waitFor(t, 10*time.Second, "another status poll", func() bool { return h.statusPolls.Load() > polls })
	if v := b.eval(`document.getElementById('cashier').getAttribute('data-view')`); v != "confirming" {
		t.Fatalf("view %q before any payment; the page trusted err_msg", v)
	}
	if s := h.state(id); s != "NOTPAY" {
		t.Fatalf("state %s", s)
	}
	b.shot("2-jsapi-confirming")

	h.simPay("prepay_id", chk.prepayID)
	b.waitView("paid", 15*time.Second)
	if s := h.state(id); s != "SUCCESS" {
		t.Fatalf("page says paid, store says %s", s)
	}
	b.shot("3-jsapi-paid")
}

// TestBrowserMobileH5: a phone browser outside WeChat goes to the h5_url page (the
// simulator's) only when the user taps, pays, and comes back to the page, which shows
// paid once the order API has learned it from WeChat Pay — at once when GET /orders
// asked on its own, else after "I have paid" (seed 004: nothing is concluded unpaid
// before the user says they have paid).
func TestBrowserMobileH5(t *testing.T) {
	h := newHarness(t)
	b := newBrowser(t, uaSafari, 360, 740, true)
	const id = "H5ORDER00001"
	h.add(id, 880, "电影票 2 张 Two cinema tickets", 2*time.Hour)
	link := h.link(id, time.Hour)

	b.do("open link", chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS("#pay-btn")))
	b.shot("1-h5-pay")
	if n := len(h.simOrders()); n != 0 {
		t.Fatalf("%d payments placed on page view; H5 is placed when the user taps (h5_url lives 5 minutes)", n)
	}

	b.do("tap pay", chromedp.Click(chromedp.CSS("#pay-btn")), chromedp.WaitVisible(chromedp.CSS("button.pay")))
	loc := b.location()
	cur := h.current(id)
	if cur.Scene != orderapi.SceneH5 || !strings.HasPrefix(loc, cur.Claim.Answer.H5URL+"&redirect_url=") {
		t.Fatalf("at %s; attempt %+v", loc, cur)
	}
	lu, _ := url.Parse(link)
	wantBack := h.srv.URL + "/pay/" + id + "?" + url.Values{"t": {lu.Query().Get("t")}, "return": {"1"}}.Encode()
	if !strings.HasSuffix(loc, "&redirect_url="+url.QueryEscape(wantBack)) {
		t.Fatalf("h5_url %s does not carry redirect_url=%s URL-encoded", loc, wantBack)
	}
	// The browser's address, as the order API's client-IP rule found it through the
	// cashier's in-process call (orderapi.OnBehalfOf), is what WeChat Pay was sent.
	if si := h.prepayRequest(cur.OutTradeNo).SceneInfo; si == nil || si.PayerClientIP != "127.0.0.1" {
		t.Fatalf("scene_info %+v, want payer_client_ip 127.0.0.1", si)
	}
	b.shot("2-h5-wechat-page")

	b.do("pay at WeChat's H5 page", chromedp.Click(chromedp.CSS("button.pay")))
	waitFor(t, 10*time.Second, "the return from WeChat's H5 page", func() bool { v := b.view(); return v == "return" || v == "paid" })
	if loc := b.location(); loc != wantBack {
		t.Fatalf("came back to %s, want %s", loc, wantBack)
	}
	b.shot("3-h5-returned")
	if b.view() == "return" {
		b.do("tap I have paid", chromedp.Click(chromedp.CSS("#paid-btn")))
	}
	b.waitView("paid", 10*time.Second)
	if s := h.state(id); s != "SUCCESS" {
		t.Fatalf("state %s", s)
	}
	b.shot("4-h5-paid")
}

// TestBrowserDesktopNative: a desktop browser shows the Native QR code, which is
// code_url; paying it turns the page to paid without a reload. An order that expires
// on screen turns to closed and offers nothing to pay.
func TestBrowserDesktopNative(t *testing.T) {
	h := newHarness(t)
	b := newBrowser(t, uaDesktop, 1024, 768, false)
	const id = "NATIVE000001"
	h.add(id, 19900, "年度会员 Annual membership", 2*time.Hour)
	link := h.link(id, time.Hour)

	b.do("open link", chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS("#qr")))
	cur := h.current(id)
	code := cur.Claim.Answer.CodeURL
	if cur.Scene != orderapi.SceneNative || !strings.HasPrefix(code, "weixin://wxpay/bizpayurl?pr=") {
		t.Fatalf("attempt %+v", cur)
	}
	// What the user sees: the rendered image, read back module by module.
	png1, err := chromedp.Run(b.ctx, chromedp.Screenshot(chromedp.CSS("#qr")))
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(png1))
	if err != nil {
		t.Fatal(err)
	}
	got, err := qrModules(img)
	if err != nil {
		t.Fatal(err)
	}
	if d := qrDiff(got, code); d != 0 {
		t.Fatalf("the QR code on the page differs from code_url %s in %d modules", code, d)
	}
	if qrDiff(got, code+"0") == 0 {
		t.Fatal("the QR comparison cannot tell two code_urls apart")
	}
	b.shot("1-native-qr")

	b.eval(`window.__sameDocument = 'yes'`)
	h.simPay("code_url", code)
	b.waitView("paid", 10*time.Second)
	if b.eval(`window.__sameDocument`) != "yes" {
		t.Fatal("the page reloaded to show paid")
	}
	if s := h.state(id); s != "SUCCESS" {
		t.Fatalf("state %s", s)
	}
	b.shot("2-native-paid")

	// An order that expires while its QR code is on screen.
	const late = "NATIVE000002"
	h.add(late, 500, "限时优惠 Flash sale", 10*time.Minute)
	link2 := h.link(late, time.Hour)
	b.do("open second link", chromedp.Navigate(link2), chromedp.WaitVisible(chromedp.CSS("#qr")))
	h.clk.Advance(11 * time.Minute)
	b.waitView("closed", 10*time.Second)
	// The page shows closed from the expiry alone. The ledger records the close when a
	// read asks WeChat Pay (once per recheck window); a poll that was judged just before
	// the clock moved answers from the store, so the close may only come with the next
	// read — a reload, a minute on.
	b.do("reload", chromedp.Reload())
	b.waitView("closed", 5*time.Second)
	for try := 0; h.state(late) != "CLOSED" && try < 3; try++ {
		h.clk.Advance(time.Minute)
		b.do("reload", chromedp.Reload())
		b.waitView("closed", 5*time.Second)
	}
	if s := h.state(late); s != "CLOSED" {
		t.Fatalf("state %s", s)
	}
	if n := b.eval(`String(document.querySelectorAll('#qr, #pay-btn').length)`); n != "0" {
		t.Fatalf("a closed order still offers %s ways to pay", n)
	}
	b.shot("3-native-expired")
}

// qrModules reads a QR code's module matrix from an image of it: the dark bounding
// box, the module size from the top-left finder pattern (7 modules wide), and a
// sample at the centre of every module.
func qrModules(img image.Image) ([][]bool, error) {
	bd := img.Bounds()
	dark := func(x, y int) bool {
		r, g, b, _ := img.At(x, y).RGBA()
		return (r+g+b)/3 < 0x8000
	}
	minX, minY, maxX, maxY := bd.Max.X, bd.Max.Y, -1, -1
	for y := bd.Min.Y; y < bd.Max.Y; y++ {
		for x := bd.Min.X; x < bd.Max.X; x++ {
			if dark(x, y) {
				minX, minY, maxX, maxY = min(minX, x), min(minY, y), max(maxX, x), max(maxY, y)
			}
		}
	}
	if maxX < 0 {
		return nil, fmt.Errorf("no dark pixels in a %v image", bd)
	}
	run := 0
	for x := minX; x <= maxX && dark(x, minY+1); x++ {
		run++
	}
	mod := float64(run) / 7
	if mod < 2 {
		return nil, fmt.Errorf("finder pattern %d px wide: modules too small to read", run)
	}
	n := int(math.Round(float64(maxX-minX+1) / mod))
	if h := int(math.Round(float64(maxY-minY+1) / mod)); h != n {
		return nil, fmt.Errorf("QR code %dx%d modules: not square", n, h)
	}
	mx, my := float64(maxX-minX+1)/float64(n), float64(maxY-minY+1)/float64(n)
	m := make([][]bool, n)
	for j := range m {
		m[j] = make([]bool, n)
		for i := range m[j] {
			m[j][i] = dark(minX+int((float64(i)+0.5)*mx), minY+int((float64(j)+0.5)*my))
		}
	}
	return m, nil
}

// qrDiff counts the modules in which m differs from rsc.io/qr's encoding of text
// (level M, as createorder renders code_url); a size mismatch counts as everything.
func qrDiff(m [][]bool, text string) int {
	c, err := qr.Encode(text, qr.M)
	if err != nil || len(m) != c.Size {
		return math.MaxInt
	}
	d := 0
	for y := 0; y < c.Size; y++ {
		for x := 0; x < c.Size; x++ {
			if c.Black(x, y) != m[y][x] {
				d++
			}
		}
	}
	return d
}
