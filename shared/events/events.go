// Package events is the merchant-event outbox: every applied payment transition (order
// paid, refunded, closed, put in REVIEW; refund succeeded or failed) records exactly one
// Event on the record it changed, in the same conditional write — never a second write a
// crash could separate from the first. The store's pending index "outbox" lists the
// records that still owe an event, ordered by when the next delivery attempt is due, so
// delivering is a ListPending(before=now) and touches nothing else.
//
// On the record an event is one attribute, evt_<suffix>, holding its JSON Entry (the
// event and its delivery state). A deliverer claims an event before sending it (a
// version-conditioned write giving it a lease), then marks the outcome: two deliverers
// racing never both send it. Only a deliverer that dies (or cannot write) between its
// send and its mark leaves a copy to be sent again when its lease ends, which merchants
// de-duplicate by the id in the signed body (package webhook).
package events

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/paysls/wxpay/internal/judgment"
	"github.com/paysls/wxpay/shared/store"
)

// Event types.
const (
	OrderPaid     = "order.paid"
	OrderRefunded = "order.refunded"
	OrderClosed   = "order.closed"
	OrderReview   = "order.review"
	// OrderReviewResolved: a person marked a REVIEW resolved (who, note); money is
	// never edited by it.
	OrderReviewResolved = "order.review_resolved"
	RefundSucceeded     = "refund.succeeded"
	RefundFailed        = "refund.failed"
)

// IndexOutbox is the pending index of records that owe an event.
const IndexOutbox = "outbox"

// Attribute names. AttrSchedIndex/AttrSchedAt are the record's schedule apart from
// events (e.g. "orders" and when its next query is due): where the record goes back to
// once its events are delivered. The payment package maintains them; Placement reads them.
const (
	AttrPrefix     = "evt_"
	AttrSchedIndex = "sched_index"
	AttrSchedAt    = "sched_at"
)

// Event is what a merchant receives: POSTed as JSON to the webhook.
type Event struct {
	ID        string          `json:"id"`
	Type      string          `json:"type"`
	CreatedAt time.Time       `json:"created_at"`
	Data      json.RawMessage `json:"data"`
}

// Entry is an event as kept on its record, with its delivery state.
type Entry struct {
	Event
	// Seq orders the events of one record: the transition that records an event gives
	// it the record's next number, so delivery follows the order transitions happened
	// in, whatever their timestamps (a virtual clock makes ties common). 0 for events
	// recorded before sequences existed (ordered by time, then id).
	Seq int64 `json:"seq,omitempty"`
	// Attempts counts delivery attempts so far.
	Attempts int `json:"attempts,omitempty"`
	// NextAt is when the next attempt is due (zero once delivered or abandoned).
	NextAt time.Time `json:"next_at,omitzero"`
	// DeliveredAt is when a sink acknowledged the event (any 2xx).
	DeliveredAt time.Time `json:"delivered_at,omitzero"`
	// ClaimedUntil is the lease of the deliverer sending the event now (Deliverer.claim):
	// NextAt is moved to it too, so no other deliverer finds the event due meanwhile,
	// and a deliverer that dies mid-attempt leaves it due again when the lease ends.
	// Zero once the attempt's outcome is recorded.
	ClaimedUntil time.Time `json:"claimed_until,omitzero"`
	// ResentAt is when an operator last resent the event (POST /events/{id}/resend):
	// retries give up GiveUpAfter after it, as they do after CreatedAt for an event
	// never resent, so a resend past 72 h gets a full retry window, not one attempt.
	ResentAt time.Time `json:"resent_at,omitzero"`
	// LastStatus and LastError describe the last failed attempt.
	LastStatus int    `json:"last_status,omitempty"`
	LastError  string `json:"last_error,omitempty"`
	// Attr is the record attribute holding the entry (not serialised).
	Attr string `json:"-"`
	// Key is the record the event belongs to (not serialised).
	Key string `json:"-"`
}

// retriesSince is when the event's current retry window began.
func (e Entry) retriesSince() time.Time {
	if e.ResentAt.After(e.CreatedAt) {
		return e.ResentAt
	}
	return e.CreatedAt
}

// owed reports whether the event still has to be delivered.
func (e Entry) owed() bool { return e.DeliveredAt.IsZero() && !e.NextAt.IsZero() }

// keyCodec encodes record keys into event ids: lowercase base32 without padding is
// URL-path safe and cannot contain the "." separator.
var keyCodec = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// New builds the event of a transition on record key, as the attribute (name, value)
// the transition's write sets. The event is due for delivery at now. Its id is random;
// records that carry a sequence use NewSeq.
func New(key, typ string, now time.Time, data any) (attr, value string, ev Event, err error) {
	return build(key, typ, strings.ToLower(rand.Text()[:16]), 0, now, data) // a-z2-7: unique on its record, URL-safe
}

// NewSeq is New for the seq-th event of record key (1, 2, …): its id and attribute
// derive from the sequence, so they are deterministic and the record's events sort in
// the order they were recorded. The id stays unique because it embeds the key.
func NewSeq(key, typ string, seq int64, now time.Time, data any) (attr, value string, ev Event, err error) {
	if seq <= 0 {
		return "", "", Event{}, fmt.Errorf("events: sequence %d of %s must be positive", seq, typ)
	}
	return build(key, typ, fmt.Sprintf("%010d", seq), seq, now, data)
}

func build(key, typ, suffix string, seq int64, now time.Time, data any) (attr, value string, ev Event, err error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return "", "", Event{}, fmt.Errorf("events: encode %s data: %w", typ, err)
	}
	ev = Event{ID: "evt_" + suffix + "." + keyCodec.EncodeToString([]byte(key)), Type: typ, CreatedAt: now.UTC(), Data: raw}
	b, err := json.Marshal(Entry{Event: ev, Seq: seq, NextAt: now.UTC()})
	if err != nil {
		return "", "", Event{}, fmt.Errorf("events: encode %s: %w", typ, err)
	}
	return AttrPrefix + suffix, string(b), ev, nil
}

// errBadID matches ids that no event could have.
var errBadID = errors.New("events: malformed event id")

// Locate returns the record key and attribute of an event id.
func Locate(id string) (key, attr string, err error) {
	rest, ok := strings.CutPrefix(id, "evt_")
	suffix, enc, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 || suffix == "" || len(suffix) > 32 || strings.Trim(suffix, "abcdefghijklmnopqrstuvwxyz0123456789") != "" {
		return "", "", fmt.Errorf("%w: %q", errBadID, id)
	}
	k, err := keyCodec.DecodeString(enc)
	// A key no record can have (not UTF-8, say) is a malformed id, not a question for
	// the store: its refusal would read as an outage (503 "try again").
	if err != nil || store.ValidateKey(string(k)) != nil {
		return "", "", fmt.Errorf("%w: %q", errBadID, id)
	}
	return string(k), AttrPrefix + suffix, nil
}

// Entries decodes every event kept on rec, in the order they were recorded (by
// sequence; unsequenced ones by time, then id). Malformed attributes are skipped (they
// cannot have been written by New).
func Entries(rec store.Record) []Entry {
	var out []Entry
	for name, v := range rec.Attrs {
		if !strings.HasPrefix(name, AttrPrefix) {
			continue
		}
		var e Entry
		if json.Unmarshal([]byte(v), &e) != nil || e.ID == "" {
			continue
		}
		e.Attr, e.Key = name, rec.Key
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b Entry) int {
		if a.Seq != b.Seq && judgment.CausalEvents.On() {
			if a.Seq < b.Seq {
				return -1
			}
			return 1
		}
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

// Owed is the events of rec still to be delivered, oldest first.
func Owed(rec store.Record) []Entry {
	var out []Entry
	for _, e := range Entries(rec) {
		if e.owed() {
			out = append(out, e)
		}
	}
	return out
}

// Encode is the attribute value of e.
func Encode(e Entry) string {
	b, _ := json.Marshal(e) // an Entry always marshals
	return string(b)
}

// Marker is the owner of the records events live on: the money records, written only by
// their ledger (shared/payment), which implements it; the deliverer and the events API
// never write a record themselves, nor know what a record holds.
//
// MarkEvent writes an event's delivery state (e, as encoded by Encode into attribute
// e.Attr) onto the record holding it, conditioned on rec's version, and places the
// record where Placement says. A lost race fails with a *store.ConditionFailedError
// carrying the record as it is now.
//
// EventPayload is ev as a merchant receives it from rec: the event as recorded, plus
// what its recorder did not know and the record does. The deliverer sends it and the
// events API shows it.
type Marker interface {
	MarkEvent(ctx context.Context, rec store.Record, e Entry) (store.Record, error)
	EventPayload(rec store.Record, ev Event) Event
}

// Placement is the pending index a record with these attributes belongs in, and its
// position: the outbox while an event is owed, else the record's own schedule
// (sched_index at sched_at), else none (""). In the outbox the position is the earliest
// of the next event attempt and the record's own schedule, so a debt of another kind
// (a late refund, a refund's effect on its order) is never held up by a webhook that
// keeps failing: reconcile, listing the outbox, serves both. Every writer of a record
// that carries events computes Pending through it, so the index never loses a debt.
//
// passive names the writer's passive listings: indexes a record waits in only to be
// found by listing them (a bill day, the records in review), which no job acts on when
// "due" — so they never pull the record's position in the outbox earlier.
func Placement(attrs map[string]string, passive func(index string) bool) (index string, since time.Time) {
	var first time.Time
	for _, e := range Entries(store.Record{Attrs: attrs}) {
		if !e.owed() {
			continue
		}
		if judgment.CausalEvents.On() {
			// Delivered in sequence: the record is due when its first owed event is.
			first = e.NextAt
			break
		}
		if first.IsZero() || e.NextAt.Before(first) {
			first = e.NextAt
		}
	}
	idx, at := Schedule(attrs)
	switch {
	case !first.IsZero():
		if idx != "" && !passive(idx) && at.Before(first) {
			first = at
		}
		return IndexOutbox, first
	case idx != "":
		return idx, at
	}
	return "", time.Time{}
}

// Schedule is the record's own schedule apart from events: the index it belongs to
// and when it is due ("" when it owes nothing).
func Schedule(attrs map[string]string) (index string, at time.Time) {
	idx := attrs[AttrSchedIndex]
	if idx == "" {
		return "", time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, attrs[AttrSchedAt])
	if err != nil {
		t = time.Unix(0, 0).UTC() // a schedule without a time is due now, never lost
	}
	return idx, t
}
