package createorder_test

import (
	"net/http"
	"strings"
	"testing"
)

// A refund asked for without out_refund_no is made safe to repeat by an
// Idempotency-Key header: the same key for the same order names the same refund, so a
// POST retried after a lost answer refunds once. Without the header each POST is a new
// refund (a random RF… number), which the test shows too, so that the difference is
// what the header makes.
func TestRefundIdempotencyKey(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.post(t, nativeRequest("RFKEY00001", 1000))
	e.payNow(t, "RFKEY00001")
	refund := func(amount int, hdr ...string) (int, map[string]any) {
		t.Helper()
		return e.call(t, "POST", "/orders/RFKEY00001/refunds", map[string]any{"amount": amount}, hdr...)
	}
	atSim := func() int { t.Helper(); return len(e.simOrder(t, "RFKEY00001").Refunds) }

	s1, a1 := refund(100, "Idempotency-Key", "3f1c9a52-retry-me")
	s2, a2 := refund(100, "Idempotency-Key", "3f1c9a52-retry-me")
	no, _ := a1["out_refund_no"].(string)
	if s1 != http.StatusOK || s2 != http.StatusOK || !strings.HasPrefix(no, "RK") || a2["out_refund_no"] != no {
		t.Fatalf("the same key twice: %d %v / %d %v", s1, a1, s2, a2)
	}
	if n := atSim(); n != 1 {
		t.Fatalf("WeChat Pay was asked for %d refunds under one Idempotency-Key, want 1", n)
	}
	// The same key with another amount is another request under the same number: it
	// is refused, never a second refund.
	if s, a := refund(200, "Idempotency-Key", "3f1c9a52-retry-me"); s != http.StatusConflict || a["code"] != "OUT_REFUND_NO_USED" {
		t.Fatalf("the same key, another amount: %d %v", s, a)
	}
	// Another key is another refund.
	if s, a := refund(100, "Idempotency-Key", "7d2e-second-refund"); s != http.StatusOK || a["out_refund_no"] == no {
		t.Fatalf("another key: %d %v", s, a)
	}
	if n := atSim(); n != 2 {
		t.Fatalf("%d refunds at WeChat Pay after two keys, want 2", n)
	}
	// Keys that cannot be one are refused and change nothing.
	for name, hdr := range map[string][]string{
		"too long":      {"Idempotency-Key", strings.Repeat("k", 256)},
		"not printable": {"Idempotency-Key", "key with space"},
	} {
		if s, a := refund(100, hdr...); s != http.StatusBadRequest || a["code"] != "PARAM_ERROR" || !strings.Contains(a["hint"].(string), "same key") {
			t.Fatalf("%s: %d %v", name, s, a)
		}
	}
	if n := atSim(); n != 2 {
		t.Fatalf("a refused key reached WeChat Pay: %d refunds", n)
	}
	// Without out_refund_no and without a key, each POST is a new refund.
	s3, a3 := refund(50)
	s4, a4 := refund(50)
	if s3 != http.StatusOK || s4 != http.StatusOK || a3["out_refund_no"] == a4["out_refund_no"] {
		t.Fatalf("no key: %v / %v", a3, a4)
	}
	if n := atSim(); n != 4 {
		t.Fatalf("%d refunds at WeChat Pay, want 4", n)
	}
}
