package paysim

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

// maxClockOffset bounds the virtual clock: far enough for any test (bills keep three
// months, refunds settle within days), short of time.Duration's 292-year limit.
const maxClockOffset = 10 * 365 * 24 * time.Hour

// clockRequest is the body of POST /sim/clock.
type clockRequest struct {
	// Advance is a Go duration ("90s", "2h", "48h30m") to move the simulated calendar
	// forward by. Time never runs back: negative values are refused.
	Advance string `json:"advance"`
}

// clockView is what GET and POST /sim/clock answer.
type clockView struct {
	Now    string `json:"now"`    // the simulated calendar, RFC 3339 in +08:00 as WeChat Pay writes times
	Offset string `json:"offset"` // how far it is ahead of the base clock (the wall clock), e.g. "2h0m0s"
	// OffsetSeconds is Offset as a number.
	OffsetSeconds float64 `json:"offset_seconds"`
}

func (s *Simulator) clockView() clockView {
	off := s.cfg.Clock.Offset()
	return clockView{Now: rfc3339CST(s.now()), Offset: off.String(), OffsetSeconds: off.Seconds()}
}

func (s *Simulator) simGetClock(w http.ResponseWriter, _ *http.Request) {
	simJSON(w, http.StatusOK, s.clockView())
}

// simAdvanceClock handles POST /sim/clock {"advance":"2h"}.
func (s *Simulator) simAdvanceClock(w http.ResponseWriter, r *http.Request) {
	var req clockRequest
	if err := readSimBody(r, &req); err != nil {
		simError(w, simBodyStatus(err), "%v", err)
		return
	}
	d, err := s.advanceClock(req.Advance)
	if err != nil {
		simError(w, http.StatusBadRequest, "%v", err)
		return
	}
	s.log.Info("paysim: clock advanced", "by", d.String(), "offset", s.cfg.Clock.Offset().String())
	simJSON(w, http.StatusOK, s.clockView())
}

// advanceClock moves the simulated calendar forward by a Go duration string and
// returns the parsed duration. Negative, malformed and absurdly large values are
// refused with an error meant for the person who typed them.
func (s *Simulator) advanceClock(advance string) (time.Duration, error) {
	advance = strings.TrimSpace(advance)
	if advance == "" {
		return 0, fmt.Errorf(`advance is required: a Go duration such as "90s", "10m", "2h" or "48h" (there is no "d" unit)`)
	}
	d, err := time.ParseDuration(advance)
	if err != nil {
		return 0, fmt.Errorf(`advance %q is not a Go duration: use a number with a unit ns, us, ms, s, m or h, e.g. "90s", "2h30m", "48h" for two days`, advance)
	}
	if d < 0 {
		return 0, fmt.Errorf("advance %q is negative: the simulated clock only moves forward (orders, the reconcile schedule and the 5-minute close rule rely on it)", advance)
	}
	s.mu.Lock() // serialises advances, so two cannot together pass the bound
	defer s.mu.Unlock()
	if s.cfg.Clock.Offset()+d > maxClockOffset {
		return 0, fmt.Errorf("advance %q would put the clock more than %s ahead", advance, maxClockOffset)
	}
	s.cfg.Clock.Advance(d)
	return d, nil
}
