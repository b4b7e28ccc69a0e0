package store

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestConditionHolds(t *testing.T) {
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	rec := &Record{Key: "k", Version: 3, Attrs: map[string]string{"state": "NOTPAY", "empty": ""}}
	expired := &Record{Key: "k", Version: 3, Attrs: rec.Attrs, ExpiresAt: now}
	live := &Record{Key: "k", Version: 3, Attrs: rec.Attrs, ExpiresAt: now.Add(time.Millisecond)}
	cases := []struct {
		name string
		c    Condition
		rec  *Record
		want bool
	}{
		{"zero/absent", Condition{}, nil, true},
		{"zero/present", Condition{}, rec, true},
		{"absent/absent", Condition{Absent: true}, nil, true},
		{"absent/present", Condition{Absent: true}, rec, false},
		{"absent/expired", Condition{Absent: true}, expired, true},
		{"absent/not yet expired", Condition{Absent: true}, live, false},
		{"exists/absent", Condition{Exists: true}, nil, false},
		{"exists/expired", Condition{Exists: true}, expired, false},
		{"exists/present", Condition{Exists: true}, rec, true},
		{"version/match", Condition{Version: 3}, rec, true},
		{"version/mismatch", Condition{Version: 2}, rec, false},
		{"version/absent", Condition{Version: 3}, nil, false},
		{"attr/in", Condition{Attrs: []AttrTest{AttrIn("state", "A", "NOTPAY")}}, rec, true},
		{"attr/not in", Condition{Attrs: []AttrTest{AttrIn("state", "A")}}, rec, false},
		{"attr/empty matches unset", Condition{Attrs: []AttrTest{AttrIn("nope", "")}}, rec, true},
		{"attr/empty matches empty", Condition{Attrs: []AttrTest{AttrIn("empty", "")}}, rec, true},
		{"attr/empty vs set", Condition{Attrs: []AttrTest{AttrIn("state", "")}}, rec, false},
		{"attr/absent record", Condition{Attrs: []AttrTest{AttrIn("state", "")}}, nil, false},
		{"attr/no values", Condition{Attrs: []AttrTest{{Name: "state"}}}, rec, false},
		{"all/one fails", Condition{Exists: true, Version: 3, Attrs: []AttrTest{AttrIn("state", "NOTPAY"), AttrIn("x", "1")}}, rec, false},
		{"contradiction", Condition{Absent: true, Exists: true}, rec, false},
		{"contradiction/absent", Condition{Absent: true, Exists: true}, nil, false},
	}
	for _, tc := range cases {
		if got := tc.c.Holds(tc.rec, now); got != tc.want {
			t.Errorf("%s: Holds = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestChangeApply(t *testing.T) {
	now := time.Date(2024, 1, 1, 0, 0, 0, 123456789, time.UTC)
	rec := Record{Key: "k", Attrs: map[string]string{"a": "1", "b": "2"}, Pending: "p", PendingSince: now.Add(-time.Hour)}
	idx := "q"
	exp := now.Add(time.Hour + 1500*time.Microsecond)
	Change{Set: map[string]string{"b": "3", "c": "4"}, Remove: []string{"a", "b"}, Pending: &idx, ExpiresAt: &exp}.Apply(&rec, now)
	if fmt.Sprint(rec.Attrs) != "map[b:3 c:4]" || rec.Pending != "q" || !rec.PendingSince.Equal(now.Truncate(time.Microsecond)) || !rec.ExpiresAt.Equal(exp.Truncate(time.Millisecond)) {
		t.Fatalf("after Apply: %+v", rec)
	}
	none := ""
	Change{Pending: &none, ExpiresAt: &time.Time{}}.Apply(&rec, now)
	if rec.Pending != "" || !rec.PendingSince.IsZero() || !rec.ExpiresAt.IsZero() {
		t.Fatalf("after leaving: %+v", rec)
	}
}

func TestValidation(t *testing.T) {
	bad := []error{
		ValidateKey(""),
		ValidateKey(strings.Repeat("k", 1025)),
		ValidateKey("\xff"),
		validateAttrName("Upper"),
		validateAttrName("version"),
		validateAttrName(strings.Repeat("a", 65)),
		validateIndexName("a b"),
		ValidateRecord(Record{Key: "k", Attrs: map[string]string{"x": strings.Repeat("v", MaxRecordSize)}}),
		ValidateRecord(Record{Key: "k", Pending: "p", PendingSince: time.Date(1500, 1, 1, 0, 0, 0, 0, time.UTC)}),
		ValidateCondition(Condition{Attrs: []AttrTest{{Name: "a"}}}),
		ValidateCondition(Condition{Version: -1}),
		validateChange(Change{Remove: []string{"pk"}}),
	}
	for i, err := range bad {
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("case %d: %v, want ErrInvalid", i, err)
		}
	}
	if _, err := ValidateListOptions("p", ListOptions{Limit: -1}); !errors.Is(err, ErrInvalid) {
		t.Errorf("negative limit: %v", err)
	}
	if n, _ := ValidateListOptions("p", ListOptions{Limit: 5000}); n != MaxListLimit {
		t.Errorf("limit capped to %d", n)
	}
	if n, _ := ValidateListOptions("p", ListOptions{}); n != defaultListLimit {
		t.Errorf("default limit %d", n)
	}
	good := []error{
		ValidateKey("order/微信/1"),
		ValidateRecord(Record{Key: "k", Attrs: map[string]string{"state": "\xff\x00"}, Pending: "p"}),
		ValidateCondition(Condition{Attrs: []AttrTest{AttrIn("state", "")}}),
	}
	for i, err := range good {
		if err != nil {
			t.Errorf("good case %d: %v", i, err)
		}
	}
}

func TestCursor(t *testing.T) {
	p := Position{Index: "notify", Since: -42, Key: "a\x00b/键"}
	c := EncodeCursor(p)
	got, err := DecodeCursor("notify", c)
	if err != nil || got != p {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	if _, err := DecodeCursor("other", c); !errors.Is(err, ErrInvalid) {
		t.Fatalf("cursor for another index accepted: %v", err)
	}
	if _, err := DecodeCursor("notify", "!!"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("garbage cursor accepted: %v", err)
	}
}

func TestErrors(t *testing.T) {
	cf := error(&ConditionFailedError{Key: "k"})
	if !errors.Is(cf, ErrConditionFailed) || errors.Is(cf, ErrNotFound) || errors.Is(cf, ErrUnavailable) {
		t.Fatal("ConditionFailedError matches the wrong sentinels")
	}
	cause := errors.New("connection refused")
	u := Unavailable("redisstore: get", cause)
	if !errors.Is(u, ErrUnavailable) || !errors.Is(u, cause) || errors.Is(u, ErrNotFound) {
		t.Fatal("Unavailable matches the wrong sentinels")
	}
}

// The hand-written attribute-name rule is the regexp it replaced.
func TestAttrNameRuleMatchesRegexp(t *testing.T) {
	re := regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)
	cases := []string{"", "a", "A", "_a", "1a", "a1_", "evt_order_paid", "a-b", "aé", "a\n", strings.Repeat("a", 64), strings.Repeat("a", 65), "a b", "z9", "{", "`"}
	for c := 0; c < 256; c++ {
		cases = append(cases, "a"+string(rune(c)), string(rune(c)))
	}
	for _, s := range cases {
		if got, want := attrName.matchString(s), re.MatchString(s); got != want {
			t.Errorf("%q: rule %t, regexp %t", s, got, want)
		}
	}
}
