package events

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/paysls/wxpay/internal/judgment"
	"github.com/paysls/wxpay/shared/store"
)

// sinkFunc is a Sink made of a function.
type sinkFunc func(ctx context.Context, ev Event, body []byte) error

func (f sinkFunc) Send(ctx context.Context, ev Event, body []byte) error { return f(ctx, ev, body) }

// raceOnSend runs a second deliverer on the record as the first one read it, while the
// first one's send is in flight: notify's attempt racing reconcile's on one order.
// It returns how many times the merchant received the event.
func raceOnSend(t *testing.T) (sends int, claimedAfter Entry) {
	t.Helper()
	ctx := context.Background()
	st := openStore(t)
	now := time.Now().UTC()
	key := "order/1900000001/RACE00001"
	putWithEvent(t, st, key, now)
	rec, err := st.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var second *Deliverer
	sink := sinkFunc(func(ctx context.Context, ev Event, body []byte) error {
		mu.Lock()
		sends++
		first := sends == 1
		mu.Unlock()
		if first {
			// The racer read the record before the first deliverer's claim landed.
			if cur, err := st.Get(ctx, key); err == nil {
				claimedAfter, _ = entryIn(cur, Entries(cur)[0].Attr)
			}
			if _, _, err := second.DeliverRecord(ctx, rec, false); err != nil {
				t.Errorf("the racing deliverer: %v", err)
			}
		}
		return nil
	})
	clock := func() time.Time { return now }
	second = &Deliverer{Store: st, Marker: storeMarker{st}, Sink: sink, Now: clock}
	first := &Deliverer{Store: st, Marker: storeMarker{st}, Sink: sink, Now: clock}
	res, out, err := first.DeliverRecord(ctx, rec, false)
	if err != nil || res.Delivered != 1 {
		t.Fatalf("first deliverer: %+v, %v", res, err)
	}
	if e := Entries(out)[0]; e.DeliveredAt.IsZero() || !e.ClaimedUntil.IsZero() || e.Attempts != 1 || out.Pending != "orders" {
		t.Fatalf("after delivery: %+v in %q", e, out.Pending)
	}
	return sends, claimedAfter
}

// Two deliverers racing on one record send its event once: the first claims it (a
// conditional write) before sending, and the second's claim fails on the changed
// version, re-reads, and finds the event taken. Without the claim, both send.
func TestRacingDeliverersSendOnce(t *testing.T) {
	sends, claimed := raceOnSend(t)
	if sends != 1 {
		t.Fatalf("the merchant received the event %d times, want 1", sends)
	}
	if claimed.ClaimedUntil.IsZero() || !claimed.NextAt.Equal(claimed.ClaimedUntil) {
		t.Fatalf("during the send the event is %+v: want a lease, with its next attempt at its end", claimed)
	}
	t.Run("without the claim", func(t *testing.T) {
		defer judgment.EventClaim.Set(false)()
		if sends, _ := raceOnSend(t); sends != 2 {
			t.Fatalf("with the claim turned off the race sent %d copies; the test cannot tell a claim from none", sends)
		}
	})
}

// A deliverer that dies between its claim and its outcome leaves the event due again
// when the lease ends — not lost, and not sent by anyone before.
func TestClaimOfADeadDelivererLapses(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	now := time.Now().UTC()
	key := "order/1900000001/DEAD00001"
	putWithEvent(t, st, key, now)
	rec, err := st.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	// The claim, as a deliverer writes it before it sends and then dies.
	d := &Deliverer{Store: st, Marker: storeMarker{st}, Sink: sinkFunc(func(context.Context, Event, []byte) error { return nil }), Now: func() time.Time { return now }}
	_, rec, ok, err := d.claim(ctx, rec, Entries(rec)[0], now)
	if err != nil || !ok {
		t.Fatalf("claim: %v %v", ok, err)
	}
	if rec.Pending != IndexOutbox || !rec.PendingSince.Equal(now.Add(claimLease).Truncate(time.Microsecond)) {
		t.Fatalf("a claimed record sits in %q at %v, want the outbox at the lease's end", rec.Pending, rec.PendingSince)
	}
	list := func(at time.Time) int {
		page, err := st.ListPending(ctx, IndexOutbox, store.ListOptions{Before: at, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		return len(page.Records)
	}
	if n := list(now.Add(claimLease - time.Second)); n != 0 {
		t.Fatalf("the outbox lists %d records before the lease ends", n)
	}
	for _, at := range []time.Time{now.Add(claimLease / 2), now.Add(claimLease + time.Second)} {
		d.Now = func() time.Time { return at }
		res, out, err := d.DeliverRecord(ctx, rec, false)
		if err != nil {
			t.Fatal(err)
		}
		rec = out
		want := 0
		if at.After(now.Add(claimLease)) {
			want = 1
		}
		if res.Delivered != want {
			t.Fatalf("at lease+%v: delivered %d, want %d", at.Sub(now.Add(claimLease)), res.Delivered, want)
		}
	}
}
