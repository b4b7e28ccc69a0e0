package createorder_test

import (
	"net/http"
	"testing"
)

// Found from outside: scene jsapi with payer.openid "   " (a template left blank, a
// padded form field) answered 201 — an order recorded and a prepay placed at WeChat
// Pay for an openid no user has, failing only when the user taps pay. It must be a
// PARAM_ERROR like a missing openid, and change nothing.
func TestJSAPIOpenIDMustLookLikeOne(t *testing.T) {
	e := newEnv(t, envOptions{})
	for i, openid := range []string{"   ", " oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", "{{openid}}", "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o\n"} {
		id := "OUTOPENID" + string(rune('A'+i))
		st, m := e.call(t, "POST", "/orders", map[string]any{"order_id": id, "amount": 100, "description": "x", "scene": "jsapi",
			"payer": map[string]any{"openid": openid}})
		if st != http.StatusBadRequest || m["code"] != "PARAM_ERROR" || m["hint"] == "" {
			t.Errorf("openid %q: %d %v, want 400 PARAM_ERROR", openid, st, m)
		}
		if st, _ := e.call(t, "GET", "/orders/"+id, nil); st != http.StatusNotFound {
			t.Errorf("openid %q: GET /orders/%s = %d, want 404 (nothing created)", openid, id, st)
		}
	}
	// A real one still works.
	if st, m := e.call(t, "POST", "/orders", map[string]any{"order_id": "OUTOPENIDOK", "amount": 100, "description": "x", "scene": "jsapi",
		"payer": map[string]any{"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}}); st != http.StatusCreated {
		t.Errorf("a well-formed openid: %d %v", st, m)
	}
}
