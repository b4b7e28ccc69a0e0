package main

import (
	"context"
	"os/exec"
	"testing"
	"time"
)

// A small soak through the real binary: 60 orders, 200 deliveries, kill -9 mid-storm,
// on bbolt (and on Redis when redis-server is installed). `make soak` is the full one.
func TestSmallSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs wxpay serve")
	}
	backends := []string{"bolt"}
	if _, err := exec.LookPath("redis-server"); err == nil {
		backends = append(backends, "redis")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	o := options{orders: 60, notifications: 200, raced: 0.3, senders: 8, backends: backends, timeout: 4 * time.Minute, failEvery: 3, chaos: true}
	if code := run(ctx, o); code != 0 {
		t.Fatalf("soak exit code %d (see output)", code)
	}
}
