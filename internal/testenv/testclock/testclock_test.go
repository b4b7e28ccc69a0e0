package testclock

import (
	"context"
	"sync"
	"testing"
	"time"
)

func TestClockStandsStillUntilMoved(t *testing.T) {
	start := time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)
	c := New(start)
	if !c.Now().Equal(start) {
		t.Fatalf("new clock at %v, want %v", c.Now(), start)
	}
	time.Sleep(2 * time.Millisecond)
	if !c.Now().Equal(start) {
		t.Fatal("the clock moved with the wall clock")
	}
	if got := c.Advance(time.Hour); !got.Equal(start.Add(time.Hour)) || !c.Now().Equal(got) {
		t.Fatalf("Advance(1h) = %v, Now %v", got, c.Now())
	}
	c.Advance(-time.Minute)
	if !c.Now().Equal(start.Add(time.Hour)) {
		t.Fatalf("a negative advance moved the clock to %v", c.Now())
	}
	c.Set(start)
	if !c.Now().Equal(start) {
		t.Fatalf("Set: %v", c.Now())
	}
	if err := c.Sleep(context.Background(), 5*time.Second); err != nil || !c.Now().Equal(start.Add(5*time.Second)) {
		t.Fatalf("Sleep: %v, now %v", err, c.Now())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Sleep(ctx, time.Hour); err == nil || !c.Now().Equal(start.Add(5*time.Second)) {
		t.Fatalf("Sleep with a done context: %v, now %v", err, c.Now())
	}
}

func TestClockConcurrentAdvance(t *testing.T) {
	start := time.Unix(0, 0)
	c := New(start)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				c.Advance(time.Second)
				_ = c.Now()
			}
		}()
	}
	wg.Wait()
	if got := c.Now().Sub(start); got != 800*time.Second {
		t.Fatalf("800 concurrent one-second advances moved the clock %v", got)
	}
}
