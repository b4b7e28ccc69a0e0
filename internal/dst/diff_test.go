package dst

import (
	"os"
	"strings"
	"testing"
)

func TestDiffTrace(t *testing.T) {
	if *debugSeed < 0 {
		t.Skip()
	}
	a, b := Run(*debugSeed, Options{Trace: true}), Run(*debugSeed, Options{Trace: true})
	os.WriteFile("/tmp/a.trace", []byte(strings.Join(a.Trace, "\n")), 0o644)
	os.WriteFile("/tmp/b.trace", []byte(strings.Join(b.Trace, "\n")), 0o644)
}
