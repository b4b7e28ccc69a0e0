package wxv2

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"github.com/paysls/wxpay/shared/clock"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// This file builds notifications as WeChat Pay sends them, for the simulator,
// `wxpay trigger --v2` and tests: the inverse of Transaction and refundNotice.

// PaymentParams renders a successful v3 transaction as the fields of a v2 payment
// result notification, unsigned (see SignParams).
func PaymentParams(tx *wechatpay.Transaction) (Params, error) {
	if tx.Amount == nil {
		return nil, fmt.Errorf("wxv2: transaction %s has no amount", tx.OutTradeNo)
	}
	end, err := time.Parse(time.RFC3339, tx.SuccessTime)
	if err != nil {
		return nil, fmt.Errorf("wxv2: success_time %q: %w", tx.SuccessTime, err)
	}
	p := Params{
		"return_code": "SUCCESS", "result_code": "SUCCESS", "nonce_str": rand.Text(),
		"out_trade_no": tx.OutTradeNo, "transaction_id": tx.TransactionID, "trade_type": tx.TradeType,
		"bank_type": tx.BankType, "attach": tx.Attach, "time_end": end.In(clock.CST).Format(layoutTimeEnd),
		"total_fee": strconv.FormatInt(tx.Amount.Total, 10), "fee_type": tx.Amount.Currency,
		"cash_fee": strconv.FormatInt(tx.Amount.PayerTotal, 10), "is_subscribe": "N",
	}
	if tx.SubMchID != "" {
		p["appid"], p["mch_id"], p["sub_appid"], p["sub_mch_id"] = tx.SpAppID, tx.SpMchID, tx.SubAppID, tx.SubMchID
		if tx.Payer != nil {
			p["openid"], p["sub_openid"] = tx.Payer.SpOpenID, tx.Payer.SubOpenID
		}
	} else {
		p["appid"], p["mch_id"] = tx.AppID, tx.MchID
		if tx.Payer != nil {
			p["openid"] = tx.Payer.OpenID
		}
	}
	if tx.SceneInfo != nil {
		p["device_info"] = tx.SceneInfo.DeviceID
	}
	if tx.Amount.PayerCurrency != "" {
		p["cash_fee_type"] = tx.Amount.PayerCurrency
	}
	if len(tx.PromotionDetail) > 0 {
		var coupons int64
		for i, d := range tx.PromotionDetail {
			n := strconv.Itoa(i)
			p["coupon_id_"+n], p["coupon_fee_"+n] = d.CouponID, strconv.FormatInt(d.Amount, 10)
			if d.Type == "NOCASH" {
				p["coupon_type_"+n] = "NO_CASH"
			} else if d.Type != "" {
				p["coupon_type_"+n] = d.Type
			}
			coupons += d.Amount
		}
		p["coupon_count"] = strconv.Itoa(len(tx.PromotionDetail))
		p["coupon_fee"] = strconv.FormatInt(coupons, 10)
	}
	for k, v := range p {
		if v == "" {
			delete(p, k)
		}
	}
	return p, nil
}

// SignParams sets sign_type (HMAC-SHA256 only: MD5 is the default and WeChat Pay
// leaves it out) and sign.
func SignParams(p Params, signType, key string) error {
	delete(p, "sign")
	delete(p, "sign_type")
	if signType == SignTypeHMACSHA256 {
		p["sign_type"] = SignTypeHMACSHA256
	}
	s, err := sign(p, signType, key)
	if err != nil {
		return err
	}
	p["sign"] = s
	return nil
}

// RefundOptions are the fields of a refund result that the v3 refund notice lacks.
type RefundOptions struct {
	AppID string // appid (the service provider's in partner mode)
	// RequestSource is refund_request_source: API, or VENDOR_PLATFORM for a refund
	// made by hand in the merchant platform.
	RequestSource string
	// RefundAccount is refund_account: REFUND_SOURCE_RECHARGE_FUNDS or
	// REFUND_SOURCE_UNSETTLED_FUNDS.
	RefundAccount string
}

// RefundParams renders a v3 refund notice as a v2 refund result: the outer fields and
// the req_info fields (before encryption; see SealRefund).
func RefundParams(n *wechatpay.RefundNotice, o RefundOptions) (outer, inner Params, err error) {
	status := ""
	switch n.RefundStatus {
	case wechatpay.RefundStatusSuccess:
		status = RefundStatusSuccess
	case wechatpay.RefundStatusAbnormal:
		status = RefundStatusChange
	case wechatpay.RefundStatusClosed:
		status = RefundStatusClose
	default:
		return nil, nil, fmt.Errorf("wxv2: refund %s: status %q has no v2 result", n.OutRefundNo, n.RefundStatus)
	}
	outer = Params{"return_code": "SUCCESS", "appid": o.AppID, "nonce_str": rand.Text()}
	if n.SubMchID != "" {
		outer["mch_id"], outer["sub_mch_id"] = n.SpMchID, n.SubMchID
	} else {
		outer["mch_id"] = n.MchID
	}
	inner = Params{
		"transaction_id": n.TransactionID, "out_trade_no": n.OutTradeNo, "refund_id": n.RefundID,
		"out_refund_no": n.OutRefundNo, "total_fee": strconv.FormatInt(n.Amount.Total, 10),
		"refund_fee": strconv.FormatInt(n.Amount.Refund, 10), "refund_status": status,
		"refund_recv_accout": n.UserReceivedAccount, "refund_request_source": o.RequestSource,
		"refund_account":        o.RefundAccount,
		"settlement_total_fee":  strconv.FormatInt(max(n.Amount.SettlementTotal, n.Amount.Total), 10),
		"settlement_refund_fee": strconv.FormatInt(max(n.Amount.SettlementRefund, n.Amount.Refund), 10),
	}
	if n.SuccessTime != "" {
		t, err := time.Parse(time.RFC3339, n.SuccessTime)
		if err != nil {
			return nil, nil, fmt.Errorf("wxv2: success_time %q: %w", n.SuccessTime, err)
		}
		inner["success_time"] = t.In(clock.CST).Format(layoutSuccessTime)
	}
	for _, p := range []Params{outer, inner} {
		for k, v := range p {
			if v == "" {
				delete(p, k)
			}
		}
	}
	return outer, inner, nil
}

// SealRefund encrypts inner (as <root>…</root>, the way WeChat Pay does) into
// outer's req_info and returns the notification body.
func SealRefund(outer, inner Params, key string) ([]byte, error) {
	ri, err := encryptReqInfo(inner.encode("root"), key)
	if err != nil {
		return nil, err
	}
	outer["req_info"] = ri
	return outer.EncodeXML(), nil
}

// ForgeryKey is a random key that is not the merchant's: signing or encrypting with it
// makes a forged notification a verifying receiver must refuse.
func ForgeryKey() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
