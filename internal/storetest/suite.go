// Package storetest is the conformance suite every store.Store backend runs against a
// real server, so the backends behave the same to their callers.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/paysls/wxpay/shared/store"
)

// Options scales the suite for slower backends.
type Options struct {
	// Bulk is how many non-pending records the ListPending cost test writes next to
	// the pending ones (default 10,000).
	Bulk int
	// Racers is how many goroutines race one key (default 32; RacePutIfAbsentMany
	// uses twice as many).
	Racers int
	// UpdateSizeUnchecked skips the check that an Update growing a record past the
	// size limit fails: a backend enforcing the limit server-side on a test double that
	// does not emulate it (DynamoDB's 400 KB item limit under moto) sets it.
	UpdateSizeUnchecked bool
}

// Run runs the suite. open must return a fresh, empty store (or namespace) per call;
// the suite closes it when the subtest ends.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	RunWith(t, Options{}, open)
}

// RunWith is Run with options.
func RunWith(t *testing.T, o Options, open func(t *testing.T) store.Store) {
	if o.Bulk == 0 {
		o.Bulk = 10_000
	}
	if o.Racers == 0 {
		o.Racers = 32
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Basics", testBasics},
		{"PutReplacesWhole", testPutReplacesWhole},
		{"UpdateAbsent", testUpdateAbsent},
		{"Delete", testDelete},
		{"Conditions", testConditions},
		{"FailedConditionReturnsWinner", testFailedConditionReturnsWinner},
		{"RacePutIfAbsent", func(t *testing.T, s store.Store) { testRacePutIfAbsent(t, s, o.Racers) }},
		{"RaceUpdateVersion", func(t *testing.T, s store.Store) { testRaceUpdateVersion(t, s, o.Racers) }},
		{"RacePutIfAbsentMany", func(t *testing.T, s store.Store) { testRacePutIfAbsent(t, s, 2*o.Racers) }},
		{"RaceMixed", func(t *testing.T, s store.Store) { testRaceMixed(t, s, o.Racers) }},
		{"RaceSerial", func(t *testing.T, s store.Store) { testRaceSerial(t, s, o.Racers) }},
		{"RaceCompareAndSwap", func(t *testing.T, s store.Store) { testRaceCompareAndSwap(t, s, o.Racers) }},
		{"PendingTransitions", testPendingTransitions},
		{"ListOrderAndBefore", testListOrderAndBefore},
		{"ListPagination", testListPagination},
		{"ListOnlyPending", func(t *testing.T, s store.Store) { testListOnlyPending(t, s, o.Bulk) }},
		{"TTLPast", testTTLPast},
		{"TTLLapse", testTTLLapse},
		{"TTLUpdate", testTTLUpdate},
		{"Validation", testValidation},
		{"LargeValue", func(t *testing.T, s store.Store) { testLargeValue(t, s, !o.UpdateSizeUnchecked) }},
		{"BinaryValues", testBinaryValues},
		{"EmptyValues", testEmptyValues},
		{"Normalization", testNormalization},
		{"ContextCanceled", testContextCanceled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tc.fn(t, s)
		})
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

func mustPut(t *testing.T, s store.Store, rec store.Record, cond store.Condition) store.Record {
	t.Helper()
	got, err := s.Put(ctx(t), rec, cond)
	if err != nil {
		t.Fatalf("Put(%q): %v", rec.Key, err)
	}
	return got
}

func mustUpdate(t *testing.T, s store.Store, key string, ch store.Change, cond store.Condition) store.Record {
	t.Helper()
	got, err := s.Update(ctx(t), key, ch, cond)
	if err != nil {
		t.Fatalf("Update(%q): %v", key, err)
	}
	return got
}

func mustGet(t *testing.T, s store.Store, key string) store.Record {
	t.Helper()
	got, err := s.Get(ctx(t), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return got
}

func wantNotFound(t *testing.T, s store.Store, key string) {
	t.Helper()
	_, err := s.Get(ctx(t), key)
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get(%q) = %v, want ErrNotFound", key, err)
	}
	if errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrConditionFailed) {
		t.Fatalf("Get(%q) error %v matches more than ErrNotFound", key, err)
	}
}

// wantCondFailed checks err is a *ConditionFailedError whose Current is want (nil =
// absent) and returns it.
func wantCondFailed(t *testing.T, err error, want *store.Record) *store.ConditionFailedError {
	t.Helper()
	var cf *store.ConditionFailedError
	if !errors.As(err, &cf) || !errors.Is(err, store.ErrConditionFailed) {
		t.Fatalf("error = %v, want *ConditionFailedError", err)
	}
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("condition failure %v also matches ErrNotFound/ErrUnavailable", err)
	}
	switch {
	case want == nil && cf.Current != nil:
		t.Fatalf("Current = %+v, want nil (absent)", *cf.Current)
	case want != nil && cf.Current == nil:
		t.Fatalf("Current = nil, want %+v", *want)
	case want != nil:
		if d := diff(*cf.Current, *want); d != "" {
			t.Fatalf("Current differs: %s", d)
		}
	}
	return cf
}

// diff describes how two records differ ("" when equal); nil and empty Attrs are equal.
func diff(got, want store.Record) string {
	var d string
	if got.Key != want.Key {
		d += fmt.Sprintf(" key %q != %q;", got.Key, want.Key)
	}
	if got.Version != want.Version {
		d += fmt.Sprintf(" version %d != %d;", got.Version, want.Version)
	}
	if !maps.Equal(got.Attrs, want.Attrs) && (len(got.Attrs) > 0 || len(want.Attrs) > 0) {
		d += fmt.Sprintf(" attrs %s != %s;", short(got.Attrs), short(want.Attrs))
	}
	if got.Pending != want.Pending {
		d += fmt.Sprintf(" pending %q != %q;", got.Pending, want.Pending)
	}
	if !got.PendingSince.Equal(want.PendingSince) {
		d += fmt.Sprintf(" pending_since %v != %v;", got.PendingSince, want.PendingSince)
	}
	if !got.ExpiresAt.Equal(want.ExpiresAt) {
		d += fmt.Sprintf(" expires_at %v != %v;", got.ExpiresAt, want.ExpiresAt)
	}
	return d
}

// short prints attributes without flooding the log with large values.
func short(attrs map[string]string) string {
	out := "{"
	for k, v := range attrs {
		if len(v) > 40 {
			v = fmt.Sprintf("%.40q…(%d bytes)", v, len(v))
		} else {
			v = fmt.Sprintf("%q", v)
		}
		out += k + ":" + v + " "
	}
	return out + "}"
}

func wantRecord(t *testing.T, got, want store.Record) {
	t.Helper()
	if d := diff(got, want); d != "" {
		t.Fatalf("record %q differs:%s", want.Key, d)
	}
}

func ptr[T any](v T) *T { return &v }

// base is a fixed past instant: pending times are data, never compared to the clock.
var base = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
