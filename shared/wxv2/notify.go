package wxv2

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/paysls/wxpay/shared/clock"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// Notification kinds.
const (
	KindPayment = "payment" // 支付结果通知
	KindRefund  = "refund"  // 退款结果通知
)

// v2 refund_status values and their v3 equivalents.
const (
	RefundStatusSuccess = "SUCCESS"     // 退款成功 → SUCCESS
	RefundStatusChange  = "CHANGE"      // 退款异常 → ABNORMAL
	RefundStatusClose   = "REFUNDCLOSE" // 退款关闭 → CLOSED
)

// Time layouts: time_end of payments (yyyyMMddHHmmss) and success_time of refunds
// (yyyy-MM-dd HH:mm:ss), both Beijing time.
const (
	layoutTimeEnd     = "20060102150405"
	layoutSuccessTime = "2006-01-02 15:04:05"
)

// Notification is a verified v2 notification, converted to the v3 shapes.
type Notification struct {
	Kind     string
	Params   Params // the fields as received (for a refund, req_info still encrypted)
	ReqInfo  Params // refunds: the decrypted req_info fields
	SignType string // payments: MD5 or HMAC-SHA256

	// Transaction is the payment, trade_state SUCCESS; nil when result_code is not
	// SUCCESS (a failed payment: nothing to apply, acknowledge it).
	Transaction *wechatpay.Transaction
	Refund      *wechatpay.RefundNotice
}

// ref names the notification in logs: kind and the merchant's number.
func (n *Notification) ref() string {
	switch {
	case n.Refund != nil:
		return "refund " + n.Refund.OutRefundNo
	case n.Transaction != nil:
		return "payment " + n.Transaction.OutTradeNo
	}
	return n.Kind + " " + n.Params["out_trade_no"]
}

func classify(class, err error) error { return &wechatpay.NotifyError{Class: class, Err: err} }

// Parse reads, authenticates and converts a v2 notification. Payment results must
// carry a valid sign; refund results are authenticated by req_info decrypting under
// the key. Errors are *wechatpay.NotifyError classed ErrNotifySignature (answer 401) or
// ErrNotifyMalformed (400), so wechatpay.NotifyStatus maps them as for v3; ErrNoKey is
// unclassified (500: WeChat Pay retries until a key is configured).
func Parse(body []byte, key string) (*Notification, error) {
	if key == "" {
		return nil, ErrNoKey
	}
	p, err := ParseXML(body, "xml")
	if err != nil {
		return nil, classify(wechatpay.ErrNotifyMalformed, err)
	}
	if rc := p["return_code"]; rc != "SUCCESS" {
		return nil, classify(wechatpay.ErrNotifyMalformed, fmt.Errorf("return_code %q (return_msg %q): the notification carries no result", rc, p["return_msg"]))
	}
	if _, ok := p["req_info"]; ok {
		return parseRefund(p, key)
	}
	return parsePayment(p, key)
}

func parsePayment(p Params, key string) (*Notification, error) {
	if err := verify(p, key); err != nil {
		if errors.Is(err, errSignature) {
			return nil, classify(wechatpay.ErrNotifySignature, err)
		}
		if errors.Is(err, errFormat) {
			return nil, classify(wechatpay.ErrNotifyMalformed, err)
		}
		return nil, err
	}
	n := &Notification{Kind: KindPayment, Params: p, SignType: SignTypeMD5}
	if t := p["sign_type"]; t != "" {
		n.SignType = t
	}
	if p["result_code"] != "SUCCESS" {
		return n, nil
	}
	tx, err := transaction(p)
	if err != nil {
		return nil, classify(wechatpay.ErrNotifyMalformed, err)
	}
	n.Transaction = tx
	return n, nil
}

func parseRefund(p Params, key string) (*Notification, error) {
	pt, err := decryptReqInfo(p["req_info"], key)
	if err != nil {
		switch {
		case errors.Is(err, errDecrypt):
			return nil, classify(wechatpay.ErrNotifySignature, fmt.Errorf("%w: the notification is forged, or %s is not this merchant's APIv2 key (商户平台 → 账户中心 → API安全 → APIv2密钥)", err, envKeyName))
		case errors.Is(err, errFormat):
			return nil, classify(wechatpay.ErrNotifyMalformed, err)
		}
		return nil, err
	}
	inner, err := ParseXML(pt, "")
	if err != nil {
		// It decrypted with valid padding, yet is not XML: with a wrong key that is a
		// 1-in-256 accident, so say both.
		return nil, classify(wechatpay.ErrNotifySignature, fmt.Errorf("%w: decrypted req_info is not XML (%v): the notification is forged, or %s is wrong", errDecrypt, err, envKeyName))
	}
	rn, err := refundNotice(p, inner)
	if err != nil {
		return nil, classify(wechatpay.ErrNotifyMalformed, err)
	}
	return &Notification{Kind: KindRefund, Params: p, ReqInfo: inner, Refund: rn}, nil
}

// transaction converts a successful v2 payment result to the v3 transaction the
// payment state machine takes. In partner mode (sub_mch_id present) appid/mch_id are
// the service provider's (sp_appid/sp_mchid) and openid is the user's id under sp_appid.
func transaction(p Params) (*wechatpay.Transaction, error) {
	for _, k := range []string{"out_trade_no", "transaction_id", "mch_id", "total_fee", "time_end"} {
		if p[k] == "" {
			return nil, formatErr("payment result lacks %s", k)
		}
	}
	total, err := fen(p, "total_fee")
	if err != nil {
		return nil, err
	}
	amount := &wechatpay.Amount{Total: total, Currency: orCNY(p["fee_type"]), PayerCurrency: orCNY(p["cash_fee_type"])}
	if p["cash_fee"] != "" {
		if amount.PayerTotal, err = fen(p, "cash_fee"); err != nil {
			return nil, err
		}
	}
	end, err := time.ParseInLocation(layoutTimeEnd, p["time_end"], clock.CST)
	if err != nil {
		return nil, formatErr("time_end %q is not yyyyMMddHHmmss", p["time_end"])
	}
	tx := &wechatpay.Transaction{
		OutTradeNo: p["out_trade_no"], TransactionID: p["transaction_id"], TradeType: p["trade_type"],
		TradeState: wechatpay.TradeStateSuccess, TradeStateDesc: "支付成功", BankType: p["bank_type"],
		Attach: p["attach"], SuccessTime: end.Format(time.RFC3339), Amount: amount,
	}
	payer := &wechatpay.Payer{}
	if p["sub_mch_id"] != "" {
		tx.SpAppID, tx.SpMchID, tx.SubAppID, tx.SubMchID = p["appid"], p["mch_id"], p["sub_appid"], p["sub_mch_id"]
		payer.SpOpenID, payer.SubOpenID = p["openid"], p["sub_openid"]
	} else {
		tx.AppID, tx.MchID = p["appid"], p["mch_id"]
		payer.OpenID = p["openid"]
	}
	if *payer != (wechatpay.Payer{}) {
		tx.Payer = payer
	}
	if p["device_info"] != "" {
		tx.SceneInfo = &wechatpay.SceneInfo{DeviceID: p["device_info"]}
	}
	// Coupons: coupon_id_$n, coupon_fee_$n, coupon_type_$n for n < coupon_count.
	if p["coupon_count"] != "" {
		count, err := strconv.Atoi(p["coupon_count"])
		if err != nil || count < 0 || count > maxFields {
			return nil, formatErr("coupon_count %q is not a small count", p["coupon_count"])
		}
		for i := range count {
			id := p["coupon_id_"+strconv.Itoa(i)]
			if id == "" {
				continue
			}
			d := wechatpay.PromotionDetail{CouponID: id, Type: couponType(p["coupon_type_"+strconv.Itoa(i)])}
			if p["coupon_fee_"+strconv.Itoa(i)] != "" {
				if d.Amount, err = fen(p, "coupon_fee_"+strconv.Itoa(i)); err != nil {
					return nil, err
				}
			}
			tx.PromotionDetail = append(tx.PromotionDetail, d)
		}
	}
	return tx, nil
}

// couponType maps v2's CASH / NO_CASH to v3's promotion type CASH / NOCASH.
func couponType(t string) string {
	if t == "NO_CASH" {
		return "NOCASH"
	}
	return t
}

// refundNotice converts a refund result — the outer fields and the decrypted req_info
// — to the v3 refund notice. refund_status CHANGE (退款异常) becomes ABNORMAL and
// REFUNDCLOSE (退款关闭) CLOSED; success_time becomes RFC 3339 in +08:00.
func refundNotice(outer, in Params) (*wechatpay.RefundNotice, error) {
	for _, k := range []string{"out_refund_no", "refund_id", "out_trade_no", "transaction_id", "refund_status", "refund_fee", "total_fee"} {
		if in[k] == "" {
			return nil, formatErr("req_info lacks %s", k)
		}
	}
	if outer["mch_id"] == "" {
		return nil, formatErr("refund result lacks mch_id")
	}
	n := &wechatpay.RefundNotice{
		OutTradeNo: in["out_trade_no"], TransactionID: in["transaction_id"], OutRefundNo: in["out_refund_no"],
		RefundID: in["refund_id"], UserReceivedAccount: in["refund_recv_accout"],
	}
	switch s := in["refund_status"]; s {
	case RefundStatusSuccess:
		n.RefundStatus = wechatpay.RefundStatusSuccess
	case RefundStatusChange:
		n.RefundStatus = wechatpay.RefundStatusAbnormal
	case RefundStatusClose:
		n.RefundStatus = wechatpay.RefundStatusClosed
	default:
		return nil, formatErr("refund_status %q: want SUCCESS, CHANGE or REFUNDCLOSE", s)
	}
	if outer["sub_mch_id"] != "" {
		n.SpMchID, n.SubMchID = outer["mch_id"], outer["sub_mch_id"]
	} else {
		n.MchID = outer["mch_id"]
	}
	if st := in["success_time"]; st != "" {
		t, err := time.ParseInLocation(layoutSuccessTime, st, clock.CST)
		if err != nil {
			return nil, formatErr("success_time %q is not yyyy-MM-dd HH:mm:ss", st)
		}
		n.SuccessTime = t.Format(time.RFC3339)
	}
	var err error
	a := &n.Amount
	a.Currency = "CNY"
	if a.Refund, err = fen(in, "refund_fee"); err != nil {
		return nil, err
	}
	if a.Total, err = fen(in, "total_fee"); err != nil {
		return nil, err
	}
	if in["settlement_refund_fee"] != "" {
		if a.SettlementRefund, err = fen(in, "settlement_refund_fee"); err != nil {
			return nil, err
		}
	}
	if in["settlement_total_fee"] != "" {
		if a.SettlementTotal, err = fen(in, "settlement_total_fee"); err != nil {
			return nil, err
		}
	}
	return n, nil
}

// fen reads a non-negative integer amount in fen.
func fen(p Params, k string) (int64, error) {
	v, err := strconv.ParseInt(p[k], 10, 64)
	if err != nil || v < 0 {
		return 0, formatErr("%s %q is not a whole number of fen", k, p[k])
	}
	return v, nil
}

func orCNY(c string) string {
	if c == "" {
		return "CNY"
	}
	return c
}
