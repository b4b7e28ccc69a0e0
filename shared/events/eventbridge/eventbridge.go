// Package eventbridge is the Amazon EventBridge sink of merchant events
// (WXPAY_EVENT_BUS): each event is one PutEvents entry on the bus, Source "wxpay",
// DetailType the event type (order.paid, …), Detail the same JSON body a webhook
// receives. Importing the package registers it as events.EventBusSink; SCF builds
// leave it out (tag wxpay_noeventbridge on the importing file).
package eventbridge

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/paysls/wxpay/shared/events"
)

// Source is the EventBridge source of every event; rules match on it and DetailType.
const Source = "wxpay"

func init() {
	events.EventBusSink = func(ctx context.Context, bus string) (events.Sink, error) {
		cfg, err := loadAWS(ctx)
		if err != nil {
			return nil, fmt.Errorf("eventbridge: AWS configuration: %w", err)
		}
		return &Sink{Client: eventbridge.NewFromConfig(cfg), Bus: bus}, nil
	}
}

// PutEventsAPI is the one call the sink makes.
type PutEventsAPI interface {
	PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, opts ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

// Sink puts events on an EventBridge bus.
type Sink struct {
	Client PutEventsAPI
	Bus    string // name or ARN
}

// Entry is the PutEvents entry of an event.
func Entry(bus string, ev events.Event, body []byte) types.PutEventsRequestEntry {
	return types.PutEventsRequestEntry{
		EventBusName: aws.String(bus),
		Source:       aws.String(Source),
		DetailType:   aws.String(ev.Type),
		Detail:       aws.String(string(body)),
		Resources:    []string{},
		Time:         aws.Time(ev.CreatedAt.UTC().Truncate(time.Second)),
	}
}

// Send implements events.Sink: acknowledged when EventBridge accepted the entry.
func (s *Sink) Send(ctx context.Context, ev events.Event, body []byte) error {
	out, err := s.Client.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []types.PutEventsRequestEntry{Entry(s.Bus, ev, body)}})
	if err != nil {
		return &events.SendError{Err: fmt.Errorf("eventbridge PutEvents: %w", err)}
	}
	if out.FailedEntryCount > 0 || len(out.Entries) != 1 || out.Entries[0].EventId == nil {
		code, msg := "", ""
		if len(out.Entries) == 1 {
			code, msg = aws.ToString(out.Entries[0].ErrorCode), aws.ToString(out.Entries[0].ErrorMessage)
		}
		return &events.SendError{Err: fmt.Errorf("eventbridge refused %s: %s %s", ev.ID, code, msg)}
	}
	return nil
}
