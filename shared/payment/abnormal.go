package payment

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/paysls/wxpay/shared/events"
	"github.com/paysls/wxpay/shared/store"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// ABNORMAL refunds: the bank refused to credit the refund (the user's card was cancelled
// or frozen). WeChat Pay keeps it ABNORMAL until the merchant sends it again with
// 异常退款 (apply-abnormal-refund, to the user's or the merchant's bank card), after which
// it is PROCESSING and ends like any refund. Nothing but a person can do that, so an
// ABNORMAL refund waits in a passive listing of its own — placed there by the refund's
// own write, like indexReview — where the console finds every one without a scan.

// indexAbnormalRefunds is the passive listing of refunds in ABNORMAL (not in review:
// a refund in review waits in indexReview and is found there).
const indexAbnormalRefunds = listPrefix + "abnormal_refunds"

// ErrNotAbnormal refuses a reissue of a refund that is not ABNORMAL (any more).
var ErrNotAbnormal = errors.New("payment: the refund is not ABNORMAL")

// Reissue is one 异常退款 of a refund: who sent it where, and when WeChat Pay took it.
// The card number and the holder's name are never recorded.
type Reissue struct {
	By   string    `json:"by"`
	Type string    `json:"type"` // wechatpay.AbnormalRefundUserBankCard or …MerchantBankCard
	Bank string    `json:"bank_type,omitempty"`
	At   time.Time `json:"at"`
}

// abnormalSchedule is where an ABNORMAL refund waits (Refund.schedule): in its
// listing, at the time it was last written (when it turned ABNORMAL).
func (r *Refund) abnormalSchedule() (string, time.Time) {
	return indexAbnormalRefunds, r.UpdatedAt
}

// Reissued records that WeChat Pay accepted a 异常退款 of r (ABNORMAL): the refund is
// PROCESSING again and queried by reconcile, its order's line follows (SyncRefund, no
// merchant event: the result that ends it announces itself), and the reissue is kept
// on the refund with who sent it. Call it after WeChat Pay answered: an ABNORMAL refund
// that was never reissued must not look PROCESSING. A refund that left ABNORMAL since
// (a result arrived) is ErrNotAbnormal; nothing is written.
func (l *Ledger) Reissued(ctx context.Context, r *Refund, re Reissue) (*Refund, error) {
	if strings.TrimSpace(re.By) == "" {
		return nil, invalid("a reissue names who sent it")
	}
	now := l.now()
	re.At = now
	raw := r.raw
	res, err := onRefund(l, ctx, r.Key(), &raw, func(cur *Refund, exists bool) (step, error) {
		if !exists {
			return step{}, fmt.Errorf("payment: reissue %s: %w", r.Key(), ErrNotFound)
		}
		if cur.State != wechatpay.RefundStatusAbnormal {
			return step{}, fmt.Errorf("%w (it is %s)", ErrNotAbnormal, cur.Status())
		}
		cur.State, cur.Source, cur.SyncOwed = wechatpay.RefundStatusProcessing, "abnormal_refund", true
		cur.NextCheck = now.Add(time.Minute)
		cur.Reissues = append(cur.Reissues, re)
		return step{outcome: Applied}, nil
	})
	if err != nil {
		return nil, err
	}
	synced, err := l.SyncRefund(ctx, res.Refund)
	if err != nil {
		// Recorded and scheduled: reconcile writes the order's side (SyncOwed).
		l.log().Warn("abnormal refund reissued; its order's line is left to reconcile", "key", r.Key(), "error", err.Error())
		return res.Refund, nil
	}
	if synced.Refund != nil {
		return synced.Refund, nil
	}
	return res.Refund, nil
}

// AbnormalRefunds calls fn for every refund in ABNORMAL, longest waiting first. It
// reads only the listing (and the outbox entries whose schedule it is), never the
// table: its cost grows with the ABNORMAL refunds.
func (l *Ledger) AbnormalRefunds(ctx context.Context, fn func(*Refund) error) error {
	for _, index := range []string{indexAbnormalRefunds, events.IndexOutbox} {
		opts := store.ListOptions{Limit: store.MaxListLimit}
		for {
			page, err := l.Store.ListPending(ctx, index, opts)
			if err != nil {
				return fmt.Errorf("payment: list %s: %w", index, err)
			}
			for _, rec := range page.Records {
				if rec.Attrs[events.AttrSchedIndex] != indexAbnormalRefunds {
					continue
				}
				r, err := RefundOf(rec)
				if err != nil {
					return err
				}
				if r.State != wechatpay.RefundStatusAbnormal || r.InReview() {
					continue
				}
				if err := fn(r); err != nil {
					return err
				}
			}
			if page.Cursor == "" {
				break
			}
			opts.Cursor = page.Cursor
		}
	}
	return nil
}
