package paysim

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/paysls/wxpay/shared/wechatpay"
)

// retrySchedule is WeChat Pay's notification retry schedule: the waits after the
// first failed attempt, 15 retries over about 24 hours (scaled by Config.RetryScale).
var retrySchedule = []time.Duration{
	15 * time.Second, 15 * time.Second, 30 * time.Second, 3 * time.Minute, 10 * time.Minute,
	20 * time.Minute, 30 * time.Minute, 30 * time.Minute, 30 * time.Minute, 60 * time.Minute,
	3 * time.Hour, 3 * time.Hour, 3 * time.Hour, 6 * time.Hour, 6 * time.Hour,
}

// notifyUserAgent is what WeChat Pay's notification requests carry.
const notifyUserAgent = "Mozilla/4.0"

// notification is one event to deliver; every attempt POSTs the same body, re-signed.
type notification struct {
	id    string
	url   string
	event string
	body  []byte
}

// job is one scheduled attempt.
type job struct {
	n       *notification
	due     time.Time
	attempt int
	copy    int  // 2 for the duplicate of the deliver-twice fault
	probe   bool // a WECHATPAY/SIGNTEST/ probe: one attempt, never retried
	seq     int64
}

// notify encrypts plaintext into a notification envelope and hands it to the
// scheduler, applying the notification faults. It returns the notification id.
func (s *Simulator) notify(url, event string, plaintext any) (string, error) {
	aead, err := wechatpay.NewAEAD(s.id.APIv3Key)
	if err != nil {
		return "", fmt.Errorf("paysim: %w", err)
	}
	env, body, err := wechatpay.SealNotification(aead, event, plaintext, s.now())
	if err != nil {
		return "", fmt.Errorf("paysim: %w", err)
	}
	n := &notification{id: env.ID, url: url, event: event, body: body}
	if s.cfg.ManualDelivery {
		s.enqueue(n, plaintext)
		return n.id, nil
	}
	s.schedule(n)
	return n.id, nil
}

// schedule applies the drop / delay / duplicate / probe / out-of-order faults and
// queues the first attempt(s).
func (s *Simulator) schedule(n *notification) {
	s.mu.Lock()
	f := &s.faults
	if f.DropAll || f.DropNext > 0 {
		why := "drop_all"
		if !f.DropAll {
			f.DropNext--
			why = "drop_next"
		}
		s.record(Delivery{ID: n.id, URL: n.url, Event: n.event, Time: time.Now(),
			Error: "dropped by the " + why + " fault: this notification is never delivered (reconcile by querying the order)"})
		s.mu.Unlock()
		s.log.Info("paysim: notification dropped by fault", "id", n.id, "event", n.event)
		return
	}
	due := time.Now().Add(time.Duration(f.Delay))
	var jobs []*job
	if f.SignTestProbe {
		jobs = append(jobs, &job{n: n, due: due, attempt: 1, probe: true})
	}
	jobs = append(jobs, &job{n: n, due: due, attempt: 1})
	if f.Duplicate {
		jobs = append(jobs, &job{n: n, due: due, attempt: 1, copy: 2})
	}
	if f.OutOfOrder {
		if s.held == nil {
			s.held = jobs
			s.record(Delivery{ID: n.id, URL: n.url, Event: n.event, Time: time.Now(),
				Error: "held by the out_of_order fault: it will be delivered right after the next notification"})
			s.mu.Unlock()
			return
		}
		for _, j := range s.held {
			j.due = due
		}
		jobs = append(jobs, s.held...)
		s.held = nil
	}
	s.mu.Unlock()
	s.sched.add(jobs...)
}

// record appends a delivery attempt. Called under s.mu.
func (s *Simulator) record(d Delivery) {
	s.st.deliveries = append(s.st.deliveries, &d)
}

// Deliveries returns every notification attempt so far, oldest first.
func (s *Simulator) Deliveries() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Delivery, len(s.st.deliveries))
	for i, d := range s.st.deliveries {
		out[i] = *d
	}
	return out
}

func (s *Simulator) simDeliveries(w http.ResponseWriter, _ *http.Request) {
	simJSON(w, http.StatusOK, s.Deliveries())
}

// scheduler runs every delivery attempt, one at a time in due order, in its single
// goroutine: sequential delivery keeps the order of notifications meaningful (the
// out-of-order fault would be pointless otherwise) and bounds the load on a receiver.
type scheduler struct {
	s      *Simulator
	mu     sync.Mutex
	queue  []*job
	seq    int64
	wake   chan struct{}
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
}

func newScheduler(s *Simulator) *scheduler {
	ctx, cancel := context.WithCancel(context.Background())
	return &scheduler{s: s, wake: make(chan struct{}, 1), ctx: ctx, cancel: cancel, done: make(chan struct{})}
}

func (q *scheduler) add(jobs ...*job) {
	q.mu.Lock()
	for _, j := range jobs {
		q.seq++
		j.seq = q.seq
		q.queue = append(q.queue, j)
	}
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// next pops the earliest due job if it is due, else reports how long to wait.
func (q *scheduler) next() (*job, time.Duration) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.queue) == 0 {
		return nil, -1
	}
	sort.Slice(q.queue, func(i, k int) bool {
		a, b := q.queue[i], q.queue[k]
		if !a.due.Equal(b.due) {
			return a.due.Before(b.due)
		}
		return a.seq < b.seq
	})
	j := q.queue[0]
	if wait := time.Until(j.due); wait > 0 {
		return nil, wait
	}
	q.queue = q.queue[1:]
	return j, 0
}

func (q *scheduler) run() {
	defer close(q.done)
	for {
		j, wait := q.next()
		if j != nil {
			q.s.attempt(q.ctx, j)
			continue
		}
		var t *time.Timer
		var timer <-chan time.Time
		if wait >= 0 {
			t = time.NewTimer(wait)
			timer = t.C
		}
		select {
		case <-q.ctx.Done():
		case <-q.wake:
		case <-timer:
		}
		if t != nil {
			t.Stop()
		}
		if q.ctx.Err() != nil {
			return
		}
	}
}

// stop ends the scheduler and waits for it: an attempt in flight is cancelled.
func (q *scheduler) stop() {
	q.cancel()
	<-q.done
}

// attempt POSTs one notification attempt and schedules the retry on failure.
func (s *Simulator) attempt(ctx context.Context, j *job) {
	n := j.n
	d := Delivery{ID: n.id, URL: n.url, Event: n.event, Attempt: j.attempt, Copy: j.copy, Time: time.Now(), Probe: j.probe}
	d.RequestID = newRequestID()
	status, body, err := s.post(ctx, n, j.probe, d.RequestID)
	d.Status, d.ResponseBody = status, truncate(string(body), 2048)
	if err != nil {
		d.Error = err.Error()
	}
	ok := err == nil && status >= 200 && status <= 299
	var retry *job
	switch {
	case j.probe:
		if ok {
			d.Verdict = "FAIL: the receiver accepted a " + wechatpay.SignTestPrefix + " signature probe; it must verify Wechatpay-Signature and answer 4xx/5xx"
		} else {
			d.Verdict = "ok: the receiver rejected the signature probe"
		}
	case !ok && j.attempt <= len(retrySchedule) && ctx.Err() == nil:
		wait := time.Duration(float64(retrySchedule[j.attempt-1]) * s.cfg.RetryScale)
		d.NextRetryAfter = wait.String()
		retry = &job{n: n, due: time.Now().Add(wait), attempt: j.attempt + 1, copy: j.copy}
	}
	s.mu.Lock()
	s.record(d)
	s.mu.Unlock()
	s.log.Info("paysim: notification attempt", "id", n.id, "event", n.event, "url", n.url,
		"attempt", j.attempt, "probe", j.probe, "status", status, "err", d.Error)
	if retry != nil {
		s.sched.add(retry)
	}
}

// post sends the notification body with fresh Wechatpay-* headers.
// Every attempt carries its own Request-ID, as WeChat Pay's notifications do, so the
// receiver's logs can name the delivery.
func (s *Simulator) post(ctx context.Context, n *notification, probe bool, requestID string) (int, []byte, error) {
	hdr, err := s.signBody(n.body)
	if err != nil {
		return 0, nil, err
	}
	if probe {
		// A probe carries a signature that cannot verify; a receiver that accepts it
		// is not verifying signatures at all.
		junk := make([]byte, 64)
		_, _ = rand.Read(junk)
		hdr.Signature = wechatpay.SignTestPrefix + base64.StdEncoding.EncodeToString(junk)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.url, bytes.NewReader(n.body))
	if err != nil {
		return 0, nil, fmt.Errorf("paysim: notification request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", notifyUserAgent)
	req.Header.Set("Accept", "*/*")
	req.Header.Set(wechatpay.HeaderRequestID, requestID)
	hdr.Apply(req.Header)
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("paysim: POST %s: %w", n.url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, b, nil
}
