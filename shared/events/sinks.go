package events

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/paysls/wxpay/shared/config"
)

// EventBusSink builds the EventBridge sink for a bus name. Package
// shared/events/eventbridge sets it when a build includes it (SCF builds leave it out
// with the wxpay_noeventbridge tag, and with it the AWS SDK's EventBridge client).
var EventBusSink func(ctx context.Context, bus string) (Sink, error)

// ErrNoSink: neither WXPAY_WEBHOOK_URL nor WXPAY_EVENT_BUS is set. Events then stay
// in the outbox (GET /events?undelivered=1 lists them) until a sink is configured.
var ErrNoSink = errors.New("events: no sink configured (WXPAY_WEBHOOK_URL or WXPAY_EVENT_BUS)")

// SinkFromConfig is the sink the bundle settings name: the signed webhook
// (WXPAY_WEBHOOK_URL with WXPAY_WEBHOOK_SECRET) or, on AWS, an EventBridge bus
// (WXPAY_EVENT_BUS). One of them, never both: an event is delivered once it is
// acknowledged, and two sinks would make that ambiguous. hc may be nil.
func SinkFromConfig(ctx context.Context, b config.Bundle, hc *http.Client) (Sink, error) {
	switch {
	case b.WebhookURL != "" && b.EventBus != "":
		return nil, fmt.Errorf("events: both %s and %s are set; choose one sink", config.EnvWebhookURL, config.EnvEventBus)
	case b.WebhookURL != "":
		u, err := url.Parse(b.WebhookURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, fmt.Errorf("events: %s must be an http(s) URL, got %q", config.EnvWebhookURL, b.WebhookURL)
		}
		if b.WebhookSecret.IsZero() {
			return nil, fmt.Errorf("events: %s is set but %s is not: merchants could not verify Wxpay-Signature", config.EnvWebhookURL, config.EnvWebhookSecret)
		}
		return &Webhook{URL: b.WebhookURL, Secret: b.WebhookSecret.Reveal(), HTTP: hc}, nil
	case b.EventBus != "":
		if EventBusSink == nil {
			return nil, fmt.Errorf("events: %s is set but this build leaves the EventBridge sink out (built with wxpay_noeventbridge)", config.EnvEventBus)
		}
		return EventBusSink(ctx, b.EventBus)
	}
	return nil, ErrNoSink
}
