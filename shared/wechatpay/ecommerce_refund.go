package wechatpay

// E-commerce refunds (电商收付通 退款): a platform refunds a sub-merchant's (二级商户) order,
// ordinary or combine sub-order, through /v3/ecommerce/refunds/*, not
// /v3/refund/domestic/refunds. Facts from WeChat Pay's docs:
//
//   - Apply: POST /v3/ecommerce/refunds/apply with sub_mchid, sp_appid, sub_appid?, one
//     of transaction_id/out_trade_no, out_refund_no (unique in the platform, "同一退款单号
//     多次请求只退一笔"), reason?, amount{refund,total,currency}, notify_url?,
//     refund_account?, funds_account? (申请退款API, pay.weixin.qq.com/wiki/doc/apiv3_partner/
//     apis/chapter7_6_1.shtml). The answer only means accepted; the result comes by
//     REFUND.* notification or query.
//   - 垫付 (advance): when the sub-merchant's refund balance is short the platform may
//     advance the refund from its own account, asked with refund_account
//     REFUND_SOURCE_PARTNER_ADVANCE (the permission must be opened with WeChat Pay); the
//     refund_account WeChat Pay answers says who actually paid. The platform then takes the
//     money back from the sub-merchant with return-advance (垫付退款回补, POST
//     /v3/ecommerce/refunds/{refund_id}/return-advance {sub_mchid}); its result may be
//     PROCESSING, retried by WeChat Pay for 90 days and confirmed by query, then SUCCESS or
//     FAILED, after which no new return can be asked ("若处理中状态重试90天后出款方账户
//     仍然余额不足,回补结果将置为回补失败,系统不再重试,商户也无法重试",
//     pay.weixin.qq.com/docs/partner/apis/ecommerce-refund/refunds/create-return-advance.html).
//   - Queries: GET /v3/ecommerce/refunds/id/{refund_id}?sub_mchid= and
//     GET /v3/ecommerce/refunds/out-refund-no/{out_refund_no}?sub_mchid=.
//   - Notification: REFUND.SUCCESS / REFUND.ABNORMAL / REFUND.CLOSED with sp_mchid,
//     sub_mchid, out_trade_no, transaction_id, out_refund_no, refund_id, refund_status,
//     success_time, user_received_account, amount{total,refund,payer_total,payer_refund}
//     and refund_account (退款结果通知, pay.weixin.qq.com/wiki/doc/apiv3/apis/
//     chapter7_6_3.shtml).

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// Refund funding accounts (refund_account) of e-commerce refunds.
const (
	RefundSourceSubMerchant    = "REFUND_SOURCE_SUB_MERCHANT"    // the sub-merchant pays (default)
	RefundSourcePartnerAdvance = "REFUND_SOURCE_PARTNER_ADVANCE" // the platform advances it (垫付)
)

// Return-advance results.
const (
	ReturnAdvanceSuccess    = "SUCCESS"
	ReturnAdvanceFailed     = "FAILED"
	ReturnAdvanceProcessing = "PROCESSING"
)

// EcommerceRefundRequest is the body of POST /v3/ecommerce/refunds/apply.
type EcommerceRefundRequest struct {
	SubMchID      string       `json:"sub_mchid"`
	SpAppID       string       `json:"sp_appid"`
	SubAppID      string       `json:"sub_appid,omitempty"`
	TransactionID string       `json:"transaction_id,omitempty"`
	OutTradeNo    string       `json:"out_trade_no,omitempty"`
	OutRefundNo   string       `json:"out_refund_no"`
	Reason        string       `json:"reason,omitempty"`
	Amount        RefundAmount `json:"amount"`
	NotifyURL     string       `json:"notify_url,omitempty"`
	// RefundAccount asks for an advance (RefundSourcePartnerAdvance); empty means the
	// sub-merchant pays.
	RefundAccount string `json:"refund_account,omitempty"`
	// FundsAccount picks the account of an order awaiting profit sharing (AVAILABLE).
	FundsAccount string `json:"funds_account,omitempty"`
}

// EcommerceRefundAmount is the amount of an e-commerce refund answer or notification,
// in fen. Advance is the part the platform advanced.
type EcommerceRefundAmount struct {
	Refund         int64  `json:"refund"`
	Total          int64  `json:"total,omitempty"`
	PayerTotal     int64  `json:"payer_total,omitempty"`
	PayerRefund    int64  `json:"payer_refund,omitempty"`
	DiscountRefund int64  `json:"discount_refund,omitempty"`
	Advance        int64  `json:"advance,omitempty"`
	Currency       string `json:"currency,omitempty"`
}

// EcommerceRefund is the answer of the e-commerce refund apply (refund_id, out_refund_no,
// create_time, amount, refund_account: no status yet) and of its queries.
type EcommerceRefund struct {
	RefundID            string                `json:"refund_id"`
	OutRefundNo         string                `json:"out_refund_no"`
	TransactionID       string                `json:"transaction_id,omitempty"`
	OutTradeNo          string                `json:"out_trade_no,omitempty"`
	Channel             string                `json:"channel,omitempty"`
	UserReceivedAccount string                `json:"user_received_account,omitempty"`
	SuccessTime         string                `json:"success_time,omitempty"`
	CreateTime          string                `json:"create_time,omitempty"`
	Status              string                `json:"status,omitempty"`
	Amount              EcommerceRefundAmount `json:"amount"`
	PromotionDetail     []PromotionDetail     `json:"promotion_detail,omitempty"`
	RefundAccount       string                `json:"refund_account,omitempty"`
	FundsAccount        string                `json:"funds_account,omitempty"`
}

// EcommerceRefundNotice is the decrypted resource of an e-commerce refund's REFUND.*
// notification.
type EcommerceRefundNotice struct {
	SpMchID             string                `json:"sp_mchid"`
	SubMchID            string                `json:"sub_mchid"`
	OutTradeNo          string                `json:"out_trade_no"`
	TransactionID       string                `json:"transaction_id"`
	OutRefundNo         string                `json:"out_refund_no"`
	RefundID            string                `json:"refund_id"`
	RefundStatus        string                `json:"refund_status"`
	SuccessTime         string                `json:"success_time,omitempty"`
	UserReceivedAccount string                `json:"user_received_account,omitempty"`
	Amount              EcommerceRefundAmount `json:"amount"`
	RefundAccount       string                `json:"refund_account,omitempty"`
}

// ReturnAdvance is the answer of a return-advance (垫付退款回补) and its query.
type ReturnAdvance struct {
	RefundID        string `json:"refund_id"`
	AdvanceReturnID string `json:"advance_return_id"`
	ReturnAmount    int64  `json:"return_amount"`
	PayerMchID      string `json:"payer_mchid"`
	PayerAccount    string `json:"payer_account"`
	PayeeMchID      string `json:"payee_mchid"`
	PayeeAccount    string `json:"payee_account"`
	Result          string `json:"result"`
	SuccessTime     string `json:"success_time,omitempty"`
}

// ReturnAdvanceRequest is the body of POST /v3/ecommerce/refunds/{refund_id}/return-advance.
type ReturnAdvanceRequest struct {
	SubMchID string `json:"sub_mchid"`
}

// ValidateEcommerceRefund applies the local rules of an e-commerce refund request.
func ValidateEcommerceRefund(req *EcommerceRefundRequest, opt NotifyURLOptions) error {
	if req.SubMchID == "" {
		return invalid("sub_mchid", "is required: the sub-merchant (二级商户) whose order is refunded")
	}
	if req.SpAppID == "" {
		return invalid("sp_appid", "is required: the platform's appid")
	}
	if (req.TransactionID == "") == (req.OutTradeNo == "") {
		return invalid("transaction_id/out_trade_no", "exactly one of them must name the order")
	}
	if err := ValidateOutTradeNo("out_refund_no", req.OutRefundNo, 64); err != nil {
		return err
	}
	if err := ValidateAmount("amount.refund", req.Amount.Refund); err != nil {
		return err
	}
	if err := ValidateAmount("amount.total", req.Amount.Total); err != nil {
		return err
	}
	if req.Amount.Refund > req.Amount.Total {
		return invalid("amount.refund", "%d fen is more than the order total %d", req.Amount.Refund, req.Amount.Total)
	}
	if req.Amount.Currency != "CNY" {
		return invalid("amount.currency", "must be CNY, got %q", req.Amount.Currency)
	}
	if len(req.Reason) > 80 {
		return invalid("reason", "is %d bytes; at most 80", len(req.Reason))
	}
	if req.NotifyURL != "" {
		if err := ValidateNotifyURL(req.NotifyURL, opt); err != nil {
			return err
		}
	}
	switch req.RefundAccount {
	case "", RefundSourceSubMerchant, RefundSourcePartnerAdvance:
	default:
		return invalid("refund_account", "must be %s or %s, got %q", RefundSourceSubMerchant, RefundSourcePartnerAdvance, req.RefundAccount)
	}
	switch req.FundsAccount {
	case "", "AVAILABLE":
	default:
		return invalid("funds_account", "must be AVAILABLE or absent, got %q", req.FundsAccount)
	}
	return nil
}

// CreateEcommerceRefund applies for an e-commerce refund. sub_mchid and sp_appid default
// to the client's (ForSub), currency to CNY. Retried on transient failures: the same
// out_refund_no never refunds twice.
func (c *Client) CreateEcommerceRefund(ctx context.Context, req EcommerceRefundRequest) (*EcommerceRefund, error) {
	if !c.Partner() {
		return nil, fmt.Errorf("%w: e-commerce refunds are a platform's (电商平台) API: set SpMchID/SpAppID", ErrConfig)
	}
	req.SubMchID = cmp.Or(req.SubMchID, c.SubMchID)
	req.SpAppID = cmp.Or(req.SpAppID, c.SpAppID)
	req.SubAppID = cmp.Or(req.SubAppID, c.SubAppID)
	req.Amount.Currency = cmp.Or(req.Amount.Currency, "CNY")
	if err := ValidateEcommerceRefund(&req, c.NotifyURLOptions); err != nil {
		return nil, err
	}
	var out EcommerceRefund
	if err := c.do(ctx, http.MethodPost, "/v3/ecommerce/refunds/apply", nil, &req, &out); err != nil {
		return nil, fmt.Errorf("wechatpay: e-commerce refund %s: %w", req.OutRefundNo, err)
	}
	return &out, nil
}

// QueryEcommerceRefund queries an e-commerce refund by out_refund_no for the client's
// sub-merchant (ForSub).
func (c *Client) QueryEcommerceRefund(ctx context.Context, outRefundNo string) (*EcommerceRefund, error) {
	if err := ValidateOutTradeNo("out_refund_no", outRefundNo, 64); err != nil {
		return nil, err
	}
	return c.queryEcommerceRefund(ctx, "out-refund-no/"+url.PathEscape(outRefundNo))
}

// QueryEcommerceRefundByID queries an e-commerce refund by WeChat Pay's refund_id.
func (c *Client) QueryEcommerceRefundByID(ctx context.Context, refundID string) (*EcommerceRefund, error) {
	if refundID == "" {
		return nil, invalid("refund_id", "is required")
	}
	return c.queryEcommerceRefund(ctx, "id/"+url.PathEscape(refundID))
}

func (c *Client) queryEcommerceRefund(ctx context.Context, tail string) (*EcommerceRefund, error) {
	q, err := c.subMchQuery()
	if err != nil {
		return nil, err
	}
	var out EcommerceRefund
	if err := c.do(ctx, http.MethodGet, "/v3/ecommerce/refunds/"+tail, q, nil, &out); err != nil {
		return nil, fmt.Errorf("wechatpay: query e-commerce refund %s: %w", tail, err)
	}
	return &out, nil
}

func (c *Client) subMchQuery() (url.Values, error) {
	if !c.Partner() {
		return nil, fmt.Errorf("%w: e-commerce refunds are a platform's (电商平台) API: set SpMchID/SpAppID", ErrConfig)
	}
	if c.SubMchID == "" {
		return nil, invalid("sub_mchid", "is required: use client.ForSub")
	}
	return url.Values{"sub_mchid": {c.SubMchID}}, nil
}

// ReturnAdvance asks WeChat Pay to take an advanced refund's money back from the
// client's sub-merchant (垫付退款回补). The result may be PROCESSING: query it
// (QueryReturnAdvance) until SUCCESS or FAILED. Safe to repeat while PROCESSING.
func (c *Client) ReturnAdvance(ctx context.Context, refundID string) (*ReturnAdvance, error) {
	if refundID == "" {
		return nil, invalid("refund_id", "is required: the advanced refund's refund_id")
	}
	if _, err := c.subMchQuery(); err != nil {
		return nil, err
	}
	var out ReturnAdvance
	path := "/v3/ecommerce/refunds/" + url.PathEscape(refundID) + "/return-advance"
	if err := c.do(ctx, http.MethodPost, path, nil, &ReturnAdvanceRequest{SubMchID: c.SubMchID}, &out); err != nil {
		return nil, fmt.Errorf("wechatpay: return advance of refund %s: %w", refundID, err)
	}
	return &out, nil
}

// QueryReturnAdvance reads the return-advance of an advanced refund.
func (c *Client) QueryReturnAdvance(ctx context.Context, refundID string) (*ReturnAdvance, error) {
	if refundID == "" {
		return nil, invalid("refund_id", "is required")
	}
	q, err := c.subMchQuery()
	if err != nil {
		return nil, err
	}
	var out ReturnAdvance
	path := "/v3/ecommerce/refunds/" + url.PathEscape(refundID) + "/return-advance"
	if err := c.do(ctx, http.MethodGet, path, q, nil, &out); err != nil {
		return nil, fmt.Errorf("wechatpay: query return advance of refund %s: %w", refundID, err)
	}
	return &out, nil
}

// decodeEcommerceRefundNotice decodes the plaintext of an e-commerce refund's REFUND.*
// notification.
func decodeEcommerceRefundNotice(n *Notification, plaintext []byte) (*EcommerceRefundNotice, error) {
	if !strings.HasPrefix(n.EventType, "REFUND.") {
		return nil, notifyErr(ErrNotifyMalformed, fmt.Errorf("event_type %q is not a refund notification", n.EventType))
	}
	var r EcommerceRefundNotice
	if err := json.Unmarshal(plaintext, &r); err != nil {
		return nil, notifyErr(ErrNotifyMalformed, fmt.Errorf("refund resource: %w", err))
	}
	if r.OutRefundNo == "" || r.RefundStatus == "" {
		return nil, notifyErr(ErrNotifyMalformed, errors.New("refund resource lacks out_refund_no or refund_status"))
	}
	return &r, nil
}

// retrySafeEcommerce lists the combine and e-commerce POSTs WeChat Pay deduplicates:
// combine prepay (by combine_out_trade_no) and close, e-commerce refund apply (by
// out_refund_no), and return-advance ("此状态下商户可以重试").
func retrySafeEcommerce(p string) bool {
	return strings.HasPrefix(p, "/v3/combine-transactions/") || p == "/v3/ecommerce/refunds/apply" ||
		strings.HasPrefix(p, "/v3/ecommerce/refunds/") && strings.HasSuffix(p, "/return-advance")
}
