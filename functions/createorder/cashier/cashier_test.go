package cashier

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/paysls/wxpay/shared/orderapi"
)

func TestYuan(t *testing.T) {
	for fen, want := range map[int64]string{
		0: "¥0.00", 1: "¥0.01", 9: "¥0.09", 10: "¥0.10", 100: "¥1.00", 1234: "¥12.34", 19900: "¥199.00",
		123456789: "¥1234567.89", 9007199254740993: "¥90071992547409.93", -5: "-¥0.05",
	} {
		if got := yuan(fen); got != want {
			t.Errorf("yuan(%d) = %q, want %q", fen, got, want)
		}
	}
}

func TestSceneFor(t *testing.T) {
	for ua, want := range map[string]string{
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.50(0x1800322d) NetType/WIFI Language/zh_CN":                                                                         orderapi.SceneJSAPI,
		"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/120.0 Mobile Safari/537.36 XWEB/1160065 MMWEBSDK/20231202 MicroMessenger/8.0.47.2560(0x28002F30) WeChat/arm64 Weixin NetType/WIFI Language/zh_CN": orderapi.SceneJSAPI,
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1":                                                                                                             orderapi.SceneH5,
		"Mozilla/5.0 (Linux; Android 14; SM-S9180) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36":                                                                                                                              orderapi.SceneH5,
		"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36":                                                                                                                                               orderapi.SceneNative,
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 Edg/130.0.0.0":                                                                                                                       orderapi.SceneNative,
		"": orderapi.SceneNative,
	} {
		if got := sceneFor(ua); got != want {
			t.Errorf("sceneFor(%q) = %s, want %s", ua, got, want)
		}
	}
}

func TestTokenRoundTrip(t *testing.T) {
	key := DeriveKey([]byte("token"))
	now := time.Unix(1_800_000_000, 0)
	tok := token(key, "ORDER123456", now, time.Hour)
	if _, err := CheckToken(key, "ORDER123456", tok, now.Add(59*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := CheckToken(key, "ORDER123456", tok, now.Add(time.Hour)); err != errTokenExpired {
		t.Fatalf("at expiry: %v", err)
	}
	if _, err := CheckToken(DeriveKey([]byte("other")), "ORDER123456", tok, now); err != errTokenInvalid {
		t.Fatalf("other API token: %v", err)
	}
	if _, err := CheckToken(key, "ORDER123457", tok, now); err != errTokenInvalid {
		t.Fatalf("other order: %v", err)
	}
	// One token, one spelling: the MAC's last base64 character carries 2 unused bits,
	// and a link whose spelling differs there is refused like any other edit.
	for _, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_" {
		if alt := tok[:len(tok)-1] + string(c); alt != tok {
			if _, err := CheckToken(key, "ORDER123456", alt, now); err != errTokenInvalid {
				t.Fatalf("token %q (last character edited) answered %v", alt, err)
			}
		}
	}
	st := makeState(key, "ORDER123456", "0123456789abcdef", now)
	if !regexp.MustCompile(`^[0-9a-zA-Z]{1,128}$`).MatchString(st) {
		t.Fatalf("state %q breaks WeChat's [a-zA-Z0-9]{0,128}", st)
	}
	if err := checkState(key, "ORDER123456", st, "0123456789abcdef", now); err != nil {
		t.Fatal(err)
	}
	p := makePayer(key, "wxapp", "oOPENID", now)
	if got, err := checkPayer(key, "wxapp", p, now); err != nil || got != "oOPENID" {
		t.Fatalf("payer cookie: %q %v", got, err)
	}
	if _, err := checkPayer(key, "wxother", p, now); err == nil {
		t.Fatal("payer cookie accepted for another app")
	}
	if _, err := checkPayer(key, "wxapp", "oEVIL"+p[len("oOPENID"):], now); err == nil {
		t.Fatal("edited payer cookie accepted")
	}
}

// renderAll renders the page in every view and mode, with d's values.
func renderAll(d pageData) map[string]string {
	out := map[string]string{}
	for _, v := range []struct{ view, mode string }{{"pay", "jsapi"}, {"pay", "h5"}, {"pay", "native"}, {"return", "h5"},
		{"confirming", "jsapi"}, {"paid", ""}, {"closed", ""}, {"review", ""}, {"error", ""}} {
		dd := d
		dd.View, dd.Mode = v.view, v.mode
		var b strings.Builder
		writePage(&b, &dd)
		out[v.view+"/"+v.mode] = b.String()
	}
	return out
}

// TestPageIsSmallAndStrict: no inline script or style (the CSP forbids them), nothing
// external, a few KB — in every view the page can render.
func TestPageIsSmallAndStrict(t *testing.T) {
	total := 0
	pages := renderAll(pageData{Merchant: "示例小店", Description: "拿铁", Yuan: "¥12.34", OrderID: "ORDER0001", ExpiresAt: "2026-11-26 12:00",
		StatusURL: "/pay/ORDER0001/status?t=x", PayLink: "/pay/ORDER0001/h5?t=x", CheckLink: "/pay/ORDER0001?t=x&check=1",
		PageLink: "/pay/ORDER0001?t=x", QR: "data:image/png;base64,iVBOR", JSAPI: `{"appId":"wx"}`, ErrZH: "错", ErrEN: "error", Retry: "/pay/ORDER0001?t=x"})
	largest := 0
	for view, s := range pages {
		largest = max(largest, len(s))
		for _, bad := range []string{"http://", "https://", "//cdn", "@import", "url("} {
			if strings.Contains(s, bad) {
				t.Errorf("page %s contains %q: the page loads nothing from elsewhere", view, bad)
			}
		}
		if regexp.MustCompile(`<script(?:\s[^>]*)?>[^<]`).MatchString(s) || strings.Contains(s, "<style") ||
			regexp.MustCompile(`\s(style|on[a-z]+)=`).MatchString(s) {
			t.Errorf("page %s has inline script, style or event handlers", view)
		}
	}
	total += largest
	for _, name := range []string{"cashier.js", "cashier.css"} {
		b, err := os.ReadFile("assets/" + name)
		if err != nil {
			t.Fatal(err)
		}
		total += len(b)
		for _, bad := range []string{"http://", "https://", "//cdn", "@import", "url("} {
			if strings.Contains(string(b), bad) {
				t.Errorf("%s contains %q: the page loads nothing from elsewhere", name, bad)
			}
		}
	}
	if total > 12<<10 {
		t.Errorf("assets are %d bytes; keep the cashier a few KB", total)
	}
	t.Logf("largest page + cashier.js + cashier.css = %d bytes", total)
	for _, d := range []string{"script-src 'self'", "style-src 'self'", "default-src 'none'", "frame-ancestors 'none'", "base-uri 'none'"} {
		if !strings.Contains(csp, d) {
			t.Errorf("CSP lacks %s", d)
		}
	}
	if strings.Contains(csp, "unsafe") {
		t.Error("CSP allows unsafe-*")
	}
}

// TestPageEscapes: whatever a merchant or an attacker puts in a description, a merchant
// name or a link ends up as text, never as markup, script or a javascript: URL.
func TestPageEscapes(t *testing.T) {
	evil := `"><script>alert(1)</script><img src=x onerror=alert(2)>'`
	pages := renderAll(pageData{Merchant: evil, Description: evil, Yuan: evil, OrderID: evil, ExpiresAt: evil,
		StatusURL: "javascript:alert(3)", PayLink: "javascript:alert(4)", CheckLink: "//evil.example/x", PageLink: evil,
		QR: "data:text/html,<script>alert(5)</script>", JSAPI: `{"x":"` + evil + `"}`, ErrZH: evil, ErrEN: evil, Retry: "javascript:alert(6)"})
	for view, s := range pages {
		for _, bad := range []string{"<script>", "<img src=x", "javascript:", "//evil.example", "data:text/html"} {
			if strings.Contains(s, bad) {
				t.Errorf("page %s lets %q through", view, bad)
			}
		}
		if !strings.Contains(s, "&lt;script&gt;") && view != "confirming/jsapi" {
			t.Errorf("page %s does not show the escaped text", view)
		}
	}
}

// A link opened on two devices at once: the second load finds the first one's create in
// progress. It says so and offers the same page again, not a dead end.
func TestCreateInProgressOffersTryAgain(t *testing.T) {
	h := &Handler{log: slog.New(slog.NewJSONHandler(io.Discard, nil))}
	for code, again := range map[string]bool{"CREATE_IN_PROGRESS": true, "BUSY": true, "ORDER_IN_REVIEW": false} {
		w := httptest.NewRecorder()
		h.orderError(w, httptest.NewRequest("GET", "/pay/ORDER0001?t=x", nil), "ORDER0001", &orderapi.Error{Status: 409, Code: code})
		body := w.Body.String()
		if has := strings.Contains(body, `href="/pay/ORDER0001?t=x"`) && strings.Contains(body, "Try again"); has != again {
			t.Errorf("%s: offers the page again %v, want %v:\n%s", code, has, again, body)
		}
	}
}
