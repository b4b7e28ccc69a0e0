package createorder_test

// The four sequences of issue 16, each through the HTTP handlers (the order API and
// POST /notify on one server, the simulator as WeChat Pay), each once losing or
// misstating money.

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/paysls/wxpay/internal/judgment"
	"github.com/paysls/wxpay/internal/paysim"
	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// merchantEvents is a webhook receiver: the merchant's events in the order they arrive.
type merchantEvents struct {
	mu  sync.Mutex
	got []receivedEvent
	srv *httptest.Server
}

type receivedEvent struct {
	ID   string
	Type string
	Data map[string]any
}

func newMerchantEvents(t testing.TB) *merchantEvents {
	m := &merchantEvents{}
	m.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var ev receivedEvent
		if err := json.Unmarshal(body, &ev); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		m.mu.Lock()
		m.got = append(m.got, ev)
		m.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(m.srv.Close)
	return m
}

// of lists the types of the events received for out_trade_no, in arrival order (a
// redelivery of the same id counted once).
func (m *merchantEvents) of(outTradeNo string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	seen := map[string]bool{}
	var out []string
	for _, e := range m.got {
		if e.Data["out_trade_no"] != outTradeNo || seen[e.ID] {
			continue
		}
		seen[e.ID] = true
		out = append(out, e.Type)
	}
	return out
}

func withWebhook(m *merchantEvents) func(*config.Config) {
	return func(c *config.Config) {
		c.Bundle.WebhookURL = m.srv.URL
		c.Bundle.WebhookSecret = config.NewSecret([]byte("whsec_sequences"))
	}
}

// notifyV3 delivers a v3 notification as WeChat Pay would (signed by the platform key,
// sealed with the APIv3 key) and wants it acknowledged.
func (e *env) notifyV3(t testing.TB, event string, resource any) {
	t.Helper()
	aead, err := wechatpay.NewAEAD(e.id.APIv3Key)
	if err != nil {
		t.Fatal(err)
	}
	_, body, err := wechatpay.SealNotification(aead, event, resource, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	signer := &wechatpay.PlatformSigner{Serial: e.id.PlatformSerial(), Key: e.id.PlatformKey}
	h, err := signer.Sign(body)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/notify", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	h.Apply(req.Header)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("%s: notify answered %d %s", event, resp.StatusCode, b)
	}
}

func (e *env) refundNotice(outTradeNo, txid, outRefundNo, status string, refund, total int64) wechatpay.RefundNotice {
	return wechatpay.RefundNotice{MchID: e.id.MchID, OutTradeNo: outTradeNo, TransactionID: txid, OutRefundNo: outRefundNo,
		RefundID: "50300" + outRefundNo, RefundStatus: status, SuccessTime: wechatpay.FormatTime(e.clock.Now()),
		Amount: wechatpay.RefundAmount{Total: total, Refund: refund, PayerTotal: total, PayerRefund: refund, Currency: "CNY"}}
}

func (e *env) create(t testing.TB, orderID string, amount int64) map[string]any {
	t.Helper()
	s, a := e.call(t, "POST", "/orders", map[string]any{"order_id": orderID, "amount": amount, "description": "seq", "scene": "jsapi",
		"payer": map[string]string{"openid": openID}})
	if s != http.StatusCreated {
		t.Fatalf("create %s: %d %v", orderID, s, a)
	}
	return a
}

// payNow pays out_trade_no at the simulator and waits until notify has applied its
// notification (unless a fault dropped it).
func (e *env) payNow(t testing.TB, outTradeNo string) wechatpay.Transaction {
	t.Helper()
	tx, nid, status, err := e.sim.Pay(outTradeNo, paysim.PayRequest{})
	if err != nil {
		t.Fatalf("pay %s: %d %v", outTradeNo, status, err)
	}
	if !droppedNotification(e.sim.Deliveries(), nid) {
		e.notified.Wait(t, nid)
	}
	return tx
}

func (e *env) getOrder(t testing.TB, orderID string) map[string]any {
	t.Helper()
	s, a := e.call(t, "GET", "/orders/"+orderID, nil)
	if s != http.StatusOK {
		t.Fatalf("GET /orders/%s: %d %v", orderID, s, a)
	}
	return a
}

func waitFor(t testing.TB, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func num(m map[string]any, k string) int64 { f, _ := m[k].(float64); return int64(f) }

func causes(m map[string]any) []string {
	var out []string
	list, _ := m["review_causes"].([]any)
	for _, c := range list {
		if cm, ok := c.(map[string]any); ok {
			out = append(out, str(cm, "kind"))
		}
	}
	return out
}

func hasCause(m map[string]any, kind string) bool {
	for _, k := range causes(m) {
		if k == kind {
			return true
		}
	}
	return false
}

// Sequence 1: an order_id equal to another order's re-priced attempt. X_2 is its own
// order, created and paid; X is created, then re-priced: the re-price must answer 409
// and change nothing — X keeps its own attempt, refunds nothing of X_2, and X's own
// payment settles X. And an order_id that is another order's attempt is no order.
func TestSequenceAttemptCollision(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.create(t, "SEQONEX_2", 100)
	e.payNow(t, "SEQONEX_2")
	waitFor(t, "SEQONEX_2 paid", func() bool { return str(e.getOrder(t, "SEQONEX_2"), "state") == wechatpay.TradeStateSuccess })

	e.create(t, "SEQONEX", 100)
	before := e.getOrder(t, "SEQONEX")
	s, a := e.call(t, "POST", "/orders", map[string]any{"order_id": "SEQONEX", "amount": 200, "description": "seq", "scene": "jsapi",
		"payer": map[string]string{"openid": openID}})
	if s != http.StatusConflict {
		t.Fatalf("re-price into a taken attempt name: %d %v, want 409", s, a)
	}
	after := e.getOrder(t, "SEQONEX")
	for _, k := range []string{"out_trade_no", "state", "transaction_id"} {
		if str(after, k) != str(before, k) {
			t.Fatalf("the failed re-price changed the order's %s: %v → %v", k, before[k], after[k])
		}
	}
	if num(after, "amount") != 100 || after["close_pending"] == true || num(after, "attempts") != 1 {
		t.Fatalf("the failed re-price changed the order: %v", after)
	}
	if str(a, "code") != "ATTEMPT_NAME_TAKEN" || str(a, "hint") == "" {
		t.Fatalf("re-price into a taken attempt name: %v, want code ATTEMPT_NAME_TAKEN with a hint", a)
	}
	if s, a := e.call(t, "POST", "/orders/SEQONEX/refunds", map[string]any{"amount": 100}); s != http.StatusConflict || str(a, "code") != "ORDER_NOT_PAID" {
		t.Fatalf("refund of the unpaid SEQONEX: %d %v, want 409 ORDER_NOT_PAID (never a refund of SEQONEX_2)", s, a)
	}
	if v := e.simOrder(t, "SEQONEX_2"); len(v.Refunds) != 0 {
		t.Fatalf("SEQONEX_2 was refunded at WeChat Pay: %+v", v.Refunds)
	}
	e.payNow(t, "SEQONEX")
	waitFor(t, "SEQONEX paid", func() bool { return str(e.getOrder(t, "SEQONEX"), "state") == wechatpay.TradeStateSuccess })

	// Y re-priced to Y_2: "Y_2" is an attempt of Y, not an order.
	e.create(t, "SEQONEY", 100)
	if s, a := e.call(t, "POST", "/orders", map[string]any{"order_id": "SEQONEY", "amount": 150, "description": "seq", "scene": "jsapi",
		"payer": map[string]string{"openid": openID}}); s != http.StatusCreated || str(a, "out_trade_no") != "SEQONEY_2" {
		t.Fatalf("re-price SEQONEY: %d %v", s, a)
	}
	if s, a := e.call(t, "GET", "/orders/SEQONEY_2", nil); s != http.StatusNotFound || str(a, "code") != "ORDER_NOT_FOUND" {
		t.Fatalf("GET of another order's attempt: %d %v, want 404 ORDER_NOT_FOUND", s, a)
	}
}

// Sequence 2: a refund read under the wrong order. A refund first seen in a
// notification (no order_id of the API's) belongs to the order its result names; read
// under another order it is 404, and nothing — no query, no state — changes.
func TestSequenceRefundUnderWrongOrder(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.create(t, "SEQTWOA", 100)
	txA := e.payNow(t, "SEQTWOA")
	e.create(t, "SEQTWOB", 100)
	e.payNow(t, "SEQTWOB")
	waitFor(t, "both paid", func() bool {
		return str(e.getOrder(t, "SEQTWOA"), "state") == wechatpay.TradeStateSuccess && str(e.getOrder(t, "SEQTWOB"), "state") == wechatpay.TradeStateSuccess
	})
	// A refund of A made by hand, first seen in its (ABNORMAL) notification.
	e.notifyV3(t, wechatpay.EventRefundAbnormal, e.refundNotice("SEQTWOA", txA.TransactionID, "SEQTWORA", wechatpay.RefundStatusAbnormal, 40, 100))
	calls := e.v3.Load()
	if s, a := e.call(t, "GET", "/orders/SEQTWOB/refunds/SEQTWORA", nil); s != http.StatusNotFound || str(a, "code") != "REFUND_NOT_FOUND" {
		t.Fatalf("a refund of A read under B: %d %v, want 404 REFUND_NOT_FOUND", s, a)
	}
	if n := e.v3.Load() - calls; n != 0 {
		t.Fatalf("reading A's refund under B asked WeChat Pay %d times", n)
	}
	b := e.getOrder(t, "SEQTWOB")
	if str(b, "state") != wechatpay.TradeStateSuccess || num(b, "refunded") != 0 || len(b["refunds"].([]any)) != 0 {
		t.Fatalf("B changed: %v", b)
	}
	if s, a := e.call(t, "GET", "/orders/SEQTWOA/refunds/SEQTWORA", nil); s != http.StatusOK || str(a, "state") != wechatpay.RefundStatusAbnormal {
		t.Fatalf("A's refund under A: %d %v", s, a)
	}
	a := e.getOrder(t, "SEQTWOA")
	if rs, _ := a["refunds"].([]any); len(rs) != 1 {
		t.Fatalf("A does not list the refund first seen in a notification: %v", a["refunds"])
	}
	// B's own refund is not held up by A's.
	if s, r := e.call(t, "POST", "/orders/SEQTWOB/refunds", map[string]any{"out_refund_no": "SEQTWORB", "amount": 100}); s != http.StatusOK {
		t.Fatalf("B's own refund: %d %v", s, r)
	}
}

// Sequence 3: a refund before its payment. REFUND.SUCCESS arrives before the order's
// TRANSACTION.SUCCESS: the refund is kept, the order ends REFUND (never plain SUCCESS),
// and the merchant's events read in causal order — order.paid never last.
func TestSequenceRefundBeforePayment(t *testing.T) {
	m := newMerchantEvents(t)
	e := newEnv(t, envOptions{mutate: withWebhook(m)})
	e.create(t, "SEQTHREEX", 800)
	if err := e.sim.SetFaults(paysim.Faults{DropNext: 1}); err != nil { // the payment's notification is late
		t.Fatal(err)
	}
	tx := e.payNow(t, "SEQTHREEX")
	e.notifyV3(t, wechatpay.EventRefundSuccess, e.refundNotice("SEQTHREEX", tx.TransactionID, "SEQTHREER", wechatpay.RefundStatusSuccess, 800, 800))
	e.notifyV3(t, wechatpay.EventTransactionSuccess, tx)
	o := e.getOrder(t, "SEQTHREEX")
	if str(o, "state") != wechatpay.TradeStateRefund || num(o, "refunded") != 800 {
		t.Fatalf("order after refund-then-payment: state %v refunded %v, want REFUND 800", o["state"], o["refunded"])
	}
	if rs, _ := o["refunds"].([]any); len(rs) != 1 {
		t.Fatalf("the refund is not listed on its order: %v", o["refunds"])
	}
	waitFor(t, "three events", func() bool { return len(m.of("SEQTHREEX")) >= 3 })
	got := m.of("SEQTHREEX")
	want := []string{"order.paid", "refund.succeeded", "order.refunded"}
	if len(got) != len(want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("events %v, want %v (causal order)", got, want)
		}
	}
}

// Sequence 4: refund results judged against their order. Refunds the bundle never
// asked for (500 + 500 + 400 on an order paid 500) are kept and the order goes to
// REVIEW; one order.refunded; a refund of 99,999,999 on an order of 100 is REVIEW; a
// result naming another out_trade_no is a kept conflict, never a re-point.
func TestSequenceRefundsJudgedAgainstTheirOrder(t *testing.T) {
	m := newMerchantEvents(t)
	e := newEnv(t, envOptions{mutate: withWebhook(m)})
	e.create(t, "SEQFOURP", 500)
	tx := e.payNow(t, "SEQFOURP")
	waitFor(t, "P paid", func() bool { return str(e.getOrder(t, "SEQFOURP"), "state") == wechatpay.TradeStateSuccess })
	for i, amt := range []int64{500, 500, 400} {
		no := "SEQFOURR" + string(rune('1'+i))
		e.notifyV3(t, wechatpay.EventRefundSuccess, e.refundNotice("SEQFOURP", tx.TransactionID, no, wechatpay.RefundStatusSuccess, amt, 500))
	}
	p := e.getOrder(t, "SEQFOURP")
	if str(p, "state") != "REVIEW" || num(p, "refunded") != 500 || !hasCause(p, "refund_exceeds_paid") {
		t.Fatalf("P after 1,400 fen of refunds on 500: state %v refunded %v causes %v, want REVIEW 500 refund_exceeds_paid", p["state"], p["refunded"], causes(p))
	}
	if rs, _ := p["refunds"].([]any); len(rs) != 3 {
		t.Fatalf("P lists %d refunds, want the 3 kept", len(rs))
	}
	waitFor(t, "P's events", func() bool { return len(m.of("SEQFOURP")) >= 3 })
	refunded := 0
	for _, typ := range m.of("SEQFOURP") {
		if typ == "order.refunded" {
			refunded++
		}
	}
	if refunded != 1 {
		t.Fatalf("P: %d order.refunded events (%v), want 1", refunded, m.of("SEQFOURP"))
	}

	e.create(t, "SEQFOURQ", 100)
	txQ := e.payNow(t, "SEQFOURQ")
	waitFor(t, "Q paid", func() bool { return str(e.getOrder(t, "SEQFOURQ"), "state") == wechatpay.TradeStateSuccess })
	e.notifyV3(t, wechatpay.EventRefundSuccess, e.refundNotice("SEQFOURQ", txQ.TransactionID, "SEQFOURBIG", wechatpay.RefundStatusSuccess, 99999999, 100))
	if q := e.getOrder(t, "SEQFOURQ"); str(q, "state") != "REVIEW" || num(q, "refunded") != 0 || !hasCause(q, "refund_exceeds_paid") {
		t.Fatalf("Q after a refund of 99,999,999 on 100: %v refunded %v causes %v, want REVIEW 0", q["state"], q["refunded"], causes(q))
	}

	// A refund of S, then a result for it naming T: kept on S, never re-pointed to T.
	e.create(t, "SEQFOURS", 300)
	txS := e.payNow(t, "SEQFOURS")
	e.create(t, "SEQFOURT", 300)
	txT := e.payNow(t, "SEQFOURT")
	waitFor(t, "S and T paid", func() bool {
		return str(e.getOrder(t, "SEQFOURS"), "state") == wechatpay.TradeStateSuccess && str(e.getOrder(t, "SEQFOURT"), "state") == wechatpay.TradeStateSuccess
	})
	e.notifyV3(t, wechatpay.EventRefundAbnormal, e.refundNotice("SEQFOURS", txS.TransactionID, "SEQFOURRS", wechatpay.RefundStatusAbnormal, 100, 300))
	e.notifyV3(t, wechatpay.EventRefundSuccess, e.refundNotice("SEQFOURT", txT.TransactionID, "SEQFOURRS", wechatpay.RefundStatusSuccess, 100, 300))
	if s, a := e.call(t, "GET", "/orders/SEQFOURT/refunds/SEQFOURRS", nil); s != http.StatusNotFound {
		t.Fatalf("the refund was re-pointed to T: %d %v", s, a)
	}
	if tt := e.getOrder(t, "SEQFOURT"); str(tt, "state") != wechatpay.TradeStateSuccess || num(tt, "refunded") != 0 {
		t.Fatalf("T changed: %v", tt)
	}
	s, rs := e.call(t, "GET", "/orders/SEQFOURS/refunds/SEQFOURRS", nil)
	if s != http.StatusOK || str(rs, "state") != "REVIEW" || str(rs, "out_trade_no") != "SEQFOURS" {
		t.Fatalf("S's refund after a result naming T: %d %v, want REVIEW on S", s, rs)
	}
}

// The judgment switches (internal/judgment, for the simulation test) bring the
// sequences back when turned off: proof that the simulation can find them.
func TestJudgmentSwitchesReintroduceTheSequences(t *testing.T) {
	t.Run("attempt-reservation", func(t *testing.T) {
		t.Cleanup(judgment.AttemptReservation.Set(false))
		e := newEnv(t, envOptions{})
		e.create(t, "SWONEX_2", 100)
		e.payNow(t, "SWONEX_2")
		waitFor(t, "SWONEX_2 paid", func() bool { return str(e.getOrder(t, "SWONEX_2"), "state") == wechatpay.TradeStateSuccess })
		e.create(t, "SWONEX", 100)
		e.call(t, "POST", "/orders", map[string]any{"order_id": "SWONEX", "amount": 200, "description": "seq", "scene": "jsapi",
			"payer": map[string]string{"openid": openID}})
		if got := str(e.getOrder(t, "SWONEX"), "out_trade_no"); got != "SWONEX_2" {
			t.Fatalf("switched off, the pointer should have moved onto the other order's attempt; reads %s", got)
		}
	})
	t.Run("refund-vs-order", func(t *testing.T) {
		t.Cleanup(judgment.RefundVsOrder.Set(false))
		e := newEnv(t, envOptions{})
		e.create(t, "SWTWOA", 100)
		txA := e.payNow(t, "SWTWOA")
		e.create(t, "SWTWOB", 100)
		waitFor(t, "A paid", func() bool { return str(e.getOrder(t, "SWTWOA"), "state") == wechatpay.TradeStateSuccess })
		e.notifyV3(t, wechatpay.EventRefundAbnormal, e.refundNotice("SWTWOA", txA.TransactionID, "SWTWORA", wechatpay.RefundStatusAbnormal, 40, 100))
		if s, _ := e.call(t, "GET", "/orders/SWTWOB/refunds/SWTWORA", nil); s != http.StatusOK {
			t.Fatalf("switched off, A's refund should read under B: %d", s)
		}
	})
}
