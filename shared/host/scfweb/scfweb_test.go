package scfweb

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestSCFWebClientIP(t *testing.T) {
	var seen string
	h := clientIP(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = r.RemoteAddr }))
	for hdr, want := range map[string]string{
		"":                     "127.0.0.1:40000", // the in-container proxy: never trusted by a proxy list
		"111.206.96.145":       "111.206.96.145",
		"111.206.96.145:51234": "111.206.96.145",
		"[2001:db8::1]:51234":  "2001:db8::1",
		"::ffff:1.2.3.4":       "1.2.3.4",
		"garbage":              "127.0.0.1:40000",
	} {
		r := httptest.NewRequest("POST", "/notify", nil)
		r.RemoteAddr = "127.0.0.1:40000"
		if hdr != "" {
			r.Header.Set("X-Scf-Remote-Addr", hdr)
		}
		h.ServeHTTP(httptest.NewRecorder(), r)
		if seen != want {
			t.Errorf("x-scf-remote-addr %q: RemoteAddr %q, want %q", hdr, seen, want)
		}
	}
}
