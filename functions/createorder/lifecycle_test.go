package createorder_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paysls/wxpay/internal/paysim"
	"github.com/paysls/wxpay/shared/events"
	"github.com/paysls/wxpay/shared/orderapi"
	"github.com/paysls/wxpay/shared/payclient"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// A paid order whose notification never arrived: GET asks WeChat Pay and applies the
// answer through the ledger, so the page polling after the user returns sees SUCCESS.
func TestGetSettlesDroppedNotification(t *testing.T) {
	for _, partner := range []bool{false, true} {
		t.Run(map[bool]string{false: "direct", true: "partner"}[partner], func(t *testing.T) {
			e := newEnv(t, envOptions{partner: partner, recheck: 5 * time.Second})
			if err := e.sim.SetFaults(paysim.Faults{DropAll: true}); err != nil {
				t.Fatal(err)
			}
			e.post(t, nativeRequest("DROPPED001", 4200))
			if g := e.view(t, "DROPPED001"); g.State != "NOTPAY" {
				t.Fatalf("before paying: %+v", g)
			}
			_, nid, status, err := e.sim.Pay("DROPPED001", paysim.PayRequest{})
			if err != nil {
				t.Fatalf("pay: %d %v", status, err)
			}
			// The simulator drops the notification as Pay sends it (no wait needed): its
			// record of the attempt says so, and nothing reached the store.
			if !droppedNotification(e.sim.Deliveries(), nid) {
				t.Fatalf("notification %s was not dropped: %+v", nid, e.sim.Deliveries())
			}
			if rec, _ := e.order(t, "DROPPED001"); rec.Status() != "NOTPAY" {
				t.Fatalf("the notification was supposed to be dropped: %+v", rec)
			}
			// Checked 4 s ago (business time): the store answers (no query storm from a
			// polling page).
			e.clock.Advance(4 * time.Second)
			v3 := e.v3.Load()
			if g := e.view(t, "DROPPED001"); g.State != "NOTPAY" || e.v3.Load() != v3 {
				t.Fatalf("within the recheck window: %+v, %d WeChat Pay calls", g, e.v3.Load()-v3)
			}
			e.clock.Advance(2 * time.Second) // past the recheck window, on the business clock
			if g := e.view(t, "DROPPED001"); g.State != "SUCCESS" || g.TransactionID == "" {
				t.Fatalf("after the recheck window: %+v", g)
			}
			rec, _ := e.order(t, "DROPPED001")
			hasEvent := false
			for _, ev := range events.Entries(rec.Record()) {
				hasEvent = hasEvent || ev.Type == events.OrderPaid
			}
			if rec.Status() != "SUCCESS" || !hasEvent {
				t.Fatalf("stored: %+v — want SUCCESS with its order.paid event, as notify would have written", rec)
			}
		})
	}
}

// Close: within 5 minutes it is recorded and carried out later (202); after, it is
// closed at WeChat Pay (200); a paid order cannot be closed (409), even when only
// WeChat Pay knows it is paid.
func TestClose(t *testing.T) {
	for _, partner := range []bool{false, true} {
		t.Run(map[bool]string{false: "direct", true: "partner"}[partner], func(t *testing.T) { testClose(t, partner) })
	}
}

func testClose(t *testing.T, partner bool) {
	e := newEnv(t, envOptions{partner: partner})
	for _, id := range []string{"CLOSE00001", "CLOSE00002", "CLOSE00003", "CLOSE00004"} {
		e.post(t, nativeRequest(id, 300))
	}
	ctx, sub := context.Background(), ""
	if partner {
		sub = testSubMchID
	}
	a, err := e.api.Close(ctx, "CLOSE00001", sub)
	if err != nil || a.Close != "scheduled" || a.CloseAt == "" || a.State != "NOTPAY" {
		t.Fatalf("young close: %+v %v", a, err)
	}
	if rec, _ := e.order(t, "CLOSE00001"); rec.Close == nil {
		t.Fatalf("young close not recorded: %+v", rec)
	}
	if st := e.simOrder(t, "CLOSE00001").Transaction.TradeState; st != "NOTPAY" {
		t.Fatalf("WeChat Pay saw a close in the first 5 minutes: %s", st)
	}
	if g := e.view(t, "CLOSE00001"); !g.ClosePending {
		t.Fatalf("GET after deferred close: %+v", g)
	}
	// Paid at WeChat Pay, notification lost, then closed after 5 minutes: 409 and the
	// payment is applied.
	if err := e.sim.SetFaults(paysim.Faults{DropAll: true}); err != nil {
		t.Fatal(err)
	}
	e.pay(t, "CLOSE00003")
	e.clock.Advance(6 * time.Minute)
	if a, err = e.api.Close(ctx, "CLOSE00002", sub); err != nil || a.State != "CLOSED" || a.Close != "done" {
		t.Fatalf("old close: %+v %v", a, err)
	}
	if st := e.simOrder(t, "CLOSE00002").Transaction.TradeState; st != "CLOSED" {
		t.Fatalf("WeChat Pay has the order %s", st)
	}
	if _, err = e.api.Close(ctx, "CLOSE00003", sub); !isAPIError(err, http.StatusConflict, "ORDERPAID") {
		t.Fatalf("closing a paid order: %v", err)
	}
	if rec, _ := e.order(t, "CLOSE00003"); rec.Status() != "SUCCESS" {
		t.Fatalf("the payment WeChat Pay reported was not applied: %+v", rec)
	}
	// Closing again is harmless.
	if a, err = e.api.Close(ctx, "CLOSE00002", sub); err != nil || a.State != "CLOSED" {
		t.Fatalf("second close: %+v %v", a, err)
	}
	if _, err = e.api.Close(ctx, "NOSUCHORDER", sub); !isAPIError(err, http.StatusNotFound, "ORDER_NOT_FOUND") {
		t.Fatalf("unknown order: %v", err)
	}
}

// Refunds: reserved atomically (never more than paid, even concurrently), idempotent by
// out_refund_no, settled by notification, listed on the order.
func TestRefunds(t *testing.T) {
	for _, partner := range []bool{false, true} {
		t.Run(map[bool]string{false: "direct", true: "partner"}[partner], func(t *testing.T) {
			e := newEnv(t, envOptions{partner: partner})
			ctx, sub := context.Background(), ""
			if partner {
				sub = testSubMchID
			}
			refund := func(no string, amount orderapi.Fen, reason string) (*orderapi.RefundView, error) {
				return e.api.Refund(ctx, "REFUND0001", sub, orderapi.RefundRequest{OutRefundNo: no, Amount: amount, Reason: reason})
			}
			e.post(t, nativeRequest("REFUND0001", 1000))
			if _, err := refund("RF00000001", 100, ""); !isAPIError(err, http.StatusConflict, "ORDER_NOT_PAID") {
				t.Fatalf("refund of an unpaid order: %v", err)
			}
			e.pay(t, "REFUND0001")
			e.waitState(t, "REFUND0001", wechatpay.TradeStateSuccess)

			a, err := refund("RF00000001", 600, "退货")
			if err != nil || a.State != "PROCESSING" || a.Amount != 600 || a.OutRefundNo != "RF00000001" {
				t.Fatalf("refund: %+v %v", a, err)
			}
			v3 := e.v3.Load()
			if a, err = refund("RF00000001", 600, "退货"); err != nil || a.State != "PROCESSING" {
				t.Fatalf("repeat: %+v %v", a, err)
			}
			if e.v3.Load()-v3 > 1 {
				t.Fatalf("a repeated refund made %d WeChat Pay calls", e.v3.Load()-v3)
			}
			if _, err = refund("RF00000001", 500, ""); !isAPIError(err, http.StatusConflict, "OUT_REFUND_NO_USED") {
				t.Fatalf("same out_refund_no, other amount: %v", err)
			}
			v3 = e.v3.Load()
			if _, err = refund("RF00000002", 401, ""); !isAPIError(err, http.StatusConflict, "REFUND_EXCEEDS_REMAINDER") {
				t.Fatalf("over-refund: %v", err)
			}
			if e.v3.Load() != v3 {
				t.Fatalf("an over-refund reached WeChat Pay")
			}
			// 10 concurrent refunds of 100 fen against 400 left: exactly 4 succeed.
			var wg sync.WaitGroup
			var mu sync.Mutex
			ok, refused := 0, 0
			for i := range 10 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := refund(fmt.Sprintf("RFC%07d", i), 100, "")
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err == nil:
						ok++
					case isAPIError(err, http.StatusConflict, "REFUND_EXCEEDS_REMAINDER"):
						refused++
					default:
						t.Errorf("concurrent refund %d: %v", i, err)
					}
				}()
			}
			wg.Wait()
			if ok != 4 || refused != 6 {
				t.Fatalf("concurrent refunds: %d accepted, %d refused; want 4 and 6", ok, refused)
			}
			// WeChat Pay settles the first refund; the notification applies it.
			_, nid, _, err := e.sim.SettleRefund("RF00000001", wechatpay.RefundStatusSuccess)
			if err != nil {
				t.Fatal(err)
			}
			e.notified.Wait(t, nid)
			a, err = e.api.RefundStatus(ctx, "REFUND0001", sub, "RF00000001")
			if err != nil || a.State != "SUCCESS" || a.OrderID != "REFUND0001" {
				t.Fatalf("GET refund: %+v %v", a, err)
			}
			// The refund's effect on the order follows its own write (ledger.SyncRefund),
			// in the same application of the notification.
			g := e.view(t, "REFUND0001")
			if g.State != "REFUND" || len(g.Refunds) != 5 || g.Refunded != 600 {
				t.Fatalf("GET order: %+v", g)
			}
			if _, err = e.api.RefundStatus(ctx, "REFUND0001", sub, "RF99999999"); !isAPIError(err, http.StatusNotFound, "") {
				t.Fatalf("unknown refund: %v", err)
			}
		})
	}
}

// WeChat Pay failing a refund with 5xx: the answer says to retry; the retry with the
// same out_refund_no goes through and the amount is held once, not twice.
func TestRefundRetryAfterWeChatFailure(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.post(t, nativeRequest("REFUNDFAIL", 1000))
	refund := func(no string, amount orderapi.Fen) (*orderapi.RefundView, error) {
		return e.api.Refund(context.Background(), "REFUNDFAIL", "", orderapi.RefundRequest{OutRefundNo: no, Amount: amount})
	}
	e.pay(t, "REFUNDFAIL")
	e.waitState(t, "REFUNDFAIL", wechatpay.TradeStateSuccess)
	if err := e.sim.SetFaults(paysim.Faults{Endpoints: []paysim.EndpointFault{{Pattern: "POST /v3/refund/*", Status: 500, Times: 3}}}); err != nil {
		t.Fatal(err)
	}
	_, err := refund("RFFAIL0001", 700)
	var ae *orderapi.Error
	if !asError(err, &ae) || ae.Status/100 != 5 || !strings.Contains(ae.Hint, "retry") {
		t.Fatalf("refund while WeChat Pay fails: %v", err)
	}
	if a, err := refund("RFFAIL0001", 700); err != nil || a.State != "PROCESSING" {
		t.Fatalf("retry: %+v %v", a, err)
	}
	if rec, _ := e.order(t, "REFUNDFAIL"); rec.Reserved() != 700 {
		t.Fatalf("reserved %d after a retried refund, want 700", rec.Reserved())
	}
	if _, err := refund("RFFAIL0002", 301); !isAPIError(err, http.StatusConflict, "") {
		t.Fatalf("over-refund after the retry: %v", err)
	}
}

// droppedNotification reports whether the simulator dropped notification id by a fault
// (never attempted).
func droppedNotification(ds []paysim.Delivery, id string) bool {
	for _, d := range ds {
		if d.ID == id && d.Attempt == 0 && strings.Contains(d.Error, "dropped") {
			return true
		}
	}
	return false
}

// A refund WeChat Pay already holds under the out_refund_no, asked in another form (by
// an earlier version, or under another notify_url), refuses createorder's repeat as a
// different request: that refusal is not read as "never existed" — WeChat Pay is asked
// first, and the refund it holds stands (PROCESSING, reserved), never closed while it
// is paid out.
func TestRefusedRepeatOfAHeldRefundStands(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	e.post(t, nativeRequest("REFUSEREP1", 1000))
	e.pay(t, "REFUSEREP1")
	e.waitState(t, "REFUSEREP1", wechatpay.TradeStateSuccess)
	o, _ := e.order(t, "REFUSEREP1")
	cl, err := payclient.New(e.cfg, e.st.Store, nil, payclient.Options{AllowLoopbackNotifyURL: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.CreateRefund(ctx, wechatpay.RefundRequest{TransactionID: o.Payment.TransactionID, OutRefundNo: "RFREFUSE01", NotifyURL: e.cfg.NotifyURL,
		Amount: wechatpay.RefundAmount{Refund: 300, Total: 1000, Currency: "CNY"}}); err != nil {
		t.Fatal(err)
	}
	rf, err := e.api.Refund(ctx, "REFUSEREP1", "", orderapi.RefundRequest{OutRefundNo: "RFREFUSE01", Amount: 300})
	if err != nil || rf.State != wechatpay.RefundStatusProcessing {
		t.Fatalf("refund WeChat Pay holds, asked again in another form: %+v %v", rf, err)
	}
	if o, _ := e.order(t, "REFUSEREP1"); o.Reserved() != 300 {
		t.Fatalf("reserved %d, want the 300 WeChat Pay is refunding", o.Reserved())
	}
	// A refusal of a refund WeChat Pay does not hold still releases it: the rest was
	// refunded outside the bundle, so WeChat Pay refuses 700 more.
	if _, err := cl.CreateRefund(ctx, wechatpay.RefundRequest{TransactionID: o.Payment.TransactionID, OutRefundNo: "RFOUTSIDE1", NotifyURL: e.cfg.NotifyURL,
		Amount: wechatpay.RefundAmount{Refund: 700, Total: 1000, Currency: "CNY"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.api.Refund(ctx, "REFUSEREP1", "", orderapi.RefundRequest{OutRefundNo: "RFREFUSE02", Amount: 700}); err == nil {
		t.Fatal("a refund WeChat Pay refused answered as accepted")
	}
	if r, err := e.ledger().Refund(ctx, e.owner(), "RFREFUSE02"); err != nil || r.State != wechatpay.RefundStatusClosed {
		t.Fatalf("refused refund WeChat Pay does not hold: %+v %v", r, err)
	}
	if o, _ := e.order(t, "REFUSEREP1"); o.InReview() {
		t.Fatalf("a plain refusal (more than is left) put the order in REVIEW: %+v", o.Review.Causes)
	}
}
