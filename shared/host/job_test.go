package host

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"
)

var fixedNow = time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)

func clock() time.Time { return fixedNow }

func TestJobHandler(t *testing.T) {
	tests := []struct {
		name    string
		payload []byte
		want    time.Time
		trigger string
	}{
		{"eventbridge scheduled event", fixture(t, "aws-eventbridge-scheduled.json"),
			time.Date(2015, 10, 8, 16, 53, 6, 0, time.UTC), "eventbridge:arn:aws:events:us-east-1:123456789012:rule/my-scheduled-rule"},
		{"scf timer event far from the clock", fixture(t, "scf-timer.json"), fixedNow, "scf-timer:EveryMinute"},
		{"scf timer event near the clock", []byte(`{"Type":"Timer","TriggerName":"reconcile","Time":"2026-03-01T07:59:00Z","Message":""}`),
			time.Date(2026, 3, 1, 7, 59, 0, 0, time.UTC), "scf-timer:reconcile"},
		{"eventbridge scheduler input", fixture(t, "aws-scheduler-input.json"),
			time.Date(2026, 3, 1, 2, 30, 0, 0, time.UTC), "scheduler:billfetch"},
		{"scheduler input pasted into a console test", []byte(`{"source":"wxpay.scheduler","job":"reconcile","scheduled_time":"<aws.scheduler.scheduled-time>"}`),
			fixedNow, "scheduler:reconcile"},
		{"manual empty object", []byte(" {} "), fixedNow, "manual"},
		{"manual null", []byte("null"), fixedNow, "manual"},
		{"manual nothing", nil, fixedNow, "manual"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			var got time.Time
			job := func(_ context.Context, now time.Time) (Report, error) {
				got = now
				return Report{"closed": 2, "pending": 0}, nil
			}
			report, err := jobHandler(job, slog.New(slog.NewJSONHandler(&logs, nil)), clock)(context.Background(), tt.payload)
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equal(tt.want) || got.Location() != time.UTC {
				t.Errorf("job saw now = %v, want %v UTC", got, tt.want)
			}
			if report["closed"] != 2 {
				t.Errorf("report %v not returned as the result", report)
			}
			var line struct {
				Msg     string         `json:"msg"`
				Trigger string         `json:"trigger"`
				Sched   string         `json:"scheduled_time"`
				Report  map[string]any `json:"report"`
			}
			wantWarn := strings.Contains(tt.name, "far from the clock") || strings.Contains(tt.name, "console test")
			if i := bytes.LastIndexByte(bytes.TrimSpace(logs.Bytes()), '\n'); (i >= 0) != wantWarn {
				t.Errorf("warning logged = %t, want %t: %s", i >= 0, wantWarn, logs.Bytes())
			}
			if i := bytes.LastIndexByte(bytes.TrimSpace(logs.Bytes()), '\n'); i >= 0 { // a warning precedes the report
				var warn struct {
					Level, Msg string
				}
				if err := json.Unmarshal(logs.Bytes()[:i], &warn); err != nil || warn.Level != "WARN" || !strings.Contains(warn.Msg, "using the clock") {
					t.Errorf("first log line %s, want a warning that the clock was used", logs.Bytes()[:i])
				}
				logs.Next(i + 1)
			}
			if err := json.Unmarshal(logs.Bytes(), &line); err != nil {
				t.Fatalf("log is not one JSON line: %v: %s", err, logs.Bytes())
			}
			if line.Msg != "job finished" || line.Trigger != tt.trigger || line.Sched != tt.want.Format(time.RFC3339) || line.Report["closed"] != float64(2) {
				t.Errorf("log line %+v", line)
			}
		})
	}
}

func TestJobHandlerRejects(t *testing.T) {
	for name, payload := range map[string][]byte{
		"http event":         fixture(t, "scf-apigw-request.json"),
		"not json":           []byte("tick"),
		"json array":         []byte("[]"),
		"scf non-timer":      []byte(`{"Type":"Cos","Time":"2019-02-21T11:49:00Z"}`),
		"scf bad time":       []byte(`{"Type":"Timer","TriggerName":"t","Time":"21/02/2019"}`),
		"eventbridge notime": []byte(`{"detail-type":"Scheduled Event","source":"aws.events"}`),
		"scheduler bad time": []byte(`{"source":"wxpay.scheduler","job":"reconcile","scheduled_time":"yesterday"}`),
	} {
		t.Run(name, func(t *testing.T) {
			called := false
			job := func(context.Context, time.Time) (Report, error) { called = true; return nil, nil }
			_, err := jobHandler(job, slog.New(slog.NewJSONHandler(io.Discard, nil)), clock)(context.Background(), payload)
			if err == nil || called {
				t.Errorf("err = %v, job called = %v; want an error and no run", err, called)
			}
		})
	}
}

func TestJobErrorIsReturnedWithReport(t *testing.T) {
	boom := errors.New("store unavailable")
	var logs bytes.Buffer
	job := func(context.Context, time.Time) (Report, error) { return Report{"closed": 1}, boom }
	report, err := jobHandler(job, slog.New(slog.NewJSONHandler(&logs, nil)), clock)(context.Background(), fixture(t, "scf-timer.json"))
	if !errors.Is(err, boom) {
		t.Errorf("err = %v, want it to wrap %v", err, boom)
	}
	if report["closed"] != 1 {
		t.Errorf("partial report lost: %v", report)
	}
	if !strings.Contains(logs.String(), `"level":"ERROR"`) || !strings.Contains(logs.String(), "store unavailable") {
		t.Errorf("failure not logged: %s", logs.String())
	}
}

func TestRunLocalJob(t *testing.T) {
	var out bytes.Buffer
	var got time.Time
	job := func(_ context.Context, now time.Time) (Report, error) {
		got = now
		return Report{"bill_date": "2026-02-28", "rows": 3}, nil
	}
	if err := runLocalJob(context.Background(), job, &out, slog.New(slog.NewJSONHandler(io.Discard, nil)), clock); err != nil {
		t.Fatal(err)
	}
	if !got.Equal(fixedNow) {
		t.Errorf("local job ran with now = %v, want %v", got, fixedNow)
	}
	var printed map[string]any
	if err := json.Unmarshal(out.Bytes(), &printed); err != nil {
		t.Fatalf("stdout is not the report as JSON: %v: %q", err, out.String())
	}
	if printed["bill_date"] != "2026-02-28" || printed["rows"] != float64(3) {
		t.Errorf("printed report %v", printed)
	}

	out.Reset()
	nilJob := func(context.Context, time.Time) (Report, error) { return nil, errors.New("no bill yet") }
	err := runLocalJob(context.Background(), nilJob, &out, slog.New(slog.NewJSONHandler(io.Discard, nil)), clock)
	if err == nil || !strings.Contains(err.Error(), "no bill yet") {
		t.Errorf("err = %v, want the job's error", err)
	}
	if strings.TrimSpace(out.String()) != "{}" {
		t.Errorf("nil report printed as %q, want {}", out.String())
	}
}
