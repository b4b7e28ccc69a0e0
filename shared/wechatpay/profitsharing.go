package wechatpay

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// Profit sharing (分账) of 电商收付通 (platform mode): a payment whose order was placed
// with settle_info.profit_sharing=true stays frozen in the sub-merchant's account
// until the platform splits it among receivers and finishes the order, releasing the
// rest to the sub-merchant. The e-commerce API is /v3/ecommerce/profitsharing/*; the
// service provider's ordinary profit sharing (/v3/profitsharing/*) is in
// profitsharing_partner.go. Facts and where they come from:
//
//   - 请求分账 (pay.weixin.qq.com/docs/partner/apis/ecommerce-profit-sharing/orders/create-order.html):
//     at most 50 split requests per order, 50 receivers per request; asynchronous
//     (answer PROCESSING, result by query or notification); funds stay frozen 180 days
//     from payment, after which whatever was not split is released to the sub-merchant
//     automatically; out_order_no makes the call idempotent ("同一分账单号多次请求等同一
//     次", digits, letters and _-|*@, at most 64), and single, repeated and finishing
//     splits each need their own out_order_no.
//   - 平台收付通分账业务示例 (pay.weixin.qq.com/doc/v3/partner/4015870957): the platform is a
//     receiver by default; shares to others may total at most 30% of the order's
//     splittable amount by default (the platform can configure the ratio); a split is
//     possible about 30 s after payment.
//   - 分账常见问题 (developers.weixin.qq.com/community/pay/doc/000284823e8460aada68dacca5b008):
//     asked too early the split fails with "订单处理中,暂时无法分账,请稍后重试" — call it
//     1 minute after payment; the splittable amount is the payment minus WeChat Pay's
//     fee; "分账金额超出最大分账比例", "分账接收方关系不存在" (receiver not added) and
//     "分账金额不足" are INVALID_REQUEST / NOT_ENOUGH answers.
//   - 请求分账回退 (…/ecommerce-profit-sharing/return-orders/create-return-order.html):
//     synchronous; at most 50 returns per split; only from MERCHANT_ID receivers of a
//     FINISHED split whose receiver result is SUCCESS; within 180 days; a return may
//     come before or after the refund — they are not coupled.

// Receiver types (type).
const (
	ReceiverMerchant          = "MERCHANT_ID"
	ReceiverPersonalOpenID    = "PERSONAL_OPENID"
	ReceiverPersonalSubOpenID = "PERSONAL_SUB_OPENID" // partner mode only
)

// Relation types (relation_type) of an e-commerce receiver.
const (
	RelationSupplier        = "SUPPLIER"
	RelationDistributor     = "DISTRIBUTOR"
	relationServiceProvider = "SERVICE_PROVIDER"
	RelationPlatform        = "PLATFORM"
	relationOthers          = "OTHERS"
)

// States of a split order: status (e-commerce) or state (partner).
const (
	ShareProcessing = "PROCESSING"
	ShareFinished   = "FINISHED"
	// ShareClosed is an e-commerce status of older docs, with close_reason NO_AUTH.
	ShareClosed = "CLOSED"
)

// Results of one receiver's share (receivers[].result) and why it failed.
const (
	ShareResultPending = "PENDING"
	ShareResultSuccess = "SUCCESS"
	ShareResultClosed  = "CLOSED"

	ShareFailAccountAbnormal  = "ACCOUNT_ABNORMAL"
	ShareFailNoRelation       = "NO_RELATION"
	ShareFailHighRisk         = "RECEIVER_HIGH_RISK"
	ShareFailRealNameMissing  = "RECEIVER_REAL_NAME_NOT_VERIFIED"
	ShareFailNoAuth           = "NO_AUTH"
	ShareCloseReasonNoAuth    = "NO_AUTH"
	shareFailBalanceNotEnough = "BALANCE_NOT_ENOUGH"
)

// Results of a return (分账回退) and why it failed. The e-commerce and brand docs spell
// failure FAIL, the partner API FAILED (wechatpay-go's ReturnOrderStatus): check both
// with ReturnOrder.Failed.
const (
	ReturnProcessing = "PROCESSING"
	ReturnSuccess    = "SUCCESS"
	ReturnFail       = "FAIL"
	ReturnFailed     = "FAILED"

	ReturnFailAccountAbnormal      = "ACCOUNT_ABNORMAL"
	ReturnFailBalanceNotEnough     = "BALANCE_NOT_ENOUGH"
	ReturnFailTimeOutClosed        = "TIME_OUT_CLOSED"
	returnFailPayerAccountAbnormal = "PAYER_ACCOUNT_ABNORMAL"
	returnFailInvalidRequest       = "INVALID_REQUEST"
)

// WeChat Pay's limits and timing rules of profit sharing (see the sources above).
const (
	MaxSharesPerOrder    = 50
	MaxReceiversPerShare = 50
	MaxReturnsPerShare   = 50
	// ShareNotBefore is how long after payment a split may be requested.
	ShareNotBefore = time.Minute
	// EcommerceFreeze is how long an e-commerce payment stays frozen without a split
	// before its remainder is released automatically.
	EcommerceFreeze = 180 * 24 * time.Hour
	// PartnerFreeze is the same for the service provider's ordinary profit sharing
	// (分账常见问题: "普通商户分账订单默认冻结期是30天; 电商分账订单默认冻结期是180天").
	PartnerFreeze = 30 * 24 * time.Hour
	// ReturnWindow is how long after the split a return may be asked.
	ReturnWindow = 180 * 24 * time.Hour
	// ReturnTimeout: a return still PROCESSING after 5 days fails as TIME_OUT_CLOSED
	// (查询分账回退结果, brand-profit-sharing/return-orders/query-return-order.html).
	ReturnTimeout = 5 * 24 * time.Hour
	// DefaultMaxShareRatio is the default ceiling of shares to others, in ten-thousandths
	// of the splittable amount (max_ratio's unit): 30%.
	DefaultMaxShareRatio = 3000
)

// Notification event types of profit sharing (分账动账通知, pay.weixin.qq.com/wiki/doc/apiv3_partner/apis/chapter8_1_10.shtml).
// They go to the receiver, at the URL it set in its merchant platform, only for
// MERCHANT_ID receivers, on the usual retry schedule (15s/15s/30s/3m/…/6h, 24h4m).
const (
	EventProfitSharingSuccess = "PROFITSHARING.SUCCESS" // 分账
	EventProfitSharingReturn  = "PROFITSHARING.RETURN"  // 分账回退
)

// ValidateShareNo checks a merchant number of profit sharing or subsidies
// (out_order_no, out_return_no): 1–64 characters of digits, letters and _-|*@.
func ValidateShareNo(field, v string) error {
	if v == "" {
		return invalid(field, "is required")
	}
	if len(v) > 64 {
		return invalid(field, "is %d characters; at most 64", len(v))
	}
	for _, c := range v {
		ok := c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || strings.ContainsRune("_-|*@", c)
		if !ok {
			return invalid(field, "%q contains %q; only digits, letters and _-|*@ are allowed", v, c)
		}
	}
	return nil
}

func checkDescription(field, v string, max int) error {
	if v == "" {
		return invalid(field, "is required")
	}
	if utf8.RuneCountInString(v) > max {
		return invalid(field, "is %d characters; at most %d", utf8.RuneCountInString(v), max)
	}
	return nil
}

// EcommerceShareReceiver is one receiver of an e-commerce split request.
type EcommerceShareReceiver struct {
	Type            string `json:"type"`             // MERCHANT_ID or PERSONAL_OPENID
	ReceiverAccount string `json:"receiver_account"` // mchid or openid (of the request's appid)
	Amount          int64  `json:"amount"`           // fen
	Description     string `json:"description"`      // at most 80 characters
	// ReceiverName is the person's name encrypted with the platform key (EncryptOAEP);
	// set the request's Serial to that key's serial.
	ReceiverName string `json:"receiver_name,omitempty"`
}

// EcommerceShareRequest is the body of POST /v3/ecommerce/profitsharing/orders.
type EcommerceShareRequest struct {
	AppID         string                   `json:"appid,omitempty"` // required with PERSONAL_OPENID receivers
	SubMchID      string                   `json:"sub_mchid"`
	TransactionID string                   `json:"transaction_id"`
	OutOrderNo    string                   `json:"out_order_no"`
	Receivers     []EcommerceShareReceiver `json:"receivers"`
	// Finish releases whatever the order still holds to the sub-merchant once this
	// split is done: the order can then not be split again.
	Finish bool `json:"finish"`
	// Serial is sent as Wechatpay-Serial: the platform certificate serial or public
	// key id that encrypted receiver_name. Required when a receiver has a name.
	Serial string `json:"-"`
}

// EcommerceShareReceiverResult is one receiver in a split order's answer.
type EcommerceShareReceiverResult struct {
	ReceiverMchID   string `json:"receiver_mchid,omitempty"`
	Type            string `json:"type,omitempty"`
	ReceiverAccount string `json:"receiver_account,omitempty"`
	Amount          int64  `json:"amount"`
	Description     string `json:"description"`
	Result          string `json:"result,omitempty"` // PENDING, SUCCESS, CLOSED
	FailReason      string `json:"fail_reason,omitempty"`
	FinishTime      string `json:"finish_time,omitempty"`
	DetailID        string `json:"detail_id,omitempty"`
}

// EcommerceShareOrder is the answer of split, query and finish.
type EcommerceShareOrder struct {
	SubMchID          string                         `json:"sub_mchid"`
	TransactionID     string                         `json:"transaction_id"`
	OutOrderNo        string                         `json:"out_order_no"`
	OrderID           string                         `json:"order_id"`
	Status            string                         `json:"status,omitempty"` // PROCESSING, FINISHED
	Receivers         []EcommerceShareReceiverResult `json:"receivers,omitempty"`
	CloseReason       string                         `json:"close_reason,omitempty"`
	FinishAmount      int64                          `json:"finish_amount,omitempty"` // a finish order: what it released
	FinishDescription string                         `json:"finish_description,omitempty"`
}

func checkReceivers(n int) error {
	if n == 0 {
		return invalid("receivers", "is empty: name at least one receiver")
	}
	if n > MaxReceiversPerShare {
		return invalid("receivers", "has %d receivers; WeChat Pay takes at most %d per split", n, MaxReceiversPerShare)
	}
	return nil
}

func checkShareAmount(field string, amount int64) error {
	if amount <= 0 {
		return invalid(field, "must be a positive number of fen, got %d", amount)
	}
	return nil
}

func (c *Client) subMchID(v string) (string, error) {
	v = cmp.Or(v, c.SubMchID)
	if v == "" {
		return "", invalid("sub_mchid", "is required: the sub-merchant whose funds are split (use client.ForSub)")
	}
	return v, nil
}

// EcommerceShare requests a split (请求分账). The answer is usually PROCESSING: follow
// it with EcommerceQueryShare or the PROFITSHARING.* notifications. Retried on
// transient failures: the same out_order_no splits once.
func (c *Client) EcommerceShare(ctx context.Context, req EcommerceShareRequest) (*EcommerceShareOrder, error) {
	var err error
	if req.SubMchID, err = c.subMchID(req.SubMchID); err != nil {
		return nil, err
	}
	if req.TransactionID == "" {
		return nil, invalid("transaction_id", "is required: the paid order's transaction_id")
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
			if req.AppID == "" {
				req.AppID = cmp.Or(c.SpAppID, c.AppID)
			}
			if req.AppID == "" {
				return nil, invalid("appid", "is required with a PERSONAL_OPENID receiver: the appid the openid belongs to")
			}
		default:
			return nil, invalid(f+".type", "must be MERCHANT_ID or PERSONAL_OPENID, got %q", r.Type)
		}
		if r.ReceiverAccount == "" {
			return nil, invalid(f+".receiver_account", "is required")
		}
		if err := checkShareAmount(f+".amount", r.Amount); err != nil {
			return nil, err
		}
		if err := checkDescription(f+".description", r.Description, 80); err != nil {
			return nil, err
		}
		named = named || r.ReceiverName != ""
	}
	if named && req.Serial == "" {
		return nil, invalid("receiver_name", "is encrypted, so the request needs Serial (Wechatpay-Serial): the serial of the platform key that encrypted it")
	}
	var out EcommerceShareOrder
	if err := c.send(ctx, call{method: http.MethodPost, path: "/v3/ecommerce/profitsharing/orders", body: &req, out: &out, serial: req.Serial}); err != nil {
		return nil, fmt.Errorf("wechatpay: split %s: %w", req.OutOrderNo, err)
	}
	return &out, nil
}

// EcommerceQueryShare queries a split, or a finish, by its out_order_no (查询分账结果).
func (c *Client) EcommerceQueryShare(ctx context.Context, subMchID, transactionID, outOrderNo string) (*EcommerceShareOrder, error) {
	sub, err := c.subMchID(subMchID)
	if err != nil {
		return nil, err
	}
	if err := ValidateShareNo("out_order_no", outOrderNo); err != nil {
		return nil, err
	}
	q := url.Values{"sub_mchid": {sub}, "transaction_id": {transactionID}, "out_order_no": {outOrderNo}}
	var out EcommerceShareOrder
	if err := c.do(ctx, http.MethodGet, "/v3/ecommerce/profitsharing/orders", q, nil, &out); err != nil {
		return nil, fmt.Errorf("wechatpay: query split %s: %w", outOrderNo, err)
	}
	return &out, nil
}

// EcommerceFinishRequest is the body of POST /v3/ecommerce/profitsharing/finish-order.
type EcommerceFinishRequest struct {
	SubMchID      string `json:"sub_mchid"`
	TransactionID string `json:"transaction_id"`
	OutOrderNo    string `json:"out_order_no"` // a new number, not one of a split
	Description   string `json:"description"`
}

// EcommerceFinishShare finishes an order (完结分账): what it still holds is released to
// the sub-merchant and it can no longer be split. Query the result with
// EcommerceQueryShare and the finish's out_order_no (finish_amount).
func (c *Client) EcommerceFinishShare(ctx context.Context, req EcommerceFinishRequest) (*EcommerceShareOrder, error) {
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
	var out EcommerceShareOrder
	if err := c.do(ctx, http.MethodPost, "/v3/ecommerce/profitsharing/finish-order", nil, &req, &out); err != nil {
		return nil, fmt.Errorf("wechatpay: finish %s: %w", req.OutOrderNo, err)
	}
	return &out, nil
}

// ReturnRequest is the body of a return (分账回退): POST
// /v3/ecommerce/profitsharing/returnorders (e-commerce) and
// /v3/profitsharing/return-orders (partner). One of OrderID and OutOrderNo names the
// split.
type ReturnRequest struct {
	SubMchID      string `json:"sub_mchid"`
	OrderID       string `json:"order_id,omitempty"`
	OutOrderNo    string `json:"out_order_no,omitempty"`
	OutReturnNo   string `json:"out_return_no"`
	ReturnMchID   string `json:"return_mchid"` // the MERCHANT_ID receiver giving the money back
	Amount        int64  `json:"amount"`
	Description   string `json:"description"`
	TransactionID string `json:"transaction_id,omitempty"` // e-commerce, optional
}

// ReturnOrder is the answer of a return and its query.
type ReturnOrder struct {
	SubMchID    string `json:"sub_mchid"`
	OrderID     string `json:"order_id"`
	OutOrderNo  string `json:"out_order_no"`
	OutReturnNo string `json:"out_return_no"`
	ReturnMchID string `json:"return_mchid"`
	Amount      int64  `json:"amount"`
	// ReturnNo (e-commerce) and ReturnID (partner) are WeChat Pay's return number.
	ReturnNo    string `json:"return_no,omitempty"`
	ReturnID    string `json:"return_id,omitempty"`
	Result      string `json:"result"` // PROCESSING, SUCCESS, FAIL / FAILED
	FailReason  string `json:"fail_reason,omitempty"`
	FinishTime  string `json:"finish_time,omitempty"`
	CreateTime  string `json:"create_time,omitempty"`
	Description string `json:"description,omitempty"`
}

// Failed reports a failed return under either spelling.
func (r *ReturnOrder) Failed() bool { return r.Result == ReturnFail || r.Result == ReturnFailed }

func (c *Client) checkReturn(req *ReturnRequest) error {
	var err error
	if req.SubMchID, err = c.subMchID(req.SubMchID); err != nil {
		return err
	}
	if (req.OrderID == "") == (req.OutOrderNo == "") {
		return invalid("order_id/out_order_no", "exactly one of them must name the split to return")
	}
	if err := ValidateShareNo("out_return_no", req.OutReturnNo); err != nil {
		return err
	}
	if req.ReturnMchID == "" {
		return invalid("return_mchid", "is required: the merchant receiver the money comes back from (returns from people are not possible)")
	}
	if err := checkShareAmount("amount", req.Amount); err != nil {
		return err
	}
	return checkDescription("description", req.Description, 80)
}

// EcommerceReturnShare takes money back from a receiver (请求分账回退), synchronous but
// possibly PROCESSING. Retried on transient failures: out_return_no returns once.
func (c *Client) EcommerceReturnShare(ctx context.Context, req ReturnRequest) (*ReturnOrder, error) {
	if err := c.checkReturn(&req); err != nil {
		return nil, err
	}
	var out ReturnOrder
	if err := c.do(ctx, http.MethodPost, "/v3/ecommerce/profitsharing/returnorders", nil, &req, &out); err != nil {
		return nil, fmt.Errorf("wechatpay: return %s: %w", req.OutReturnNo, err)
	}
	return &out, nil
}

// EcommerceQueryReturn queries a return (查询分账回退结果); one of orderID and
// outOrderNo names the split.
func (c *Client) EcommerceQueryReturn(ctx context.Context, subMchID, orderID, outOrderNo, outReturnNo string) (*ReturnOrder, error) {
	sub, err := c.subMchID(subMchID)
	if err != nil {
		return nil, err
	}
	if (orderID == "") == (outOrderNo == "") {
		return nil, invalid("order_id/out_order_no", "exactly one of them must name the split")
	}
	if err := ValidateShareNo("out_return_no", outReturnNo); err != nil {
		return nil, err
	}
	q := url.Values{"sub_mchid": {sub}, "out_return_no": {outReturnNo}}
	if orderID != "" {
		q.Set("order_id", orderID)
	} else {
		q.Set("out_order_no", outOrderNo)
	}
	var out ReturnOrder
	if err := c.do(ctx, http.MethodGet, "/v3/ecommerce/profitsharing/returnorders", q, nil, &out); err != nil {
		return nil, fmt.Errorf("wechatpay: query return %s: %w", outReturnNo, err)
	}
	return &out, nil
}

// UnsplitAmount is what an order still holds for splitting.
type UnsplitAmount struct {
	TransactionID string `json:"transaction_id"`
	UnsplitAmount int64  `json:"unsplit_amount"`
}

// EcommerceUnsplitAmount asks how much of a payment is left to split
// (GET /v3/ecommerce/profitsharing/orders/{transaction_id}/amounts, 查询订单剩余待分金额).
func (c *Client) EcommerceUnsplitAmount(ctx context.Context, transactionID string) (*UnsplitAmount, error) {
	if transactionID == "" {
		return nil, invalid("transaction_id", "is required")
	}
	var out UnsplitAmount
	if err := c.do(ctx, http.MethodGet, "/v3/ecommerce/profitsharing/orders/"+url.PathEscape(transactionID)+"/amounts", nil, nil, &out); err != nil {
		return nil, fmt.Errorf("wechatpay: unsplit amount of %s: %w", transactionID, err)
	}
	return &out, nil
}

// EcommerceReceiver is the body of POST /v3/ecommerce/profitsharing/receivers/add and
// /delete (delete takes appid, type and account only). Receivers are the platform's:
// once added, every sub-merchant may split to them; at most 20,000 (添加分账接收方,
// pay.weixin.qq.com/doc/v3/partner/4012477758).
type EcommerceReceiver struct {
	AppID   string `json:"appid,omitempty"` // required with PERSONAL_OPENID
	Type    string `json:"type"`            // MERCHANT_ID or PERSONAL_OPENID
	Account string `json:"account"`
	// Name is, for a MERCHANT_ID, the merchant's full name (商户全称, required; for a
	// micro or individual merchant the account holder's name), in plain text: unlike
	// the partner API, this one does not encrypt it.
	Name string `json:"name,omitempty"`
	// EncryptedName is a person's name for a PERSONAL_OPENID, encrypted (EncryptOAEP)
	// and checked against the real name when given (the 2020 doc's encrypted_name);
	// set Serial with it.
	EncryptedName string `json:"encrypted_name,omitempty"`
	RelationType  string `json:"relation_type,omitempty"` // SUPPLIER, DISTRIBUTOR, SERVICE_PROVIDER, PLATFORM, OTHERS
	Serial        string `json:"-"`                       // Wechatpay-Serial of the key that encrypted EncryptedName
}

// ReceiverAnswer is what receivers/add and /delete answer.
type ReceiverAnswer struct {
	SubMchID       string `json:"sub_mchid,omitempty"`
	Type           string `json:"type"`
	Account        string `json:"account"`
	Name           string `json:"name,omitempty"`
	RelationType   string `json:"relation_type,omitempty"`
	CustomRelation string `json:"custom_relation,omitempty"`
}

func (c *Client) checkEcommerceReceiver(r *EcommerceReceiver, add bool) error {
	switch r.Type {
	case ReceiverMerchant:
	case ReceiverPersonalOpenID:
		r.AppID = cmp.Or(r.AppID, c.SpAppID, c.AppID)
		if r.AppID == "" {
			return invalid("appid", "is required with a PERSONAL_OPENID receiver: the appid the openid belongs to")
		}
	default:
		return invalid("type", "must be MERCHANT_ID or PERSONAL_OPENID, got %q", r.Type)
	}
	if r.Account == "" {
		return invalid("account", "is required")
	}
	if !add {
		r.Name, r.EncryptedName, r.RelationType = "", "", ""
		return nil
	}
	if r.Type == ReceiverMerchant && r.Name == "" {
		return invalid("name", "is required for a MERCHANT_ID receiver: the merchant's full name (商户全称)")
	}
	switch r.RelationType {
	case RelationSupplier, RelationDistributor, relationServiceProvider, RelationPlatform, relationOthers:
	default:
		return invalid("relation_type", "must be SUPPLIER, DISTRIBUTOR, SERVICE_PROVIDER, PLATFORM or OTHERS, got %q", r.RelationType)
	}
	if r.EncryptedName != "" && r.Serial == "" {
		return invalid("encrypted_name", "is encrypted, so the request needs Serial (Wechatpay-Serial)")
	}
	return nil
}

// EcommerceAddReceiver adds a receiver (添加分账接收方). Adding the same receiver
// again is harmless.
func (c *Client) EcommerceAddReceiver(ctx context.Context, r EcommerceReceiver) (*ReceiverAnswer, error) {
	if err := c.checkEcommerceReceiver(&r, true); err != nil {
		return nil, err
	}
	var out ReceiverAnswer
	if err := c.send(ctx, call{method: http.MethodPost, path: "/v3/ecommerce/profitsharing/receivers/add", body: &r, out: &out, serial: r.Serial}); err != nil {
		return nil, fmt.Errorf("wechatpay: add receiver %s: %w", r.Account, err)
	}
	return &out, nil
}

// EcommerceDeleteReceiver removes a receiver (删除分账接收方).
func (c *Client) EcommerceDeleteReceiver(ctx context.Context, r EcommerceReceiver) (*ReceiverAnswer, error) {
	if err := c.checkEcommerceReceiver(&r, false); err != nil {
		return nil, err
	}
	var out ReceiverAnswer
	if err := c.do(ctx, http.MethodPost, "/v3/ecommerce/profitsharing/receivers/delete", nil, &r, &out); err != nil {
		return nil, fmt.Errorf("wechatpay: delete receiver %s: %w", r.Account, err)
	}
	return &out, nil
}

// ProfitSharingNotice is the decrypted resource of a profit-sharing notification
// (分账动账通知): one receiver's movement of one split or return.
type ProfitSharingNotice struct {
	MchID         string `json:"mchid,omitempty"`
	SpMchID       string `json:"sp_mchid,omitempty"`
	SubMchID      string `json:"sub_mchid,omitempty"`
	TransactionID string `json:"transaction_id"`
	OrderID       string `json:"order_id"`     // WeChat Pay's split or return number
	OutOrderNo    string `json:"out_order_no"` // the merchant's split or return number
	Receiver      struct {
		Type        string `json:"type"`
		Account     string `json:"account"`
		Amount      int64  `json:"amount"`
		Description string `json:"description"`
	} `json:"receiver"`
	SuccessTime string `json:"success_time"`
	// Kind is "split" or "return" from the event type, "" when the event type does not
	// say (see DecodeProfitSharingNotice).
	Kind string `json:"-"`
}

// DecodeProfitSharingNotice decodes the plaintext of a profit-sharing notification.
// The docs name the events PROFITSHARING.SUCCESS and PROFITSHARING.RETURN, but
// merchants report receiving TRANSACTION.SUCCESS for both (WeChat Pay's own v2 page of
// 分账动账通知, pay.weixin.qq.com/doc/v2/partner/4011985282, lists TRANSACTION.SUCCESS
// twice): such a notification is recognised by its resource (order_id and a
// receiver), and its Kind is left empty — query the split or the return to know.
func DecodeProfitSharingNotice(n *Notification, plaintext []byte) (*ProfitSharingNotice, error) {
	var p ProfitSharingNotice
	if err := json.Unmarshal(plaintext, &p); err != nil {
		return nil, notifyErr(ErrNotifyMalformed, fmt.Errorf("profit-sharing resource: %w", err))
	}
	switch n.EventType {
	case EventProfitSharingSuccess:
		p.Kind = "split"
	case EventProfitSharingReturn:
		p.Kind = "return"
	case EventTransactionSuccess:
	default:
		return nil, notifyErr(ErrNotifyMalformed, fmt.Errorf("event_type %q is not a profit-sharing notification", n.EventType))
	}
	if p.OrderID == "" || p.OutOrderNo == "" || p.Receiver.Account == "" {
		return nil, notifyErr(ErrNotifyMalformed, errors.New("profit-sharing resource lacks order_id, out_order_no or receiver.account"))
	}
	return &p, nil
}

// IsProfitSharingNotice tells a profit-sharing notification from a payment one that
// shares the TRANSACTION.SUCCESS event type: it has order_id and a receiver.
func IsProfitSharingNotice(n *Notification, plaintext []byte) bool {
	if strings.HasPrefix(n.EventType, "PROFITSHARING.") {
		return true
	}
	if n.EventType != EventTransactionSuccess {
		return false
	}
	var probe struct {
		OrderID  string          `json:"order_id"`
		Receiver json.RawMessage `json:"receiver"`
	}
	return json.Unmarshal(plaintext, &probe) == nil && probe.OrderID != "" && len(probe.Receiver) > 0
}

// sharingRetrySafe lists the profit-sharing and subsidy POSTs WeChat Pay deduplicates
// by the merchant's number or by their identical parameters, so that a retry after a
// lost answer changes nothing: splits and finishes (out_order_no), returns
// (out_return_no), unfreeze (out_order_no), receivers (the same receiver), subsidies
// ("请求参数相同只会扣款一次", 请求补差; returns by out_order_no; cancel).
func sharingRetrySafe(path string) bool {
	return strings.HasPrefix(path, "/v3/ecommerce/profitsharing/") || strings.HasPrefix(path, "/v3/profitsharing/") ||
		strings.HasPrefix(path, "/v3/ecommerce/subsidies/")
}
