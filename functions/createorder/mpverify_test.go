package createorder

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestMPVerify(t *testing.T) {
	for _, setting := range []string{"AbCd1234efGH5678", " MP_verify_AbCd1234efGH5678.txt\n"} {
		pattern, h, err := MPVerify(setting)
		if err != nil || pattern != "GET /MP_verify_AbCd1234efGH5678.txt" {
			t.Fatalf("%q: %q %v", setting, pattern, err)
		}
		mux := http.NewServeMux()
		mux.Handle(pattern, h)
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", "/MP_verify_AbCd1234efGH5678.txt", nil))
		body, _ := io.ReadAll(rec.Body)
		if rec.Code != 200 || string(body) != "AbCd1234efGH5678" || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain") {
			t.Errorf("%q: %d %q %q", setting, rec.Code, body, rec.Header().Get("Content-Type"))
		}
		rec = httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", "/MP_verify_other.txt", nil))
		if rec.Code != 404 {
			t.Errorf("another file name: %d", rec.Code)
		}
	}
	if p, h, err := MPVerify(""); p != "" || h != nil || err != nil {
		t.Errorf("unset: %q %v %v", p, h, err)
	}
	for _, bad := range []string{"../etc/passwd", "a b", "MP_verify_.txt.", strings.Repeat("x", 65)} {
		if _, _, err := MPVerify(bad); err == nil || !strings.Contains(err.Error(), EnvMPVerify) {
			t.Errorf("%q: %v, want an error naming %s", bad, err, EnvMPVerify)
		}
	}
}
