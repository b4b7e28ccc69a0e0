package apiauth

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestRequire(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	cases := []struct {
		name, token, header string
		want                int
		msg                 string
	}{
		{"good", "s3cret", "Bearer s3cret", 204, ""},
		{"scheme case", "s3cret", "bearer s3cret", 204, ""},
		{"missing", "s3cret", "", 401, "missing Authorization"},
		{"basic", "s3cret", "Basic czNjcmV0", 401, "Bearer scheme"},
		{"wrong", "s3cret", "Bearer s3cre", 401, "invalid API token"},
		{"no token configured", "", "Bearer ", 401, "no API token configured"},
	}
	// Two Authorization headers, the good one first or last: refused either way.
	for _, hs := range [][]string{{"Bearer s3cret", "Bearer wrong"}, {"Bearer wrong", "Bearer s3cret"}, {"Bearer s3cret", "Bearer s3cret"}} {
		r := httptest.NewRequest("GET", "/orders/x", nil)
		for _, h := range hs {
			r.Header.Add("Authorization", h)
		}
		w := httptest.NewRecorder()
		Require([]byte("s3cret"), ok).ServeHTTP(w, r)
		if w.Code != 401 || !strings.Contains(w.Body.String(), "more than one Authorization header") {
			t.Fatalf("%q: got %d %s, want 401", hs, w.Code, w.Body)
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/orders/x", nil)
			if c.header != "" {
				r.Header.Set("Authorization", c.header)
			}
			w := httptest.NewRecorder()
			Require([]byte(c.token), ok).ServeHTTP(w, r)
			if w.Code != c.want || !strings.Contains(w.Body.String(), c.msg) {
				t.Fatalf("got %d %s, want %d containing %q", w.Code, w.Body, c.want, c.msg)
			}
			if c.want == 401 && strings.Contains(w.Body.String(), "s3cret") {
				t.Fatal("the token leaked into the answer")
			}
		})
	}
}

// Clip keeps 64 characters (not bytes: a Chinese order description or a multi-byte
// id is never cut inside a character) and marks a cut; Echo quotes what Clip keeps.
func TestClipKeepsSixtyFourCharacters(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{strings.Repeat("a", 64), strings.Repeat("a", 64)},
		{strings.Repeat("a", 65), strings.Repeat("a", 64) + "…"},
		{strings.Repeat("单", 64), strings.Repeat("单", 64)},
		{strings.Repeat("单", 100), strings.Repeat("单", 64) + "…"},
	} {
		if got := Clip(c.in); got != c.want {
			t.Errorf("Clip(%d characters) = %q, want %q", len([]rune(c.in)), got, c.want)
		}
	}
	if got, want := Echo("a\n"+strings.Repeat("b", 100)), `"a\n`+strings.Repeat("b", 62)+`…"`; got != want {
		t.Errorf("Echo = %s, want %s", got, want)
	}
}
