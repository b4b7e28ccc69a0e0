package paysim

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/paysls/wxpay/shared/wechatpay"
)

// TestFaultFrequencyLimited: the storm answers a share of /v3 requests with WeChat
// Pay's signed 429 FREQUENCY_LIMITED, deterministically, and does not carry them out.
func TestFaultFrequencyLimited(t *testing.T) {
	e := newEnv(t, Config{})
	e.placeNative("FREQ00000001", 100, "https://merchant.example.com/n")
	if st, b := e.simRaw("POST", "/sim/faults", []byte(`{"frequency_limited":{"rate":0.5}}`)); st != 200 {
		t.Fatalf("%d %s", st, b)
	}
	query := "/v3/pay/transactions/out-trade-no/FREQ00000001?mchid=" + e.id.MchID
	var statuses []int
	for i := 0; i < 6; i++ {
		r := e.call("GET", query, nil)
		statuses = append(statuses, r.status)
		if r.sigErr != nil {
			t.Fatalf("answer %d is not signed: %v", i, r.sigErr)
		}
		if r.status == http.StatusTooManyRequests {
			eb := r.errorBody(t)
			if eb.Code != wechatpay.CodeFrequencyLimited || !strings.HasPrefix(eb.Message, "频率超限") || r.header.Get("Request-ID") == "" {
				t.Fatalf("429 body %s", r.body)
			}
		}
	}
	if want := []int{200, 429, 200, 429, 200, 429}; !equalInts(statuses, want) {
		t.Fatalf("rate 0.5: %v, want %v", statuses, want)
	}
	// A refused prepay is not carried out; a pattern confines the storm; times ends it.
	if err := e.sim.SetFaults(Faults{FrequencyLimited: &FrequencyLimit{Rate: 1, Pattern: "POST /v3/pay/transactions/*", Times: 2}}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if r := e.call("POST", "/v3/pay/transactions/native", e.nativeOrder("FREQ00000002", 100, "https://merchant.example.com/n")); r.status != 429 {
			t.Fatalf("prepay in the storm: %d %s", r.status, r.body)
		}
	}
	if r := e.call("GET", query, nil); r.status != 200 {
		t.Fatalf("a query outside the pattern: %d", r.status)
	}
	if r := e.call("GET", "/v3/pay/transactions/out-trade-no/FREQ00000002?mchid="+e.id.MchID, nil); r.status != 404 {
		t.Fatalf("a rate-limited prepay must not place the order: %d %s", r.status, r.body)
	}
	e.placeNative("FREQ00000002", 100, "https://merchant.example.com/n") // the storm is over
	if f := e.sim.currentFaults(); f.FrequencyLimited != nil {
		t.Fatalf("times spent, storm still on: %+v", f.FrequencyLimited)
	}
	// The same answer as an endpoint fault with status 429.
	if err := e.sim.SetFaults(Faults{Endpoints: []EndpointFault{{Pattern: "/v3/refund/*", Status: 429}}}); err != nil {
		t.Fatal(err)
	}
	if r := e.call("GET", "/v3/refund/domestic/refunds/RF1234567890", nil); r.status != 429 || r.errorBody(t).Code != "FREQUENCY_LIMITED" || r.sigErr != nil {
		t.Fatalf("429 endpoint fault: %d %s", r.status, r.body)
	}
	// Bad settings are refused.
	for _, body := range []string{`{"frequency_limited":{"rate":0}}`, `{"frequency_limited":{"rate":1.5}}`, `{"frequency_limited":{"rate":1,"pattern":"v3"}}`, `{"endpoints":[{"pattern":"/v3/*","status":404}]}`} {
		if st, b := e.simRaw("POST", "/sim/faults", []byte(body)); st != 400 {
			t.Errorf("%s: %d %s", body, st, b)
		}
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestSimFaultsBody: POST /sim/faults refuses what it cannot use instead of clearing
// every fault (issue 12), and names the valid fields.
func TestSimFaultsBody(t *testing.T) {
	e := newEnv(t, Config{Faults: Faults{Duplicate: true}})
	still := func(when string) {
		t.Helper()
		if !e.sim.currentFaults().Duplicate {
			t.Fatalf("%s: the active faults were replaced", when)
		}
	}
	big := append([]byte(`{"drop_all":false,"delay":"1s"`), bytes.Repeat([]byte(" "), 1<<20)...)
	big = append(big, '}')
	if st, b := e.simRaw("POST", "/sim/faults", big); st != http.StatusRequestEntityTooLarge || !strings.Contains(simErrorOf(t, b), "1 MiB") {
		t.Fatalf("oversized body: %d %s", st, b)
	}
	still("oversized body")
	if st, b := e.simRaw("POST", "/sim/faults", []byte(`{"drop_all":true} trailing`)); st != 400 || !strings.Contains(simErrorOf(t, b), "more after its JSON object") {
		t.Fatalf("trailing garbage: %d %s", st, b)
	}
	if st, _ := e.simRaw("POST", "/sim/faults", []byte(`{"drop_all":true}{}`)); st != 400 {
		t.Fatalf("two objects: %d", st)
	}
	still("trailing garbage")
	st, b := e.simRaw("POST", "/sim/faults", []byte(`{"skew":"10m"}`))
	msg := simErrorOf(t, b)
	if st != 400 || !strings.Contains(msg, `unknown field "skew"`) || !strings.Contains(msg, `did you mean "skew_clock"`) {
		t.Fatalf("unknown field: %d %s", st, msg)
	}
	for _, name := range []string{"drop_next", "drop_all", "duplicate", "out_of_order", "delay", "skew_clock", "signtest_probe", "rotate_certificate", "endpoints", "frequency_limited",
		"in endpoints[]: pattern, status, hang, times", "in frequency_limited: rate, pattern, times", "README.md"} {
		if !strings.Contains(msg, name) {
			t.Errorf("the error should list %q: %s", name, msg)
		}
	}
	still("unknown field")
	if _, b := e.simRaw("POST", "/sim/faults", []byte(`{"endpoints":[{"patern":"/v3/*"}]}`)); !strings.Contains(simErrorOf(t, b), `did you mean "pattern"`) {
		t.Fatalf("nested unknown field: %s", b)
	}
	// The same rules for the other /sim bodies.
	e.placeNative("BODY00000001", 100, "https://merchant.example.com/n")
	if st, b := e.simRaw("POST", "/sim/orders/BODY00000001/pay", []byte(`{"result":"SUCCESS","open_id":"x"}`)); st != 400 || !strings.Contains(simErrorOf(t, b), "openid") {
		t.Fatalf("pay body: %d %s", st, b)
	}
	// An empty body still means "no options", and {} still clears the faults.
	if st, _ := e.simRaw("POST", "/sim/faults", []byte(`{}`)); st != 200 || e.sim.currentFaults().Duplicate {
		t.Fatal("{} clears the faults")
	}
}

// TestNotificationRequestID: every delivery attempt carries its own Request-ID, as
// WeChat Pay's do, and the delivery log records it.
func TestNotificationRequestID(t *testing.T) {
	rc := newReceiver(t, func(n int) int {
		if n == 1 {
			return 500
		}
		return 200
	})
	e := newEnv(t, Config{})
	e.payOrder("REQID0000001", rc.url())
	first, second := rc.next(t), rc.next(t)
	a, b := first.header.Get("Request-ID"), second.header.Get("Request-ID")
	if len(a) != 32 || len(b) != 32 || a == b {
		t.Fatalf("Request-ID %q then %q: want one per attempt", a, b)
	}
	d := e.waitDeliveries(2)
	if d[0].RequestID != a || d[1].RequestID != b {
		t.Fatalf("deliveries %+v", d)
	}
	var list []Delivery
	e.simCall("GET", "/sim/deliveries", nil, &list)
	if raw, _ := json.Marshal(list); !strings.Contains(string(raw), `"request_id":"`+a+`"`) {
		t.Fatalf("/sim/deliveries: %s", raw)
	}
}

// TestFaultRefuseRefundOnce: the named order's next refund is refused once with 404
// RESOURCE_NOT_EXISTS "订单不存在" while the order stays paid (its query says SUCCESS),
// and the same request repeated is accepted; other orders are untouched.
func TestFaultRefuseRefundOnce(t *testing.T) {
	e := newEnv(t, Config{})
	for _, no := range []string{"ONCE00000001", "ONCE00000002"} {
		e.placeNative(no, 100, "https://merchant.example.com/n")
		e.simCall("POST", "/sim/orders/"+no+"/pay", nil, nil)
	}
	if st, b := e.simRaw("POST", "/sim/faults", []byte(`{"refuse_refund_once":["ONCE00000001"]}`)); st != 200 {
		t.Fatalf("%d %s", st, b)
	}
	refund := func(no, rno string) response {
		return e.call("POST", "/v3/refund/domestic/refunds", wechatpay.RefundRequest{OutTradeNo: no, OutRefundNo: rno,
			Amount: wechatpay.RefundAmount{Refund: 40, Total: 100, Currency: "CNY"}})
	}
	if r := refund("ONCE00000002", "ONCERF000002"); r.status != 200 {
		t.Fatalf("another order's refund: %d %s", r.status, r.body)
	}
	r := refund("ONCE00000001", "ONCERF000001")
	if r.status != http.StatusNotFound || r.errorBody(t).Code != wechatpay.CodeResourceNotExists || !strings.HasPrefix(r.errorBody(t).Message, "订单不存在") {
		t.Fatalf("the refused refund: %d %s", r.status, r.body)
	}
	q := e.call("GET", "/v3/pay/transactions/out-trade-no/ONCE00000001?mchid="+e.id.MchID, nil)
	var tx wechatpay.Transaction
	if err := json.Unmarshal(q.body, &tx); err != nil || tx.TradeState != wechatpay.TradeStateSuccess {
		t.Fatalf("the order after the refusal: %d %s", q.status, q.body)
	}
	if r := e.call("GET", "/v3/refund/domestic/refunds/ONCERF000001", nil); r.status != http.StatusNotFound {
		t.Fatalf("the refused refund exists: %d %s", r.status, r.body)
	}
	if r := refund("ONCE00000001", "ONCERF000001"); r.status != 200 {
		t.Fatalf("the same request repeated: %d %s", r.status, r.body)
	}
	if f := e.sim.currentFaults(); len(f.RefuseRefundOnce) != 0 {
		t.Fatalf("the fault outlived its shot: %v", f.RefuseRefundOnce)
	}
}
