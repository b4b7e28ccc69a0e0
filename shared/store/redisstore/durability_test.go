package redisstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/paysls/wxpay/internal/testserver"
	"github.com/paysls/wxpay/shared/store"
)

// syncBuffer is a log sink the test reads while go-redis may still write.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *syncBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// records parses the sink as JSON lines; a line that is not JSON fails the test.
func (w *syncBuffer) records(t *testing.T) []map[string]any {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(w.b.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		out = append(out, m)
	}
	return out
}

// startWith starts a redis-server of its own with the given persistence arguments,
// its files in a temporary directory.
func startWith(t *testing.T, args ...string) *testserver.Server {
	t.Helper()
	need(t)
	dir := t.TempDir()
	srv, err := testserver.Start("redis-server", 10*time.Second, func(port int) []string {
		return append([]string{"--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--dir", dir}, args...)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Kill)
	return srv
}

func openLogged(t *testing.T, url string) (*Store, *syncBuffer) {
	t.Helper()
	sink := &syncBuffer{}
	s, err := Open(context.Background(), url, withLogger(slog.New(slog.NewJSONHandler(sink, nil))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, sink
}

func TestDurability(t *testing.T) {
	cases := []struct {
		name    string
		args    []string
		query   string
		durable bool
		checked bool
		problem string // in Problem(); "" = none
		warn    string // in the WARN message; "" = no warning
	}{
		{"aof everysec", []string{"--appendonly", "yes", "--appendfsync", "everysec", "--save", ""}, "", true, true, "", ""},
		{"aof always", []string{"--appendonly", "yes", "--appendfsync", "always"}, "", true, true, "", ""},
		{"aof without fsync", []string{"--appendonly", "yes", "--appendfsync", "no", "--save", ""}, "", false, true, "appendfsync no", "does not keep acknowledged writes"},
		{"snapshots only", []string{"--appendonly", "no", "--save", "3600 1 300 100"}, "", false, true, "only RDB snapshots", "does not keep acknowledged writes"},
		{"nothing", []string{"--appendonly", "no", "--save", ""}, "", false, true, "persists nothing", "does not keep acknowledged writes"},
		{"nothing, waived", []string{"--appendonly", "no", "--save", ""}, "?durability=none", false, true, "persists nothing", ""},
		{"config disabled", []string{"--appendonly", "yes", "--rename-command", "CONFIG", ""}, "", false, false, "", "could not check"},
		{"config disabled, waived", []string{"--rename-command", "CONFIG", ""}, "?durability=none&prefix=x:", false, false, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := startWith(t, tc.args...)
			s, sink := openLogged(t, "redis://"+srv.Addr()+"/0"+tc.query)
			d := s.Durability()
			if d.durable() != tc.durable || d.Checked != tc.checked {
				t.Fatalf("Durability = %+v: durable %v checked %v, want %v %v", d, d.durable(), d.Checked, tc.durable, tc.checked)
			}
			if d.Waived != strings.Contains(tc.query, "durability=none") {
				t.Fatalf("Waived = %v for query %q", d.Waived, tc.query)
			}
			if p := d.Problem(); (tc.problem == "") != (p == "") || !strings.Contains(p, tc.problem) {
				t.Fatalf("Problem() = %q, want it to mention %q", p, tc.problem)
			}
			if !tc.checked && !strings.Contains(d.Reason, "CONFIG GET refused") {
				t.Fatalf("Reason = %q, want the refusal", d.Reason)
			}
			var warns []map[string]any
			for _, r := range sink.records(t) {
				if r["level"] == "WARN" && strings.HasPrefix(fmt.Sprint(r["msg"]), "redisstore:") {
					warns = append(warns, r)
				}
			}
			if tc.warn == "" {
				if len(warns) > 0 {
					t.Fatalf("warned: %v", warns)
				}
			} else {
				if len(warns) != 1 || !strings.Contains(fmt.Sprint(warns[0]["msg"]), tc.warn) {
					t.Fatalf("warnings %v, want one saying %q", warns, tc.warn)
				}
				if fix := fmt.Sprint(warns[0]["fix"]); !strings.Contains(fix, "appendonly yes") || !strings.Contains(fix, "durability=none") {
					t.Fatalf("warning's fix %q does not say what to set", fix)
				}
			}
			// The store works whatever the finding.
			if _, err := s.Put(context.Background(), store.Record{Key: "k"}, store.Condition{}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestCheckDurabilityRereads: CheckDurability asks the server again, so a fix applied at
// run time shows (as `wxpay doctor` needs); Durability keeps Open's finding.
func TestCheckDurabilityRereads(t *testing.T) {
	srv := startWith(t, "--appendonly", "no", "--save", "")
	s, _ := openLogged(t, "redis://"+srv.Addr()+"/0")
	ctx := context.Background()
	if d, err := s.CheckDurability(ctx); err != nil || d.durable() {
		t.Fatalf("before: %+v, %v", d, err)
	}
	if err := s.client.ConfigSet(ctx, "appendonly", "yes").Err(); err != nil {
		t.Fatal(err)
	}
	d, err := s.CheckDurability(ctx)
	if err != nil || !d.durable() || d.Problem() != "" {
		t.Fatalf("after CONFIG SET appendonly yes: %+v, %v", d, err)
	}
	if s.Durability().durable() {
		t.Fatal("Durability() changed without a check")
	}
	srv.Kill()
	dead, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if _, err := s.CheckDurability(dead); err == nil {
		t.Fatal("CheckDurability of a dead server succeeded")
	}
}

func TestDurabilityURL(t *testing.T) {
	need(t)
	_, err := Open(context.Background(), "redis://user:s3cret@"+server.Addr()+"/0?durability=aof")
	if err == nil || !strings.Contains(err.Error(), `unknown durability "aof"`) || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("Open with durability=aof: %v", err)
	}
	s := New(redis.NewClient(&redis.Options{Addr: server.Addr()}), "x:")
	defer s.client.Close()
	if d := s.Durability(); d.Checked || !strings.Contains(d.Reason, "New") {
		t.Fatalf("Durability of a store made with New: %+v", d)
	}
}

// TestGoRedisLogsJSON: go-redis's own log lines come out as JSON records of the
// store's logger, not as plain text on stderr.
func TestGoRedisLogsJSON(t *testing.T) {
	need(t)
	sink := &syncBuffer{}
	s, err := Open(context.Background(), "redis://"+server.Addr()+"/0", withLogger(slog.New(slog.NewJSONHandler(sink, nil))),
		// A read buffer below go-redis's RESP3 minimum makes it log a warning while
		// building the client: a real line from go-redis itself.
		withClientOptions(func(o *redis.Options) { o.ReadBufferSize = 64 }))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var found bool
	for _, r := range sink.records(t) {
		if r["component"] == "go-redis" {
			found = true
			if r["level"] != "WARN" || fmt.Sprint(r["msg"]) != "go-redis: ReadBufferSize=64 is below the RESP3 minimum 128; clamping." {
				t.Fatalf("go-redis record: %v", r)
			}
		}
	}
	if !found {
		t.Fatalf("no go-redis record in the log: %v", sink.records(t))
	}
}

// TestRestartKeepsOnlyWhatDurabilityPromises: what the check judges is what a restart
// does. A write acknowledged by a server with the append-only file survives kill -9
// and a restart; one acknowledged by a server without persistence does not.
func TestRestartKeepsOnlyWhatDurabilityPromises(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"aof everysec", []string{"--appendonly", "yes", "--appendfsync", "everysec", "--save", ""}},
		{"nothing", []string{"--appendonly", "no", "--save", ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			need(t)
			dir := t.TempDir()
			start := func() *testserver.Server {
				srv, err := testserver.Start("redis-server", 10*time.Second, func(port int) []string {
					return append([]string{"--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--dir", dir}, tc.args...)
				})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(srv.Kill)
				return srv
			}
			ctx := context.Background()
			srv := start()
			s, _ := openLogged(t, "redis://"+srv.Addr()+"/0")
			promised := s.Durability().durable()
			if _, err := s.Put(ctx, store.Record{Key: "paid", Attrs: map[string]string{"state": "SUCCESS"}}, store.Condition{Absent: true}); err != nil {
				t.Fatal(err)
			}
			srv.Kill() // SIGKILL: no shutdown save
			srv = start()
			s2, _ := openLogged(t, "redis://"+srv.Addr()+"/0")
			_, err := s2.Get(ctx, "paid")
			switch {
			case promised && err != nil:
				t.Fatalf("judged durable, but the acknowledged write is gone after a restart: %v", err)
			case !promised && !errors.Is(err, store.ErrNotFound):
				t.Fatalf("judged not durable, yet the write survived (or the read failed): %v", err)
			}
		})
	}
}
