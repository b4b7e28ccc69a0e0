package host

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"
)

// Report is what a job did, as JSON-able key/values; it becomes the
// invocation result and a log line.
type Report = map[string]any

// Job is a scheduled function: now is the time the schedule fired (not when
// the cold start finished), so retries and late starts see the same "now".
type Job func(ctx context.Context, now time.Time) (Report, error)

// JobHandler is the invocation handler of job on an event platform (Lambda, SCF):
// it takes the firing time from the scheduled event (scheduledTime), runs the job
// once and returns its report as the invocation's result.
func JobHandler(job Job, log *slog.Logger) func(context.Context, json.RawMessage) (Report, error) {
	return jobHandler(job, log, time.Now)
}

func jobHandler(job Job, log *slog.Logger, clock func() time.Time) func(context.Context, json.RawMessage) (Report, error) {
	return func(ctx context.Context, raw json.RawMessage) (Report, error) {
		now, trigger, note, err := scheduledTime(raw, clock)
		if err != nil {
			log.Error("job not started", "error", err.Error())
			return nil, err
		}
		if note != "" {
			log.Warn(note, "trigger", trigger, "now", now.Format(time.RFC3339))
		}
		return runJob(ctx, job, now, trigger, log)
	}
}

func runLocalJob(ctx context.Context, job Job, out io.Writer, log *slog.Logger, clock func() time.Time) error {
	report, jobErr := runJob(ctx, job, clock().UTC(), "local", log)
	b, err := json.MarshalIndent(report, "", "  ")
	if err != nil {
		return errors.Join(jobErr, fmt.Errorf("host: encode report: %w", err))
	}
	if _, err := fmt.Fprintf(out, "%s\n", b); err != nil {
		return errors.Join(jobErr, fmt.Errorf("host: print report: %w", err))
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
		return report, fmt.Errorf("job: %w", err)
	}
	log.Info("job finished", attrs...)
	return report, nil
}

// SchedulerInput is the payload template.yaml's EventBridge Scheduler schedules
// send (Target.Input): the default payload of a universal/Lambda target is not
// documented, so the template spells it out, with the context attribute
// <aws.scheduler.scheduled-time>, which Scheduler replaces by the time the
// schedule was due (ISO 8601, UTC) — the same on every retry of that firing.
// See https://docs.aws.amazon.com/scheduler/latest/UserGuide/managing-schedule-context-attributes.html
//
//	{"source":"wxpay.scheduler","job":"reconcile","scheduled_time":"<aws.scheduler.scheduled-time>"}
type SchedulerInput struct {
	Source        string `json:"source"`
	Job           string `json:"job"`
	ScheduledTime string `json:"scheduled_time"`
}

// SchedulerSource is SchedulerInput.Source.
const SchedulerSource = "wxpay.scheduler"

// schedulerPlaceholder is the context attribute as written in the template; it
// arrives unreplaced when someone pastes the template's Input into a console test.
const schedulerPlaceholder = "<aws.scheduler.scheduled-time>"

// timerSkew is how far an SCF timer event's Time may be from the clock and still
// be taken as the firing time. SCF's timer event message (Type, TriggerName, Time,
// Message; https://www.tencentcloud.com/document/product/583/9708) gives Time as
// the trigger's creation time, not the firing time, so
// a real firing usually carries a time far in the past; a job must not take its
// "now" from it, or it would close and query against a months-old clock.
const timerSkew = 2 * time.Minute

// scheduledTime reads the firing time from a scheduled event: the explicit
// EventBridge Scheduler input (SchedulerInput), an EventBridge (CloudWatch
// Events) scheduled event, an SCF timer event, or, for a manual invocation
// (console test, "{}"), nothing at all, which means now. trigger names the
// source for the log; note, when set, says why the clock was used instead of
// the event's time.
func scheduledTime(raw []byte, clock func() time.Time) (now time.Time, trigger, note string, err error) {
	if t := bytes.TrimSpace(raw); len(t) == 0 || string(t) == "null" {
		return clock().UTC(), "manual", "", nil
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(raw, &keys); err != nil {
		return time.Time{}, "", "", fmt.Errorf("scheduled event is not a JSON object: %w", err)
	}
	if len(keys) == 0 {
		return clock().UTC(), "manual", "", nil
	}
	if _, ok := keys["scheduled_time"]; ok {
		var in SchedulerInput
		if err := json.Unmarshal(raw, &in); err != nil {
			return time.Time{}, "", "", fmt.Errorf("decode scheduler input: %w", err)
		}
		trigger := "scheduler:" + in.Job
		if in.ScheduledTime == schedulerPlaceholder {
			return clock().UTC(), trigger, "scheduler input carries the unreplaced " + schedulerPlaceholder + " (a manual test?): using the clock", nil
		}
		t, err := time.Parse(time.RFC3339, in.ScheduledTime)
		if err != nil {
			return time.Time{}, "", "", fmt.Errorf("scheduler input for job %q: scheduled_time %q is not RFC 3339: %w", in.Job, in.ScheduledTime, err)
		}
		return t.UTC(), trigger, "", nil
	}
	if _, ok := keys["Type"]; ok { // SCF's timer event keys are capitalised
		var ev scfTimerEvent
		if err := json.Unmarshal(raw, &ev); err != nil {
			return time.Time{}, "", "", fmt.Errorf("decode SCF timer event: %w", err)
		}
		if ev.Type != "Timer" {
			return time.Time{}, "", "", fmt.Errorf("SCF event of type %q is not a timer event", ev.Type)
		}
		trigger := "scf-timer:" + ev.TriggerName
		t, err := time.Parse(time.RFC3339, ev.Time)
		if err != nil {
			return time.Time{}, "", "", fmt.Errorf("SCF timer %q: bad Time: %w", ev.TriggerName, err)
		}
		c := clock().UTC()
		if d := c.Sub(t); d > timerSkew || d < -timerSkew {
			return c, trigger, fmt.Sprintf("SCF timer event Time %s is %s from the clock (SCF documents it as the trigger's creation time): using the clock", t.UTC().Format(time.RFC3339), d.Round(time.Second)), nil
		}
		return t.UTC(), trigger, "", nil
	}
	if _, ok := keys["detail-type"]; ok {
		var ev eventBridgeEvent
		if err := json.Unmarshal(raw, &ev); err != nil {
			return time.Time{}, "", "", fmt.Errorf("decode EventBridge event: %w", err)
		}
		if ev.Time.IsZero() {
			return time.Time{}, "", "", fmt.Errorf("EventBridge %q event has no time", ev.DetailType)
		}
		trigger := "eventbridge:" + ev.DetailType
		if len(ev.Resources) > 0 {
			trigger = "eventbridge:" + ev.Resources[0] // the rule ARN says which schedule
		}
		return ev.Time.UTC(), trigger, "", nil
	}
	names := make([]string, 0, len(keys))
	for k := range keys {
		names = append(names, k)
	}
	slices.Sort(names)
	return time.Time{}, "", "", fmt.Errorf("unrecognised scheduled event with keys %v: expected the scheduler input {\"scheduled_time\":…}, an EventBridge scheduled event, an SCF timer event or {}", names)
}

// scfTimerEvent is SCF's timer event (https://www.tencentcloud.com/document/product/583/9708);
// scf-go-lib's events.TimerEvent without the import, so that no build links
// scf-go-lib for it.
type scfTimerEvent struct {
	Type        string `json:"Type"`
	TriggerName string `json:"TriggerName"`
	Time        string `json:"Time"`
	Message     string `json:"Message"`
}

// eventBridgeEvent is the part of an EventBridge (CloudWatch Events) scheduled
// event a job reads; aws-lambda-go's events.EventBridgeEvent without the import,
// so the SCF builds carry no AWS code.
type eventBridgeEvent struct {
	DetailType string    `json:"detail-type"`
	Time       time.Time `json:"time"`
	Resources  []string  `json:"resources"`
}
