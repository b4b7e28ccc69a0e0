package payment

// Advanced e-commerce refunds (垫付退款). A platform may refund a sub-merchant's order
// from its own account when the sub-merchant's refund balance is short, asking the
// e-commerce refund API with refund_account REFUND_SOURCE_PARTNER_ADVANCE, and later
// takes the money back from the sub-merchant (垫付退款回补, POST
// /v3/ecommerce/refunds/{refund_id}/return-advance): "当二级商户退款账户余额不足时,可发起
// 垫付退款,从电商平台指定账户垫付退款资金。当二级商户退款账户余额充足时,可把退款垫付的资金
// 回补到电商平台账户" (申请退款API, pay.weixin.qq.com/wiki/doc/apiv3_partner/apis/
// chapter7_6_1.shtml).
//
// How the bundle handles it: a refund asked for with an advance carries an Advance
// from its first record. Once the refund has SUCCEEDED the refund sits in the
// PendingAdvanceReturns schedule, and reconcile asks for the return. Its answer is
// recorded here: SUCCESS ends it; PROCESSING (WeChat Pay retries the sub-merchant's
// account for up to 90 days) is queried again daily; FAILED ("回补失败,系统不再重试,
// 商户也无法重试", 垫付退款回补, pay.weixin.qq.com/docs/partner/apis/ecommerce-refund/
// refunds/create-return-advance.html) puts the refund in REVIEW — the platform has lost
// the advance and a person must settle it with the sub-merchant. A refund WeChat Pay did
// not advance after all (the sub-merchant paid it: "必须是垫付退款的微信退款单" refuses
// the return) is marked NONE. A refund that never succeeded advanced nothing. None of
// this changes what the buyer got back, so the order's money and events are untouched:
// the return is the platform's business with its sub-merchant.

import (
	"context"
	"fmt"
	"time"

	"github.com/paysls/wxpay/shared/events"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// PendingAdvanceReturns schedules refunds whose advance is to be returned (or whose
// return is PROCESSING).
const PendingAdvanceReturns = "advance_returns"

// causeAdvanceReturnFailed: the return of a refund's advance failed for good.
const causeAdvanceReturnFailed CauseKind = "advance_return_failed"

// Advance states beyond WeChat Pay's return results (SUCCESS, PROCESSING, FAILED).
const (
	// AdvanceOwed: asked for with the refund; its return is due once the refund succeeds.
	AdvanceOwed = ""
	// AdvanceNone: WeChat Pay did not advance the refund (the sub-merchant paid it).
	AdvanceNone = "NONE"
)

// Advance is a refund's advance by the platform and the return of it.
type Advance struct {
	// State is AdvanceOwed, the return's result (PROCESSING, SUCCESS, FAILED), or
	// AdvanceNone.
	State       string    `json:"state,omitempty"`
	Amount      int64     `json:"return_amount,omitempty"`
	ReturnID    string    `json:"advance_return_id,omitempty"`
	SuccessTime string    `json:"success_time,omitempty"`
	NextCheck   time.Time `json:"next_check,omitzero"`
	At          time.Time `json:"at,omitzero"`
}

// owed reports whether a return is to be asked for or followed: the refund succeeded
// and the return has no final result.
func (a *Advance) owed(refundState string) bool {
	return a != nil && refundState == wechatpay.RefundStatusSuccess &&
		(a.State == AdvanceOwed || a.State == wechatpay.ReturnAdvanceProcessing)
}

// dueAt is when the return is next due: at once for a new one.
func (a *Advance) dueAt(fallback time.Time) time.Time {
	if a.NextCheck.IsZero() {
		return fallback
	}
	return a.NextCheck
}

// AdvanceOwed reports whether reconcile owes r's advance a return (or a follow-up).
func (r *Refund) AdvanceOwed() bool { return r.Advance.owed(r.State) }

// advanceFollowUp is how often a PROCESSING return is queried: WeChat Pay itself retries
// the sub-merchant's account for 90 days.
const advanceFollowUp = 24 * time.Hour

// RecordAdvanceReturn records WeChat Pay's answer to a return-advance (or its query) on
// r: SUCCESS ends it; PROCESSING is followed daily; FAILED puts the refund in REVIEW
// (loud once, order.review). notAdvanced records that WeChat Pay did not advance the
// refund (AdvanceNone). One version-conditioned write; a repeat writes nothing.
func (l *Ledger) RecordAdvanceReturn(ctx context.Context, r *Refund, ret *wechatpay.ReturnAdvance, notAdvanced bool, source string) (Result, error) {
	raw := r.raw
	now := l.now()
	return onRefund(l, ctx, r.Key(), &raw, func(cur *Refund, exists bool) (step, error) {
		if !exists || cur.Advance == nil {
			return step{outcome: Duplicate}, nil
		}
		a := cur.Advance
		if notAdvanced {
			if a.State == AdvanceNone {
				return step{outcome: Duplicate}, nil
			}
			a.State, a.NextCheck, a.At = AdvanceNone, time.Time{}, now
			return step{outcome: Applied}, nil
		}
		if ret == nil {
			return step{}, invalid("refund %s: a return-advance answer is required", cur.OutRefundNo)
		}
		if a.State == ret.Result && a.ReturnID == ret.AdvanceReturnID && ret.Result != wechatpay.ReturnAdvanceProcessing {
			return step{outcome: Duplicate}, nil
		}
		if a.State == wechatpay.ReturnAdvanceSuccess || a.State == wechatpay.ReturnAdvanceFailed {
			return step{outcome: Duplicate}, nil // final
		}
		a.ReturnID, a.Amount, a.SuccessTime, a.At = ret.AdvanceReturnID, ret.ReturnAmount, ret.SuccessTime, now
		switch ret.Result {
		case wechatpay.ReturnAdvanceSuccess:
			a.State, a.NextCheck = ret.Result, time.Time{}
		case wechatpay.ReturnAdvanceFailed:
			a.State, a.NextCheck = ret.Result, time.Time{}
			detail := fmt.Sprintf("the return of refund %s's advance (%d fen) from sub-merchant %s FAILED: WeChat Pay no longer retries it (回补失败); settle it with the sub-merchant by hand",
				cur.OutRefundNo, ret.ReturnAmount, cur.Owner)
			c := Cause{Kind: causeAdvanceReturnFailed, Detail: detail, OutRefundNo: cur.OutRefundNo, Amount: ret.ReturnAmount, Source: source, At: now}
			opened := cur.Review.add(c)
			st := step{outcome: Review, cause: &c, loud: opened, reason: detail}
			if opened {
				ev := OrderEvent{OrderID: cur.OrderID, OutTradeNo: cur.OutTradeNo, MchID: cur.Owner, State: StateReview, Amount: cur.Amount,
					TransactionID: cur.TransactionID, Reason: detail, Cause: &c, Source: source}
				st.events = []pendingEvent{{events.OrderReview, ev}}
			}
			return st, nil
		default:
			a.State, a.NextCheck = wechatpay.ReturnAdvanceProcessing, now.Add(advanceFollowUp)
		}
		return step{outcome: Applied}, nil
	})
}

// RescheduleAdvance moves an owed return's next attempt to next (after a failed call).
func (l *Ledger) RescheduleAdvance(ctx context.Context, r *Refund, next time.Time) (*Refund, error) {
	raw := r.raw
	res, err := onRefund(l, ctx, r.Key(), &raw, func(cur *Refund, exists bool) (step, error) {
		if !exists || !cur.Advance.owed(cur.State) {
			return step{outcome: Duplicate}, nil
		}
		cur.Advance.NextCheck = next
		return step{outcome: Applied}, nil
	})
	return res.Refund, err
}
