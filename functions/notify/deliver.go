package notify

import (
	"context"
	"log/slog"
	"time"

	"github.com/paysls/wxpay/shared/events"
	"github.com/paysls/wxpay/shared/store"
)

// deliveryMargin is kept free at the end of the budget for writing the answer.
const deliveryMargin = 250 * time.Millisecond

// deliverNow tries once to deliver the events owed on rec (the one this notification
// recorded, and any older one still due), before the answer is written: under Lambda
// and SCF the answer leaves only when the handler returns, and work after it may be
// frozen, so the same bounded, synchronous attempt is used everywhere. It waits at most
// DeliverWithin and never past the budget minus a margin; a slow store or sink is left
// behind (the attempt's own context ends with it), and the event stays in the outbox.
func (h *Handler) deliverNow(ctx context.Context, log *slog.Logger, rec store.Record) {
	if h.Deliverer == nil || h.Deliverer.Sink == nil {
		return
	}
	wait := h.DeliverWithin
	if wait <= 0 {
		wait = DefaultDeliverWithin
	}
	if dl, ok := ctx.Deadline(); ok {
		wait = min(wait, time.Until(dl)-deliveryMargin)
	}
	if wait < 50*time.Millisecond {
		return
	}
	// The attempt outlives neither wait nor the request, but the sink gets only three
	// quarters of it so that a delivery that succeeded is marked before the end.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), wait)
	d := *h.Deliverer
	d.Sink = sendWithin{Sink: h.Deliverer.Sink, d: wait * 3 / 4}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer cancel()
		res, _, err := d.DeliverRecord(dctx, rec, false)
		if err != nil {
			log.Warn("immediate event delivery: left for the outbox timer", "key", rec.Key, "error", err.Error())
			return
		}
		if res.Failed > 0 {
			log.Info("immediate event delivery failed; the outbox retries it", "key", rec.Key, "failed", res.Failed)
		}
	}()
	select {
	case <-done:
	case <-dctx.Done():
	}
}

// sendWithin bounds each Send of a sink.
type sendWithin struct {
	events.Sink
	d time.Duration
}

func (s sendWithin) Send(ctx context.Context, ev events.Event, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, s.d)
	defer cancel()
	return s.Sink.Send(ctx, ev, body)
}
