package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/paysls/wxpay/shared/apiauth"
	"github.com/paysls/wxpay/shared/clock"
	"github.com/paysls/wxpay/shared/host"
)

// jobRun runs a scheduled function once; q carries a manual run's query parameters
// (billfetch's date).
type jobRun func(ctx context.Context, q url.Values, now time.Time) (host.Report, error)

// scheduledJob is one of the bundle's scheduled functions as `wxpay serve` runs it: on a
// timer, as EventBridge or an SCF timer would, and on POST /jobs/{name}.
type scheduledJob struct {
	name string
	// due says whether the timer should run the job at now, given when it last ran
	// (zero before the first run).
	due func(now, last time.Time) bool
	run jobRun

	mu   sync.Mutex // one run of a job at a time: a timer and a manual run never overlap
	last time.Time
}

// jobSet is the scheduled functions of the bundle.
type jobSet struct {
	now  clock.Func
	log  *slog.Logger
	jobs map[string]*scheduledJob
}

func newJobSet(now clock.Func, log *slog.Logger) *jobSet {
	return &jobSet{now: clock.Or(now), log: log, jobs: map[string]*scheduledJob{}}
}

func (s *jobSet) add(name string, due func(now, last time.Time) bool, run jobRun) {
	s.jobs[name] = &scheduledJob{name: name, due: due, run: run}
}

// every is a due rule: at most once per interval d of business time.
func every(d time.Duration) func(now, last time.Time) bool {
	return func(now, last time.Time) bool { return last.IsZero() || now.Sub(last) >= d }
}

// dailyAt is a due rule: once a day, after hh:mm in loc.
func dailyAt(hh, mm int, loc *time.Location) func(now, last time.Time) bool {
	return func(now, last time.Time) bool {
		n := now.In(loc)
		at := time.Date(n.Year(), n.Month(), n.Day(), hh, mm, 0, 0, loc)
		return !n.Before(at) && (last.IsZero() || last.Before(at))
	}
}

func (s *jobSet) names() []string {
	var out []string
	for n := range s.jobs {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// runNow runs a job now and returns its report.
func (s *jobSet) runNow(ctx context.Context, j *scheduledJob, q url.Values, trigger string) (host.Report, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	now := s.now()
	start := time.Now()
	rep, err := j.run(ctx, q, now)
	j.last = now
	attrs := []any{"job", j.name, "trigger", trigger, "duration_ms", time.Since(start).Milliseconds(), "report", rep}
	if err != nil {
		s.log.Error("job failed", append(attrs, "error", err.Error())...)
	} else {
		s.log.Info("job finished", attrs...)
	}
	return rep, err
}

// start runs every due job each tick until the returned stop is called.
func (s *jobSet) start(tick time.Duration) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(tick)
		defer t.Stop()
		for {
			for _, name := range s.names() {
				j := s.jobs[name]
				j.mu.Lock()
				last := j.last
				j.mu.Unlock()
				if ctx.Err() == nil && j.due(s.now(), last) {
					_, _ = s.runNow(ctx, j, nil, "timer")
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// handler serves POST /jobs/{name}: runs the job now and answers its report (a bbolt
// store admits one process, so while serve runs this is how a terminal runs a job).
func (s *jobSet) handler(token []byte) http.Handler {
	return apiauth.Require(token, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		j := s.jobs[r.PathValue("name")]
		if j == nil {
			apiauth.Error(w, http.StatusNotFound, "NOT_FOUND", "no job named "+apiauth.Echo(r.PathValue("name")), "jobs: "+joinNames(s.names()))
			return
		}
		if b, _ := io.ReadAll(io.LimitReader(r.Body, 4<<10)); len(bytes.TrimSpace(b)) > 0 && !slices.Contains([]string{"{}", "null"}, string(bytes.TrimSpace(b))) {
			// A job reads its query only: {"date":"…"} in the body ran yesterday's bills.
			apiauth.Error(w, http.StatusBadRequest, "PARAM_ERROR", "POST /jobs/"+apiauth.Clip(r.PathValue("name"))+" takes no body; its parameters are in the query",
				"e.g. POST /jobs/billfetch?date=2026-03-01 · 任务参数请放在查询串中")
			return
		}
		rep, err := s.runNow(r.Context(), j, r.URL.Query(), "http")
		if err != nil {
			var bad interface{ BadInput() bool }
			status := http.StatusInternalServerError
			hint := "serve's log (stderr; .wxpay/serve.log under make start) has the detail; a job is safe to run again"
			if errors.As(err, &bad) && bad.BadInput() {
				status = http.StatusBadRequest
				hint = "fix the query as the message says and run the job again · 请按提示修改后重试"
			}
			apiauth.WriteJSON(w, status, map[string]any{"code": "JOB_FAILED", "message": err.Error(), "hint": hint, "report": rep})
			return
		}
		apiauth.WriteJSON(w, http.StatusOK, rep)
	}))
}

func joinNames(n []string) string {
	out := ""
	for i, s := range n {
		if i > 0 {
			out += ", "
		}
		out += s
	}
	return out
}
