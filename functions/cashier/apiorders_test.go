package cashier_test

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/paysls/wxpay/functions/cashier"
)

// orderAPI serves the two routes of the order API the cashier uses, in createorder's
// JSON shapes, over simOrders — to check APIOrders' side of the contract.
type orderAPI struct {
	o        *simOrders
	seenAuth string
	seenIP   string
	seenUA   string
}

func (a *orderAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.seenAuth = r.Header.Get("Authorization")
	if a.seenAuth != "Bearer "+apiToken {
		w.WriteHeader(401)
		_, _ = w.Write([]byte(`{"code":"UNAUTHORIZED","message":"bearer token missing or wrong"}`))
		return
	}
	write := func(status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	fail := func(err error) {
		var e *cashier.Error
		switch {
		case errors.Is(err, cashier.ErrNotFound):
			write(404, map[string]string{"code": "ORDER_NOT_FOUND", "message": "no order", "hint": "create it"})
		case errors.As(err, &e):
			write(e.Status, e)
		default:
			write(500, map[string]string{"code": "SYSTEM_ERROR", "message": err.Error()})
		}
	}
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/orders":
		var req struct {
			cashier.CreateRequest
			UserAgent string `json:"user_agent"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			write(400, map[string]string{"code": "PARAM_ERROR", "message": err.Error()})
			return
		}
		a.seenIP, _, _ = net.SplitHostPort(r.RemoteAddr)
		a.seenUA = req.UserAgent
		ans, err := a.o.Create(r.Context(), req.CreateRequest, a.seenIP, req.UserAgent)
		if err != nil {
			fail(err)
			return
		}
		write(200, ans)
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/orders/"):
		st, err := a.o.Status(r.Context(), strings.TrimPrefix(r.URL.Path, "/orders/"), true)
		if err != nil {
			fail(err)
			return
		}
		write(200, st)
	default:
		write(404, map[string]string{"code": "NOT_FOUND", "message": "no route"})
	}
}

func TestAPIOrders(t *testing.T) {
	h := newHarness(t)
	api := &orderAPI{o: h.orders}
	o := cashier.APIOrders{API: api, Token: apiToken}
	ctx := t.Context()
	h.orders.add("APIORDER0001", 4200, "接口 API", time.Hour)

	st, err := o.Status(ctx, "APIORDER0001", false)
	if err != nil || st.Amount != 4200 || st.Description != "接口 API" || st.State != "NOTPAY" {
		t.Fatalf("status %+v %v", st, err)
	}
	ans, err := o.Create(ctx, cashier.CreateRequest{OrderID: "APIORDER0001", Amount: 4200, Description: "接口 API",
		Scene: cashier.SceneNative, TimeExpire: st.ExpiresAt}, "203.0.113.9", uaDesktop)
	if err != nil || !strings.HasPrefix(ans.Pay.CodeURL, "weixin://") || !strings.HasPrefix(ans.Pay.QRPNG, "data:image/png;base64,") {
		t.Fatalf("native %+v %v", ans, err)
	}
	if api.seenIP != "203.0.113.9" || api.seenUA != uaDesktop {
		t.Fatalf("order API saw client %q, user_agent %q", api.seenIP, api.seenUA)
	}
	ans, err = o.Create(ctx, cashier.CreateRequest{OrderID: "APIORDER0001", Amount: 4200, Description: "接口 API",
		Scene: cashier.SceneJSAPI, Payer: &cashier.Payer{OpenID: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}, TimeExpire: st.ExpiresAt}, "203.0.113.9", uaWeChat)
	if err != nil {
		t.Fatal(err)
	}
	p := ans.Pay
	if err := checkPaySign(&h.id.MerchantKey.PublicKey, h.cfg.AppID, cashier.JSAPI{AppID: p.AppID, TimeStamp: p.TimeStamp,
		NonceStr: p.NonceStr, Package: p.Package, SignType: p.SignType, PaySign: p.PaySign}, time.Now()); err != nil {
		t.Fatalf("JSAPI fields through the adapter: %v (%+v)", err, p)
	}
	if _, err := o.Status(ctx, "NOSUCHORDER9", true); !errors.Is(err, cashier.ErrNotFound) {
		t.Fatalf("unknown order: %v", err)
	}
	_, err = o.Create(ctx, cashier.CreateRequest{OrderID: "APIORDER0001", Amount: 1, Description: "接口 API", Scene: cashier.SceneNative}, "", "")
	var e *cashier.Error
	if !errors.As(err, &e) || e.Status != 409 || e.Code != "PARAM_ERROR" {
		t.Fatalf("refusal: %#v", err)
	}
	bad := cashier.APIOrders{API: api, Token: "wrong"}
	if _, err := bad.Status(ctx, "APIORDER0001", true); !errors.As(err, &e) || e.Status != 401 {
		t.Fatalf("wrong token: %v", err)
	}
}
