package dst

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Stats sums a batch of histories.
type Stats struct {
	Histories, Failed, Errors int
	Elapsed                   time.Duration
	// Scenes sums the histories' cashier scene switches (scenes.go).
	Scenes SceneCover
}

// PerMinute is the batch's throughput.
func (s Stats) PerMinute() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Histories) / s.Elapsed.Minutes()
}

// String is the line `make dst` ends with.
func (s Stats) String() string {
	line := fmt.Sprintf("dst: %d histories, %d failed, %.0f histories/min", s.Histories, s.Failed, s.PerMinute())
	if s.Errors > 0 {
		line += fmt.Sprintf(" (%d harness errors)", s.Errors)
	}
	return line
}

// Many runs the histories of seeds first … first+n-1, parallel at a time (the number
// of CPUs when 0), and calls report with each result as it ends (from one goroutine at
// a time).
func Many(first int64, n, parallel int, opts Options, report func(Result)) Stats {
	if parallel <= 0 {
		parallel = runtime.GOMAXPROCS(0)
	}
	began := time.Now()
	var next atomic.Int64
	var mu sync.Mutex
	var st Stats
	var wg sync.WaitGroup
	for range parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				r := Run(first+i, opts)
				mu.Lock()
				st.Histories++
				st.Scenes.add(r.Scenes)
				if r.Failed() {
					st.Failed++
				}
				if r.Err != nil {
					st.Errors++
				}
				if report != nil {
					report(r)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	st.Elapsed = time.Since(began)
	return st
}
