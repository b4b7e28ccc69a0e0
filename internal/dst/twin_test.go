package dst

import (
	"strings"
	"testing"
)

// TestTwinSharesNumbers: on a platform, a second sub-merchant places, pays and
// refunds the same order_id (hence out_trade_no) as the default one, and takes an
// out_refund_no the default one uses after it. Every invariant holds, and the twin's
// steps really ran at WeChat Pay: two orders under one number.
func TestTwinSharesNumbers(t *testing.T) {
	const seed = 3 // a platform history (platformWorld)
	if !platformWorld(seed) {
		t.Fatal("seed 3 is no longer a platform history")
	}
	steps := []Op{
		{Op: "create", Order: "order1", Amount: 300, Scene: "native"},
		{Op: "pay", Trade: "order1", Status: "SUCCESS"},
		{Op: "deliver", Event: "pay", Trade: "order1"},
		{Op: "refund", Order: "order1", Refund: "refund1", Amount: 100},
		{Op: "twin", Order: "order1", Refund: "refund1", Amount: twinAmount}, // the number is the default's: refused
		{Op: "twin", Order: "order1", Refund: "refund2", Amount: twinAmount}, // a replay of the twin's paid order: paying it again is refused
		{Op: "create", Order: "order2", Amount: 200, Scene: "native"},
		{Op: "twin", Order: "order2", Refund: "refund2", Amount: twinAmount}, // refund2 is the twin's from now on
		{Op: "pay", Trade: "order2", Status: "SUCCESS"},
		{Op: "refund", Order: "order2", Refund: "refund2", Amount: 100}, // refused: WeChat Pay holds refund2 for the twin
		{Op: "settle", Refund: "refund1", Status: "SUCCESS"},
		{Op: "deliver", Event: "refund", Refund: "refund1"},
		{Op: "get", Order: "order1"},
		{Op: "get", Order: "order2"},
		{Op: "reconcile"},
		{Op: "advance", Advance: "23h"},
		{Op: "billfetch"},
		{Op: "reconcile"},
	}
	h := History{Seed: seed}
	for _, op := range steps {
		h.Steps = append(h.Steps, Step{Ops: []Op{op}})
	}
	res := Replay(h, Options{Trace: true})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	for _, v := range res.Violations {
		t.Errorf("%s: %s", v.Invariant, v.Detail)
	}
	var twin []string
	for _, l := range res.Trace {
		if strings.HasPrefix(l, "twin: ") {
			twin = append(twin, l)
		}
	}
	want := []string{"twin: paid order1 as ", "twin: refund refund1: ", "twin: pay order1: ", "twin: paid order2 as ", "twin: refund refund2 PROCESSING"}
	if len(twin) != len(want) {
		t.Fatalf("the twin did %q, want %q", twin, want)
	}
	for i, p := range want {
		if !strings.HasPrefix(twin[i], p) {
			t.Errorf("twin step %d: %q, want %q…", i, twin[i], p)
		}
	}
}
