package events

import (
	"context"
	"errors"
	"slices"
	"sync"

	"github.com/paysls/wxpay/shared/store"
)

// A writer that wants to deliver the events its own writes record — reconcile, right
// after the transitions of one due record — cannot find them by reading the record
// again: a notification racing it may have recorded events there too, which are that
// notification's to send first (the grace). So the recorder of events (the ledger)
// notes every write that recorded events to the Recording its context carries, and
// the writer delivers exactly those (DeliverRecorded).

// Recorded is one write that recorded events: the record as the write left it and the
// ids of the events it recorded there.
type Recorded struct {
	Record store.Record
	IDs    []string
}

type recordingKey struct{}

type recording struct {
	mu   sync.Mutex
	list []Recorded
}

// Recording returns a context under which Note collects the writes that record events,
// and a function returning what was collected so far.
func Recording(ctx context.Context) (context.Context, func() []Recorded) {
	r := &recording{}
	return context.WithValue(ctx, recordingKey{}, r), func() []Recorded {
		r.mu.Lock()
		defer r.mu.Unlock()
		return slices.Clone(r.list)
	}
}

// Note tells the Recording of ctx, if there is one, that a write left rec with evs
// newly recorded on it. Writers of records that carry events call it after each write,
// also those that record none: the delivery then starts from the record's latest
// version, not one a later write of the same handler made stale.
func Note(ctx context.Context, rec store.Record, evs []Event) {
	r, _ := ctx.Value(recordingKey{}).(*recording)
	if r == nil {
		return
	}
	ids := make([]string, len(evs))
	for i, ev := range evs {
		ids[i] = ev.ID
	}
	r.mu.Lock()
	r.list = append(r.list, Recorded{Record: rec, IDs: ids})
	r.mu.Unlock()
}

// DeliverRecorded delivers, now, the events the caller's own writes recorded (as a
// Recording collected them), with whatever else is due on their records, as
// DeliverRecord does. Young events another writer recorded there are left to it. Each
// record is delivered from the latest version the writes left (a record written twice
// is sent from once); a record changed since is re-read by the claim's failed write.
func (d *Deliverer) DeliverRecorded(ctx context.Context, recorded []Recorded) (Result, error) {
	var res Result
	if d.Sink == nil || len(recorded) == 0 {
		return res, nil
	}
	type pending struct {
		rec store.Record
		own map[string]bool
	}
	var keys []string
	byKey := map[string]*pending{}
	for _, r := range recorded {
		p := byKey[r.Record.Key]
		if p == nil {
			p = &pending{rec: r.Record, own: map[string]bool{}}
			byKey[r.Record.Key] = p
			keys = append(keys, r.Record.Key)
		}
		if r.Record.Version > p.rec.Version {
			p.rec = r.Record
		}
		for _, id := range r.IDs {
			p.own[id] = true
		}
	}
	var errs []error
	for _, k := range keys {
		if len(byKey[k].own) == 0 {
			continue // written, but no event recorded on it
		}
		if ctx.Err() != nil {
			break // what is left is in the outbox, due now
		}
		r, _, err := d.deliverRecord(ctx, byKey[k].rec, false, byKey[k].own)
		res.Add(r)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return res, errors.Join(errs...)
}
