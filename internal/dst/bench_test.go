package dst

import (
	"runtime"
	"syscall"
	"testing"
	"time"
)

// BenchmarkHistories runs bbolt histories on every CPU and reports histories per
// minute (the goal is ≥ 1,000 on a 2-core machine) beside the number of seeds CI runs.
// On a shared machine the wall-clock rate moves with the neighbours' load, so the
// CPU time a history costs is reported too, with the rate it gives on the CPUs there
// are (cpu-histories/min).
func BenchmarkHistories(b *testing.B) {
	var st Stats
	cpu0 := cpuTime()
	for b.Loop() {
		s := Many(int64(1_000_000+st.Histories), 16, 0, Options{}, nil)
		st.Histories += s.Histories
		st.Failed += s.Failed
		st.Elapsed += s.Elapsed
	}
	cpu := cpuTime() - cpu0
	b.ReportMetric(st.PerMinute(), "histories/min")
	perHistory := cpu / time.Duration(st.Histories)
	b.ReportMetric(float64(perHistory.Milliseconds()), "cpu-ms/history")
	b.ReportMetric(float64(runtime.GOMAXPROCS(0))*float64(time.Minute)/float64(perHistory), "cpu-histories/min")
	b.ReportMetric(float64(ciSeeds[Bolt]), "ci-seeds-bolt")
	b.ReportMetric(0, "ns/op")
}

// cpuTime is the process's user + system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
