// Package notify is the notify function: POST /notify receives WeChat Pay's
// notifications — v3 JSON and v2 XML on the same notify_url — and applies the payment
// and refund results they carry through the ledger. One pipeline serves both formats:
//
//	read the body once (one limit)        read          (decode.go)
//	tell v2 XML from v3 JSON              read
//	verify and decode to one notice       decode
//	apply the notice through the ledger   apply         (apply.go)
//	answer from one error→status table    answer        (answer.go)
//
// all inside one budget, shorter than the 5 s WeChat Pay waits for an answer. Success
// is answered (204, or v2's XML SUCCESS) only once the result is durably written, or
// was already; anything else gets a non-2xx, so that WeChat Pay delivers it again.
package notify

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/events"
	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// Handler serves POST /notify.
type Handler struct {
	// Notifier verifies and decrypts v3 notifications.
	Notifier *wechatpay.Notifier
	// Ledger applies results to the store (its Merchants guard against foreign ones).
	Ledger *payment.Ledger
	Logger *slog.Logger
	// APIv2Key verifies v2 XML notifications; unset, they are refused with a message
	// saying to set WXPAY_APIV2_KEY.
	APIv2Key config.Secret
	// Deliverer, when set with a Sink, sends the merchant event a notification's
	// transition recorded once, right after the write and before the answer, within
	// DeliverWithin. Whatever it does not deliver stays in the outbox for the timer
	// (`wxpay serve`) or reconcile.
	Deliverer *events.Deliverer
	// Budget bounds the whole request, either format (verification, certificate
	// download, store writes, the delivery attempt): WeChat Pay gives a notify_url 5 s
	// and counts a slower answer as failed. Default DefaultBudget.
	Budget time.Duration
	// DeliverWithin bounds the immediate delivery attempt. Default DefaultDeliverWithin.
	DeliverWithin time.Duration

	// noSink, when set, logs once that merchant events are not delivered (withEvents).
	noSink func()
}

// Defaults of Handler's time limits.
const (
	DefaultBudget        = 4 * time.Second
	DefaultDeliverWithin = time.Second
)

// ServeHTTP is the pipeline, top to bottom.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.noSink != nil {
		h.noSink()
	}
	ctx, cancel := context.WithTimeout(r.Context(), positiveOr(h.Budget, DefaultBudget))
	defer cancel()
	log := h.logger().With("request_id", r.Header.Get(wechatpay.HeaderRequestID), "serial", r.Header.Get(wechatpay.HeaderSerial))
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		answer(ctx, w, log, v3, errMethod)
		return
	}
	body, f, err := read(r)
	log = log.With("format", f.String())
	if err != nil {
		answer(ctx, w, log, f, err)
		return
	}
	sig := wechatpay.HeadersFrom(r.Header)
	n, res, err := h.within(ctx, func(ctx context.Context) (notice, applied, error) {
		n, err := h.decode(ctx, f, sig, body)
		if err != nil {
			return n, applied{}, err
		}
		res, err := apply(ctx, h.Ledger, n)
		return n, res, err
	})
	log = log.With("event_type", n.event, "notification_id", n.id)
	if err != nil {
		answer(ctx, w, log, f, err)
		return
	}
	logOutcome(ctx, log, res)
	if res.recorded {
		h.deliverNow(ctx, log, res.record)
	}
	for _, rec := range res.more {
		h.deliverNow(ctx, log, rec)
	}
	answer(ctx, w, log, f, nil)
}

// within runs work but returns by ctx's deadline even when the store ignores the
// context (a stalled bbolt lock, a hung connection): the work goes on in the
// background with a cancelled context, and if it lands after all, WeChat Pay's retry
// finds a duplicate. Nothing of the request is touched after ServeHTTP returns: the
// body and the signature headers are read before.
func (h *Handler) within(ctx context.Context, work func(context.Context) (notice, applied, error)) (notice, applied, error) {
	type result struct {
		n   notice
		res applied
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, res, err := work(ctx)
		done <- result{n, res, err}
	}()
	select {
	case r := <-done:
		return r.n, r.res, r.err
	case <-ctx.Done():
		return notice{}, applied{}, errDeadline
	}
}

func (h *Handler) logger() *slog.Logger {
	if h.Logger != nil {
		return h.Logger
	}
	return slog.Default()
}

func positiveOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}
