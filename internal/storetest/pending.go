package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/paysls/wxpay/shared/store"
)

func list(t *testing.T, s store.Store, index string, opts store.ListOptions) store.Page {
	t.Helper()
	page, err := s.ListPending(ctx(t), index, opts)
	if err != nil {
		t.Fatalf("ListPending(%q): %v", index, err)
	}
	return page
}

// listAll pages through an index with the given page size, checking every cursor.
func listAll(t *testing.T, s store.Store, index string, opts store.ListOptions) []store.Record {
	t.Helper()
	var all []store.Record
	for pages := 0; ; pages++ {
		if pages > 10_000 {
			t.Fatal("ListPending never returned an empty cursor")
		}
		page := list(t, s, index, opts)
		if opts.Limit > 0 && len(page.Records) > opts.Limit {
			t.Fatalf("page of %d records exceeds limit %d", len(page.Records), opts.Limit)
		}
		all = append(all, page.Records...)
		if page.Cursor == "" {
			return all
		}
		opts.Cursor = page.Cursor
	}
}

func keys(recs []store.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.Key
	}
	return out
}

// wantIndex checks an index lists exactly keys, in order, with their pending fields.
func wantIndex(t *testing.T, s store.Store, index string, want ...string) {
	t.Helper()
	got := listAll(t, s, index, store.ListOptions{})
	if !slices.Equal(keys(got), want) && (len(got) > 0 || len(want) > 0) {
		t.Fatalf("index %q lists %q, want %q", index, keys(got), want)
	}
	for _, r := range got {
		if r.Pending != index {
			t.Fatalf("record %q listed in %q has Pending %q", r.Key, index, r.Pending)
		}
		wantRecord(t, r, mustGet(t, s, r.Key))
	}
}

func testPendingTransitions(t *testing.T, s store.Store) {
	mustPut(t, s, store.Record{Key: "n/1", Attrs: map[string]string{"state": "RECEIVED"}, Pending: "notify", PendingSince: base}, store.Condition{Absent: true})
	wantIndex(t, s, "notify", "n/1")
	wantIndex(t, s, "retry")

	// Move between indexes; PendingSince moves with it.
	later := base.Add(time.Minute)
	got := mustUpdate(t, s, "n/1", store.Change{Pending: ptr("retry"), PendingSince: later}, store.Condition{})
	if got.Pending != "retry" || !got.PendingSince.Equal(later) {
		t.Fatalf("after move: %+v", got)
	}
	wantIndex(t, s, "notify")
	wantIndex(t, s, "retry", "n/1")

	// An update that does not touch Pending keeps the record where it is.
	mustUpdate(t, s, "n/1", store.Change{Set: map[string]string{"tries": "1"}}, store.Condition{})
	wantIndex(t, s, "retry", "n/1")
	if r := mustGet(t, s, "n/1"); !r.PendingSince.Equal(later) {
		t.Fatalf("PendingSince changed to %v", r.PendingSince)
	}

	// Re-entering the same index with a new time re-orders it.
	mustPut(t, s, store.Record{Key: "n/2", Pending: "retry", PendingSince: base.Add(2 * time.Minute)}, store.Condition{})
	wantIndex(t, s, "retry", "n/1", "n/2")
	mustUpdate(t, s, "n/1", store.Change{Pending: ptr("retry"), PendingSince: base.Add(3 * time.Minute)}, store.Condition{})
	wantIndex(t, s, "retry", "n/2", "n/1")

	// Leave every index.
	got = mustUpdate(t, s, "n/1", store.Change{Pending: ptr("")}, store.Condition{})
	if got.Pending != "" || !got.PendingSince.IsZero() {
		t.Fatalf("after leaving: Pending %q PendingSince %v", got.Pending, got.PendingSince)
	}
	wantIndex(t, s, "retry", "n/2")

	// A failed write leaves the index alone.
	_, err := s.Update(ctx(t), "n/2", store.Change{Pending: ptr("")}, store.Condition{Version: 99})
	wantCondFailed(t, err, ptr(mustGet(t, s, "n/2")))
	wantIndex(t, s, "retry", "n/2")

	// Put replacing a pending record with a pending one in another index.
	mustPut(t, s, store.Record{Key: "n/2", Pending: "notify", PendingSince: base}, store.Condition{})
	wantIndex(t, s, "retry")
	wantIndex(t, s, "notify", "n/2")

	// Delete.
	if err := s.Delete(ctx(t), "n/2", store.Condition{}); err != nil {
		t.Fatal(err)
	}
	wantIndex(t, s, "notify")
}

func testListOrderAndBefore(t *testing.T, s store.Store) {
	// Written out of order; two share a PendingSince and order by key.
	offsets := map[string]time.Duration{"e": 5, "a": 3, "c": 1, "b": 3, "d": 4}
	for _, k := range []string{"e", "a", "c", "b", "d"} {
		mustPut(t, s, store.Record{Key: k, Pending: "p", PendingSince: base.Add(offsets[k] * time.Second)}, store.Condition{})
	}
	mustPut(t, s, store.Record{Key: "other", Pending: "q", PendingSince: base}, store.Condition{})
	mustPut(t, s, store.Record{Key: "none"}, store.Condition{})
	wantIndex(t, s, "p", "c", "a", "b", "d", "e")
	wantIndex(t, s, "q", "other")

	before := func(d time.Duration) []string {
		return keys(listAll(t, s, "p", store.ListOptions{Before: base.Add(d)}))
	}
	if got := before(3 * time.Second); !slices.Equal(got, []string{"c"}) {
		t.Fatalf("Before +3s = %q, want [c] (strictly before)", got)
	}
	if got := before(3*time.Second + time.Microsecond); !slices.Equal(got, []string{"c", "a", "b"}) {
		t.Fatalf("Before +3.000001s = %q", got)
	}
	if got := before(0); len(got) != 0 {
		t.Fatalf("Before base = %q, want none", got)
	}
	if got := keys(listAll(t, s, "p", store.ListOptions{Before: base.Add(time.Hour), Limit: 2})); !slices.Equal(got, []string{"c", "a", "b", "d", "e"}) {
		t.Fatalf("paged with Before = %q", got)
	}
	// A pre-1970 time sorts first.
	mustPut(t, s, store.Record{Key: "old", Pending: "p", PendingSince: time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC)}, store.Condition{})
	wantIndex(t, s, "p", "old", "c", "a", "b", "d", "e")
	if _, err := s.ListPending(ctx(t), "p", store.ListOptions{Cursor: "garbage!"}); err == nil {
		t.Fatal("a malformed cursor was accepted")
	}
}

func testListPagination(t *testing.T, s store.Store) {
	const n = 57
	var want []string
	for i := range n {
		k := fmt.Sprintf("r/%03d", i)
		// Pairs share a PendingSince, so pages break inside runs of equal times.
		mustPut(t, s, store.Record{Key: k, Attrs: map[string]string{"i": fmt.Sprint(i)}, Pending: "p", PendingSince: base.Add(time.Duration(i/2) * time.Second)}, store.Condition{})
		want = append(want, k)
	}
	for _, limit := range []int{1, 2, 5, 10, 56, 57, 58, 0} {
		got := keys(listAll(t, s, "p", store.ListOptions{Limit: limit}))
		if !slices.Equal(got, want) {
			t.Fatalf("limit %d: listed %d records %q, want %d in order", limit, len(got), got, n)
		}
	}
	// A cursor survives writes elsewhere in the index: records changed behind it are
	// not listed again; records still ahead are.
	first := list(t, s, "p", store.ListOptions{Limit: 10})
	mustUpdate(t, s, "r/003", store.Change{Pending: ptr("")}, store.Condition{})
	mustUpdate(t, s, "r/040", store.Change{Pending: ptr("")}, store.Condition{})
	rest := keys(listAll(t, s, "p", store.ListOptions{Limit: 10, Cursor: first.Cursor}))
	wantRest := slices.DeleteFunc(slices.Clone(want[10:]), func(k string) bool { return k == "r/040" })
	if !slices.Equal(rest, wantRest) {
		t.Fatalf("after cursor: %q, want %q", rest, wantRest)
	}
}

func testListOnlyPending(t *testing.T, s store.Store, bulk int) {
	// The cost claim itself (only pending records are read) is checked by each
	// backend's round-trip and index tests; here a large non-pending population must
	// neither show up nor hide the pending few.
	bulkPut(t, s, bulk)
	for i := range 5 {
		mustPut(t, s, store.Record{Key: fmt.Sprintf("pending/%d", i), Pending: "p", PendingSince: base.Add(time.Duration(i) * time.Second)}, store.Condition{})
	}
	page := list(t, s, "p", store.ListOptions{Limit: 5})
	if got := keys(page.Records); !slices.Equal(got, []string{"pending/0", "pending/1", "pending/2", "pending/3", "pending/4"}) {
		t.Fatalf("listed %q", got)
	}
	if page.Cursor != "" {
		// Allowed by the contract only if the next page is empty.
		if next := list(t, s, "p", store.ListOptions{Cursor: page.Cursor}); len(next.Records) != 0 {
			t.Fatalf("next page has %d records", len(next.Records))
		}
	}
}

// bulkPut writes n plain records with a few concurrent writers.
func bulkPut(t *testing.T, s store.Store, n int) {
	t.Helper()
	const writers = 8
	errs := make(chan error, writers)
	for w := range writers {
		go func() {
			for i := w; i < n; i += writers {
				if _, err := s.Put(ctx(t), store.Record{Key: fmt.Sprintf("bulk/%06d", i), Attrs: map[string]string{"state": "CLOSED"}}, store.Condition{}); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range writers {
		if err := <-errs; err != nil {
			t.Fatalf("bulk put: %v", err)
		}
	}
}
