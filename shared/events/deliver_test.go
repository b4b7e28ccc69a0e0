package events

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paysls/wxpay/shared/webhook"
)

// What the deliverer sends verifies with package webhook, and the event Verify returns
// is the one sent, read from the signed body.
func TestWebhookDeliveryVerifiesWithPackageWebhook(t *testing.T) {
	ev := Event{ID: "evt_abc.nzxq", Type: OrderPaid, CreatedAt: time.Now().UTC().Truncate(time.Second), Data: json.RawMessage(`{"order_id":"A1"}`)}
	body, _ := json.Marshal(ev)
	var got webhook.Event
	var verr error
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got, verr = webhook.Verify(b, r.Header.Get(webhook.HeaderSignature), 0, []byte("whsec"))
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	if err := (&Webhook{URL: srv.URL, Secret: []byte("whsec")}).Send(context.Background(), ev, body); err != nil {
		t.Fatal(err)
	}
	if verr != nil || got.ID != ev.ID || got.Type != ev.Type || !got.CreatedAt.Equal(ev.CreatedAt) || string(got.Data) != string(ev.Data) {
		t.Fatalf("receiver verified %+v, %v; sent %+v", got, verr, ev)
	}
}

// Every 3xx is a failed attempt naming the Location, whatever client the sink is
// given; nothing reaches the redirect's target.
func TestWebhookDoesNotFollowRedirects(t *testing.T) {
	var landed atomic.Int32
	landing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { landed.Add(1) }))
	defer landing.Close()
	for _, code := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		srv := httptest.NewServer(http.RedirectHandler(landing.URL+"/hooks", code))
		for _, hc := range []*http.Client{nil, srv.Client(), {}} {
			err := (&Webhook{URL: srv.URL, Secret: []byte("s"), HTTP: hc}).Send(context.Background(), Event{ID: "evt_x"}, []byte(`{"id":"evt_x"}`))
			var se *SendError
			if !errors.As(err, &se) || se.Status != code || !strings.Contains(err.Error(), landing.URL+"/hooks") {
				t.Fatalf("%d: %v, want a SendError with the status and the Location", code, err)
			}
		}
		srv.Close()
	}
	if landed.Load() != 0 {
		t.Fatalf("the redirect target was requested %d times", landed.Load())
	}
}

// A receiver moved behind a 301 to a page answering GET with 200 used to mark events
// delivered while their bodies never arrived. Now: not delivered, retried with
// back-off (each failure logged with the Location), delivered once the receiver is
// fixed.
func TestRedirectingReceiverIsRetriedUntilFixed(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	now := time.Now().UTC()
	ev := putWithEvent(t, st, "order/1900000001/MOVED-1", now)

	var mu sync.Mutex
	fixed := false
	var posts []string // bodies the receiver got on POST
	var gets int
	mux := http.NewServeMux()
	mux.HandleFunc("/new-hooks", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.Method == http.MethodGet {
			gets++ // a page answering GET with 200
		}
	})
	mux.HandleFunc("/hooks", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if !fixed {
			http.Redirect(w, r, "/new-hooks", http.StatusMovedPermanently)
			return
		}
		b, _ := io.ReadAll(r.Body)
		posts = append(posts, string(b))
		w.WriteHeader(http.StatusNoContent)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	var logs bytes.Buffer
	clock := now.Add(time.Second)
	sink := &Webhook{URL: srv.URL + "/hooks", Secret: []byte("whsec")}
	d := &Deliverer{Store: st, Marker: storeMarker{st}, Sink: sink, Now: func() time.Time { return clock }, Log: slog.New(slog.NewJSONHandler(&logs, nil))}

	if res, err := d.DeliverDue(ctx); err != nil || res.Failed != 1 || res.Delivered != 0 {
		t.Fatalf("first pass: %+v %v", res, err)
	}
	rec, _ := st.Get(ctx, "order/1900000001/MOVED-1")
	owed := Owed(rec)
	if len(owed) != 1 || owed[0].LastStatus != http.StatusMovedPermanently || !strings.Contains(owed[0].LastError, srv.URL+"/new-hooks") ||
		!owed[0].NextAt.Equal(clock.Add(Backoff(1))) {
		t.Fatalf("after a 301: owed %+v", owed)
	}
	if !strings.Contains(logs.String(), `"status":301`) || !strings.Contains(logs.String(), "/new-hooks") {
		t.Fatalf("the failure log does not name the Location: %s", logs.String())
	}
	// Not due before the back-off; due after it, still redirecting: a second failure.
	clock = clock.Add(Backoff(1) - time.Second)
	if res, _ := d.DeliverDue(ctx); res.Delivered+res.Failed != 0 {
		t.Fatalf("retried before its back-off: %+v", res)
	}
	clock = clock.Add(2 * time.Second)
	if res, err := d.DeliverDue(ctx); err != nil || res.Failed != 1 {
		t.Fatalf("second pass: %+v %v", res, err)
	}
	// The merchant fixes the receiver (it answers the POST itself): the next due
	// attempt delivers.
	mu.Lock()
	fixed = true
	mu.Unlock()
	clock = clock.Add(Backoff(2) + time.Second)
	if res, err := d.DeliverDue(ctx); err != nil || res.Delivered != 1 {
		t.Fatalf("after the fix: %+v %v", res, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if gets != 0 || len(posts) != 1 || !strings.Contains(posts[0], ev.ID) {
		t.Fatalf("receiver got %d GETs and POSTs %v; want only the one POST of %s", gets, posts, ev.ID)
	}
	rec, _ = st.Get(ctx, "order/1900000001/MOVED-1")
	if len(Owed(rec)) != 0 {
		t.Fatalf("still owed after delivery: %+v", Owed(rec))
	}
}
