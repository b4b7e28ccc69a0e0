package events

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/paysls/wxpay/shared/store"
)

// An abandoned event (retries gave up after GiveUpAfter) leaves the outbox: it is no
// longer due, so its record returns to its own schedule. It is still undelivered, and
// an operator must find it without reading every record. So the deliverer writes one
// small marker record per abandoned event into indexAbandoned before it records the
// abandonment; a resend removes the marker. The marker is only a pointer: whether the
// event is still abandoned is read from the event itself, so a marker left stale by a
// crash (between the marker and the mark, or the resend and the removal) lists nothing.
const (
	indexAbandoned = "abandoned"
	abandonedKey   = "abandoned/"
)

// Undelivered is an event that was not delivered, with the record that owes it.
type Undelivered struct {
	Record store.Record
	Entry  Entry
}

// Abandoned lists the events retries gave up on, oldest abandonment first, one page of
// the abandoned index (opts as for ListPending). It reads one marker and one record per
// abandoned event: the cost grows with what was abandoned, not with the table.
func Abandoned(ctx context.Context, st store.Store, opts store.ListOptions) ([]Undelivered, string, error) {
	page, err := st.ListPending(ctx, indexAbandoned, opts)
	if err != nil {
		return nil, "", fmt.Errorf("events: list abandoned: %w", err)
	}
	var out []Undelivered
	for _, m := range page.Records {
		id := m.Attrs["event_id"]
		key, attr, err := Locate(id)
		if err != nil {
			continue // not a marker this package wrote
		}
		rec, err := st.Get(ctx, key)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, "", fmt.Errorf("events: read abandoned %s: %w", id, err)
		}
		for _, e := range Entries(rec) {
			if e.Attr == attr && e.ID == id && e.isAbandoned() {
				out = append(out, Undelivered{Record: rec, Entry: e})
			}
		}
	}
	return out, page.Cursor, nil
}

// isAbandoned: attempted, not delivered, and no further attempt scheduled.
func (e Entry) isAbandoned() bool {
	return e.DeliveredAt.IsZero() && e.NextAt.IsZero() && e.Attempts > 0
}

// noteAbandoned writes e's marker into the abandoned index. Repeating it is harmless.
// Each write carries a fresh nonce, so a resend removes only the marker it saw.
func noteAbandoned(ctx context.Context, st store.Store, e Entry, at time.Time) error {
	_, err := st.Put(ctx, store.Record{Key: abandonedKey + e.ID, Attrs: map[string]string{"event_id": e.ID, "nonce": rand.Text()},
		Pending: indexAbandoned, PendingSince: at}, store.Condition{})
	if err != nil {
		return fmt.Errorf("events: note %s abandoned: %w", e.ID, err)
	}
	return nil
}

// forgetAbandoned removes the marker m (as read before a resend revived its event), if
// it is still that one: a marker written since (the resent event failed again) stays.
// A marker left behind lists nothing once its event is due again (see Abandoned).
func forgetAbandoned(ctx context.Context, st store.Store, m store.Record) error {
	if m.Key == "" {
		return nil
	}
	err := st.Delete(ctx, m.Key, store.Condition{Attrs: []store.AttrTest{{Name: "nonce", Values: []string{m.Attrs["nonce"]}}}})
	if err != nil && !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrConditionFailed) {
		return fmt.Errorf("events: forget %s: %w", m.Key, err)
	}
	return nil
}
