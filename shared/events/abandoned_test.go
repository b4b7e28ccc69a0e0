package events

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paysls/wxpay/shared/store"
)

// An event retries gave up on is still undelivered: GET /events?undelivered=1 lists it
// (state abandoned, with its last error) after the owed ones, across pages; a resend
// delivers it and it is listed no more. It used to leave every listing when abandoned.
func TestAbandonedEventsStayListedUntilResent(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	now := time.Now().UTC()
	clock := func() time.Time { return now }
	var up atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !up.Load() {
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	d := &Deliverer{Store: st, Sink: &Webhook{URL: srv.URL, Secret: []byte("s")}, Marker: storeMarker{st}, Now: clock}

	var gone []string
	for _, k := range []string{"order/1900000001/GONE-1", "order/1900000001/GONE-2", "order/1900000001/GONE-3"} {
		gone = append(gone, putWithEvent(t, st, k, now).ID)
	}
	now = now.Add(GiveUpAfter) // every attempt from now on is the last
	if res, err := d.DeliverDue(ctx); err != nil || res.Abandoned != 3 {
		t.Fatalf("delivery pass: %+v, %v", res, err)
	}
	owed := putWithEvent(t, st, "order/1900000001/OWED-1", now).ID

	mux := http.NewServeMux()
	api := &API{Store: st, Marker: storeMarker{st}, Deliverer: d, Token: []byte("tok"), Now: clock}
	api.Routes(mux)
	list := func() map[string]Delivery {
		t.Helper()
		seen := map[string]Delivery{}
		cursor := ""
		for range 10 {
			code, body := call(t, mux, http.MethodGet, "/events?undelivered=1&limit=1&cursor="+cursor, "tok")
			var l Listing
			if code != http.StatusOK || json.Unmarshal(body, &l) != nil {
				t.Fatalf("list: %d %s", code, body)
			}
			if len(l.Events) > 1 {
				t.Fatalf("limit=1 answered %d events", len(l.Events)) // one event a record here
			}
			for _, e := range l.Events {
				seen[e.ID] = e.Delivery
			}
			if cursor = l.NextCursor; cursor == "" {
				return seen
			}
		}
		t.Fatal("the listing did not end")
		return nil
	}
	seen := list()
	if len(seen) != 4 || seen[owed].State != "pending" {
		t.Fatalf("listed %v", seen)
	}
	for _, id := range gone {
		if d := seen[id]; d.State != "abandoned" || d.LastStatus != 503 || d.LastError == "" {
			t.Fatalf("abandoned %s listed as %+v", id, d)
		}
	}

	up.Store(true)
	if code, body := call(t, mux, http.MethodPost, "/events/"+gone[0]+"/resend", "tok"); code != http.StatusAccepted {
		t.Fatalf("resend: %d %s", code, body)
	}
	seen = list()
	if _, ok := seen[gone[0]]; ok || len(seen) != 3 {
		t.Fatalf("after resending %s: %v", gone[0], seen)
	}
	// A marker whose removal was lost (a crash after the resend) lists nothing.
	if _, err := st.Get(ctx, "abandoned/"+gone[0]); err == nil {
		t.Fatal("the resend left its marker")
	}
	if _, err := Resend(ctx, st, storeMarker{st}, gone[1], now); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Put(ctx, store.Record{Key: "abandoned/" + gone[1], Attrs: map[string]string{"event_id": gone[1]}, Pending: indexAbandoned}, store.Condition{}); err != nil {
		t.Fatal(err)
	}
	if seen = list(); seen[gone[1]].State != "pending" {
		t.Fatalf("a resent event with a stale marker: %v", seen)
	}
}

// hookStore runs after() once, right after an abandoned marker is written: a resend
// landing between the deliverer's marker and its mark of the abandonment.
type hookStore struct {
	store.Store
	after func()
}

func (h *hookStore) Put(ctx context.Context, r store.Record, c store.Condition) (store.Record, error) {
	out, err := h.Store.Put(ctx, r, c)
	if strings.HasPrefix(r.Key, "abandoned/") && h.after != nil {
		f := h.after
		h.after = nil
		f()
	}
	return out, err
}

// A resend racing the abandonment it undoes: the deliverer's failed attempt loses the
// write race to the resend and must not abandon the event again over it (it used to:
// the event ended undelivered, not owed and without a marker — in no listing).
func TestResendRacingAnAbandonmentKeepsTheEventOwed(t *testing.T) {
	ctx := context.Background()
	base := openStore(t)
	hs := &hookStore{Store: base}
	now := time.Now().UTC()
	clock := func() time.Time { return now }
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", http.StatusServiceUnavailable) }))
	defer srv.Close()
	d := &Deliverer{Store: hs, Sink: &Webhook{URL: srv.URL, Secret: []byte("s")}, Marker: storeMarker{base}, Now: clock}
	ev := putWithEvent(t, base, "order/1900000001/RACE-1", now)
	now = now.Add(GiveUpAfter)
	hs.after = func() {
		if _, err := Resend(ctx, base, storeMarker{base}, ev.ID, now); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := d.DeliverDue(ctx); err != nil {
		t.Fatal(err)
	}
	rec, err := base.Get(ctx, "order/1900000001/RACE-1")
	if err != nil {
		t.Fatal(err)
	}
	var e Entry
	for _, x := range Entries(rec) {
		if x.ID == ev.ID {
			e = x
		}
	}
	gone, _, _ := Abandoned(ctx, base, store.ListOptions{Limit: 100})
	if !e.owed() && len(gone) == 0 {
		t.Fatalf("event %s undelivered, not owed and not listed as abandoned: %+v", ev.ID, e)
	}
	if !e.owed() {
		t.Fatalf("the resend was undone by the attempt it raced: %+v", e)
	}
}

// An abandoned event holds back what its record recorded after it: a merchant must not
// receive refund.succeeded for a payment whose order.paid it never got. Once the
// abandoned event is resent, both go, in their sequence.
func TestAbandonedEventHoldsBackTheLaterOnes(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	now := time.Now().UTC()
	clock := func() time.Time { return now }
	var mu sync.Mutex
	var got []string
	up := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if !up {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		var ev Event
		json.NewDecoder(r.Body).Decode(&ev)
		got = append(got, ev.Type)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	d := &Deliverer{Store: st, Sink: &Webhook{URL: srv.URL, Secret: []byte("s")}, Marker: storeMarker{st}, Now: clock}
	key := "order/1900000001/HOLD-1"
	attr, val, paid, err := NewSeq(key, OrderPaid, 1, now, map[string]any{"out_trade_no": "HOLD-1"})
	if err != nil {
		t.Fatal(err)
	}
	attrs := map[string]string{attr: val}
	idx, since := Placement(attrs, noPassive)
	if _, err := st.Put(ctx, store.Record{Key: key, Attrs: attrs, Pending: idx, PendingSince: since}, store.Condition{Absent: true}); err != nil {
		t.Fatal(err)
	}
	now = now.Add(GiveUpAfter)
	if r, err := d.DeliverDue(ctx); err != nil || r.Abandoned != 1 {
		t.Fatalf("first pass: %+v %v", r, err)
	}
	// The refund is recorded after the payment's event was abandoned; the webhook is back.
	rec, _ := st.Get(ctx, key)
	attr2, val2, _, _ := NewSeq(key, RefundSucceeded, 2, now, map[string]any{"out_trade_no": "HOLD-1"})
	attrs = map[string]string{}
	for k, v := range rec.Attrs {
		attrs[k] = v
	}
	attrs[attr2] = val2
	idx, since = Placement(attrs, noPassive)
	if _, err := st.Update(ctx, key, store.Change{Set: map[string]string{attr2: val2}, Pending: &idx, PendingSince: since}, store.Condition{Version: rec.Version}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	up = true
	mu.Unlock()
	if _, err := d.DeliverDue(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if len(got) != 0 {
		t.Fatalf("delivered %v while order.paid is abandoned", got)
	}
	mu.Unlock()
	if _, err := Resend(ctx, st, storeMarker{st}, paid.ID, now); err != nil {
		t.Fatal(err)
	}
	if _, err := d.DeliverDue(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 || got[0] != OrderPaid || got[1] != RefundSucceeded {
		t.Fatalf("after the resend: %v", got)
	}
}

// A resend is an operator saying "try again": it gets a full retry window from the
// resend, as a new event gets from its creation. An event resent 73 h after it was
// made used to be abandoned again at its first failed attempt.
func TestResentEventGetsAFullRetryWindow(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	now := time.Now().UTC()
	clock := func() time.Time { return now }
	var up atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !up.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	d := &Deliverer{Store: st, Sink: &Webhook{URL: srv.URL, Secret: []byte("s")}, Marker: storeMarker{st}, Now: clock}
	key := "order/1900000001/AGAIN-1"
	ev := putWithEvent(t, st, key, now)
	now = now.Add(GiveUpAfter + time.Hour)
	if res, err := d.DeliverDue(ctx); err != nil || res.Abandoned != 1 {
		t.Fatalf("first pass: %+v, %v", res, err)
	}
	if _, err := Resend(ctx, st, storeMarker{st}, ev.ID, now); err != nil {
		t.Fatal(err)
	}
	entry := func() Entry {
		t.Helper()
		rec, err := st.Get(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range Entries(rec) {
			if e.ID == ev.ID {
				return e
			}
		}
		t.Fatalf("event %s gone from %s", ev.ID, key)
		return Entry{}
	}
	// Still down: the resent event fails and is retried, for 72 h after the resend.
	resentAt := now
	for now.Sub(resentAt) < GiveUpAfter-3*time.Hour {
		res, err := d.DeliverDue(ctx)
		if err != nil || res.Abandoned != 0 {
			t.Fatalf("%s after the resend: %+v, %v", now.Sub(resentAt), res, err)
		}
		if e := entry(); !e.owed() {
			t.Fatalf("%s after the resend the event is not owed: %+v", now.Sub(resentAt), e)
		}
		now = now.Add(2 * time.Hour)
	}
	if gone, _, _ := Abandoned(ctx, st, store.ListOptions{Limit: 10}); len(gone) != 0 {
		t.Fatalf("resent event listed as abandoned while retried: %+v", gone)
	}
	// The receiver is back: delivered.
	up.Store(true)
	now = now.Add(2 * time.Hour)
	if res, err := d.DeliverDue(ctx); err != nil || res.Delivered != 1 {
		t.Fatalf("after the receiver came back: %+v, %v", res, err)
	}
	if e := entry(); e.DeliveredAt.IsZero() || e.ResentAt.IsZero() {
		t.Fatalf("delivered entry: %+v", e)
	}
}
