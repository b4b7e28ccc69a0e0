package createorder_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paysls/wxpay/internal/paysim"
	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/payment"
)

// combineCashierEnv is a platform (WXPAY_MODE=ecommerce) whose cashier page is public.
func combineCashierEnv(t *testing.T) *env {
	return newEnv(t, envOptions{partner: true, mutate: func(c *config.Config) {
		c.Bundle.Mode, c.Bundle.SubMchID, c.Bundle.SubAppID = config.ModeEcommerce, "", ""
		c.Bundle.PublicURL = testPublicURL
	}})
}

// combinePage is what the cashier page sends for a combine in a scene: what GET
// answered (the combine's total, description and expiry), no sub_orders — the order
// API places the combine as recorded.
func combinePage(g map[string]any, scene, ua string) map[string]any {
	b := map[string]any{"order_id": g["order_id"], "amount": g["amount"], "description": g["description"], "scene": scene,
		"time_expire": g["expires_at"], "user_agent": ua}
	switch scene {
	case "h5":
		b["h5"] = map[string]string{"type": "Wap"}
	case "jsapi":
		b["payer"] = map[string]string{"openid": openID}
	}
	return b
}

// pageCombine makes one page create for a combine and returns its combine number.
func (e *env) pageCombine(t testing.TB, g map[string]any, scene, ua string) string {
	t.Helper()
	s, a := e.call(t, "POST", "/orders", combinePage(g, scene, ua))
	if s != http.StatusOK && s != http.StatusCreated {
		t.Fatalf("page create of combine %s in %s: %d %v", g["order_id"], scene, s, a)
	}
	if a["scene"] != scene || a["pay"] == nil {
		t.Fatalf("page create of combine %s in %s answered %v", g["order_id"], scene, a)
	}
	return a["combine_out_trade_no"].(string)
}

// simCombines is what WeChat Pay holds of combines (GET /sim/combines).
func (e *env) simCombines(t testing.TB) []paysim.CombineView {
	t.Helper()
	resp, err := http.Get(e.srv.URL + "/sim/combines")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []paysim.CombineView
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

// combinesPlaced counts the combine numbers of order id placed at WeChat Pay, per scene.
func (e *env) combinesPlaced(t testing.TB, id string) map[string]int {
	n := map[string]int{}
	for _, c := range e.simCombines(t) {
		if no := c.Transaction.CombineOutTradeNo; no == id || strings.HasPrefix(no, id+"_") {
			n[c.Kind]++
		}
	}
	return n
}

// waitSub waits until sub-order attempt no of sub-merchant 19000001nn (combineBody's
// i-th) is what ok says (notify applied the payment).
func (e *env) waitSub(t testing.TB, i int, no string, ok func(*payment.Order) bool) *payment.Order {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		o, err := e.ledger().Attempt(context.Background(), fmt.Sprintf("19000001%02d", i), no)
		if err == nil && ok(o) {
			return o
		}
		if time.Now().After(deadline) {
			t.Fatalf("sub-order %s never got there: %+v %v", no, o, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// combineAttempts reads every attempt of combine id with its sub-orders, from the
// ledger: attempt number → sub-orders.
func (e *env) combineAttempts(t testing.TB, id string) (*payment.CombineHistory, map[int][]*payment.Order) {
	t.Helper()
	ctx := context.Background()
	l := e.ledger()
	h, err := l.Combine(ctx, e.id.MchID, id)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.CombinePrevious(ctx, h); err != nil {
		t.Fatal(err)
	}
	out := map[int][]*payment.Order{}
	for _, c := range append(append([]*payment.Combine{}, h.Previous...), h.Current) {
		subs, err := l.SubOrders(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		out[max(c.Attempt, 1)] = subs
	}
	return h, out
}

// payableWithoutReview counts the combine's attempts a payment could land on without
// review: a sub-order unsettled, no close asked for (nor parked), not in review.
func payableWithoutReview(attempts map[int][]*payment.Order) []int {
	var out []int
	for n := 1; n <= len(attempts)+1; n++ {
		for _, o := range attempts[n] {
			if o != nil && o.Unsettled() && o.Payment == nil && o.Close == nil && !o.InReview() {
				out = append(out, n)
				break
			}
		}
	}
	return out
}

// The cashier page of a combine (合单) alternates scenes like a single order's: 50
// rounds of desktop (Native), phone (H5) and WeChat (JSAPI) place one combine per scene
// — each a combine number and sub-order numbers of its own, WeChat Pay binding them to
// their scene — answer each scene's live prepay again when the page comes back, and
// close nothing at WeChat Pay. The combine's pointer and its sub-orders' follow the
// page; only the current attempt is payable without review. An h5_url older than 5
// minutes is asked for again under the same combine number. The page still pays: the
// current attempt paid, the other scenes' combines are asked to close.
func TestCashierCombineSwitchBack(t *testing.T) {
	e := combineCashierEnv(t)
	const id = "CARTSCENE01"
	if s, a := e.call(t, "POST", "/orders", combineBody(id, 3, "cashier")); s != http.StatusCreated || a["scene"] != "cashier" {
		t.Fatalf("cashier combine: %d %v", s, a)
	}
	_, g := e.call(t, "GET", "/orders/"+id, nil)
	if g["amount"] != float64(300) || g["state"] != "NOTPAY" {
		t.Fatalf("GET of the cashier combine: %v", g)
	}
	want := map[string]string{"native": id, "h5": id + "_2", "jsapi": id + "_3"}
	rounds := func(n int) {
		t.Helper()
		for i := range n {
			for _, sc := range []struct{ scene, ua string }{{"native", uaDesktop}, {"h5", uaMobile}, {"jsapi", uaWeChat}} {
				if no := e.pageCombine(t, g, sc.scene, sc.ua); no != want[sc.scene] {
					t.Fatalf("round %d: %s on combine %s, want %s", i, sc.scene, no, want[sc.scene])
				}
			}
		}
	}
	began := time.Now()
	rounds(50)
	placed := e.combinesPlaced(t, id)
	t.Logf("50 rounds of desktop → phone → WeChat in %v: combines placed per scene %v, %d closes", time.Since(began).Round(time.Millisecond), placed, e.closes.Load())
	if len(placed) != 3 || placed["native"] != 1 || placed["h5"] != 1 || placed["jsapi"] != 1 || e.combinePrepays.Load() != 3 || e.closes.Load() != 0 {
		t.Fatalf("combines placed per scene %v, %d combine prepay calls, %d closes at WeChat Pay; want one per scene, 3 and none", placed, e.combinePrepays.Load(), e.closes.Load())
	}
	for _, c := range e.simCombines(t) {
		if c.ClosedAt != "" {
			t.Fatalf("%s closed at WeChat Pay while the page switched", c.Transaction.CombineOutTradeNo)
		}
	}
	// The page is in WeChat: attempt 3 current, its sub-orders' pointers with it; the
	// others parked, sub-orders and all.
	h, attempts := e.combineAttempts(t, id)
	if h.Current.Attempt != 3 || h.Current.Parked() || len(attempts) != 3 {
		t.Fatalf("current attempt %d (parked %v), %d attempts", h.Current.Attempt, h.Current.Parked(), len(attempts))
	}
	if p := payableWithoutReview(attempts); len(p) != 1 || p[0] != 3 {
		t.Fatalf("attempts payable without review: %v, want [3]", p)
	}
	for _, n := range []int{1, 2} {
		for _, o := range attempts[n] {
			if !o.Parked() {
				t.Fatalf("sub-order %s of attempt %d: %+v, want parked", o.OutTradeNo, n, o.Close)
			}
		}
	}
	if s, sub := e.call(t, "GET", "/orders/"+id+"-02?sub_mchid=1900000102", nil); s != 200 || sub["out_trade_no"] != id+"-02_3" {
		t.Fatalf("sub-order after the page went to WeChat: %d %v", s, sub)
	}
	if s, v := e.call(t, "GET", "/orders/"+id, nil); s != 200 || v["combine_out_trade_no"] != id+"_3" || v["state"] != "NOTPAY" || v["close_pending"] == true ||
		len(v["previous"].([]any)) != 2 {
		t.Fatalf("GET while the page is in WeChat: %d %v", s, v)
	}

	// 6 minutes on: the h5_url is asked for again, under the same combine number.
	e.clock.Advance(6 * time.Minute)
	rounds(10)
	if placed := e.combinesPlaced(t, id); len(placed) != 3 || placed["h5"] != 1 || e.combinePrepays.Load() != 4 || e.closes.Load() != 0 {
		t.Fatalf("after 6 minutes: combines placed per scene %v, %d combine prepay calls (want 4: one new h5_url), %d closes", placed, e.combinePrepays.Load(), e.closes.Load())
	}

	// The page on the desktop pays: SUCCESS; the other scenes' combines are asked to close.
	if no := e.pageCombine(t, g, "native", uaDesktop); no != id {
		t.Fatalf("native on %s", no)
	}
	if _, _, status, err := e.sim.PayCombine(id, paysim.CombinePayRequest{}); err != nil {
		t.Fatalf("pay %s: %d %v", id, status, err)
	}
	for i := 1; i <= 3; i++ {
		e.waitSub(t, i, fmt.Sprintf("%s-%02d", id, i), func(o *payment.Order) bool { return o.Status() == "SUCCESS" })
	}
	if s, v := e.call(t, "GET", "/orders/"+id, nil); s != 200 || v["state"] != "SUCCESS" || v["combine_out_trade_no"] != id {
		t.Fatalf("GET after paying: %d %v", s, v)
	}
	_, attempts = e.combineAttempts(t, id)
	for _, n := range []int{2, 3} {
		for _, o := range attempts[n] {
			if o.Parked() || o.Close == nil {
				t.Fatalf("sub-order %s of attempt %d of the paid combine: %+v, want its close asked for", o.OutTradeNo, n, o.Close)
			}
		}
	}
	if s, a := e.call(t, "POST", "/orders", combinePage(g, "h5", uaMobile)); s != http.StatusOK || a["state"] != "SUCCESS" || a["pay"] != nil {
		t.Fatalf("the page on the phone after the payment: %d %v", s, a)
	}
	// The phone's H5 page, still open before its close is carried out, pays the h5
	// combine too: a second paid attempt, every sub-order's money kept for REVIEW, and
	// the combine in REVIEW with a typed cause per sub-order.
	if _, _, status, err := e.sim.PayCombine(id+"_2", paysim.CombinePayRequest{}); err != nil {
		t.Fatalf("pay %s_2: %d %v", id, status, err)
	}
	for i := 1; i <= 3; i++ {
		o := e.waitSub(t, i, fmt.Sprintf("%s-%02d_2", id, i), (*payment.Order).InReview)
		if c := o.Review.First(); c.Kind != payment.CausePaidAfterCloseRequested || len(o.Conflicts) != 1 || o.Conflicts[0].Amount != 100 {
			t.Fatalf("sub-order %s paid after the combine was: cause %+v, kept %+v", o.OutTradeNo, c, o.Conflicts)
		}
	}
	s, v := e.call(t, "GET", "/orders/"+id, nil)
	causes, _ := v["review_causes"].([]any)
	if s != 200 || v["state"] != payment.StateReview || len(causes) != 3 || !hasCause(v, string(payment.CauseEarlierAttemptPaid)) {
		t.Fatalf("GET with two attempts paid: %d %v", s, v)
	}
}

// A payment on the combine the page left (a QR code still on a desktop) keeps every
// sub-order's money, in REVIEW with a typed cause; the combine says so (REVIEW,
// earlier_attempt_paid) and the page pays nothing more. A second payment, on the
// current attempt, is kept too and the combine stays in REVIEW.
func TestCashierCombineParkedPaid(t *testing.T) {
	e := combineCashierEnv(t)
	const id = "CARTSCENE02"
	e.call(t, "POST", "/orders", combineBody(id, 2, "cashier"))
	_, g := e.call(t, "GET", "/orders/"+id, nil)
	e.pageCombine(t, g, "native", uaDesktop)
	if no := e.pageCombine(t, g, "h5", uaMobile); no != id+"_2" {
		t.Fatalf("h5 on %s", no)
	}
	// The desktop's QR code (attempt 1, parked) is paid.
	var kept []string
	if _, _, status, err := e.sim.PayCombine(id, paysim.CombinePayRequest{}); err != nil {
		t.Fatalf("pay the parked combine: %d %v", status, err)
	}
	for i := 1; i <= 2; i++ {
		o := e.waitSub(t, i, fmt.Sprintf("%s-%02d", id, i), (*payment.Order).InReview)
		kept = append(kept, o.Conflicts[0].TransactionID)
		c := o.Review.First()
		if len(o.Conflicts) != 1 || o.Conflicts[0].Amount != 100 || o.Conflicts[0].TransactionID != c.TransactionID || c.Kind != payment.CausePaidAfterCloseRequested || !strings.Contains(c.Detail, "another scene") {
			t.Fatalf("sub-order %s of the parked combine: kept %+v, cause %+v", o.OutTradeNo, o.Conflicts, c)
		}
	}
	s, v := e.call(t, "GET", "/orders/"+id, nil)
	if s != 200 || v["state"] != payment.StateReview || !hasCause(v, string(payment.CauseEarlierAttemptPaid)) {
		t.Fatalf("GET with the parked combine paid: %d %v", s, v)
	}
	if s, a := e.call(t, "POST", "/orders", combinePage(g, "native", uaDesktop)); s != http.StatusConflict || a["code"] != "ORDERPAID" {
		t.Fatalf("the page after its parked combine was paid: %d %v", s, a)
	}
	// The phone's H5 page, still open, pays attempt 2 as well: kept, the combine in REVIEW.
	if _, _, status, err := e.sim.PayCombine(id+"_2", paysim.CombinePayRequest{}); err != nil {
		t.Fatalf("pay the current combine: %d %v", status, err)
	}
	for i := 1; i <= 2; i++ {
		e.waitSub(t, i, fmt.Sprintf("%s-%02d_2", id, i), func(o *payment.Order) bool { return o.Payment != nil })
	}
	if s, v = e.call(t, "GET", "/orders/"+id, nil); s != 200 || v["state"] != payment.StateReview || !hasCause(v, string(payment.CauseEarlierAttemptPaid)) {
		t.Fatalf("GET with both combines paid: %d %v", s, v)
	}
	// Both payments are on the combine's answer: the current attempt's sub-orders paid,
	// the parked attempt's kept for review (a typed cause each, with its transaction).
	var shown []string
	for _, c := range v["review_causes"].([]any) {
		if m := c.(map[string]any); m["kind"] == string(payment.CauseEarlierAttemptPaid) {
			shown = append(shown, m["transaction_id"].(string))
		}
	}
	if fmt.Sprint(shown) != fmt.Sprint(kept) {
		t.Fatalf("review causes name transactions %v, the parked combine's payments were %v", shown, kept)
	}
	for _, so := range v["sub_orders"].([]any) {
		if m := so.(map[string]any); m["state"] != "SUCCESS" || m["transaction_id"] == "" {
			t.Fatalf("current attempt's sub-order: %v", m)
		}
	}
}

// Concurrent page creates of a combine in two scenes (a desktop and a phone hammering
// the same link) leave one combine per scene at WeChat Pay, nothing closed there, and
// at most one attempt payable without review; the next page load is served from its
// scene's combine, current and not parked.
func TestCashierCombineSwitchRace(t *testing.T) {
	e := combineCashierEnv(t)
	const id = "CARTSCENE03"
	e.call(t, "POST", "/orders", combineBody(id, 3, "cashier"))
	_, g := e.call(t, "GET", "/orders/"+id, nil)
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := combinePage(g, "native", uaDesktop)
			if i%2 == 1 {
				body = combinePage(g, "h5", uaMobile)
			}
			for range 4 {
				s, a := e.call(t, "POST", "/orders", body)
				if s >= 400 && a["code"] != "CREATE_IN_PROGRESS" && a["code"] != "BUSY" {
					t.Errorf("create %s: %d %v", body["scene"], s, a)
				}
			}
		}()
	}
	wg.Wait()
	placed := e.combinesPlaced(t, id)
	t.Logf("16 racing page loads × 4: combines placed per scene %v, %d combine prepay calls, %d closes", placed, e.combinePrepays.Load(), e.closes.Load())
	if placed["native"] > 1 || placed["h5"] > 1 || e.combinePrepays.Load() > 3 || e.closes.Load() != 0 {
		t.Fatalf("combines placed per scene %v, %d closes at WeChat Pay; want one per scene and none", placed, e.closes.Load())
	}
	h, attempts := e.combineAttempts(t, id)
	if p := payableWithoutReview(attempts); len(p) > 1 || h.First.NewestAttempt() != 2 {
		t.Fatalf("attempts payable without review %v of %d; want at most one of 2", p, h.First.NewestAttempt())
	}
	no := e.pageCombine(t, g, "native", uaDesktop)
	h, attempts = e.combineAttempts(t, id)
	if h.Current.CombineNo != no || h.Current.Scene != "native" || h.Current.Close != nil {
		t.Fatalf("native after the race on %s: current %s %+v", no, h.Current.CombineNo, h.Current.Close)
	}
	if p := payableWithoutReview(attempts); len(p) != 1 || p[0] != max(h.Current.Attempt, 1) {
		t.Fatalf("attempts payable without review after a native load: %v, want only %s", p, no)
	}
	if placed := e.combinesPlaced(t, id); placed["native"] != 1 || placed["h5"] > 1 || e.closes.Load() != 0 {
		t.Fatalf("after the race and a load: combines placed per scene %v, %d closes", placed, e.closes.Load())
	}
}
