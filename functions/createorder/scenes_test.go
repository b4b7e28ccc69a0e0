package createorder_test

import (
	"bytes"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"net/url"
	"strings"
	"testing"
	"time"

	"rsc.io/qr"

	"github.com/paysls/wxpay/shared/orderapi"
	"github.com/paysls/wxpay/shared/wechatpay"
)

const (
	uaWeChat  = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.47(0x18002f2c) NetType/WIFI Language/zh_CN"
	uaMobile  = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Mobile Safari/537.36"
	uaDesktop = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36"
	openID    = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
)

// Every scene, in direct and partner mode, end to end: created through the handler,
// placed at the simulator with real signatures, the pay parameters checked as the
// WeChat client would (signature with the merchant public key, QR code content), then
// paid at the simulator and applied by notify against the stored order — which proves
// the stored mchid/appid/amount are exactly what the payment carries.
func TestEveryScene(t *testing.T) {
	for _, partner := range []bool{false, true} {
		mode := map[bool]string{false: "direct", true: "partner"}[partner]
		t.Run(mode, func(t *testing.T) {
			e := newEnv(t, envOptions{partner: partner})
			pub := &e.id.MerchantKey.PublicKey
			cases := []struct {
				name, scene, ua string
				payer           *orderapi.Payer
				want            string // resolved scene
				signApp         string
			}{
				{name: "jsapi", scene: "jsapi", payer: &orderapi.Payer{OpenID: openID}, want: "jsapi"},
				{name: "miniprogram", scene: "miniprogram", payer: &orderapi.Payer{OpenID: openID}, want: "miniprogram"},
				{name: "app", scene: "app", want: "app"},
				{name: "h5", scene: "h5", want: "h5"},
				{name: "native", scene: "native", want: "native"},
				{name: "auto-wechat", scene: "auto", ua: uaWeChat, payer: &orderapi.Payer{OpenID: openID}, want: "jsapi"},
				{name: "auto-mobile", scene: "auto", ua: uaMobile, want: "h5"},
				{name: "auto-desktop", scene: "auto", ua: uaDesktop, want: "native"},
			}
			if partner {
				cases = append(cases, struct {
					name, scene, ua string
					payer           *orderapi.Payer
					want            string
					signApp         string
				}{name: "jsapi-sp_openid", scene: "jsapi", payer: &orderapi.Payer{SpOpenID: openID}, want: "jsapi", signApp: e.id.AppID})
			}
			for i, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					orderID := fmt.Sprintf("SC%s%02d%d", mode[:1], i, time.Now().UnixNano()%1e9)
					a := e.post(t, orderapi.CreateRequest{OrderID: orderID, Amount: 1999, Description: "测试商品-" + c.name, Scene: c.scene,
						RedirectURL: "https://shop.example.com/paid?order=" + orderID + "&x=1", Payer: c.payer, UserAgent: c.ua})
					if a.Replayed || a.OutTradeNo != orderID || a.Scene != c.want || a.State != "NOTPAY" || a.Amount != 1999 || a.OrderID != orderID {
						t.Fatalf("answer = %+v", a)
					}
					appID, signApp := e.id.AppID, e.id.AppID
					if partner {
						appID, signApp = testSubAppID, testSubAppID
					}
					if c.signApp != "" {
						signApp = c.signApp
					}
					switch c.want {
					case "jsapi", "miniprogram":
						checkJSAPI(t, pub, pays[orderapi.JSAPIPay](t, a), signApp)
					case "app":
						partnerID := e.owner()
						checkAPP(t, pub, pays[orderapi.APPPay](t, a), signApp, partnerID)
					case "h5":
						u := pays[orderapi.H5Pay](t, a).H5URL
						want := "&redirect_url=" + url.QueryEscape("https://shop.example.com/paid?order="+orderID+"&x=1")
						// The simulator's h5_url is its own page (/sim/h5/{prepay_id}); WeChat's is
						// https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb?prepay_id=….
						if !strings.Contains(u, "/sim/h5/wx") || !strings.HasSuffix(u, want) {
							t.Fatalf("h5_url = %q, want the redirect_url appended URL-encoded (%s)", u, want)
						}
						exp, err := time.Parse(time.RFC3339, a.ExpiresAt)
						if d := exp.Sub(e.clock.Now()); err != nil || d > 5*time.Minute || d < 4*time.Minute {
							t.Fatalf("h5 expires_at = %v (%v from now), want 5 minutes on", a.ExpiresAt, d)
						}
						sv := e.simOrder(t, orderID)
						var sent wechatpay.PrepayRequest
						if err := json.Unmarshal(sv.Request, &sent); err != nil || sent.SceneInfo == nil || sent.SceneInfo.PayerClientIP != "127.0.0.1" {
							t.Fatalf("prepay request = %s, want payer_client_ip 127.0.0.1 (the test client)", sv.Request)
						}
					case "native":
						np := pays[orderapi.NativePay](t, a)
						checkQR(t, np.CodeURL, np.QRPNG)
					}
					rec, ok := e.order(t, orderID)
					if !ok || rec.Owner != e.owner() || rec.AppID != appID || rec.Amount != 1999 {
						t.Fatalf("stored order = %+v", rec)
					}
					// The user pays; notify applies the payment against the stored order.
					e.pay(t, orderID)
					paid := e.waitState(t, orderID, wechatpay.TradeStateSuccess)
					if g := e.view(t, orderID); g.State != "SUCCESS" || g.TransactionID != paid.Payment.TransactionID || g.PaidAt == "" {
						t.Fatalf("GET after pay: %+v", g)
					}
				})
			}
		})
	}
}

func checkJSAPI(t *testing.T, pub *rsa.PublicKey, pay orderapi.JSAPIPay, appID string) {
	t.Helper()
	if pay.AppID != appID || pay.SignType != "RSA" || !strings.HasPrefix(pay.Package, "prepay_id=wx") {
		t.Fatalf("JSAPI pay = %+v (want appId %s)", pay, appID)
	}
	msg := pay.AppID + "\n" + pay.TimeStamp + "\n" + pay.NonceStr + "\n" + pay.Package + "\n"
	verify(t, pub, msg, pay.PaySign)
}

func checkAPP(t *testing.T, pub *rsa.PublicKey, pay orderapi.APPPay, appID, partnerID string) {
	t.Helper()
	if pay.AppID != appID || pay.PartnerID != partnerID || pay.Package != "Sign=WXPay" || !strings.HasPrefix(pay.PrepayID, "wx") {
		t.Fatalf("APP pay = %+v (want appid %s partnerid %s)", pay, appID, partnerID)
	}
	msg := pay.AppID + "\n" + pay.TimeStamp + "\n" + pay.NonceStr + "\n" + pay.PrepayID + "\n"
	verify(t, pub, msg, pay.Sign)
}

func verify(t *testing.T, pub *rsa.PublicKey, msg, sig string) {
	t.Helper()
	if err := wechatpay.VerifyMessage(pub, []byte(msg), sig); err != nil {
		t.Fatalf("signature over %q does not verify with the merchant public key: %v", msg, err)
	}
}

// checkQR decodes qr_png and proves it shows code_url. rsc.io/qr only encodes, and a
// full QR decoder is out of scope for a test, so the check is: the data URL decodes as
// a PNG; the PNG is exactly (modules + 8 quiet-zone modules) × 8 pixels square; the
// 4-module quiet zone is white; and every module, sampled at its centre, has the colour
// of the same module in the matrix rsc.io/qr computes for code_url. A QR code's module
// matrix determines its content, so an image matching it module for module reads back
// as code_url.
func checkQR(t *testing.T, codeURL, dataURL string) {
	t.Helper()
	if !strings.HasPrefix(codeURL, "weixin://wxpay/bizpayurl?pr=") {
		t.Fatalf("code_url = %q", codeURL)
	}
	checkQRImage(t, codeURL, dataURL)
}

// checkQRImage proves dataURL is the PNG QR code of text (see checkQR).
func checkQRImage(t *testing.T, codeURL, dataURL string) {
	t.Helper()
	b64, ok := strings.CutPrefix(dataURL, "data:image/png;base64,")
	if !ok {
		t.Fatalf("qr_png = %.40q…, want a PNG data URL", dataURL)
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("qr_png is not a PNG: %v", err)
	}
	want, err := qr.Encode(codeURL, qr.M)
	if err != nil {
		t.Fatal(err)
	}
	const scale = 8
	n := want.Size
	if b := img.Bounds(); b != image.Rect(0, 0, (n+8)*scale, (n+8)*scale) {
		t.Fatalf("qr_png is %v, want %d×%d (%d modules + quiet zone, %d px each)", b, (n+8)*scale, (n+8)*scale, n, scale)
	}
	dark := func(x, y int) bool {
		r, g, b, _ := img.At(x, y).RGBA()
		return r+g+b < 3*0x8000
	}
	for y := -4; y < n+4; y++ {
		for x := -4; x < n+4; x++ {
			px, py := (x+4)*scale+scale/2, (y+4)*scale+scale/2
			if got, exp := dark(px, py), want.Black(x, y); got != exp {
				t.Fatalf("module (%d,%d): dark=%v, want %v — the image is not the QR code of %q", x, y, got, exp, codeURL)
			}
		}
	}
	// The quiet zone is white pixel for pixel.
	for y := 0; y < (n+8)*scale; y++ {
		for x := 0; x < (n+8)*scale; x++ {
			inside := x >= 4*scale && x < (n+4)*scale && y >= 4*scale && y < (n+4)*scale
			if !inside && dark(x, y) {
				t.Fatalf("quiet zone pixel (%d,%d) is dark", x, y)
			}
		}
	}
}

// auto without user_agent reads the request's own User-Agent (a browser calling the
// API through the merchant's proxy).
func TestAutoFromRequestHeader(t *testing.T) {
	e := newEnv(t, envOptions{})
	s, a := e.call(t, "POST", "/orders", map[string]any{"order_id": "AUTOHDR001", "amount": 100, "description": "x", "scene": "auto"}, "User-Agent", uaMobile)
	if s != 201 || a["scene"] != "h5" {
		t.Fatalf("%d %v", s, a)
	}
	s, a = e.call(t, "POST", "/orders", map[string]any{"order_id": "AUTOHDR002", "amount": 100, "description": "x", "scene": "auto"}, "User-Agent", uaWeChat)
	if s != 400 || a["code"] != "OPENID_REQUIRED" || !strings.Contains(str(a, "hint"), "snsapi_base") {
		t.Fatalf("%d %v", s, a)
	}
}

// Re-pricing in partner mode: the attempts live under the sub-merchant and closes go to
// the partner endpoints.
func TestRepricingPartner(t *testing.T) {
	e := newEnv(t, envOptions{partner: true})
	if s, a := e.call(t, "POST", "/orders", nativeOrder("PREPRICE01", 1000)); s != 201 {
		t.Fatalf("%d %v", s, a)
	}
	e.clock.Advance(6 * time.Minute)
	s, a := e.call(t, "POST", "/orders", nativeOrder("PREPRICE01", 900))
	if s != 201 || a["out_trade_no"] != "PREPRICE01_2" {
		t.Fatalf("%d %v", s, a)
	}
	if st := e.simOrder(t, "PREPRICE01").Transaction.TradeState; st != "CLOSED" {
		t.Fatalf("attempt 1 at WeChat Pay: %s", st)
	}
	e.pay(t, "PREPRICE01_2")
	e.waitState(t, "PREPRICE01_2", wechatpay.TradeStateSuccess)
	if s, g := e.call(t, "GET", "/orders/PREPRICE01?sub_mchid="+testSubMchID, nil); s != 200 || g["state"] != "SUCCESS" || g["amount"] != float64(900) {
		t.Fatalf("%d %v", s, g)
	}
	if s, g := e.call(t, "GET", "/orders/PREPRICE01?sub_mchid=1900000999", nil); s != 404 {
		t.Fatalf("another sub-merchant's view: %d %v", s, g)
	}
}
