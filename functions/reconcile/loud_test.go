package reconcile_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/paysls/wxpay/functions/reconcile"
)

type lines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// alarms counts ERROR lines and PaymentReview metrics.
func (l *lines) alarms() (errs, metrics int, causes []any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, b := range bytes.Split(l.buf.Bytes(), []byte("\n")) {
		var m map[string]any
		if json.Unmarshal(b, &m) != nil {
			continue
		}
		if m["level"] == "ERROR" {
			errs++
			causes = append(causes, m["cause"])
		}
		if m["_aws"] != nil && m["PaymentReview"] != nil {
			metrics++
		}
	}
	return errs, metrics, causes
}

// A REVIEW found by reconcile's query (a payment after the order's close was asked
// for, its notification lost) is loud once, from the ledger, however many runs follow.
func TestQueryReviewIsLoudOnce(t *testing.T) {
	h := newHarness(t)
	key := h.order("QLOUD00001", 100, 2*time.Hour)
	if r, err := h.ledger.RequestClose(h.ctx, key, h.clock.Now().Add(5*time.Minute), "merchant"); err != nil || r.Outcome != "applied" {
		t.Fatalf("%v %v", r.Outcome, err)
	}
	h.pay("QLOUD00001")
	var out lines
	j := h.job(reconcile.Options{Logger: slog.New(slog.NewJSONHandler(&out, nil))})
	for range 3 {
		h.clock.Advance(10 * time.Minute)
		h.pass(j)
	}
	if st := h.state(key); st != "REVIEW" {
		t.Fatalf("state %s, want REVIEW", st)
	}
	if errs, metrics, causes := out.alarms(); errs != 1 || metrics != 1 || causes[0] != "paid_after_close_request" {
		t.Fatalf("%d ERROR lines (%v), %d metrics; want one of each, cause paid_after_close_request", errs, causes, metrics)
	}
}
