package wechatpay

// Combine orders (合单支付): one payment by the user for several sub-orders, each an order
// of its own with its own out_trade_no (and sub_mchid in partner and e-commerce mode).
// What WeChat Pay's docs fix, and this file and the simulator enforce:
//
//   - Sub-orders per combine: 1 to 50 for service providers and platforms (服务商/平台商户:
//     "最多支持子单条数:50", 合单下单-JSAPI/H5/Native, pay.weixin.qq.com/docs/partner/apis/
//     ecommerce-combine-payment/native-prepay.html; "一笔合单支付订单可支持1-50笔子单交易",
//     pay.weixin.qq.com/docs/partner/products/combine-payment/apilist-h5.html), 2 to 10 for a
//     direct merchant ("普通商户模式只支持2-10笔订单进行合单支付",
//     pay.weixin.qq.com/docs/merchant/products/combine-payment/apilist-h5.html).
//   - Numbers: combine_out_trade_no is unique under combine_mchid ("且在同一个合单服务商商户号
//     combine_mchid下唯一", JSAPI合单下单, pay.weixin.qq.com/docs/partner/products/
//     combine-payment/apilist-jsapi.html) and may equal one of its sub-orders' numbers ("The
//     merged order interface supports sharing of the same value between the merged order
//     number and sub-order number", pay.weixin.qq.com/wiki/doc/api_external/en/faq/
//     chapter1_1_7.shtml). A sub-order's out_trade_no lives in the same space as ordinary
//     orders of the platform: unique under the service provider's / platform's mchid, across
//     all its sub-merchants ("且在同一个服务商商户号下唯一", JSAPI/小程序下单,
//     pay.weixin.qq.com/docs/partner/products/partner-mini-program-payment/apilist.html).
//     The 电商收付通 pages allow 2 to 32 characters ("最短2个字符,最长32个字符"); digits,
//     letters and _-|*.
//   - scene_info: optional, but when sent payer_client_ip is required (the user's real IPv4
//     or IPv6 address, never a proxy's); H5 needs scene_info with payer_client_ip and
//     device_id, h5_info optional (合单下单-H5, pay.weixin.qq.com/doc/v3/partner/4012760626).
//   - time_expire: RFC 3339 with its zone, set only at the first prepay ("time_expire 参数仅
//     在用户首次下单时可设置,且不允许后续修改"); without it an unpaid combine cannot be paid
//     after 7 days ("超过 7 天未支付的订单,无法再支付", 合单下单-Native,
//     pay.weixin.qq.com/docs/partner/apis/combine-payment-identity/orders/native-prepay.html).
//   - Each sub-order's attach is required (1 to 128 characters) and description 1 to 127.
//   - Query and close only through the combine APIs ("请勿使用非合单支付的查单接口查询合单
//     订单", 查询合单订单, pay.weixin.qq.com/doc/v3/merchant/4012557006; "合单支付订单只能
//     使用此合单关单api完成关单"); close repeats every sub-order exactly ("关单的平台商户号、
//     交易单订单号、商品单个数、商品单发起商户号、商品单订单号必须与下单时完全一致",
//     合单关闭订单, pay.weixin.qq.com/doc/v3/partner/4015973150) and is refused in the
//     first 5 minutes like any close.
//   - The notification: one TRANSACTION.SUCCESS whose resource (original_type
//     "transaction") carries combine_appid, combine_mchid, combine_out_trade_no,
//     combine_payer_info and every sub-order's result in sub_orders[] (合单订单支付成功回调
//     通知, pay.weixin.qq.com/docs/partner/apis/combine-payment/orders/payment-notice.html).
//     Its event_type is the one of single orders: tell them apart by combine_out_trade_no
//     (IsCombineResource).
//   - Paying: JSAPI/mini-program and APP bundles are the ordinary ones signed over the
//     combine's prepay_id with combine_appid; APP's partnerid is combine_mchid.

import (
	"cmp"
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// Sub-order counts of a combine order (see the file comment for the docs).
const (
	// MaxCombineSubOrders is the most sub-orders of a partner or e-commerce combine.
	MaxCombineSubOrders = 50
	// minCombineSubOrdersDirect and maxCombineSubOrdersDirect bound a direct merchant's.
	minCombineSubOrdersDirect = 2
	maxCombineSubOrdersDirect = 10
)

// CodeRuleLimit is WeChat Pay's 403 answer to a close in an order's or a combine's
// first 5 minutes ("订单生成后不能马上调用关单接口,最短调用时间间隔为5分钟"): retry the
// close after that.
const CodeRuleLimit = "RULELIMIT"

// CombineAmount is a sub-order's amount, in fen. Requests carry total_amount and
// currency; queries and notifications add what the payer paid.
type CombineAmount struct {
	TotalAmount    int64  `json:"total_amount"`
	Currency       string `json:"currency,omitempty"`
	PayerAmount    int64  `json:"payer_amount,omitempty"`
	PayerCurrency  string `json:"payer_currency,omitempty"`
	SettlementRate int64  `json:"settlement_rate,omitempty"`
}

// CombineSettleInfo is a sub-order's settle_info: profit sharing (the funds stay frozen
// for the platform's share) and the platform's subsidy (补差) in fen.
type CombineSettleInfo struct {
	ProfitSharing bool  `json:"profit_sharing"`
	SubsidyAmount int64 `json:"subsidy_amount,omitempty"`
}

// CombineSubOrder is one sub_orders[] entry of a combine prepay.
type CombineSubOrder struct {
	// MchID is the platform's (service provider's) mchid in partner and e-commerce mode,
	// the participating merchant's in direct mode.
	MchID       string             `json:"mchid"`
	Attach      string             `json:"attach"`
	Amount      CombineAmount      `json:"amount"`
	OutTradeNo  string             `json:"out_trade_no"`
	SubMchID    string             `json:"sub_mchid,omitempty"`
	SubAppID    string             `json:"sub_appid,omitempty"`
	Detail      string             `json:"detail,omitempty"`
	GoodsTag    string             `json:"goods_tag,omitempty"`
	Description string             `json:"description"`
	SettleInfo  *CombineSettleInfo `json:"settle_info,omitempty"`
}

// CombinePayerInfo is combine_payer_info: the payer's openid under combine_appid (and
// sub_openid under a sub-order's sub_appid).
type CombinePayerInfo struct {
	OpenID    string `json:"openid,omitempty"`
	SubOpenID string `json:"sub_openid,omitempty"`
}

// CombineSceneInfo is a combine's scene_info.
type CombineSceneInfo struct {
	DeviceID      string  `json:"device_id,omitempty"`
	PayerClientIP string  `json:"payer_client_ip,omitempty"`
	H5Info        *H5Info `json:"h5_info,omitempty"`
}

// CombinePrepayRequest is the body of POST /v3/combine-transactions/{jsapi,app,h5,native}.
type CombinePrepayRequest struct {
	CombineAppID      string            `json:"combine_appid"`
	CombineMchID      string            `json:"combine_mchid"`
	CombineOutTradeNo string            `json:"combine_out_trade_no"`
	SceneInfo         *CombineSceneInfo `json:"scene_info,omitempty"`
	SubOrders         []CombineSubOrder `json:"sub_orders"`
	CombinePayerInfo  *CombinePayerInfo `json:"combine_payer_info,omitempty"`
	TimeStart         string            `json:"time_start,omitempty"`
	TimeExpire        string            `json:"time_expire,omitempty"`
	NotifyURL         string            `json:"notify_url"`
}

// CloseSubOrders lists the sub-orders a close of r must repeat, exactly as placed.
func (r *CombinePrepayRequest) CloseSubOrders() []CombineCloseSubOrder {
	out := make([]CombineCloseSubOrder, len(r.SubOrders))
	for i, s := range r.SubOrders {
		out[i] = CombineCloseSubOrder{MchID: s.MchID, OutTradeNo: s.OutTradeNo, SubMchID: s.SubMchID, SubAppID: s.SubAppID}
	}
	return out
}

// CombineCloseSubOrder is one sub_orders[] entry of a combine close.
type CombineCloseSubOrder struct {
	MchID      string `json:"mchid"`
	OutTradeNo string `json:"out_trade_no"`
	SubMchID   string `json:"sub_mchid,omitempty"`
	SubAppID   string `json:"sub_appid,omitempty"`
}

// CombineCloseRequest is the body of POST
// /v3/combine-transactions/out-trade-no/{combine_out_trade_no}/close.
type CombineCloseRequest struct {
	CombineAppID string                 `json:"combine_appid"`
	SubOrders    []CombineCloseSubOrder `json:"sub_orders"`
}

// CombineSubTransaction is one sub-order's result in a combine query or notification.
type CombineSubTransaction struct {
	MchID           string            `json:"mchid"`
	TradeType       string            `json:"trade_type,omitempty"`
	TradeState      string            `json:"trade_state"`
	BankType        string            `json:"bank_type,omitempty"`
	Attach          string            `json:"attach,omitempty"`
	SuccessTime     string            `json:"success_time,omitempty"`
	TransactionID   string            `json:"transaction_id,omitempty"`
	OutTradeNo      string            `json:"out_trade_no"`
	SubMchID        string            `json:"sub_mchid,omitempty"`
	SubAppID        string            `json:"sub_appid,omitempty"`
	SubOpenID       string            `json:"sub_openid,omitempty"`
	Amount          CombineAmount     `json:"amount"`
	PromotionDetail []PromotionDetail `json:"promotion_detail,omitempty"`
}

// CombineTransaction is a combine query answer and the decrypted resource of its
// TRANSACTION.SUCCESS notification.
type CombineTransaction struct {
	CombineAppID      string                  `json:"combine_appid"`
	CombineMchID      string                  `json:"combine_mchid"`
	CombineOutTradeNo string                  `json:"combine_out_trade_no"`
	SceneInfo         *CombineSceneInfo       `json:"scene_info,omitempty"`
	SubOrders         []CombineSubTransaction `json:"sub_orders"`
	CombinePayerInfo  *CombinePayerInfo       `json:"combine_payer_info,omitempty"`
}

// Transactions renders each sub-order as the Transaction of a single order (partner
// fields when it has a sub_mchid, direct ones otherwise), so that a sub-order's result
// goes through the same code as an ordinary payment's.
func (c *CombineTransaction) Transactions() []Transaction {
	out := make([]Transaction, len(c.SubOrders))
	for i, s := range c.SubOrders {
		t := Transaction{
			OutTradeNo: s.OutTradeNo, TransactionID: s.TransactionID, TradeType: s.TradeType, TradeState: s.TradeState,
			BankType: s.BankType, Attach: s.Attach, SuccessTime: s.SuccessTime, PromotionDetail: s.PromotionDetail,
			Amount: &Amount{Total: s.Amount.TotalAmount, Currency: s.Amount.Currency, PayerTotal: s.Amount.PayerAmount,
				PayerCurrency: s.Amount.PayerCurrency},
		}
		var openID string
		if c.CombinePayerInfo != nil {
			openID = c.CombinePayerInfo.OpenID
		}
		if s.SubMchID != "" {
			t.SpAppID, t.SpMchID, t.SubAppID, t.SubMchID = c.CombineAppID, s.MchID, s.SubAppID, s.SubMchID
			if openID != "" || s.SubOpenID != "" {
				t.Payer = &Payer{SpOpenID: openID, SubOpenID: s.SubOpenID}
			}
		} else {
			t.AppID, t.MchID = c.CombineAppID, s.MchID
			if openID != "" {
				t.Payer = &Payer{OpenID: openID}
			}
		}
		out[i] = t
	}
	return out
}

// ValidateCombineOutTradeNo checks a combine_out_trade_no or a sub-order's out_trade_no:
// 2 to 32 characters of digits, letters and _-|* (the 电商收付通 合单 pages: "最短2个字符,
// 最长32个字符,只能是数字、大小写字母,以及_-|*").
func ValidateCombineOutTradeNo(field, s string) error {
	if len(s) < 2 || len(s) > 32 {
		return invalid(field, "must be 2 to 32 characters, got %d", len(s))
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '-' || c == '*' || c == '|') {
			return invalid(field, "may contain only digits, letters and _-|*; found %q at position %d", c, i)
		}
	}
	return nil
}

// ValidateCombine applies WeChat Pay's rules for a combine prepay of scene to req, each
// failure naming the field as WeChat Pay does (sub_orders[2].attach). partner tells the
// mode: sub-orders with sub_mchid (1 to 50) or without (2 to 10). The simulator answers
// the same failures with PARAM_ERROR.
func ValidateCombine(scene Scene, req *CombinePrepayRequest, partner bool, opt NotifyURLOptions) error {
	if req.CombineAppID == "" {
		return invalid("combine_appid", "is required")
	}
	if req.CombineMchID == "" {
		return invalid("combine_mchid", "is required")
	}
	if err := ValidateCombineOutTradeNo("combine_out_trade_no", req.CombineOutTradeNo); err != nil {
		return err
	}
	if err := ValidateNotifyURL(req.NotifyURL, opt); err != nil {
		return err
	}
	n := len(req.SubOrders)
	if partner {
		if n < 1 || n > MaxCombineSubOrders {
			return invalid("sub_orders", "has %d sub-orders; a partner or e-commerce combine takes 1 to %d", n, MaxCombineSubOrders)
		}
	} else if n < minCombineSubOrdersDirect || n > maxCombineSubOrdersDirect {
		return invalid("sub_orders", "has %d sub-orders; a direct merchant's combine takes %d to %d", n, minCombineSubOrdersDirect, maxCombineSubOrdersDirect)
	}
	seen := make(map[string]int, n)
	for i := range req.SubOrders {
		s := &req.SubOrders[i]
		f := func(name string) string { return fmt.Sprintf("sub_orders[%d].%s", i, name) }
		if s.MchID == "" {
			return invalid(f("mchid"), "is required")
		}
		if partner {
			if s.SubMchID == "" {
				return invalid(f("sub_mchid"), "is required in partner and e-commerce mode: the sub-merchant (二级商户) selling this sub-order")
			}
			if s.MchID != req.CombineMchID {
				return invalid(f("mchid"), "is %s; in partner and e-commerce mode it is the platform's mchid, combine_mchid %s", s.MchID, req.CombineMchID)
			}
		} else if s.SubMchID != "" || s.SubAppID != "" {
			return invalid(f("sub_mchid"), "is a partner-mode field; every sub-order of a direct merchant's combine names its merchant in mchid only")
		}
		if err := ValidateCombineOutTradeNo(f("out_trade_no"), s.OutTradeNo); err != nil {
			return err
		}
		if j, dup := seen[s.OutTradeNo]; dup {
			return invalid(f("out_trade_no"), "%s repeats sub_orders[%d]: each sub-order is an order of its own with its own out_trade_no", s.OutTradeNo, j)
		}
		seen[s.OutTradeNo] = i
		if s.Attach == "" {
			return invalid(f("attach"), "is required in a combine sub-order (1 to 128 characters, returned as is by query and notification)")
		}
		if len(s.Attach) > 128 {
			return invalid(f("attach"), "is %d bytes; at most 128", len(s.Attach))
		}
		if s.Description == "" {
			return invalid(f("description"), "is required")
		}
		if c := utf8.RuneCountInString(s.Description); c > 127 {
			return invalid(f("description"), "is %d characters; at most 127", c)
		}
		if err := ValidateAmount(f("amount.total_amount"), s.Amount.TotalAmount); err != nil {
			return err
		}
		if s.Amount.Currency != "CNY" {
			return invalid(f("amount.currency"), "must be CNY, got %q", s.Amount.Currency)
		}
		if si := s.SettleInfo; si != nil && (si.SubsidyAmount < 0 || si.SubsidyAmount > s.Amount.TotalAmount) {
			return invalid(f("settle_info.subsidy_amount"), "%d fen is outside 0 to the sub-order's %d", si.SubsidyAmount, s.Amount.TotalAmount)
		}
	}
	if si := req.SceneInfo; si != nil {
		if si.PayerClientIP == "" {
			return invalid("scene_info.payer_client_ip", "is required when scene_info is sent: the user's real IP (the first X-Forwarded-For address behind trusted proxies, not the proxy's)")
		}
		if net.ParseIP(si.PayerClientIP) == nil {
			return invalid("scene_info.payer_client_ip", "%q is not an IPv4 or IPv6 address", si.PayerClientIP)
		}
	}
	for _, t := range []struct{ field, v string }{{"time_start", req.TimeStart}, {"time_expire", req.TimeExpire}} {
		if t.v == "" {
			continue
		}
		if _, err := time.Parse(time.RFC3339, t.v); err != nil {
			return invalid(t.field, "%q must be RFC 3339 with a time zone, e.g. 2018-06-08T10:34:56+08:00", t.v)
		}
	}
	switch scene {
	case SceneJSAPI:
		if p := req.CombinePayerInfo; p == nil || (p.OpenID == "" && p.SubOpenID == "") {
			return invalid("combine_payer_info.openid", "is required for JSAPI: the payer's openid under combine_appid %s", req.CombineAppID)
		}
	case SceneH5:
		si := req.SceneInfo
		if si == nil {
			return invalid("scene_info", "is required for H5, with payer_client_ip (the user's real IP) and device_id")
		}
		if si.DeviceID == "" {
			return invalid("scene_info.device_id", "is required for an H5 combine (合单下单-H5)")
		}
		if h := si.H5Info; h != nil {
			switch h.Type {
			case "Wap", "iOS", "Android":
			default:
				return invalid("scene_info.h5_info.type", "must be Wap, iOS or Android, got %q", h.Type)
			}
		}
	case SceneApp, SceneNative:
	default:
		return fmt.Errorf("wechatpay: unknown payment scene %q (want jsapi, app, h5 or native)", scene)
	}
	return nil
}

// CombinePrepay places a combine order (合单下单) and returns its prepay_id (JSAPI, APP),
// h5_url (H5) or code_url (Native). combine_appid, combine_mchid and, in partner mode,
// each sub-order's mchid default to the client's (sp_appid/sp_mchid in partner mode) and
// each amount's currency to CNY; the request is then checked locally (ValidateCombine).
// Like Prepay it is retried on transient failures: the same request for the same
// combine_out_trade_no is answered with the same session, a changed one with
// OUT_TRADE_NO_USED.
func (c *Client) CombinePrepay(ctx context.Context, scene Scene, req CombinePrepayRequest) (*PrepayResponse, error) {
	if c.Partner() {
		req.CombineAppID = cmp.Or(req.CombineAppID, c.SpAppID)
		req.CombineMchID = cmp.Or(req.CombineMchID, c.SpMchID)
	} else {
		req.CombineAppID = cmp.Or(req.CombineAppID, c.AppID)
		req.CombineMchID = cmp.Or(req.CombineMchID, c.MchID)
	}
	req.SubOrders = append([]CombineSubOrder(nil), req.SubOrders...)
	for i := range req.SubOrders {
		s := &req.SubOrders[i]
		if c.Partner() {
			s.MchID = cmp.Or(s.MchID, req.CombineMchID)
		}
		s.Amount.Currency = cmp.Or(s.Amount.Currency, "CNY")
	}
	if err := ValidateCombine(scene, &req, c.Partner(), c.NotifyURLOptions); err != nil {
		return nil, err
	}
	var out PrepayResponse
	if err := c.do(ctx, http.MethodPost, "/v3/combine-transactions/"+string(scene), nil, &req, &out); err != nil {
		return nil, fmt.Errorf("wechatpay: combine prepay %s %s: %w", scene, req.CombineOutTradeNo, err)
	}
	return &out, nil
}

// QueryCombine queries a combine order by combine_out_trade_no (合单查询订单): the
// combine and every sub-order's state. There is no combine-level trade_state: each
// sub-order has its own.
func (c *Client) QueryCombine(ctx context.Context, combineOutTradeNo string) (*CombineTransaction, error) {
	if err := ValidateCombineOutTradeNo("combine_out_trade_no", combineOutTradeNo); err != nil {
		return nil, err
	}
	var out CombineTransaction
	if err := c.do(ctx, http.MethodGet, "/v3/combine-transactions/out-trade-no/"+url.PathEscape(combineOutTradeNo), nil, nil, &out); err != nil {
		return nil, fmt.Errorf("wechatpay: query combine %s: %w", combineOutTradeNo, err)
	}
	return &out, nil
}

// CloseCombine closes an unpaid combine order (合单关闭订单, answer 204). subOrders must
// repeat the placed sub-orders exactly (CombinePrepayRequest.CloseSubOrders); WeChat Pay
// refuses a close in the combine's first 5 minutes (RULELIMIT).
func (c *Client) CloseCombine(ctx context.Context, combineOutTradeNo string, subOrders []CombineCloseSubOrder) error {
	if err := ValidateCombineOutTradeNo("combine_out_trade_no", combineOutTradeNo); err != nil {
		return err
	}
	if len(subOrders) == 0 {
		return invalid("sub_orders", "must list every sub-order of the combine, as placed")
	}
	body := CombineCloseRequest{CombineAppID: c.AppID, SubOrders: subOrders}
	if c.Partner() {
		body.CombineAppID = c.SpAppID
	}
	path := "/v3/combine-transactions/out-trade-no/" + url.PathEscape(combineOutTradeNo) + "/close"
	if err := c.do(ctx, http.MethodPost, path, nil, &body, nil); err != nil {
		return fmt.Errorf("wechatpay: close combine %s: %w", combineOutTradeNo, err)
	}
	return nil
}

// IsCombineResource reports whether the plaintext of a TRANSACTION.* notification is a
// combine's (it carries combine_out_trade_no) rather than a single order's: both come
// with the same event_type.
func IsCombineResource(plaintext []byte) bool {
	var probe struct {
		CombineOutTradeNo string `json:"combine_out_trade_no"`
	}
	return json.Unmarshal(plaintext, &probe) == nil && probe.CombineOutTradeNo != ""
}

// DecodeCombineTransaction decodes the plaintext of a combine's TRANSACTION.*
// notification: the combine and every sub-order's result.
func DecodeCombineTransaction(n *Notification, plaintext []byte) (*CombineTransaction, error) {
	if !strings.HasPrefix(n.EventType, "TRANSACTION.") {
		return nil, notifyErr(ErrNotifyMalformed, fmt.Errorf("event_type %q is not a payment notification", n.EventType))
	}
	var t CombineTransaction
	if err := json.Unmarshal(plaintext, &t); err != nil {
		return nil, notifyErr(ErrNotifyMalformed, fmt.Errorf("combine resource: %w", err))
	}
	if t.CombineOutTradeNo == "" {
		return nil, notifyErr(ErrNotifyMalformed, errors.New("resource lacks combine_out_trade_no: a single order's notification (DecodeTransaction)"))
	}
	if len(t.SubOrders) == 0 {
		return nil, notifyErr(ErrNotifyMalformed, errors.New("combine resource has no sub_orders"))
	}
	for i, s := range t.SubOrders {
		if s.OutTradeNo == "" || s.TradeState == "" {
			return nil, notifyErr(ErrNotifyMalformed, fmt.Errorf("combine resource: sub_orders[%d] lacks out_trade_no or trade_state", i))
		}
	}
	return &t, nil
}

// SignCombineJSAPI is the JSAPI / mini-program pay bundle of a combine: the ordinary
// one, over the combine's prepay_id, under combine_appid.
func SignCombineJSAPI(key *rsa.PrivateKey, req *CombinePrepayRequest, prepayID string, now time.Time) (jsapiParams, error) {
	return SignJSAPI(key, req.CombineAppID, prepayID, now)
}

// signCombineAPP is the APP pay bundle of a combine: appid is combine_appid and
// partnerid combine_mchid (合单 APP调起支付: "partnerid 请填写服务商平台商户号sp_mchid
// 对应的值").
func signCombineAPP(key *rsa.PrivateKey, req *CombinePrepayRequest, prepayID string, now time.Time) (appParams, error) {
	return SignAPP(key, req.CombineAppID, req.CombineMchID, prepayID, now)
}
