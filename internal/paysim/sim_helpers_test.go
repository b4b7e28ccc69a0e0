package paysim

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"
)

// simRaw sends a raw body to the driver API and returns the status and answer.
func (e *env) simRaw(method, path string, body []byte) (int, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// simErrorOf decodes a driver API error answer {"error": "…"}.
func simErrorOf(t *testing.T, b []byte) string {
	t.Helper()
	var v struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(b, &v); err != nil || v.Error == "" {
		t.Fatalf("not a /sim error: %s", b)
	}
	return v.Error
}

// advance moves the simulator's clock through the driver API.
func (e *env) advance(d string) clockView {
	e.t.Helper()
	st, b := e.simRaw("POST", "/sim/clock", []byte(`{"advance":"`+d+`"}`))
	if st != 200 {
		e.t.Fatalf("advance %s: %d %s", d, st, b)
	}
	var v clockView
	if err := json.Unmarshal(b, &v); err != nil {
		e.t.Fatal(err)
	}
	return v
}

// noRedirect is a client that hands back 3xx answers instead of following them.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// get fetches url with the given User-Agent (none when empty) without following redirects.
func get(t *testing.T, url, ua string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ua != "" {
		req.Header.Set("User-Agent", ua)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// User agents of the three places a payment page can be opened.
const (
	uaWeChat  = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.47(0x18002f2c) NetType/WIFI Language/zh_CN"
	uaSafari  = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
	uaDesktop = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"
)
