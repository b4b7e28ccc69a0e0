package createorder_test

import (
	"testing"
)

// A user pays the QR code of an attempt the merchant had re-priced away: the money is
// held in REVIEW on the replaced attempt, and the person resolving it refunds that
// payment — by its transaction_id, which GET /orders must therefore show, typed, on the
// cause and on the attempt. Found from outside: six racing re-prices, all six attempts
// paid, five earlier_attempt_paid causes and five previous attempts, none with its
// transaction_id (only inside the detail text).
func TestReplacedAttemptPaidShowsItsTransaction(t *testing.T) {
	e := newEnv(t, envOptions{})
	const id = "OUTREPAID01"
	if st, m := e.call(t, "POST", "/orders", map[string]any{"order_id": id, "amount": 100, "description": "x", "scene": "native"}); st != 201 {
		t.Fatalf("create: %d %v", st, m)
	}
	if st, m := e.call(t, "POST", "/orders", map[string]any{"order_id": id, "amount": 120, "description": "x", "scene": "native"}); st != 201 || m["out_trade_no"] != id+"_2" {
		t.Fatalf("re-price: %d %v", st, m)
	}
	e.pay(t, id) // the stale QR code
	e.waitState(t, id, "REVIEW")
	tx := e.simOrder(t, id).Transaction.TransactionID
	if tx == "" {
		t.Fatal("the simulator holds no transaction for the paid attempt")
	}
	st, m := e.call(t, "GET", "/orders/"+id, nil)
	if st != 200 || m["state"] != "REVIEW" {
		t.Fatalf("GET: %d %v", st, m)
	}
	prev, _ := m["previous"].([]any)
	if len(prev) != 1 {
		t.Fatalf("previous = %v", m["previous"])
	}
	if p, _ := prev[0].(map[string]any); p["transaction_id"] != tx {
		t.Errorf("previous[0].transaction_id = %v, want %s (the payment to refund): %v", p["transaction_id"], tx, p)
	}
	causes, _ := m["review_causes"].([]any)
	found := false
	for _, c := range causes {
		c, _ := c.(map[string]any)
		if c["kind"] == "earlier_attempt_paid" {
			found = true
			if c["transaction_id"] != tx || c["amount"] != float64(100) {
				t.Errorf("earlier_attempt_paid cause = %v, want transaction_id %s and amount 100", c, tx)
			}
		}
	}
	if !found {
		t.Errorf("no earlier_attempt_paid cause: %v", causes)
	}
}
