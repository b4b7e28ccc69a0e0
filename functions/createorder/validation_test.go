package createorder_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/paysls/wxpay/functions/createorder"
	"github.com/paysls/wxpay/internal/keysdirtest"
	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/store/boltstore"
)

// Every rule: a bad request is refused with 4xx naming the problem, nothing reaches
// WeChat Pay and nothing is written to the store.
func TestBadInputReachesNothing(t *testing.T) {
	for _, partner := range []bool{false, true} {
		t.Run(map[bool]string{false: "direct", true: "partner"}[partner], func(t *testing.T) {
			e := newEnv(t, envOptions{partner: partner})
			ok := func() map[string]any {
				return map[string]any{"order_id": "BADINPUT01", "amount": 100, "description": "ok", "scene": "native"}
			}
			with := func(k string, v any) map[string]any {
				m := ok()
				if v == nil {
					delete(m, k)
				} else {
					m[k] = v
				}
				return m
			}
			past := e.clock.Now().Add(-time.Minute).Format(time.RFC3339)
			cases := []struct {
				name string
				body any
				code string // expected error code
				want string // expected in the message
			}{
				{"amount zero", with("amount", 0), "PARAM_ERROR", "positive"},
				{"amount negative", with("amount", -5), "PARAM_ERROR", "positive"},
				{"amount fraction", `{"order_id":"BADINPUT01","amount":1.5,"description":"x","scene":"native"}`, "PARAM_ERROR", "integer"},
				{"amount exponent", `{"order_id":"BADINPUT01","amount":1e2,"description":"x","scene":"native"}`, "PARAM_ERROR", "integer"},
				{"amount string", with("amount", "100"), "PARAM_ERROR", "integer"},
				{"amount missing", with("amount", nil), "PARAM_ERROR", "required"},
				{"order_id short", with("order_id", "A1234"), "PARAM_ERROR", "order_id"},
				{"order_id 30 chars", with("order_id", strings.Repeat("A", 30)), "PARAM_ERROR", "order_id"},
				{"order_id bad char", with("order_id", "ORDER.0001"), "PARAM_ERROR", "order_id"},
				{"order_id chinese", with("order_id", "订单000001"), "PARAM_ERROR", "order_id"},
				{"description 128 characters", with("description", strings.Repeat("商", 128)), "PARAM_ERROR", "127"},
				{"description empty", with("description", ""), "PARAM_ERROR", "description"},
				{"jsapi without openid", with("scene", "jsapi"), "PARAM_ERROR", "openid"},
				{"miniprogram without openid", with("scene", "miniprogram"), "PARAM_ERROR", "openid"},
				{"unknown scene", with("scene", "wap"), "PARAM_ERROR", "unknown scene"},
				{"no scene", with("scene", nil), "PARAM_ERROR", "scene is required"},
				{"cashier without a public URL", with("scene", "cashier"), "PUBLIC_URL_REQUIRED", "public URL"},
				{"time_expire past", with("time_expire", past), "PARAM_ERROR", "past"},
				{"time_expire malformed", with("time_expire", "2030-01-01 10:00:00"), "PARAM_ERROR", "RFC 3339"},
				{"attach too long", with("attach", strings.Repeat("a", 129)), "PARAM_ERROR", "attach"},
				{"unknown field", with("amount_yuan", 1), "PARAM_ERROR", "amount_yuan"},
				{"not json", "amount=100", "PARAM_ERROR", "JSON"},
				{"h5 inside WeChat", with("scene", "h5"), "IN_WECHAT", "请在微信外打开订单"},
				{"jsapi outside WeChat", map[string]any{"order_id": "BADINPUT01", "amount": 100, "description": "x", "scene": "jsapi", "payer": map[string]string{"openid": openID}, "user_agent": uaDesktop}, "NOT_IN_WECHAT", "该商户暂不支持通过外部拉起微信完成支付"},
				{"auto in WeChat without openid", map[string]any{"order_id": "BADINPUT01", "amount": 100, "description": "x", "scene": "auto", "user_agent": uaWeChat}, "OPENID_REQUIRED", "openid"},
				{"h5 bad redirect_url", map[string]any{"order_id": "BADINPUT01", "amount": 100, "description": "x", "scene": "h5", "redirect_url": "javascript:alert(1)"}, "PARAM_ERROR", "redirect_url"},
				{"h5 bad type", map[string]any{"order_id": "BADINPUT01", "amount": 100, "description": "x", "scene": "h5", "h5": map[string]string{"type": "Web"}}, "PARAM_ERROR", "h5.type"},
			}
			if !partner {
				cases = append(cases, struct {
					name string
					body any
					code string
					want string
				}{"partner fields in direct mode", with("sub_mchid", "1900000109"), "PARAM_ERROR", "partner-mode"})
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					v3, w := e.v3.Load(), e.st.Writes.Load()
					body := c.body
					if c.name == "h5 inside WeChat" {
						body = map[string]any{"order_id": "BADINPUT01", "amount": 100, "description": "x", "scene": "h5", "user_agent": uaWeChat}
					}
					status, a := e.call(t, "POST", "/orders", body)
					if status/100 != 4 || a["code"] != c.code || !strings.Contains(str(a, "message"), c.want) {
						t.Fatalf("%d %v, want 4xx %s mentioning %q", status, a, c.code, c.want)
					}
					if e.v3.Load() != v3 || e.st.Writes.Load() != w {
						t.Fatalf("a refused request made %d WeChat Pay calls and %d store writes", e.v3.Load()-v3, e.st.Writes.Load()-w)
					}
				})
			}
			if _, ok := e.order(t, "BADINPUT01"); ok {
				t.Fatal("a refused request left an order in the store")
			}
			if e.prepays.Load() != 0 || e.v3.Load() != 0 {
				t.Fatalf("WeChat Pay saw %d requests", e.v3.Load())
			}
			// The boundary is inclusive: 127 Chinese characters (381 bytes) and a 29-character order_id are fine.
			status, a := e.call(t, "POST", "/orders", map[string]any{"order_id": strings.Repeat("B", 29), "amount": 1, "description": strings.Repeat("商", 127), "scene": "native"})
			if status != 201 || a["out_trade_no"] != strings.Repeat("B", 29) {
				t.Fatalf("boundary order: %d %v", status, a)
			}
		})
	}
}

// Every route needs the bearer token.
func TestEveryRouteNeedsToken(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, rt := range []struct{ method, path string }{
		{"POST", "/orders"}, {"GET", "/orders/ORDER00001"}, {"POST", "/orders/ORDER00001/close"},
		{"POST", "/orders/ORDER00001/refunds"}, {"GET", "/orders/ORDER00001/refunds/RF00000001"}, {"GET", "/oauth/openid?code=abc"},
	} {
		for _, auth := range []string{"", "Bearer wrong", "Basic " + testToken, testToken} {
			req, _ := http.NewRequest(rt.method, e.srv.URL+rt.path, strings.NewReader(`{}`))
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 401 || !strings.Contains(string(b), `"code":"UNAUTHORIZED"`) {
				t.Fatalf("%s %s with %q: %d %s", rt.method, rt.path, auth, resp.StatusCode, b)
			}
		}
	}
	if e.v3.Load() != 0 || e.st.Writes.Load() != 0 {
		t.Fatal("an unauthenticated request reached WeChat Pay or the store")
	}
}

// A notify_url breaking WeChat Pay's rules stops the function at start-up, naming the
// rule; loopback http is accepted only when serving the simulator.
func TestNotifyURLCheckedAtStartup(t *testing.T) {
	_, dir := keysdirtest.Dir(t)
	cfg, err := config.FromKeysDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Bundle.APIToken = config.NewSecret([]byte(testToken))
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, c := range []struct {
		url, want string
		sim       bool
	}{
		{"http://pay.example.com/notify", "https://", false},
		{"https://pay.example.com:8443/notify", "port", false},
		{"https://pay.example.com/notify?shop=1", "query", false},
		{"https://203.0.113.7/notify", "IP address", false},
		{"https://pay.example.com/wx//notify", "//", false},
		{"https://pay.example.com/" + strings.Repeat("n", 250), "255", false},
		{"https://pay.example.com/notify ", "whitespace", false},
		{"", "empty", false},
		{"http://127.0.0.1:8080/notify", "https://", false},
		{"https://localhost/notify", "public domain", false},
	} {
		cfg.NotifyURL = c.url
		_, err := createorder.New(cfg, st, createorder.Options{Simulator: c.sim})
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), config.EnvNotifyURL) {
			t.Errorf("notify_url %q: %v, want an error naming %s and %q", c.url, err, config.EnvNotifyURL, c.want)
		}
	}
	for _, u := range []string{"https://pay.example.com/wxpay/notify", "http://127.0.0.1:8080/notify"} {
		cfg.NotifyURL = u
		if _, err := createorder.New(cfg, st, createorder.Options{Simulator: strings.HasPrefix(u, "http://")}); err != nil {
			t.Errorf("notify_url %q: %v", u, err)
		}
	}
	cfg.Bundle.APIToken = config.Secret{}
	if _, err := createorder.New(cfg, st, createorder.Options{}); err == nil || !strings.Contains(err.Error(), config.EnvAPIToken) {
		t.Errorf("no API token: %v", err)
	}
}

// The H5 client IP is what the platform saw; X-Forwarded-For counts only behind
// trusted proxies, walked from the right; spoofed leftmost entries never win.
func TestClientIP(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32"), netip.MustParsePrefix("198.51.100.7/32")}
	for _, c := range []struct {
		name, remote, xff string
		trusted           []netip.Prefix
		want              string // "" = error
	}{
		{"no proxies: remote, XFF ignored", "203.0.113.9:5555", "1.2.3.4", nil, "203.0.113.9"},
		{"Lambda bare sourceIp", "203.0.113.9", "", nil, "203.0.113.9"},
		{"untrusted remote ignores XFF", "203.0.113.9:1", "1.2.3.4, 10.0.0.1", trusted, "203.0.113.9"},
		{"one trusted hop", "10.0.0.2:80", "203.0.113.9", trusted, "203.0.113.9"},
		{"spoofed leftmost", "10.0.0.2:80", "6.6.6.6, 203.0.113.9", trusted, "203.0.113.9"},
		{"spoofed leftmost through two proxies", "10.0.0.2:80", "6.6.6.6, 1.1.1.1, 203.0.113.9, 198.51.100.7", trusted, "203.0.113.9"},
		{"spoofed trusted-looking leftmost", "10.0.0.2:80", "10.9.9.9, 203.0.113.9, 10.0.0.3", trusted, "203.0.113.9"},
		{"several headers", "10.0.0.2:80", "", trusted, "203.0.113.10"},
		{"ipv6 client", "[2001:db8::1]:443", "2400:cb00::1", trusted, "2400:cb00::1"},
		{"client with port", "10.0.0.2:80", "203.0.113.9:34567", trusted, "203.0.113.9"},
		{"only proxies", "10.0.0.2:80", "10.0.0.5, 10.0.0.6", trusted, ""},
		{"trusted remote, no XFF", "10.0.0.2:80", "", trusted, ""},
		{"garbage hop", "10.0.0.2:80", "203.0.113.9, not-an-ip", trusted, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/orders", nil)
			r.RemoteAddr = c.remote
			if c.xff != "" {
				r.Header.Set("X-Forwarded-For", c.xff)
			}
			if c.name == "several headers" {
				r.Header.Add("X-Forwarded-For", "6.6.6.6")
				r.Header.Add("X-Forwarded-For", "203.0.113.10, 10.0.0.4")
			}
			got, err := createorder.ClientIP(r, c.trusted)
			if c.want == "" {
				if err == nil {
					t.Fatalf("got %q, want an error", got)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("got %q, %v; want %q", got, err, c.want)
			}
		})
	}
}

// Behind a trusted proxy the H5 order carries the address the proxy saw, not its own
// and not what the client claimed.
func TestH5ClientIPBehindProxy(t *testing.T) {
	e := newEnv(t, envOptions{mutate: func(c *config.Config) {
		c.Bundle.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	}})
	status, a := e.call(t, "POST", "/orders", map[string]any{"order_id": "H5PROXY001", "amount": 100, "description": "x", "scene": "h5"},
		"X-Forwarded-For", "6.6.6.6, 203.0.113.9")
	if status != 201 {
		t.Fatalf("%d %v", status, a)
	}
	if ip := sentClientIP(t, e, "H5PROXY001"); ip != "203.0.113.9" {
		t.Fatalf("payer_client_ip %q, want 203.0.113.9", ip)
	}
	status, a = e.call(t, "POST", "/orders", map[string]any{"order_id": "H5PROXY002", "amount": 100, "description": "x", "scene": "h5"})
	if status != 400 || a["code"] != "CLIENT_IP_UNKNOWN" {
		t.Fatalf("no X-Forwarded-For behind a trusted proxy: %d %v", status, a)
	}
	if _, ok := e.order(t, "H5PROXY002"); ok || e.prepays.Load() != 1 {
		t.Fatal("an H5 order without a client IP was created")
	}
}

func sentClientIP(t *testing.T, e *env, no string) string {
	t.Helper()
	v := e.simOrder(t, no)
	var req struct {
		SceneInfo struct {
			PayerClientIP string `json:"payer_client_ip"`
		} `json:"scene_info"`
	}
	if err := json.Unmarshal(v.Request, &req); err != nil {
		t.Fatal(err)
	}
	return req.SceneInfo.PayerClientIP
}

// A sub_mchid is a merchant number: one that is not digits is refused before WeChat
// Pay, for a single order and for a combine's sub-order.
func TestSubMchIDMustBeDigits(t *testing.T) {
	e := newEnv(t, envOptions{partner: true})
	if st, m := e.call(t, "POST", "/orders", map[string]any{"order_id": "SUBDIGIT01", "amount": 100, "description": "x", "scene": "native", "sub_mchid": "abc"}); st != 400 || !strings.Contains(str(m, "message"), "is not a merchant number") {
		t.Fatalf("single order: %d %v", st, m)
	}
	cart := map[string]any{"order_id": "SUBDIGIT02", "scene": "native", "description": "x", "sub_orders": []map[string]any{
		{"order_id": "SUBDIGIT02-1", "sub_mchid": "1900000109", "amount": 100, "description": "a"},
		{"order_id": "SUBDIGIT02-2", "sub_mchid": "19000001x0", "amount": 100, "description": "b"}}}
	e2 := newEnv(t, envOptions{partner: true, mutate: func(c *config.Config) { c.Bundle.Mode = config.ModeEcommerce }})
	if st, m := e2.call(t, "POST", "/orders", cart); st != 400 || !strings.Contains(str(m, "message"), "is not a merchant number") {
		t.Fatalf("combine: %d %v", st, m)
	}
	if e.prepays.Load()+e2.prepays.Load()+e2.combinePrepays.Load() != 0 {
		t.Fatal("a refused sub_mchid reached WeChat Pay")
	}
}
