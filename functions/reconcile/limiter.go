package reconcile

import (
	"context"
	"sync"
	"time"
)

// limiter is a token bucket of one token (calls are paced evenly at the rate) that
// halves its rate when WeChat Pay answers FREQUENCY_LIMITED and creeps back (+5 % per
// success) to the configured rate — additive-increase would be too slow over a short
// run, multiplicative-decrease is what rides out a storm.
type limiter struct {
	mu       sync.Mutex
	max, cur float64
	next     time.Time
}

func newLimiter(rate float64) *limiter { return &limiter{max: rate, cur: rate} }

// wait blocks until the next call may start, or ctx ends.
func (l *limiter) wait(ctx context.Context) error {
	l.mu.Lock()
	now := time.Now()
	if l.next.Before(now) {
		l.next = now
	}
	at := l.next
	l.next = l.next.Add(time.Duration(float64(time.Second) / l.cur))
	l.mu.Unlock()
	if d := time.Until(at); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return ctx.Err()
}

func (l *limiter) throttled() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cur = max(l.cur/2, 0.5)
}

func (l *limiter) ok() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cur = min(l.cur*1.05, l.max)
}

func (l *limiter) rate() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cur
}
