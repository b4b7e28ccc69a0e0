package clock

import (
	"testing"
	"time"
)

func TestVirtual(t *testing.T) {
	var v Virtual
	if d := v.Now().Sub(time.Now()); d > time.Second || d < -time.Second {
		t.Fatalf("fresh virtual clock is %v off the wall clock", d)
	}
	v.Advance(2 * time.Hour)
	v.Advance(-time.Hour) // ignored
	if got := v.Offset(); got != 2*time.Hour {
		t.Fatalf("offset %v, want 2h", got)
	}
	if d := v.Now().Sub(time.Now()); d < 2*time.Hour-time.Second {
		t.Fatalf("advanced clock only %v ahead", d)
	}
	if Or(nil)().IsZero() || Or(v.Now)().Before(time.Now().Add(time.Hour)) {
		t.Fatal("Or picked the wrong clock")
	}
}
