package paysim

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/paysls/wxpay/shared/wechatpay"
)

// TestSignError: every way an Authorization can be wrong is a signed 401 SIGN_ERROR
// whose detail names the failing part.
func TestSignError(t *testing.T) {
	e := newEnv(t, Config{})
	good := e.id.MerchantSigner()
	target := "/v3/pay/transactions/out-trade-no/NOPE123456?mchid=" + e.id.MchID
	cases := []struct {
		name   string
		signer *wechatpay.Signer
		mutate func(*http.Request)
		field  string
	}{
		{"missing header", good, func(r *http.Request) { r.Header.Del("Authorization") }, "authorization"},
		{"wrong scheme", good, func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), wechatpay.AuthScheme, "WECHATPAY2-SHA256-RSA", 1))
		}, "authorization"},
		{"other mchid", &wechatpay.Signer{MchID: "1900000001", Serial: good.Serial, Key: good.Key}, nil, "mchid"},
		{"wrong serial", &wechatpay.Signer{MchID: good.MchID, Serial: "1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C", Key: good.Key}, nil, "serial_no"},
		{"stale timestamp", &wechatpay.Signer{MchID: good.MchID, Serial: good.Serial, Key: good.Key,
			Now: func() time.Time { return time.Now().Add(-6 * time.Minute) }}, nil, "timestamp"},
		{"signed with another key", &wechatpay.Signer{MchID: good.MchID, Serial: good.Serial, Key: e.id.PlatformKey}, nil, "signature"},
		{"query changed after signing", good, func(r *http.Request) { r.URL.RawQuery += "&x=1" }, "signature"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.callWith(c.signer, "GET", target, nil, c.mutate)
			if r.status != http.StatusUnauthorized {
				t.Fatalf("status %d %s", r.status, r.body)
			}
			if r.sigErr != nil {
				t.Fatalf("error responses must be signed too: %v", r.sigErr)
			}
			if r.header.Get("Request-Id") == "" {
				t.Fatal("no Request-ID")
			}
			eb := r.errorBody(t)
			if eb.Code != "SIGN_ERROR" || eb.Detail == nil || eb.Detail.Field != c.field || eb.Detail.Location != "authorization" {
				t.Fatalf("body %s", r.body)
			}
		})
	}
	t.Run("body altered after signing", func(t *testing.T) {
		body := []byte(`{"mchid":"` + e.id.MchID + `"}`)
		r := e.callWith(good, "POST", "/v3/pay/transactions/out-trade-no/NOPE123456/close", body, func(r *http.Request) {
			r.Body = http.NoBody
			r.ContentLength = 0
		})
		if r.status != http.StatusUnauthorized || r.errorBody(t).Detail.Field != "signature" {
			t.Fatalf("%d %s", r.status, r.body)
		}
	})
	t.Run("good signature passes", func(t *testing.T) {
		r := e.call("GET", target, nil)
		if r.status != http.StatusNotFound || r.errorBody(t).Code != "ORDER_NOT_EXIST" || r.sigErr != nil {
			t.Fatalf("%d %s %v", r.status, r.body, r.sigErr)
		}
	})
}
