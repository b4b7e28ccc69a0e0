package reconcile_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paysls/wxpay/functions/reconcile"
	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// lieAboutSplits makes WeChat Pay answer every split asked, and every query of one,
// with 1 fen more to the first receiver than it holds — signed with the platform key,
// as WeChat Pay signs its answers — and counts the calls (the split asked, its queries).
func (h *harness) lieAboutSplits(calls *atomic.Int64) {
	lie := func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != "/v3/ecommerce/profitsharing/orders" {
			return false
		}
		calls.Add(1)
		rec := httptest.NewRecorder()
		h.sim.ServeHTTP(rec, r)
		var m map[string]any
		if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &m) != nil {
			h.t.Errorf("the simulator answered the split %d: %s", rec.Code, rec.Body)
			return false
		}
		rs, _ := m["receivers"].([]any)
		r0, _ := rs[0].(map[string]any)
		r0["amount"] = r0["amount"].(float64) + 1
		body, err := json.Marshal(m)
		if err != nil {
			h.t.Fatal(err)
		}
		signer := wechatpay.PlatformSigner{Serial: h.id.PlatformSerial(), Key: h.id.PlatformKey, Now: time.Now} // the client checks answers against the wall clock
		sig, err := signer.Sign(body)
		if err != nil {
			h.t.Fatal(err)
		}
		hdr := rec.Header().Clone()
		sig.Apply(hdr)
		for k, v := range hdr {
			w.Header()[k] = v
		}
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
		return true
	}
	h.intercept.Store(&lie)
}

// A split WeChat Pay answers otherwise than asked is kept for review
// (share_result_contradicts) and followed while that can still teach the ledger
// something: its first answer may be a glitch the next honest one settles. Once
// WeChat Pay gave the same final answer again, or a person resolved the review, it is
// no longer queried: before, reconcile asked about it every 6 hours for good, each
// time hearing the same answer. The answers stay kept on the order.
func TestSharingContradictedSplitNoLongerFollowed(t *testing.T) {
	t.Run("final answer confirmed", func(t *testing.T) {
		h := newHarness(t)
		h.platform()
		var calls atomic.Int64
		h.lieAboutSplits(&calls)
		j := h.job(reconcile.Options{})
		h.sharedOrder("SHARECX001", 10000, commission(h, 500))
		h.clock.Advance(wechatpay.ShareNotBefore + time.Second)
		h.pass(j) // the split asked, answered PROCESSING with 501 fen: kept
		for range 3 {
			h.clock.Advance(time.Hour)
			h.pass(j) // FINISHED with 501 fen, kept; then the same again
		}
		o := h.read("SHARECX001")
		if !o.InReview() || o.Review.First().Kind != payment.CauseShareContradicts || len(o.Conflicts) != 2 {
			t.Fatalf("review %v, causes %+v, %d kept", o.InReview(), o.Review.Causes, len(o.Conflicts))
		}
		if n := calls.Load(); n != 3 {
			t.Fatalf("%d calls before the answer was confirmed, want 3 (the split, its FINISHED answer, the same again)", n)
		}
		if act, _ := o.NextShare(h.clock.Now()); act != payment.ActNone {
			t.Fatalf("still due: %s", act)
		}
		for range 8 {
			h.clock.Advance(7 * time.Hour)
			h.pass(j)
		}
		if n := calls.Load(); n != 3 {
			t.Fatalf("WeChat Pay was asked about the confirmed contradicting split %d more times over 56 hours", n-3)
		}
		if o = h.read("SHARECX001"); len(o.Conflicts) != 2 || o.Sharing.Splits[0].State == wechatpay.ShareFinished || o.Sharing.Splits[0].State == payment.ShareFailed {
			t.Fatalf("kept %d, split %+v", len(o.Conflicts), o.Sharing.Splits[0])
		}
	})
	t.Run("resolved in review", func(t *testing.T) {
		h := newHarness(t)
		h.platform()
		h.simPost("/sim/profitsharing/config", `{"manual":true}`) // WeChat Pay keeps it PROCESSING
		var calls atomic.Int64
		h.lieAboutSplits(&calls)
		j := h.job(reconcile.Options{})
		h.sharedOrder("SHARECX002", 10000, commission(h, 500))
		h.clock.Advance(wechatpay.ShareNotBefore + time.Second)
		h.pass(j)
		for range 4 {
			h.clock.Advance(7 * time.Hour)
			h.pass(j)
		}
		// Not final: followed while in review (its result may still come).
		o := h.read("SHARECX002")
		if n := calls.Load(); n != 5 || !o.InReview() || o.Review.First().Kind != payment.CauseShareContradicts {
			t.Fatalf("%d calls (want the split and 4 queries), review %v %+v", n, o.InReview(), o.Review.Causes)
		}
		if _, err := h.ledger.ResolveReview(h.ctx, o.Record().Key, "ops@example.com", "checked with WeChat Pay"); err != nil {
			t.Fatal(err)
		}
		for range 8 {
			h.clock.Advance(7 * time.Hour)
			h.pass(j)
		}
		if n := calls.Load(); n != 5 {
			t.Fatalf("WeChat Pay was asked about the split whose contradiction was resolved %d more times over 56 hours", n-5)
		}
		o = h.read("SHARECX002")
		if o.InReview() || len(o.Conflicts) != 1 || !strings.Contains(string(o.Conflicts[0].Data), o.Sharing.Splits[0].OutOrderNo) {
			t.Fatalf("review %v, kept %+v", o.InReview(), o.Conflicts)
		}
		if act, _ := o.NextShare(h.clock.Now()); act != payment.ActNone {
			t.Fatalf("still due: %s", act)
		}
	})
}
