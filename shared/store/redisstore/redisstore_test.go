package redisstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/paysls/wxpay/internal/storetest"
	"github.com/paysls/wxpay/internal/testserver"
	"github.com/paysls/wxpay/shared/store"
)

const install = "apt-get install -y redis-server"

var (
	server   *testserver.Server
	startErr error
	nsSeq    atomic.Int64
)

func startRedis() (*testserver.Server, error) {
	return testserver.Start("redis-server", 10*time.Second, func(port int) []string {
		return []string{"--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"}
	})
}

func TestMain(m *testing.M) {
	server, startErr = startRedis()
	code := m.Run()
	if server != nil {
		server.Kill()
	}
	os.Exit(code)
}

func need(t testing.TB) { t.Helper(); testserver.Need(t, startErr, install) }

// open connects with a fresh key prefix, so every subtest has its own namespace. The
// test server persists nothing on purpose, so the URL waives durability.
func open(t testing.TB, opts ...option) *Store {
	t.Helper()
	need(t)
	prefix := fmt.Sprintf("test%d:", nsSeq.Add(1))
	s, err := Open(context.Background(), "redis://"+server.Addr()+"/0?durability=none", append([]option{WithPrefix(prefix)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return open(t) })
}

// TestExpiredIndexEntryCleaned: Redis expires the hash natively, leaving its member in
// the sorted set; ListPending skips it and removes it.
func TestExpiredIndexEntryCleaned(t *testing.T) {
	s := open(t)
	defer s.Close()
	ctx := context.Background()
	if _, err := s.Put(ctx, store.Record{Key: "k", Pending: "p", ExpiresAt: time.Now().Add(200 * time.Millisecond)}, store.Condition{}); err != nil {
		t.Fatal(err)
	}
	if n := s.client.ZCard(ctx, s.indexPrefix()+"p").Val(); n != 1 {
		t.Fatalf("zset has %d members, want 1", n)
	}
	time.Sleep(300 * time.Millisecond)
	page, err := s.ListPending(ctx, "p", store.ListOptions{})
	if err != nil || len(page.Records) != 0 {
		t.Fatalf("ListPending = %+v, %v", page, err)
	}
	if n := s.client.ZCard(ctx, s.indexPrefix()+"p").Val(); n != 0 {
		t.Fatalf("stale member not removed: zset has %d members", n)
	}
}

func TestOpenURL(t *testing.T) {
	need(t)
	ctx := context.Background()
	s, err := Open(ctx, "redis://"+server.Addr()+"/3?prefix=custom:&dial_timeout=2s")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.prefix != "custom:" {
		t.Fatalf("prefix = %q", s.prefix)
	}
	if _, err := s.Put(ctx, store.Record{Key: "x"}, store.Condition{}); err != nil {
		t.Fatal(err)
	}
	if n := s.client.Exists(ctx, "custom:r:x").Val(); n != 1 {
		t.Fatal("record not under the custom prefix")
	}
	s.client.Del(ctx, "custom:r:x")
	_, err = Open(ctx, "redis://user:s3cret@"+server.Addr()+"/0?bogus=1")
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("bad option: %v (must fail without echoing the password)", err)
	}
	_, err = Open(ctx, "redis://user:s3cret@"+server.Addr()+"/0")
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("wrong password: %v (must fail without echoing the password)", err)
	}
}

// counter is a go-redis hook counting the commands sent, one per round trip
// (pipelines count each command, and the store never pipelines).
type counter struct{ n atomic.Int64 }

func (c *counter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c *counter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmd)
	}
}
func (c *counter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.n.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

// TestRoundTrips proves a notification-style transition is one round trip, and so is
// its duplicate (the failed condition returns the current record).
func TestRoundTrips(t *testing.T) {
	s := open(t)
	defer s.Close()
	ctx := context.Background()
	// The first call of each script may cost EVALSHA + EVAL (NOSCRIPT) when the
	// server has not seen it; warm the scripts up first, then count.
	for _, sc := range []*redis.Script{scripts().put, scripts().update, scripts().delete, scripts().list} {
		if err := sc.Load(ctx, s.client).Err(); err != nil {
			t.Fatal(err)
		}
	}
	c := &counter{}
	s.client.AddHook(c)
	count := func(what string, want int64, fn func()) {
		t.Helper()
		before := c.n.Load()
		fn()
		if n := c.n.Load() - before; n != want {
			t.Fatalf("%s: %d round trips, want %d", what, n, want)
		}
		t.Logf("%s: %d round trip(s)", what, want)
	}
	count("create (put-if-absent)", 1, func() {
		if _, err := s.Put(ctx, store.Record{Key: "order/1", Attrs: map[string]string{"state": "NOTPAY"}, Pending: "unpaid"}, store.Condition{Absent: true}); err != nil {
			t.Fatal(err)
		}
	})
	ch := store.Change{Set: map[string]string{"state": "SUCCESS"}, Pending: new(string)}
	cond := store.Condition{Attrs: []store.AttrTest{store.AttrIn("state", "NOTPAY", "USERPAYING")}}
	count("transition (Update with AttrIn)", 1, func() {
		if _, err := s.Update(ctx, "order/1", ch, cond); err != nil {
			t.Fatal(err)
		}
	})
	count("duplicate transition (condition fails, current record returned)", 1, func() {
		_, err := s.Update(ctx, "order/1", ch, cond)
		var cf *store.ConditionFailedError
		if !errors.As(err, &cf) || cf.Current == nil || cf.Current.Attrs["state"] != "SUCCESS" {
			t.Fatalf("duplicate: %v", err)
		}
	})
	count("ListPending page", 1, func() {
		if _, err := s.ListPending(ctx, "unpaid", store.ListOptions{}); err != nil {
			t.Fatal(err)
		}
	})
}

// TestKilledServer: after kill -9 every operation reports ErrUnavailable quickly.
func TestKilledServer(t *testing.T) {
	need(t)
	srv, err := startRedis()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Kill()
	ctx := context.Background()
	s, err := Open(ctx, "redis://"+srv.Addr()+"/0", withClientOptions(func(o *redis.Options) {
		o.DialTimeout, o.ReadTimeout, o.WriteTimeout = 300*time.Millisecond, 300*time.Millisecond, 300*time.Millisecond
		o.MaxRetries = -1
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rec, err := s.Put(ctx, store.Record{Key: "k", Attrs: map[string]string{"state": "A"}}, store.Condition{})
	if err != nil {
		t.Fatal(err)
	}
	srv.Kill()
	start := time.Now()
	check := func(op string, err error) {
		t.Helper()
		if !errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConditionFailed) {
			t.Fatalf("%s after kill: %v, want only ErrUnavailable", op, err)
		}
		var ne net.Error
		_ = errors.As(err, &ne) // the cause stays inspectable
	}
	_, err = s.Get(ctx, "k")
	check("Get", err)
	_, err = s.Put(ctx, rec, store.Condition{Absent: true})
	check("Put", err)
	_, err = s.Update(ctx, "k", store.Change{Set: map[string]string{"state": "B"}}, store.Condition{Version: 1})
	check("Update", err)
	check("Delete", s.Delete(ctx, "k", store.Condition{}))
	_, err = s.ListPending(ctx, "p", store.ListOptions{})
	check("ListPending", err)
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("failing took %v", d)
	}
	_, err = Open(ctx, "redis://"+srv.Addr()+"/0", withClientOptions(func(o *redis.Options) { o.MaxRetries = -1; o.DialTimeout = 300 * time.Millisecond }))
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Open of a dead server: %v, want ErrUnavailable", err)
	}
}

func BenchmarkConditionalWrite(b *testing.B) {
	s := open(b)
	defer s.Close()
	storetest.BenchmarkConditionalWrite(b, s)
}

func BenchmarkGet(b *testing.B) {
	s := open(b)
	defer s.Close()
	storetest.BenchmarkGet(b, s)
}

// TestIndexKeptExact: writes move members between sorted sets themselves; ListPending's
// clean-up of stale members is only for natively expired hashes.
func TestIndexKeptExact(t *testing.T) {
	s := open(t)
	defer s.Close()
	ctx := context.Background()
	card := func(index string) int64 { return s.client.ZCard(ctx, s.indexPrefix()+index).Val() }
	want := func(step string, p, q int64) {
		t.Helper()
		if card("p") != p || card("q") != q {
			t.Fatalf("%s: zset sizes p=%d q=%d, want %d %d", step, card("p"), card("q"), p, q)
		}
	}
	if _, err := s.Put(ctx, store.Record{Key: "k", Pending: "p"}, store.Condition{}); err != nil {
		t.Fatal(err)
	}
	want("put", 1, 0)
	q := "q"
	if _, err := s.Update(ctx, "k", store.Change{Pending: &q}, store.Condition{}); err != nil {
		t.Fatal(err)
	}
	want("move", 0, 1)
	if _, err := s.Put(ctx, store.Record{Key: "k", Pending: "p"}, store.Condition{}); err != nil {
		t.Fatal(err)
	}
	want("put over", 1, 0)
	if _, err := s.Update(ctx, "k", store.Change{Pending: new(string)}, store.Condition{}); err != nil {
		t.Fatal(err)
	}
	want("leave", 0, 0)
	if _, err := s.Put(ctx, store.Record{Key: "k", Pending: "q"}, store.Condition{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "k", store.Condition{}); err != nil {
		t.Fatal(err)
	}
	want("delete", 0, 0)
}
