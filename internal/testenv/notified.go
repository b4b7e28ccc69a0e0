package testenv

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"
)

// Notified stands in front of a notify endpoint and tells a test when it has accepted
// a given notification (answered 2xx, so WeChat Pay — the simulator — stops retrying
// it): the deterministic signal to wait for instead of polling the store. The id is
// the notification envelope's "id", which paysim's Pay, SettleRefund, … return.
type Notified struct {
	h    http.Handler
	mu   sync.Mutex
	done map[string]chan struct{}
	next chan struct{} // closed at the next acceptance
}

// NotifiedBy wraps the notify handler h.
func NotifiedBy(h http.Handler) *Notified {
	return &Notified{h: h, done: map[string]chan struct{}{}}
}

func (n *Notified) ch(id string) chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	c, ok := n.done[id]
	if !ok {
		c = make(chan struct{})
		n.done[id] = c
	}
	return c
}

func (n *Notified) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	var env struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(body, &env) // a v2 (XML) notification has no JSON id: passed through
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	n.h.ServeHTTP(sw, r)
	if env.ID == "" || sw.status/100 != 2 {
		return
	}
	c := n.ch(env.ID)
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.next != nil {
		close(n.next)
		n.next = nil
	}
	select {
	case <-c: // a duplicate delivery, accepted again
	default:
		close(c)
	}
}

// Wait returns once notification id has been accepted; it fails the test when that
// has not happened within 10 s of real time (a lost notification, not a slow one).
func (n *Notified) Wait(t testing.TB, id string) {
	t.Helper()
	select {
	case <-n.ch(id):
	case <-time.After(10 * time.Second):
		t.Fatalf("notification %s was not accepted by notify within 10 s", id)
	}
}

// Next is a channel closed when notify next accepts a notification (any), after the
// call. A test waiting for a state that a notification will bring takes Next, looks,
// and when the state is not there yet waits on the channel: no acceptance between the
// look and the wait is missed.
func (n *Notified) Next() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.next == nil {
		n.next = make(chan struct{})
	}
	return n.next
}

// Accepted reports whether notification id has been accepted.
func (n *Notified) Accepted(id string) bool {
	select {
	case <-n.ch(id):
		return true
	default:
		return false
	}
}

type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (s *statusWriter) WriteHeader(code int) {
	if !s.wrote {
		s.status, s.wrote = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	s.wrote = true
	return s.ResponseWriter.Write(b)
}
