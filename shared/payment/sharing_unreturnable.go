package payment

import (
	"errors"
	"fmt"

	"github.com/paysls/wxpay/shared/wechatpay"
)

// Shares no return can take back. WeChat Pay returns a share (分账回退) only from a
// MERCHANT_ID receiver — never one paid to a person's WeChat balance (PERSONAL_OPENID,
// PERSONAL_SUB_OPENID) — in every mode that shares:
//   - e-commerce, 请求分账回退API (https://pay.weixin.qq.com/wiki/doc/apiv3/apis/chapter7_4_3.shtml):
//     "分账回退不支持回退给个人"; the partner edition of the same page (apiv3_partner
//     chapter7_4_3): "不支持针对“分账到零钱”的分账单发起分账回退";
//   - direct and partner, /v3/profitsharing/return-orders (apiv3_partner chapter8_1_3):
//     "不支持针对“分账到零钱”的分账单发起分账回退", return_mchid "分账接口中的分账接收方商户号";
//   - the v2 page (allocation.php chapter 27_7 index 8): "仅限商户类型的分账接收方",
//     return_account_type "暂时只支持从商户接收方回退分账金额".
//
// A refund that needs such a share back before WeChat Pay can be asked for it would be
// held for ever (ReserveReturns finds nothing to return) and reserve its amount for
// ever, refusing every smaller refund: RequestRefund refuses it up front
// (SharesNotReturnableError), naming the most that can be refunded without it; and a
// refund held so by an older ledger is closed, never asked (UnreleasableRefunds).

// errSharesNotReturnable is what a refund that would need a share WeChat Pay never
// returns (a person's) wraps: see SharesNotReturnableError.
var errSharesNotReturnable = errors.New("payment: the refund would need back a profit share WeChat Pay cannot return")

// SharesNotReturnableError refuses a refund of Asked fen: the order's shares to people
// (Unreturnable fen) cannot come back, so at most Max fen can be refunded now.
type SharesNotReturnableError struct {
	Asked, Max, Unreturnable int64
}

func (e *SharesNotReturnableError) Error() string {
	return fmt.Sprintf("%s: asked %d fen, at most %d fen can be refunded: %d fen were shared to receivers WeChat Pay returns nothing from (a person's balance, 分账到零钱)",
		errSharesNotReturnable.Error(), e.Asked, max(e.Max, 0), e.Unreturnable)
}

func (e *SharesNotReturnableError) Unwrap() error { return errSharesNotReturnable }

// unreturnable is what of the shares to others (SharedOut) no return can take back:
// shares pending or successful, of splits not failed, to receivers that are not
// MERCHANT_ID (people); and what a MERCHANT_ID receiver still holds of a split that
// has had all the returns WeChat Pay takes for it (MaxReturnsPerShare). A share still
// PENDING counts: WeChat Pay may yet pay it, and then it is gone for good.
func (o *Order) unreturnable() int64 {
	s := o.Sharing
	if s == nil {
		return 0
	}
	var n int64
	for _, sp := range s.Splits {
		if sp.State == ShareFailed {
			continue
		}
		count := 0
		for _, r := range s.Returns {
			if r.OutOrderNo == sp.OutOrderNo {
				count++
			}
		}
		for _, rc := range sp.Receivers {
			if rc.Account == o.Owner || rc.Result == wechatpay.ShareResultClosed {
				continue
			}
			if rc.Type != wechatpay.ReceiverMerchant {
				n += rc.Amount
				continue
			}
			if count < wechatpay.MaxReturnsPerShare {
				continue
			}
			left := rc.Amount
			for _, r := range s.Returns {
				if r.OutOrderNo == sp.OutOrderNo && r.ReturnMchID == rc.Account && r.State != ShareFailed {
					left -= r.Amount
				}
			}
			n += max(left, 0)
		}
	}
	return n
}

// refundableKeepingShares is the most a new refund of the order's own payment may take
// without needing back a share no return can take back: what the order holds for
// sharing (the refunds already asked or held taken off) less those shares.
func (o *Order) refundableKeepingShares() int64 {
	return o.ShareRoom() - o.unreturnable()
}

// UnreleasableRefunds are the held refunds that can never be asked of WeChat Pay: while
// nothing is in flight, the order holds less than the shares no return can take back
// (a hold an older ledger made for a person's share), so returns never make room. The
// newest are taken first — the ones that overdrew, as RequestRefund now refuses them —
// until what is left fits; the caller closes them without asking WeChat Pay (the
// reservation released, refund.failed once) and lets their hold go.
func (o *Order) UnreleasableRefunds() []heldRefund {
	s := o.Sharing
	if s == nil || len(s.Held) == 0 || s.splitInFlight() != nil || s.returnInFlight() != nil {
		return nil
	}
	short := o.unreturnable() - o.ShareRoom()
	var out []heldRefund
	for i := len(s.Held) - 1; i >= 0 && short > 0; i-- {
		h := s.Held[i]
		line := o.Line(h.OutRefundNo)
		if line == nil || line.State == wechatpay.RefundStatusClosed {
			continue // reserves nothing now: closed already (a crash before its hold went)
		}
		out = append(out, h)
		short -= line.Amount
	}
	return out
}
