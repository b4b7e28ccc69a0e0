package createorder_test

import (
	"testing"

	"github.com/paysls/wxpay/internal/paysim"
	"github.com/paysls/wxpay/shared/events"
)

// A combine sub-order whose payment failed (PAYERROR in the combine notification) read
// NOTPAY — payable to the merchant's eyes — until a reconcile run closed it: the ledger
// ignored PAYERROR. It reads PAYERROR as soon as the notification is applied, the paid
// sub-orders are paid, no event is recorded for it (its order.closed comes once, when
// reconcile closes it: TestServeFailedCombineSubOrderIsClosed), and a repeat of the
// query writes nothing.
func TestCombineSubOrderPayErrorReadsPayError(t *testing.T) {
	e := newPlatformEnv(t)
	b := combineBody("CARTPE0001", 3, "native")
	if s, a := e.call(t, "POST", "/orders", b); s != 201 {
		t.Fatalf("create: %d %v", s, a)
	}
	_, nid, status, err := e.sim.PayCombine("CARTPE0001", paysim.CombinePayRequest{FailSubOrders: []string{"CARTPE0001-03"}})
	if err != nil {
		t.Fatalf("pay: %d %v", status, err)
	}
	e.notified.Wait(t, nid)
	want := map[string]string{"CARTPE0001-01?sub_mchid=1900000101": "SUCCESS", "CARTPE0001-02?sub_mchid=1900000102": "SUCCESS",
		"CARTPE0001-03?sub_mchid=1900000103": "PAYERROR"}
	for q, state := range want {
		if s, g := e.call(t, "GET", "/orders/"+q, nil); s != 200 || g["state"] != state {
			t.Errorf("GET %s: %d %v, want %s", q, s, g["state"], state)
		}
	}
	failed, err := e.ledger().Attempt(t.Context(), "1900000103", "CARTPE0001-03")
	if err != nil {
		t.Fatal(err)
	}
	if evs := events.Entries(failed.Record()); len(evs) != 0 {
		t.Errorf("the failed sub-order recorded events: %+v", evs)
	}
	// Reading it again asks WeChat Pay (the sub-order is not settled) and finds the same
	// PAYERROR: nothing is written.
	writes := e.st.Writes.Load()
	if s, g := e.call(t, "GET", "/orders/CARTPE0001-03?sub_mchid=1900000103", nil); s != 200 || g["state"] != "PAYERROR" {
		t.Fatalf("GET again: %d %v", s, g)
	}
	if w := e.st.Writes.Load() - writes; w != 0 {
		t.Errorf("reading PAYERROR again wrote %d times", w)
	}
}
