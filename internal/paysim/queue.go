package paysim

import (
	"context"
	"fmt"
	"time"

	"github.com/paysls/wxpay/shared/wechatpay"
)

// Manual delivery (Config.ManualDelivery). WeChat Pay's queues promise neither order
// nor a single delivery, and may lose a notification for good; a deterministic
// simulation plays all of that by choosing, at each step, which queued notification
// is delivered next — once, again after it was acknowledged, or never — instead of
// leaving it to a real-time scheduler.

// QueuedNotification is a v3 notification waiting in the manual-delivery queue.
type QueuedNotification struct {
	ID    string `json:"id"`
	URL   string `json:"url"`
	Event string `json:"event"`
	// Body is the sealed envelope; every attempt POSTs it with fresh signature headers.
	Body []byte `json:"body"`
	// OutTradeNo and OutRefundNo say what the notification is about.
	OutTradeNo  string `json:"out_trade_no,omitempty"`
	OutRefundNo string `json:"out_refund_no,omitempty"`
	// SubMchID is the sub-merchant of the order (partner mode): two sub-merchants may
	// share an out_trade_no.
	SubMchID string `json:"sub_mchid,omitempty"`
	// Attempts counts deliveries; Acknowledged is set by the first 2xx answer.
	Attempts     int  `json:"attempts"`
	Acknowledged bool `json:"acknowledged,omitempty"`
}

// enqueue puts a notification in the queue instead of the scheduler.
func (s *Simulator) enqueue(n *notification, plaintext any) {
	q := &QueuedNotification{ID: n.id, URL: n.url, Event: n.event, Body: n.body}
	switch v := plaintext.(type) {
	case wechatpay.Transaction:
		q.OutTradeNo, q.SubMchID = v.OutTradeNo, v.SubMchID
	case wechatpay.RefundNotice:
		q.OutTradeNo, q.OutRefundNo, q.SubMchID = v.OutTradeNo, v.OutRefundNo, v.SubMchID
	case wechatpay.EcommerceRefundNotice:
		q.OutTradeNo, q.OutRefundNo, q.SubMchID = v.OutTradeNo, v.OutRefundNo, v.SubMchID
	case wechatpay.CombineTransaction:
		q.OutTradeNo = v.CombineOutTradeNo // a combine's, named by its combine number
	}
	s.mu.Lock()
	s.st.Queued = append(s.st.Queued, q)
	s.mu.Unlock()
}

// Queued lists the queued notifications, oldest first, acknowledged ones included (a
// repeat of one is how WeChat Pay's duplicates look).
func (s *Simulator) Queued() []QueuedNotification {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]QueuedNotification, len(s.st.Queued))
	for i, q := range s.st.Queued {
		out[i] = *q
	}
	return out
}

// DeliverQueued makes one delivery attempt of the queued notification id: it POSTs
// the body, signed now, with Config.HTTPClient, records the attempt (Deliveries) and
// marks the notification acknowledged on a 2xx answer. It stays queued either way.
func (s *Simulator) DeliverQueued(ctx context.Context, id string) (Delivery, error) {
	s.mu.Lock()
	var q *QueuedNotification
	for _, c := range s.st.Queued {
		if c.ID == id {
			q = c
			break
		}
	}
	if q == nil {
		s.mu.Unlock()
		return Delivery{}, fmt.Errorf("paysim: no queued notification %q", id)
	}
	q.Attempts++
	n := &notification{id: q.ID, url: q.URL, event: q.Event, body: q.Body}
	d := Delivery{ID: q.ID, URL: q.URL, Event: q.Event, Attempt: q.Attempts, Time: time.Now(), RequestID: newRequestID()}
	s.mu.Unlock()

	status, body, err := s.post(ctx, n, false, d.RequestID)
	d.Status, d.ResponseBody = status, truncate(string(body), 2048)
	if err != nil {
		d.Error = err.Error()
	}
	s.mu.Lock()
	if err == nil && status >= 200 && status <= 299 {
		q.Acknowledged = true
	}
	s.record(d)
	s.mu.Unlock()
	return d, nil
}

// DropQueued removes a notification from the queue: it is never delivered (again).
func (s *Simulator) DropQueued(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, q := range s.st.Queued {
		if q.ID == id {
			s.st.Queued = append(s.st.Queued[:i:i], s.st.Queued[i+1:]...)
			return true
		}
	}
	return false
}
