package payment

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/paysls/wxpay/shared/wechatpay"
)

// sourceNumberTaken is the source of an attempt closed because WeChat Pay refused to
// create it: its out_trade_no is another order's there (OUT_TRADE_NO_USED).
const sourceNumberTaken = "refused:OUT_TRADE_NO_USED"

// Discard closes attempt key that WeChat Pay refused to create because its out_trade_no
// is another order's there (OUT_TRADE_NO_USED: on a platform, numbers are unique across
// its sub-merchants, and the ledger keys orders per sub-merchant). The merchant was
// answered that refusal; WeChat Pay holds no such order, so nothing can pay it; and no
// event announces it: an order.closed would name a number another order holds, and a
// merchant keyed on it would close that one. Refused (nothing written) for an attempt
// that was ever answered with pay parameters, paid, or in review.
func (l *Ledger) Discard(ctx context.Context, key string) (Result, error) {
	return onOrder(l, ctx, key, nil, func(o *Order, exists bool) (step, error) {
		if !exists {
			return step{}, fmt.Errorf("payment: discard %s: %w", key, ErrNotFound)
		}
		return discard(o), nil
	})
}

func discard(o *Order) step {
	switch {
	case o.Closed():
		return step{outcome: Duplicate}
	case !payable(o.State) || o.InReview() || o.Payment != nil || o.Claim.Answer.Any():
		return step{outcome: Refused, reason: "the order is " + o.Status() + " or was placed"}
	}
	o.State, o.Source, o.Close, o.NextCheck = wechatpay.TradeStateClosed, sourceNumberTaken, nil, time.Time{}
	return step{outcome: Applied}
}

// DiscardCombine is Discard for a combine attempt WeChat Pay refused to create because a
// sub-order's out_trade_no is another order's there: each sub-order it wrote, then the
// combine, closed without events. Refused when the combine was ever answered.
func (l *Ledger) DiscardCombine(ctx context.Context, c *Combine) (*Combine, Outcome, error) {
	if c.Placed() {
		return c, Refused, nil
	}
	err := each(len(c.SubOrders), func(i int) error {
		s := c.SubOrders[i]
		o, err := l.Attempt(ctx, s.SubMchID, s.OutTradeNo)
		switch {
		case errors.Is(err, ErrNotFound):
			return nil // not written
		case err != nil:
			return err
		case !ownedBy(o, c):
			return nil // another order's: not this attempt's to close
		}
		rec := o.raw
		_, err = onOrder(l, ctx, o.Key(), &rec, func(o *Order, exists bool) (step, error) {
			if !exists || !ownedBy(o, c) {
				return step{outcome: Duplicate}, nil
			}
			return discard(o), nil
		})
		return err
	})
	if err != nil {
		return nil, "", err
	}
	return onCombine(l, ctx, c.Key(), nil, func(cur *Combine, exists bool) (step, error) {
		switch {
		case !exists || cur.Closed:
			return step{outcome: Duplicate}, nil
		case cur.Placed():
			return step{outcome: Refused, reason: "the combine was placed"}, nil
		}
		cur.Closed, cur.NextCheck, cur.Close = true, time.Time{}, nil
		return step{outcome: Applied}, nil
	})
}
