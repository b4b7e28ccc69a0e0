package main

import (
	"strings"
	"testing"
	"time"
)

// Found from outside: `wxpay billfetch --date <today>` answered "--to <today>: the bill
// of a day exists from …" — a flag the user never typed. The message names the flag given.
func TestBillDatesNamesTheFlagGiven(t *testing.T) {
	now := time.Date(2026, 12, 7, 14, 0, 0, 0, time.UTC) // 22:00 in UTC+8
	if _, _, err := billDates("2026-12-07", "", now); err == nil || !strings.HasPrefix(err.Error(), "--date 2026-12-07:") {
		t.Errorf("--date today: %v, want it named --date", err)
	}
	if _, _, err := billDates("2026-12-01", "2026-12-07", now); err == nil || !strings.HasPrefix(err.Error(), "--to 2026-12-07:") {
		t.Errorf("--to today: %v, want it named --to", err)
	}
	if _, _, err := billDates("2026-12-06", "", now); err != nil {
		t.Errorf("yesterday: %v", err)
	}
}
