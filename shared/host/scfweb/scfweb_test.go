package scfweb

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestSCFWebClientIP(t *testing.T) {
	var seen string
	for _, c := range []struct {
		trusted, hdr, want string
	}{
		// Nothing vouches for the in-container proxy: no address, whatever the header.
		{"", "", unknownClient},
		{"", "111.206.96.145", unknownClient},
		{"10.0.0.0/8", "111.206.96.145", unknownClient},
		// TRUSTED_PROXIES lists the proxy: the platform's header, port dropped...
		{"127.0.0.1/32", "111.206.96.145", "111.206.96.145"},
		{"127.0.0.1", "111.206.96.145:51234", "111.206.96.145"},
		{"127.0.0.0/8", "[2001:db8::1]:51234", "2001:db8::1"},
		{"127.0.0.1/32", "::ffff:1.2.3.4", "1.2.3.4"},
		// ...or, without one, the trusted peer, from which X-Forwarded-For is walked.
		{"127.0.0.1/32", "", "127.0.0.1:40000"},
		{"127.0.0.1/32", "garbage", "127.0.0.1:40000"},
	} {
		t.Setenv("TRUSTED_PROXIES", c.trusted)
		h := clientIP(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = r.RemoteAddr }))
		r := httptest.NewRequest("POST", "/notify", nil)
		r.RemoteAddr = "127.0.0.1:40000"
		if c.hdr != "" {
			r.Header.Set("X-Scf-Remote-Addr", c.hdr)
		}
		h.ServeHTTP(httptest.NewRecorder(), r)
		if seen != c.want {
			t.Errorf("TRUSTED_PROXIES=%q x-scf-remote-addr %q: RemoteAddr %q, want %q", c.trusted, c.hdr, seen, c.want)
		}
	}
}
