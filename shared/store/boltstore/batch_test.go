package boltstore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/paysls/wxpay/shared/store"
)

// held is a batch assembled on purpose: the lead is taken as if a commit were in
// flight, writes are queued one at a time (so the queue order is known), and release
// hands the lead to the first of them, which commits them all in one transaction.
type held struct {
	t  *testing.T
	s  *Store
	wg sync.WaitGroup
	n  int
}

func hold(t *testing.T, s *Store) *held {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.leading || len(s.queue) > 0 {
		t.Fatal("store busy")
	}
	s.leading = true
	return &held{t: t, s: s}
}

// add queues fn (one store call) and waits until it sits in the queue.
func (h *held) add(fn func()) {
	h.t.Helper()
	h.n++
	h.wg.Add(1)
	go func() { defer h.wg.Done(); fn() }()
	for deadline := time.Now().Add(5 * time.Second); ; {
		h.s.mu.Lock()
		n := len(h.s.queue)
		h.s.mu.Unlock()
		if n == h.n {
			return
		}
		if n > h.n || time.Now().After(deadline) {
			h.t.Fatalf("queue holds %d writes, want %d", n, h.n)
		}
		time.Sleep(time.Millisecond)
	}
}

// release lets the queued writes commit and waits for all of them.
func (h *held) release() {
	h.s.mu.Lock()
	next := h.s.queue[0]
	h.s.mu.Unlock()
	next.wake <- true
	h.wg.Wait()
}

// result is what one store call answered, comparable between runs.
type result struct {
	rec store.Record
	err error
}

func sameResult(a, b result) string {
	if (a.err == nil) != (b.err == nil) {
		return fmt.Sprintf("errors %v vs %v", a.err, b.err)
	}
	if a.err != nil {
		var ca, cb *store.ConditionFailedError
		okA, okB := errors.As(a.err, &ca), errors.As(b.err, &cb)
		if okA != okB {
			return fmt.Sprintf("errors %v vs %v", a.err, b.err)
		}
		if !okA {
			if a.err.Error() != b.err.Error() {
				return fmt.Sprintf("errors %q vs %q", a.err, b.err)
			}
			return ""
		}
		if (ca.Current == nil) != (cb.Current == nil) {
			return fmt.Sprintf("current %+v vs %+v", ca.Current, cb.Current)
		}
		if ca.Current != nil {
			return sameRecord(*ca.Current, *cb.Current)
		}
		return ""
	}
	return sameRecord(a.rec, b.rec)
}

func sameRecord(a, b store.Record) string {
	if a.Key != b.Key || a.Version != b.Version || a.Pending != b.Pending || !a.PendingSince.Equal(b.PendingSince) ||
		!a.ExpiresAt.Equal(b.ExpiresAt) || !maps.Equal(a.Attrs, b.Attrs) {
		return fmt.Sprintf("records %+v vs %+v", a, b)
	}
	return ""
}

// TestBatchOrderAndIsolation: one batch of writes on the same keys is one
// transaction, each write judged in queue order on what the ones before it left.
func TestBatchOrderAndIsolation(t *testing.T) {
	s := open(t)
	defer s.Close()
	ctx := context.Background()
	mustPut := func(rec store.Record, cond store.Condition) store.Record {
		t.Helper()
		got, err := s.Put(ctx, rec, cond)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	settled := mustPut(store.Record{Key: "settled", Attrs: map[string]string{"state": "SUCCESS"}}, store.Condition{})

	doc := string(make([]byte, 300<<10))
	res := make([]result, 6)
	h := hold(t, s)
	h.add(func() { // 0: wins the key
		res[0].rec, res[0].err = s.Put(ctx, store.Record{Key: "k", Attrs: map[string]string{"by": "0", "doc": doc}}, store.Condition{Absent: true})
	})
	h.add(func() { // 1: loses it to 0, and sees 0's record
		res[1].rec, res[1].err = s.Put(ctx, store.Record{Key: "k", Attrs: map[string]string{"by": "1"}}, store.Condition{Absent: true})
	})
	h.add(func() { // 2: a duplicate transition on a settled record
		res[2].rec, res[2].err = s.Update(ctx, "settled", store.Change{Set: map[string]string{"state": "CLOSED"}}, store.Condition{Attrs: []store.AttrTest{store.AttrIn("state", "NOTPAY")}})
	})
	h.add(func() { // 3: builds on 0's write
		res[3].rec, res[3].err = s.Update(ctx, "k", store.Change{Set: map[string]string{"state": "SUCCESS"}}, store.Condition{Version: 1, Attrs: []store.AttrTest{store.AttrIn("by", "0")}})
	})
	h.add(func() { // 4: grows 0's record past the size limit: refused, changes nothing
		res[4].rec, res[4].err = s.Update(ctx, "k", store.Change{Set: map[string]string{"more": string(make([]byte, 100<<10))}}, store.Condition{})
	})
	h.add(func() { // 5: deletes what 3 left
		res[5].err = s.Delete(ctx, "k", store.Condition{Version: 2, Attrs: []store.AttrTest{store.AttrIn("state", "SUCCESS")}})
	})
	before := s.txs.Load()
	h.release()
	if n := s.txs.Load() - before; n != 1 {
		t.Fatalf("batch of %d writes took %d transactions, want 1", h.n, n)
	}

	won := store.Record{Key: "k", Version: 1, Attrs: map[string]string{"by": "0", "doc": doc}}
	if d := sameResult(res[0], result{rec: won}); d != "" {
		t.Fatalf("write 0: %s", d)
	}
	if d := sameResult(res[1], result{err: &store.ConditionFailedError{Key: "k", Current: &won}}); d != "" {
		t.Fatalf("write 1: %s", d)
	}
	if d := sameResult(res[2], result{err: &store.ConditionFailedError{Key: "settled", Current: &settled}}); d != "" {
		t.Fatalf("write 2: %s", d)
	}
	paid := store.Record{Key: "k", Version: 2, Attrs: map[string]string{"by": "0", "doc": doc, "state": "SUCCESS"}}
	if d := sameResult(res[3], result{rec: paid}); d != "" {
		t.Fatalf("write 3: %s", d)
	}
	if !errors.Is(res[4].err, store.ErrInvalid) {
		t.Fatalf("write 4: %v, want ErrInvalid", res[4].err)
	}
	if res[5].err != nil {
		t.Fatalf("write 5: %v", res[5].err)
	}
	if _, err := s.Get(ctx, "k"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("k after the batch: %v, want deleted", err)
	}
	if got, err := s.Get(ctx, "settled"); err != nil || sameRecord(got, settled) != "" {
		t.Fatalf("settled after the batch: %+v, %v", got, err)
	}
}

// TestBatchAllRefused: a batch whose every write is refused commits nothing.
func TestBatchAllRefused(t *testing.T) {
	s := open(t)
	defer s.Close()
	ctx := context.Background()
	rec, err := s.Put(ctx, store.Record{Key: "k"}, store.Condition{})
	if err != nil {
		t.Fatal(err)
	}
	before := s.db.Stats()
	h := hold(t, s)
	for range 4 {
		h.add(func() {
			_, err := s.Put(ctx, store.Record{Key: "k"}, store.Condition{Absent: true})
			var cf *store.ConditionFailedError
			if !errors.As(err, &cf) || sameRecord(*cf.Current, rec) != "" {
				t.Errorf("refused write: %v", err)
			}
		})
	}
	h.release()
	after := s.db.Stats()
	if d := after.Sub(&before); d.TxStats.GetWrite() != 0 {
		t.Fatalf("a batch of refused writes wrote %d pages", d.TxStats.GetWrite())
	}
}

// TestBatchFault: a write that faults (here: a corrupt record) rolls its batch back;
// every write is then run alone and gets the answer it would have got alone.
func TestBatchFault(t *testing.T) {
	s := open(t)
	defer s.Close()
	ctx := context.Background()
	if err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketRecords).Put([]byte("bad"), []byte{9, 9}) }); err != nil {
		t.Fatal(err)
	}
	var errA, errBad, errB error
	var recA, recB store.Record
	h := hold(t, s)
	h.add(func() { recA, errA = s.Put(ctx, store.Record{Key: "a"}, store.Condition{Absent: true}) })
	h.add(func() {
		_, errBad = s.Update(ctx, "bad", store.Change{Set: map[string]string{"x": "1"}}, store.Condition{})
	})
	h.add(func() { recB, errB = s.Put(ctx, store.Record{Key: "a"}, store.Condition{Absent: true}) })
	h.release()
	if errA != nil || recA.Version != 1 {
		t.Fatalf("write before the fault: %+v, %v", recA, errA)
	}
	if errBad == nil || errors.Is(errBad, store.ErrConditionFailed) || !errors.Is(errBad, errCorrupt) {
		t.Fatalf("faulting write: %v, want the corrupt-record error", errBad)
	}
	// The write after the fault still sees the one before it: run alone, in order.
	var cf *store.ConditionFailedError
	if !errors.As(errB, &cf) || cf.Current == nil || cf.Current.Version != 1 {
		t.Fatalf("write after the fault: %+v, %v; want refused by the first", recB, errB)
	}
	if n := s.faults.Load(); n != 1 {
		t.Fatalf("%d batches re-run after a fault, want 1", n)
	}
}

// TestBatchCanceledWhileQueued: a write whose context ends while it waits is answered
// with the context's error and does not happen; its batch-mates do.
func TestBatchCanceledWhileQueued(t *testing.T) {
	s := open(t)
	defer s.Close()
	ctx := context.Background()
	cctx, cancel := context.WithCancel(ctx)
	var errC, errD error
	h := hold(t, s)
	h.add(func() { _, errC = s.Put(cctx, store.Record{Key: "c"}, store.Condition{}) })
	h.add(func() { _, errD = s.Put(ctx, store.Record{Key: "d"}, store.Condition{}) })
	cancel()
	h.release()
	if !errors.Is(errC, context.Canceled) {
		t.Fatalf("canceled write: %v", errC)
	}
	if _, err := s.Get(ctx, "c"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("canceled write happened: %v", err)
	}
	if errD != nil {
		t.Fatalf("batch-mate: %v", errD)
	}
}

// TestBatchPanic: a write that panics panics in its own writer's goroutine; its
// batch-mates commit, and the store is not left locked.
func TestBatchPanic(t *testing.T) {
	s := open(t)
	defer s.Close()
	ctx := context.Background()
	var errA, errB error
	var recovered any
	h := hold(t, s)
	h.add(func() { _, errA = s.Put(ctx, store.Record{Key: "a"}, store.Condition{}) })
	h.add(func() {
		defer func() { recovered = recover() }()
		s.submit(ctx, time.Now(), func(tx *bolt.Tx) error {
			if err := tx.Bucket(bucketRecords).Put([]byte("half"), []byte{1, 0, 0, 0}); err != nil {
				return err
			}
			panic("boom")
		})
	})
	h.add(func() { _, errB = s.Put(ctx, store.Record{Key: "b"}, store.Condition{}) })
	h.release()
	if recovered != "boom" {
		t.Fatalf("recovered %v, want the write's own panic", recovered)
	}
	for key, err := range map[string]error{"a": errA, "b": errB} {
		if err != nil {
			t.Fatalf("batch-mate %s: %v", key, err)
		}
		if _, err := s.Get(ctx, key); err != nil {
			t.Fatalf("batch-mate %s not committed: %v", key, err)
		}
	}
	if _, err := s.Get(ctx, "half"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the panicking write's partial write was committed: %v", err)
	}
	done := make(chan error)
	go func() { _, err := s.Put(ctx, store.Record{Key: "c"}, store.Condition{}); done <- err }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("store stuck after a panicking write")
	}
}

// TestLoneWritesUnbatched: writes one after another each get their own transaction.
func TestLoneWritesUnbatched(t *testing.T) {
	s := open(t)
	defer s.Close()
	ctx := context.Background()
	before := s.txs.Load()
	for i := range 20 {
		if _, err := s.Put(ctx, store.Record{Key: fmt.Sprint(i)}, store.Condition{}); err != nil {
			t.Fatal(err)
		}
	}
	if n := s.txs.Load() - before; n != 20 {
		t.Fatalf("20 sequential writes took %d transactions", n)
	}
}

// TestConcurrentWritesShareTransactions: under concurrency, writes do get batched.
func TestConcurrentWritesShareTransactions(t *testing.T) {
	s := open(t)
	defer s.Close()
	const workers, each = 16, 20
	before := s.txs.Load()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if _, err := s.Put(context.Background(), store.Record{Key: fmt.Sprint(w, "/", i)}, store.Condition{Absent: true}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	n := s.txs.Load() - before
	t.Logf("%d concurrent writes in %d transactions", workers*each, n)
	if n >= workers*each*3/4 {
		t.Fatalf("%d concurrent writes took %d transactions: not batched", workers*each, n)
	}
}

// TestBatchMatchesSequential is differential: random batches of writes on a few keys
// give, write for write, the answers and the final state that the same writes give
// one at a time on an unbatched store.
func TestBatchMatchesSequential(t *testing.T) {
	batched := open(t)
	defer batched.Close()
	alone, err := Open(filepath.Join(t.TempDir(), "alone.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer alone.Close()
	alone.unbatched = true
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	keys := []string{"a", "b", "c"}
	states := []string{"", "NOTPAY", "SUCCESS", "CLOSED"}
	since := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	randCond := func() store.Condition {
		var c store.Condition
		switch rng.IntN(5) {
		case 0:
			c.Absent = true
		case 1:
			c.Exists = true
		case 2:
			c.Version = int64(1 + rng.IntN(4))
		case 3:
			c.Attrs = []store.AttrTest{store.AttrIn("state", states[rng.IntN(4)], states[rng.IntN(4)])}
		}
		return c
	}
	type call func(s *Store) result
	randCall := func() call {
		key := keys[rng.IntN(len(keys))]
		cond := randCond()
		state := states[1+rng.IntN(3)]
		pending := ""
		if rng.IntN(2) == 0 {
			pending = "p"
		}
		at := since.Add(time.Duration(rng.IntN(100)) * time.Second)
		switch rng.IntN(3) {
		case 0:
			return func(s *Store) result {
				r, err := s.Put(ctx, store.Record{Key: key, Attrs: map[string]string{"state": state}, Pending: pending, PendingSince: at}, cond)
				return result{r, err}
			}
		case 1:
			return func(s *Store) result {
				r, err := s.Update(ctx, key, store.Change{Set: map[string]string{"state": state}, Pending: &pending, PendingSince: at}, cond)
				return result{r, err}
			}
		default:
			return func(s *Store) result { return result{err: s.Delete(ctx, key, cond)} }
		}
	}
	for round := range 40 {
		calls := make([]call, 1+rng.IntN(12))
		for i := range calls {
			calls[i] = randCall()
		}
		got := make([]result, len(calls))
		before := batched.txs.Load()
		h := hold(t, batched)
		for i, c := range calls {
			h.add(func() { got[i] = c(batched) })
		}
		h.release()
		if n := batched.txs.Load() - before; n != 1 {
			t.Fatalf("round %d: batch of %d took %d transactions", round, len(calls), n)
		}
		for i, c := range calls {
			want := c(alone)
			if d := sameResult(got[i], want); d != "" {
				t.Fatalf("round %d, write %d of %d: batched and alone differ: %s", round, i, len(calls), d)
			}
		}
		for _, k := range keys {
			a, errA := batched.Get(ctx, k)
			b, errB := alone.Get(ctx, k)
			if d := sameResult(result{a, errA}, result{b, errB}); d != "" {
				t.Fatalf("round %d: key %q differs: %s", round, k, d)
			}
		}
		pa, errA := batched.ListPending(ctx, "p", store.ListOptions{})
		pb, errB := alone.ListPending(ctx, "p", store.ListOptions{})
		if errA != nil || errB != nil || len(pa.Records) != len(pb.Records) {
			t.Fatalf("round %d: pending index differs: %d vs %d records (%v, %v)", round, len(pa.Records), len(pb.Records), errA, errB)
		}
		for i := range pa.Records {
			if d := sameRecord(pa.Records[i], pb.Records[i]); d != "" {
				t.Fatalf("round %d: pending index differs: %s", round, d)
			}
		}
	}
}
