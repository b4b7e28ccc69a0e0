package createorder_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/paysls/wxpay/internal/paysim"
	"github.com/paysls/wxpay/shared/orderapi"
	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/wechatpay"
)

func nativeOrder(id string, amount any) map[string]any {
	return map[string]any{"order_id": id, "amount": amount, "description": "replay test", "scene": "native"}
}

// A new order costs one conditional write before prepay (claim + attempt, the record
// notify checks) and one recording the answer; a replay costs no write and no prepay,
// and pay-sign fields are fresh while the prepay_id is the same.
func TestWritesPerCreate(t *testing.T) {
	e := newEnv(t, envOptions{})
	body := orderapi.CreateRequest{OrderID: "WRITES0001", Amount: 100, Description: "writes", Scene: "jsapi", Payer: &orderapi.Payer{OpenID: openID}}
	w0, r0 := e.st.Writes.Load(), e.st.Reads.Load()
	first := e.post(t, body)
	if first.Replayed {
		t.Fatalf("create answered as a replay: %+v", first)
	}
	if w := e.st.Writes.Load() - w0; w != 2 {
		t.Errorf("a new order took %d store writes, want 2 (claim+attempt, then the answer)", w)
	}
	t.Logf("new order: %d writes, %d reads", e.st.Writes.Load()-w0, e.st.Reads.Load()-r0)
	w1, r1 := e.st.Writes.Load(), e.st.Reads.Load()
	again := e.post(t, body)
	if !again.Replayed {
		t.Fatalf("replay: %+v", again)
	}
	if w := e.st.Writes.Load() - w1; w != 0 {
		t.Errorf("a replay took %d store writes, want 0", w)
	}
	t.Logf("replay: %d writes, %d reads", e.st.Writes.Load()-w1, e.st.Reads.Load()-r1)
	if e.prepays.Load() != 1 {
		t.Errorf("%d prepays, want 1", e.prepays.Load())
	}
	p1, p2 := pays[orderapi.JSAPIPay](t, first), pays[orderapi.JSAPIPay](t, again)
	if p1.Package != p2.Package || p1.NonceStr == p2.NonceStr {
		t.Errorf("replay pay = %+v, first %+v: want the same prepay_id with fresh sign fields", p2, p1)
	}
	checkJSAPI(t, &e.id.MerchantKey.PublicKey, p2, e.id.AppID)
}

// 20 identical creates at once: exactly one prepay reaches WeChat Pay and all 20 get
// 2xx with the same out_trade_no and code_url.
func TestConcurrentReplayBurst(t *testing.T) {
	e := newEnv(t, envOptions{})
	const n = 20
	var wg sync.WaitGroup
	type res struct {
		status int
		a      map[string]any
	}
	out := make([]res, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i].status, out[i].a = e.call(t, "POST", "/orders", nativeOrder("BURST00001", 2500))
		}()
	}
	wg.Wait()
	created := 0
	for i, r := range out {
		if r.status/100 != 2 || r.a["out_trade_no"] != "BURST00001" || str(r.a, "pay", "code_url") != str(out[0].a, "pay", "code_url") {
			t.Fatalf("request %d: %d %v", i, r.status, r.a)
		}
		if r.status == http.StatusCreated {
			created++
		}
	}
	if got := e.prepays.Load(); got != 1 || created != 1 {
		t.Fatalf("%d prepays reached the simulator and %d answers were 201, want exactly 1 each", got, created)
	}
}

// A creator that crashed mid-prepay leaves its claim behind: after the lease a replay
// takes it over (prepaying again on the same out_trade_no) instead of waiting forever.
func TestCrashedClaimIsTakenOver(t *testing.T) {
	var e *env
	// The waiter's pauses move the business clock (and take no real time).
	e = newEnv(t, envOptions{lease: 1500 * time.Millisecond, sleep: func(ctx context.Context, d time.Duration) error {
		return e.clock.Sleep(ctx, d)
	}})
	// The first prepay hangs: the creator gives up at its budget and — as a crash
	// would — the record keeps no answer. Here it releases its claim; the crash is
	// simulated below by putting a live-looking claim back.
	if err := e.sim.SetFaults(paysim.Faults{Endpoints: []paysim.EndpointFault{{Pattern: "POST /v3/pay/transactions/*", Hang: true, Times: 1}}}); err != nil {
		t.Fatal(err)
	}
	status, a := e.call(t, "POST", "/orders", nativeOrder("CRASH00001", 100))
	if status != http.StatusGatewayTimeout {
		t.Fatalf("hung prepay: %d %v", status, a)
	}
	rec, ok := e.order(t, "CRASH00001")
	if !ok || rec.Claim.Live(e.clock.Now()) {
		t.Fatalf("after a failed prepay the attempt should exist without a live claim: %+v", rec.Claim)
	}
	// Crash: a claim whose owner is gone, its lease (business clock) ending in a second.
	if _, err := e.ledger().Claim(context.Background(), rec, payment.ClaimRequest{ID: "dead", PayloadHash: rec.Claim.PayloadHash, Lease: time.Second}); err != nil {
		t.Fatal(err)
	}
	t0 := e.clock.Now()
	status, a = e.call(t, "POST", "/orders", nativeOrder("CRASH00001", 100))
	if status != http.StatusCreated || str(a, "pay", "code_url") == "" {
		t.Fatalf("take-over: %d %v", status, a)
	}
	if waited := e.clock.Now().Sub(t0); waited < time.Second {
		t.Fatalf("answered after %v of business time: a live claim must be waited for", waited)
	}
}

// Re-pricing: a changed amount makes a new attempt {order_id}_2 and closes the old one —
// recorded for reconcile when it is under 5 minutes old, at WeChat Pay right away when
// older. A paid order is never re-priced.
func TestRepricing(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	status, a := e.call(t, "POST", "/orders", nativeOrder("REPRICE001", 1000))
	if status != 201 || a["out_trade_no"] != "REPRICE001" {
		t.Fatalf("%d %v", status, a)
	}
	// Young: the close is deferred.
	status, a = e.call(t, "POST", "/orders", nativeOrder("REPRICE001", 800))
	if status != 201 || a["out_trade_no"] != "REPRICE001_2" || a["amount"] != float64(800) {
		t.Fatalf("re-price: %d %v", status, a)
	}
	old, _ := e.order(t, "REPRICE001")
	if old.Close == nil || old.State != "NOTPAY" || old.Record().Pending != payment.PendingOrders {
		t.Fatalf("young attempt: %v (pending %q), want its close recorded for reconcile", old, old.Record().Pending)
	}
	if st := e.simOrder(t, "REPRICE001").Transaction.TradeState; st != "NOTPAY" {
		t.Fatalf("WeChat Pay was asked to close a young order: %s", st)
	}
	// The same content again is a replay of attempt 2.
	if status, a = e.call(t, "POST", "/orders", nativeOrder("REPRICE001", 800)); status != 200 || a["out_trade_no"] != "REPRICE001_2" {
		t.Fatalf("replay after re-price: %d %v", status, a)
	}
	// Old: closed at WeChat Pay now.
	e.clock.Advance(6 * time.Minute)
	status, a = e.call(t, "POST", "/orders", nativeOrder("REPRICE001", 700))
	if status != 201 || a["out_trade_no"] != "REPRICE001_3" {
		t.Fatalf("second re-price: %d %v", status, a)
	}
	if st := e.simOrder(t, "REPRICE001_2").Transaction.TradeState; st != "CLOSED" {
		t.Fatalf("attempt 2 at WeChat Pay is %s, want CLOSED", st)
	}
	if rec, _ := e.order(t, "REPRICE001_2"); rec.State != "CLOSED" {
		t.Fatalf("attempt 2 stored as %+v", rec)
	}
	// Paid: never re-priced; the same content reads as paid.
	e.pay(t, "REPRICE001_3")
	e.waitState(t, "REPRICE001_3", wechatpay.TradeStateSuccess)
	if status, a = e.call(t, "POST", "/orders", nativeOrder("REPRICE001", 900)); status != http.StatusConflict || a["code"] != "ORDERPAID" {
		t.Fatalf("re-pricing a paid order: %d %v", status, a)
	}
	if status, a = e.call(t, "POST", "/orders", nativeOrder("REPRICE001", 700)); status != 200 || a["state"] != "SUCCESS" || a["pay"] != nil {
		t.Fatalf("replay of the paid order: %d %v", status, a)
	}
	status, g := e.call(t, "GET", "/orders/REPRICE001", nil)
	if status != 200 || g["out_trade_no"] != "REPRICE001_3" || g["attempts"] != float64(3) || g["state"] != "SUCCESS" {
		t.Fatalf("GET: %d %v", status, g)
	}
	_ = ctx
}

// An h5_url lives 5 minutes: within them a repeat replays it; after, the same request
// prepays again on the same out_trade_no.
func TestH5AnswerLifetime(t *testing.T) {
	e := newEnv(t, envOptions{})
	body := map[string]any{"order_id": "H5LIFE0001", "amount": 100, "description": "x", "scene": "h5", "redirect_url": "https://shop.example.com/r"}
	if s, a := e.call(t, "POST", "/orders", body); s != 201 {
		t.Fatalf("%d %v", s, a)
	}
	e.clock.Advance(4 * time.Minute)
	if s, a := e.call(t, "POST", "/orders", body); s != 200 || e.prepays.Load() != 1 {
		t.Fatalf("within 5 minutes: %d %v, %d prepays", s, a, e.prepays.Load())
	}
	e.clock.Advance(2 * time.Minute)
	s, a := e.call(t, "POST", "/orders", body)
	if s != 201 || a["out_trade_no"] != "H5LIFE0001" || e.prepays.Load() != 2 {
		t.Fatalf("after 5 minutes: %d %v, %d prepays", s, a, e.prepays.Load())
	}
	exp, _ := time.Parse(time.RFC3339, str(a, "expires_at"))
	if d := exp.Sub(e.clock.Now()); d < 4*time.Minute || d > 5*time.Minute {
		t.Fatalf("renewed h5 expires_at is %v away", d)
	}
}

// An expired order cannot be paid: the same request makes a new attempt and the
// expired one is closed.
func TestExpiredOrderGetsNewAttempt(t *testing.T) {
	e := newEnv(t, envOptions{})
	body := map[string]any{"order_id": "EXPIRE0001", "amount": 100, "description": "x", "scene": "app",
		"time_expire": e.clock.Now().Add(10 * time.Minute).Format(time.RFC3339)}
	if s, a := e.call(t, "POST", "/orders", body); s != 201 {
		t.Fatalf("%d %v", s, a)
	}
	e.clock.Advance(11 * time.Minute)
	body["time_expire"] = e.clock.Now().Add(10 * time.Minute).Format(time.RFC3339)
	s, a := e.call(t, "POST", "/orders", body)
	if s != 201 || a["out_trade_no"] != "EXPIRE0001_2" {
		t.Fatalf("%d %v", s, a)
	}
	if rec, _ := e.order(t, "EXPIRE0001"); rec.State != "CLOSED" {
		t.Fatalf("expired attempt: %+v", rec)
	}
}

// The user pays the old attempt (its QR code was still open) after the order was
// re-priced: the payment is kept for review, the order reads REVIEW, and it is never
// re-priced again.
func TestPaymentOfReplacedAttempt(t *testing.T) {
	e := newEnv(t, envOptions{})
	if s, a := e.call(t, "POST", "/orders", nativeOrder("RACE000001", 1000)); s != 201 {
		t.Fatalf("%d %v", s, a)
	}
	if s, a := e.call(t, "POST", "/orders", nativeOrder("RACE000001", 800)); s != 201 || a["out_trade_no"] != "RACE000001_2" {
		t.Fatalf("%d %v", s, a)
	}
	e.pay(t, "RACE000001")
	e.waitState(t, "RACE000001", payment.StateReview)
	s, g := e.call(t, "GET", "/orders/RACE000001", nil)
	prev, _ := g["previous"].([]any)
	if s != 200 || g["state"] != "REVIEW" || g["out_trade_no"] != "RACE000001_2" || len(prev) != 1 || str(g, "review_reason") == "" {
		t.Fatalf("GET: %d %v", s, g)
	}
	if s, a := e.call(t, "POST", "/orders", nativeOrder("RACE000001", 700)); s != http.StatusConflict || a["code"] != "ORDERPAID" {
		t.Fatalf("re-pricing after the old attempt was paid: %d %v", s, a)
	}
}

// A re-pricer that died between reserving its attempt and moving the pointer: reads
// stay on the attempt the pointer names, and once its claim's lease has passed the
// next re-price finishes the dead one's pointer move (never removing the reservation:
// a re-pricer that only stalled may still place it) and re-prices from there.
func TestStaleReservationAfterCrashedReprice(t *testing.T) {
	e := newEnv(t, envOptions{lease: time.Second})
	if s, a := e.call(t, "POST", "/orders", nativeOrder("STALEPTR01", 500)); s != 201 {
		t.Fatalf("%d %v", s, a)
	}
	first, _ := e.order(t, "STALEPTR01")
	if _, err := e.ledger().CreateOrder(context.Background(), payment.NewOrder{MchID: first.Owner, AppID: first.AppID, OrderID: "STALEPTR01",
		Attempt: 2, Amount: 999, Scene: first.Scene, Claim: &payment.ClaimRequest{ID: "dead", PayloadHash: "other", Lease: time.Second}}); err != nil {
		t.Fatal(err)
	}
	if s, g := e.call(t, "GET", "/orders/STALEPTR01", nil); s != 200 || g["out_trade_no"] != "STALEPTR01" {
		t.Fatalf("GET: %d %v", s, g)
	}
	e.clock.Advance(2 * time.Second) // the dead re-pricer's lease has passed
	s, a := e.call(t, "POST", "/orders", nativeOrder("STALEPTR01", 450))
	if s != 201 || a["out_trade_no"] != "STALEPTR01_3" || a["amount"] != float64(450) {
		t.Fatalf("create after the crash: %d %v", s, a)
	}
	s, g := e.call(t, "GET", "/orders/STALEPTR01", nil)
	if prev, _ := g["previous"].([]any); s != 200 || g["out_trade_no"] != "STALEPTR01_3" || g["amount"] != float64(450) || len(prev) != 2 {
		t.Fatalf("GET: %d %v", s, g)
	}
	if dead, _ := e.order(t, "STALEPTR01_2"); dead.Close == nil || dead.Amount != 999 {
		t.Fatalf("the dead re-pricer's attempt: %+v, want it kept with its close recorded", dead)
	}
}

// nativeRequest is nativeOrder for the typed client.
func nativeRequest(id string, amount int64) orderapi.CreateRequest {
	return orderapi.CreateRequest{OrderID: id, Amount: orderapi.Fen(amount), Description: "replay test", Scene: orderapi.SceneNative}
}
