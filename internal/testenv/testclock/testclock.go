// Package testclock is the tests' business clock: it stands still until a test moves
// it, so a test decides exactly how much business time passes between two steps and a
// slow or loaded machine changes nothing. It is a leaf package (it imports only the
// standard library) so that any package's internal tests can use it, including those
// of packages internal/testenv itself imports (internal/paysim).
package testclock

import (
	"context"
	"sync"
	"time"
)

// Clock is a settable, advanceable clock. Its Now is a clock.Func. Safe for
// concurrent use: the functions under test read it from their own goroutines.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// New is a clock standing at start.
func New(start time.Time) *Clock { return &Clock{t: start} }

// Now is the clock's time. It does not move by itself.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d and returns the new time. A negative d is
// ignored: business time never runs back (leases, the 5-minute close rule and the
// stores' pending indexes rely on it); use Set to place the clock on purpose.
func (c *Clock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d > 0 {
		c.t = c.t.Add(d)
	}
	return c.t
}

// Set places the clock at t (a test's "the next morning at 10:30").
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// Sleep is a sleep on this clock: it advances the clock by d at once instead of
// waiting, and reports ctx's error, as a real sleep ended by ctx would. It fits the
// Sleep options of the code under test (createorder.Options.Sleep).
func (c *Clock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.Advance(d)
	return nil
}
