package wechatpay

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"net/url"
)

// The service provider's ordinary profit sharing (服务商分账, /v3/profitsharing/*,
// pay.weixin.qq.com/docs/partner/apis/profit-sharing/…): the same model as the
// e-commerce API with other paths and spellings — receivers are named by account (not
// receiver_account), a split says unfreeze_unsplit instead of finish, the remainder is
// released by POST /v3/profitsharing/orders/unfreeze, the order's state is "state",
// queries take the number in the path, receivers belong to one sub-merchant (sub_mchid
// in the body), returns answer return_id and FAILED. The limits are the same (50
// splits per order, 50 receivers per split); the payment stays frozen 30 days
// (PartnerFreeze); the sub-merchant sets the maximum ratio of shares, which
// MaxShareRatio reads (ten-thousandths).

// ShareReceiver is one receiver of a partner split request.
type ShareReceiver struct {
	Type        string `json:"type"` // MERCHANT_ID, PERSONAL_OPENID, PERSONAL_SUB_OPENID
	Account     string `json:"account"`
	Name        string `json:"name,omitempty"` // encrypted (EncryptOAEP); set Serial
	Amount      int64  `json:"amount"`
	Description string `json:"description"`
}

// ShareRequest is the body of POST /v3/profitsharing/orders.
type ShareRequest struct {
	SubMchID        string          `json:"sub_mchid"`
	AppID           string          `json:"appid,omitempty"`     // required with PERSONAL_OPENID receivers
	SubAppID        string          `json:"sub_appid,omitempty"` // required with PERSONAL_SUB_OPENID receivers
	TransactionID   string          `json:"transaction_id"`
	OutOrderNo      string          `json:"out_order_no"`
	Receivers       []ShareReceiver `json:"receivers"`
	UnfreezeUnsplit bool            `json:"unfreeze_unsplit"` // release the rest after this split
	Serial          string          `json:"-"`                // Wechatpay-Serial when a name is encrypted
}

// ShareReceiverResult is one receiver in a partner split's answer.
type ShareReceiverResult struct {
	Type        string `json:"type"`
	Account     string `json:"account"`
	Amount      int64  `json:"amount"`
	Description string `json:"description"`
	Result      string `json:"result"` // PENDING, SUCCESS, CLOSED
	FailReason  string `json:"fail_reason,omitempty"`
	DetailID    string `json:"detail_id"`
	CreateTime  string `json:"create_time,omitempty"`
	FinishTime  string `json:"finish_time,omitempty"`
}

// ShareOrder is the answer of a partner split, its query and unfreeze.
type ShareOrder struct {
	SubMchID      string                `json:"sub_mchid,omitempty"`
	TransactionID string                `json:"transaction_id"`
	OutOrderNo    string                `json:"out_order_no"`
	OrderID       string                `json:"order_id"`
	State         string                `json:"state"` // PROCESSING, FINISHED
	Receivers     []ShareReceiverResult `json:"receivers,omitempty"`
}

// Share requests a partner split (请求分账, POST /v3/profitsharing/orders).
func (c *Client) Share(ctx context.Context, req ShareRequest) (*ShareOrder, error) {
	var err error
	if req.SubMchID, err = c.subMchID(req.SubMchID); err != nil {
		return nil, err
	}
	if req.TransactionID == "" {
		return nil, invalid("transaction_id", "is required")
	}
	if err := ValidateShareNo("out_order_no", req.OutOrderNo); err != nil {
		return nil, err
	}
	if err := checkReceivers(len(req.Receivers)); err != nil {
		return nil, err
	}
	named := false
	for i, r := range req.Receivers {
		f := fmt.Sprintf("receivers[%d]", i)
		switch r.Type {
		case ReceiverMerchant:
		case ReceiverPersonalOpenID:
			req.AppID = cmp.Or(req.AppID, c.SpAppID, c.AppID)
			if req.AppID == "" {
				return nil, invalid("appid", "is required with a PERSONAL_OPENID receiver")
			}
		case ReceiverPersonalSubOpenID:
			req.SubAppID = cmp.Or(req.SubAppID, c.SubAppID)
			if req.SubAppID == "" {
				return nil, invalid("sub_appid", "is required with a PERSONAL_SUB_OPENID receiver")
			}
		default:
			return nil, invalid(f+".type", "must be MERCHANT_ID, PERSONAL_OPENID or PERSONAL_SUB_OPENID, got %q", r.Type)
		}
		if r.Account == "" {
			return nil, invalid(f+".account", "is required")
		}
		if err := checkShareAmount(f+".amount", r.Amount); err != nil {
			return nil, err
		}
		if err := checkDescription(f+".description", r.Description, 80); err != nil {
			return nil, err
		}
		named = named || r.Name != ""
	}
	if named && req.Serial == "" {
		return nil, invalid("name", "is encrypted, so the request needs Serial (Wechatpay-Serial)")
	}
	var out ShareOrder
	if err := c.send(ctx, call{method: http.MethodPost, path: "/v3/profitsharing/orders", body: &req, out: &out, serial: req.Serial}); err != nil {
		return nil, fmt.Errorf("wechatpay: split %s: %w", req.OutOrderNo, err)
	}
	return &out, nil
}

// QueryShare queries a partner split or unfreeze (GET /v3/profitsharing/orders/{out_order_no}).
func (c *Client) QueryShare(ctx context.Context, subMchID, transactionID, outOrderNo string) (*ShareOrder, error) {
	sub, err := c.subMchID(subMchID)
	if err != nil {
		return nil, err
	}
	if err := ValidateShareNo("out_order_no", outOrderNo); err != nil {
		return nil, err
	}
	q := url.Values{"sub_mchid": {sub}, "transaction_id": {transactionID}}
	var out ShareOrder
	if err := c.do(ctx, http.MethodGet, "/v3/profitsharing/orders/"+url.PathEscape(outOrderNo), q, nil, &out); err != nil {
		return nil, fmt.Errorf("wechatpay: query split %s: %w", outOrderNo, err)
	}
	return &out, nil
}

// UnfreezeRequest is the body of POST /v3/profitsharing/orders/unfreeze.
type UnfreezeRequest struct {
	SubMchID      string `json:"sub_mchid"`
	TransactionID string `json:"transaction_id"`
	OutOrderNo    string `json:"out_order_no"`
	Description   string `json:"description"`
}

// UnfreezeShare releases what a partner order still holds to the sub-merchant (解冻剩余资金).
func (c *Client) UnfreezeShare(ctx context.Context, req UnfreezeRequest) (*ShareOrder, error) {
	var err error
	if req.SubMchID, err = c.subMchID(req.SubMchID); err != nil {
		return nil, err
	}
	if req.TransactionID == "" {
		return nil, invalid("transaction_id", "is required")
	}
	if err := ValidateShareNo("out_order_no", req.OutOrderNo); err != nil {
		return nil, err
	}
	if err := checkDescription("description", req.Description, 80); err != nil {
		return nil, err
	}
	var out ShareOrder
	if err := c.do(ctx, http.MethodPost, "/v3/profitsharing/orders/unfreeze", nil, &req, &out); err != nil {
		return nil, fmt.Errorf("wechatpay: unfreeze %s: %w", req.OutOrderNo, err)
	}
	return &out, nil
}

// ReturnShare takes money back from a partner receiver (POST /v3/profitsharing/return-orders).
func (c *Client) ReturnShare(ctx context.Context, req ReturnRequest) (*ReturnOrder, error) {
	if err := c.checkReturn(&req); err != nil {
		return nil, err
	}
	req.TransactionID = ""
	var out ReturnOrder
	if err := c.do(ctx, http.MethodPost, "/v3/profitsharing/return-orders", nil, &req, &out); err != nil {
		return nil, fmt.Errorf("wechatpay: return %s: %w", req.OutReturnNo, err)
	}
	return &out, nil
}

// QueryReturn queries a partner return (GET /v3/profitsharing/return-orders/{out_return_no}).
func (c *Client) QueryReturn(ctx context.Context, subMchID, outOrderNo, outReturnNo string) (*ReturnOrder, error) {
	sub, err := c.subMchID(subMchID)
	if err != nil {
		return nil, err
	}
	if err := ValidateShareNo("out_return_no", outReturnNo); err != nil {
		return nil, err
	}
	if err := ValidateShareNo("out_order_no", outOrderNo); err != nil {
		return nil, err
	}
	q := url.Values{"sub_mchid": {sub}, "out_order_no": {outOrderNo}}
	var out ReturnOrder
	if err := c.do(ctx, http.MethodGet, "/v3/profitsharing/return-orders/"+url.PathEscape(outReturnNo), q, nil, &out); err != nil {
		return nil, fmt.Errorf("wechatpay: query return %s: %w", outReturnNo, err)
	}
	return &out, nil
}

// UnsplitAmountOf asks how much of a partner payment is left to split
// (GET /v3/profitsharing/transactions/{transaction_id}/amounts).
func (c *Client) UnsplitAmountOf(ctx context.Context, transactionID string) (*UnsplitAmount, error) {
	if transactionID == "" {
		return nil, invalid("transaction_id", "is required")
	}
	var out UnsplitAmount
	if err := c.do(ctx, http.MethodGet, "/v3/profitsharing/transactions/"+url.PathEscape(transactionID)+"/amounts", nil, nil, &out); err != nil {
		return nil, fmt.Errorf("wechatpay: unsplit amount of %s: %w", transactionID, err)
	}
	return &out, nil
}

// MaxShareRatio is a sub-merchant's ceiling of shares, in ten-thousandths.
type MaxShareRatio struct {
	SubMchID string `json:"sub_mchid"`
	MaxRatio int64  `json:"max_ratio"`
}

// QueryMaxShareRatio reads a sub-merchant's ceiling (GET /v3/profitsharing/merchant-configs/{sub_mchid}).
func (c *Client) QueryMaxShareRatio(ctx context.Context, subMchID string) (*MaxShareRatio, error) {
	sub, err := c.subMchID(subMchID)
	if err != nil {
		return nil, err
	}
	var out MaxShareRatio
	if err := c.do(ctx, http.MethodGet, "/v3/profitsharing/merchant-configs/"+url.PathEscape(sub), nil, nil, &out); err != nil {
		return nil, fmt.Errorf("wechatpay: max ratio of %s: %w", sub, err)
	}
	return &out, nil
}

// Receiver is the body of POST /v3/profitsharing/receivers/add and /delete (delete
// takes sub_mchid, appid, sub_appid, type and account only).
type Receiver struct {
	SubMchID       string `json:"sub_mchid"`
	AppID          string `json:"appid"`
	SubAppID       string `json:"sub_appid,omitempty"`
	Type           string `json:"type"`
	Account        string `json:"account"`
	Name           string `json:"name,omitempty"`          // encrypted; required for MERCHANT_ID
	RelationType   string `json:"relation_type,omitempty"` // SERVICE_PROVIDER, STORE, STAFF, … CUSTOM
	CustomRelation string `json:"custom_relation,omitempty"`
	Serial         string `json:"-"`
}

func (c *Client) checkReceiver(r *Receiver, add bool) error {
	var err error
	if r.SubMchID, err = c.subMchID(r.SubMchID); err != nil {
		return err
	}
	r.AppID = cmp.Or(r.AppID, c.SpAppID, c.AppID)
	if r.AppID == "" {
		return invalid("appid", "is required")
	}
	switch r.Type {
	case ReceiverMerchant, ReceiverPersonalOpenID, ReceiverPersonalSubOpenID:
	default:
		return invalid("type", "must be MERCHANT_ID, PERSONAL_OPENID or PERSONAL_SUB_OPENID, got %q", r.Type)
	}
	if r.Account == "" {
		return invalid("account", "is required")
	}
	if !add {
		r.Name, r.RelationType, r.CustomRelation = "", "", ""
		return nil
	}
	if r.RelationType == "" {
		return invalid("relation_type", "is required (SERVICE_PROVIDER, STORE, STAFF, STORE_OWNER, PARTNER, HEADQUARTER, BRAND, DISTRIBUTOR, USER, SUPPLIER or CUSTOM)")
	}
	if r.RelationType == "CUSTOM" && r.CustomRelation == "" {
		return invalid("custom_relation", "is required when relation_type is CUSTOM")
	}
	if r.Type == ReceiverMerchant && r.Name == "" {
		return invalid("name", "is required for a MERCHANT_ID receiver: the merchant's full name (商户全称), encrypted")
	}
	if r.Name != "" && r.Serial == "" {
		return invalid("name", "is encrypted, so the request needs Serial (Wechatpay-Serial)")
	}
	return nil
}

// AddReceiver adds a receiver for one sub-merchant (POST /v3/profitsharing/receivers/add).
func (c *Client) AddReceiver(ctx context.Context, r Receiver) (*ReceiverAnswer, error) {
	if err := c.checkReceiver(&r, true); err != nil {
		return nil, err
	}
	var out ReceiverAnswer
	if err := c.send(ctx, call{method: http.MethodPost, path: "/v3/profitsharing/receivers/add", body: &r, out: &out, serial: r.Serial}); err != nil {
		return nil, fmt.Errorf("wechatpay: add receiver %s: %w", r.Account, err)
	}
	return &out, nil
}

// DeleteReceiver removes a sub-merchant's receiver (POST /v3/profitsharing/receivers/delete).
func (c *Client) DeleteReceiver(ctx context.Context, r Receiver) (*ReceiverAnswer, error) {
	if err := c.checkReceiver(&r, false); err != nil {
		return nil, err
	}
	var out ReceiverAnswer
	if err := c.do(ctx, http.MethodPost, "/v3/profitsharing/receivers/delete", nil, &r, &out); err != nil {
		return nil, fmt.Errorf("wechatpay: delete receiver %s: %w", r.Account, err)
	}
	return &out, nil
}
