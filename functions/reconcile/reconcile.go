// Package reconcile is the scheduled function that makes sure no payment is lost.
// Notifications get lost (a network blip, a firewall, a mistyped notify_url); WeChat
// Pay's own guidance is to query when none came. One run reads only what is due from
// the store's pending indexes — a record's position there is its next due time — so
// its cost grows with what is pending, never with the table:
//
//   - "orders": unpaid attempts, queried on a decaying schedule (payment.NextCheck);
//     paid ones settle through the same ledger transition as notify; expired ones and
//     deferred closes are closed at WeChat Pay (never in an order's first 5 minutes);
//   - "refunds": refunds still PROCESSING (hourly for a day, daily for a week, then
//     reported), and refunds whose effect on the order is still owed;
//   - "late_refunds": payments that arrived for closed orders, refunded automatically
//     when WXPAY_REFUND_LATE_PAYMENTS=1;
//   - "outbox": merchant events owed, delivered with back-off (after 72 h without
//     success an event is abandoned: listed in "abandoned" until resent).
//
// The events a run's own transitions record (a payment it settled, a refund, a close)
// are delivered in the same run, right after their record is handled.
//
// A run stops cleanly before its platform deadline; whatever is still due stays in the
// index for the next run, so no cursor needs keeping.
package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/paysls/wxpay/shared/clock"
	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/events"
	"github.com/paysls/wxpay/shared/host"
	"github.com/paysls/wxpay/shared/metrics"
	"github.com/paysls/wxpay/shared/payclient"
	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/platform"
	"github.com/paysls/wxpay/shared/store"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// codeRuleLimit is WeChat Pay's refusal of a close in an order's first 5 minutes.
const codeRuleLimit = "RULELIMIT"

// Options tune a Job.
type Options struct {
	Logger *slog.Logger
	// Now is the bundle's business clock (the ledger's timestamps); a run's "now" for
	// what is due is the time passed to Run.
	Now  clock.Func
	HTTP *http.Client
	// Sink receives merchant events; built from WXPAY_WEBHOOK_URL when nil.
	Sink events.Sink
	// Concurrency bounds WeChat Pay calls in flight (default 8).
	Concurrency int
	// Rate bounds WeChat Pay calls per second (default 20). It halves on
	// FREQUENCY_LIMITED and recovers slowly.
	Rate float64
	// Margin is how long before the context's deadline the run stops taking work
	// (default 3 s, or a tenth of the time left when that is shorter).
	Margin time.Duration
	// EventGrace leaves events younger than this to whoever recorded them (notify tries
	// once right after its write, within its 4 s budget), when the outbox pass finds
	// them. The events this run's own transitions record are not held by it: they are
	// delivered right after their record is handled. Either way a claim per event
	// keeps two deliverers from sending one event twice. Default 5 s.
	EventGrace time.Duration
	// NotifyURL is sent with re-submitted refunds (default cfg.NotifyURL).
	NotifyURL string
	// AllowLoopbackNotifyURL accepts http:// loopback notify_urls (the simulator).
	AllowLoopbackNotifyURL bool
}

// Job is one reconcile function.
type Job struct {
	st        store.Store
	ledger    *payment.Ledger
	client    *wechatpay.Client
	api       platform.API // the mode's refund API (combines.go, refunds.go)
	deliverer *events.Deliverer
	opts      Options
	log       *slog.Logger
	refundAll bool
}

// New builds the job from the merchant configuration. No network I/O.
func New(cfg config.Config, st store.Store, opts Options) (*Job, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	opts.Now = clock.Or(opts.Now)
	if opts.Concurrency <= 0 {
		opts.Concurrency = 8
	}
	if opts.Rate <= 0 {
		opts.Rate = 20
	}
	if opts.NotifyURL == "" {
		opts.NotifyURL = cfg.NotifyURL
	}
	if opts.EventGrace == 0 {
		opts.EventGrace = 5 * time.Second
	}
	client, err := payclient.New(cfg, st, nil, payclient.Options{HTTP: opts.HTTP, AllowLoopbackNotifyURL: opts.AllowLoopbackNotifyURL})
	if err != nil {
		return nil, fmt.Errorf("reconcile: %w", err)
	}
	sink := opts.Sink
	if sink == nil && cfg.Bundle.WebhookURL != "" {
		sink = &events.Webhook{URL: cfg.Bundle.WebhookURL, Secret: cfg.Bundle.WebhookSecret.Reveal(), HTTP: opts.HTTP}
	}
	j := &Job{
		st: st, client: client, opts: opts, log: opts.Logger, refundAll: cfg.Bundle.RefundLatePayments,
		ledger: &payment.Ledger{Store: st, Now: opts.Now, Merchants: []string{cfg.MchID}, Partner: cfg.Bundle.Partner, RefundLatePayments: cfg.Bundle.RefundLatePayments, Log: opts.Logger},
	}
	j.api = platform.API{Client: client, Mode: cfg.Bundle.ModeName(), NotifyURL: opts.NotifyURL}
	j.deliverer = &events.Deliverer{Store: st, Marker: j.ledger, Sink: sink, Now: opts.Now, Log: opts.Logger, Grace: opts.EventGrace}
	return j, nil
}

// Report is what one run did.
type Report struct {
	Examined       int    `json:"examined"`
	Settled        int    `json:"settled"`
	Closed         int    `json:"closed"`
	StillPending   int    `json:"still_pending"`
	Delivered      int    `json:"delivered"`
	Errors         int    `json:"errors"`
	RefundsSettled int    `json:"refunds_settled"`
	RefundsStuck   int    `json:"refunds_stuck"`
	LateRefunds    int    `json:"late_refunds"`
	Throttled      int    `json:"throttled"`
	EventsFailed   int    `json:"events_failed"`
	AdvanceReturns int    `json:"advance_returns,omitempty"` // returns of advanced refunds recorded (combines.go)
	Stopped        string `json:"stopped,omitempty"`         // "deadline" when the run was cut short

	// Sharing is the profit-sharing phase (sharing.go).
	Sharing SharingReport `json:"sharing,omitzero"`
}

func (r Report) asMap() host.Report {
	m := host.Report{
		"examined": r.Examined, "settled": r.Settled, "closed": r.Closed, "still_pending": r.StillPending,
		"delivered": r.Delivered, "errors": r.Errors, "refunds_settled": r.RefundsSettled,
		"refunds_stuck": r.RefundsStuck, "late_refunds": r.LateRefunds, "throttled": r.Throttled, "events_failed": r.EventsFailed,
		"advance_returns": r.AdvanceReturns,
	}
	if r.Sharing != (SharingReport{}) {
		m["sharing"] = r.Sharing
	}
	if r.Stopped != "" {
		m["stopped"] = r.Stopped
	}
	return m
}

// counters are a run's report under concurrency.
type counters struct {
	examined, settled, closed, pending, errors, refundsSettled, stuck, late, throttled, advances atomic.Int64
	// the profit-sharing phase (sharing.go)
	sharesExamined, sharesAsked, shares, finishes, returns, refundsReleased, sharesFailed atomic.Int64
}

// Run is the host.Job: one pass over everything due at now.
func (j *Job) Run(ctx context.Context, now time.Time) (host.Report, error) {
	r, err := j.Pass(ctx, now)
	return r.asMap(), err
}

// Pass runs once and returns the typed report.
func (j *Job) Pass(ctx context.Context, now time.Time) (Report, error) {
	work, cancel := j.workContext(ctx)
	defer cancel()
	var c counters
	lim := newLimiter(j.opts.Rate)
	var errs []error
	type handler = func(context.Context, store.Record, time.Time, *counters, *limiter)
	handlers := map[string]handler{
		payment.PendingOrders:         j.order,
		payment.PendingRefunds:        j.refund,
		payment.PendingLateRefunds:    j.lateRefund,
		payment.PendingCombines:       j.combine,       // combines.go
		payment.PendingAdvanceReturns: j.advanceReturn, // combines.go
		payment.PendingShares:         j.share,         // sharing.go
	}
	var mu sync.Mutex
	var delivered events.Result
	deliveries := func(r events.Result) {
		mu.Lock()
		delivered.Add(r)
		mu.Unlock()
	}
	// run handles one due record, then delivers the events its transitions recorded
	// (the ledger notes them to the Recording of the handler's context) before taking
	// the next: a payment settled here after a lost notification reaches the merchant
	// in this pass, not the next. Only its own: a young event a racing notification
	// recorded on the same record stays that notification's to send (the grace), and
	// the claim keeps the two from ever sending one event twice.
	run := func(ctx context.Context, handle handler, rec store.Record) {
		hctx, recorded := events.Recording(ctx)
		handle(hctx, rec, now, &c, lim)
		r, err := j.deliverer.DeliverRecorded(ctx, recorded())
		deliveries(r)
		if err != nil {
			c.errors.Add(1)
			j.log.Error("reconcile: delivering the events this run recorded; they stay in the outbox", "key", rec.Key, "error", err.Error())
		}
	}
	for _, index := range []string{payment.PendingOrders, payment.PendingRefunds, payment.PendingLateRefunds, payment.PendingCombines, payment.PendingAdvanceReturns, payment.PendingShares} {
		if err := j.each(work, index, now, func(ctx context.Context, rec store.Record) { run(ctx, handlers[index], rec) }); err != nil {
			errs = append(errs, err)
		}
	}
	// The outbox: owed events, and the own debts of records that also owe events
	// (events.Placement keeps them there at the earlier of the two).
	err := j.each(work, events.IndexOutbox, now, func(ctx context.Context, rec store.Record) {
		r, rec, err := j.deliverer.DeliverRecord(ctx, rec, false)
		deliveries(r)
		if err != nil {
			c.errors.Add(1)
			j.log.Error("reconcile: event delivery", "key", rec.Key, "error", err.Error())
			return
		}
		if idx, at := events.Schedule(rec.Attrs); handlers[idx] != nil && !at.After(now) {
			run(ctx, handlers[idx], rec)
		}
	})
	if err != nil {
		errs = append(errs, err)
	}
	rep := Report{
		Examined: int(c.examined.Load()), Settled: int(c.settled.Load()), Closed: int(c.closed.Load()),
		StillPending: int(c.pending.Load()), Errors: int(c.errors.Load()) + len(errs),
		RefundsSettled: int(c.refundsSettled.Load()), RefundsStuck: int(c.stuck.Load()), LateRefunds: int(c.late.Load()),
		Throttled: int(c.throttled.Load()), Delivered: delivered.Delivered, EventsFailed: delivered.Failed + delivered.Abandoned,
		AdvanceReturns: int(c.advances.Load()),
	}
	rep.Sharing = c.sharingReport() // sharing.go
	if work.Err() != nil && ctx.Err() == nil {
		rep.Stopped = "deadline"
		j.log.Warn("reconcile stopped before its deadline; what is still due stays in the index for the next run")
	}
	metrics.Emit(ctx, j.log, "reconcile", now, map[string]int{
		"examined": rep.Examined, "settled": rep.Settled, "closed": rep.Closed, "still_pending": rep.StillPending,
		"delivered": rep.Delivered, "errors": rep.Errors, "refunds_stuck": rep.RefundsStuck, "throttled": rep.Throttled,
	})
	if err := errors.Join(errs...); err != nil {
		return rep, fmt.Errorf("reconcile: %w", err)
	}
	return rep, nil
}

// workContext ends Margin before ctx's deadline, so the run stops taking work in time
// to report (Lambda's context deadline, SCF's timeout).
func (j *Job) workContext(ctx context.Context) (context.Context, context.CancelFunc) {
	d, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	margin := j.opts.Margin
	if margin <= 0 {
		margin = 3 * time.Second
	}
	if left := time.Until(d); margin > left/10 {
		margin = left / 10
	}
	return context.WithDeadline(ctx, d.Add(-margin))
}

// each feeds every record of index due before now to fn on a bounded pool. Records fn
// moves later in the index are not seen again in this run.
func (j *Job) each(ctx context.Context, index string, now time.Time, fn func(context.Context, store.Record)) error {
	recs := make(chan store.Record)
	var wg sync.WaitGroup
	for range j.opts.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for rec := range recs {
				fn(ctx, rec)
			}
		}()
	}
	defer func() {
		close(recs)
		wg.Wait()
	}()
	// Before is exclusive and times are kept to the microsecond: due at or before now.
	opts := store.ListOptions{Before: now.Add(time.Microsecond), Limit: 200}
	for {
		page, err := j.st.ListPending(ctx, index, opts)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("list %s: %w", index, err)
		}
		for _, rec := range page.Records {
			select {
			case recs <- rec:
			case <-ctx.Done():
				return nil
			}
		}
		if page.Cursor == "" {
			return nil
		}
		opts.Cursor = page.Cursor
	}
}

// order settles, closes or reschedules one due attempt.
func (j *Job) order(ctx context.Context, rec store.Record, now time.Time, c *counters, lim *limiter) {
	c.examined.Add(1)
	log := j.log.With("key", rec.Key)
	o, err := payment.OrderOf(rec)
	if err != nil {
		c.errors.Add(1)
		log.Error("reconcile: decode order", "error", err.Error())
		return
	}
	if !o.Unsettled() {
		// Settled meanwhile: its own transition placed it; a stale query schedule goes.
		if _, err := j.ledger.Reschedule(ctx, o, time.Time{}, time.Time{}); err != nil {
			c.errors.Add(1)
			log.Error("reconcile: unschedule a settled order", "error", err.Error())
		}
		return
	}
	client := payclient.ForOwner(j.client, o.Owner)
	if err := lim.wait(ctx); err != nil {
		return
	}
	tx, err := client.QueryByOutTradeNo(ctx, o.OutTradeNo)
	switch {
	case wechatpay.IsCode(err, wechatpay.CodeOrderNotExist):
		// The prepay never reached WeChat Pay: nothing can be paid. Close it locally once
		// it is due to close; until then keep checking (a prepay may still be in flight).
		if j.dueToClose(o, now) {
			j.closeLocally(ctx, o, c, log)
			return
		}
		j.reschedule(ctx, o, now, c, log)
		return
	case err != nil:
		j.failed(ctx, o, now, err, c, lim, log)
		return
	}
	lim.ok()
	res, err := j.ledger.ApplyQueried(ctx, o, tx, "reconcile")
	if err != nil {
		c.errors.Add(1)
		log.Error("reconcile: apply query result", "error", err.Error())
		return
	}
	switch {
	case tx.TradeState == wechatpay.TradeStateSuccess || tx.TradeState == wechatpay.TradeStateRefund:
		if res.Outcome == payment.Applied || res.Outcome == payment.Review {
			c.settled.Add(1)
			log.Info("reconcile settled a payment the notification missed", "transaction_id", tx.TransactionID, "outcome", string(res.Outcome))
		}
		return
	case tx.TradeState == wechatpay.TradeStateClosed || tx.TradeState == wechatpay.TradeStateRevoked:
		if res.Outcome == payment.Applied {
			c.closed.Add(1)
		}
		return
	}
	if res.Order != nil {
		o = res.Order
	}
	if !j.dueToClose(o, now) {
		c.pending.Add(1)
		return
	}
	j.close(ctx, o, client, now, c, lim, log)
}

// dueToClose: a close was requested, or the attempt expired. An order the bundle did
// not create is never closed by it.
func (j *Job) dueToClose(o *payment.Order, now time.Time) bool {
	if o.Unknown {
		return false
	}
	if o.Parked() {
		// Left by the cashier page for another scene: payable until its expiry, when
		// WeChat Pay closes it anyway; the page may switch back to it meanwhile.
		return !now.Before(o.Close.At)
	}
	if o.Close != nil {
		return true // as soon as WeChat Pay allows: close() waits out the 5-minute rule
	}
	return !o.ExpiresAt.IsZero() && now.After(o.ExpiresAt)
}

// minCloseAge is WeChat Pay's rule: no close in an order's first 5 minutes.
const minCloseAge = 5 * time.Minute

// close closes an unpaid attempt at WeChat Pay, then locally with order.closed.
func (j *Job) close(ctx context.Context, o *payment.Order, client *wechatpay.Client, now time.Time, c *counters, lim *limiter, log *slog.Logger) {
	if earliest := o.CreatedAt.Add(minCloseAge + time.Second); !o.CreatedAt.IsZero() && now.Before(earliest) {
		j.rescheduleAt(ctx, o, earliest, c, log)
		c.pending.Add(1)
		return
	}
	if err := lim.wait(ctx); err != nil {
		return
	}
	err := client.Close(ctx, o.OutTradeNo)
	switch {
	case err == nil, wechatpay.IsCode(err, wechatpay.CodeOrderClosed):
		lim.ok()
	case wechatpay.IsCode(err, wechatpay.CodeOrderNotExist):
		// WeChat Pay never saw this out_trade_no (a cashier placeholder, or a prepay that
		// never arrived): nothing there can be paid, so the close is done locally.
		lim.ok()
	case wechatpay.IsCode(err, wechatpay.CodeOrderPaid):
		// Paid while we decided: the next query (due now) settles it.
		j.rescheduleAt(ctx, o, now, c, log)
		return
	case wechatpay.IsCode(err, codeRuleLimit):
		j.rescheduleAt(ctx, o, now.Add(time.Minute), c, log)
		c.pending.Add(1)
		return
	default:
		j.failed(ctx, o, now, err, c, lim, log)
		return
	}
	j.closeLocally(ctx, o, c, log)
}

func (j *Job) closeLocally(ctx context.Context, o *payment.Order, c *counters, log *slog.Logger) {
	res, err := j.ledger.MarkClosed(ctx, o.Key(), "reconcile")
	switch {
	case err != nil:
		c.errors.Add(1)
		log.Error("reconcile: record close", "error", err.Error())
	case res.Outcome == payment.Applied:
		c.closed.Add(1)
		log.Info("reconcile closed an order", "reason", closeReason(o))
	}
}

func closeReason(o *payment.Order) string {
	if o.Close != nil {
		return "close requested"
	}
	return "expired"
}

// failed handles a WeChat Pay error: throttling slows the run down, anything else is
// counted; either way the record is retried a minute later, never dropped.
func (j *Job) failed(ctx context.Context, o *payment.Order, now time.Time, err error, c *counters, lim *limiter, log *slog.Logger) {
	if !j.failure(ctx, err, c, lim, log) {
		return
	}
	j.rescheduleAt(ctx, o, now.Add(time.Minute), c, log)
}

// failure counts a failed WeChat Pay call; false when the run's deadline cut it (the
// record stays due for the next run).
func (j *Job) failure(ctx context.Context, err error, c *counters, lim *limiter, log *slog.Logger) bool {
	if ctx.Err() != nil {
		return false
	}
	if wechatpay.IsCode(err, wechatpay.CodeFrequencyLimited) {
		c.throttled.Add(1)
		lim.throttled()
		log.Warn("reconcile: WeChat Pay rate limit; slowing down", "rate", lim.rate())
	} else {
		c.errors.Add(1)
		log.Error("reconcile: WeChat Pay call failed", "error", err.Error())
	}
	c.pending.Add(1)
	return true
}

func (j *Job) reschedule(ctx context.Context, o *payment.Order, now time.Time, c *counters, log *slog.Logger) {
	c.pending.Add(1)
	j.rescheduleAt(ctx, o, payment.NextCheck(o.CreatedAt, o.ExpiresAt, now), c, log)
}

func (j *Job) rescheduleAt(ctx context.Context, o *payment.Order, at time.Time, c *counters, log *slog.Logger) {
	if _, err := j.ledger.Reschedule(ctx, o, at, time.Time{}); err != nil {
		c.errors.Add(1)
		log.Error("reconcile: reschedule", "error", err.Error())
	}
}
