package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/paysls/wxpay/shared/events"
	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/store"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// errDeadline: the notification's work did not finish within the handler's budget. It
// is answered 503 before WeChat Pay's own 5 s timeout, so that WeChat Pay retries.
var errDeadline = errors.New("notify: the notification was not recorded within the handler's budget (store too slow or unreachable)")

// handleWithin runs handle but answers by ctx's deadline even when the store ignores
// the context (a stalled bbolt lock, a hung connection): the work goes on in the
// background, and if it lands after all, WeChat Pay's retry finds a duplicate.
//
// The body is read here, before the work is handed over: a handler must not read it
// after returning. Its pace is the server's business (ReadTimeout locally; API Gateway
// and SCF hand it over whole).
func (h *Handler) handleWithin(ctx context.Context, r *http.Request) (result, error) {
	type answer struct {
		res result
		err error
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, wechatpay.MaxNotificationBody+1))
	if err != nil {
		return result{}, fmt.Errorf("notify: reading the notification: %w", err)
	}
	r = r.Clone(ctx)
	r.Body = io.NopCloser(bytes.NewReader(body))
	done := make(chan answer, 1)
	go func() {
		res, err := h.handle(r)
		done <- answer{res, err}
	}()
	select {
	case a := <-done:
		return a.res, a.err
	case <-ctx.Done():
		return result{}, errDeadline
	}
}

// logOutcome logs what a notification did. A REVIEW is made loud by the ledger itself
// (one ERROR line that is also the PaymentReview metric, whatever path caused it);
// here it is one more notification applied.
func (h *Handler) logOutcome(ctx context.Context, log *slog.Logger, res result) {
	attrs := []any{"event_type", res.event, "notification_id", res.id, "key", res.key, "outcome", string(res.outcome), "state", res.state}
	switch res.outcome {
	case payment.Review:
		log.Info("notification applied; the record is in REVIEW", append(attrs, "reason", res.applied.Reason)...)
	case payment.Refused:
		log.Warn("notification acknowledged but not applied", append(attrs, "reason", res.applied.Reason)...)
	case payment.Duplicate:
		log.Info("notification already recorded (duplicate)", attrs...)
	default:
		log.Info("notification applied", attrs...)
	}
}

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
