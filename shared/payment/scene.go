package payment

import (
	"context"
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
// (CloseByScene), so a payment arriving on it is kept for REVIEW like any payment after
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

// CloseByScene marks a close owed because the cashier page switched to another scene:
// due at the attempt's expiry, withdrawn (Resume) when the page switches back.
const CloseByScene = "scene"

// Parked reports whether o was left by a scene switch: still payable at WeChat Pay,
// but a payment on it now goes to REVIEW.
func (o *Order) Parked() bool {
	return o.Close != nil && o.Close.By == CloseByScene && o.Unsettled() && !o.InReview()
}

// Park records that the cashier page left attempt key for another scene: a close owed
// at at (the attempt's expiry: WeChat Pay closes an unpaid order at its time_expire
// anyway). Every call writes, so that a Resume prepared before it fails. Refused when
// the attempt is paid, closed or in review; a real close asked for it stays (Duplicate).
func (l *Ledger) Park(ctx context.Context, key string, at time.Time) (Result, error) {
	return onOrder(l, ctx, key, nil, func(o *Order, exists bool) (step, error) {
		switch {
		case !exists:
			return step{}, fmt.Errorf("payment: park %s: %w", key, ErrNotFound)
		case !payable(o.State) || o.InReview() || o.Payment != nil:
			return step{outcome: Refused, reason: "the order is " + o.Status()}, nil
		case o.Close != nil && o.Close.By != CloseByScene:
			return step{outcome: Duplicate}, nil
		}
		o.Close = &CloseRequest{At: at, By: CloseByScene}
		if o.NextCheck.IsZero() || at.Before(o.NextCheck) {
			o.NextCheck = at
		}
		return step{outcome: Applied}, nil
	})
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
		cur.NextCheck = NextCheck(cur.CreatedAt, cur.ExpiresAt, l.now())
	})
}
