package createorder

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// The cashier page's scenes for a combine (合单). A combine made with scene "cashier" is
// placed by the page in the scene of each browser that opens its link, like a single
// order (scene.go), and WeChat Pay binds a combine_out_trade_no — and each sub-order's
// out_trade_no — to the scene it was first placed under, so each scene needs a combine
// attempt of its own: a new combine number and new sub-order numbers. One per scene is
// enough. A change of scene parks the combine attempt it leaves and its sub-orders
// (payment.ParkCombine: the close owed at its expiry; a payment on a sub-order
// meanwhile is kept for REVIEW), a change back resumes it — the combine's pointer and
// its sub-orders' pointers moved back (PointCombine, PointSubOrders), the live prepay
// answered again, an h5_url older than 5 minutes asked for again under the same
// combine number. Only the current attempt's sub-orders can be paid without review.
// Re-pricing, the merchant's close and a settled combine close the parked attempts.
// Reservations are never removed (combine.go): a switch that finds the next attempt
// reserved but not pointed to finishes the move itself once its creator's claim has
// lapsed (takeOverCombine), parking rather than retiring the attempt it leaves.

// combineAttempt is an attempt of a combine with its sub-orders as read.
type combineAttempt struct {
	c    *payment.Combine
	subs []*payment.Order
}

// combineParked reports whether combine attempt c or one of its sub-orders was left
// parked: a switch away, or a switch back that did not finish.
func combineParked(c *payment.Combine, subs []*payment.Order) bool {
	if c.Parked() {
		return true
	}
	for _, o := range subs {
		if o != nil && o.Parked() {
			return true
		}
	}
	return false
}

// paidSub is a sub-order among subs that is paid or in review (nil: none).
func paidSub(subs []*payment.Order) *payment.Order {
	for _, o := range subs {
		if o != nil && (o.Paid() || o.InReview()) {
			return o
		}
	}
	return nil
}

// previousCombines reads the combine's attempts other than its current one, with
// their sub-orders; nothing for a combine that never had another attempt.
func (h *Handler) previousCombines(ctx context.Context, hist *payment.CombineHistory) ([]combineAttempt, error) {
	if hist.First.NewestAttempt() <= 1 && hist.Current.Attempt <= 1 {
		return nil, nil
	}
	if err := h.ledger.CombinePrevious(ctx, hist); err != nil {
		return nil, fmt.Errorf("createorder: read the attempts of combine %s: %w", hist.First.OrderID, err)
	}
	out := make([]combineAttempt, len(hist.Previous))
	for i, p := range hist.Previous {
		subs, err := h.ledger.SubOrders(ctx, p)
		if err != nil {
			return nil, err
		}
		out[i] = combineAttempt{p, subs}
	}
	return out, nil
}

// paidEarlier refuses a create of a combine paid (or in review) under another attempt.
func paidEarlier(orderID string, prev []combineAttempt) error {
	for _, p := range prev {
		if o := paidSub(p.subs); o != nil {
			return fail(http.StatusConflict, wechatpay.CodeOrderPaid,
				fmt.Sprintf("combine %s was paid under its attempt %s (sub-order %s is %s)", orderID, p.c.CombineNo, o.OutTradeNo, o.Status()),
				"look at GET /orders/{order_id}; refund the sub-orders or settle the review by hand · 合单已支付")
		}
	}
	return nil
}

// switchCombine serves a create from the cashier page that the current combine attempt
// does not hold — another scene or payer, or the current attempt is parked (a switch
// that did not finish): it switches to the attempt that holds the payment asked for,
// or makes one.
func (h *Handler) switchCombine(ctx context.Context, co *combineOrder, hist *payment.CombineHistory, subs []*payment.Order) (*payment.Combine, string, []*payment.Order, error) {
	prev, err := h.previousCombines(ctx, hist)
	if err != nil {
		return nil, "", nil, err
	}
	if err := paidEarlier(co.orderID, prev); err != nil {
		return nil, "", nil, err
	}
	first, cur := hist.First, combineAttempt{hist.Current, subs}
	// The pointer moves from the attempt attempt 1 names (see repriceCombine).
	from := max(cur.c.Attempt, first.Current)
	now := h.now()
	if holdsCombine(cur, co, now) {
		return nil, "", nil, h.switchCombineTo(ctx, co, first, cur, from, cur)
	}
	for i := len(prev) - 1; i >= 0; i-- {
		if holdsCombine(prev[i], co, now) {
			return nil, "", nil, h.switchCombineTo(ctx, co, first, cur, from, prev[i])
		}
	}
	return h.switchCombineNew(ctx, co, first, cur, prev, from)
}

// holdsCombine reports whether attempt a holds the payment co asks for: its scene and
// content, not closed nor asked to close for real, not expired, every sub-order written
// and payable (or parked).
func holdsCombine(a combineAttempt, co *combineOrder, now time.Time) bool {
	c := a.c
	if c.Scene != co.scene || c.Claim.PayloadHash != co.fp || c.Total() != co.amount || c.Closed || (c.Close != nil && !c.Parked()) ||
		(!c.ExpiresAt.IsZero() && !now.Before(c.ExpiresAt)) {
		return false
	}
	for _, o := range a.subs {
		if o == nil || o.Payment != nil || !o.Unsettled() || o.InReview() || (o.Close != nil && !o.Parked()) {
			return false
		}
	}
	return true
}

// switchCombineTo makes target — an attempt holding the scene's payment, parked or the
// current one left parked — the current, payable attempt, in the order payment/scene.go
// explains: park the current attempt and its sub-orders, move the combine's pointer
// (conditioned on attempt 1 as read), resume target and its sub-orders (each
// conditioned on the version read before the pointer moved), move the sub-orders'
// pointers. Then the create is judged anew on target (errRetry): its live answer is the
// answer, or it is placed again under its own combine number.
func (h *Handler) switchCombineTo(ctx context.Context, co *combineOrder, first *payment.Combine, cur combineAttempt, from int, target combineAttempt) error {
	if target.c.Key() != cur.c.Key() {
		if target.c.Claim.Live(h.now()) {
			return errWait
		}
		left, err := h.parkCombine(ctx, cur.c)
		if errors.Is(err, errPaid) {
			return errRetry // judged again: paid → 409
		}
		if err != nil {
			return err
		}
		if left != nil && left.Key() == first.Key() {
			first = left
		}
	}
	moved, err := h.ledger.PointCombine(ctx, first, from, target.c.Attempt)
	if errors.Is(err, payment.ErrRaced) {
		return errRetry
	}
	if err != nil {
		return fmt.Errorf("createorder: move combine %s to attempt %s: %w", co.orderID, target.c.CombineNo, err)
	}
	if target.c.Key() == first.Key() {
		target.c = moved
	}
	if _, err := h.ledger.ResumeCombine(ctx, target.c, target.subs); err != nil && !errors.Is(err, payment.ErrRaced) {
		return fmt.Errorf("createorder: resume combine %s: %w", target.c.CombineNo, err)
	}
	if err := h.ledger.PointSubOrders(ctx, target.c); err != nil {
		h.log.Warn("sub-order pointers not moved yet", "order_id", co.orderID, "attempt", target.c.Attempt, "error", err.Error())
	}
	if target.c.Key() != cur.c.Key() {
		h.log.Info("cashier combine back on a scene's live payment", "order_id", co.orderID, "combine_out_trade_no", target.c.CombineNo,
			"scene", co.scene, "left", cur.c.CombineNo)
	}
	return errRetry
}

// switchCombineNew makes a new combine attempt for the scene (no attempt holds it yet,
// or its holder expired or closed): reserved with this request's claim (PlaceCombine),
// the current attempt parked (or retired, when it is this scene's and payer's:
// replacesCombine), the combine's pointer moved, then its sub-orders'. Another attempt of
// this scene and payer still parked is replaced: its close is asked for.
func (h *Handler) switchCombineNew(ctx context.Context, co *combineOrder, first *payment.Combine, cur combineAttempt, prev []combineAttempt, from int) (*payment.Combine, string, []*payment.Order, error) {
	n := first.NewestAttempt() + 1
	if e := h.attemptsLeft(co, n); e != nil {
		return nil, "", nil, e
	}
	leave := func(ctx context.Context, c *payment.Combine, subs []*payment.Order) (*payment.Combine, error) {
		if replacesCombine(c, co) {
			left, err := h.retireCombine(ctx, c, subs, "reprice")
			if errors.Is(err, errDeferred) {
				err = nil
			}
			return left, err
		}
		return h.parkCombine(ctx, c)
	}
	c, claim, newSubs, err := h.newCombine(ctx, co, n)
	if errors.Is(err, errRetry) {
		return nil, "", nil, h.takeOverCombine(ctx, co, first, cur.c, cur.subs, from, n, leave)
	}
	if err != nil {
		return nil, "", nil, err
	}
	left, err := leave(ctx, cur.c, cur.subs)
	if err != nil {
		h.releaseCombine(c, claim)
		if errors.Is(err, errPaid) {
			return nil, "", nil, errRetry // judged again: paid → 409
		}
		return nil, "", nil, err
	}
	if left != nil && left.Key() == first.Key() {
		first = left
	}
	if _, err := h.ledger.PointCombine(ctx, first, from, n); err != nil {
		h.releaseCombine(c, claim)
		if errors.Is(err, payment.ErrRaced) {
			return nil, "", nil, errRetry
		}
		return nil, "", nil, fmt.Errorf("createorder: move combine %s to attempt %d: %w", co.orderID, n, err)
	}
	if err := h.ledger.PointSubOrders(ctx, c); err != nil {
		h.log.Warn("sub-order pointers not moved yet", "order_id", co.orderID, "attempt", n, "error", err.Error())
	}
	var sameScene []*payment.Combine
	for _, p := range prev {
		if replacesCombine(p.c, co) {
			sameScene = append(sameScene, p.c)
		}
	}
	h.retireParkedCombines(ctx, sameScene)
	h.log.Info("cashier combine placed in another scene", "order_id", co.orderID, "combine_out_trade_no", c.CombineNo,
		"scene", co.scene, "left", cur.c.CombineNo)
	return c, claim, newSubs, nil
}

// replacesCombine is replaces (scene.go) for a combine attempt: another JSAPI payer's
// attempt is parked for that payer, not closed.
func replacesCombine(c *payment.Combine, co *combineOrder) bool {
	if c.Scene != co.scene {
		return false
	}
	return co.scene != SceneJSAPI || c.Claim.PayloadHash == co.fp
}

// attemptsLeft refuses attempt n of a combine when its combine number or a sub-order's
// number would not fit WeChat Pay's 32 characters (or the attempts are used up).
func (h *Handler) attemptsLeft(co *combineOrder, n int) error {
	tooLong := n > maxAttempts || len(payment.AttemptNo(co.orderID, n)) > 32
	for _, s := range co.subs {
		tooLong = tooLong || len(payment.AttemptNo(s.OrderID, n)) > 32
	}
	if tooLong {
		return fail(http.StatusConflict, "TOO_MANY_ATTEMPTS",
			fmt.Sprintf("combine %s has used its %d attempts; no number is left within 32 characters", co.orderID, n-1),
			"use a new order_id (shorter ids leave room for more attempts)")
	}
	return nil
}

// parkCombine records that the cashier page left combine attempt c for another scene:
// payable at WeChat Pay until its close, owed at its expiry, and resumed if the page
// comes back. errPaid when a sub-order turned out paid (or in review) meanwhile.
func (h *Handler) parkCombine(ctx context.Context, c *payment.Combine) (*payment.Combine, error) {
	at := c.ExpiresAt
	if at.IsZero() {
		at = c.CreatedAt.Add(prepayIDLife)
	}
	parked, out, err := h.ledger.ParkCombine(ctx, c, at)
	if err != nil {
		return nil, err
	}
	if out == payment.Refused && !parked.Closed {
		return parked, errPaid
	}
	return parked, nil
}

// retireParkedCombines asks for the close of the parked combine attempts among
// attempts, as retireParked does for single orders: their scene's payment is replaced
// or no longer wanted. Best effort: a payment on one is kept for REVIEW whatever
// happens here, and its close is owed at its expiry anyway.
func (h *Handler) retireParkedCombines(ctx context.Context, attempts []*payment.Combine) {
	for _, p := range attempts {
		if !p.Parked() {
			continue
		}
		if _, err := h.deferCombineClose(ctx, p, p.CreatedAt.Add(closeAfter), "reprice"); err != nil && !errors.Is(err, errPaid) {
			h.log.Warn("parked combine's close not requested; it is owed at its expiry", "key", p.Key(), "error", err.Error())
		}
	}
}

func combinesOf(as []combineAttempt) []*payment.Combine {
	out := make([]*payment.Combine, len(as))
	for i, a := range as {
		out[i] = a.c
	}
	return out
}
