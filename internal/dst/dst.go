// Package dst is the deterministic simulation test of the bundle's money, after
// TigerBeetle's VOPR (a seeded simulation of the whole system with faults, every run
// replayable from its seed) and Jepsen's bank workload (money is conserved under
// faults).
//
// A seed generates a history: steps of operations against the whole bundle in one
// process — the real createorder and notify handlers, the real reconcile and billfetch
// jobs, the real ledger on a real store (bbolt, Redis or DynamoDB), the simulator as
// WeChat Pay on a virtual clock — with faults: notifications delivered late, twice,
// out of order or never; refunds settled, ABNORMAL or CLOSED at WeChat Pay and made by
// hand there; store errors; WeChat Pay errors and lost answers; the merchant's webhook
// down; and crashes at any write, after which the process's in-flight work is
// abandoned and the store reopened. Concurrent operations advance one store call (or
// WeChat Pay call, or webhook delivery) at a time in an order the seed chooses
// (sched.go), so a seed replays exactly.
//
// After the history the bundle is let settle (clock advanced, notifications delivered,
// jobs run, bills fetched) and the invariants (check.go) are checked against the
// simulator's ledger as the truth. A failing history is shrunk (shrink.go) to a short
// one, kept under testdata and replayed by TestRegressions.
package dst

import (
	"encoding/hex"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// Options configure a run.
type Options struct {
	// Backend is the store: Bolt (default), Redis or Dynamo.
	Backend string
	// RedisAddr (host:port) and DynamoEndpoint (http://…) locate their servers.
	RedisAddr      string
	DynamoEndpoint string
	// Steps is the length of a generated history (default DefaultSteps).
	Steps int
	// Trace keeps the readable trace in Result.Trace.
	Trace bool
	// Log receives the bundle's logs (discarded when nil).
	Log *slog.Logger
}

// DefaultSteps is the length of a generated history.
const DefaultSteps = 30

// Result is what one history did.
type Result struct {
	History    History
	Violations []Violation
	// Hash digests the trace: every scheduling decision, call and answer. The same
	// history gives the same hash.
	Hash string
	// Err is a failure of the harness itself (a server down), not of the bundle.
	Err      error
	Duration time.Duration
	Trace    []string
	// Scenes is what the history did with the cashier page's scenes (scenes.go).
	Scenes SceneCover
}

// Failed reports whether the history broke an invariant.
func (r Result) Failed() bool { return len(r.Violations) > 0 }

// Broke lists the invariants broken, each once, in Invariants order.
func (r Result) Broke() []string {
	seen := map[string]bool{}
	for _, v := range r.Violations {
		seen[v.Invariant] = true
	}
	var out []string
	for _, inv := range Invariants {
		if seen[inv] {
			out = append(out, inv)
		}
	}
	return out
}

// Run generates the history of seed and runs it.
func Run(seed int64, opts Options) Result {
	return execute(History{Seed: seed, Backend: opts.Backend}, opts, true)
}

// Replay runs a recorded history (its seed only seeds the simulator's ids and the
// bundle's settings).
func Replay(h History, opts Options) Result {
	if h.Backend != "" && opts.Backend == "" {
		opts.Backend = h.Backend
	}
	return execute(h, opts, false)
}

func execute(h History, opts Options, generate bool) (res Result) {
	began := time.Now()
	defer func() { res.Duration = time.Since(began) }()
	if opts.Steps <= 0 {
		opts.Steps = DefaultSteps
	}
	w, err := newWorld(h.Seed, opts)
	if err != nil {
		return Result{History: h, Err: err}
	}
	defer w.close()
	var g *gen
	steps := h.Steps
	if generate {
		g = newGen(h.Seed)
		steps = nil
	}
	for i := 0; ; i++ {
		var st Step
		switch {
		case generate && i < opts.Steps:
			st = g.step(w)
			steps = append(steps, st)
		case !generate && i < len(steps):
			st = steps[i]
		default:
			i = -1
		}
		if i < 0 {
			break
		}
		w.step = i
		if err := w.runStep(st); err != nil {
			res.Err = err
			break
		}
	}
	h.Steps = steps
	res.History = h
	if res.Err == nil {
		w.step = len(steps)
		if err := w.settle(); err != nil {
			res.Err = err
		} else {
			w.checkFinal()
			res.Scenes = w.sceneCover() // scenes.go
		}
	}
	res.Violations = w.violations
	res.Hash = hex.EncodeToString(w.trace.Sum(nil))
	res.Trace = w.traceLog
	if res.Err != nil && len(res.Violations) == 0 && isStuck(res.Err) {
		res.Violations = []Violation{{Invariant: InvNotStuck, Detail: res.Err.Error()}}
		res.Err = nil
	}
	return res
}

// runStep runs one step's operations under the scheduler, checks what the API
// answered, and restarts the process if it crashed.
func (w *world) runStep(st Step) error {
	w.plan.reset(st.Faults)
	w.note("step %d: %v faults %v", w.step, st.Ops, st.Faults)
	var parked map[string]time.Time
	if reconcileOnly(st) {
		parked = w.parkedNow() // scenes.go
	}
	paidBefore := w.paidAttempts(st) // check.go: what WeChat Pay held paid before the step
	answers := make([]answer, len(st.Ops))
	var amu sync.Mutex // a thread detached by a crash may finish after the step
	fns := make([]func(), len(st.Ops))
	for i, op := range st.Ops {
		fns[i] = func() {
			a := w.exec(op)
			amu.Lock()
			answers[i] = a
			amu.Unlock()
		}
	}
	panics, gone, err := w.sched.run(st.Sched, fns)
	w.tr = nil
	amu.Lock()
	seen := slices.Clone(answers)
	amu.Unlock()
	for i := range gone {
		if gone[i] {
			// Whatever a thread of the crashed process was doing, its caller saw the
			// connection drop (and the thread may still be failing in the background).
			seen[i] = answer{op: st.Ops[i], code: "CRASHED"}
		}
	}
	w.plan.reset(nil)
	for _, p := range panics {
		w.violate(InvNoPanic, "%s", p)
	}
	if err != nil {
		return &stuckError{err}
	}
	for _, a := range seen {
		w.note("answer %s: %d %s", a.op.Op, a.status, a.code)
	}
	w.checkAnswers(seen)
	w.checkPayable(seen, paidBefore)
	w.checkCurrentOnly()      // scenes.go
	w.checkParkedLive(parked) // scenes.go
	if w.inc.dead.Load() {
		return w.restart()
	}
	return nil
}

type stuckError struct{ err error }

func (e *stuckError) Error() string { return e.err.Error() }

func isStuck(err error) bool {
	_, ok := err.(*stuckError)
	return ok
}

// settle lets the bundle catch up with WeChat Pay after the history: a fresh process,
// no faults, every waiting notification delivered, the clock moved on by hours and
// days with reconcile and billfetch run, so that whatever the bundle can learn it has
// learnt before the checks.
func (w *world) settle() error {
	w.note("settle")
	if err := w.restart(); err != nil {
		return err
	}
	one := func(op Op) error { return w.runStep(Step{Ops: []Op{op}}) }
	deliverAll := func() error {
		for _, q := range w.sim.Queued() {
			if !q.Acknowledged {
				if _, err := w.sim.DeliverQueued(contextBackground(), q.ID); err != nil {
					return err
				}
			}
		}
		return nil
	}
	for i := range 2 {
		if err := deliverAll(); err != nil {
			return err
		}
		if i == 0 {
			w.checkFailedSubOrders() // platform.go: before reconcile closes them
		}
		w.clk.Advance(10 * time.Minute)
		if err := one(Op{Op: "reconcile"}); err != nil {
			return err
		}
	}
	// Past every order's expiry (2 hours), then to 10:00 of the next day for the bills.
	w.clk.Advance(3 * time.Hour)
	if err := one(Op{Op: "reconcile"}); err != nil {
		return err
	}
	now := w.clk.Now().In(start.Location())
	next := time.Date(now.Year(), now.Month(), now.Day()+1, 10, 0, 0, 0, start.Location())
	w.clk.Advance(next.Sub(now))
	for d := start; !d.After(next.AddDate(0, 0, -1)); d = d.AddDate(0, 0, 1) {
		date := d.Format(time.DateOnly)
		if err := w.runStep(Step{Ops: []Op{{Op: "billfetch-date", Status: date}}}); err != nil {
			return err
		}
	}
	// Events owed back off up to 2 hours.
	for range 3 {
		if err := deliverAll(); err != nil {
			return err
		}
		if err := one(Op{Op: "reconcile"}); err != nil {
			return err
		}
		w.clk.Advance(150 * time.Minute)
	}
	// That reconcile may itself record events (a split or finish falling due in it): it
	// delivers them in the same run, so the outbox is checked empty right after it.
	return one(Op{Op: "reconcile"})
}

// Summary is a one-line description of a result.
func (r Result) Summary() string {
	if r.Err != nil {
		return fmt.Sprintf("seed %d: harness error: %v", r.History.Seed, r.Err)
	}
	if !r.Failed() {
		return fmt.Sprintf("seed %d: ok (%d steps)", r.History.Seed, len(r.History.Steps))
	}
	return fmt.Sprintf("seed %d: FAILED %v (%d steps)", r.History.Seed, r.Broke(), len(r.History.Steps))
}
