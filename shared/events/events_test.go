package events

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paysls/wxpay/shared/store"
	"github.com/paysls/wxpay/shared/store/boltstore"
	"github.com/paysls/wxpay/shared/webhook"
)

func openStore(t *testing.T) store.Store {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// putWithEvent writes a record that owes one event, as a transition would.
func putWithEvent(t *testing.T, st store.Store, key string, now time.Time) Event {
	t.Helper()
	attr, val, ev, err := New(key, OrderPaid, now, map[string]any{"out_trade_no": "X"})
	if err != nil {
		t.Fatal(err)
	}
	attrs := map[string]string{attr: val, "order_id": "ORDER-1", AttrSchedIndex: "orders", AttrSchedAt: now.Add(time.Hour).Format(time.RFC3339Nano)}
	idx, since := Placement(attrs, noPassive)
	if _, err := st.Put(context.Background(), store.Record{Key: key, Attrs: attrs, Pending: idx, PendingSince: since}, store.Condition{Absent: true}); err != nil {
		t.Fatal(err)
	}
	return ev
}

// verify is the merchant's side: package webhook, as the README shows.
func verify(secret, header string, body []byte) bool {
	_, err := webhook.Verify(body, header, 0, []byte(secret))
	return err == nil
}

func TestDeliverSignedThenBackToSchedule(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	now := time.Now().UTC()
	ev := putWithEvent(t, st, "order/1900000001/ORDER-1", now)
	var calls atomic.Int32
	var got []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !verify("whsec", r.Header.Get(HeaderSignature), body) || r.Header.Get(HeaderEventID) != ev.ID {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if calls.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable) // the first attempt fails
			return
		}
		got = body
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	clock := now
	d := &Deliverer{Store: st, Marker: storeMarker{st}, Sink: &Webhook{URL: srv.URL, Secret: []byte("whsec")}, Now: func() time.Time { return clock }}
	clock = now.Add(time.Second)
	res, err := d.DeliverDue(ctx)
	if err != nil || res.Failed != 1 || res.Delivered != 0 {
		t.Fatalf("first pass: %+v %v", res, err)
	}
	rec, _ := st.Get(ctx, "order/1900000001/ORDER-1")
	if rec.Pending != IndexOutbox || !rec.PendingSince.After(clock) || Owed(rec)[0].LastStatus != 503 {
		t.Fatalf("failed attempt must be rescheduled: %+v", rec)
	}
	if res, _ := d.DeliverDue(ctx); res.Delivered+res.Failed != 0 {
		t.Fatalf("not due yet, yet attempted: %+v", res)
	}
	clock = clock.Add(Backoff(1) + time.Second)
	if res, err := d.DeliverDue(ctx); err != nil || res.Delivered != 1 {
		t.Fatalf("second pass: %+v %v", res, err)
	}
	var sent Event
	if err := json.Unmarshal(got, &sent); err != nil || sent.ID != ev.ID || !strings.Contains(string(sent.Data), `"order_id":"ORDER-1"`) {
		t.Fatalf("delivered %s, %v", got, err)
	}
	rec, _ = st.Get(ctx, "order/1900000001/ORDER-1")
	if rec.Pending != "orders" || len(Owed(rec)) != 0 {
		t.Fatalf("delivered record must return to its own schedule: pending %q owed %d", rec.Pending, len(Owed(rec)))
	}
	if _, err := Resend(ctx, st, storeMarker{st}, ev.ID, clock); err != nil {
		t.Fatal(err)
	}
	if rec, _ = st.Get(ctx, "order/1900000001/ORDER-1"); rec.Pending != IndexOutbox {
		t.Fatalf("resend must put the record back in the outbox: %q", rec.Pending)
	}
	if _, err := Resend(ctx, st, storeMarker{st}, "evt_nope.aaaa", clock); err == nil {
		t.Fatal("resend of an unknown event succeeded")
	}
}

// Two deliverers racing on the same records send each event at least once and at most
// twice, and every event ends delivered.
func TestConcurrentDeliverers(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	now := time.Now().UTC()
	for i := range 30 {
		putWithEvent(t, st, "order/1900000001/RACE-"+string(rune('A'+i)), now)
	}
	var mu sync.Mutex
	seen := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.Header.Get(HeaderEventID)]++
		mu.Unlock()
	}))
	defer srv.Close()
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := &Deliverer{Store: st, Marker: storeMarker{st}, Sink: &Webhook{URL: srv.URL, Secret: []byte("k")}, Now: func() time.Time { return now.Add(time.Second) }}
			if _, err := d.DeliverDue(ctx); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if len(seen) != 30 {
		t.Fatalf("%d distinct events delivered, want 30", len(seen))
	}
	for id, n := range seen {
		if n > 2 {
			t.Fatalf("%s sent %d times", id, n)
		}
	}
	page, _ := st.ListPending(ctx, IndexOutbox, store.ListOptions{})
	if len(page.Records) != 0 {
		t.Fatalf("%d records still in the outbox", len(page.Records))
	}
}

func TestLocateRejectsForgedIDs(t *testing.T) {
	for _, id := range []string{"", "evt_", "evt_abc", "evt_ABC.nzxq", "evt_abc.!!", "xyz_abc.nzxq"} {
		if _, _, err := Locate(id); err == nil {
			t.Errorf("Locate(%q) accepted", id)
		}
	}
}

// storeMarker records delivery marks straight on the store: these tests' records are
// not money records (the ledger is the Marker of those). Its payloads add the record's
// "order_id" attribute to the event's data, so the tests see that what is sent and
// shown is the Marker's payload, not the event as recorded.
type storeMarker struct{ st store.Store }

func (storeMarker) EventPayload(rec store.Record, ev Event) Event {
	var m map[string]any
	if json.Unmarshal(ev.Data, &m) != nil || rec.Attrs["order_id"] == "" {
		return ev
	}
	m["order_id"] = rec.Attrs["order_id"]
	ev.Data, _ = json.Marshal(m)
	return ev
}

func (m storeMarker) MarkEvent(ctx context.Context, rec store.Record, e Entry) (store.Record, error) {
	attrs := map[string]string{}
	for k, v := range rec.Attrs {
		attrs[k] = v
	}
	attrs[e.Attr] = Encode(e)
	idx, since := Placement(attrs, noPassive)
	return m.st.Update(ctx, rec.Key, store.Change{Set: map[string]string{e.Attr: attrs[e.Attr]}, Pending: &idx, PendingSince: since}, store.Condition{Version: rec.Version})
}

// A record's events go out in their sequence — not by timestamp (here all equal) or by
// id — and one that fails holds back the later ones until it is delivered.
func TestDeliveryFollowsTheSequence(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	now := time.Now().UTC()
	key := "order/1900000001/SEQ0000001"
	attrs := map[string]string{}
	for i, typ := range []string{OrderPaid, RefundSucceeded, OrderRefunded} {
		attr, val, _, err := NewSeq(key, typ, int64(i+1), now, map[string]any{"n": i})
		if err != nil {
			t.Fatal(err)
		}
		attrs[attr] = val
	}
	idx, since := Placement(attrs, noPassive)
	rec, err := st.Put(ctx, store.Record{Key: key, Attrs: attrs, Pending: idx, PendingSince: since}, store.Condition{})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []string
	fail := true
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, r.Header.Get(HeaderEventID))
		if fail {
			fail = false
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	clock := now
	d := &Deliverer{Store: st, Marker: storeMarker{st}, Sink: &Webhook{URL: srv.URL, Secret: []byte("k")}, Now: func() time.Time { return clock }}
	res, rec, err := d.DeliverRecord(ctx, rec, false)
	if err != nil || res.Failed != 1 || res.Delivered != 0 || len(got) != 1 {
		t.Fatalf("first pass: %+v %v, %d sent", res, err, len(got))
	}
	clock = clock.Add(time.Hour)
	if res, _, err = d.DeliverRecord(ctx, rec, false); err != nil || res.Delivered != 3 {
		t.Fatalf("second pass: %+v %v", res, err)
	}
	var want []string
	for _, e := range Entries(rec) {
		want = append(want, e.ID)
	}
	want = append([]string{want[0]}, want...)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("sent %v, want %v", got, want)
	}
}
