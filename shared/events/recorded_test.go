package events

import (
	"context"
	"testing"
	"time"

	"github.com/paysls/wxpay/internal/storetest"
	"github.com/paysls/wxpay/shared/store"
)

// What a caller's own writes recorded is delivered at once, past the grace that holds
// back the young event another writer recorded on the same record after it; and from
// the record's latest version the caller wrote, so the claim's conditional write does
// not fail on a version its own later write made stale.
func TestDeliverRecordedSendsOnlyOwnYoungEvents(t *testing.T) {
	ctx := context.Background()
	raw := openStore(t)
	st := &storetest.Counting{Store: raw}
	now := time.Now().UTC()
	key := "order/1900000001/OWN000001"
	write := func(rec *store.Record, typ string, seq int64) (store.Record, []Event) {
		attrs := map[string]string{}
		if rec != nil {
			for k, v := range rec.Attrs {
				attrs[k] = v
			}
		}
		var evs []Event
		if typ != "" {
			attr, val, ev, err := NewSeq(key, typ, seq, now, map[string]any{"t": typ})
			if err != nil {
				t.Fatal(err)
			}
			attrs[attr], evs = val, []Event{ev}
		}
		attrs["n"] += "x" // every write changes the record
		idx, since := Placement(attrs, noPassive)
		cond := store.Condition{Absent: true}
		if rec != nil {
			cond = store.Condition{Version: rec.Version}
		}
		out, err := raw.Put(ctx, store.Record{Key: key, Attrs: attrs, Pending: idx, PendingSince: since}, cond)
		if err != nil {
			t.Fatal(err)
		}
		return out, evs
	}
	// The caller's write (the first event of the record), a notification's (the
	// second), then the caller's again, recording nothing: both events are young.
	rctx, recorded := Recording(ctx)
	ours, ourEvs := write(nil, RefundSucceeded, 1)
	Note(rctx, ours, ourEvs)
	theirs, theirEvs := write(&ours, OrderRefunded, 2)
	later, _ := write(&theirs, "", 0)
	Note(rctx, later, nil)

	var sent []string
	sink := sinkFunc(func(_ context.Context, ev Event, _ []byte) error { sent = append(sent, ev.ID); return nil })
	d := &Deliverer{Store: st, Marker: storeMarker{st}, Sink: sink, Now: func() time.Time { return now.Add(time.Second) }, Grace: 5 * time.Second}
	res, err := d.DeliverRecorded(ctx, recorded())
	if err != nil || res.Delivered != 1 || len(sent) != 1 || sent[0] != ourEvs[0].ID {
		t.Fatalf("delivered %+v %v: sent %v, want only the caller's %s (not %s, young and another's)", res, err, sent, ourEvs[0].ID, theirEvs[0].ID)
	}
	if w, ok := st.Writes.Load(), st.Applied.Load(); w != 2 || ok != 2 {
		t.Fatalf("%d writes (%d applied), want the claim and the mark, both on the first try", w, ok)
	}
}
