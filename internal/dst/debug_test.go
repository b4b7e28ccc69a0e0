package dst

import (
	"flag"
	"log/slog"
	"os"
	"testing"
)

var debugSeed = flag.Int64("dst.debug", -1, "run one seed verbosely")

func TestDebugSeed(t *testing.T) {
	if *debugSeed < 0 {
		t.Skip("set -dst.debug=N")
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	r := Run(*debugSeed, Options{Trace: true, Log: log})
	for _, s := range r.Trace {
		t.Log(s)
	}
	for _, v := range r.Violations {
		t.Logf("VIOLATION %s: %s", v.Invariant, v.Detail)
	}
	t.Log(r.Summary(), r.Duration, r.Hash)
}
