package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paysls/wxpay/shared/store"
)

// unreachableStore fails every read the way a store behind a dead address does.
type unreachableStore struct{ store.Store }

func (unreachableStore) Get(context.Context, string) (store.Record, error) {
	return store.Record{}, store.Unavailable("get", errors.New("dial tcp 10.0.3.17:6379: connect: connection refused"))
}

// /healthz answers a generic message; the store's error, which names internal
// addresses, goes to the log only.
func TestHealthzKeepsDetailInTheLog(t *testing.T) {
	var logBuf syncBuffer
	b, err := newBundle(context.Background(), serveOptions{keysDir: filepath.Join(t.TempDir(), "sim"), mode: "cert"},
		slog.New(slog.NewJSONHandler(&logBuf, nil)))
	if err != nil {
		t.Fatal(err)
	}
	real := b.store
	t.Cleanup(func() { real.Close() })
	srv := httptest.NewServer(b.handler)
	t.Cleanup(srv.Close)

	get := func() (int, string) {
		resp, err := http.Get(srv.URL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, body := get(); code != http.StatusOK || !strings.Contains(body, `"ok"`) {
		t.Fatalf("healthy: %d %s", code, body)
	}
	b.store = unreachableStore{}
	code, body := get()
	if code != http.StatusServiceUnavailable || strings.Contains(body, "10.0.3.17") || strings.Contains(body, "dial tcp") {
		t.Fatalf("unhealthy: %d %s", code, body)
	}
	if !strings.Contains(logBuf.String(), "10.0.3.17:6379") {
		t.Errorf("the detail is not in the log: %s", logBuf.String())
	}
}

// Errors are prefixed once with the command, then carry context, not the command
// name again ("wxpay serve: serve: …" was the old stutter).
func TestServeErrorsDoNotStutter(t *testing.T) {
	t.Setenv("WXPAY_KEYS_DIR", "")
	t.Setenv("WXPAY_MCHID", "1900000109")
	t.Setenv("WXPAY_PRIVATE_KEY", "x")
	t.Setenv("WXPAY_PRIVATE_KEY_FILE", "/nonexistent.pem")
	code, _, errOut := runCmd(t, "serve", "--addr", "127.0.0.1:0", "--store", "bolt://"+filepath.Join(t.TempDir(), "w.db"))
	if code != 1 || !strings.HasPrefix(errOut, "wxpay serve: config: both WXPAY_PRIVATE_KEY and WXPAY_PRIVATE_KEY_FILE") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, word := range []string{"serve", "config", "keys dir"} {
		if strings.Count(errOut, word+":") > 1 {
			t.Errorf("%q repeats in %q", word+":", errOut)
		}
	}
}
