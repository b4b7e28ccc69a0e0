package dst

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/paysls/wxpay/functions/billfetch"
	"github.com/paysls/wxpay/functions/createorder"
	"github.com/paysls/wxpay/functions/notify"
	"github.com/paysls/wxpay/functions/reconcile"
	"github.com/paysls/wxpay/internal/paysim"
	"github.com/paysls/wxpay/internal/testenv/testclock"
	"github.com/paysls/wxpay/shared/clock"
	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/events"
	"github.com/paysls/wxpay/shared/keysdir"
	"github.com/paysls/wxpay/shared/orderapi"
	"github.com/paysls/wxpay/shared/payclient"
	"github.com/paysls/wxpay/shared/store"
	"github.com/paysls/wxpay/shared/store/billstore"
)

// start is where every history's business calendar begins: a fixed instant, so that a
// seed replays across days (bill days, the 5-minute rule) exactly.
var start = time.Date(2026, 3, 2, 10, 0, 0, 0, clock.CST)

// dstClock is the business clock of the bundle and the simulator (the tests' one clock,
// internal/testenv/testclock): it moves only when a history advances it, plus one
// microsecond at every scheduling decision, so that no two transitions share an
// instant (the order of an order's events is decided by their times, never by the
// random part of their ids).
type dstClock = testclock.Clock

// world is one history's universe: WeChat Pay (the simulator), the merchant's webhook,
// the store, and the current incarnation of the bundle's process.
type world struct {
	opts    Options
	id      *keysdir.Identity
	cfg     config.Config
	clk     *dstClock
	sim     *paysim.Simulator
	sched   *scheduler
	plan    faultPlan
	backend backend
	inc     *incarnation
	incs    int
	tmp     string
	bills   billstore.Store
	log     *slog.Logger

	merchant merchant
	// disruptions counts what can leave a delivered event unmarked — a crash, a store
	// write refused or whose answer was lost — so that checkEvents tells a re-delivery
	// after one from two deliverers racing (no disruption between the two copies).
	disruptions atomic.Int64
	model       model
	// forged are the forged notifications the bundle acknowledged (forge.go).
	forgedMu   sync.Mutex
	forged     []forged
	violations []Violation
	tr         *truth // WeChat Pay's ledger as of the last step (truth())
	trace      hash.Hash
	traceLog   []string // kept when Options.Trace: the readable trace

	// step is the index of the running step (for messages).
	step int
	// lease and recheck are createorder's (see newWorld).
	lease, recheck time.Duration
	// wentBack: cashier orders whose pointer went back to an older attempt (scenes.go).
	wentBack map[string]bool
}

// incarnation is one life of the bundle's process: the functions built on a fresh
// connection to the store. A crash ends it: every call it makes from then on fails.
type incarnation struct {
	n      int
	dead   atomic.Bool
	raw    store.Store
	st     *faultStore
	co     *createorder.Handler
	api    *orderapi.Client
	notify http.Handler
	rec    *reconcile.Job
	bill   *billfetch.Job
	events *events.API
}

func newWorld(seed int64, opts Options) (*world, error) {
	id, err := identity()
	if err != nil {
		return nil, err
	}
	w := &world{opts: opts, id: id, cfg: bundleConfig(id), clk: testclock.New(start.UTC()),
		log: slog.New(slog.DiscardHandler), trace: sha256.New()}
	if opts.Log != nil {
		w.log = opts.Log
	}
	w.model.init()
	w.sched = newScheduler(func(thread int, label string) {
		w.clk.Advance(time.Microsecond)
		w.note("grant %d %s", thread, label)
	})
	var idSeed [32]byte
	binary.LittleEndian.PutUint64(idSeed[:], uint64(seed))
	w.sim, err = paysim.New(paysim.Config{
		Identity: id, Now: w.clk.Now, Clock: &clock.Virtual{}, Logger: w.log, ManualDelivery: true,
		IDs: rand.NewChaCha8(idSeed), HTTPClient: &http.Client{Transport: toBundle{w}},
	})
	if err != nil {
		return nil, err
	}
	// createorder judges its create claims on the business clock, and a create
	// waiting for a live claim pauses through Options.Sleep, which here moves the
	// virtual clock (restart): waiting costs no wall time. Half the histories run the
	// production lease (8 s): a create waits for a live claim and takes over a crashed
	// creator's once its lease has passed on the business clock. The other half run a
	// lease shorter than one scheduling decision, as if every creator stalled past its
	// lease (a slow process, which production allows): a concurrent create takes the
	// claim over while its creator is still going — the races a realistic lease in a
	// simulation that never stalls would almost never reach. Bit 1 of the seed picks
	// the half; in platform histories (seed%4 == 3, platform.go: bit 1 always set)
	// bit 2 does, so that their combines run under both leases too.
	w.lease = 8 * time.Second
	bit := seed >> 1
	if platformWorld(seed) {
		bit = seed >> 2
	}
	if bit%2 == 1 {
		w.lease = time.Microsecond
	}
	// The status recheck window is on the business clock too: always open for odd
	// seeds, an hour for even ones.
	w.recheck = time.Nanosecond
	if seed%2 == 0 {
		w.recheck = time.Hour
	}
	// A third of the deployments refund payments that arrive after their order closed.
	w.cfg.Bundle.RefundLatePayments = seed%3 == 0
	w.platformConfig(seed) // platform.go: a quarter are e-commerce platforms
	if w.tmp, err = os.MkdirTemp(tmpRoot(), "wxpay-dst-"); err != nil {
		return nil, err
	}
	if w.bills, err = billstore.NewDir(w.tmp + "/bills"); err != nil {
		return nil, err
	}
	if w.backend, err = opts.openBackend(w.tmp, seed); err != nil {
		return nil, err
	}
	if err := w.restart(); err != nil {
		w.close()
		return nil, err
	}
	return w, nil
}

// tmpRoot puts the history's files (bbolt, bills) in memory where the machine allows:
// a history's cost is then CPU, not fsync.
func tmpRoot() string {
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		return "/dev/shm"
	}
	return os.TempDir()
}

func (w *world) close() {
	if w.inc != nil && w.inc.raw != nil {
		_ = w.inc.raw.Close()
	}
	if w.sim != nil {
		_ = w.sim.Close()
	}
	if w.backend != nil {
		w.backend.destroy()
	}
	if w.tmp != "" {
		_ = os.RemoveAll(w.tmp)
	}
}

// note adds a line to the trace.
func (w *world) note(format string, a ...any) {
	s := fmt.Sprintf(format, a...)
	io.WriteString(w.trace, s+"\n")
	if w.opts.Trace {
		w.traceLog = append(w.traceLog, s)
	}
}

// noteFrom is note for an operation's thread, which may outlive its step: once inc
// (the incarnation the operation runs on) has crashed, the step goes on without the
// thread, and a line it added would land in the trace at a moment no seed decides.
// (While inc lives, the thread is the one the scheduler let run: the line is in order.)
func (w *world) noteFrom(inc *incarnation, format string, a ...any) {
	if inc.dead.Load() {
		return
	}
	w.note(format, a...)
}

// crash kills inc: every call it makes fails from now on, threads parked on it are
// released to find that out. The step finishes, then the process restarts.
func (w *world) crash(inc *incarnation) {
	if inc.dead.Swap(true) {
		return
	}
	w.disruptions.Add(1)
	w.note("crash %d", inc.n)
	w.sched.crashed(inc)
}

// restart starts a new incarnation on a fresh connection to the store (bbolt: the file
// reopened), with nothing of the old one's memory.
func (w *world) restart() error {
	if w.inc != nil {
		w.inc.dead.Store(true)
		if err := w.inc.raw.Close(); err != nil {
			return fmt.Errorf("dst: close the store: %w", err)
		}
	}
	raw, err := w.backend.open()
	if err != nil {
		return fmt.Errorf("dst: open the store: %w", err)
	}
	w.incs++
	inc := &incarnation{n: w.incs, raw: raw}
	inc.st = &faultStore{inner: raw, w: w, inc: inc}
	toWX := &http.Client{Transport: toWeChatPay{w: w, inc: inc}}
	sink := merchantSink{w: w, inc: inc}
	cfg := w.cfg

	// A create waiting for another's claim moves the virtual clock instead of sleeping
	// (the waiting thread is the only one running: the move is deterministic).
	pause := func(ctx context.Context, d time.Duration) error {
		if inc.dead.Load() {
			return errCrashed
		}
		w.clk.Advance(d)
		return ctx.Err()
	}
	inc.co, err = createorder.New(cfg, inc.st, createorder.Options{Logger: w.log, Now: w.clk.Now, HTTP: toWX, Simulator: true,
		Lease: w.lease, Recheck: w.recheck, Sleep: pause})
	if err != nil {
		return err
	}
	inc.api = orderapi.InProcess(inc.co, apiToken)

	nh, err := notify.New(cfg, inc.st, w.log)
	if err != nil {
		return err
	}
	// notify's ledger and deliverer keep the wall clock unless given one.
	nh.Ledger.Now = w.clk.Now
	// Its immediate attempt is the production one, marking through the ledger: without
	// a Marker it would send nothing, and notify's deliveries never race reconcile's.
	nh.Deliverer = &events.Deliverer{Store: inc.st, Marker: nh.Ledger, Sink: sink, Now: w.clk.Now, Log: w.log}
	// Its budgets are real-time deadlines past which the work goes on in the background
	// (a second thread): long enough never to fire here.
	nh.Budget, nh.DeliverWithin = time.Hour, 30*time.Minute
	inc.notify = nh

	inc.rec, err = reconcile.New(cfg, inc.st, reconcile.Options{Logger: w.log, Now: w.clk.Now, HTTP: toWX, Sink: sink,
		Concurrency: 1, Rate: 1e9, AllowLoopbackNotifyURL: true})
	if err != nil {
		return err
	}
	bc, err := payclient.New(cfg, inc.st, nil, payclient.Options{HTTP: toWX})
	if err != nil {
		return err
	}
	bc.Sleep = func(ctx context.Context, _ time.Duration) error { return ctx.Err() }
	inc.bill, err = billfetch.New(cfg, inc.st, billfetch.Options{Logger: w.log, Now: w.clk.Now, Bills: w.bills,
		Metrics: io.Discard, TempDir: w.tmp, Client: bc, Workers: 1})
	if err != nil {
		return err
	}
	inc.events = &events.API{Store: inc.st, Token: []byte(apiToken), Now: w.clk.Now}
	w.inc = inc
	w.note("incarnation %d", inc.n)
	return nil
}

// merchant is the merchant's webhook receiver: every delivery, in arrival order.
type merchant struct {
	mu       sync.Mutex
	received []receipt
}

type receipt struct {
	ID   string
	Type string
	Key  string // the record the event lives on (from its id)
	Body string
	// Disruptions is the world's count of disruptions when the event arrived; Step the
	// step it arrived in.
	Disruptions int64
	Step        int
}

// merchantSink delivers one incarnation's events to the merchant.
type merchantSink struct {
	w   *world
	inc *incarnation
}

func (s merchantSink) Send(ctx context.Context, ev events.Event, body []byte) error {
	if s.inc.dead.Load() {
		return errCrashed
	}
	s.w.sched.yield("webhook "+ev.Type, s.inc)
	if s.inc.dead.Load() {
		return errCrashed
	}
	if s.w.plan.next(onWebhook) == webhookDown {
		return &events.SendError{Status: http.StatusServiceUnavailable, Err: fmt.Errorf("dst: the merchant's webhook is down")}
	}
	key, _, _ := events.Locate(ev.ID)
	s.w.merchant.mu.Lock()
	s.w.merchant.received = append(s.w.merchant.received, receipt{ID: ev.ID, Type: ev.Type, Key: key, Body: string(body), Disruptions: s.w.disruptions.Load(), Step: s.w.step})
	s.w.merchant.mu.Unlock()
	s.w.note("webhook %s %s", ev.Type, key)
	return nil
}
