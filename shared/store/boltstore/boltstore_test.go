package boltstore

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/paysls/wxpay/internal/storetest"
	"github.com/paysls/wxpay/shared/store"
)

func open(t testing.TB) *Store {
	s, err := Open(filepath.Join(t.TempDir(), "test.db"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return open(t) })
}

func TestLockedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "locked.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// bbolt's flock is per open file description, so a second Open in this process
	// contends exactly like a second process would.
	start := time.Now()
	_, err = Open(path)
	if err == nil || !strings.Contains(err.Error(), "locked by another process") || !strings.Contains(err.Error(), path) {
		t.Fatalf("second Open = %v, want a locked-file error naming %s", err, path)
	}
	if d := time.Since(start); d > lockTimeout+2*time.Second {
		t.Fatalf("second Open took %v", d)
	}
}

func TestReopenKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "re.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := s.Put(ctx, store.Record{Key: "k", Attrs: map[string]string{"a": "\xff"}, Pending: "p", PendingSince: time.Unix(1, 0)}, store.Condition{}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err = Open(path); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	page, err := s.ListPending(ctx, "p", store.ListOptions{})
	if err != nil || len(page.Records) != 1 || page.Records[0].Attrs["a"] != "\xff" {
		t.Fatalf("after reopen: %+v, %v", page, err)
	}
}

// TestOneTransactionPerTransition proves the notification-style transition (and its
// duplicate) is one bbolt transaction, and that ListPending reads only the index.
func TestOneTransactionPerTransition(t *testing.T) {
	s := open(t)
	defer s.Close()
	ctx := context.Background()
	if _, err := s.Put(ctx, store.Record{Key: "order/1", Attrs: map[string]string{"state": "NOTPAY"}}, store.Condition{Absent: true}); err != nil {
		t.Fatal(err)
	}
	ch := store.Change{Set: map[string]string{"state": "SUCCESS"}}
	cond := store.Condition{Attrs: []store.AttrTest{store.AttrIn("state", "NOTPAY", "USERPAYING")}}
	before := s.txs.Load()
	if _, err := s.Update(ctx, "order/1", ch, cond); err != nil {
		t.Fatal(err)
	}
	if n := s.txs.Load() - before; n != 1 {
		t.Fatalf("transition took %d transactions, want 1", n)
	}
	before = s.txs.Load()
	_, err := s.Update(ctx, "order/1", ch, cond)
	cf, ok := err.(*store.ConditionFailedError)
	if !ok || cf.Current == nil || cf.Current.Attrs["state"] != "SUCCESS" {
		t.Fatalf("duplicate: %v", err)
	}
	if n := s.txs.Load() - before; n != 1 {
		t.Fatalf("duplicate took %d transactions, want 1", n)
	}
}

func TestSweepDeletesUnreadExpired(t *testing.T) {
	s := open(t)
	defer s.Close()
	ctx := context.Background()
	for i := range 5 {
		if _, err := s.Put(ctx, store.Record{Key: fmt.Sprint("e", i), ExpiresAt: time.Now().Add(-time.Second)}, store.Condition{}); err != nil {
			t.Fatal(err)
		}
	}
	// Any write sweeps; the expired records are gone from the file, not just hidden.
	if _, err := s.Put(ctx, store.Record{Key: "live"}, store.Condition{}); err != nil {
		t.Fatal(err)
	}
	var n int
	s.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bucketRecords).Stats().KeyN + tx.Bucket(bucketExpiry).Stats().KeyN
		return nil
	})
	if n != 1 {
		t.Fatalf("%d keys left in records+expiry, want 1 (the live record)", n)
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

// BenchmarkGroupCommit measures notification-style transitions (an Update testing one
// attribute, each writer on its own record) per second: by one writer, and by 16
// concurrent writers without and with group commit, in interleaved rounds of the same
// run, and reports the medians, the ratios x_c1 (16 batched vs 1) and x_unbatched
// (16 batched vs 16 unbatched), and the writes per transaction at 16.
func BenchmarkGroupCommit(b *testing.B) {
	const perRound = 160 // writes per variant and round
	batched, unbatched := open(b), open(b)
	defer batched.Close()
	defer unbatched.Close()
	unbatched.unbatched = true
	ctx := context.Background()
	for _, s := range []*Store{batched, unbatched} {
		for w := range 16 {
			if _, err := s.Put(ctx, store.Record{Key: fmt.Sprint("order/", w), Attrs: map[string]string{"state": "A"}}, store.Condition{}); err != nil {
				b.Fatal(err)
			}
		}
	}
	// state is each record's current state per store, so writers need no reads.
	state := map[*Store]*[16]string{batched: {}, unbatched: {}}
	for _, st := range state {
		for w := range st {
			st[w] = "A"
		}
	}
	// run has c writers share n writes and returns writes per second.
	run := func(s *Store, c, n int) float64 {
		var wg sync.WaitGroup
		start := time.Now()
		for w := range c {
			wg.Add(1)
			go func() {
				defer wg.Done()
				key, st := fmt.Sprint("order/", w), state[s]
				for i := w; i < n; i += c {
					from, to := st[w], "A"
					if from == "A" {
						to = "B"
					}
					if _, err := s.Update(ctx, key, store.Change{Set: map[string]string{"state": to}}, store.Condition{Attrs: []store.AttrTest{store.AttrIn("state", from)}}); err != nil {
						b.Error(err)
						return
					}
					st[w] = to
				}
			}()
		}
		wg.Wait()
		return float64(n) / time.Since(start).Seconds()
	}
	var batchedTxs, batchedWrites int64
	variants := []func() float64{
		func() float64 { return run(batched, 1, perRound) },
		func() float64 { return run(unbatched, 16, perRound) },
		func() float64 {
			before := batched.txs.Load()
			r := run(batched, 16, perRound)
			batchedTxs += batched.txs.Load() - before
			batchedWrites += perRound
			return r
		},
	}
	var per [3][]float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := range variants {
			v := (i + j) % len(variants)
			per[v] = append(per[v], variants[v]())
		}
	}
	b.StopTimer()
	med := func(xs []float64) float64 {
		s := slices.Clone(xs)
		slices.Sort(s)
		return s[len(s)/2]
	}
	c1, u16, c16 := med(per[0]), med(per[1]), med(per[2])
	b.ReportMetric(c1, "c1_writes/s")
	b.ReportMetric(u16, "c16_unbatched_writes/s")
	b.ReportMetric(c16, "c16_writes/s")
	b.ReportMetric(c16/c1, "x_c1")
	b.ReportMetric(c16/u16, "x_unbatched")
	b.ReportMetric(float64(batchedWrites)/float64(batchedTxs), "c16_writes/tx")
}
