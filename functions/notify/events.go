package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"

	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/events"
	"github.com/paysls/wxpay/shared/store"
)

// withEvents gives h its Deliverer: the sink WithSink gives or the bundle settings
// name (webhook), or none — then events are recorded, listed by GET /events, and
// delivered once a sink is configured.
func withEvents(h *Handler, cfg config.Config, st store.Store, log *slog.Logger, opts []Option) error {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	sink, err := o.sink, error(nil)
	if !o.sinkSet {
		sink, err = events.SinkFromConfig(context.Background(), cfg.Bundle, nil, events.WebhookSink)
	}
	if err != nil && !errors.Is(err, events.ErrNoSink) {
		return fmt.Errorf("notify: configuration: %w", err)
	}
	if log != nil && sink == nil {
		// Said by the first request, not at start: it changes nothing in what the
		// handler does, and on Lambda it would be the cold start's only log line —
		// about 80 µs, slog's JSON handler running for the first time in the process.
		h.noSink = sync.OnceFunc(func() {
			log.Info("merchant events are recorded but not delivered: set WXPAY_WEBHOOK_URL (and WXPAY_WEBHOOK_SECRET) or WXPAY_EVENT_BUS; GET /events?undelivered=1 lists them")
		})
	}
	h.Deliverer = &events.Deliverer{Store: st, Marker: h.Ledger, Sink: sink, Log: log}
	return nil
}

// WithEvents is the deployed function's handler: the events API for paths under
// /events, the notification handler for every other path (API Gateway and SCF may put
// a stage or a custom path in front of /notify).
//
// The events API's mux is built by its first request, not at start: a cold start's
// first ServeMux registration costs 60–90 µs (the pattern parser and routing tree
// run for the first time), and most of notify's cold starts are a WeChat Pay
// notification that never reaches it. Nothing in it depends on a setting: what it
// needs was checked when h was built.
func WithEvents(h *Handler, cfg config.Config) http.Handler {
	api := &events.API{Store: h.Ledger.Store, Marker: h.Ledger, Token: cfg.Bundle.APIToken.Reveal(), Deliverer: h.Deliverer}
	mux := sync.OnceValue(func() *http.ServeMux {
		mux := http.NewServeMux()
		api.Routes(mux)
		return mux
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/events" || strings.HasPrefix(r.URL.Path, "/events/") {
			mux().ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// Routes mounts the notify function's routes on mux: POST /notify and the events API
// (GET /events?undelivered=1, GET /events/{id}, POST /events/{id}/resend) behind the
// bundle's API token (WXPAY_API_TOKEN).
func Routes(mux *http.ServeMux, h *Handler, cfg config.Config) {
	mux.Handle("/notify", h)
	(&events.API{Store: h.Ledger.Store, Marker: h.Ledger, Token: cfg.Bundle.APIToken.Reveal(), Deliverer: h.Deliverer}).Routes(mux)
}
