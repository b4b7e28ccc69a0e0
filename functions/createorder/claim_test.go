package createorder_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/store"
)

// gate stands between createorder and the store and holds chosen calls until they
// are released: a request paused between two of its steps, as a slow or stalled
// process would be.
type gate struct {
	store.Store
	mu     sync.Mutex
	counts map[string]int
	holds  map[string]*held
}

type held struct{ reached, release chan struct{} }

func newGate(s store.Store) *gate {
	return &gate{Store: s, counts: map[string]int{}, holds: map[string]*held{}}
}

// before holds the n-th call op on key (counted from now) before it is made; after,
// once it has returned.
func (g *gate) before(op, key string, n int) *held { return g.hold("before", op, key, n) }
func (g *gate) after(op, key string, n int) *held  { return g.hold("after", op, key, n) }

func (g *gate) hold(when, op, key string, n int) *held {
	g.mu.Lock()
	defer g.mu.Unlock()
	h := &held{reached: make(chan struct{}), release: make(chan struct{})}
	g.holds[fmt.Sprintf("%s %s %s #%d", when, op, key, g.counts[op+" "+key]+n)] = h
	return h
}

// call makes one store call through the gate.
func (g *gate) call(op, key string, do func()) {
	g.mu.Lock()
	g.counts[op+" "+key]++
	n := g.counts[op+" "+key]
	pre, post := g.holds[fmt.Sprintf("before %s %s #%d", op, key, n)], g.holds[fmt.Sprintf("after %s %s #%d", op, key, n)]
	g.mu.Unlock()
	pre.wait()
	do()
	post.wait()
}

// wait, for a held call, says it is reached and waits for its release.
func (h *held) wait() {
	if h != nil {
		close(h.reached)
		<-h.release
	}
}

func (g *gate) Get(ctx context.Context, key string) (rec store.Record, err error) {
	g.call("Get", key, func() { rec, err = g.Store.Get(ctx, key) })
	return rec, err
}

func (g *gate) Update(ctx context.Context, key string, ch store.Change, cond store.Condition) (rec store.Record, err error) {
	g.call("Update", key, func() { rec, err = g.Store.Update(ctx, key, ch, cond) })
	return rec, err
}

func (g *gate) Delete(ctx context.Context, key string, cond store.Condition) (err error) {
	g.call("Delete", key, func() { err = g.Store.Delete(ctx, key, cond) })
	return err
}

// PutAll is the multi-record write of a store that has one (bbolt), through the gate
// (counted under the first record's key); store.ErrNoMultiPut otherwise.
func (g *gate) PutAll(ctx context.Context, recs []store.Record, conds []store.Condition) (out []store.Record, err error) {
	mp, ok := g.Store.(store.MultiPutter)
	if !ok || len(recs) == 0 {
		return nil, store.ErrNoMultiPut
	}
	g.call("PutAll", recs[0].Key, func() { out, err = mp.PutAll(ctx, recs, conds) })
	return out, err
}

// reach waits for a held call (done closing first means it was never made).
func reach(t *testing.T, what string, h *held, done <-chan struct{}) {
	t.Helper()
	select {
	case <-h.reached:
	case <-done:
		t.Fatalf("%s finished without reaching the held call", what)
	case <-time.After(10 * time.Second):
		t.Fatalf("%s never reached the held call", what)
	}
}

type answered struct {
	status int
	body   map[string]any
}

// Two identical re-prices at once, the first stalled past its claim's lease between
// reserving attempt _2 and moving the order's pointer to it (the DST's shrunk
// histories internal/dst/testdata/seed143-accounted.json and seed23-accounted.json).
// The second found _2 reserved with a lapsed claim and removed the reservation, while
// the first — still alive — moved the pointer and placed _2 at WeChat Pay: _2 was paid
// while GET /orders/X showed only X. A reservation is never removed now: the second
// finishes the first's pointer move, and whatever WeChat Pay holds under _2 is on the
// order.
func TestStalledRepriceKeepsItsReservation(t *testing.T) {
	var g *gate
	e := newEnv(t, envOptions{lease: 2 * time.Second, wrap: func(s store.Store) store.Store { g = newGate(s); return g }})
	const id = "STALL00001"
	if s, a := e.call(t, "POST", "/orders", nativeOrder(id, 500)); s != http.StatusCreated {
		t.Fatalf("create: %d %v", s, a)
	}
	key, key2 := payment.OrderKey(e.owner(), id), payment.OrderKey(e.owner(), id+"_2")
	run := func(ans *answered) <-chan struct{} {
		done := make(chan struct{})
		go func() {
			defer close(done)
			ans.status, ans.body = e.call(t, "POST", "/orders", nativeOrder(id, 800))
		}()
		return done
	}
	var a, b answered
	// A reserves _2 and records attempt 1's close (update 1 of attempt 1), then stalls
	// before its pointer move (update 2) past its claim's lease.
	movePointer := g.before("Update", key, 2)
	doneA := run(&a)
	reach(t, "the first re-price", movePointer, doneA)
	e.clock.Advance(3 * time.Second)
	// B finds _2 reserved, its claim lapsed, and stops there.
	readReservation := g.after("Get", key2, 1)
	doneB := run(&b)
	reach(t, "the second re-price", readReservation, doneB)
	// A moves the pointer and places _2 at WeChat Pay; it stops before recording the
	// answer (which would change _2's version under B).
	complete := g.before("Update", key2, 1)
	close(movePointer.release)
	reach(t, "the first re-price's answer", complete, doneA)
	close(readReservation.release)
	<-doneB
	close(complete.release)
	<-doneA

	if a.status != http.StatusCreated || a.body["out_trade_no"] != id+"_2" {
		t.Fatalf("first re-price: %d %v", a.status, a.body)
	}
	if o, ok := e.order(t, id+"_2"); !ok || o.OrderID != id || o.Amount != 800 {
		t.Fatalf("attempt _2 is placed at WeChat Pay; the store has %+v", o)
	}
	tx := e.payNow(t, id+"_2")
	s, got := e.call(t, "GET", "/orders/"+id, nil)
	if s != http.StatusOK || got["out_trade_no"] != id+"_2" || got["state"] != "SUCCESS" || got["transaction_id"] != tx.TransactionID {
		t.Fatalf("GET /orders/%s after _2 was paid (%s): %d %v", id, tx.TransactionID, s, got)
	}
	// B answers with the session A placed (the same request placed again: WeChat Pay
	// answers the same session).
	if b.status/100 != 2 || b.body["out_trade_no"] != id+"_2" || str(b.body, "pay", "code_url") != str(a.body, "pay", "code_url") {
		t.Errorf("second re-price: %d %v; want the first's %v", b.status, b.body, a.body)
	}
}

// A create waiting for another's live claim judges the claim on the business clock and
// bounds its wait by a number of polls: with pauses that move the business clock (and
// take no real time), a crashed creator's claim is waited out — 8 s of business time —
// and its answer replayed; with pauses that leave the clock where it is, the create
// still gives up after its polls.
func TestWaitIsOnTheBusinessClock(t *testing.T) {
	for _, moves := range []bool{true, false} {
		t.Run(fmt.Sprintf("clock moves %v", moves), func(t *testing.T) {
			var e *env
			var slept time.Duration
			var polls int
			e = newEnv(t, envOptions{lease: 8 * time.Second, sleep: func(ctx context.Context, d time.Duration) error {
				polls++
				slept += d
				if moves {
					e.clock.Advance(d)
				}
				return ctx.Err()
			}})
			const id = "WAITCLOCK1"
			if s, a := e.call(t, "POST", "/orders", nativeOrder(id, 300)); s != http.StatusCreated {
				t.Fatalf("create: %d %v", s, a)
			}
			rec, _ := e.order(t, id)
			// A creator that crashed after claiming the order again: its lease runs 8 s.
			if _, err := e.ledger().Claim(context.Background(), rec, payment.ClaimRequest{ID: "dead", PayloadHash: rec.Claim.PayloadHash, Lease: 8 * time.Second}); err != nil {
				t.Fatal(err)
			}
			t0 := time.Now()
			s, a := e.call(t, "POST", "/orders", nativeOrder(id, 300))
			if real := time.Since(t0); real > 2*time.Second {
				t.Errorf("the wait took %v of real time", real)
			}
			switch {
			case moves && (s != http.StatusOK || a["out_trade_no"] != id || slept < 8*time.Second):
				t.Fatalf("after the lease: %d %v (waited %v of business time)", s, a, slept)
			case !moves && (s != http.StatusConflict || a["code"] != "CREATE_IN_PROGRESS"):
				t.Fatalf("a clock that does not move: %d %v after %d polls", s, a, polls)
			}
			t.Logf("%d polls, %v of pauses", polls, slept)
		})
	}
}
