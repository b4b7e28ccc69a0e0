package events

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/paysls/wxpay/internal/judgment"
	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/store"
	"github.com/paysls/wxpay/shared/webhook"
)

// Headers of a webhook delivery (package webhook defines the scheme). Wxpay-Event-Id is
// not covered by the signature: receivers de-duplicate by the signed body's id.
const (
	HeaderEventID   = webhook.HeaderEventID
	HeaderSignature = webhook.HeaderSignature
)

// Sink receives events. Send returns nil once the event is acknowledged.
type Sink interface {
	Send(ctx context.Context, ev Event, body []byte) error
}

// SendError is a refused or failed delivery; Status is the HTTP status (0: no answer).
type SendError struct {
	Status int
	Err    error
}

func (e *SendError) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("webhook answered %d: %v", e.Status, e.Err)
	}
	return "delivery failed: " + e.Err.Error()
}
func (e *SendError) Unwrap() error { return e.Err }

// Webhook POSTs events to a URL, signed with the webhook secret (webhook.Sign). Any
// 2xx acknowledges. Redirects are not followed: a 3xx is a failed attempt naming the
// Location, because a client following a 301/302/303 re-sends as a bodiless GET, and a
// page answering that GET with 200 would mark the event delivered while its body
// never arrived.
type Webhook struct {
	URL    string
	Secret []byte
	HTTP   *http.Client // a client with a 10 s timeout when nil; its redirect policy is replaced
	Now    func() time.Time
}

// Send implements Sink.
func (w *Webhook) Send(ctx context.Context, ev Event, body []byte) error {
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return &SendError{Err: fmt.Errorf("webhook request: %w", err)}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "wxpay-events/1")
	req.Header.Set(HeaderEventID, ev.ID)
	req.Header.Set(HeaderSignature, webhook.Sign(body, now(), w.Secret))
	resp, err := w.client().Do(req)
	if err != nil {
		return &SendError{Err: err}
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	switch {
	case resp.StatusCode/100 == 2:
		return nil
	case resp.StatusCode/100 == 3:
		loc := resp.Header.Get("Location")
		if u, err := resp.Location(); err == nil {
			loc = u.String() // resolved against the webhook URL
		}
		return &SendError{Status: resp.StatusCode, Err: fmt.Errorf("redirect to %q is not a delivery (the event's body does not follow a redirect): set %s to the URL that answers the POST itself",
			loc, config.EnvWebhookURL)}
	}
	return &SendError{Status: resp.StatusCode, Err: fmt.Errorf("%q", bytes.TrimSpace(snippet))}
}

// client is w.HTTP (or a default) that hands back every redirect as the answer.
func (w *Webhook) client() *http.Client {
	c := http.Client{Timeout: 10 * time.Second}
	if w.HTTP != nil {
		c = *w.HTTP
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

// Backoff is the delay before attempt n+1 after n failed attempts: 30 s doubling to a
// cap of 2 h. With GiveUpAfter at 72 h that is about 45 attempts — more than the
// 24 hours of retries merchants are promised.
func Backoff(n int) time.Duration {
	d := 30 * time.Second
	for i := 1; i < n && d < 2*time.Hour; i++ {
		d *= 2
	}
	return min(d, 2*time.Hour)
}

// GiveUpAfter is how long after its creation (or its last resend) an undelivered event
// stops being retried.
// It stays on its record (GET /events lists it; POST /events/{id}/resend revives it).
const GiveUpAfter = 72 * time.Hour

// Deliverer sends owed events and records the outcome on their records.
type Deliverer struct {
	Store store.Store // lists the outbox
	// Marker records each outcome on the event's record and makes each event's
	// payload: the ledger (payment.Ledger), the owner of the records events live on.
	Marker Marker
	Sink   Sink // nil: events accumulate until a sink is configured
	Now    func() time.Time
	Log    *slog.Logger
	// Backoff is the delay before the next attempt after n failed ones; nil: Backoff.
	// (`wxpay serve --retry-scale` shortens it for tests and the soak.)
	Backoff func(n int) time.Duration
	// Grace leaves events younger than this to the deliverer that recorded them (notify
	// tries once right after its write): DeliverDue lists the outbox before now-Grace,
	// so a timer racing that first attempt rarely sends an extra copy.
	Grace time.Duration
}

func (d *Deliverer) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

func (d *Deliverer) log() *slog.Logger {
	if d.Log != nil {
		return d.Log
	}
	return slog.Default()
}

// Result counts what a delivery pass did.
type Result struct {
	Delivered int `json:"delivered"`
	Failed    int `json:"failed"`
	Abandoned int `json:"abandoned"`
}

// Add accumulates r2 into r.
func (r *Result) Add(r2 Result) {
	r.Delivered += r2.Delivered
	r.Failed += r2.Failed
	r.Abandoned += r2.Abandoned
}

// DeliverDue delivers the events of every outbox record due before now, page by page,
// until the index is exhausted or ctx ends. Records whose events are not due yet are
// not read.
func (d *Deliverer) DeliverDue(ctx context.Context) (Result, error) {
	var total Result
	opts := store.ListOptions{Before: d.now().Add(time.Microsecond - d.Grace), Limit: 100} // due at or before now, less the grace
	for {
		page, err := d.Store.ListPending(ctx, IndexOutbox, opts)
		if err != nil {
			return total, fmt.Errorf("events: list outbox: %w", err)
		}
		for _, rec := range page.Records {
			if ctx.Err() != nil {
				return total, nil // the rest stays due for the next run
			}
			r, _, err := d.DeliverRecord(ctx, rec, false)
			total.Add(r)
			if err != nil {
				// The outcome could not be recorded (the store failing): stop the pass, as
				// every further send would be repeated by the next one.
				d.log().Warn("events: delivery pass stopped: an outcome could not be recorded", "key", rec.Key, "error", err.Error())
				return total, err
			}
		}
		if page.Cursor == "" {
			return total, nil
		}
		opts.Cursor = page.Cursor
	}
}

// DeliverRecord sends rec's owed events that are due (all owed ones when force) and
// marks each outcome with a version-conditioned write; a lost race re-reads the record
// from the failed write and carries on with what is still owed. Each event is claimed
// before it is sent (claim), so a deliverer racing this one never sends it too.
// It returns the record as last written.
func (d *Deliverer) DeliverRecord(ctx context.Context, rec store.Record, force bool) (Result, store.Record, error) {
	return d.deliverRecord(ctx, rec, force, nil)
}

// deliverRecord is DeliverRecord; the events named in own were recorded by the
// caller's own writes (DeliverRecorded), so the grace, which leaves young events to
// whoever recorded them, does not hold them back.
func (d *Deliverer) deliverRecord(ctx context.Context, rec store.Record, force bool, own map[string]bool) (Result, store.Record, error) {
	var res Result
	if d.Sink == nil {
		return res, rec, nil
	}
	if d.Marker == nil {
		return res, rec, errors.New("events: the deliverer has no Marker to record outcomes with (wire the ledger)")
	}
	causal := judgment.CausalEvents.On()
	now := d.now()
entries:
	for _, listed := range Entries(rec) {
		// As the record is now: every claim and mark below moves it on.
		e, ok := entryIn(rec, listed.Attr)
		if !ok {
			continue
		}
		switch {
		case !e.DeliveredAt.IsZero():
			continue
		case e.isAbandoned():
			if causal {
				// Retries gave up on it: what the record recorded after it waits until it
				// is resent and delivered (a merchant must not learn of a refund before
				// the payment it refunds), and shows as owed meanwhile.
				break entries
			}
			continue
		}
		if !e.owed() {
			continue
		}
		young := e.Attempts == 0 && now.Sub(e.CreatedAt) < d.Grace && !own[e.ID]
		if !force && (e.NextAt.After(now) || young) {
			if causal {
				break // a record's events go in sequence: nothing after one held back
			}
			continue // not due, or young enough to be its recorder's to send
		}
		base, out, ok, err := d.claim(ctx, rec, e, now)
		rec = out
		if err != nil {
			return res, rec, err
		}
		if !ok {
			// Another deliverer holds it or has recorded its outcome since rec was read.
			if cur, _ := entryIn(rec, e.Attr); causal && cur.DeliveredAt.IsZero() {
				break
			}
			continue
		}
		e = base
		body, err := json.Marshal(d.Marker.EventPayload(rec, e.Event))
		if err != nil {
			return res, rec, fmt.Errorf("events: encode %s: %w", e.ID, err)
		}
		start := time.Now()
		sendErr := d.send(ctx, e, body)
		attrs := []any{"event_id", e.ID, "type", e.Type, "attempt", e.Attempts + 1, "latency_ms", time.Since(start).Milliseconds()}
		e.Attempts++
		e.ClaimedUntil = time.Time{}
		if sendErr == nil {
			e.DeliveredAt, e.NextAt, e.LastError, e.LastStatus = now.UTC(), time.Time{}, "", 0
			res.Delivered++
			d.log().Info("event delivered", attrs...)
		} else {
			var se *SendError
			if errors.As(sendErr, &se) {
				e.LastStatus = se.Status
			}
			e.LastError = truncate(sendErr.Error(), 300)
			if now.Sub(e.retriesSince()) >= GiveUpAfter {
				e.NextAt = time.Time{}
				// The marker first: a crash before the mark leaves a stale marker
				// (lists nothing) rather than an abandoned event no listing shows.
				if err := noteAbandoned(ctx, d.Store, e, now); err != nil {
					return res, rec, err
				}
				res.Abandoned++
				d.log().Error("event abandoned after retries; resend it with POST /events/{id}/resend", append(attrs, "status", e.LastStatus, "error", e.LastError)...)
			} else {
				backoff := Backoff
				if d.Backoff != nil {
					backoff = d.Backoff
				}
				e.NextAt = now.Add(backoff(e.Attempts)).UTC()
				res.Failed++
				d.log().Warn("event delivery failed; will retry", append(attrs, "status", e.LastStatus, "error", e.LastError, "next_at", e.NextAt)...)
			}
		}
		rec, err = d.mark(ctx, rec, base, e)
		if err != nil {
			return res, rec, err
		}
		if sendErr != nil && causal {
			break // the later events of this record wait for this one
		}
	}
	return res, rec, nil
}

// claimLease is how long a claimed event is left to the deliverer that claimed it.
// A send gets at most half of it (send), so the outcome is recorded before the lease
// ends and nobody sends the event again meanwhile; if the deliverer dies, the event is
// due again when the lease ends.
const claimLease = time.Minute

// claim takes e for one attempt: a write conditioned on rec's version that moves its
// next attempt to the end of a lease (claimLease), so every other deliverer finds it
// not due. A write lost to a change elsewhere on the record is tried again on the
// record as it is now; one lost to another deliverer (the event's delivery state
// changed since it was read: claimed, sent, resent) leaves the event to it (ok false).
// It returns the event as claimed — the base of the outcome's mark — and the record.
func (d *Deliverer) claim(ctx context.Context, rec store.Record, e Entry, now time.Time) (Entry, store.Record, bool, error) {
	if !judgment.EventClaim.On() {
		return e, rec, true, nil
	}
	for range 8 {
		c := e
		c.ClaimedUntil = now.Add(claimLease).UTC()
		c.NextAt = c.ClaimedUntil
		out, err := d.Marker.MarkEvent(ctx, rec, c)
		if err == nil {
			return c, out, true, nil
		}
		var cf *store.ConditionFailedError
		if !errors.As(err, &cf) || cf.Current == nil {
			return e, rec, false, fmt.Errorf("events: claim %s: %w", e.ID, err)
		}
		rec = *cf.Current
		cur, ok := entryIn(rec, e.Attr)
		if !ok || !sameDelivery(cur, e) {
			return cur, rec, false, nil
		}
	}
	return e, rec, false, fmt.Errorf("events: claim %s: too much contention on %s", e.ID, rec.Key)
}

// sameDelivery: no deliverer (nor a resend) touched the event between a and b.
func sameDelivery(a, b Entry) bool {
	return a.Attempts == b.Attempts && a.NextAt.Equal(b.NextAt) && a.DeliveredAt.Equal(b.DeliveredAt) &&
		a.ClaimedUntil.Equal(b.ClaimedUntil) && a.ResentAt.Equal(b.ResentAt)
}

// send is one attempt, bounded by half the claim's lease (whatever the sink's own
// timeout), so that its outcome is recorded while the claim still holds.
func (d *Deliverer) send(ctx context.Context, e Entry, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, claimLease/2)
	defer cancel()
	return d.Sink.Send(ctx, e.Event, body)
}

// entryIn decodes the event kept in attribute attr of rec.
func entryIn(rec store.Record, attr string) (Entry, bool) {
	var e Entry
	v, ok := rec.Attrs[attr]
	if !ok || json.Unmarshal([]byte(v), &e) != nil || e.ID == "" {
		return Entry{}, false
	}
	e.Attr, e.Key = attr, rec.Key
	return e, true
}

// mark writes e's delivery state onto rec, conditioned on rec's version; on a race it
// retries against the record the failed write returns, unless someone else already
// recorded a delivery or, for a failed attempt, moved the event on since base (the
// event as read before the attempt) was read.
func (d *Deliverer) mark(ctx context.Context, rec store.Record, base, e Entry) (store.Record, error) {
	for range 8 {
		if cur, ok := rec.Attrs[e.Attr]; ok {
			var old Entry
			if json.Unmarshal([]byte(cur), &old) == nil {
				switch {
				case !old.DeliveredAt.IsZero():
					return rec, nil // another deliverer got there first
				case e.DeliveredAt.IsZero() && (old.Attempts != base.Attempts || !old.NextAt.Equal(base.NextAt)):
					// A failure, while someone else moved the event on since it was read: a
					// resend made it due again (it must not be abandoned over that), or
					// another deliverer recorded its own attempt. Theirs stands.
					return rec, nil
				}
			}
		}
		out, err := d.Marker.MarkEvent(ctx, rec, e)
		if err == nil {
			return out, nil
		}
		var cf *store.ConditionFailedError
		if !errors.As(err, &cf) || cf.Current == nil {
			return rec, fmt.Errorf("events: mark %s: %w", e.ID, err)
		}
		rec = *cf.Current
	}
	return rec, fmt.Errorf("events: mark %s: too much contention on %s", e.ID, rec.Key)
}

// Resend makes an event owed again, due now (POST /events/{id}/resend), recording it
// through m.
func Resend(ctx context.Context, st store.Store, m Marker, id string, now time.Time) (Entry, error) {
	key, attr, err := Locate(id)
	if err != nil {
		return Entry{}, err
	}
	// The abandoned marker as it is before the resend: only that one is removed after,
	// not one a deliverer writes when the resent event fails again meanwhile.
	marker, err := st.Get(ctx, abandonedKey+id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return Entry{}, fmt.Errorf("events: resend %s: %w", id, err)
	}
	for range 8 {
		rec, err := st.Get(ctx, key)
		if err != nil {
			return Entry{}, fmt.Errorf("events: resend %s: %w", id, err)
		}
		var e Entry
		if v, ok := rec.Attrs[attr]; !ok || json.Unmarshal([]byte(v), &e) != nil || e.ID != id {
			return Entry{}, fmt.Errorf("events: resend %s: %w", id, store.ErrNotFound)
		}
		e.Attr, e.Key = attr, key
		e.DeliveredAt, e.NextAt, e.ResentAt, e.ClaimedUntil = time.Time{}, now.UTC(), now.UTC(), time.Time{}
		_, err = m.MarkEvent(ctx, rec, e)
		if err == nil {
			// Best effort: a marker left behind lists nothing once the event is due again.
			_ = forgetAbandoned(ctx, st, marker)
			return e, nil
		}
		if !errors.Is(err, store.ErrConditionFailed) {
			return Entry{}, fmt.Errorf("events: resend %s: %w", id, err)
		}
	}
	return Entry{}, fmt.Errorf("events: resend %s: too much contention", id)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
