package reconcile_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paysls/wxpay/functions/reconcile"
	"github.com/paysls/wxpay/internal/paysim"
	"github.com/paysls/wxpay/internal/storetest"
	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/events"
	"github.com/paysls/wxpay/shared/payclient"
	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/payment/paymenttest"
	"github.com/paysls/wxpay/shared/platform"
	"github.com/paysls/wxpay/shared/store"
	"github.com/paysls/wxpay/shared/wechatpay"
)

const shareSub = "1900000109"

// platform turns the harness into an e-commerce platform (WXPAY_MODE=ecommerce).
func (h *harness) platform() {
	h.t.Helper()
	h.cfg.Bundle.Mode, h.cfg.Bundle.Partner = config.ModeEcommerce, true
	var err error
	if h.client, err = payclient.New(h.cfg, h.st, nil, payclient.Options{AllowLoopbackNotifyURL: true}); err != nil {
		h.t.Fatal(err)
	}
}

// sharedOrder records and places a sub-merchant's order for profit sharing with plan,
// pays it and settles it in the ledger (as notify would).
func (h *harness) sharedOrder(no string, amount int64, plan *payment.Sharing) *payment.Order {
	h.t.Helper()
	exp := h.clock.Now().Add(time.Hour)
	if _, err := h.ledger.CreateOrder(h.ctx, payment.NewOrder{MchID: shareSub, AppID: h.cfg.AppID, OutTradeNo: no, OrderID: no, Amount: amount,
		Scene: "native", ExpiresAt: exp, Sharing: plan}); err != nil {
		h.t.Fatal(err)
	}
	cl := h.client.ForSub(shareSub, "")
	if _, err := cl.Prepay(h.ctx, wechatpay.SceneNative, wechatpay.PrepayRequest{OutTradeNo: no, Description: "shared", NotifyURL: h.cfg.NotifyURL,
		TimeExpire: wechatpay.FormatTime(exp), Amount: wechatpay.Amount{Total: amount, Currency: "CNY"},
		SettleInfo: &wechatpay.SettleInfo{ProfitSharing: true}}); err != nil {
		h.t.Fatal(err)
	}
	tx, _, _, err := h.sim.Pay(no, paysim.PayRequest{})
	if err != nil {
		h.t.Fatal(err)
	}
	if _, err := h.ledger.ApplyTransaction(h.ctx, &tx, "test"); err != nil {
		h.t.Fatal(err)
	}
	return h.read(no)
}

func (h *harness) read(no string) *payment.Order {
	h.t.Helper()
	o, err := h.ledger.Attempt(h.ctx, shareSub, no)
	if err != nil {
		h.t.Fatal(err)
	}
	return o
}

func commission(h *harness, rate int64) *payment.Sharing {
	return &payment.Sharing{API: payment.ShareAPIEcommerce, Planned: true,
		Receivers: []payment.ShareReceiver{{Type: wechatpay.ReceiverMerchant, Account: h.cfg.MchID, Rate: rate, Description: "平台佣金"}}}
}

// conserved checks the simulator's money and the ledger's bound on every order given.
func (h *harness) conserved(orders ...string) {
	h.t.Helper()
	if b := h.sim.SharingBalances(); !b.Conserved {
		h.t.Fatalf("simulator money not conserved: in %d, out %d", b.In, b.Out)
	}
	for _, no := range orders {
		o := h.read(no)
		if o.SharedOut() > o.Holds() {
			h.t.Fatalf("%s: shares to others %d exceed what the order holds %d", no, o.SharedOut(), o.Holds())
		}
	}
}

// A shared order's life through reconcile's sharing phase: nothing before the minute
// WeChat Pay asks for, then the split (5 % to the platform), its result, the finish;
// a full refund then takes the share back first (the refund held until the return
// succeeded), and only then reaches WeChat Pay. Every step one event, money conserved.
func TestSharingSplitFinishReturnThenRefund(t *testing.T) {
	h := newHarness(t)
	h.platform()
	j := h.job(reconcile.Options{})
	o := h.sharedOrder("SHARE0001", 10000, commission(h, 500))
	if rep := h.pass(j); rep.Sharing.Examined != 0 {
		t.Fatalf("a split before the minute after payment: %+v", rep.Sharing)
	}
	h.clock.Advance(wechatpay.ShareNotBefore + time.Second)
	rep := h.pass(j)
	o = h.read("SHARE0001")
	s := o.Sharing
	if rep.Sharing.Asked != 2 || rep.Sharing.Split != 1 || rep.Sharing.Finished != 1 || len(s.Splits) != 1 || s.Splits[0].State != wechatpay.ShareFinished ||
		s.Finish == nil || s.Finish.State != wechatpay.ShareFinished {
		t.Fatalf("after the run: %+v, sharing %+v", rep.Sharing, s)
	}
	if got := s.Splits[0].Receivers[0].Amount; got != 500 {
		t.Fatalf("commission %d, want 500", got)
	}
	m := h.sim.SharingBalances()
	if len(m.SubMerchants) != 1 || m.SubMerchants[0].Frozen != 0 || m.SubMerchants[0].Released != 10000-60-500 {
		t.Fatalf("simulator: %+v", m.SubMerchants)
	}
	if s.Finish.Amount != 10000-60-500 {
		t.Fatalf("released %d", s.Finish.Amount)
	}
	h.conserved("SHARE0001")
	if act, _ := o.NextShare(h.clock.Now()); act != payment.ActNone {
		t.Fatalf("still due: %s", act)
	}

	// The full refund: held, the return first.
	rf, err := h.ledger.RequestRefund(h.ctx, o, payment.RefundRequest{OutRefundNo: "RFSHARE0001", Amount: 10000})
	if err != nil {
		t.Fatal(err)
	}
	if rf.Held == "" || !rf.NextCheck.IsZero() {
		t.Fatalf("refund not held: %+v", rf)
	}
	rep = h.pass(j)
	o = h.read("SHARE0001")
	if rep.Sharing.Returned != 1 || rep.Sharing.RefundsReleased != 1 || len(o.Sharing.Held) != 0 || o.Sharing.Returned() != 500 {
		t.Fatalf("after the return: %+v, %+v", rep.Sharing, o.Sharing)
	}
	if rf, _ = h.ledger.Refund(h.ctx, shareSub, "RFSHARE0001"); rf.Held != "" || rf.NextCheck.IsZero() {
		t.Fatalf("refund not released: %+v", rf)
	}
	if _, _, _, err := h.sim.SettleRefund("RFSHARE0001", wechatpay.RefundStatusSuccess); err != nil {
		t.Fatalf("the refund never reached WeChat Pay: %v", err)
	}
	h.conserved("SHARE0001")
	for typ, want := range map[string]int{payment.EventShareSucceeded: 1, payment.EventShareFinished: 1, payment.EventShareReturned: 1} {
		if got := eventsOf(t, h, "SHARE0001")[typ]; got != want {
			t.Errorf("%s: %d events, want %d", typ, got, want)
		}
	}
}

// A return that fails leaves the refund waiting and visible, never sent; once the
// receiver can return again, a later run takes it back and the refund goes.
func TestSharingFailedReturnHoldsRefund(t *testing.T) {
	h := newHarness(t)
	h.platform()
	j := h.job(reconcile.Options{})
	h.sharedOrder("SHARE0002", 20000, commission(h, 1000))
	h.clock.Advance(2 * time.Minute)
	h.pass(j)
	o := h.read("SHARE0002")
	if o.Sharing.Finish == nil || o.Sharing.Finish.State != wechatpay.ShareFinished {
		t.Fatalf("not finished: %+v", o.Sharing)
	}
	h.simPost("/sim/profitsharing/receivers/"+h.cfg.MchID+"/invalid", `{"reason":"ACCOUNT_ABNORMAL"}`)
	if _, err := h.ledger.RequestRefund(h.ctx, o, payment.RefundRequest{OutRefundNo: "RFSHARE0002", Amount: 19000}); err != nil {
		t.Fatal(err)
	}
	h.pass(j)
	o = h.read("SHARE0002")
	rf, _ := h.ledger.Refund(h.ctx, shareSub, "RFSHARE0002")
	if len(o.Sharing.Held) != 1 || rf.Held == "" || o.Sharing.HoldProblem == "" || len(o.Sharing.Returns) != 1 || o.Sharing.Returns[0].State != payment.ShareFailed {
		t.Fatalf("after a failed return: %+v, refund %+v", o.Sharing, rf)
	}
	if _, _, _, err := h.sim.SettleRefund("RFSHARE0002", wechatpay.RefundStatusSuccess); err == nil {
		t.Fatal("the refund reached WeChat Pay before its return")
	}
	h.conserved("SHARE0002")
	h.simDelete("/sim/profitsharing/receivers/" + h.cfg.MchID + "/invalid")
	h.clock.Advance(30 * time.Minute)
	if rep := h.pass(j); rep.Sharing.Examined != 0 {
		t.Fatalf("retried before its back-off: %+v", rep.Sharing)
	}
	h.clock.Advance(time.Hour)
	rep := h.pass(j)
	o = h.read("SHARE0002")
	if rep.Sharing.RefundsReleased != 1 || len(o.Sharing.Held) != 0 || o.Sharing.Returned() != 2000-1000 || o.Sharing.HoldProblem != "" {
		t.Fatalf("after the retry: %+v, %+v", rep.Sharing, o.Sharing)
	}
	h.conserved("SHARE0002")
	ev := eventsOf(t, h, "SHARE0002")
	if ev[payment.EventShareReturnFail] != 1 || ev[payment.EventShareReturned] != 1 {
		t.Fatalf("events %v", ev)
	}
}

// The split job's store reads per run grow with what is due, never with the table:
// the same due orders cost the same reads beside 0 or N finished shared orders.
func TestSharingReadsGrowWithDue(t *testing.T) {
	settled := envInt("WXPAY_SHARING_SETTLED", 1000)
	due := envInt("WXPAY_SHARING_DUE", 50)
	reads := func(settledN int) (int64, time.Duration) {
		h := newHarness(t)
		h.platform()
		j := h.job(reconcile.Options{})
		raw := h.st.(*paymenttest.Guard).Store // the table is filled by hand, not by the ledger
		var wg sync.WaitGroup
		next := make(chan int)
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range next {
					// Finished shared orders as the ledger leaves them: in no index.
					if _, err := raw.Put(h.ctx, finishedShare(t, h, i), store.Condition{Absent: true}); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		for i := range settledN {
			next <- i
		}
		close(next)
		wg.Wait()
		for i := range due {
			h.sharedOrder(dueNo(i), 1000, commission(h, 300))
		}
		h.clock.Advance(2 * time.Minute)
		cs := &storetest.Counting{Store: h.st}
		h.st = cs
		j = h.job(reconcile.Options{})
		start := time.Now()
		rep := h.pass(j)
		if rep.Sharing.Finished != due {
			t.Fatalf("report %+v", rep.Sharing)
		}
		t.Logf("%d due beside %d finished: %d reads, %d writes", due, settledN, cs.Reads.Load(), cs.Writes.Load())
		return cs.Reads.Load(), time.Since(start)
	}
	r0, _ := reads(0)
	rN, took := reads(settled)
	t.Logf("%d due shared orders: %d store reads per run beside 0 finished, %d beside %d finished; wall %v", due, r0, rN, settled, took.Round(time.Millisecond))
	if rN != r0 {
		t.Fatalf("store reads grew with the table: %d → %d", r0, rN)
	}
}

func dueNo(i int) string { return fmt.Sprintf("SHDUE%06d", i) }

// finishedShare is a shared order whose sharing is over, as the ledger stores it (the
// typed document in its "doc" attribute) — written by hand to fill a table fast.
func finishedShare(t *testing.T, h *harness, i int) store.Record {
	no := fmt.Sprintf("SHOLD%07d", i)
	at := h.clock.Now().Add(-48 * time.Hour)
	o := payment.Order{Owner: shareSub, OutTradeNo: no, OrderID: no, Attempt: 1, Amount: 1000, State: wechatpay.TradeStateSuccess,
		CreatedAt: at, UpdatedAt: at, Bill: payment.BillNote{Seen: "2026-01-01"},
		Payment: &payment.Payment{TransactionID: "42" + no, Amount: 1000, MchID: h.cfg.MchID, Source: "notify", ReceivedAt: at},
		Sharing: &payment.Sharing{API: payment.ShareAPIPartner, Planned: true, Receivers: commission(h, 300).Receivers,
			Splits: []payment.SplitLine{{OutOrderNo: no + "@S1", State: wechatpay.ShareFinished, At: at,
				Receivers: []payment.SplitReceiver{{Type: wechatpay.ReceiverMerchant, Account: h.cfg.MchID, Amount: 30, Result: wechatpay.ShareResultSuccess}}}},
			Finish: &payment.FinishLine{OutOrderNo: no + "@F", State: wechatpay.ShareFinished, Amount: 964, At: at, FinishedAt: at}}}
	b, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	return store.Record{Key: payment.OrderKey(shareSub, no), Attrs: map[string]string{"doc": string(b)}}
}

// eventsOf counts an order's merchant events by type.
func eventsOf(t *testing.T, h *harness, no string) map[string]int {
	t.Helper()
	rec, err := h.st.Get(h.ctx, payment.OrderKey(shareSub, no))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, e := range events.Entries(rec) {
		out[e.Type]++
	}
	return out
}

func (h *harness) simCall(method, path, body string) {
	h.t.Helper()
	req, _ := http.NewRequest(method, h.simSrv.URL+path, strings.NewReader(body))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode >= 300 {
		h.t.Fatalf("%s %s: %d", method, path, res.StatusCode)
	}
}

func (h *harness) simPost(path, body string) { h.simCall(http.MethodPost, path, body) }
func (h *harness) simDelete(path string)     { h.simCall(http.MethodDelete, path, "") }

// A service provider's ordinary profit sharing (服务商分账, WXPAY_MODE=partner) follows
// the same model through /v3/profitsharing/*: the receiver is added for the
// sub-merchant, the split made, and the rest released with unfreeze (which does not say
// how much). A share to a person cannot be returned (returns come only from MERCHANT_ID
// receivers): a full refund afterwards waits, visibly, instead of being sent.
func TestSharingPartnerUnfreeze(t *testing.T) {
	h := newHarness(t)
	h.cfg.Bundle.Mode, h.cfg.Bundle.Partner = config.ModePartner, true
	var err error
	if h.client, err = payclient.New(h.cfg, h.st, nil, payclient.Options{AllowLoopbackNotifyURL: true}); err != nil {
		t.Fatal(err)
	}
	api := platform.API{Client: h.client, Mode: config.ModePartner}
	if err := api.AddReceiver(h.ctx, platform.ReceiverInput{SubMchID: shareSub, Type: wechatpay.ReceiverPersonalOpenID, Account: "oReceiver0001", RelationType: "USER"}); err != nil {
		t.Fatal(err)
	}
	plan := &payment.Sharing{API: payment.ShareAPIPartner, Planned: true,
		Receivers: []payment.ShareReceiver{{Type: wechatpay.ReceiverPersonalOpenID, Account: "oReceiver0001", Amount: 50, Description: "推广佣金"}}}
	h.sharedOrder("PSHARE001", 1000, plan)
	h.clock.Advance(2 * time.Minute)
	j := h.job(reconcile.Options{})
	rep := h.pass(j)
	o := h.read("PSHARE001")
	if rep.Sharing.Finished != 1 || o.Sharing.Splits[0].State != wechatpay.ShareFinished || o.Sharing.Finish.State != wechatpay.ShareFinished || o.Sharing.Finish.Amount != -1 {
		t.Fatalf("partner sharing: %+v %+v", rep.Sharing, o.Sharing)
	}
	var view paysim.SharePaymentView
	h.simGet("/sim/profitsharing/payments/"+o.Payment.TransactionID, &view)
	if !view.Money.Finished || view.Money.SharedOut != 50 || view.Money.Frozen != 0 {
		t.Fatalf("simulator: %+v", view.Money)
	}
	// The 50 fen shared to a person never come back (WeChat Pay returns only from
	// MERCHANT_ID receivers): a refund needing them is refused up front — held, it
	// would wait for ever — and one within the rest is asked at once.
	var refused *payment.SharesNotReturnableError
	if _, err := h.ledger.RequestRefund(h.ctx, o, payment.RefundRequest{OutRefundNo: "RFPSHARE1", Amount: 1000}); !errors.As(err, &refused) || refused.Max != 950 || refused.Unreturnable != 50 {
		t.Fatalf("a refund needing a person's share back: %v", err)
	}
	if _, err := h.ledger.Refund(h.ctx, shareSub, "RFPSHARE1"); !errors.Is(err, payment.ErrNotFound) {
		t.Fatalf("the refused refund was recorded: %v", err)
	}
	if rf, err := h.ledger.RequestRefund(h.ctx, h.read("PSHARE001"), payment.RefundRequest{OutRefundNo: "RFPSHARE2", Amount: 950}); err != nil || rf.Held != "" {
		t.Fatalf("a refund within what the person did not get: %+v %v", rf, err)
	}
	h.pass(j)
	o = h.read("PSHARE001")
	if len(o.Sharing.Held) != 0 || o.Sharing.HoldProblem != "" {
		t.Fatalf("a share to a person: %+v", o.Sharing)
	}
	h.conserved("PSHARE001")
}

// An order put in REVIEW after its split was reserved, before it was sent (the run that
// reserved it stopped): reconcile still follows the split — asks WeChat Pay about it —
// but never sends it. WeChat Pay does not know it, so once the reservation is old
// enough that no send of it can still arrive, it is withdrawn (FAILED, announced once);
// until then the order is asked about again.
func TestSharingInReviewQueriesNeverSends(t *testing.T) {
	h := newHarness(t)
	h.platform()
	j := h.job(reconcile.Options{})
	o := h.sharedOrder("SHAREREV01", 10000, commission(h, 500))
	h.clock.Advance(wechatpay.ShareNotBefore + time.Second)
	o, sp, err := h.ledger.ReserveSplit(h.ctx, o)
	if err != nil || sp == nil || sp.State != payment.SharePending {
		t.Fatalf("reserve: %+v %v", sp, err)
	}
	tx, err := h.client.ForSub(shareSub, "").QueryByOutTradeNo(h.ctx, "SHAREREV01")
	if err != nil {
		t.Fatal(err)
	}
	tx.TransactionID += "9" // a second payment of the order: REVIEW
	if r, err := h.ledger.ApplyTransaction(h.ctx, tx, "notify"); err != nil || r.Outcome != payment.Review {
		t.Fatalf("second payment: %v %v", r.Outcome, err)
	}
	splits := func() int {
		var view paysim.SharePaymentView
		h.simGet("/sim/profitsharing/payments/"+o.Payment.TransactionID, &view)
		return len(view.Splits)
	}
	rep := h.pass(j)
	if o = h.read("SHAREREV01"); rep.Sharing.Examined != 1 || rep.Sharing.Asked != 0 || splits() != 0 || o.Sharing.Splits[0].State != payment.SharePending {
		t.Fatalf("first run in review: %+v, split %+v, %d splits at WeChat Pay", rep.Sharing, o.Sharing.Splits[0], splits())
	}
	if act, at := o.NextShare(h.clock.Now()); act != payment.ActQuerySplit || at.Before(sp.At.Add(2*time.Minute)) {
		t.Fatalf("next: %s at %v, want the query once the reservation is 2 minutes old", act, at)
	}
	h.clock.Advance(3 * time.Minute)
	rep = h.pass(j)
	o = h.read("SHAREREV01")
	if rep.Sharing.Asked != 0 || splits() != 0 || o.Sharing.Splits[0].State != payment.ShareFailed || !o.InReview() {
		t.Fatalf("second run in review: %+v, split %+v, %d splits at WeChat Pay", rep.Sharing, o.Sharing.Splits[0], splits())
	}
	n := 0
	for _, e := range events.Entries(o.Record()) {
		if e.Type == payment.EventShareFailed {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("the withdrawn split announced %d times", n)
	}
	if act, _ := o.NextShare(h.clock.Now()); act != payment.ActNone {
		t.Fatalf("after the withdrawal: %s due", act)
	}
}

// A subsidy (补差) asked for before the order went to REVIEW, its answer never heard
// (the run stopped, or the answer was lost after WeChat Pay charged it): reconcile
// still follows it — asks WeChat Pay again with the same number and amount, which
// charges it at most once (请求补差 is re-entrant) — and records its result, announced
// once; nothing new is sent (no split, no other subsidy). Before, an order in REVIEW
// left its PENDING subsidy alone for good while WeChat Pay had charged it.
func TestSharingInReviewFollowsAPendingSubsidy(t *testing.T) {
	for _, charged := range []bool{false, true} {
		t.Run(map[bool]string{false: "never reached", true: "answer lost"}[charged], func(t *testing.T) {
			h := newHarness(t)
			h.platform()
			j := h.job(reconcile.Options{})
			no := map[bool]string{false: "SUBREV0001", true: "SUBREV0002"}[charged]
			plan := commission(h, 500)
			plan.SubsidyAmount = 300
			o := h.sharedOrder(no, 10000, plan)
			h.simPost("/sim/subsidies/"+o.Payment.TransactionID+"/flag", `{"amount":300}`)
			h.clock.Advance(wechatpay.ShareNotBefore + time.Second)
			o, sub, err := h.ledger.RequestSubsidy(h.ctx, o, 300, "", "")
			if err != nil || sub.State != payment.SharePending {
				t.Fatalf("subsidy: %+v %v", sub, err)
			}
			api := platform.API{Client: h.client, Mode: h.cfg.Bundle.Mode}
			if charged {
				if _, err := api.Subsidy(h.ctx, shareSub, o.Payment.TransactionID, *sub); err != nil {
					t.Fatal(err) // WeChat Pay charged it; the ledger never heard
				}
			}
			tx, err := h.client.ForSub(shareSub, "").QueryByOutTradeNo(h.ctx, no)
			if err != nil {
				t.Fatal(err)
			}
			tx.TransactionID += "9" // a second payment of the order: REVIEW
			if r, err := h.ledger.ApplyTransaction(h.ctx, tx, "notify"); err != nil || r.Outcome != payment.Review {
				t.Fatalf("second payment: %v %v", r.Outcome, err)
			}
			if act, _ := h.read(no).NextShare(h.clock.Now()); act != payment.ActSubsidy {
				t.Fatalf("in review with a subsidy pending: %q, want it followed", act)
			}
			subsidy := func() (n int64) {
				var view struct {
					Subsidy *struct {
						Amount int64  `json:"amount"`
						Result string `json:"result"`
					} `json:"subsidy"`
				}
				h.simGet("/sim/subsidies/"+o.Payment.TransactionID, &view)
				if view.Subsidy != nil && view.Subsidy.Result == wechatpay.SubsidySuccess {
					n = view.Subsidy.Amount
				}
				return n
			}
			splits := func() int {
				var view paysim.SharePaymentView
				h.simGet("/sim/profitsharing/payments/"+o.Payment.TransactionID, &view)
				return len(view.Splits)
			}
			for range 2 {
				h.pass(j)
				h.clock.Advance(10 * time.Minute)
			}
			o = h.read(no)
			if s := o.Sharing; s.Subsidy.State != wechatpay.SubsidySuccess || s.Subsidy.OutSubsidyNo != sub.OutSubsidyNo || !o.InReview() || len(s.Splits) != 0 {
				t.Fatalf("after the runs: subsidy %+v, splits %+v, in review %v", s.Subsidy, s.Splits, o.InReview())
			}
			if got := subsidy(); got != 300 || splits() != 0 {
				t.Fatalf("WeChat Pay holds a subsidy of %d fen and %d splits: want the one subsidy asked (300), nothing new", got, splits())
			}
			if n := eventsOf(t, h, no)[payment.EventSubsidySucceeded]; n != 1 {
				t.Fatalf("subsidy.succeeded announced %d times", n)
			}
			if act, _ := o.NextShare(h.clock.Now()); act != payment.ActNone {
				t.Fatalf("after the subsidy, in review: %s due", act)
			}
			h.conserved(no)
		})
	}
}

// A held refund released once its return succeeded, which WeChat Pay then refuses
// because it holds no paid order to refund (RESOURCE_NOT_EXISTS "订单不存在"), and its
// order query confirms it holds none (ORDER_NOT_EXIST): closed, as a refusal for good
// is, and the order — paid here — goes to REVIEW (payment_not_held) with the refusal
// kept.
func TestSharingReleasedRefundRefusedForAPaymentNotHeld(t *testing.T) {
	h := newHarness(t)
	h.platform()
	j := h.job(reconcile.Options{})
	o := h.sharedOrder("SHARENH001", 10000, commission(h, 500))
	h.clock.Advance(wechatpay.ShareNotBefore + time.Second)
	h.pass(j)
	o = h.read("SHARENH001")
	if rf, err := h.ledger.RequestRefund(h.ctx, o, payment.RefundRequest{OutRefundNo: "RFSHARENH1", Amount: 10000}); err != nil || rf.Held == "" {
		t.Fatalf("refund not held: %+v %v", rf, err)
	}
	notHeld := func(w http.ResponseWriter, r *http.Request) bool {
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/v3/ecommerce/refunds/apply":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"code":"RESOURCE_NOT_EXISTS","message":"订单不存在"}`))
		case r.Method == http.MethodGet && r.URL.Path == "/v3/pay/partner/transactions/out-trade-no/SHARENH001":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"code":"ORDER_NOT_EXIST","message":"订单不存在"}`))
		default:
			return false
		}
		return true
	}
	h.intercept.Store(&notHeld)
	h.pass(j)
	h.intercept.Store(nil)
	o = h.read("SHARENH001")
	if rf, err := h.ledger.Refund(h.ctx, shareSub, "RFSHARENH1"); err != nil || rf.State != wechatpay.RefundStatusClosed {
		t.Fatalf("the refused refund: %+v %v, want CLOSED", rf, err)
	}
	if !o.InReview() || o.Review.First().Kind != payment.CausePaymentNotHeld || len(o.Sharing.Held) != 0 || o.Reserved() != 0 {
		t.Fatalf("order %s, causes %+v, held %v, reserved %d", o.Status(), o.Review.Causes, o.Sharing.Held, o.Reserved())
	}
}

// The same refusal of a released refund while WeChat Pay holds the order paid (the
// transient refusal merchants report, paysim's refuse_refund_once): its order query
// answers SUCCESS, so the refund is released still PROCESSING — neither closed nor
// reviewed — and submitted again by its own follow-up a minute later. Before the order
// query, it was closed and the order went to REVIEW.
func TestSharingReleasedRefundRefusedTransiently(t *testing.T) {
	h := newHarness(t)
	h.platform()
	j := h.job(reconcile.Options{})
	o := h.sharedOrder("SHARENT001", 10000, commission(h, 500))
	h.clock.Advance(wechatpay.ShareNotBefore + time.Second)
	h.pass(j)
	o = h.read("SHARENT001")
	if rf, err := h.ledger.RequestRefund(h.ctx, o, payment.RefundRequest{OutRefundNo: "RFSHARENT1", Amount: 10000}); err != nil || rf.Held == "" {
		t.Fatalf("refund not held: %+v %v", rf, err)
	}
	if err := h.sim.SetFaults(paysim.Faults{RefuseRefundOnce: []string{"SHARENT001"}}); err != nil {
		t.Fatal(err)
	}
	h.pass(j)
	o = h.read("SHARENT001")
	rf, err := h.ledger.Refund(h.ctx, shareSub, "RFSHARENT1")
	if err != nil || rf.State != wechatpay.RefundStatusProcessing || rf.Held != "" {
		t.Fatalf("the refused refund: %+v %v, want PROCESSING, released", rf, err)
	}
	if o.InReview() || len(o.Sharing.Held) != 0 || o.Reserved() != 10000 {
		t.Fatalf("order %s, causes %+v, held %v, reserved %d", o.Status(), o.Review.Causes, o.Sharing.Held, o.Reserved())
	}
	h.clock.Advance(2 * time.Minute)
	h.pass(j)
	if got, err := (platform.API{Client: h.client, Mode: config.ModeEcommerce}).QueryRefund(h.ctx, shareSub, "", "RFSHARENT1"); err != nil || got.Amount.Refund != 10000 {
		t.Fatalf("the refund at WeChat Pay: %+v %v; want it submitted again", got, err)
	}
	if o = h.read("SHARENT001"); o.InReview() {
		t.Fatalf("order in REVIEW: %+v", o.Review.Causes)
	}
}

// A refund held for returns that only a person's share could cover can never be asked
// of WeChat Pay (a share paid to a person never comes back): an older ledger held such
// refunds for ever. Here one is held legitimately — 900 of 1000 fen, the merchant's 200
// can make room — and then a refund made elsewhere (100 fen, at WeChat Pay, learnt from
// its notification) leaves the order less than the person's 50: no return can make room
// any more. Reconcile closes it without asking WeChat Pay (refund.failed once, its
// reservation released, its hold let go), and what is left can be refunded.
func TestSharingHeldRefundNoReturnCanCoverIsClosed(t *testing.T) {
	h := newHarness(t)
	h.platform()
	api := platform.API{Client: h.client, Mode: config.ModeEcommerce, NotifyURL: h.cfg.NotifyURL}
	if err := api.AddReceiver(h.ctx, platform.ReceiverInput{SubMchID: shareSub, Type: wechatpay.ReceiverPersonalOpenID, Account: "oReceiver0002", RelationType: "DISTRIBUTOR"}); err != nil {
		t.Fatal(err)
	}
	plan := &payment.Sharing{API: payment.ShareAPIEcommerce, Planned: true, Receivers: []payment.ShareReceiver{
		{Type: wechatpay.ReceiverMerchant, Account: h.cfg.MchID, Amount: 200, Description: "平台佣金"},
		{Type: wechatpay.ReceiverPersonalOpenID, Account: "oReceiver0002", Amount: 50, Description: "推广佣金"}}}
	o := h.sharedOrder("PSHARE002", 1000, plan)
	h.clock.Advance(wechatpay.ShareNotBefore + time.Second)
	j := h.job(reconcile.Options{})
	h.pass(j)
	if o = h.read("PSHARE002"); o.SharedOut() != 250 || o.Sharing.Finish == nil || o.Sharing.Finish.State != wechatpay.ShareFinished {
		t.Fatalf("sharing: %+v", o.Sharing)
	}
	if rf, err := h.ledger.RequestRefund(h.ctx, o, payment.RefundRequest{OutRefundNo: "RFPHELD1", Amount: 900}); err != nil || rf.Held == "" {
		t.Fatalf("a refund the merchant's return can make room for: %+v %v", rf, err)
	}
	if _, err := api.Refund(h.ctx, shareSub, "", wechatpay.RefundRequest{OutTradeNo: "PSHARE002", OutRefundNo: "RFELSE1",
		Amount: wechatpay.RefundAmount{Refund: 100, Total: 1000, Currency: "CNY"}}, false); err != nil {
		t.Fatal(err)
	}
	view, _, _, err := h.sim.SettleRefund("RFELSE1", wechatpay.RefundStatusSuccess)
	if err != nil {
		t.Fatal(err)
	}
	n := &wechatpay.RefundNotice{SpMchID: h.cfg.MchID, SubMchID: shareSub, OutTradeNo: "PSHARE002", TransactionID: o.Payment.TransactionID, OutRefundNo: "RFELSE1",
		RefundID: view.RefundID, RefundStatus: wechatpay.RefundStatusSuccess, SuccessTime: view.SuccessTime, Amount: wechatpay.RefundAmount{Refund: 100, Total: 1000, Currency: "CNY"}}
	if _, err := h.ledger.ApplyRefund(h.ctx, n, "notify"); err != nil {
		t.Fatal(err)
	}
	if o = h.read("PSHARE002"); o.InReview() || len(o.UnreleasableRefunds()) != 1 {
		t.Fatalf("after the refund made elsewhere: review %v, unreleasable %+v, sharing %+v", o.InReview(), o.UnreleasableRefunds(), o.Sharing)
	}
	asked := 0
	count := func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/v3/ecommerce/refunds/apply") {
			asked++
		}
		return false
	}
	h.intercept.Store(&count)
	h.pass(j)
	h.pass(j)
	h.intercept.Store(nil)
	o = h.read("PSHARE002")
	rf, err := h.ledger.Refund(h.ctx, shareSub, "RFPHELD1")
	if err != nil || rf.State != wechatpay.RefundStatusClosed || rf.Held != "" || asked != 0 {
		t.Fatalf("the held refund: %+v %v, asked of WeChat Pay %d times", rf, err, asked)
	}
	if len(o.Sharing.Held) != 0 || o.Reserved() != 100 || o.InReview() {
		t.Fatalf("order: held %+v, reserved %d, review %v", o.Sharing.Held, o.Reserved(), o.InReview())
	}
	if n := eventsOf(t, h, "PSHARE002")[events.RefundFailed]; n != 1 {
		t.Fatalf("refund.failed announced %d times", n)
	}
	if act, _ := o.NextShare(h.clock.Now()); act != payment.ActNone {
		t.Fatalf("still due: %s", act)
	}
	// 900 left, 250 shared out, 50 of it to the person: 850 can be refunded, the
	// merchant's 200 returned first.
	var refused *payment.SharesNotReturnableError
	if _, err := h.ledger.RequestRefund(h.ctx, o, payment.RefundRequest{OutRefundNo: "RFPHELD2", Amount: 900}); !errors.As(err, &refused) || refused.Max != 850 {
		t.Fatalf("a refund of all that is left: %v, want refused naming 850", err)
	}
	if rf, err := h.ledger.RequestRefund(h.ctx, h.read("PSHARE002"), payment.RefundRequest{OutRefundNo: "RFPHELD3", Amount: 850}); err != nil || rf.Held == "" {
		t.Fatalf("a refund of 850: %+v %v", rf, err)
	}
	h.pass(j)
	if rf, err := h.ledger.Refund(h.ctx, shareSub, "RFPHELD3"); err != nil || rf.Held != "" {
		t.Fatalf("the 850 after the merchant's return: %+v %v", rf, err)
	}
	h.conserved("PSHARE002")
}
