package wechatpay

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"net/url"
)

// CreateRefund asks for a refund (申请退款). One of req.TransactionID and
// req.OutTradeNo names the order; req.OutRefundNo is the merchant's key that makes
// the call safe to repeat: the same out_refund_no never refunds twice, so the call is
// retried on transient failures. The result is usually PROCESSING; the final state
// arrives by REFUND.* notification or QueryRefund.
func (c *Client) CreateRefund(ctx context.Context, req RefundRequest) (*Refund, error) {
	if (req.TransactionID == "") == (req.OutTradeNo == "") {
		return nil, invalid("transaction_id/out_trade_no", "exactly one of them must name the order")
	}
	if err := ValidateOutTradeNo("out_refund_no", req.OutRefundNo, 64); err != nil {
		return nil, err
	}
	if err := ValidateAmount("amount.refund", req.Amount.Refund); err != nil {
		return nil, err
	}
	if req.Amount.Refund > req.Amount.Total {
		return nil, invalid("amount.refund", "%d fen is more than the order total %d", req.Amount.Refund, req.Amount.Total)
	}
	if req.Amount.Currency == "" {
		req.Amount.Currency = "CNY" // required in refund requests, unlike in orders
	}
	if req.NotifyURL != "" {
		if err := ValidateNotifyURL(req.NotifyURL, c.NotifyURLOptions); err != nil {
			return nil, err
		}
	}
	if c.Partner() {
		req.SubMchID = cmp.Or(req.SubMchID, c.SubMchID)
		if req.SubMchID == "" {
			return nil, invalid("sub_mchid", "is required in partner mode: use client.ForSub")
		}
	} else if req.SubMchID != "" {
		return nil, invalid("sub_mchid", "is a partner-mode field; this client is in direct mode")
	}
	var out Refund
	if err := c.do(ctx, http.MethodPost, "/v3/refund/domestic/refunds", nil, &req, &out); err != nil {
		return nil, fmt.Errorf("wechatpay: refund %s: %w", req.OutRefundNo, err)
	}
	return &out, nil
}

// QueryRefund queries a refund by out_refund_no (查询单笔退款).
func (c *Client) QueryRefund(ctx context.Context, outRefundNo string) (*Refund, error) {
	if err := ValidateOutTradeNo("out_refund_no", outRefundNo, 64); err != nil {
		return nil, err
	}
	var q url.Values
	if c.Partner() {
		if c.SubMchID == "" {
			return nil, invalid("sub_mchid", "is required in partner mode: use client.ForSub")
		}
		q = url.Values{"sub_mchid": {c.SubMchID}}
	}
	var out Refund
	if err := c.do(ctx, http.MethodGet, "/v3/refund/domestic/refunds/"+url.PathEscape(outRefundNo), q, nil, &out); err != nil {
		return nil, fmt.Errorf("wechatpay: query refund %s: %w", outRefundNo, err)
	}
	return &out, nil
}
