package payment

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Scene attempts.
//
// WeChat Pay binds an out_trade_no to the trade_type it was first placed under: a
// prepay of the same number in another scene is refused (OUT_TRADE_NO_USED, "商户订单号
// 重复"; WeChat Pay's answer in its developer community: "商户订单号不分支付场景,在一个商户号下
// 只能请求下单一次" — https://developers.weixin.qq.com/community/pay/doc/000aacd8efcce0951c2047f1c61000,
// and "同一个单号只能在一个场景下被支付" — …/doc/0008a43ed60858e4269dbd6c651000). So an order
// paid from the cashier page, which places the payment in the scene of the browser
// that opens it, needs one attempt per scene: a desktop's Native QR and a phone's H5
// cannot share one.
//
// It needs no more than one per scene, though. When the page switches scene, the
// attempt it leaves is parked rather than closed: its close is owed at its expiry
// (closeByScene), so a payment arriving on it is kept for REVIEW like any payment after
// a close was asked for, yet its prepay (a code_url or prepay_id lives 2 hours) can be
// answered again when the user switches back: Resume withdraws the parking and the
// pointer goes back to it (PointTo). A link holder alternating a desktop and a phone
// therefore costs one prepay per scene, not one per switch, and nothing is closed at
// WeChat Pay meanwhile. A real close (re-price, the merchant's close) supersedes a
// parking (RequestClose).
//
// At most one attempt of an order is payable without review: the current one. A switch
// parks the current attempt (a write that always changes its version), moves the
// pointer on attempt 1 (conditioned on the version read), and only then resumes the
// attempt it moved to, conditioned on that attempt's version as read before the
// pointer moved. Two switchers cannot both resume: only one pointer move succeeds from
// a given version of attempt 1, and a switcher that read the pointer after another's
// move parks that attempt (bumping its version) before moving on, which fails the
// other's resume. An attempt left parked while current (a crash, a lost resume) is
// resumed by the next create, through the same three steps.

// closeByScene marks a close owed because the cashier page switched to another scene:
// due at the attempt's expiry, withdrawn (Resume) when the page switches back.
const closeByScene = "scene"

// Parked reports whether o was left by a scene switch: still payable at WeChat Pay,
// but a payment on it now goes to REVIEW.
func (o *Order) Parked() bool {
	return o.Close != nil && o.Close.By == closeByScene && o.Unsettled() && !o.InReview()
}

// Park records that the cashier page left attempt key for another scene: a close owed
// at at (the attempt's expiry: WeChat Pay closes an unpaid order at its time_expire
// anyway). Every call writes, so that a Resume prepared before it fails. Refused when
// the attempt is paid, closed or in review; a real close asked for it stays (Duplicate).
func (l *Ledger) Park(ctx context.Context, key string, at time.Time) (Result, error) {
	return onOrder(l, ctx, key, nil, func(o *Order, exists bool) (step, error) {
		if !exists {
			return step{}, fmt.Errorf("payment: park %s: %w", key, ErrNotFound)
		}
		return park(o, at), nil
	})
}

// park decides a parking of attempt o (Park, ParkCombine).
func park(o *Order, at time.Time) step {
	switch {
	case !payable(o.State) || o.InReview() || o.Payment != nil:
		return step{outcome: Refused, reason: "the order is " + o.Status()}
	case o.Close != nil && o.Close.By != closeByScene:
		return step{outcome: Duplicate}
	}
	o.Close = &closeRequest{At: at, By: closeByScene}
	if o.Combine == nil && (o.NextCheck.IsZero() || at.Before(o.NextCheck)) {
		o.NextCheck = at // a sub-order has no schedule: its combine's is its
	}
	return step{outcome: Applied}
}

// Resume withdraws the parking of o — the attempt the pointer now names again — so a
// payment on it is the order's payment, conditioned on exactly the version o was read
// at (ErrRaced: another switch parked it again, or something else happened to it; read
// again and judge anew). An attempt that is not parked is returned as it is.
func (l *Ledger) Resume(ctx context.Context, o *Order) (*Order, error) {
	if o.Close == nil {
		return o, nil
	}
	if !o.Parked() {
		return nil, ErrRaced
	}
	return l.exactly(ctx, o, func(cur *Order) {
		cur.Close = nil
		if cur.Combine == nil {
			cur.NextCheck = NextCheck(cur.CreatedAt, cur.ExpiresAt, l.now())
		}
	})
}

// Combines paid through the cashier page switch scenes the same way (createorder's
// combine_scene.go): a combine attempt and its sub-orders are parked together
// (ParkCombine: the combine record, then each sub-order), the combine's pointer moves
// (PointCombine, conditioned on attempt 1 as read), then the attempt it moved to is
// resumed (ResumeCombine: the combine record, then each sub-order, each conditioned on
// the version read before the pointer moved), and the sub-orders' pointers follow
// (PointSubOrders). A payment lands on a sub-order, so the argument above holds per
// sub-order: a switcher that read the combine's pointer after another's move parks each
// sub-order of the attempt that move named after that other switcher read it, so each
// of the other's resumes either comes first (and is parked again) or fails. An attempt
// left partly parked while current is resumed by the next create.

// Parked reports whether combine attempt c was left by a scene switch (its sub-orders
// are parked with it): still payable at WeChat Pay, but a payment on it now goes to
// REVIEW.
func (c *Combine) Parked() bool {
	return c.Close != nil && c.Close.By == closeByScene && !c.Closed
}

// ParkCombine records that the cashier page left combine attempt c for another scene:
// the combine's close owed at at (its expiry), and each sub-order parked (Park). Every
// call writes the combine and each unpaid sub-order, so that a ResumeCombine prepared
// before it fails. Refused when the combine is closed, or a sub-order is paid, closed
// or in review; a real close asked for it stays (Duplicate). A sub-order the ledger
// already holds paid or in review refuses before anything is written: parking the
// others would send the rest of that payment's own notification to REVIEW. Only a
// payment landing while the sub-orders are parked finds some parked (a payment there
// goes to REVIEW, as on any parked attempt).
func (l *Ledger) ParkCombine(ctx context.Context, c *Combine, at time.Time) (*Combine, Outcome, error) {
	subs, err := l.SubOrders(ctx, c)
	if err != nil {
		return nil, "", err
	}
	for _, o := range subs {
		if o != nil && (o.Payment != nil || o.InReview()) {
			return c, Refused, nil
		}
	}
	cur, out, err := onCombine(l, ctx, c.Key(), nil, func(cur *Combine, exists bool) (step, error) {
		switch {
		case !exists:
			return step{}, fmt.Errorf("payment: park %s: %w", c.Key(), ErrNotFound)
		case cur.Closed:
			return step{outcome: Refused, reason: "the combine is closed"}, nil
		case cur.Close != nil && !cur.Parked():
			return step{outcome: Duplicate}, nil
		}
		cur.Close = &closeRequest{At: at, By: closeByScene}
		if cur.NextCheck.IsZero() || at.Before(cur.NextCheck) {
			cur.NextCheck = at
		}
		cur.Settled = false
		return step{outcome: Applied}, nil
	})
	if err != nil || out != Applied {
		return cur, out, err
	}
	for _, s := range cur.SubOrders {
		res, err := onOrder(l, ctx, OrderKey(s.SubMchID, s.OutTradeNo), nil, func(o *Order, exists bool) (step, error) {
			if !exists || !ownedBy(o, cur) {
				return step{outcome: Duplicate}, nil // never written: nothing can pay it
			}
			return park(o, at), nil
		})
		switch {
		case err != nil:
			return cur, out, err
		case res.Outcome == Refused && !res.Order.Closed():
			return cur, Refused, nil
		}
	}
	return cur, out, nil
}

// ResumeCombine withdraws the parking of combine attempt c — the attempt the pointer
// now names again — and of each of its sub-orders subs (as read with c), each
// conditioned on exactly the version it was read at (ErrRaced: another switch parked it
// again, or something else happened to it; read again and judge anew). Records that
// are not parked are left as they are.
func (l *Ledger) ResumeCombine(ctx context.Context, c *Combine, subs []*Order) (*Combine, error) {
	switch {
	case c.Close == nil:
	case !c.Parked():
		return nil, ErrRaced
	default:
		var err error
		c, err = l.exactlyCombine(ctx, c, func(cur *Combine) {
			cur.Close = nil
			cur.NextCheck = NextCheck(cur.CreatedAt, cur.ExpiresAt, l.now())
		})
		if err != nil {
			return nil, err
		}
	}
	for _, o := range subs {
		if o == nil || !ownedBy(o, c) {
			continue
		}
		if _, err := l.Resume(ctx, o); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// CombinePrevious fills h.Previous: the combine's attempts other than the current one,
// oldest first (one read each after the first) — those before it, and those after it
// when the pointer went back (NewestAttempt). Attempts that are not this combine's are
// left out.
func (l *Ledger) CombinePrevious(ctx context.Context, h *CombineHistory) error {
	h.Previous = nil
	cur := max(h.Current.Attempt, 1)
	for n := 1; n <= max(h.First.NewestAttempt(), cur); n++ {
		switch {
		case n == cur:
			continue
		case n == 1:
			h.Previous = append(h.Previous, h.First)
			continue
		}
		c, err := l.CombineAttempt(ctx, h.First.Owner, AttemptNo(h.First.OrderID, n))
		switch {
		case errors.Is(err, ErrNotFound):
			continue
		case err != nil:
			return err
		case c.OrderID != h.First.OrderID || c.Attempt != n:
			continue
		}
		h.Previous = append(h.Previous, c)
	}
	return nil
}
