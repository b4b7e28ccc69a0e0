package createorder_test

import (
	"net/http"
	"strings"
	"testing"
)

// A merchant's client that declares another format than JSON (an XML habit from
// APIv2, a multipart form) is told so by name, and nothing is created; the content
// types a JSON body plausibly arrives with (none, application/json, curl -d's
// form-urlencoded default the README's examples rely on, fetch's text/plain, a gateway's octet-stream) are
// accepted. Found from outside: application/xml with a JSON body created an order,
// and a form body under its form content type read "invalid character 'o'".
func TestContentTypeOfOrderAPIBodies(t *testing.T) {
	e := newEnv(t, envOptions{})
	body := func(id string) string {
		return `{"order_id":"` + id + `","amount":100,"description":"x","scene":"native"}`
	}
	refused := []struct{ ct, id string }{
		{"application/xml", "OUTCTXML01"},
		{"text/xml; charset=utf-8", "OUTCTXML02"},
		{"multipart/form-data; boundary=x", "OUTCTMULT1"},
		{"not a media type", "OUTCTBAD01"},
	}
	for _, c := range refused {
		t.Run("refused "+c.ct, func(t *testing.T) {
			req, _ := http.NewRequest("POST", e.srv.URL+"/orders", strings.NewReader(body(c.id)))
			req.Header.Set("Authorization", "Bearer "+testToken)
			req.Header.Set("Content-Type", c.ct)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			checkErrorAnswer(t, resp, http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE", []string{"Content-Type", "application/json"})
			if st, m := e.call(t, "GET", "/orders/"+c.id, nil); st != http.StatusNotFound {
				t.Errorf("a refused request changed something: GET /orders/%s = %d %v", c.id, st, m)
			}
		})
	}
	// A refund too: the same decoding.
	t.Run("refused on a refund", func(t *testing.T) {
		req, _ := http.NewRequest("POST", e.srv.URL+"/orders/NOSUCH0001/refunds", strings.NewReader(`{"amount":1}`))
		req.Header.Set("Authorization", "Bearer "+testToken)
		req.Header.Set("Content-Type", "text/xml")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		checkErrorAnswer(t, resp, http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE", []string{"Content-Type"})
	})
	accepted := []struct{ ct, id string }{
		{"", "OUTCTNONE1"},
		{"application/json; charset=utf-8", "OUTCTJSON1"},
		{"application/merge-patch+json", "OUTCTPJSN1"},
		{"application/x-www-form-urlencoded", "OUTCTCURL1"}, // curl -d, as the README pastes it
		{"text/plain;charset=UTF-8", "OUTCTTEXT1"},          // fetch() with a string body
		{"application/octet-stream", "OUTCTOCTS1"},          // bytes a gateway passes on unlabelled
	}
	for _, c := range accepted {
		t.Run("accepted "+c.ct, func(t *testing.T) {
			req, _ := http.NewRequest("POST", e.srv.URL+"/orders", strings.NewReader(body(c.id)))
			req.Header.Set("Authorization", "Bearer "+testToken)
			if c.ct != "" {
				req.Header.Set("Content-Type", c.ct)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				t.Errorf("status %d, want 201", resp.StatusCode)
			}
		})
	}
	// A real HTML form post: said to be form data, not a JSON syntax error at byte 1.
	t.Run("form body", func(t *testing.T) {
		req, _ := http.NewRequest("POST", e.srv.URL+"/orders", strings.NewReader("order_id=OUTCTFORM1&amount=100&description=x&scene=native"))
		req.Header.Set("Authorization", "Bearer "+testToken)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		checkErrorAnswer(t, resp, http.StatusBadRequest, "PARAM_ERROR", []string{"form data", "not JSON", "Content-Type: application/json"})
		if st, _ := e.call(t, "GET", "/orders/OUTCTFORM1", nil); st != http.StatusNotFound {
			t.Errorf("GET /orders/OUTCTFORM1 = %d, want 404", st)
		}
	})
}
