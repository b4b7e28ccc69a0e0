package wechatpay

import (
	"context"
	"fmt"
	"net/http"
)

// Subsidies (补差) of 电商收付通: the platform pays part of a sub-order (a discount it
// funds) into the sub-merchant's order before the split. Rules, from 请求补差
// (pay.weixin.qq.com/docs/partner/apis/ecommerce-subsidy/subsidies/create.html and the
// older chapter7_5_1), 请求补差回退 (…/subsidies/return.html) and 取消补差
// (…/subsidies/cancel.html, doc/v3/partner/4012477639):
//
//   - The order must have been placed with a subsidy amount (补差标识; the combine
//     order's settle_info.subsidy_amount); the subsidy is asked after the payment
//     settled and before any split, and the order cannot be split until it is
//     subsidised or the subsidy cancelled.
//   - The amount must equal the amount given at order, or be smaller once the order
//     has a refund; at most 5000 yuan per order; one subsidy per order; the same
//     parameters are charged once (idempotent for 180 days) — a retry with another
//     amount may charge twice, refunded a day later.
//   - A subsidy return (回退) needs a refund of the order (refund_id; one return per
//     refund), may be repeated, and never exceeds the subsidy in total; it is
//     synchronous and idempotent by out_order_no.
//   - A cancel needs a refund of the order and happens before the split.

// MaxSubsidyAmount is the most a single order may be subsidised, in fen (5000 yuan).
const MaxSubsidyAmount = 500000

// Subsidy results.
const (
	SubsidySuccess = "SUCCESS"
	subsidyFail    = "FAIL"
)

// SubsidyRequest is the body of POST /v3/ecommerce/subsidies/create.
type SubsidyRequest struct {
	SubMchID      string `json:"sub_mchid"`
	TransactionID string `json:"transaction_id"`
	Amount        int64  `json:"amount"`
	Description   string `json:"description"`
	OutSubsidyNo  string `json:"out_subsidy_no,omitempty"`
	RefundID      string `json:"refund_id,omitempty"` // when the amount is below the order's, after a refund
}

// Subsidy is the answer of a subsidy.
type Subsidy struct {
	SubMchID      string `json:"sub_mchid"`
	TransactionID string `json:"transaction_id"`
	SubsidyID     string `json:"subsidy_id"`
	OutSubsidyNo  string `json:"out_subsidy_no,omitempty"`
	Description   string `json:"description"`
	Amount        int64  `json:"amount"`
	Result        string `json:"result"` // SUCCESS, FAIL
	SuccessTime   string `json:"success_time,omitempty"`
}

// CreateSubsidy subsidises an order (请求补差). Retried on transient failures with the
// same bytes, which WeChat Pay charges once.
func (c *Client) CreateSubsidy(ctx context.Context, req SubsidyRequest) (*Subsidy, error) {
	var err error
	if req.SubMchID, err = c.subMchID(req.SubMchID); err != nil {
		return nil, err
	}
	if req.TransactionID == "" {
		return nil, invalid("transaction_id", "is required")
	}
	if req.Amount <= 0 || req.Amount > MaxSubsidyAmount {
		return nil, invalid("amount", "must be 1 to %d fen (5000 yuan per order), got %d", MaxSubsidyAmount, req.Amount)
	}
	if err := checkDescription("description", req.Description, 80); err != nil {
		return nil, err
	}
	if req.OutSubsidyNo != "" {
		if err := ValidateShareNo("out_subsidy_no", req.OutSubsidyNo); err != nil {
			return nil, err
		}
	}
	var out Subsidy
	if err := c.do(ctx, http.MethodPost, "/v3/ecommerce/subsidies/create", nil, &req, &out); err != nil {
		return nil, fmt.Errorf("wechatpay: subsidy of %s: %w", req.TransactionID, err)
	}
	return &out, nil
}

// SubsidyReturnRequest is the body of POST /v3/ecommerce/subsidies/return.
type SubsidyReturnRequest struct {
	SubMchID      string `json:"sub_mchid"`
	OutOrderNo    string `json:"out_order_no"` // the merchant's return number
	TransactionID string `json:"transaction_id"`
	RefundID      string `json:"refund_id,omitempty"` // required unless the refund failed for the payer's account
	Amount        int64  `json:"amount"`
	Description   string `json:"description"`
	SubsidyID     string `json:"subsidy_id,omitempty"`
}

// SubsidyReturn is the answer of a subsidy return.
type SubsidyReturn struct {
	SubMchID        string `json:"sub_mchid"`
	TargetOrderID   string `json:"target_order_id,omitempty"`
	TransactionID   string `json:"transaction_id"`
	SubsidyRefundID string `json:"subsidy_refund_id"`
	RefundID        string `json:"refund_id,omitempty"`
	OutOrderNo      string `json:"out_order_no"`
	Amount          int64  `json:"amount"`
	Description     string `json:"description"`
	Result          string `json:"result"` // SUCCESS, FAIL
	SuccessTime     string `json:"success_time,omitempty"`
}

// ReturnSubsidy gives a subsidy back to the platform after a refund (请求补差回退).
func (c *Client) ReturnSubsidy(ctx context.Context, req SubsidyReturnRequest) (*SubsidyReturn, error) {
	var err error
	if req.SubMchID, err = c.subMchID(req.SubMchID); err != nil {
		return nil, err
	}
	if err := ValidateShareNo("out_order_no", req.OutOrderNo); err != nil {
		return nil, err
	}
	if req.TransactionID == "" {
		return nil, invalid("transaction_id", "is required")
	}
	if err := checkShareAmount("amount", req.Amount); err != nil {
		return nil, err
	}
	if err := checkDescription("description", req.Description, 80); err != nil {
		return nil, err
	}
	var out SubsidyReturn
	if err := c.do(ctx, http.MethodPost, "/v3/ecommerce/subsidies/return", nil, &req, &out); err != nil {
		return nil, fmt.Errorf("wechatpay: subsidy return %s: %w", req.OutOrderNo, err)
	}
	return &out, nil
}

// SubsidyCancelRequest is the body of POST /v3/ecommerce/subsidies/cancel.
type SubsidyCancelRequest struct {
	SubMchID      string `json:"sub_mchid"`
	TransactionID string `json:"transaction_id"`
	Description   string `json:"description"`
}

// SubsidyCancel is the answer of a cancel.
type SubsidyCancel struct {
	SubMchID      string `json:"sub_mchid"`
	TransactionID string `json:"transaction_id"`
	Result        string `json:"result"` // SUCCESS, FAIL
	Description   string `json:"description"`
}

// CancelSubsidy gives up an order's subsidy so that it can be split (取消补差).
func (c *Client) CancelSubsidy(ctx context.Context, req SubsidyCancelRequest) (*SubsidyCancel, error) {
	var err error
	if req.SubMchID, err = c.subMchID(req.SubMchID); err != nil {
		return nil, err
	}
	if req.TransactionID == "" {
		return nil, invalid("transaction_id", "is required")
	}
	if err := checkDescription("description", req.Description, 80); err != nil {
		return nil, err
	}
	var out SubsidyCancel
	if err := c.do(ctx, http.MethodPost, "/v3/ecommerce/subsidies/cancel", nil, &req, &out); err != nil {
		return nil, fmt.Errorf("wechatpay: cancel subsidy of %s: %w", req.TransactionID, err)
	}
	return &out, nil
}
