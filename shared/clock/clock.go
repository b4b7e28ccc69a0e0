// Package clock is the bundle's notion of "now". Production code uses the wall clock;
// `wxpay serve` with the simulator uses a Virtual clock that the simulator's
// POST /sim/clock moves forward, so order expiry, the reconcile schedule, deferred closes
// and "yesterday's bill" can be tested in seconds. Functions take a Func, never call
// time.Now directly for business time.
package clock

import (
	"sync/atomic"
	"time"
)

// Func returns the current business time.
type Func func() time.Time

// Wall is the real clock.
func Wall() time.Time { return time.Now() }

// Or returns f, or Wall when f is nil.
func Or(f Func) Func {
	if f == nil {
		return Wall
	}
	return f
}

// Virtual is the wall clock plus an offset that only grows. Safe for concurrent use.
type Virtual struct{ offset atomic.Int64 }

// Now is the wall clock shifted by the offset.
func (v *Virtual) Now() time.Time { return time.Now().Add(time.Duration(v.offset.Load())) }

// Advance moves the clock forward by d (negative d is ignored: time never runs back,
// which a store's pending index and the 5-minute close rule rely on). It returns the
// new offset.
func (v *Virtual) Advance(d time.Duration) time.Duration {
	if d < 0 {
		d = 0
	}
	return time.Duration(v.offset.Add(int64(d)))
}

// Offset is how far the clock is ahead of the wall clock.
func (v *Virtual) Offset() time.Duration { return time.Duration(v.offset.Load()) }
