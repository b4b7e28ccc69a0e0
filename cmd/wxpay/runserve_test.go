package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runningServe is `wxpay serve` started as the CLI starts it (runServe on a free
// loopback port, simulator mode), for tests that drive it over HTTP.
type runningServe struct {
	base, keys, token string
	out, errOut       *syncBuffer
	stop              func() error
}

// startRunServe starts runServe with extra flags, waits for its banner and reads the
// API token it wrote. The test must call stop (checked: serve must stop cleanly).
func startRunServe(t *testing.T, extra ...string) *runningServe {
	t.Helper()
	return startRunServeAt(t, filepath.Join(t.TempDir(), "sim"), extra...)
}

// startRunServeAt is startRunServe on a given keys dir: a second serve on the same dir
// is a restart of the same local world.
func startRunServeAt(t *testing.T, keys string, extra ...string) *runningServe {
	t.Helper()
	t.Setenv("WXPAY_MCHID", "")
	t.Setenv("WXPAY_KEYS_DIR", "")
	s := &runningServe{keys: keys, out: &syncBuffer{}, errOut: &syncBuffer{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	args := append([]string{"--addr", "127.0.0.1:0", "--keys-dir", s.keys}, extra...)
	go func() { done <- runServe(ctx, args, s.out, s.errOut) }()
	s.stop = func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			t.Fatal("runServe did not stop after its context ended")
			return nil
		}
	}
	for deadline := time.Now().Add(10 * time.Second); s.base == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if _, rest, ok := strings.Cut(s.out.String(), "listening on "); ok {
			s.base, _, _ = strings.Cut(rest, "\n")
		}
	}
	if s.base == "" {
		cancel()
		t.Fatalf("no banner; stdout %q stderr %q", s.out.String(), s.errOut.String())
	}
	tok, err := os.ReadFile(filepath.Join(s.keys, apiTokenFile))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	s.token = strings.TrimSpace(string(tok))
	return s
}

// startPlatformServe starts `wxpay serve` in a platform mode (partner or ecommerce)
// with retries sped up, stops it when the test ends (an unclean stop fails the test)
// and returns it with an order-API caller holding its token.
func startPlatformServe(t *testing.T, mode string) (*runningServe, platformAPI) {
	t.Helper()
	t.Setenv("WXPAY_MODE", mode)
	srv := startRunServe(t, "--retry-scale", "0.001")
	t.Cleanup(func() {
		if err := srv.stop(); err != nil {
			t.Error(err)
		}
	})
	return srv, platformAPI{t: t, base: srv.base, token: srv.token}
}
