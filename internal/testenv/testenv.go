// Package testenv is the one test environment of the bundle's functions: the business
// clock (testclock: it moves only when a test moves it), a generated merchant identity
// written to a keys directory, a bbolt store in a temporary directory, and the
// simulated WeChat Pay (internal/paysim) on its own httptest server, on that clock, with
// the merchant configuration pointing at it — the shape `wxpay serve` runs.
//
// Each package's tests keep their own small env or harness (its newEnv / newHarness)
// that builds a World and adds what is particular to it: the handler or job under
// test mounted on World.Mux, counters, faults. Tests never sleep for business time:
// they advance World.Clock.
package testenv

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/paysls/wxpay/internal/keysdirtest"
	"github.com/paysls/wxpay/internal/paysim"
	"github.com/paysls/wxpay/internal/testenv/testclock"
	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/keysdir"
	"github.com/paysls/wxpay/shared/store/boltstore"
)

// Clock is the tests' business clock (see testclock).
type Clock = testclock.Clock

// NewClock is a clock standing at start.
func NewClock(start time.Time) *Clock { return testclock.New(start) }

// Options change a World. The zero value is a direct merchant whose clock starts at
// the wall clock's now (and then stands still).
type Options struct {
	// Start is where the business clock starts; the wall clock's now when zero.
	Start time.Time
	// Sim is the simulator's configuration. Identity and Now are the World's;
	// RetryScale is 0.001 (WeChat Pay's 15 s retry becomes 15 ms) and Logger discards
	// when they are zero.
	Sim paysim.Config
	// WrapV3, when set, stands in front of the simulator on /v3/ (WeChat Pay's API):
	// a test counts calls, intercepts or rewrites answers there.
	WrapV3 func(sim http.Handler) http.Handler
	// StoreFile names the bbolt file in its temporary directory ("wxpay.db" when empty).
	StoreFile string
}

// World is a running test environment. Everything is closed at the end of the test.
type World struct {
	// ID is the merchant's identity (and the simulated platform's keys), generated at
	// test time (keysdirtest: once per test binary, so the RSA keys cost one
	// generation per package); KeysDir holds it as `wxpay serve` writes it.
	ID      *keysdir.Identity
	KeysDir string
	// Clock is the business clock of the simulator and of whatever the test builds on
	// the World (pass Clock.Now as the functions' Now).
	Clock *Clock
	// Store is the bbolt store, unwrapped: a package wraps it (paymenttest.Check,
	// storetest.Counting) as its tests need.
	Store *boltstore.Store
	// Sim is the simulated WeChat Pay. Server serves it: /v3/ (through WrapV3) and
	// every other path (/sim/, OAuth, the h5_url page) unless the test mounts a more
	// specific pattern on Mux (its handler, /notify, /orders, …).
	Sim    *paysim.Simulator
	Server *httptest.Server
	Mux    *http.ServeMux
	// Config is the merchant's configuration from KeysDir with APIBase at Server; the
	// test sets what its function needs (NotifyURL, the API token, partner mode).
	Config config.Config
}

// New builds a World for t.
func New(t testing.TB, o Options) *World {
	t.Helper()
	id, dir := keysdirtest.Dir(t)
	start := o.Start
	if start.IsZero() {
		start = time.Now()
	}
	w := &World{ID: id, KeysDir: dir, Clock: testclock.New(start), Mux: http.NewServeMux()}

	name := o.StoreFile
	if name == "" {
		name = "wxpay.db"
	}
	st, err := boltstore.Open(filepath.Join(t.TempDir(), name))
	if err != nil {
		t.Fatal(err)
	}
	w.Store = st
	t.Cleanup(func() { st.Close() }) // last: the server and the simulator are done by then

	sc := o.Sim
	sc.Identity, sc.Now = id, w.Clock.Now
	if sc.RetryScale == 0 {
		sc.RetryScale = 0.001
	}
	if sc.Logger == nil {
		sc.Logger = Quiet()
	}
	if w.Sim, err = paysim.New(sc); err != nil {
		t.Fatal(err)
	}
	var v3 http.Handler = w.Sim
	if o.WrapV3 != nil {
		v3 = o.WrapV3(w.Sim)
	}
	w.Mux.Handle("/v3/", v3)
	w.Mux.Handle("/", w.Sim)
	w.Server = httptest.NewServer(w.Mux)
	t.Cleanup(w.Server.Close)
	// Runs before Server.Close: the simulator releases the requests a hang fault holds
	// and stops its deliveries, so the server's Close does not wait on them.
	t.Cleanup(func() { w.Sim.Close() })

	if w.Config, err = config.FromKeysDir(dir); err != nil {
		t.Fatal(err)
	}
	w.Config.APIBase = w.Server.URL
	return w
}

// Quiet is a logger that discards everything.
func Quiet() *slog.Logger { return slog.New(slog.NewJSONHandler(io.Discard, nil)) }
