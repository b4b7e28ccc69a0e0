package createorder

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/paysls/wxpay/shared/payment"
)

// The cashier page's scenes. An order made with scene "cashier" is placed by the page in
// the scene of each browser that opens its link: Native on a desktop, H5 in a phone
// browser, JSAPI inside WeChat. WeChat Pay binds an out_trade_no to one trade_type, so
// each scene needs an attempt of its own (payment/scene.go cites the docs) — but one
// per scene is enough, and a link anyone can hold (a poster) must not be able to burn
// the order's 99 attempts, with a prepay and a deferred close at WeChat Pay each, by
// alternating a desktop and a phone.
//
// So a change of scene parks the attempt it leaves instead of closing it (its close is
// owed at its expiry; a payment on it meanwhile is kept for REVIEW, like a payment after
// any close was asked for), and a change back finds the scene's attempt, resumes it and
// answers its live prepay — native code_url and JSAPI prepay_id live 2 hours; an
// h5_url older than 5 minutes is asked for again under the same out_trade_no. An order
// has at most one attempt per scene (and per JSAPI payer: another payer's attempt in
// the same scene is parked like another scene's, see replaces), only the current attempt
// can be paid without review, and nothing is closed at WeChat Pay while the users switch. Re-pricing, the
// merchant's close and the order's payment close the parked attempts (retireParked).

// switchScene serves a create from the cashier page that the current attempt does not
// hold — another scene or payer, or the current attempt is parked (a switch that did not
// finish): it switches to the attempt that holds the payment asked for, or makes one.
func (h *Handler) switchScene(ctx context.Context, o *order, hist *payment.History) (*payment.Order, string, error) {
	if err := h.ledger.Previous(ctx, hist); err != nil {
		return nil, "", err
	}
	// An attempt replaced for real — its close asked by the merchant or a re-price and
	// not carried out yet — may be paid with its notification late: asked first, as a
	// re-price asks. Parked attempts are not: they are payable by design while the user
	// switches devices (a payment on one is kept for REVIEW), and asking each of them on
	// every switch would let a link holder flood WeChat Pay's order query. Nor is attempt
	// 1, whose record holds the pointer the switch moves: recording an answer there
	// mid-switch raced concurrent switches (DST seed 218318221).
	if err := h.askReplaced(ctx, hist, func(p *payment.Order) bool { return p.Parked() || p.Attempt <= 1 }); err != nil {
		return nil, "", err
	}
	first, cur := hist.First, hist.Current
	if err := paidUnder(o.orderID, hist.Previous); err != nil {
		return nil, "", err
	}
	// The pointer moves from the attempt attempt 1 names (see reprice).
	from := max(cur.Attempt, first.Current)
	now := h.now()
	if holds(cur, o, now) {
		return h.switchTo(ctx, o, first, cur, from, cur)
	}
	for _, p := range slices.Backward(hist.Previous) {
		if holds(p, o, now) {
			return h.switchTo(ctx, o, first, cur, from, p)
		}
	}
	return h.switchNew(ctx, o, hist, from)
}

// holds reports whether attempt p holds the payment o asks for: its scene and content,
// unpaid, not closed or asked to close for real, not expired.
func holds(p *payment.Order, o *order, now time.Time) bool {
	return p.Scene == o.scene && p.Claim.PayloadHash == o.fp && p.Amount == o.amount && p.Payment == nil &&
		p.Unsettled() && !p.InReview() && (p.Close == nil || p.Parked()) &&
		(p.ExpiresAt.IsZero() || now.Before(p.ExpiresAt))
}

// switchTo makes target — an attempt holding the scene's payment, parked or the current
// one left parked — the current, payable attempt, in the order payment/scene.go
// explains: park the current attempt, move the pointer (conditioned on attempt 1 as
// read), resume target (conditioned on target as read before the pointer moved). Then
// the create is judged anew on target: its live answer is the answer, or it is placed
// again under its own out_trade_no.
func (h *Handler) switchTo(ctx context.Context, o *order, first, cur *payment.Order, from int, target *payment.Order) (*payment.Order, string, error) {
	if target.Key() != cur.Key() {
		if target.Claim.Live(h.now()) {
			return nil, "", errWait
		}
		left, err := h.park(ctx, cur)
		if errors.Is(err, errPaid) {
			return nil, "", errRetry // paid meanwhile: judged again, the answer is 409 ORDERPAID
		}
		if err != nil {
			return nil, "", err
		}
		if left != nil && left.Key() == first.Key() {
			first = left
		}
	}
	moved, err := h.ledger.PointTo(ctx, first, from, max(target.Attempt, 1))
	if errors.Is(err, payment.ErrRaced) {
		return nil, "", errRetry
	}
	if err != nil {
		return nil, "", fmt.Errorf("createorder: move %s to attempt %s: %w", o.orderID, target.OutTradeNo, err)
	}
	if target.Key() == first.Key() {
		target = moved
	}
	if _, err := h.ledger.Resume(ctx, target); err != nil && !errors.Is(err, payment.ErrRaced) {
		return nil, "", fmt.Errorf("createorder: resume %s: %w", target.OutTradeNo, err)
	}
	if target.Key() != cur.Key() {
		h.log.Info("cashier order back on a scene's live payment", "order_id", o.orderID, "out_trade_no", target.OutTradeNo,
			"scene", o.scene, "left", cur.OutTradeNo)
	}
	return nil, "", errRetry
}

// replaces reports whether a new attempt for o replaces attempt a — a's payment is no
// longer wanted, so its close is asked for — rather than leaving it parked: a is of o's
// scene and, inside WeChat, of o's payer. A JSAPI prepay belongs to the openid it was
// placed for (payer.openid, JSAPI下单), so another payer's attempt is parked, not
// closed: each payer who comes back to the link (a shop's QR code opened by several
// people, two of them taking turns) is answered its own live prepay instead of burning
// one of the order's 99 attempts per turn. Within one cashier order the content is the
// order's, so a JSAPI attempt whose fingerprint differs from o's is another payer's.
func replaces(a *payment.Order, o *order) bool {
	if a.Scene != o.scene {
		return false
	}
	return o.scene != SceneJSAPI || a.Claim.PayloadHash == o.fp
}

// switchNew makes a new attempt for the scene (no attempt holds it yet, or its holder
// expired or closed): reserved with this request's claim, the current attempt parked
// (or closed, when this one replaces it: replaces), the pointer moved. Another attempt of
// this scene (and payer) still parked is replaced: its close is asked for.
func (h *Handler) switchNew(ctx context.Context, o *order, hist *payment.History, from int) (*payment.Order, string, error) {
	first, cur := hist.First, hist.Current
	n := first.NewestAttempt() + 1
	if n > maxAttempts || len(payment.AttemptNo(o.orderID, n)) > 32 {
		return nil, "", fail(http.StatusConflict, "TOO_MANY_ATTEMPTS",
			fmt.Sprintf("order %s has used its %d attempts; no out_trade_no is left within 32 characters", o.orderID, n-1),
			"use a new order_id (a shorter one leaves room for more attempts)")
	}
	leave := func(ctx context.Context, a *payment.Order) (*payment.Order, error) {
		if replaces(a, o) {
			return h.retire(ctx, a)
		}
		return h.park(ctx, a)
	}
	rec, claim, err := h.newAttempt(ctx, o, n)
	if errors.Is(err, errRetry) {
		return h.takeOver(ctx, o, first, cur, from, n, leave)
	}
	if err != nil {
		return nil, "", err
	}
	left, err := leave(ctx, cur)
	if err != nil {
		h.release(rec, claim)
		if errors.Is(err, errPaid) {
			return nil, "", errRetry // judged again: paid → 409
		}
		return nil, "", err
	}
	if left != nil && left.Key() == first.Key() {
		first = left
	}
	if _, err := h.ledger.PointTo(ctx, first, from, n); err != nil {
		h.release(rec, claim)
		if errors.Is(err, payment.ErrRaced) {
			return nil, "", errRetry
		}
		return nil, "", fmt.Errorf("createorder: move %s to attempt %d: %w", o.orderID, n, err)
	}
	var sameScene []*payment.Order
	for _, p := range hist.Previous {
		if replaces(p, o) {
			sameScene = append(sameScene, p)
		}
	}
	h.retireParked(ctx, sameScene)
	h.log.Info("cashier order placed in another scene", "order_id", o.orderID, "out_trade_no", rec.OutTradeNo,
		"scene", o.scene, "left", cur.OutTradeNo)
	return rec, claim, nil
}

// park records that the cashier page left attempt a for another scene: payable at
// WeChat Pay until its close, owed at its expiry, and resumed if the page comes back.
// errPaid when it turned out paid (or in review) meanwhile.
func (h *Handler) park(ctx context.Context, a *payment.Order) (*payment.Order, error) {
	at := a.ExpiresAt
	if at.IsZero() {
		at = a.CreatedAt.Add(prepayIDLife)
	}
	res, err := h.ledger.Park(ctx, a.Key(), at)
	if err != nil {
		return nil, err
	}
	if res.Outcome == payment.Refused {
		if res.Order != nil && res.Order.Closed() {
			return res.Order, nil // nothing there can be paid
		}
		return res.Order, errPaid
	}
	return res.Order, nil
}

// retireParked asks for the close of the parked attempts among attempts: their scene's
// payment is replaced (a re-price, another attempt of the scene) or no longer wanted
// (the order is paid or closed). WeChat Pay's 5-minute rule applies as to any close;
// reconcile carries them out. Best effort: a parked attempt's payment is kept for
// REVIEW whatever happens here, and its close is owed at its expiry anyway.
func (h *Handler) retireParked(ctx context.Context, attempts []*payment.Order) {
	for _, p := range attempts {
		if !p.Parked() {
			continue
		}
		if _, err := h.deferClose(ctx, p, p.CreatedAt.Add(closeAfter), "reprice"); err != nil && !errors.Is(err, errPaid) {
			h.log.Warn("parked attempt's close not requested; it is owed at its expiry", "key", p.Key(), "error", err.Error())
		}
	}
}
