package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go/middleware"

	"github.com/paysls/wxpay/internal/storetest"
	"github.com/paysls/wxpay/internal/testserver"
	"github.com/paysls/wxpay/shared/store"
)

const install = "pip install 'moto[server]'"

var (
	server   *testserver.Server
	startErr error
	tableSeq atomic.Int64
)

// motoSerial runs moto's DynamoDB the way moto_server does, but handling one request
// at a time. moto_server serves requests on parallel threads without locking its
// tables, so two conditional writes racing on one item can both succeed; DynamoDB
// applies each write atomically, and the race tests hold the backend to that.
const motoSerial = `import sys
from werkzeug.serving import run_simple
from moto.server import DomainDispatcherApplication, create_backend_app
run_simple("127.0.0.1", int(sys.argv[1]), DomainDispatcherApplication(create_backend_app), threaded=False)
`

func startMoto() (*testserver.Server, error) {
	// moto_server on PATH is how the machine says moto is installed; its Python runs it.
	if _, err := exec.LookPath("moto_server"); err != nil {
		return nil, fmt.Errorf("moto_server: %w", testserver.ErrMissing)
	}
	return testserver.Start("python3", 60*time.Second, func(port int) []string {
		return []string{"-c", motoSerial, fmt.Sprint(port)}
	})
}

func TestMain(m *testing.M) {
	server, startErr = startMoto()
	code := m.Run()
	if server != nil {
		server.Kill()
	}
	os.Exit(code)
}

func need(t testing.TB) { t.Helper(); testserver.Need(t, startErr, install) }

func endpoint(srv *testserver.Server) string { return "http://" + srv.Addr() }

func openAt(t testing.TB, srv *testserver.Server, opts ...option) *Store {
	t.Helper()
	base := []option{WithRegion("us-east-1"), WithEndpoint(endpoint(srv)), WithStaticCredentials("test", "test")}
	s, err := Open(context.Background(), fmt.Sprintf("wxpay-test-%d", tableSeq.Add(1)), append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.CreateTable(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

// open creates a fresh table on the shared moto server.
func open(t testing.TB, opts ...option) *Store {
	t.Helper()
	need(t)
	return openAt(t, server, opts...)
}

func TestConformance(t *testing.T) {
	// moto answers in milliseconds, not microseconds: a smaller bulk keeps the run
	// short. moto does not enforce the 400 KB item limit on UpdateItem (DynamoDB does,
	// and classify maps its ValidationException to store.ErrInvalid).
	storetest.RunWith(t, storetest.Options{Bulk: 1000, UpdateSizeUnchecked: true}, func(t *testing.T) store.Store { return open(t) })
}

func TestCreateTableIdempotent(t *testing.T) {
	s := open(t)
	if err := s.CreateTable(context.Background()); err != nil {
		t.Fatalf("second CreateTable: %v", err)
	}
}

// TestExpiredNotYetDeleted: DynamoDB's TTL deletes items late; until then an expired
// item must read as absent and yield to put-if-absent (which restarts its version).
func TestExpiredNotYetDeleted(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	if _, err := s.Put(ctx, store.Record{Key: "k", Attrs: map[string]string{"a": "1"}, ExpiresAt: time.Now().Add(-time.Hour)}, store.Condition{}); err != nil {
		t.Fatal(err)
	}
	out, err := s.client().GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table), Key: keyOf("k")})
	if err != nil || len(out.Item) == 0 {
		t.Fatalf("the expired item should still be in the table here: %v", err)
	}
	if _, err := s.Get(ctx, "k"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get = %v, want ErrNotFound", err)
	}
	// Put with the zero condition over the expired item also restarts at version 1.
	rec, err := s.Put(ctx, store.Record{Key: "k"}, store.Condition{})
	if err != nil || rec.Version != 1 {
		t.Fatalf("Put over expired = %+v, %v; want version 1", rec, err)
	}
}

// counter is smithy middleware counting API calls (each is one HTTP round trip, as
// retries are off in the counting test).
type counter struct{ n atomic.Int64 }

func (c *counter) ID() string { return "callCounter" }
func (c *counter) HandleInitialize(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
	c.n.Add(1)
	return next.HandleInitialize(ctx, in)
}

// attempts counts HTTP attempts (retries included) at the finalize step.
type attempts struct{ n atomic.Int64 }

func (a *attempts) ID() string { return "attemptCounter" }
func (a *attempts) HandleFinalize(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
	a.n.Add(1)
	return next.HandleFinalize(ctx, in)
}

func TestRoundTrips(t *testing.T) {
	calls, tries := &counter{}, &attempts{}
	s := open(t, withClientOptions(func(o *dynamodb.Options) {
		o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
			if err := st.Initialize.Add(calls, middleware.Before); err != nil {
				return err
			}
			return st.Finalize.Add(tries, middleware.After)
		})
	}))
	ctx := context.Background()
	count := func(what string, fn func()) {
		t.Helper()
		c0, t0 := calls.n.Load(), tries.n.Load()
		fn()
		c, a := calls.n.Load()-c0, tries.n.Load()-t0
		if c != 1 || a != 1 {
			t.Fatalf("%s: %d API calls, %d HTTP attempts; want 1 and 1", what, c, a)
		}
		t.Logf("%s: 1 API call, 1 HTTP round trip", what)
	}
	count("create (put-if-absent)", func() {
		if _, err := s.Put(ctx, store.Record{Key: "order/1", Attrs: map[string]string{"state": "NOTPAY"}, Pending: "unpaid"}, store.Condition{Absent: true}); err != nil {
			t.Fatal(err)
		}
	})
	ch := store.Change{Set: map[string]string{"state": "SUCCESS"}, Pending: new(string)}
	cond := store.Condition{Attrs: []store.AttrTest{store.AttrIn("state", "NOTPAY", "USERPAYING")}}
	count("transition (Update with AttrIn)", func() {
		if _, err := s.Update(ctx, "order/1", ch, cond); err != nil {
			t.Fatal(err)
		}
	})
	count("duplicate transition (condition fails, current record returned)", func() {
		_, err := s.Update(ctx, "order/1", ch, cond)
		var cf *store.ConditionFailedError
		if !errors.As(err, &cf) || cf.Current == nil || cf.Current.Attrs["state"] != "SUCCESS" || cf.Current.Version != 2 {
			t.Fatalf("duplicate: %v", err)
		}
	})
	count("ListPending page", func() {
		if _, err := s.ListPending(ctx, "unpaid", store.ListOptions{}); err != nil {
			t.Fatal(err)
		}
	})
}

// TestKilledServer: after kill -9 every operation reports ErrUnavailable quickly.
func TestKilledServer(t *testing.T) {
	need(t)
	srv, err := startMoto()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Kill()
	s := openAt(t, srv, withClientOptions(func(o *dynamodb.Options) {
		o.RetryMaxAttempts = 2
	}))
	ctx := context.Background()
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
	}
	c, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err = s.Get(c, "k")
	check("Get", err)
	_, err = s.Put(c, rec, store.Condition{Absent: true})
	check("Put", err)
	_, err = s.Update(c, "k", store.Change{Set: map[string]string{"state": "B"}}, store.Condition{Version: 1})
	check("Update", err)
	check("Delete", s.Delete(c, "k", store.Condition{}))
	_, err = s.ListPending(c, "p", store.ListOptions{})
	check("ListPending", err)
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("failing took %v", d)
	}
}

func TestErrorsNameNoSecrets(t *testing.T) {
	need(t)
	s, err := Open(context.Background(), "missing-table", WithRegion("us-east-1"), WithEndpoint(endpoint(server)), WithStaticCredentials("AKIDTEST", "sup3rs3cret"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Get(context.Background(), "k")
	if err == nil || errors.Is(err, store.ErrNotFound) || strings.Contains(err.Error(), "sup3rs3cret") {
		t.Fatalf("Get on a missing table: %v", err)
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

// Open checks the AWS configuration and builds the SDK client at the first call, not
// before: a start without credentials still fails at Open, and one with them pays for
// the client (its options run once, here counted) only when the store is first used.
func TestOpenBuildsTheClientAtTheFirstCall(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	t.Setenv("AWS_REGION", "ap-east-1")
	if _, err := Open(context.Background(), "wxpay"); err == nil || !strings.Contains(err.Error(), "AWS_ACCESS_KEY_ID") {
		t.Fatalf("no credentials: Open returned %v, want the missing setting named", err)
	}
	var built atomic.Int32
	s, err := Open(context.Background(), "wxpay", WithStaticCredentials("x", "x"), WithEndpoint("http://127.0.0.1:9"),
		withClientOptions(func(o *dynamodb.Options) { built.Add(1); o.RetryMaxAttempts = 1 }))
	if err != nil {
		t.Fatal(err)
	}
	if n := built.Load(); n != 0 {
		t.Fatalf("Open built the client (%d times) before any call", n)
	}
	for range 2 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, _ = s.Get(ctx, "k") // nothing listens: the call fails, after building the client
		cancel()
	}
	if n := built.Load(); n != 1 {
		t.Fatalf("client built %d times by two calls, want once", n)
	}
}
