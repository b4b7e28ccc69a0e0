package events

import (
	"strings"
	"testing"
	"time"
)

// noPassive is a writer with no passive listings.
func noPassive(string) bool { return false }

// The writer names its passive listings: a record owing an event sits in the outbox at
// the event's next attempt, pulled earlier by its own schedule only when that schedule
// is one a job acts on.
func TestPlacementPassiveListingsAreTheWritersChoice(t *testing.T) {
	now := time.Date(2024, 5, 20, 12, 0, 0, 0, time.UTC)
	attr, val, _, err := New("order/1900000001/P1", OrderPaid, now, map[string]any{})
	if err != nil {
		t.Fatal(err)
	}
	earlier := now.Add(-time.Hour)
	attrs := map[string]string{attr: val, AttrSchedIndex: "day_20240520", AttrSchedAt: earlier.Format(time.RFC3339Nano)}
	dayListing := func(idx string) bool { return strings.HasPrefix(idx, "day_") }

	if idx, since := Placement(attrs, dayListing); idx != IndexOutbox || !since.Equal(now) {
		t.Errorf("passive schedule: %s at %v, want the outbox at the event's attempt %v", idx, since, now)
	}
	if idx, since := Placement(attrs, noPassive); idx != IndexOutbox || !since.Equal(earlier) {
		t.Errorf("active schedule: %s at %v, want the outbox at the schedule's %v", idx, since, earlier)
	}
	delete(attrs, attr)
	if idx, since := Placement(attrs, dayListing); idx != "day_20240520" || !since.Equal(earlier) {
		t.Errorf("nothing owed: %s at %v, want the record's own schedule", idx, since)
	}
}
