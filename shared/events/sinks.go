package events

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/paysls/wxpay/shared/config"
)

// A SinkDriver builds the sink one setting names. There is no registry: a program
// passes SinkFromConfig the drivers it links — WebhookSink (standard library only) in
// every build, shared/events/eventbridge's in the AWS builds — and a setting whose
// driver is not among them is refused by name.
type SinkDriver struct {
	// Setting is the variable that selects the sink: WXPAY_WEBHOOK_URL, WXPAY_EVENT_BUS.
	Setting string
	// What names the sink in messages: "signed webhook", "EventBridge".
	What string
	// Open builds the sink from the bundle settings; hc may be nil.
	Open func(ctx context.Context, b config.Bundle, hc *http.Client) (Sink, error)
}

// ErrNoSink: neither WXPAY_WEBHOOK_URL nor WXPAY_EVENT_BUS is set. Events then stay
// in the outbox (GET /events?undelivered=1 lists them) until a sink is configured.
var ErrNoSink = errors.New("events: no sink configured (WXPAY_WEBHOOK_URL or WXPAY_EVENT_BUS)")

// WebhookSink is the signed webhook: WXPAY_WEBHOOK_URL with WXPAY_WEBHOOK_SECRET.
var WebhookSink = SinkDriver{Setting: config.EnvWebhookURL, What: "signed webhook", Open: openWebhook}

func openWebhook(_ context.Context, b config.Bundle, hc *http.Client) (Sink, error) {
	u, err := url.Parse(b.WebhookURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("events: %s must be an http(s) URL, got %q", config.EnvWebhookURL, b.WebhookURL)
	}
	if b.WebhookSecret.IsZero() {
		return nil, fmt.Errorf("events: %s is set but %s is not: merchants could not verify Wxpay-Signature", config.EnvWebhookURL, config.EnvWebhookSecret)
	}
	return &Webhook{URL: b.WebhookURL, Secret: b.WebhookSecret.Reveal(), HTTP: hc}, nil
}

// SinkFromConfig is the sink the bundle settings name, built by the driver of that
// setting: the signed webhook (WXPAY_WEBHOOK_URL) or an EventBridge bus
// (WXPAY_EVENT_BUS). One of them, never both: an event is delivered once it is
// acknowledged, and two sinks would make that ambiguous. ErrNoSink when neither is
// set. hc may be nil.
func SinkFromConfig(ctx context.Context, b config.Bundle, hc *http.Client, drivers ...SinkDriver) (Sink, error) {
	var setting string
	switch {
	case b.WebhookURL != "" && b.EventBus != "":
		return nil, fmt.Errorf("events: both %s and %s are set; choose one sink", config.EnvWebhookURL, config.EnvEventBus)
	case b.WebhookURL != "":
		setting = config.EnvWebhookURL
	case b.EventBus != "":
		setting = config.EnvEventBus
	default:
		return nil, ErrNoSink
	}
	for _, d := range drivers {
		if d.Setting == setting {
			return d.Open(ctx, b, hc)
		}
	}
	return nil, fmt.Errorf("events: %s is set, but this program has no sink for it", setting)
}
