package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/paysls/wxpay/shared/store"
)

func testBasics(t *testing.T, s store.Store) {
	wantNotFound(t, s, "order/1")
	in := store.Record{
		Key:          "order/1",
		Attrs:        map[string]string{"state": "NOTPAY", "amount": "100"},
		Version:      42, // ignored on write
		Pending:      "unpaid",
		PendingSince: base,
		ExpiresAt:    time.Now().Add(time.Hour).Truncate(time.Millisecond),
	}
	got := mustPut(t, s, in, store.Condition{Absent: true})
	want := in
	want.Version = 1
	wantRecord(t, got, want)
	wantRecord(t, mustGet(t, s, "order/1"), want)

	got = mustUpdate(t, s, "order/1", store.Change{
		Set:    map[string]string{"state": "SUCCESS", "txn": "4200001"},
		Remove: []string{"amount"},
	}, store.Condition{Attrs: []store.AttrTest{store.AttrIn("state", "NOTPAY", "USERPAYING")}})
	want.Version = 2
	want.Attrs = map[string]string{"state": "SUCCESS", "txn": "4200001"}
	wantRecord(t, got, want)
	wantRecord(t, mustGet(t, s, "order/1"), want)

	// Set wins over Remove for the same name.
	got = mustUpdate(t, s, "order/1", store.Change{
		Set:    map[string]string{"note": "x"},
		Remove: []string{"note", "missing"},
	}, store.Condition{Version: 2})
	want.Version = 3
	want.Attrs["note"] = "x"
	wantRecord(t, got, want)
	wantRecord(t, mustGet(t, s, "order/1"), want)

	// An empty change still bumps the version (it is a write).
	got = mustUpdate(t, s, "order/1", store.Change{}, store.Condition{Exists: true})
	want.Version = 4
	wantRecord(t, got, want)

	// A record without attributes round-trips.
	got = mustPut(t, s, store.Record{Key: "bare"}, store.Condition{})
	wantRecord(t, got, store.Record{Key: "bare", Version: 1})
	wantRecord(t, mustGet(t, s, "bare"), store.Record{Key: "bare", Version: 1})
}

func testPutReplacesWhole(t *testing.T, s store.Store) {
	mustPut(t, s, store.Record{
		Key: "k", Attrs: map[string]string{"a": "1", "b": "2"},
		Pending: "p", PendingSince: base, ExpiresAt: time.Now().Add(time.Hour),
	}, store.Condition{})
	got := mustPut(t, s, store.Record{Key: "k", Attrs: map[string]string{"c": "3"}}, store.Condition{})
	want := store.Record{Key: "k", Version: 2, Attrs: map[string]string{"c": "3"}}
	wantRecord(t, got, want)
	wantRecord(t, mustGet(t, s, "k"), want)
	if page := list(t, s, "p", store.ListOptions{}); len(page.Records) != 0 {
		t.Fatalf("replaced record still listed: %+v", page.Records)
	}
}

func testUpdateAbsent(t *testing.T, s store.Store) {
	for _, cond := range []store.Condition{{}, {Exists: true}, {Attrs: []store.AttrTest{store.AttrIn("state", "")}}} {
		_, err := s.Update(ctx(t), "nope", store.Change{Set: map[string]string{"a": "1"}}, cond)
		wantCondFailed(t, err, nil)
	}
	wantNotFound(t, s, "nope")
}

func testDelete(t *testing.T, s store.Store) {
	if err := s.Delete(ctx(t), "absent", store.Condition{}); err != nil {
		t.Fatalf("Delete(absent) = %v, want nil", err)
	}
	wantCondFailed(t, s.Delete(ctx(t), "absent", store.Condition{Exists: true}), nil)

	rec := mustPut(t, s, store.Record{Key: "d", Attrs: map[string]string{"state": "A"}, Pending: "p", PendingSince: base}, store.Condition{})
	wantCondFailed(t, s.Delete(ctx(t), "d", store.Condition{Version: 7}), &rec)
	wantCondFailed(t, s.Delete(ctx(t), "d", store.Condition{Attrs: []store.AttrTest{store.AttrIn("state", "B")}}), &rec)
	wantRecord(t, mustGet(t, s, "d"), rec)
	if err := s.Delete(ctx(t), "d", store.Condition{Version: 1, Attrs: []store.AttrTest{store.AttrIn("state", "A")}}); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	wantNotFound(t, s, "d")
	if page := list(t, s, "p", store.ListOptions{}); len(page.Records) != 0 {
		t.Fatalf("deleted record still listed: %+v", page.Records)
	}
	// Re-created after a delete, a record starts over at version 1.
	got := mustPut(t, s, store.Record{Key: "d"}, store.Condition{Absent: true})
	if got.Version != 1 {
		t.Fatalf("re-created version = %d, want 1", got.Version)
	}
}

func testConditions(t *testing.T, s store.Store) {
	in := func(name string, values ...string) store.Condition {
		return store.Condition{Attrs: []store.AttrTest{store.AttrIn(name, values...)}}
	}
	cases := []struct {
		name string
		cond store.Condition
		ok   bool
	}{
		{"zero", store.Condition{}, true},
		{"absent", store.Condition{Absent: true}, false},
		{"exists", store.Condition{Exists: true}, true},
		{"version match", store.Condition{Version: 1}, true},
		{"version mismatch", store.Condition{Version: 2}, false},
		{"attr in", in("state", "USERPAYING", "NOTPAY"), true},
		{"attr not in", in("state", "SUCCESS"), false},
		{"empty matches unset", in("refund", ""), true},
		{"empty or value, unset", in("refund", "", "FULL"), true},
		{"value only, unset", in("refund", "FULL"), false},
		{"empty does not match set", in("state", ""), false},
		{"all must hold", store.Condition{Exists: true, Version: 1, Attrs: []store.AttrTest{store.AttrIn("state", "NOTPAY"), store.AttrIn("kind", "native")}}, false},
		{"all hold", store.Condition{Exists: true, Version: 1, Attrs: []store.AttrTest{store.AttrIn("state", "NOTPAY"), store.AttrIn("kind", "jsapi")}}, true},
		{"absent and exists", store.Condition{Absent: true, Exists: true}, false},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			key := fmt.Sprintf("c/%d", i)
			cur := mustPut(t, s, store.Record{Key: key, Attrs: map[string]string{"state": "NOTPAY", "kind": "jsapi"}}, store.Condition{})
			// store.Condition.Holds is the reference semantics; the backend must agree.
			if got := tc.cond.Holds(&cur, time.Now()); got != tc.ok {
				t.Fatalf("Condition.Holds = %v, want %v", got, tc.ok)
			}
			if !tc.ok {
				_, err := s.Update(ctx(t), key, store.Change{Set: map[string]string{"seen": "1"}}, tc.cond)
				wantCondFailed(t, err, &cur)
				_, err = s.Put(ctx(t), store.Record{Key: key, Attrs: map[string]string{"state": "X"}}, tc.cond)
				wantCondFailed(t, err, &cur)
				wantCondFailed(t, s.Delete(ctx(t), key, tc.cond), &cur)
				wantRecord(t, mustGet(t, s, key), cur)
				return
			}
			next := mustUpdate(t, s, key, store.Change{Set: map[string]string{"seen": "1"}}, tc.cond)
			if next.Version != 2 || next.Attrs["seen"] != "1" {
				t.Fatalf("Update = %+v", next)
			}
			// Same condition for Put and Delete, from the same starting point.
			mustPut(t, s, store.Record{Key: key, Attrs: cur.Attrs}, store.Condition{Version: 2})
			mustPut(t, s, store.Record{Key: key + "/p", Attrs: cur.Attrs}, store.Condition{})
			if _, err := s.Put(ctx(t), store.Record{Key: key + "/p", Attrs: map[string]string{"state": "X"}}, tc.cond); err != nil {
				t.Fatalf("Put: %v", err)
			}
			mustPut(t, s, store.Record{Key: key + "/d", Attrs: cur.Attrs}, store.Condition{})
			if err := s.Delete(ctx(t), key+"/d", tc.cond); err != nil {
				t.Fatalf("Delete: %v", err)
			}
			wantNotFound(t, s, key+"/d")
		})
	}
	// A test on an absent record fails, even one that lists "".
	_, err := s.Put(ctx(t), store.Record{Key: "absent"}, in("state", ""))
	wantCondFailed(t, err, nil)
	_, err = s.Put(ctx(t), store.Record{Key: "absent"}, store.Condition{Version: 1})
	wantCondFailed(t, err, nil)
	_, err = s.Put(ctx(t), store.Record{Key: "absent"}, store.Condition{Exists: true})
	wantCondFailed(t, err, nil)
	wantNotFound(t, s, "absent")
	if !errors.Is(s.Delete(ctx(t), "absent", in("state", "")), store.ErrConditionFailed) {
		t.Fatal("Delete(absent) with an attribute test did not fail")
	}
}

func testFailedConditionReturnsWinner(t *testing.T, s store.Store) {
	winner := mustPut(t, s, store.Record{Key: "w", Attrs: map[string]string{"by": "winner"}, Pending: "p", PendingSince: base}, store.Condition{Absent: true})
	winner = mustUpdate(t, s, "w", store.Change{Set: map[string]string{"state": "SUCCESS"}}, store.Condition{})
	_, err := s.Put(ctx(t), store.Record{Key: "w", Attrs: map[string]string{"by": "loser"}}, store.Condition{Absent: true})
	cf := wantCondFailed(t, err, &winner)
	if cf.Key != "w" || cf.Current.Version != 2 {
		t.Fatalf("ConditionFailedError = %+v", cf)
	}
	// The duplicate-notification shape: the transition already happened.
	_, err = s.Update(ctx(t), "w", store.Change{Set: map[string]string{"state": "SUCCESS"}}, store.Condition{Attrs: []store.AttrTest{store.AttrIn("state", "", "NOTPAY")}})
	wantCondFailed(t, err, &winner)
}
