package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
)

// Found from outside, pasting `curl -X POST .../orders/$ORDER/refunds` with ORDER
// empty: serve answered a bare 307 (no body) to /orders/refunds, which a client
// following it re-POSTs and reads "POST is not allowed on /orders/refunds; send GET".
// The answer must be {code,message,hint} saying a value in the path is missing.
func TestServeEmptyPathSegmentIsExplained(t *testing.T) {
	b, err := newBundle(context.Background(), serveOptions{keysDir: filepath.Join(t.TempDir(), "sim"), mode: "cert"},
		slog.New(slog.NewJSONHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	srv := httptest.NewServer(b.handler)
	t.Cleanup(srv.Close)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, p := range []string{"/orders//refunds", "/orders//close"} {
		req, _ := http.NewRequest("POST", srv.URL+p, strings.NewReader(`{"amount":1}`))
		req.Header.Set("Authorization", "Bearer "+b.token)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body struct{ Code, Message, Hint string }
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusBadRequest || body.Code != "PARAM_ERROR" ||
			!strings.Contains(body.Message, "empty segment") || body.Hint == "" {
			t.Errorf("POST %s: %d %+v (decode: %v), want 400 PARAM_ERROR naming the empty segment", p, resp.StatusCode, body, err)
		}
	}
}
