package storetest

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/paysls/wxpay/shared/store"
)

// race runs n writers at once (released together) and returns their results.
func race(n int, write func(i int) (store.Record, error)) ([]store.Record, []error) {
	recs := make([]store.Record, n)
	errs := make([]error, n)
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			ready.Done()
			<-start
			recs[i], errs[i] = write(i)
		}()
	}
	ready.Wait()
	close(start)
	done.Wait()
	return recs, errs
}

func testRacePutIfAbsent(t *testing.T, s store.Store, n int) {
	recs, errs := race(n, func(i int) (store.Record, error) {
		return s.Put(ctx(t), store.Record{Key: "race", Attrs: map[string]string{"by": fmt.Sprint(i)}}, store.Condition{Absent: true})
	})
	checkOneWinner(t, s, recs, errs)
}

func testRaceUpdateVersion(t *testing.T, s store.Store, n int) {
	mustPut(t, s, store.Record{Key: "race", Attrs: map[string]string{"by": "setup"}}, store.Condition{})
	recs, errs := race(n, func(i int) (store.Record, error) {
		return s.Update(ctx(t), "race", store.Change{Set: map[string]string{"by": fmt.Sprint(i)}}, store.Condition{Version: 1})
	})
	checkOneWinner(t, s, recs, errs)
}

// checkOneWinner: exactly one write succeeded and every loser saw the winner's record.
func checkOneWinner(t *testing.T, s store.Store, recs []store.Record, errs []error) {
	t.Helper()
	winner := -1
	for i, err := range errs {
		if err == nil {
			if winner >= 0 {
				t.Fatalf("writers %d and %d both won", winner, i)
			}
			winner = i
		}
	}
	if winner < 0 {
		t.Fatalf("no writer won: first error %v", errs[0])
	}
	stored := mustGet(t, s, "race")
	wantRecord(t, stored, recs[winner])
	if stored.Attrs["by"] != fmt.Sprint(winner) {
		t.Fatalf("stored by %q, winner was %d", stored.Attrs["by"], winner)
	}
	for i, err := range errs {
		if i == winner {
			continue
		}
		var cf *store.ConditionFailedError
		if !errors.As(err, &cf) {
			t.Fatalf("loser %d: %v, want *ConditionFailedError", i, err)
		}
		if cf.Current == nil {
			t.Fatalf("loser %d: Current is nil", i)
		}
		if d := diff(*cf.Current, stored); d != "" {
			t.Fatalf("loser %d saw a record other than the winner's:%s", i, d)
		}
	}
}

// testRaceMixed races writers that must succeed (each creates its own key) with
// writers whose condition must fail (a duplicate transition on one settled record):
// on a backend that groups concurrent writes, a refused write must neither fail nor
// undo the others, and every refused write must see the settled record.
func testRaceMixed(t *testing.T, s store.Store, n int) {
	settled := mustPut(t, s, store.Record{Key: "settled", Attrs: map[string]string{"state": "SUCCESS"}}, store.Condition{})
	recs, errs := race(n, func(i int) (store.Record, error) {
		if i%2 == 1 {
			return s.Update(ctx(t), "settled", store.Change{Set: map[string]string{"state": "SUCCESS", "by": fmt.Sprint(i)}},
				store.Condition{Attrs: []store.AttrTest{store.AttrIn("state", "NOTPAY")}})
		}
		return s.Put(ctx(t), store.Record{Key: fmt.Sprint("own/", i), Attrs: map[string]string{"by": fmt.Sprint(i)}, Pending: "p", PendingSince: base}, store.Condition{Absent: true})
	})
	var own []string
	for i, err := range errs {
		if i%2 == 1 {
			wantCondFailed(t, err, &settled)
			continue
		}
		if err != nil {
			t.Fatalf("writer %d (own key): %v", i, err)
		}
		want := store.Record{Key: fmt.Sprint("own/", i), Version: 1, Attrs: map[string]string{"by": fmt.Sprint(i)}, Pending: "p", PendingSince: base}
		wantRecord(t, recs[i], want)
		wantRecord(t, mustGet(t, s, want.Key), want)
		own = append(own, want.Key)
	}
	wantRecord(t, mustGet(t, s, "settled"), settled)
	slices.Sort(own)
	wantIndex(t, s, "p", own...)
}

// testRaceSerial races unconditional updates of one record: every write succeeds and
// sees the one before it, so the versions returned are exactly 2..n+1 and the stored
// record is the one returned with the highest.
func testRaceSerial(t *testing.T, s store.Store, n int) {
	mustPut(t, s, store.Record{Key: "serial"}, store.Condition{})
	recs, errs := race(n, func(i int) (store.Record, error) {
		return s.Update(ctx(t), "serial", store.Change{Set: map[string]string{"last": fmt.Sprint(i), fmt.Sprint("w", i): "1"}}, store.Condition{Exists: true})
	})
	seen := make(map[int64]int)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("writer %d: %v", i, err)
		}
		if j, dup := seen[recs[i].Version]; dup {
			t.Fatalf("writers %d and %d both got version %d", j, i, recs[i].Version)
		}
		seen[recs[i].Version] = i
		// Each writer's result holds its own attribute and those of exactly the writers
		// before it: version v carries v-1 attributes w*, plus "last".
		if got := len(recs[i].Attrs) - 1; int64(got) != recs[i].Version-1 || recs[i].Attrs["last"] != fmt.Sprint(i) {
			t.Fatalf("writer %d: version %d with %d writer attributes, last=%q", i, recs[i].Version, got, recs[i].Attrs["last"])
		}
	}
	for v := int64(2); v <= int64(n)+1; v++ {
		if _, ok := seen[v]; !ok {
			t.Fatalf("no writer got version %d", v)
		}
	}
	wantRecord(t, mustGet(t, s, "serial"), recs[seen[int64(n)+1]])
}

// testRaceCompareAndSwap: n writers each add one to a counter with a read-modify-write
// loop (Update conditioned on the version read, retrying from the record a failed
// condition returns). No increment may be lost or counted twice.
func testRaceCompareAndSwap(t *testing.T, s store.Store, n int) {
	mustPut(t, s, store.Record{Key: "counter", Attrs: map[string]string{"n": "0"}}, store.Condition{})
	_, errs := race(n, func(i int) (store.Record, error) {
		cur, err := s.Get(ctx(t), "counter")
		if err != nil {
			return store.Record{}, err
		}
		for tries := 0; tries < 10*n; tries++ {
			v, err := strconv.Atoi(cur.Attrs["n"])
			if err != nil {
				return store.Record{}, err
			}
			rec, err := s.Update(ctx(t), "counter", store.Change{Set: map[string]string{"n": strconv.Itoa(v + 1)}}, store.Condition{Version: cur.Version})
			var cf *store.ConditionFailedError
			if !errors.As(err, &cf) {
				return rec, err
			}
			if cf.Current == nil || cf.Current.Version <= cur.Version {
				return store.Record{}, fmt.Errorf("writer %d: failed condition returned %+v after version %d", i, cf.Current, cur.Version)
			}
			cur = *cf.Current
		}
		return store.Record{}, fmt.Errorf("writer %d: no success in %d tries", i, 10*n)
	})
	for i, err := range errs {
		if err != nil {
			t.Fatalf("writer %d: %v", i, err)
		}
	}
	got := mustGet(t, s, "counter")
	if got.Attrs["n"] != strconv.Itoa(n) || got.Version != int64(n)+1 {
		t.Fatalf("counter = %s at version %d, want %d at version %d", got.Attrs["n"], got.Version, n, n+1)
	}
}
