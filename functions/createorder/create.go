package createorder

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/paysls/wxpay/shared/apiauth"
	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/store"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// Attributes createorder keeps on an order attempt beside the ledger's (prefix co_).
const (
	attrFP        = "co_fp"         // fingerprint of the request content
	attrClaim     = "co_claim"      // wall-clock deadline of an in-progress create
	attrClaimID   = "co_claim_id"   // who holds the claim
	attrAttempt   = "co_attempt"    // this attempt's number (1, 2, …)
	attrCurrent   = "co_current"    // on attempt 1 only: the current attempt's number, once re-priced
	attrCurrentAt = "co_current_at" // wall clock of the last re-pricing
	attrPrepayID  = "co_prepay_id"
	attrH5URL     = "co_h5_url"
	attrCodeURL   = "co_code_url"
	attrPayUntil  = "co_pay_until" // business clock: until when the prepay answer is replayed
	attrSignAppID = "co_sign_appid"
	attrSubAppID  = "co_sub_appid"
	attrCloseBy   = "co_close_by" // "merchant" when the close was asked for through the API
	attrDesc      = "co_description"
	attrAttach    = "co_attach"
	// attrCashierFP: the fingerprint of the scene "cashier" create the order came from.
	attrCashierFP = "co_cashier_fp"
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

// errPaid: the attempt turned out paid while we were replacing or closing it.
var errPaid = errors.New("createorder: the order is paid")

// errDeferred: WeChat Pay refused a close as too early; it is recorded for reconcile.
var errDeferred = errors.New("createorder: close deferred")

// attemptNo is the out_trade_no of attempt n of an order.
func attemptNo(orderID string, n int) string {
	if n <= 1 {
		return orderID
	}
	return orderID + "_" + strconv.Itoa(n)
}

func attemptOf(rec store.Record) int {
	n, err := strconv.Atoi(rec.Attrs[attrAttempt])
	if err != nil || n < 1 {
		return 1
	}
	return n
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func newClaimID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func isPaid(state string) bool {
	return state == wechatpay.TradeStateSuccess || state == wechatpay.TradeStateRefund
}

func isClosed(rec store.Record) bool {
	st := rec.Attrs[payment.AttrState]
	return st == wechatpay.TradeStateClosed || st == wechatpay.TradeStateRevoked
}

// current reads an order: attempt 1 (nil when the order does not exist) and the current
// attempt (nil while a re-pricing has moved the pointer but not yet written the record).
func (h *Handler) current(ctx context.Context, owner, orderID string) (first, cur *store.Record, err error) {
	rec, err := h.st.Get(ctx, payment.OrderKey(owner, orderID))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("createorder: read order %s: %w", orderID, err)
	}
	if other := rec.Attrs[payment.AttrOrderID]; other != orderID {
		msg := fmt.Sprintf("out_trade_no %s is already a re-priced attempt of order %s", orderID, other)
		if other == "" {
			msg = fmt.Sprintf("out_trade_no %s is already used by a payment this API did not create", orderID)
		}
		return nil, nil, fail(http.StatusConflict, "ORDER_ID_COLLISION", msg,
			"choose another order_id (ids ending in _N can collide with re-priced attempts of another order)")
	}
	n, _ := strconv.Atoi(rec.Attrs[attrCurrent])
	if n <= 1 {
		return &rec, &rec, nil
	}
	c, err := h.st.Get(ctx, payment.OrderKey(owner, attemptNo(orderID, n)))
	if errors.Is(err, store.ErrNotFound) {
		return &rec, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("createorder: read attempt %d of %s: %w", n, orderID, err)
	}
	return &rec, &c, nil
}

func (h *Handler) createOrder(w http.ResponseWriter, r *http.Request) {
	var req CreateRequest
	if e := decodeBody(r, &req); e != nil {
		h.writeError(w, r, e)
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
	ans, err := h.answer(o, rec)
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
)

// placeholder reports whether an attempt is a scene "cashier" attempt that never reached
// WeChat Pay: the first real scene placed for it takes it over in place (same
// out_trade_no) rather than re-pricing — there is nothing at WeChat Pay to close.
func placeholder(rec store.Record) bool {
	return rec.Attrs[payment.AttrScene] == SceneCashier && !hasAnswer(rec) &&
		rec.Attrs[payment.AttrState] == wechatpay.TradeStateNotPay
}

// fromCashier completes a real-scene create for an order that came from the cashier:
// the page repeats amount, description and time_expire but not attach, which is taken
// from the order; the cashier's fingerprint travels with the order while the amount is
// unchanged.
func fromCashier(cur store.Record, o *order) {
	cfp := cur.Attrs[attrCashierFP]
	if o.scene == SceneCashier || cfp == "" || payment.Fen(cur, payment.AttrAmount) != o.amount {
		return
	}
	if o.attach == "" && cur.Attrs[attrAttach] != "" {
		o.attach = cur.Attrs[attrAttach]
		o.fp = fingerprint(o)
	}
	o.cashierFP = cfp
}

// judge decides what a create with content o does with the current attempt.
func (h *Handler) judge(cur store.Record, o *order) (action, error) {
	st := cur.Attrs[payment.AttrState]
	// A replayed cashier create matches the order it made even after the page placed a
	// real-scene payment on it.
	same := cur.Attrs[attrFP] == o.fp || (o.scene == SceneCashier && cur.Attrs[attrCashierFP] == o.fp)
	switch {
	case isPaid(st):
		if same {
			return actReplay, nil
		}
		return 0, fail(http.StatusConflict, wechatpay.CodeOrderPaid,
			fmt.Sprintf("order %s is paid (out_trade_no %s, %s fen); a paid order is never re-priced", o.orderID, cur.Attrs[payment.AttrOutTradeNo], cur.Attrs[payment.AttrAmount]),
			"a new payment needs a new order_id; to give money back use POST /orders/{order_id}/refunds · 订单已支付，不能改价")
	case st == payment.StateReview:
		return 0, fail(http.StatusConflict, "ORDER_IN_REVIEW",
			fmt.Sprintf("order %s is under review (%s): a payment conflicts with it", o.orderID, cur.Attrs["review_reason"]),
			"look at the order (GET /orders/{order_id}) and settle it by hand before taking another payment")
	case isClosed(cur), cur.Attrs[payment.AttrCloseOwed] != "":
		return actReprice, nil
	}
	if claimLive(cur) {
		return actWait, nil
	}
	if exp := payment.ParseStamp(cur.Attrs[payment.AttrExpiresAt]); !exp.IsZero() && !h.now().Before(exp) {
		return actReprice, nil
	}
	if placeholder(cur) && o.scene != SceneCashier && payment.Fen(cur, payment.AttrAmount) == o.amount {
		return actUpgrade, nil
	}
	if !same {
		return actReprice, nil
	}
	if o.scene == SceneCashier {
		return actReplay, nil // a link, not a payment: nothing to place again
	}
	if hasAnswer(cur) && h.now().Before(payment.ParseStamp(cur.Attrs[attrPayUntil])) {
		return actReplay, nil
	}
	return actPrepay, nil
}

func claimLive(rec store.Record) bool {
	c := rec.Attrs[attrClaim]
	return c != "" && time.Now().Before(payment.ParseStamp(c))
}

func hasAnswer(rec store.Record) bool {
	return rec.Attrs[attrPrepayID] != "" || rec.Attrs[attrH5URL] != "" || rec.Attrs[attrCodeURL] != ""
}

// create runs the idempotent create: it returns the attempt to answer with and whether
// this call placed the prepay.
func (h *Handler) create(ctx context.Context, o *order) (store.Record, bool, error) {
	deadline := time.Now().Add(h.lease + 2*time.Second)
	pause := 10 * time.Millisecond
	for {
		if err := ctx.Err(); err != nil {
			return store.Record{}, false, err
		}
		if time.Now().After(deadline) {
			return store.Record{}, false, fail(http.StatusConflict, "CREATE_IN_PROGRESS",
				fmt.Sprintf("order %s is being created by another request that has not finished", o.orderID),
				"retry the same request in a few seconds; it is safe to repeat")
		}
		first, cur, err := h.current(ctx, o.owner, o.orderID)
		if err != nil {
			return store.Record{}, false, err
		}
		switch {
		case first == nil:
			rec, claim, err := h.newAttempt(ctx, o, 1)
			if errors.Is(err, errRetry) {
				continue // another request created it first: judge its attempt
			}
			if err != nil {
				return store.Record{}, false, err
			}
			return h.prepay(ctx, o, rec, claim)
		case cur == nil:
			// Re-priced to attempt n whose record is not there: wait for the re-pricer,
			// or take over when it is long gone.
			n, _ := strconv.Atoi(first.Attrs[attrCurrent])
			if time.Since(payment.ParseStamp(first.Attrs[attrCurrentAt])) > h.lease {
				rec, claim, err := h.newAttempt(ctx, o, n)
				if errors.Is(err, errRetry) {
					continue
				}
				if err != nil {
					return store.Record{}, false, err
				}
				return h.prepay(ctx, o, rec, claim)
			}
		default:
			fromCashier(*cur, o)
			act, err := h.judge(*cur, o)
			if err != nil {
				return store.Record{}, false, err
			}
			switch act {
			case actReplay:
				return *cur, false, nil
			case actPrepay:
				claim := newClaimID()
				rec, err := h.st.Update(ctx, cur.Key, store.Change{Set: map[string]string{
					attrClaim: stamp(time.Now().Add(h.lease)), attrClaimID: claim}}, store.Condition{Version: cur.Version})
				if errors.Is(err, store.ErrConditionFailed) {
					continue
				}
				if err != nil {
					return store.Record{}, false, fmt.Errorf("createorder: claim %s: %w", cur.Key, err)
				}
				return h.prepay(ctx, o, rec, claim)
			case actUpgrade:
				rec, claim, err := h.upgrade(ctx, o, *cur)
				if errors.Is(err, errRetry) {
					continue
				}
				if err != nil {
					return store.Record{}, false, err
				}
				return h.prepay(ctx, o, rec, claim)
			case actReprice:
				rec, claim, err := h.reprice(ctx, o, *first, *cur)
				if errors.Is(err, errRetry) {
					continue
				}
				if err != nil {
					return store.Record{}, false, err
				}
				return h.prepay(ctx, o, rec, claim)
			}
		}
		// A live claim: wait for its answer, polling the record.
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return store.Record{}, false, ctx.Err()
		case <-t.C:
		}
		pause = min(pause*2, 200*time.Millisecond)
	}
}

// newAttempt writes attempt n of an order — the NOTPAY record notify checks payments
// against — together with this request's claim, in one put-if-absent write.
func (h *Handler) newAttempt(ctx context.Context, o *order, n int) (store.Record, string, error) {
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
	extra := map[string]string{
		attrFP: o.fp, attrClaim: stamp(time.Now().Add(h.lease)), attrClaimID: claim,
		attrAttempt: strconv.Itoa(n), attrSignAppID: o.signAppID, attrDesc: o.description,
	}
	if o.scene == SceneCashier {
		// Nothing is placed at WeChat Pay, so there is no claim to hold.
		delete(extra, attrClaim)
		delete(extra, attrClaimID)
		claim = ""
		extra[attrCashierFP] = o.fp
	} else if o.cashierFP != "" {
		extra[attrCashierFP] = o.cashierFP
	}
	if o.attach != "" {
		extra[attrAttach] = o.attach
	}
	if o.subAppID != "" {
		extra[attrSubAppID] = o.subAppID
	}
	out := attemptNo(o.orderID, n)
	rec, err := h.ledger.CreateOrder(ctx, payment.NewOrder{
		MchID: o.owner, AppID: o.appID, OutTradeNo: out, OrderID: o.orderID, Amount: o.amount,
		Scene: o.scene, ExpiresAt: exp, Extra: extra,
	})
	var cf *store.ConditionFailedError
	if errors.As(err, &cf) {
		if cf.Current != nil && cf.Current.Attrs[payment.AttrOrderID] != o.orderID {
			return store.Record{}, "", fail(http.StatusConflict, "ORDER_ID_COLLISION",
				fmt.Sprintf("out_trade_no %s (attempt %d of order %s) is already order %s", out, n, o.orderID, cf.Current.Attrs[payment.AttrOrderID]),
				"choose an order_id that does not end in _N, or a new order_id")
		}
		return store.Record{}, "", errRetry
	}
	if err != nil {
		return store.Record{}, "", fmt.Errorf("createorder: %w", err)
	}
	return rec, claim, nil
}

// prepay places the attempt at WeChat Pay and records the answer on it, releasing the
// claim.
func (h *Handler) prepay(ctx context.Context, o *order, rec store.Record, claim string) (store.Record, bool, error) {
	if o.scene == SceneCashier {
		return rec, true, nil // the cashier page places the payment when it is opened
	}
	exp := payment.ParseStamp(rec.Attrs[payment.AttrExpiresAt])
	req := wechatpay.PrepayRequest{
		Description: o.description, OutTradeNo: rec.Attrs[payment.AttrOutTradeNo], Attach: o.attach,
		NotifyURL: h.notifyURL, GoodsTag: o.goodsTag, Amount: wechatpay.Amount{Total: o.amount, Currency: "CNY"},
		Payer: o.payer,
	}
	if !exp.IsZero() {
		req.TimeExpire = wechatpay.FormatTime(exp)
	}
	if o.wx == wechatpay.SceneH5 {
		req.SceneInfo = &wechatpay.SceneInfo{PayerClientIP: o.clientIP, H5Info: o.h5}
	}
	budget := h.lease - time.Second
	if budget < time.Second {
		budget = time.Second
	}
	pctx, cancel := context.WithTimeout(ctx, budget)
	resp, err := h.clientFor(o.subMchID, o.subAppID).Prepay(pctx, o.wx, req)
	cancel()
	if err != nil {
		h.release(rec.Key, claim)
		return store.Record{}, false, err
	}
	now := h.now()
	set := map[string]string{}
	until := exp
	switch {
	case resp.PrepayID != "":
		set[attrPrepayID] = resp.PrepayID
		if t := now.Add(prepayIDLife); exp.IsZero() || t.Before(until) {
			until = t
		}
	case resp.H5URL != "":
		set[attrH5URL] = resp.H5URL
		if t := now.Add(h5URLLife); exp.IsZero() || t.Before(until) {
			until = t
		}
	case resp.CodeURL != "":
		set[attrCodeURL] = resp.CodeURL
	default:
		h.release(rec.Key, claim)
		return store.Record{}, false, fmt.Errorf("createorder: prepay %s answered none of prepay_id, h5_url, code_url", req.OutTradeNo)
	}
	if until.IsZero() {
		until = now.Add(prepayIDLife)
	}
	set[attrPayUntil] = stamp(until)
	// Recorded even when the caller has gone away meanwhile: the prepay happened.
	wctx, wcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	out, err := h.st.Update(wctx, rec.Key, store.Change{Set: set, Remove: []string{attrClaim, attrClaimID}},
		store.Condition{Attrs: []store.AttrTest{store.AttrIn(attrClaimID, claim)}})
	wcancel()
	if err != nil {
		// The answer is valid; only its replay is lost: a later create prepays again
		// and WeChat Pay answers the same session for the same out_trade_no.
		h.log.Warn("prepay answer not recorded", "key", rec.Key, "error", err.Error())
		out = rec
		out.Attrs = clone(rec.Attrs)
		for k, v := range set {
			out.Attrs[k] = v
		}
	}
	return out, true, nil
}

// upgrade turns the cashier placeholder into this create's payment, in place: same
// out_trade_no (it never reached WeChat Pay), this scene, this request's content and
// claim. The order's expiry stays the placeholder's.
func (h *Handler) upgrade(ctx context.Context, o *order, cur store.Record) (store.Record, string, error) {
	claim := newClaimID()
	set := map[string]string{
		payment.AttrScene: o.scene, payment.AttrAppID: o.appID, attrFP: o.fp, attrSignAppID: o.signAppID,
		attrDesc: o.description, attrClaim: stamp(time.Now().Add(h.lease)), attrClaimID: claim,
	}
	var remove []string
	if o.attach != "" {
		set[attrAttach] = o.attach
	} else {
		remove = append(remove, attrAttach)
	}
	if o.subAppID != "" {
		set[attrSubAppID] = o.subAppID
	} else {
		remove = append(remove, attrSubAppID)
	}
	rec, err := h.st.Update(ctx, cur.Key, store.Change{Set: set, Remove: remove}, store.Condition{Version: cur.Version})
	if errors.Is(err, store.ErrConditionFailed) {
		return store.Record{}, "", errRetry
	}
	if err != nil {
		return store.Record{}, "", fmt.Errorf("createorder: place cashier order %s as %s: %w", cur.Key, o.scene, err)
	}
	h.log.Info("cashier order placed", "order_id", o.orderID, "out_trade_no", cur.Attrs[payment.AttrOutTradeNo], "scene", o.scene)
	return rec, claim, nil
}

// release gives up a claim after a failed prepay, so a retry need not wait out the lease.
func (h *Handler) release(key, claim string) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_, err := h.st.Update(ctx, key, store.Change{Set: map[string]string{}, Remove: []string{attrClaim, attrClaimID}},
		store.Condition{Attrs: []store.AttrTest{store.AttrIn(attrClaimID, claim)}})
	if err != nil && !errors.Is(err, store.ErrConditionFailed) {
		h.log.Warn("claim not released; it expires with its lease", "key", key, "error", err.Error())
	}
}

func clone(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// reprice replaces the current attempt by a new one: the old attempt is closed (at
// WeChat Pay now when it is over 5 minutes old, else recorded for reconcile), attempt 1's
// pointer moves, and the new attempt is written with this request's claim.
func (h *Handler) reprice(ctx context.Context, o *order, first, cur store.Record) (store.Record, string, error) {
	n := attemptOf(cur) + 1
	if n > maxAttempts || len(attemptNo(o.orderID, n)) > 32 {
		return store.Record{}, "", fail(http.StatusConflict, "TOO_MANY_ATTEMPTS",
			fmt.Sprintf("order %s has been re-priced %d times; no out_trade_no is left within 32 characters", o.orderID, n-1),
			"use a new order_id (a shorter one leaves room for more attempts)")
	}
	// An earlier attempt paid (a payment that raced its close is kept for review)
	// means the order is paid: never re-priced.
	prev, err := h.previous(ctx, cur)
	if err != nil {
		return store.Record{}, "", err
	}
	for _, p := range prev {
		if st := p.Attrs[payment.AttrState]; isPaid(st) || st == payment.StateReview {
			return store.Record{}, "", fail(http.StatusConflict, wechatpay.CodeOrderPaid,
				fmt.Sprintf("order %s was paid under its earlier attempt %s (state %s); a paid order is never re-priced", o.orderID, p.Attrs[payment.AttrOutTradeNo], st),
				"look at GET /orders/{order_id}; refund the payment or settle the review by hand · 订单已支付，不能改价")
		}
	}
	switch err := h.retire(ctx, cur); {
	case errors.Is(err, errPaid):
		return store.Record{}, "", errRetry // judged again: paid → 409
	case err != nil:
		return store.Record{}, "", err
	}
	_, err = h.st.Update(ctx, first.Key, store.Change{Set: map[string]string{
		attrCurrent: strconv.Itoa(n), attrCurrentAt: stamp(time.Now())}},
		store.Condition{Attrs: []store.AttrTest{store.AttrIn(attrCurrent, first.Attrs[attrCurrent])}})
	if errors.Is(err, store.ErrConditionFailed) {
		return store.Record{}, "", errRetry
	}
	if err != nil {
		return store.Record{}, "", fmt.Errorf("createorder: move %s to attempt %d: %w", o.orderID, n, err)
	}
	h.log.Info("order re-priced", "order_id", o.orderID, "previous", cur.Attrs[payment.AttrOutTradeNo], "attempt", n,
		"amount", o.amount, "previous_amount", cur.Attrs[payment.AttrAmount])
	return h.newAttempt(ctx, o, n)
}

// previous reads the attempts before cur (none for attempt 1).
func (h *Handler) previous(ctx context.Context, cur store.Record) ([]store.Record, error) {
	var out []store.Record
	orderID, owner := cur.Attrs[payment.AttrOrderID], cur.Attrs[payment.AttrMchID]
	for i := 1; i < attemptOf(cur); i++ {
		rec, err := h.st.Get(ctx, payment.OrderKey(owner, attemptNo(orderID, i)))
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("createorder: read attempt %d of %s: %w", i, orderID, err)
		}
		out = append(out, rec)
	}
	return out, nil
}

// retire closes an unpaid attempt being replaced. Within WeChat Pay's first 5 minutes
// the close is recorded (ledger.RequestClose) and reconcile carries it out; a payment
// arriving meanwhile goes to REVIEW. errPaid when the attempt turned out paid.
func (h *Handler) retire(ctx context.Context, cur store.Record) error {
	if isClosed(cur) || cur.Attrs[payment.AttrCloseOwed] != "" {
		return nil
	}
	if isPaid(cur.Attrs[payment.AttrState]) || cur.Attrs[payment.AttrState] == payment.StateReview {
		return errPaid
	}
	created := payment.ParseStamp(cur.Attrs[payment.AttrCreatedAt])
	if h.now().Sub(created) < closeAfter {
		return h.deferClose(ctx, cur, created.Add(closeAfter))
	}
	if _, err := h.closeNow(ctx, cur); err != nil && !errors.Is(err, errDeferred) {
		return err
	}
	return nil
}

// deferClose records that an attempt must be closed at at.
func (h *Handler) deferClose(ctx context.Context, rec store.Record, at time.Time) error {
	res, err := h.ledger.RequestClose(ctx, rec.Key, at)
	if err != nil {
		return err
	}
	if res.Outcome == payment.Refused {
		if isClosed(res.Record) {
			return nil
		}
		return errPaid
	}
	return nil
}

// closeNow closes an attempt at WeChat Pay and records it closed. An attempt WeChat Pay
// says is paid is queried and the payment applied (errPaid).
func (h *Handler) closeNow(ctx context.Context, rec store.Record) (store.Record, error) {
	cl := h.clientFor(rec.Attrs[payment.AttrMchID], rec.Attrs[attrSubAppID])
	out := rec.Attrs[payment.AttrOutTradeNo]
	err := cl.Close(ctx, out)
	switch {
	case err == nil, wechatpay.IsCode(err, wechatpay.CodeOrderNotExist), wechatpay.IsCode(err, wechatpay.CodeOrderClosed):
		// ORDER_NOT_EXIST: the prepay never reached WeChat Pay; nothing can pay it.
	case wechatpay.IsCode(err, wechatpay.CodeOrderPaid):
		if _, qerr := h.settle(ctx, rec); qerr != nil {
			h.log.Warn("paid order could not be queried", "key", rec.Key, "error", qerr.Error())
		}
		return rec, errPaid
	case wechatpay.IsCode(err, "RULELIMIT"):
		// WeChat Pay's calendar says it is too early: defer like a young order.
		at := payment.ParseStamp(rec.Attrs[payment.AttrCreatedAt]).Add(closeAfter)
		if now := h.now(); !at.After(now) {
			at = now.Add(time.Minute)
		}
		if err := h.deferClose(ctx, rec, at); err != nil {
			return rec, err
		}
		return rec, errDeferred
	default:
		return rec, err
	}
	res, err := h.ledger.MarkClosed(ctx, rec.Key, source)
	if err != nil {
		return rec, err
	}
	if res.Outcome == payment.Refused {
		return res.Record, errPaid
	}
	return res.Record, nil
}

// settle asks WeChat Pay about an attempt and applies the answer through the ledger,
// as notify would have.
func (h *Handler) settle(ctx context.Context, rec store.Record) (store.Record, error) {
	cl := h.clientFor(rec.Attrs[payment.AttrMchID], rec.Attrs[attrSubAppID])
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	tx, err := cl.QueryByOutTradeNo(qctx, rec.Attrs[payment.AttrOutTradeNo])
	if err != nil {
		return rec, err
	}
	res, err := h.ledger.ApplyQueried(ctx, rec, tx, "query")
	if err != nil {
		return rec, err
	}
	if res.Record.Key == "" {
		return rec, nil
	}
	return res.Record, nil
}
