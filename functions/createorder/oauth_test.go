package createorder_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/paysls/wxpay/shared/config"
)

const appSecret = "s3cr3t-app-secret-0123456789abcd"

// fakeOAuth speaks WeChat's documented /sns/oauth2/access_token JSON: an openid for a
// fresh code, errcode 40163 for a used one, 40029 for an unknown one, 40125 for a wrong
// secret. (The simulator gains this endpoint on another branch; until then the test
// runs against this small server.)
func fakeOAuth(t *testing.T, appID string) *httptest.Server {
	var mu sync.Mutex
	used := map[string]bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		if r.URL.Path != "/sns/oauth2/access_token" || q.Get("grant_type") != "authorization_code" || q.Get("appid") != appID {
			_ = enc.Encode(map[string]any{"errcode": 40013, "errmsg": "invalid appid"})
			return
		}
		if q.Get("secret") != appSecret {
			_ = enc.Encode(map[string]any{"errcode": 40125, "errmsg": "invalid appsecret"})
			return
		}
		mu.Lock()
		defer mu.Unlock()
		code := q.Get("code")
		switch {
		case !strings.HasPrefix(code, "good"):
			_ = enc.Encode(map[string]any{"errcode": 40029, "errmsg": "invalid code, rid: 6650a1b2-1c2d3e4f-5a6b7c8d"})
		case used[code]:
			_ = enc.Encode(map[string]any{"errcode": 40163, "errmsg": "code been used, rid: 6650a1b2-1c2d3e4f-5a6b7c8e"})
		default:
			used[code] = true
			_ = enc.Encode(map[string]any{"access_token": "ACCESS_TOKEN_NEVER_FORWARDED", "expires_in": 7200, "refresh_token": "R",
				"openid": "o6_bmjrPTlm6_2sgVt7hMZOPfL2M", "scope": "snsapi_base", "is_snapshotuser": 0})
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestOAuthOpenID(t *testing.T) {
	var oauth *httptest.Server
	e := newEnv(t, envOptions{mutate: func(c *config.Config) {
		oauth = fakeOAuth(t, c.AppID)
		c.Bundle.OAuthBase = oauth.URL
		c.Bundle.AppSecret = config.NewSecret([]byte(appSecret))
	}})
	status, raw := e.callRaw(t, "GET", "/oauth/openid?code=good-1", nil)
	var a map[string]any
	_ = json.Unmarshal(raw, &a)
	if status != 200 || a["openid"] != "o6_bmjrPTlm6_2sgVt7hMZOPfL2M" || a["payer_field"] != "payer.openid" || a["appid"] != e.id.AppID {
		t.Fatalf("%d %s", status, raw)
	}
	if strings.Contains(string(raw), "ACCESS_TOKEN") {
		t.Fatal("the access_token was passed on")
	}
	for _, c := range []struct{ q, code string }{
		{"code=good-1", "CODE_USED"},
		{"code=stale", "INVALID_CODE"},
		{"", "CODE_MISSING"},
	} {
		status, raw := e.callRaw(t, "GET", "/oauth/openid?"+c.q, nil)
		if status != 400 || !strings.Contains(string(raw), `"code":"`+c.code+`"`) || strings.Contains(string(raw), appSecret) {
			t.Errorf("%s: %d %s", c.q, status, raw)
		}
	}
	// The openid goes straight into a JSAPI order.
	status, o := e.call(t, "POST", "/orders", map[string]any{"order_id": "OAUTH00001", "amount": 100, "description": "x", "scene": "auto",
		"user_agent": uaWeChat, "payer": map[string]string{"openid": str(a, "openid")}})
	if status != 201 || o["scene"] != "jsapi" {
		t.Fatalf("%d %v", status, o)
	}
}

func TestOAuthMisconfigured(t *testing.T) {
	var oauth *httptest.Server
	e := newEnv(t, envOptions{mutate: func(c *config.Config) {
		oauth = fakeOAuth(t, c.AppID)
		c.Bundle.OAuthBase = oauth.URL
		c.Bundle.AppSecret = config.NewSecret([]byte("wrong-secret"))
	}})
	status, raw := e.callRaw(t, "GET", "/oauth/openid?code=good-2", nil)
	if status != http.StatusBadGateway || !strings.Contains(string(raw), "INVALID_APP_SECRET") || strings.Contains(string(raw), "wrong-secret") {
		t.Fatalf("%d %s", status, raw)
	}
	// A keys dir written by the simulator carries an app_secret: take it away.
	e2 := newEnv(t, envOptions{mutate: func(c *config.Config) { c.Bundle.AppSecret = config.Secret{} }})
	if status, raw := e2.callRaw(t, "GET", "/oauth/openid?code=good-3", nil); status != http.StatusNotImplemented || !strings.Contains(string(raw), config.EnvAppSecret) {
		t.Fatalf("no AppSecret: %d %s", status, raw)
	}
}
