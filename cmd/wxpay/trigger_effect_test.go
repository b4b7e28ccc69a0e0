package main

import (
	"strings"
	"testing"
)

// wxpay trigger against a bundle's /notify says what the notification changed: a
// payment with another transaction id for a paid order is announced as a second
// payment before it is sent, and the order's move to REVIEW is reported after.
func TestTriggerSaysWhatItChanged(t *testing.T) {
	s := startRunServe(t)
	defer s.stop()
	if st, m := s.call(t, "POST", "/orders", `{"order_id":"TRIGGER001","amount":100,"description":"x","scene":"native"}`); st != 201 {
		t.Fatalf("create: %d %v", st, m)
	}
	code, out, errOut := runCmd(t, "trigger", "--keys-dir", s.keys, "--url", s.base+"/notify", "--out-trade-no", "TRIGGER001", "--amount", "100")
	if code != 0 || !strings.Contains(out, "effect on the bundle: order TRIGGER001 NOTPAY → SUCCESS (transaction ") {
		t.Fatalf("first trigger: exit %d\n%s%s", code, out, errOut)
	}
	_, m := s.call(t, "GET", "/orders/TRIGGER001", "")
	paid, _ := m["transaction_id"].(string)
	// The same transaction again: a duplicate, nothing changes.
	code, out, errOut = runCmd(t, "trigger", "--keys-dir", s.keys, "--url", s.base+"/notify", "--out-trade-no", "TRIGGER001", "--amount", "100", "--transaction-id", paid)
	if code != 0 || !strings.Contains(out, "effect on the bundle: order TRIGGER001 unchanged: SUCCESS") || strings.Contains(out, "note:") {
		t.Fatalf("replay: exit %d\n%s%s", code, out, errOut)
	}
	// Another transaction id: said before, and the REVIEW said after.
	code, out, errOut = runCmd(t, "trigger", "--keys-dir", s.keys, "--url", s.base+"/notify", "--out-trade-no", "TRIGGER001", "--amount", "100")
	for _, want := range []string{"is already paid (transaction " + paid + ")", "puts the order in REVIEW", "--transaction-id " + paid, "→ REVIEW", "REVIEW: "} {
		if !strings.Contains(out, want) {
			t.Errorf("second payment: %q missing (exit %d)\n%s%s", want, code, out, errOut)
		}
	}
}
