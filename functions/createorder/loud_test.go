package createorder_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"

	"github.com/paysls/wxpay/internal/paysim"
)

type logLines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logLines) alarms() (errs, metrics int, causes []any) {
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

// A REVIEW found by GET /orders/{id} (it asks WeChat Pay about an unsettled order: paid
// after its close was asked for, the notification lost) is loud once, from the ledger;
// later reads do not sound it again.
func TestStatusReviewIsLoudOnce(t *testing.T) {
	var out logLines
	e := newEnv(t, envOptions{logger: slog.New(slog.NewJSONHandler(&out, nil))})
	if err := e.sim.SetFaults(paysim.Faults{DropAll: true}); err != nil {
		t.Fatal(err)
	}
	e.create(t, "SLOUD00001", 100)
	if s, a := e.call(t, "POST", "/orders/SLOUD00001/close", nil); s != 202 {
		t.Fatalf("close: %d %v", s, a)
	}
	e.pay(t, "SLOUD00001")
	for range 3 {
		if g := e.getOrder(t, "SLOUD00001"); str(g, "state") != "REVIEW" || !hasCause(g, "paid_after_close_request") {
			t.Fatalf("GET: %v", g)
		}
	}
	if errs, metrics, causes := out.alarms(); errs != 1 || metrics != 1 {
		t.Fatalf("%d ERROR lines (%v), %d metrics; want one of each", errs, causes, metrics)
	}
}
