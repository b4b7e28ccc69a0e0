package events

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/paysls/wxpay/shared/config"
)

func call(t *testing.T, h http.Handler, method, path, token string) (int, []byte) {
	t.Helper()
	r := httptest.NewRequest(method, path, nil)
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Code, w.Body.Bytes()
}

func TestAPIListsShowsAndResends(t *testing.T) {
	st := openStore(t)
	now := time.Now().UTC()
	var ids []string
	for _, k := range []string{"order/1900000001/API-A", "order/1900000001/API-B", "order/1900000001/API-C"} {
		ids = append(ids, putWithEvent(t, st, k, now).ID)
	}
	mux := http.NewServeMux()
	(&API{Store: st, Marker: storeMarker{st}, Token: []byte("tok")}).Routes(mux)

	if code, _ := call(t, mux, http.MethodGet, "/events?undelivered=1", ""); code != http.StatusUnauthorized {
		t.Fatalf("no token: %d", code)
	}
	if code, _ := call(t, mux, http.MethodGet, "/events?undelivered=1", "wrong"); code != http.StatusUnauthorized {
		t.Fatalf("wrong token: %d", code)
	}
	if code, _ := call(t, mux, http.MethodGet, "/events", "tok"); code != http.StatusBadRequest {
		t.Fatalf("without undelivered=1: %d", code)
	}
	if code, _ := call(t, mux, http.MethodGet, "/events?undelivered=1&limit=0", "tok"); code != http.StatusBadRequest {
		t.Fatalf("limit=0: %d", code)
	}
	seen := map[string]bool{}
	cursor := ""
	for range 5 {
		code, body := call(t, mux, http.MethodGet, "/events?undelivered=1&limit=2&cursor="+cursor, "tok")
		var l Listing
		if code != http.StatusOK || json.Unmarshal(body, &l) != nil {
			t.Fatalf("list: %d %s", code, body)
		}
		for _, e := range l.Events {
			if e.Delivery.State != "pending" || e.Delivery.NextAt.IsZero() {
				t.Fatalf("listed %+v", e)
			}
			var data map[string]string
			json.Unmarshal(e.Data, &data)
			if data["order_id"] != "ORDER-1" {
				t.Fatalf("listing must show the payload as delivered (order_id filled): %s", e.Data)
			}
			seen[e.ID] = true
		}
		if cursor = l.NextCursor; cursor == "" {
			break
		}
	}
	if len(seen) != 3 {
		t.Fatalf("listed %d events, want 3", len(seen))
	}

	code, body := call(t, mux, http.MethodGet, "/events/"+ids[0], "tok")
	var v EventView
	if code != http.StatusOK || json.Unmarshal(body, &v) != nil || v.ID != ids[0] || v.Type != OrderPaid {
		t.Fatalf("show: %d %s", code, body)
	}
	if code, body := call(t, mux, http.MethodPost, "/events/"+ids[1]+"/resend", "tok"); code != http.StatusAccepted {
		t.Fatalf("resend: %d %s", code, body)
	}
	forged := ids[2][:4] + "zzzzzzzzzzzz" + ids[2][16:]
	if code, body := call(t, mux, http.MethodPost, "/events/"+forged+"/resend", "tok"); code != http.StatusNotFound {
		t.Fatalf("unknown id: %d %s", code, body)
	}
	if code, _ := call(t, mux, http.MethodGet, "/events/evt_nope.aaaa", "tok"); code != http.StatusNotFound {
		t.Fatalf("unknown record: %d", code)
	}
	if code, _ := call(t, mux, http.MethodPost, "/events/garbage/resend", "tok"); code != http.StatusBadRequest {
		t.Fatalf("malformed id: %d", code)
	}
}

func TestSinkFromConfig(t *testing.T) {
	ctx := context.Background()
	if _, err := SinkFromConfig(ctx, config.Bundle{}, nil, WebhookSink); !errors.Is(err, ErrNoSink) {
		t.Fatalf("no sink configured: %v", err)
	}
	if _, err := SinkFromConfig(ctx, config.Bundle{WebhookURL: "https://m.example.com/hook"}, nil, WebhookSink); err == nil {
		t.Fatal("a webhook without a secret was accepted")
	}
	if _, err := SinkFromConfig(ctx, config.Bundle{WebhookURL: "ftp://x", WebhookSecret: config.NewSecret([]byte("s"))}, nil, WebhookSink); err == nil {
		t.Fatal("a non-http webhook URL was accepted")
	}
	if _, err := SinkFromConfig(ctx, config.Bundle{WebhookURL: "https://m.example.com/hook", WebhookSecret: config.NewSecret([]byte("s")), EventBus: "b"}, nil, WebhookSink); err == nil {
		t.Fatal("two sinks at once were accepted")
	}
	s, err := SinkFromConfig(ctx, config.Bundle{WebhookURL: "https://m.example.com/hook", WebhookSecret: config.NewSecret([]byte("s"))}, nil, WebhookSink)
	if w, ok := s.(*Webhook); err != nil || !ok || string(w.Secret) != "s" {
		t.Fatalf("webhook sink = %#v, %v", s, err)
	}
	// A setting whose driver the program does not link is refused by name.
	if _, err := SinkFromConfig(ctx, config.Bundle{EventBus: "pay"}, nil, WebhookSink); err == nil || !strings.Contains(err.Error(), config.EnvEventBus) {
		t.Fatalf("event bus without its driver: %v", err)
	}
}

// Grace leaves young events to the deliverer that recorded them.
func TestDeliverDueGrace(t *testing.T) {
	st := openStore(t)
	now := time.Now().UTC()
	putWithEvent(t, st, "order/1900000001/GRACE-1", now)
	hits := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits++ }))
	defer srv.Close()
	clock := now.Add(time.Second)
	d := &Deliverer{Store: st, Marker: storeMarker{st}, Sink: &Webhook{URL: srv.URL, Secret: []byte("k")}, Now: func() time.Time { return clock }, Grace: 5 * time.Second}
	if res, _ := d.DeliverDue(context.Background()); res.Delivered != 0 || hits != 0 {
		t.Fatalf("an event 1 s old was taken from its recorder: %+v", res)
	}
	clock = now.Add(6 * time.Second)
	if res, _ := d.DeliverDue(context.Background()); res.Delivered != 1 {
		t.Fatalf("after the grace: %+v", res)
	}
}

// Every refusal of the events API is {code,message,hint}: a limit out of range, an
// unknown event (of a record that exists, and of none), a malformed id, a resend of an
// unknown event. Four of them answered without a hint.
func TestAPIRefusalsCarryAHint(t *testing.T) {
	st := openStore(t)
	id := putWithEvent(t, st, "order/1900000001/HINT-A", time.Now().UTC()).ID
	mux := http.NewServeMux()
	(&API{Store: st, Marker: storeMarker{st}, Token: []byte("tok")}).Routes(mux)
	unknown := id[:4] + "zzzzzzzzzzzz" + id[16:]
	for _, c := range []struct {
		method, path string
		status       int
	}{
		{http.MethodGet, "/events?undelivered=1&limit=0", http.StatusBadRequest},
		{http.MethodGet, "/events?undelivered=1&limit=x", http.StatusBadRequest},
		{http.MethodGet, "/events/" + unknown, http.StatusNotFound},
		{http.MethodGet, "/events/evt_nope.aaaa", http.StatusNotFound},
		{http.MethodPost, "/events/" + unknown + "/resend", http.StatusNotFound},
		{http.MethodPost, "/events/garbage/resend", http.StatusBadRequest},
	} {
		code, body := call(t, mux, c.method, c.path, "tok")
		var e map[string]string
		if code != c.status || json.Unmarshal(body, &e) != nil || e["code"] == "" || e["message"] == "" || e["hint"] == "" {
			t.Errorf("%s %s: %d %s, want %d with code, message and hint", c.method, c.path, code, body, c.status)
		}
	}
}
