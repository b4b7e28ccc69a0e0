package storetest

import (
	"errors"
	"fmt"
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
