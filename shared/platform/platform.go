// Package platform picks WeChat Pay's API for what the deployment's mode (WXPAY_MODE)
// does differently: a direct merchant and a service provider refund through
// /v3/refund/domestic/refunds; an e-commerce platform (电商收付通) through the
// e-commerce refund API, whose answers it turns into the same shapes, so the order
// API, reconcile and the ledger handle every mode's refunds with one code path.
package platform

import (
	"cmp"
	"context"
	"errors"
	"net/http"

	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// API is the deployment's WeChat Pay client in its mode.
type API struct {
	// Client is the deployment's client (payclient.New): direct, or sp_* in partner
	// and ecommerce mode.
	Client *wechatpay.Client
	Mode   config.Mode
	// NotifyURL is sent with refunds.
	NotifyURL string
}

// New is the API of cfg's mode over client.
func New(client *wechatpay.Client, cfg config.Config) API {
	return API{Client: client, Mode: cfg.Bundle.ModeName(), NotifyURL: cfg.NotifyURL}
}

// ecommerce reports whether refunds go through the e-commerce refund API.
func (a API) ecommerce() bool { return a.Mode == config.ModeEcommerce }

// For is the client acting for the merchant that owns an order: the deployment's own
// in direct mode, a copy for the sub-merchant (sub_mchid, sub_appid) otherwise.
func (a API) For(owner, subAppID string) *wechatpay.Client {
	if !a.Client.Partner() || owner == "" || owner == a.Client.SubMchID && subAppID == a.Client.SubAppID {
		return a.Client
	}
	return a.Client.ForSub(owner, subAppID)
}

// Refund asks WeChat Pay for a refund of an order of owner. On a platform it is an
// e-commerce refund (POST /v3/ecommerce/refunds/apply), advanced by the platform when
// advance is set (refund_account REFUND_SOURCE_PARTNER_ADVANCE); its answer carries no
// status yet ("申请退款接口的返回仅代表业务的受理情况", 申请退款API,
// pay.weixin.qq.com/wiki/doc/apiv3_partner/apis/chapter7_6_1.shtml) and reads
// PROCESSING here. Elsewhere it is an ordinary refund and advance must be false.
func (a API) Refund(ctx context.Context, owner, subAppID string, req wechatpay.RefundRequest, advance bool) (*wechatpay.Refund, error) {
	cl := a.For(owner, subAppID)
	if req.NotifyURL == "" {
		req.NotifyURL = a.NotifyURL
	}
	if !a.ecommerce() {
		if advance {
			return nil, errors.New("platform: only an e-commerce platform's refunds can be advanced (垫付)")
		}
		return cl.CreateRefund(ctx, req)
	}
	er := wechatpay.EcommerceRefundRequest{SubMchID: owner, SubAppID: subAppID, TransactionID: req.TransactionID, OutTradeNo: req.OutTradeNo,
		OutRefundNo: req.OutRefundNo, Reason: req.Reason, Amount: req.Amount, NotifyURL: req.NotifyURL, FundsAccount: req.FundsAccount}
	if er.TransactionID != "" {
		er.OutTradeNo = "" // one of the two names the order
	}
	if advance {
		er.RefundAccount = wechatpay.RefundSourcePartnerAdvance
	}
	rf, err := cl.CreateEcommerceRefund(ctx, er)
	if err != nil {
		return nil, err
	}
	out := refundOf(rf)
	out.OutTradeNo = cmp.Or(out.OutTradeNo, req.OutTradeNo)
	out.TransactionID = cmp.Or(out.TransactionID, req.TransactionID)
	if out.Amount.Total == 0 {
		out.Amount.Total = req.Amount.Total
	}
	return out, nil
}

// QueryRefund reads a refund of owner by out_refund_no: on a platform through GET
// /v3/ecommerce/refunds/out-refund-no/{out_refund_no}?sub_mchid=.
func (a API) QueryRefund(ctx context.Context, owner, subAppID, outRefundNo string) (*wechatpay.Refund, error) {
	cl := a.For(owner, subAppID)
	if !a.ecommerce() {
		return cl.QueryRefund(ctx, outRefundNo)
	}
	rf, err := cl.QueryEcommerceRefund(ctx, outRefundNo)
	if err != nil {
		return nil, err
	}
	return refundOf(rf), nil
}

// refundOf is an e-commerce refund in the ordinary refund's shape.
func refundOf(rf *wechatpay.EcommerceRefund) *wechatpay.Refund {
	status := rf.Status
	if status == "" {
		status = wechatpay.RefundStatusProcessing
	}
	return &wechatpay.Refund{RefundID: rf.RefundID, OutRefundNo: rf.OutRefundNo, TransactionID: rf.TransactionID, OutTradeNo: rf.OutTradeNo,
		Channel: rf.Channel, UserReceivedAccount: rf.UserReceivedAccount, SuccessTime: rf.SuccessTime, CreateTime: rf.CreateTime,
		Status: status, FundsAccount: rf.FundsAccount,
		Amount: wechatpay.RefundAmount{Refund: rf.Amount.Refund, Total: rf.Amount.Total, PayerTotal: rf.Amount.PayerTotal,
			PayerRefund: rf.Amount.PayerRefund, Currency: cmp.Or(rf.Amount.Currency, "CNY")}}
}

// ErrNotAdvanced: WeChat Pay refuses the return of a refund it did not advance ("必须是垫付
// 退款的微信退款单", 垫付退款回补, pay.weixin.qq.com/wiki/doc/apiv3_partner/apis/
// chapter7_6_4.shtml): the sub-merchant paid it, nothing is owed to the platform.
var ErrNotAdvanced = errors.New("platform: the refund was not advanced by the platform")

// ReturnAdvance asks for the return of an advanced refund's money from sub-merchant
// owner (POST /v3/ecommerce/refunds/{refund_id}/return-advance); a return already asked
// for is read instead (GET …/return-advance), so repeating it is safe.
func (a API) ReturnAdvance(ctx context.Context, owner, refundID string) (*wechatpay.ReturnAdvance, error) {
	cl := a.For(owner, "")
	ret, err := cl.QueryReturnAdvance(ctx, refundID)
	var we *wechatpay.APIError
	if err == nil && ret.Result != wechatpay.ReturnAdvanceProcessing {
		return ret, nil
	}
	if err != nil && !(errors.As(err, &we) && we.StatusCode == http.StatusNotFound) {
		return nil, err
	}
	ret, err = cl.ReturnAdvance(ctx, refundID)
	if errors.As(err, &we) && we.StatusCode == http.StatusBadRequest && we.Code == wechatpay.CodeInvalidRequest {
		// Not an advanced refund (or a CLOSED one: nothing was advanced).
		return nil, errors.Join(ErrNotAdvanced, err)
	}
	return ret, err
}
