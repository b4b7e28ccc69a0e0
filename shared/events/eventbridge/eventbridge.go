// Package eventbridge is the Amazon EventBridge sink of merchant events
// (WXPAY_EVENT_BUS): each event is one PutEvents entry on the bus, Source "wxpay",
// DetailType the event type (order.paid, …), Detail the same JSON body a webhook
// receives. The AWS mains add Sink(…) to the sinks they build; the SCF builds do not
// link it, and refuse WXPAY_EVENT_BUS at start-up.
//
// PutEvents is one SigV4-signed awsJson1_1 call made by hand (awsconf.CallJSON): the
// SDK's EventBridge client added 1 MB to the notify bootstrap and 0.5 ms of schema
// tables to every cold start's init, for this one call.
// API: https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEvents.html
package eventbridge

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/paysls/wxpay/shared/awsconf"
	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/events"
)

// source is the EventBridge source of every event; rules match on it and DetailType.
const source = "wxpay"

// Sink is the events.SinkDriver of WXPAY_EVENT_BUS, reading AWS credentials and region
// with load (awsconf.FromEnv on Lambda). It contacts nothing until an event is sent.
func Sink(load awsconf.Loader) events.SinkDriver {
	return events.SinkDriver{Setting: config.EnvEventBus, What: "EventBridge", Open: func(ctx context.Context, b config.Bundle, _ *http.Client) (events.Sink, error) {
		cfg, err := load(ctx, awsconf.Options{})
		if err != nil {
			return nil, fmt.Errorf("eventbridge: AWS configuration: %w", err)
		}
		return &bus{AWS: cfg, Name: b.EventBus}, nil
	}}
}

// bus puts events on an EventBridge bus.
type bus struct {
	AWS      aws.Config
	Name     string // bus name or ARN
	Endpoint string // "" = the region's EventBridge endpoint; else e.g. a local emulator
}

// entry is a PutEventsRequestEntry; Time is in epoch seconds, as the JSON protocol
// sends timestamps.
type entry struct {
	EventBusName string   `json:"EventBusName"`
	Source       string   `json:"Source"`
	DetailType   string   `json:"DetailType"`
	Detail       string   `json:"Detail"`
	Resources    []string `json:"Resources"`
	Time         int64    `json:"Time"`
}

// newEntry is the PutEvents entry of an event.
func newEntry(bus string, ev events.Event, body []byte) entry {
	return entry{EventBusName: bus, Source: source, DetailType: ev.Type, Detail: string(body), Resources: []string{}, Time: ev.CreatedAt.Unix()}
}

// Send implements events.Sink: acknowledged when EventBridge accepted the entry.
func (b *bus) Send(ctx context.Context, ev events.Event, body []byte) error {
	raw, err := awsconf.CallJSON(ctx, b.AWS, b.Endpoint, "events", "AWSEvents.PutEvents",
		map[string][]entry{"Entries": {newEntry(b.Name, ev, body)}})
	if err != nil {
		return &events.SendError{Err: fmt.Errorf("eventbridge PutEvents: %w", err)}
	}
	var out struct {
		FailedEntryCount int
		Entries          []struct{ EventId, ErrorCode, ErrorMessage string }
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return &events.SendError{Err: fmt.Errorf("eventbridge PutEvents: decode answer: %w", err)}
	}
	if out.FailedEntryCount > 0 || len(out.Entries) != 1 || out.Entries[0].EventId == "" {
		code, msg := "", ""
		if len(out.Entries) == 1 {
			code, msg = out.Entries[0].ErrorCode, out.Entries[0].ErrorMessage
		}
		return &events.SendError{Err: fmt.Errorf("eventbridge refused %s: %s %s", ev.ID, code, msg)}
	}
	return nil
}
