package paysim

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/paysls/wxpay/shared/wechatpay"
)

// rfc3339CST formats t as WeChat Pay does: 2006-01-02T15:04:05+08:00.
func rfc3339CST(t time.Time) string { return wechatpay.FormatTime(t) }

// state is everything the simulator holds, in memory, guarded by Simulator.mu. Under
// `wxpay serve` it survives a restart (persist.go: a snapshot is the JSON of this
// struct), so new state goes here as an exported field with a JSON tag, in plain maps
// and slices of structs whose fields are exported too; an index pointing into another
// map is tagged json:"-" and rebuilt in reindex. The unexported fields below predate
// that rule and are carried explicitly by persist.go.
type state struct {
	orders        map[string]*order  // by orderKey: sub_mchid/out_trade_no (partner), out_trade_no (direct)
	byTransaction map[string]*order  // by transaction_id
	refunds       map[string]*refund // by out_refund_no
	deliveries    []*Delivery        // every notification attempt, oldest first
	bills         map[string]*billFile
	oauthCodes    map[string]*oauthCode // by code
	h5Links       map[string]*h5Link    // by prepay_id

	// Combines are combine orders (combine.go) by combine_out_trade_no, a namespace of its
	// own; their sub-orders are orders above, each with Combine set.
	Combines map[string]*combineOrder `json:"combines"`
	// CombineLinks maps an H5 combine's prepay_id to its combine_out_trade_no.
	CombineLinks map[string]string `json:"combine_links"`
	// EcommerceRefunds is what an e-commerce refund adds to its refund, by out_refund_no.
	EcommerceRefunds map[string]*ecommerceRefund `json:"ecommerce_refunds"`
	// AbnormalRefunds are 异常退款 applications, by out_refund_no.
	AbnormalRefunds map[string]*abnormalRefund `json:"abnormal_refunds"`
	// Sharing is profit sharing and subsidies (profitsharing.go).
	Sharing *sharingState `json:"sharing"`
	// Queued are the notifications of Config.ManualDelivery, oldest first (queue.go).
	Queued []*QueuedNotification `json:"queued,omitempty"`
}

func newState() *state {
	return &state{
		orders: map[string]*order{}, byTransaction: map[string]*order{},
		refunds: map[string]*refund{}, bills: map[string]*billFile{},
		oauthCodes: map[string]*oauthCode{}, h5Links: map[string]*h5Link{},
		Combines: map[string]*combineOrder{}, CombineLinks: map[string]string{}, EcommerceRefunds: map[string]*ecommerceRefund{}, AbnormalRefunds: map[string]*abnormalRefund{},
		Sharing: newSharingState(),
	}
}

// order is one prepay order as WeChat Pay holds it.
type order struct {
	Kind        string                   `json:"kind"` // jsapi, app, h5, native
	Partner     bool                     `json:"partner"`
	Request     wechatpay.PrepayRequest  `json:"request"`
	RawRequest  json.RawMessage          `json:"raw_request"`
	fingerprint string                   // canonical request, to tell a retry from a re-priced order
	prepayID    string                   // H5: the prepay_id inside the current h5_url
	Response    wechatpay.PrepayResponse `json:"response"`

	TransactionID string    `json:"transaction_id,omitempty"`
	TradeState    string    `json:"trade_state"`
	CreatedAt     time.Time `json:"created_at"`
	ExpireAt      time.Time `json:"expire_at"`
	SuccessTime   time.Time `json:"success_time,omitzero"`
	ClosedAt      time.Time `json:"closed_at,omitzero"`
	OpenID        string    `json:"openid,omitempty"`
	BankType      string    `json:"bank_type,omitempty"`
	Refunds       []string  `json:"refunds,omitempty"` // out_refund_no, in order
	// Combine is the combine_out_trade_no of a combine's sub-order: paid, queried and
	// closed only through its combine.
	Combine string `json:"combine,omitempty"`
}

// tradeType maps the prepay endpoint to trade_type.
func tradeType(kind string) string {
	switch kind {
	case "jsapi":
		return wechatpay.TradeTypeJSAPI
	case "app":
		return wechatpay.TradeTypeApp
	case "h5":
		return wechatpay.TradeTypeMWeb
	default:
		return wechatpay.TradeTypeNative
	}
}

// tradeStateDesc is the trade_state_desc WeChat Pay shows for each state.
func tradeStateDesc(state string) string {
	switch state {
	case wechatpay.TradeStateSuccess:
		return "支付成功"
	case wechatpay.TradeStateRefund:
		return "转入退款"
	case wechatpay.TradeStateNotPay:
		return "订单未支付"
	case wechatpay.TradeStateClosed:
		return "订单已关闭"
	case wechatpay.TradeStateUserPaying:
		return "用户支付中(输入密码中)"
	case wechatpay.TradeStatePayError:
		return "支付失败(其他原因,如银行返回失败)"
	case wechatpay.TradeStateRevoked:
		return "已撤销"
	}
	return state
}

// refund is one refund application.
type refund struct {
	Request     wechatpay.RefundRequest `json:"request"`
	fingerprint string
	OutTradeNo  string    `json:"out_trade_no"`
	RefundID    string    `json:"refund_id"`
	Status      string    `json:"status"`
	CreatedAt   time.Time `json:"created_at"`
	SuccessTime time.Time `json:"success_time,omitzero"`
}

// Delivery is one notification attempt, as listed by GET /sim/deliveries.
type Delivery struct {
	ID             string    `json:"id"` // the notification id (the same on every retry)
	URL            string    `json:"url"`
	Event          string    `json:"event"`
	Attempt        int       `json:"attempt"` // 1 = first try
	Copy           int       `json:"copy,omitempty"`
	Time           time.Time `json:"time"` // real time of the attempt
	Status         int       `json:"status,omitempty"`
	ResponseBody   string    `json:"response_body,omitempty"`
	Error          string    `json:"error,omitempty"`
	Probe          bool      `json:"probe,omitempty"`
	Verdict        string    `json:"verdict,omitempty"`
	NextRetryAfter string    `json:"next_retry_after,omitempty"`
	// RequestID is the Request-ID header the attempt carried, as WeChat Pay's do.
	RequestID string `json:"request_id,omitempty"`
}

// orderKey is where an order lives in state.orders. WeChat Pay keys out_trade_no per
// merchant: the partner docs call it "商户系统内部订单号，只能是数字、大小写字母_-*且在同一个商户号下唯一"
// and reach an order only with sp_mchid and sub_mchid together
// (pay.weixin.qq.com/wiki/doc/apiv3_partner/apis/chapter4_2_2.shtml, 查询订单), so two
// sub-merchants of one service provider (or platform) may each have an order "A1". A
// partner order is keyed "sub_mchid/out_trade_no"; a direct merchant's by out_trade_no
// alone (the simulator serves one direct merchant). out_trade_no cannot contain "/"
// (digits, letters and _-*|@ only), so the two kinds of key never meet.
func orderKey(subMchID, outTradeNo string) string {
	if subMchID == "" {
		return outTradeNo
	}
	return subMchID + "/" + outTradeNo
}

// key is where o lives in state.orders.
func (o *order) key() string { return orderKey(o.Request.SubMchID, o.Request.OutTradeNo) }

// orderOf is the order a refund refunds (nil if none): refunds carry the sub_mchid of
// their order in their request.
func (st *state) orderOf(rf *refund) *order {
	return st.orders[orderKey(rf.Request.SubMchID, rf.OutTradeNo)]
}

// findOrder resolves a driver's reference to an order (/sim routes, Pay): a full key
// ("sub_mchid/out_trade_no", or a direct order's out_trade_no), or a bare out_trade_no
// that only one sub-merchant uses. A bare number two sub-merchants share is ambiguous:
// the driver must say whose (?sub_mchid=), rather than the simulator picking one and
// moving the wrong merchant's money.
func (st *state) findOrder(ref string) (*order, error) {
	if o, ok := st.orders[ref]; ok {
		return o, nil
	}
	var found *order
	var subs []string
	for _, o := range st.orders {
		if o.Request.OutTradeNo == ref {
			found = o
			subs = append(subs, o.Request.SubMchID)
		}
	}
	switch len(subs) {
	case 0:
		return nil, nil
	case 1:
		return found, nil
	}
	slices.Sort(subs)
	return nil, fmt.Errorf("out_trade_no %q is used by sub_mchids %s: say whose (sub_mchid/out_trade_no, or ?sub_mchid=)", ref, strings.Join(subs, ", "))
}
