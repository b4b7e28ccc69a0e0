package createorder_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// A URL built from an empty variable (`/orders/$ORDER/refunds` with ORDER unset) has an
// empty segment. Found from outside: it answered a bare 307 to /orders/refunds with no
// {code,message,hint}; a client that follows it re-POSTs there and reads "POST is not
// allowed on /orders/refunds; send GET" — about an order named "refunds". It must say
// that a value is missing, and change nothing.
func TestEmptyPathSegmentSaysAValueIsMissing(t *testing.T) {
	e := newEnv(t, envOptions{})
	// The handler as a function URL or API gateway hands it the request: no mux of the
	// test world in front (under wxpay serve, RouteErrors wraps serve's own mux too).
	fn := httptest.NewServer(e.h)
	defer fn.Close()
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/orders//refunds", `{"out_refund_no":"OUTSEG0001","amount":1}`},
		{"POST", "/orders//close", ""},
		{"GET", "/orders//refunds/OUTSEG0001", ""},
		{"GET", "/orders/OUTSEG0001/refunds/", ""},
		{"POST", "//orders", `{"order_id":"OUTSEG0002","amount":1,"description":"x","scene":"native"}`},
	} {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			req, _ := http.NewRequest(c.method, fn.URL+c.path, strings.NewReader(c.body))
			req.Header.Set("Authorization", "Bearer "+testToken)
			// Do not follow: the answer itself must be the explanation.
			client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if c.path == "/orders/OUTSEG0001/refunds/" {
				// No empty segment inside: an unknown route, answered as such.
				checkErrorAnswer(t, resp, 0, "", nil)
				return
			}
			checkErrorAnswer(t, resp, http.StatusBadRequest, "PARAM_ERROR", []string{"empty segment", "missing"})
		})
	}
	if st, _ := e.call(t, "GET", "/orders/OUTSEG0002", nil); st != http.StatusNotFound {
		t.Errorf("GET /orders/OUTSEG0002 = %d: a refused request created an order", st)
	}
}
