package createorder_test

import (
	"strings"
	"testing"
)

// A combine's order_id asked for with a sub-merchant's sub_mchid answered 404
// ORDER_NOT_FOUND ("no order"), sending the merchant to look for an order that exists.
// It answers what it is: 400 ORDER_IS_COMBINE, how to ask for the combine and for the
// sub-merchant's sub-order; nothing is written.
func TestCombineAskedWithSubMchidSaysItIsACombine(t *testing.T) {
	e := newPlatformEnv(t)
	if s, a := e.call(t, "POST", "/orders", combineBody("CARTNAMED1", 2, "native")); s != 201 {
		t.Fatalf("create: %d %v", s, a)
	}
	writes := e.st.Writes.Load()
	for _, c := range []struct{ method, path string }{
		{"GET", "/orders/CARTNAMED1?sub_mchid=1900000102"},
		{"POST", "/orders/CARTNAMED1/close?sub_mchid=1900000102"},
	} {
		s, a := e.call(t, c.method, c.path, nil)
		if s != 400 || str(a, "code") != "ORDER_IS_COMBINE" || !strings.Contains(str(a, "message"), "combine") ||
			!strings.Contains(str(a, "hint"), "GET /orders/CARTNAMED1;") || !strings.Contains(str(a, "hint"), "GET /orders/CARTNAMED1-02?sub_mchid=1900000102") {
			t.Errorf("%s %s: %d %v", c.method, c.path, s, a)
		}
	}
	if w := e.st.Writes.Load() - writes; w != 0 {
		t.Errorf("the refusals wrote %d times", w)
	}
	// An order_id that is nothing at all is still ORDER_NOT_FOUND.
	if s, a := e.call(t, "GET", "/orders/NOSUCHCART?sub_mchid=1900000102", nil); s != 404 || str(a, "code") != "ORDER_NOT_FOUND" {
		t.Errorf("unknown: %d %v", s, a)
	}
}
