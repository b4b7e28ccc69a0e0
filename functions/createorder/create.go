package createorder

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/paysls/wxpay/internal/judgment"
	"github.com/paysls/wxpay/shared/apiauth"
	"github.com/paysls/wxpay/shared/orderapi"
	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// Lifetimes WeChat Pay gives its answers, and its close rule.
const (
	prepayIDLife = 2 * time.Hour
	h5URLLife    = 5 * time.Minute
	closeAfter   = 5 * time.Minute
)

// source names createorder in the ledger's records.
const source = "createorder"

// errRetry: a race was lost; read the records again and judge anew.
var errRetry = errors.New("createorder: lost a race, re-reading")

// errWait: another create holds a live claim; wait for it.
var errWait = errors.New("createorder: another create is placing this order")

// errReplay: the stored answer (or the paid state) is the answer.
var errReplay = errors.New("createorder: a replay")

// errPaid: the attempt turned out paid while we were replacing or closing it.
var errPaid = errors.New("createorder: the order is paid")

// errDeferred: WeChat Pay refused a close as too early; it is recorded for reconcile.
var errDeferred = errors.New("createorder: close deferred")

func newClaimID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// current reads an order through the ledger: its first and current attempts, nil when
// there is no such order. An order_id that is another order's attempt (or a payment
// this API did not create) is refused for a create.
func (h *Handler) current(ctx context.Context, owner, orderID string) (*payment.History, error) {
	hist, err := h.ledger.Order(ctx, owner, orderID)
	var other *payment.OtherOrderError
	switch {
	case errors.As(err, &other):
		hint := "choose another order_id (ids ending in _N can collide with re-priced attempts of another order)"
		return nil, fail(http.StatusConflict, "ORDER_ID_COLLISION", other.Error(), hint)
	case errors.Is(err, payment.ErrNotFound):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("createorder: read order %s: %w", orderID, err)
	case hist.First.Combine != nil:
		return nil, fail(http.StatusConflict, "ORDER_IS_SUB_ORDER", fmt.Sprintf("order %s is a sub-order of combine %s", orderID, hist.First.Combine.OrderID),
			"a sub-order is placed, re-priced and closed with its combine (POST /orders with the combine's order_id and sub_orders)")
	}
	return hist, nil
}

func (h *Handler) createOrder(w http.ResponseWriter, r *http.Request) {
	var req orderapi.CreateRequest
	if e := decodeBody(r, &req); e != nil {
		h.writeError(w, r, e)
		return
	}
	if e := queryNotBody(r, &req); e != nil {
		h.writeError(w, r, e)
		return
	}
	if h.combineCreate(w, r, &req) { // combine.go
		return
	}
	o, e := h.validate(r, &req)
	if e != nil {
		h.writeError(w, r, e)
		return
	}
	rec, prepaid, err := h.create(r.Context(), o)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	// The pay parameters are signed while the prepay answer is being recorded.
	ans, err := h.answer(o, rec)
	h.recorded(rec)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	status := http.StatusOK
	if prepaid {
		status = http.StatusCreated
		h.log.Info("order placed", "order_id", o.orderID, "out_trade_no", ans.OutTradeNo, "scene", ans.Scene, "amount", ans.Amount, "mchid", o.owner)
	} else {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	apiauth.WriteJSON(w, status, ans)
}

type action int

const (
	actReplay  action = iota // the stored answer (or the paid state) is the answer
	actWait                  // another create holds a live claim
	actPrepay                // same content, no live answer: prepay again on this attempt
	actReprice               // a new attempt
	actUpgrade               // the cashier placeholder becomes this scene's payment, in place
	actSwitch                // the cashier page's order changes scene (scene.go)
)

// placeholder reports whether an attempt is a scene "cashier" attempt that never reached
// WeChat Pay: the first real scene placed for it takes it over in place (same
// out_trade_no) rather than re-pricing — there is nothing at WeChat Pay to close.
func placeholder(cur *payment.Order) bool {
	return cur.Scene == SceneCashier && !cur.Claim.Answer.Any() && cur.State == wechatpay.TradeStateNotPay
}

// fromCashier completes a real-scene create for an order that came from the cashier:
// the page repeats amount, description and time_expire but not attach, which is taken
// from the order; the cashier's fingerprint travels with the order while the amount is
// unchanged.
func fromCashier(cur *payment.Order, o *order) {
	cfp := cur.Create.CashierFP
	if o.scene == SceneCashier || cfp == "" || cur.Amount != o.amount {
		return
	}
	if o.attach == "" && cur.Create.Attach != "" {
		o.attach = cur.Create.Attach
		o.fp = fingerprint(o)
	}
	o.cashierFP = cfp
}

// judge decides what a create with content o does with the current attempt.
func (h *Handler) judge(cur *payment.Order, o *order) (action, error) {
	now := h.now()
	// A replayed cashier create matches the order it made even after the page placed a
	// real-scene payment on it.
	same := cur.Claim.PayloadHash == o.fp || (o.scene == SceneCashier && cur.Create.CashierFP == o.fp)
	switch {
	case cur.InReview():
		return 0, fail(http.StatusConflict, "ORDER_IN_REVIEW",
			fmt.Sprintf("order %s is under review (%s): a payment conflicts with it", o.orderID, cur.Review.Reason()),
			"look at the order (GET /orders/{order_id}) and settle it by hand before taking another payment")
	case cur.Paid():
		if same {
			return actReplay, nil
		}
		return 0, fail(http.StatusConflict, wechatpay.CodeOrderPaid,
			fmt.Sprintf("order %s is paid (out_trade_no %s, %d fen); a paid order is never re-priced", o.orderID, cur.OutTradeNo, cur.Amount),
			"a new payment needs a new order_id; to give money back use POST /orders/{order_id}/refunds · 订单已支付，不能改价")
	case cur.Closed(), cur.Close != nil && !cur.Parked():
		return actReprice, nil
	}
	if cur.Claim.Live(now) {
		return actWait, nil
	}
	if !cur.ExpiresAt.IsZero() && !now.Before(cur.ExpiresAt) {
		return actReprice, nil
	}
	if placeholder(cur) && o.scene != SceneCashier && cur.Amount == o.amount {
		return actUpgrade, nil
	}
	if o.cashierFP != "" && (cur.Parked() || !same) {
		return actSwitch, nil
	}
	if !same {
		return actReprice, nil
	}
	if o.scene == SceneCashier {
		return actReplay, nil // a link, not a payment: nothing to place again
	}
	if cur.Claim.Replayable(now) {
		return actReplay, nil
	}
	return actPrepay, nil
}

// How a create waits for another create's live claim: it looks again after a pause
// that doubles from firstPoll up to maxPoll. Whether the claim is still live or was
// abandoned is judged on the business clock (payment.Claim.Live: the lease); how long
// the request waits is bounded twice — by the lease plus 2 s of business time, and by
// as many polls as cover that much real time, so that a clock that does not move (a
// test's, a simulation's) cannot hold a request forever.
const (
	firstPoll = 10 * time.Millisecond
	maxPoll   = 200 * time.Millisecond
	// maxRetries bounds the races a create may lose in a row before it answers
	// CREATE_IN_PROGRESS (each one re-reads the order and judges anew).
	maxRetries = 32
)

// pollsFor is how many polls, from firstPoll doubling up to maxPoll, cover d.
func pollsFor(d time.Duration) int {
	n := 0
	for p, sum := firstPoll, time.Duration(0); sum < d; p = min(p*2, maxPoll) {
		sum += p
		n++
	}
	return n
}

// sleep is the real pause between two looks at a live claim.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// create runs the idempotent create: it returns the attempt to answer with and whether
// this call placed the prepay. Claims and their leases are on the business clock, and
// so is the decision that a claim was abandoned; see firstPoll for how long a create
// waits for a live one.
func (h *Handler) create(ctx context.Context, o *order) (*payment.Order, bool, error) {
	began := h.now()
	wait := h.lease + 2*time.Second
	polls, retries := 0, 0
	pause := firstPoll
	busy := func() error {
		return fail(http.StatusConflict, "CREATE_IN_PROGRESS",
			fmt.Sprintf("order %s is being created by another request that has not finished", o.orderID),
			"retry the same request in a few seconds; it is safe to repeat")
	}
	for {
		if err := ctx.Err(); err != nil {
			return nil, false, err
		}
		rec, claim, err := h.step(ctx, o)
		switch {
		case errors.Is(err, errRetry):
			if retries++; retries < maxRetries {
				continue
			}
			return nil, false, busy()
		case errors.Is(err, errWait):
		case errors.Is(err, errReplay):
			return rec, false, nil
		case err != nil:
			return nil, false, err
		default:
			return h.prepay(ctx, o, rec, claim)
		}
		// A live claim: wait for its answer, polling the record.
		if polls >= pollsFor(wait) || h.now().Sub(began) >= wait {
			return nil, false, busy()
		}
		if err := h.sleep(ctx, pause); err != nil {
			return nil, false, err
		}
		polls, retries = polls+1, 0
		pause = min(pause*2, maxPoll)
	}
}

// step reads the order and makes one move: the attempt to answer with (errReplay), or
// the claim this request now holds on the attempt it will place.
func (h *Handler) step(ctx context.Context, o *order) (*payment.Order, string, error) {
	hist, err := h.current(ctx, o.owner, o.orderID)
	if err != nil {
		return nil, "", err
	}
	if hist == nil {
		return h.newAttempt(ctx, o, 1)
	}
	cur := hist.Current
	fromCashier(cur, o)
	act, err := h.judge(cur, o)
	if err != nil {
		return nil, "", err
	}
	if act != actReprice && act != actSwitch && !cur.Paid() {
		// judge reads the current attempt only; a re-price and a scene switch refuse an
		// order paid through an attempt it replaced, and so must every other answer that
		// would hand out (or place) the current attempt's payment: the user would pay twice.
		// One that places a new prepay (the old one expired: an H5 link lives 5 minutes)
		// first asks WeChat Pay about the attempts it replaced whose close is still owed,
		// as a re-price does; a replay hands out what already lives and asks nothing.
		if err := h.replacedPaid(ctx, o, hist, act == actPrepay || act == actUpgrade); err != nil {
			return nil, "", err
		}
	}
	switch act {
	case actReplay:
		return cur, "", errReplay
	case actWait:
		return nil, "", errWait
	case actPrepay:
		claim := newClaimID()
		rec, err := h.ledger.Claim(ctx, cur, payment.ClaimRequest{ID: claim, PayloadHash: o.fp, Lease: h.lease})
		if errors.Is(err, payment.ErrRaced) {
			return nil, "", errRetry
		}
		if err != nil {
			return nil, "", fmt.Errorf("createorder: claim %s: %w", cur.Key(), err)
		}
		return rec, claim, nil
	case actUpgrade:
		return h.upgrade(ctx, o, cur)
	case actSwitch:
		return h.switchScene(ctx, o, hist)
	default:
		return h.reprice(ctx, o, hist)
	}
}

// replacedPaid refuses a create of an order paid, or in REVIEW for a payment, through
// an attempt other than the current one (GET /orders reads it REVIEW): 409 ORDERPAID,
// as reprice and switchScene answer. A first attempt has none to read.
func (h *Handler) replacedPaid(ctx context.Context, o *order, hist *payment.History, ask bool) error {
	if err := h.ledger.Previous(ctx, hist); err != nil {
		return fmt.Errorf("createorder: read the attempts of %s: %w", o.orderID, err)
	}
	if ask {
		if err := h.askReplaced(ctx, hist, nil); err != nil {
			return err
		}
	}
	return paidUnder(o.orderID, hist.Previous)
}

// paidUnder is 409 ORDERPAID for an order paid, or in REVIEW for a payment, under
// one of its attempts other than the current one (GET /orders reads it REVIEW): a
// create, a re-price and a scene switch are refused alike; nil when none is.
func paidUnder(orderID string, attempts []*payment.Order) error {
	for _, p := range attempts {
		if p.Paid() || p.InReview() {
			return fail(http.StatusConflict, wechatpay.CodeOrderPaid,
				fmt.Sprintf("order %s was paid under its earlier attempt %s (state %s): it is neither offered for payment again nor re-priced", orderID, p.OutTradeNo, p.Status()),
				"look at GET /orders/{order_id}; refund the payment or settle the review by hand · 订单已支付")
		}
	}
	return nil
}

// createInfo is what the ledger keeps of o beside the money.
func createInfo(o *order) payment.CreateInfo {
	ci := payment.CreateInfo{Description: o.description, Attach: o.attach, SignAppID: o.signAppID, SubAppID: o.subAppID, CashierFP: o.cashierFP}
	if o.scene == SceneCashier {
		ci.CashierFP = o.fp
	}
	return ci
}

// newAttempt writes attempt n of an order — the NOTPAY record notify checks payments
// against, reserving its out_trade_no — together with this request's claim, in one
// put-if-absent write.
func (h *Handler) newAttempt(ctx context.Context, o *order, n int) (*payment.Order, string, error) {
	exp := o.expire
	if exp.IsZero() {
		ttl := h.cfg.Bundle.OrderTTL
		if ttl <= 0 {
			ttl = 2 * time.Hour
		}
		exp = h.now().Add(ttl)
	}
	exp = exp.Truncate(time.Second) // time_expire travels with second precision
	claim := newClaimID()
	cr := &payment.ClaimRequest{ID: claim, PayloadHash: o.fp, Lease: h.lease}
	if o.scene == SceneCashier {
		// Nothing is placed at WeChat Pay, so there is no claim to hold: no owner, and a
		// lease over at once, or a replayed cashier create would wait out the lease.
		cr.ID, claim, cr.Lease = "", "", 0
	}
	if err := h.noteHolder(ctx, o.orderID, o.owner); err != nil { // holders.go: the console's Find names every sub-merchant holding the number
		return nil, "", err
	}
	rec, err := h.ledger.CreateOrder(ctx, payment.NewOrder{
		MchID: o.owner, AppID: o.appID, OrderID: o.orderID, Attempt: n, Amount: o.amount,
		Scene: o.scene, ExpiresAt: exp, Create: createInfo(o), Claim: cr, Sharing: o.sharing,
	})
	var ex *payment.ExistsError
	if errors.As(err, &ex) {
		if ex.Order.OrderID != o.orderID || ex.Order.Attempt != n {
			// A record without an order_id is a payment this API did not create (kept as
			// WeChat Pay reported it): named so, not as order "".
			holder := fmt.Sprintf("order %q", ex.Order.OrderID)
			if ex.Order.OrderID == "" {
				holder = "a payment this API did not create"
			}
			if n == 1 {
				return nil, "", fail(http.StatusConflict, "ORDER_ID_COLLISION",
					fmt.Sprintf("out_trade_no %s is already used (%s)", o.orderID, holder),
					"choose another order_id (ids ending in _N can collide with re-priced attempts of another order)")
			}
			return nil, "", fail(http.StatusConflict, "ATTEMPT_NAME_TAKEN",
				fmt.Sprintf("order %s cannot be re-priced: its next attempt needs out_trade_no %s, which is already %s; nothing was changed", o.orderID, payment.AttemptNo(o.orderID, n), holder),
				"keep the order at its price, or close it (POST /orders/{order_id}/close) and create the new price under a new order_id that does not end in _N · 改价所需的商户订单号已被其他订单占用")
		}
		return nil, "", errRetry
	}
	if err != nil {
		return nil, "", fmt.Errorf("createorder: %w", err)
	}
	return rec, claim, nil
}

// prepay places the attempt at WeChat Pay and records the answer on it (the claim
// COMPLETED).
func (h *Handler) prepay(ctx context.Context, o *order, rec *payment.Order, claim string) (*payment.Order, bool, error) {
	if o.scene == SceneCashier {
		return rec, true, nil // the cashier page places the payment when it is opened
	}
	exp := rec.ExpiresAt
	req := wechatpay.PrepayRequest{
		Description: o.description, OutTradeNo: rec.OutTradeNo, Attach: o.attach,
		NotifyURL: h.notifyURL, GoodsTag: o.goodsTag, Amount: wechatpay.Amount{Total: o.amount, Currency: "CNY"},
		Payer: o.payer,
	}
	if !exp.IsZero() {
		req.TimeExpire = wechatpay.FormatTime(exp)
	}
	if o.wx == wechatpay.SceneH5 {
		req.SceneInfo = &wechatpay.SceneInfo{PayerClientIP: o.clientIP, H5Info: o.h5}
	}
	if rec.Sharing != nil {
		req.SettleInfo = &wechatpay.SettleInfo{ProfitSharing: true} // frozen until split (sharing.go)
	}
	budget := h.lease - time.Second
	if budget < time.Second {
		budget = time.Second
	}
	pctx, cancel := context.WithTimeout(ctx, budget)
	cl := h.clientFor(o.subMchID, o.subAppID)
	resp, err := cl.Prepay(pctx, o.wx, req)
	cancel()
	if err != nil {
		h.release(rec, claim)
		h.discardIfTaken(ctx, rec, err)
		return nil, false, err
	}
	now := h.now()
	var ans payment.Prepay
	until := exp
	switch {
	case resp.PrepayID != "":
		ans.PrepayID = resp.PrepayID
		if t := now.Add(prepayIDLife); exp.IsZero() || t.Before(until) {
			until = t
		}
	case resp.H5URL != "":
		ans.H5URL = resp.H5URL
		if t := now.Add(h5URLLife); exp.IsZero() || t.Before(until) {
			until = t
		}
	case resp.CodeURL != "":
		ans.CodeURL = resp.CodeURL
	default:
		h.release(rec, claim)
		return nil, false, fmt.Errorf("createorder: prepay %s answered none of prepay_id, h5_url, code_url", req.OutTradeNo)
	}
	if until.IsZero() {
		until = now.Add(prepayIDLife)
	}
	// Recorded even when the caller has gone away meanwhile: the prepay happened. The
	// write runs while the answer is rendered (pay parameters signed); createOrder
	// waits for it before answering (h.recorded), so a replay finds it.
	out := *rec
	out.Claim = payment.Claim{Status: payment.ClaimCompleted, ID: claim, PayloadHash: o.fp, Answer: ans, Expiry: until}
	done := make(chan struct{})
	h.completing.Store(&out, done)
	go func() {
		defer close(done)
		defer h.completing.Delete(&out)
		wctx, wcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer wcancel()
		if _, err := h.ledger.Complete(wctx, rec, claim, ans, until); err != nil {
			// The answer is valid; only its replay is lost: a later create prepays
			// again and WeChat Pay answers the same session for the same out_trade_no.
			h.log.Warn("prepay answer not recorded", "key", rec.Key(), "error", err.Error())
		}
	}()
	return &out, true, nil
}

// recorded waits until the prepay answer of rec (if this request placed one) is
// written.
func (h *Handler) recorded(rec *payment.Order) {
	if done, ok := h.completing.Load(rec); ok {
		<-done.(chan struct{})
	}
}

// upgrade turns the cashier placeholder into this create's payment, in place: same
// out_trade_no (it never reached WeChat Pay), this scene, this request's content and
// claim. The order's expiry stays the placeholder's.
func (h *Handler) upgrade(ctx context.Context, o *order, cur *payment.Order) (*payment.Order, string, error) {
	claim := newClaimID()
	ci := createInfo(o)
	rec, err := h.ledger.Upgrade(ctx, cur, payment.Upgrade{Scene: o.scene, AppID: o.appID, Create: ci,
		Claim: payment.ClaimRequest{ID: claim, PayloadHash: o.fp, Lease: h.lease}})
	if errors.Is(err, payment.ErrRaced) {
		return nil, "", errRetry
	}
	if err != nil {
		return nil, "", fmt.Errorf("createorder: place cashier order %s as %s: %w", cur.Key(), o.scene, err)
	}
	h.log.Info("cashier order placed", "order_id", o.orderID, "out_trade_no", cur.OutTradeNo, "scene", o.scene)
	return rec, claim, nil
}

// discardIfTaken closes, without an event, an attempt WeChat Pay refused to create
// because its out_trade_no is another order's there: OUT_TRADE_NO_USED, or ORDERPAID
// when that order is paid and WeChat Pay holds no order of this number for this
// sub-merchant (a query answers ORDER_NOT_EXIST). On a platform or a service provider
// numbers are unique across the sub-merchants while the ledger keys orders per
// sub-merchant, so the attempt stored first would otherwise be closed by reconcile
// later with an order.closed naming the number another sub-merchant's order holds —
// and a merchant keyed on it would close that order. The merchant has the refusal as
// the create's answer.
//
// ORDERPAID in any mode: WeChat Pay holds the attempt paid, its notification late or
// lost (or its prepay answer never recorded). The payment is learnt now (settle), so
// that the order reads paid and a re-price is refused instead of placing a second
// payment; only a partner's query finding no such order discards the attempt.
func (h *Handler) discardIfTaken(ctx context.Context, rec *payment.Order, err error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	switch {
	case wechatpay.IsCode(err, wechatpay.CodeOrderPaid):
		if _, qerr := h.settle(ctx, rec); !h.partner || !wechatpay.IsCode(qerr, wechatpay.CodeOrderNotExist) {
			return
		}
	case h.partner && wechatpay.IsCode(err, wechatpay.CodeOutTradeNoUsed):
	default:
		return
	}
	if _, err := h.ledger.Discard(ctx, rec.Key()); err != nil {
		h.log.Warn("an attempt whose number WeChat Pay holds for another order was not closed; reconcile closes it", "key", rec.Key(), "error", err.Error())
	}
}

// release gives up a claim after a failed prepay, so a retry need not wait out the lease.
func (h *Handler) release(rec *payment.Order, claim string) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := h.ledger.Release(ctx, rec, claim); err != nil {
		h.log.Warn("claim not released; it expires with its lease", "key", rec.Key(), "error", err.Error())
	}
}

// reprice replaces the current attempt by a new one. The new attempt's out_trade_no is
// reserved first (put-if-absent, with this request's claim): when another order holds
// it the merchant is told and nothing changes. Then the old attempt is closed (at
// WeChat Pay now when it is over 5 minutes old, else recorded for reconcile) and
// attempt 1's pointer moves to the reserved attempt.
func (h *Handler) reprice(ctx context.Context, o *order, hist *payment.History) (*payment.Order, string, error) {
	first, cur := hist.First, hist.Current
	n := first.NewestAttempt() + 1
	if n > maxAttempts || len(payment.AttemptNo(o.orderID, n)) > 32 {
		return nil, "", fail(http.StatusConflict, "TOO_MANY_ATTEMPTS",
			fmt.Sprintf("order %s has been re-priced %d times; no out_trade_no is left within 32 characters", o.orderID, n-1),
			"use a new order_id (a shorter one leaves room for more attempts)")
	}
	// An earlier attempt paid (a payment that raced its close is kept for review)
	// means the order is paid: never re-priced.
	if err := h.ledger.Previous(ctx, hist); err != nil {
		return nil, "", err
	}
	if err := h.askReplaced(ctx, hist, nil); err != nil {
		return nil, "", err
	}
	first = hist.First // the answer may be recorded: the pointer's move is conditioned on it
	if err := paidUnder(o.orderID, hist.Previous); err != nil {
		return nil, "", err
	}
	if !judgment.AttemptReservation.On() {
		return h.repriceUnreserved(ctx, o, first, cur, n)
	}
	// The pointer moves from the attempt attempt 1 names (the same as cur's, unless
	// it names one that is gone: then from there).
	from := max(cur.Attempt, first.Current)
	rec, claim, err := h.newAttempt(ctx, o, n)
	if errors.Is(err, errRetry) {
		return h.takeOver(ctx, o, first, cur, from, n, h.retire)
	}
	if err != nil {
		return nil, "", err
	}
	// From here on the reservation is never removed, not even by this request: its
	// name may already be what the order points at (a pointer move whose answer was
	// lost), and once another create has read it, a removal followed by a new
	// reservation of the same name would hand that create's conditioned writes a
	// record they never read (a re-created record's version starts again). A
	// reservation this request gives up is released, for the next create to take
	// over.
	retired, err := h.retire(ctx, cur)
	if err != nil {
		h.release(rec, claim)
		if errors.Is(err, errPaid) {
			return nil, "", errRetry // judged again: paid → 409
		}
		return nil, "", err
	}
	if retired != nil && retired.Key() == first.Key() {
		first = retired
	}
	if _, err := h.ledger.PointTo(ctx, first, from, n); err != nil {
		h.release(rec, claim)
		if errors.Is(err, payment.ErrRaced) {
			return nil, "", errRetry
		}
		return nil, "", fmt.Errorf("createorder: move %s to attempt %d: %w", o.orderID, n, err)
	}
	h.log.Info("order re-priced", "order_id", o.orderID, "previous", cur.OutTradeNo, "attempt", n,
		"amount", o.amount, "previous_amount", cur.Amount)
	h.retireParked(ctx, hist.Previous) // the other scenes' payments are at the old price
	return rec, claim, nil
}

// takeOver handles a re-price that found attempt n reserved by this order already,
// while the pointer is not on it: another create is between its reservation and the
// pointer move, gave up there, or died there. While its claim is live (business
// clock) it is waited for. After that the reservation is finished, never removed: its
// creator, however late, can still move the pointer and place the attempt at WeChat
// Pay, and only a pointer that reaches it keeps that payment on the order. So this
// request closes the current attempt and moves the pointer to attempt n as its
// creator would have, without placing anything; then the order is judged anew on
// attempt n (the same content: its claim is taken and it is placed; other content: a
// re-price to n+1, which closes it). leave is what becomes of the current attempt:
// retired (a re-price), or parked when the cashier page switches scene.
func (h *Handler) takeOver(ctx context.Context, o *order, first, cur *payment.Order, from, n int,
	leave func(context.Context, *payment.Order) (*payment.Order, error)) (*payment.Order, string, error) {
	a, err := h.ledger.Attempt(ctx, o.owner, payment.AttemptNo(o.orderID, n))
	switch {
	case errors.Is(err, payment.ErrNotFound):
		return nil, "", errRetry
	case err != nil:
		return nil, "", fmt.Errorf("createorder: read attempt %d of %s: %w", n, o.orderID, err)
	case a.OrderID != o.orderID || a.Attempt != n:
		return nil, "", errRetry // judged again: newAttempt names the holder
	case a.Claim.Live(h.now()):
		return nil, "", errWait
	}
	retired, err := leave(ctx, cur)
	if err != nil {
		if errors.Is(err, errPaid) {
			return nil, "", errRetry // judged again: paid → 409 (attempt n stays unplaced)
		}
		return nil, "", err
	}
	if retired != nil && retired.Key() == first.Key() {
		first = retired
	}
	if _, err := h.ledger.PointTo(ctx, first, from, n); err != nil && !errors.Is(err, payment.ErrRaced) {
		return nil, "", fmt.Errorf("createorder: move %s to attempt %d: %w", o.orderID, n, err)
	}
	h.log.Info("re-price taken over", "order_id", o.orderID, "previous", cur.OutTradeNo, "attempt", n)
	return nil, "", errRetry
}

// repriceUnreserved is re-pricing without the reservation (the judgment switched off
// for the simulation test): the pointer moves before the new attempt is written.
func (h *Handler) repriceUnreserved(ctx context.Context, o *order, first, cur *payment.Order, n int) (*payment.Order, string, error) {
	retired, err := h.retire(ctx, cur)
	switch {
	case errors.Is(err, errPaid):
		return nil, "", errRetry
	case err != nil:
		return nil, "", err
	}
	if retired != nil && retired.Key() == first.Key() {
		first = retired
	}
	if _, err := h.ledger.PointTo(ctx, first, cur.Attempt, n); err != nil {
		if errors.Is(err, payment.ErrRaced) {
			return nil, "", errRetry
		}
		return nil, "", err
	}
	return h.newAttempt(ctx, o, n)
}

// retire closes an unpaid attempt being replaced. Within WeChat Pay's first 5 minutes
// the close is recorded (ledger.RequestClose) and reconcile carries it out; a payment
// arriving meanwhile goes to REVIEW. errPaid when the attempt turned out paid. It
// returns the attempt as written (nil when nothing was).
func (h *Handler) retire(ctx context.Context, cur *payment.Order) (*payment.Order, error) {
	if cur.Closed() {
		return nil, nil
	}
	closeAsked := cur.Close != nil && !cur.Parked()
	if !closeAsked && (cur.Paid() || cur.InReview()) {
		return nil, errPaid
	}
	young := h.now().Sub(cur.CreatedAt) < closeAfter
	var asked *payment.Order
	if (closeAsked || young) && mayBePlaced(cur) {
		// A close only recorded (in WeChat Pay's first 5 minutes, or asked for earlier
		// and not carried out yet) asks WeChat Pay nothing: an attempt paid whose
		// notification is late or lost would be replaced by a new payable one, the user
		// asked to pay again, where an older attempt's close answers ORDERPAID. So it is
		// queried first; paid, the payment is applied (REVIEW when its close was asked)
		// and the re-price refused. Unanswered (or the answer not recorded), nothing
		// is placed: the merchant retries, as a prepay WeChat Pay fails is retried.
		switch rec, err := h.settle(ctx, cur); {
		case err == nil && (rec.Paid() || rec.InReview()):
			return nil, errPaid
		case err == nil:
			cur, asked = rec, rec // the answer may be recorded: the caller's copy is stale
		case !wechatpay.IsCode(err, wechatpay.CodeOrderNotExist):
			return nil, fmt.Errorf("createorder: ask WeChat Pay whether %s, being replaced, was paid: %w", cur.OutTradeNo, err)
		}
	}
	switch {
	case closeAsked:
		return asked, nil
	case young:
		return h.deferClose(ctx, cur, cur.CreatedAt.Add(closeAfter), "reprice")
	}
	rec, err := h.closeNow(ctx, cur)
	if err != nil && !errors.Is(err, errDeferred) {
		return nil, err
	}
	return rec, nil
}

// askReplaced asks WeChat Pay about each earlier attempt of hist (read by
// ledger.Previous) not closed there yet — its close deferred, or owed at its expiry —
// which may be paid with its notification late or lost, as the current one is asked
// (retire) before another payment is placed; the answers are recorded and replace
// those attempts in hist (and hist.First). An attempt WeChat Pay does not know was
// never placed; any other failure places nothing: the merchant retries.
// Those skip reports (when not nil) are not asked.
func (h *Handler) askReplaced(ctx context.Context, hist *payment.History, skip func(*payment.Order) bool) error {
	for i, p := range hist.Previous {
		if p.Paid() || p.InReview() || !p.Unsettled() || p.Closed() || !mayBePlaced(p) || skip != nil && skip(p) {
			continue
		}
		rec, err := h.settle(ctx, p)
		switch {
		case err == nil:
			if p.Key() == hist.First.Key() {
				hist.First = rec
			}
			hist.Previous[i] = rec
		case !wechatpay.IsCode(err, wechatpay.CodeOrderNotExist):
			return fmt.Errorf("createorder: ask WeChat Pay whether %s, replaced, was paid: %w", p.OutTradeNo, err)
		}
	}
	return nil
}

// mayBePlaced reports whether an attempt may be at WeChat Pay: its prepay answered, or
// a claim taken to ask it (a prepay sent whose answer was never recorded — a write that
// failed, a process that stopped — is placed there all the same).
func mayBePlaced(o *payment.Order) bool {
	return o.Claim.Answer.Any() || o.Claim.Status != ""
}

// deferClose records that an attempt must be closed at at.
func (h *Handler) deferClose(ctx context.Context, cur *payment.Order, at time.Time, by string) (*payment.Order, error) {
	res, err := h.ledger.RequestClose(ctx, cur.Key(), at, by)
	if err != nil {
		return nil, err
	}
	if res.Outcome == payment.Refused {
		if res.Order != nil && res.Order.Closed() {
			return res.Order, nil
		}
		return res.Order, errPaid
	}
	return res.Order, nil
}

// closeNow closes an attempt at WeChat Pay and records it closed. An attempt WeChat Pay
// says is paid is queried and the payment applied (errPaid).
func (h *Handler) closeNow(ctx context.Context, cur *payment.Order) (*payment.Order, error) {
	cl := h.clientFor(cur.Owner, cur.Create.SubAppID)
	err := cl.Close(ctx, cur.OutTradeNo)
	var res payment.Result
	switch {
	case wechatpay.IsCode(err, wechatpay.CodeOrderNotExist):
		// ORDER_NOT_EXIST: the prepay had not reached WeChat Pay when the close did. One
		// may still reach it: the cashier page places an attempt whenever a browser opens
		// the link, and a prepay claimed or answered since cur was read would be recorded
		// closed here while it is payable there. The ledger decides it on the record it
		// writes (MarkNeverPlaced); placed since, the close is deferred for reconcile to
		// carry out once the prepay has landed.
		res, err = h.ledger.MarkNeverPlaced(ctx, cur.Key(), source, cur.Claim)
		if err == nil && res.Outcome == payment.Refused && res.Order != nil && !res.Order.Paid() && !res.Order.InReview() { // a closed one is a Duplicate
			return h.deferNow(ctx, res.Order, time.Time{})
		}
	case err == nil, wechatpay.IsCode(err, wechatpay.CodeOrderClosed):
		res, err = h.ledger.MarkClosed(ctx, cur.Key(), source)
	case wechatpay.IsCode(err, wechatpay.CodeOrderPaid):
		if _, qerr := h.settle(ctx, cur); qerr != nil {
			h.log.Warn("paid order could not be queried", "key", cur.Key(), "error", qerr.Error())
		}
		return cur, errPaid
	case wechatpay.IsCode(err, "RULELIMIT"):
		// WeChat Pay's calendar says it is too early: defer like a young order.
		return h.deferNow(ctx, cur, cur.CreatedAt.Add(closeAfter))
	default:
		return cur, err
	}
	if err != nil {
		return cur, err
	}
	if res.Outcome == payment.Refused {
		return res.Order, errPaid
	}
	return res.Order, nil
}

// deferNow records the merchant's close of cur for reconcile to carry out at at, or a
// minute from now when at is not later (errDeferred).
func (h *Handler) deferNow(ctx context.Context, cur *payment.Order, at time.Time) (*payment.Order, error) {
	if now := h.now(); !at.After(now) {
		at = now.Add(time.Minute)
	}
	rec, err := h.deferClose(ctx, cur, at, "merchant")
	if err != nil {
		return cur, err
	}
	return rec, errDeferred
}

// settle asks WeChat Pay about an attempt and applies the answer through the ledger,
// as notify would have. It returns the attempt as it is afterwards.
func (h *Handler) settle(ctx context.Context, cur *payment.Order) (*payment.Order, error) {
	cl := h.clientFor(cur.Owner, cur.Create.SubAppID)
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	tx, err := cl.QueryByOutTradeNo(qctx, cur.OutTradeNo)
	if err != nil {
		return cur, err
	}
	res, err := h.ledger.ApplyQueried(ctx, cur, tx, "query")
	if err != nil {
		return cur, err
	}
	if res.Order != nil && res.Order.Key() == cur.Key() {
		return res.Order, nil
	}
	return h.ledger.Attempt(ctx, cur.Owner, cur.OutTradeNo)
}

// queryNotBody refuses POST /orders?sub_mchid=… (or sub_appid) that the body does not
// say the same: the other routes take ?sub_mchid=, so a newcomer puts it there, and the
// order was created under WXPAY_SUB_MCHID — paid to the default sub-merchant, not the
// one the URL named. POST /orders reads its body only.
func queryNotBody(r *http.Request, req *orderapi.CreateRequest) *apiError {
	q := r.URL.Query()
	for _, f := range []struct{ name, body string }{{"sub_mchid", req.SubMchID}, {"sub_appid", req.SubAppID}} {
		vs, given := q[f.name]
		if !given || len(vs) == 1 && vs[0] == f.body && len(req.SubOrders) == 0 {
			continue
		}
		where := "the body of POST /orders"
		if len(req.SubOrders) > 0 {
			where = "each sub_orders[] entry of a combine"
		}
		return badRequest(wechatpay.CodeParamError, "?%s= in the URL of POST /orders is not read: it belongs in %s", f.name, where).
			withHint(`send {"order_id":…,"` + f.name + `":"…",…} and no ?` + f.name + `= (the other routes take ?sub_mchid=) · 下单时 sub_mchid 须放在请求体中`)
	}
	return nil
}
