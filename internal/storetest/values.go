package storetest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/paysls/wxpay/shared/clock"
	"github.com/paysls/wxpay/shared/store"
)

func testValidation(t *testing.T, s store.Store) {
	orig := mustPut(t, s, store.Record{Key: "v", Attrs: map[string]string{"state": "A"}}, store.Condition{})
	big := strings.Repeat("x", store.MaxRecordSize)
	puts := map[string]store.Record{
		"bad attr":      {Key: "v", Attrs: map[string]string{"State": "B"}},
		"reserved attr": {Key: "v", Attrs: map[string]string{"version": "9"}},
		"empty key":     {Key: "", Attrs: map[string]string{"state": "B"}},
		"long key":      {Key: strings.Repeat("k", 1025)},
		"binary key":    {Key: "k\xff"},
		"bad index":     {Key: "v", Pending: "Not Valid", PendingSince: base},
		"too large":     {Key: "v", Attrs: map[string]string{"doc": big}},
	}
	for name, rec := range puts {
		if _, err := s.Put(ctx(t), rec, store.Condition{}); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("Put %s: %v, want ErrInvalid", name, err)
		}
	}
	if _, err := s.Put(ctx(t), store.Record{Key: "v"}, store.Condition{Attrs: []store.AttrTest{{Name: "state"}}}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("Put with empty AttrTest: %v, want ErrInvalid", err)
	}
	changes := map[string]store.Change{
		"bad set":    {Set: map[string]string{"ok": "1", "Bad-Name": "2"}},
		"bad remove": {Remove: []string{"pending"}},
		"bad index":  {Pending: ptr("x y")},
		"too large":  {Set: map[string]string{"doc": big}},
	}
	for name, ch := range changes {
		if _, err := s.Update(ctx(t), "v", ch, store.Condition{}); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("Update %s: %v, want ErrInvalid", name, err)
		}
	}
	if _, err := s.Update(ctx(t), "v", store.Change{}, store.Condition{Attrs: []store.AttrTest{store.AttrIn("9bad", "x")}}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("Update with bad condition: %v, want ErrInvalid", err)
	}
	if _, err := s.ListPending(ctx(t), "Bad Index", store.ListOptions{}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("ListPending bad index: %v, want ErrInvalid", err)
	}
	if err := s.Delete(ctx(t), "", store.Condition{}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("Delete empty key: %v, want ErrInvalid", err)
	}
	wantRecord(t, mustGet(t, s, "v"), orig)
}

func testLargeValue(t *testing.T, s store.Store, growthChecked bool) {
	doc := strings.Repeat("0123456789abcdef", 350<<10/16) // 350 KiB
	rec := mustPut(t, s, store.Record{Key: "big", Attrs: map[string]string{"doc": doc, "state": "A"}}, store.Condition{})
	if got := mustGet(t, s, "big"); got.Attrs["doc"] != doc || got.Version != 1 {
		t.Fatalf("350 KiB value did not round-trip (got %d bytes)", len(got.Attrs["doc"]))
	}
	// A condition failure on a large record still carries it whole.
	_, err := s.Put(ctx(t), store.Record{Key: "big"}, store.Condition{Absent: true})
	wantCondFailed(t, err, &rec)
	if !growthChecked {
		return
	}
	// Growing a record past the limit (and past DynamoDB's 400 KB) through Update
	// fails and changes nothing.
	_, err = s.Update(ctx(t), "big", store.Change{Set: map[string]string{"more": strings.Repeat("y", 100<<10)}}, store.Condition{})
	if err == nil || errors.Is(err, store.ErrConditionFailed) || errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Update past the size limit: %v, want an error", err)
	}
	wantRecord(t, mustGet(t, s, "big"), rec)
}

func testBinaryValues(t *testing.T, s store.Store) {
	var all []byte
	for i := range 256 {
		all = append(all, byte(i))
	}
	vals := map[string]string{
		"bytes":   string(all),
		"invalid": "\xff\xfe\x00tail\xc3",
		"nul":     "\x00",
		"unicode": "微信支付 ✓ 🚀 e\u0301",
		"newline": "a\nb\r\n",
		"percent": "%s %d \\ \" ' ${x}",
	}
	rec := mustPut(t, s, store.Record{Key: "键/\x00/bin", Attrs: vals}, store.Condition{Absent: true})
	wantRecord(t, mustGet(t, s, "键/\x00/bin"), rec)
	// Conditions compare binary values byte for byte.
	got := mustUpdate(t, s, "键/\x00/bin", store.Change{Set: map[string]string{"invalid": "\xff"}},
		store.Condition{Attrs: []store.AttrTest{store.AttrIn("invalid", "x", vals["invalid"]), store.AttrIn("unicode", vals["unicode"])}})
	_, err := s.Update(ctx(t), "键/\x00/bin", store.Change{}, store.Condition{Attrs: []store.AttrTest{store.AttrIn("invalid", "\xfe")}})
	wantCondFailed(t, err, &got)
	wantRecord(t, mustGet(t, s, "键/\x00/bin"), got)
}

func testEmptyValues(t *testing.T, s store.Store) {
	// An attribute set to "" is stored (it is listed in Attrs) and matches "".
	rec := mustPut(t, s, store.Record{Key: "e", Attrs: map[string]string{"note": ""}}, store.Condition{})
	wantRecord(t, mustGet(t, s, "e"), rec)
	got := mustUpdate(t, s, "e", store.Change{Set: map[string]string{"other": ""}}, store.Condition{Attrs: []store.AttrTest{store.AttrIn("note", "")}})
	if v, ok := got.Attrs["other"]; !ok || v != "" {
		t.Fatalf("Attrs = %q", got.Attrs)
	}
	wantRecord(t, mustGet(t, s, "e"), got)
}

func testNormalization(t *testing.T, s store.Store) {
	since := time.Date(2024, 5, 6, 7, 8, 9, 123456789, clock.CST)
	exp := time.Now().Add(time.Hour)
	got := mustPut(t, s, store.Record{Key: "n", Pending: "p", PendingSince: since, ExpiresAt: exp}, store.Condition{})
	if !got.PendingSince.Equal(since.Truncate(time.Microsecond)) {
		t.Fatalf("PendingSince = %v, want %v at µs precision", got.PendingSince, since)
	}
	if !got.ExpiresAt.Equal(exp.Truncate(time.Millisecond)) {
		t.Fatalf("ExpiresAt = %v, want %v at ms precision", got.ExpiresAt, exp)
	}
	wantRecord(t, mustGet(t, s, "n"), got)
	// A pending record without PendingSince is pending since now.
	before := time.Now().Add(-time.Second)
	got = mustPut(t, s, store.Record{Key: "n2", Pending: "p"}, store.Condition{})
	if got.PendingSince.Before(before) || got.PendingSince.After(time.Now().Add(time.Second)) {
		t.Fatalf("PendingSince = %v, want about now", got.PendingSince)
	}
	wantRecord(t, mustGet(t, s, "n2"), got)
	// PendingSince without Pending is dropped.
	got = mustPut(t, s, store.Record{Key: "n3", PendingSince: since}, store.Condition{})
	if !got.PendingSince.IsZero() {
		t.Fatalf("PendingSince = %v for a record in no index", got.PendingSince)
	}
}

func testContextCanceled(t *testing.T, s store.Store) {
	mustPut(t, s, store.Record{Key: "c", Pending: "p", PendingSince: base}, store.Condition{})
	c, cancel := context.WithCancel(context.Background())
	cancel()
	check := func(op string, err error) {
		t.Helper()
		if err == nil {
			t.Fatalf("%s with a canceled context succeeded", op)
		}
		if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConditionFailed) {
			t.Fatalf("%s with a canceled context: %v looks like an answer", op, err)
		}
		if !errors.Is(err, context.Canceled) && !errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("%s: %v, want context.Canceled or ErrUnavailable", op, err)
		}
	}
	_, err := s.Get(c, "c")
	check("Get", err)
	_, err = s.Get(c, "absent")
	check("Get(absent)", err)
	_, err = s.Put(c, store.Record{Key: "c2"}, store.Condition{})
	check("Put", err)
	_, err = s.Update(c, "c", store.Change{Set: map[string]string{"a": "1"}}, store.Condition{})
	check("Update", err)
	check("Delete", s.Delete(c, "c", store.Condition{}))
	_, err = s.ListPending(c, "p", store.ListOptions{})
	check("ListPending", err)
	// Nothing happened.
	wantRecord(t, mustGet(t, s, "c"), store.Record{Key: "c", Version: 1, Pending: "p", PendingSince: base})
	wantNotFound(t, s, "c2")
}
