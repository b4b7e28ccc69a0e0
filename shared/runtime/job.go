package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	awsevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	scfevents "github.com/tencentyun/scf-go-lib/events"
)

// Report is what a job did, as JSON-able key/values; it becomes the
// invocation result and a log line.
type Report = map[string]any

// Job is a scheduled function: now is the time the schedule fired (not when
// the cold start finished), so retries and late starts see the same "now".
type Job func(ctx context.Context, now time.Time) (Report, error)

// RunJob runs job on the detected platform; it is the whole body of a
// scheduled function's main. On Lambda and SCF it serves invocations and never
// returns; locally it runs the job once, prints the report as JSON on stdout
// and returns the job's error.
func RunJob(job Job) error {
	log := defaultLogger()
	p := Detect()
	switch p {
	case Lambda:
		lambda.Start(jobHandler(job, log, time.Now))
	case SCFEvent:
		if err := scfEventRuntimeReady(os.Getenv); err != nil {
			return err
		}
		return startSCF(jobHandler(job, log, time.Now))
	case SCFWeb:
		return errors.New("runtime: a scheduled job cannot run as an SCF web function (timer triggers invoke event functions): deploy it as an event function")
	default:
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return runLocalJob(ctx, job, os.Stdout, log, time.Now)
	}
	return nil
}

// jobHandler is the invocation handler on Lambda and SCF.
func jobHandler(job Job, log *slog.Logger, clock func() time.Time) func(context.Context, json.RawMessage) (Report, error) {
	return func(ctx context.Context, raw json.RawMessage) (Report, error) {
		now, trigger, err := scheduledTime(raw, clock)
		if err != nil {
			log.Error("job not started", "error", err.Error())
			return nil, err
		}
		return runJob(ctx, job, now, trigger, log)
	}
}

func runLocalJob(ctx context.Context, job Job, out io.Writer, log *slog.Logger, clock func() time.Time) error {
	report, jobErr := runJob(ctx, job, clock().UTC(), "local", log)
	b, err := json.MarshalIndent(report, "", "  ")
	if err != nil {
		return errors.Join(jobErr, fmt.Errorf("runtime: encode report: %w", err))
	}
	if _, err := fmt.Fprintf(out, "%s\n", b); err != nil {
		return errors.Join(jobErr, fmt.Errorf("runtime: print report: %w", err))
	}
	return jobErr
}

// runJob runs job once and logs its report, which is also returned so that it
// shows as the invocation result.
func runJob(ctx context.Context, job Job, now time.Time, trigger string, log *slog.Logger) (Report, error) {
	start := time.Now()
	report, err := job(ctx, now)
	if report == nil {
		report = Report{} // "{}" reads better than "null" as a result
	}
	attrs := []any{
		"trigger", trigger,
		"scheduled_time", now.Format(time.RFC3339),
		"duration_ms", time.Since(start).Milliseconds(),
		"report", report,
	}
	if err != nil {
		log.Error("job failed", append(attrs, "error", err.Error())...)
		return report, fmt.Errorf("runtime: job: %w", err)
	}
	log.Info("job finished", attrs...)
	return report, nil
}

// scheduledTime reads the firing time from a scheduled event: an EventBridge
// (CloudWatch Events) scheduled event, an SCF timer event, or, for a manual
// invocation (console test, EventBridge Scheduler's default "{}"), nothing at
// all, which means now. trigger names the source for the log.
func scheduledTime(raw []byte, clock func() time.Time) (now time.Time, trigger string, err error) {
	if t := bytes.TrimSpace(raw); len(t) == 0 || string(t) == "null" {
		return clock().UTC(), "manual", nil
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(raw, &keys); err != nil {
		return time.Time{}, "", fmt.Errorf("runtime: scheduled event is not a JSON object: %w", err)
	}
	if len(keys) == 0 {
		return clock().UTC(), "manual", nil
	}
	if _, ok := keys["Type"]; ok { // SCF's timer event keys are capitalised
		var ev scfevents.TimerEvent
		if err := json.Unmarshal(raw, &ev); err != nil {
			return time.Time{}, "", fmt.Errorf("runtime: decode SCF timer event: %w", err)
		}
		if ev.Type != "Timer" {
			return time.Time{}, "", fmt.Errorf("runtime: SCF event of type %q is not a timer event", ev.Type)
		}
		t, err := time.Parse(time.RFC3339, ev.Time)
		if err != nil {
			return time.Time{}, "", fmt.Errorf("runtime: SCF timer %q: bad Time: %w", ev.TriggerName, err)
		}
		return t.UTC(), "scf-timer:" + ev.TriggerName, nil
	}
	if _, ok := keys["detail-type"]; ok {
		var ev awsevents.EventBridgeEvent
		if err := json.Unmarshal(raw, &ev); err != nil {
			return time.Time{}, "", fmt.Errorf("runtime: decode EventBridge event: %w", err)
		}
		if ev.Time.IsZero() {
			return time.Time{}, "", fmt.Errorf("runtime: EventBridge %q event has no time", ev.DetailType)
		}
		trigger := "eventbridge:" + ev.DetailType
		if len(ev.Resources) > 0 {
			trigger = "eventbridge:" + ev.Resources[0] // the rule ARN says which schedule
		}
		return ev.Time.UTC(), trigger, nil
	}
	names := make([]string, 0, len(keys))
	for k := range keys {
		names = append(names, k)
	}
	slices.Sort(names)
	return time.Time{}, "", fmt.Errorf("runtime: unrecognised scheduled event with keys %v: expected an EventBridge scheduled event, an SCF timer event or {}", names)
}
