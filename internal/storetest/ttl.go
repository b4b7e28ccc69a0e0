package storetest

import (
	"testing"
	"time"

	"github.com/paysls/wxpay/shared/store"
)

// testTTLPast uses expiry instants already past, so no waiting is needed.
func testTTLPast(t *testing.T, s store.Store) {
	past := time.Now().Add(-time.Minute)
	mustPut(t, s, store.Record{Key: "gone", Attrs: map[string]string{"a": "1"}, Pending: "p", PendingSince: base, ExpiresAt: past}, store.Condition{})
	wantNotFound(t, s, "gone")
	wantIndex(t, s, "p")

	// An expired record is absent to every condition.
	_, err := s.Update(ctx(t), "gone", store.Change{Set: map[string]string{"a": "2"}}, store.Condition{})
	wantCondFailed(t, err, nil)
	wantCondFailed(t, s.Delete(ctx(t), "gone", store.Condition{Exists: true}), nil)
	_, err = s.Put(ctx(t), store.Record{Key: "gone"}, store.Condition{Version: 1})
	wantCondFailed(t, err, nil)
	if err := s.Delete(ctx(t), "gone", store.Condition{}); err != nil {
		t.Fatalf("Delete(expired) = %v", err)
	}

	// Put-if-absent over an expired record succeeds and starts at version 1.
	mustPut(t, s, store.Record{Key: "again", Attrs: map[string]string{"old": "1"}, Pending: "p", PendingSince: base, ExpiresAt: past}, store.Condition{})
	got := mustPut(t, s, store.Record{Key: "again", Attrs: map[string]string{"new": "1"}}, store.Condition{Absent: true})
	want := store.Record{Key: "again", Version: 1, Attrs: map[string]string{"new": "1"}}
	wantRecord(t, got, want)
	wantRecord(t, mustGet(t, s, "again"), want)
	wantIndex(t, s, "p")
}

// testTTLLapse lets a live record expire while the test waits.
func testTTLLapse(t *testing.T, s store.Store) {
	exp := time.Now().Add(1500 * time.Millisecond)
	rec := mustPut(t, s, store.Record{Key: "brief", Pending: "p", PendingSince: base, ExpiresAt: exp}, store.Condition{})
	mustPut(t, s, store.Record{Key: "stays", Pending: "p", PendingSince: base.Add(time.Second)}, store.Condition{})
	wantRecord(t, mustGet(t, s, "brief"), rec)
	wantIndex(t, s, "p", "brief", "stays")
	time.Sleep(time.Until(exp) + 100*time.Millisecond)
	wantNotFound(t, s, "brief")
	wantIndex(t, s, "p", "stays")
	got := mustPut(t, s, store.Record{Key: "brief"}, store.Condition{Absent: true})
	if got.Version != 1 {
		t.Fatalf("re-created version = %d, want 1", got.Version)
	}
}

func testTTLUpdate(t *testing.T, s store.Store) {
	mustPut(t, s, store.Record{Key: "k"}, store.Condition{})
	exp := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	got := mustUpdate(t, s, "k", store.Change{ExpiresAt: &exp}, store.Condition{})
	if !got.ExpiresAt.Equal(exp) {
		t.Fatalf("ExpiresAt = %v, want %v", got.ExpiresAt, exp)
	}
	wantRecord(t, mustGet(t, s, "k"), got)
	got = mustUpdate(t, s, "k", store.Change{ExpiresAt: &time.Time{}}, store.Condition{})
	if !got.ExpiresAt.IsZero() {
		t.Fatalf("cleared ExpiresAt = %v", got.ExpiresAt)
	}
	wantRecord(t, mustGet(t, s, "k"), got)
	// Expiring through Update makes the record absent at once.
	past := time.Now().Add(-time.Second)
	mustUpdate(t, s, "k", store.Change{ExpiresAt: &past}, store.Condition{})
	wantNotFound(t, s, "k")
}
