// Package orderapi is the contract of the bundle's order API: its request and answer
// types, in exactly the JSON the API speaks, and a typed Client that calls it over HTTP
// (base URL and bearer token) or in process over an http.Handler. functions/createorder
// decodes its requests into these types and encodes its answers from them, so there is
// one definition of the API; its callers (the cashier page, wxpay order, the soak, the
// tests) use the Client. Errors come back as *Error with the API's code, message and
// hint.
//
//	c := orderapi.New("https://pay.example.com", token, nil)
//	a, err := c.Create(ctx, orderapi.CreateRequest{OrderID: "20240101000123", Amount: 100,
//		Description: "T-shirt", Scene: orderapi.SceneNative})
//	if orderapi.IsCode(err, "ORDERPAID") { … }
package orderapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Scenes of POST /orders.
const (
	SceneJSAPI       = "jsapi"
	SceneMiniProgram = "miniprogram"
	SceneApp         = "app"
	SceneH5          = "h5"
	SceneNative      = "native"
	// SceneAuto picks JSAPI inside WeChat (with payer.openid), H5 in a phone browser and
	// Native on a desktop, from user_agent (or the request's User-Agent).
	SceneAuto = "auto"
	// SceneCashier answers a link to the hosted cashier page, which places the payment
	// in the scene of the browser it is opened in.
	SceneCashier = "cashier"
)

// Fen is an amount in fen (分): 100 is ¥1.00. In JSON it is an integer; decoding
// refuses 1.5, 1e2, "100" and null rather than rounding or guessing.
type Fen int64

// UnmarshalJSON accepts a JSON integer only.
func (f *Fen) UnmarshalJSON(b []byte) error {
	s := string(bytes.TrimSpace(b))
	if s == "" || s == "null" {
		return &AmountError{Raw: s, Reason: "is required"}
	}
	digits := s
	if digits[0] == '-' {
		digits = digits[1:]
	}
	if digits == "" || strings.Trim(digits, "0123456789") != "" {
		return &AmountError{Raw: s, Reason: "is not an integer number of fen"}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return &AmountError{Raw: s, Reason: "is out of range"}
	}
	*f = Fen(n)
	return nil
}

// AmountError is an amount that is not a JSON integer.
type AmountError struct {
	Raw, Reason string
}

func (e *AmountError) Error() string {
	return fmt.Sprintf("amount %s %s: amount is an integer number of fen (分), 100 means ¥1.00", e.Raw, e.Reason)
}

// CreateRequest is the body of POST /orders. order_id is the merchant's key: the same
// request again is answered from what was placed (Idempotent-Replayed: true); another
// amount or content re-prices the order under a new attempt.
type CreateRequest struct {
	OrderID     string `json:"order_id"`
	Amount      Fen    `json:"amount"`
	Description string `json:"description"`
	Scene       string `json:"scene"`
	Payer       *Payer `json:"payer,omitempty"`
	H5          *H5    `json:"h5,omitempty"`
	// RedirectURL is appended (URL-encoded) to an H5 payment's h5_url.
	RedirectURL string `json:"redirect_url,omitempty"`
	Attach      string `json:"attach,omitempty"`
	// TimeExpire is RFC 3339 with a zone, e.g. 2024-06-08T10:34:56+08:00.
	TimeExpire string `json:"time_expire,omitempty"`
	GoodsTag   string `json:"goods_tag,omitempty"`
	SubMchID   string `json:"sub_mchid,omitempty"`
	SubAppID   string `json:"sub_appid,omitempty"`
	UserAgent  string `json:"user_agent,omitempty"`
	// SubOrders make the order a combine (合单, combine.go): Amount is then left 0.
	SubOrders []SubOrder `json:"sub_orders,omitempty"`
	// ProfitSharing places the order for profit sharing (sharing.go): true, or
	// {receivers, hold_until?}.
	ProfitSharing json.RawMessage `json:"profit_sharing,omitempty"`
}

// Payer names the paying user: openid (direct mode; in partner mode sub_openid when
// sub_appid is set, else sp_openid), or sp_openid / sub_openid.
type Payer struct {
	OpenID    string `json:"openid,omitempty"`
	SpOpenID  string `json:"sp_openid,omitempty"`
	SubOpenID string `json:"sub_openid,omitempty"`
}

// H5 describes the page or app an H5 payment is made from (WeChat Pay's h5_info).
type H5 struct {
	Type        string `json:"type"` // Wap, iOS, Android
	AppName     string `json:"app_name,omitempty"`
	AppURL      string `json:"app_url,omitempty"`
	BundleID    string `json:"bundle_id,omitempty"`
	PackageName string `json:"package_name,omitempty"`
}

// CreateAnswer is the answer of POST /orders: 201 when this call placed the payment,
// 200 when it was answered from an earlier one.
type CreateAnswer struct {
	OrderID    string `json:"order_id"`
	OutTradeNo string `json:"out_trade_no"`
	Scene      string `json:"scene"`
	State      string `json:"state"`
	Amount     int64  `json:"amount"`
	ExpiresAt  string `json:"expires_at,omitempty"`
	// Pay is what the client needs to pay, by scene: JSAPIPay, APPPay, H5Pay, NativePay
	// or CashierPay (DecodePay); absent once the order is paid.
	Pay json.RawMessage `json:"pay,omitempty"`

	// Replayed is set by Client: the API answered from an earlier create
	// (Idempotent-Replayed: true) rather than placing a payment. Not part of the JSON.
	Replayed bool `json:"-"`
}

// DecodePay decodes the pay part into v (*JSAPIPay, *APPPay, *H5Pay, *NativePay or
// *CashierPay, as the scene says).
func (a *CreateAnswer) DecodePay(v any) error {
	if len(a.Pay) == 0 {
		return fmt.Errorf("orderapi: order %s has no pay part (state %s)", a.OrderID, a.State)
	}
	return json.Unmarshal(a.Pay, v)
}

// JSAPIPay is what WeixinJSBridge getBrandWCPayRequest and wx.requestPayment take.
type JSAPIPay struct {
	AppID     string `json:"appId"`
	TimeStamp string `json:"timeStamp"`
	NonceStr  string `json:"nonceStr"`
	Package   string `json:"package"`
	SignType  string `json:"signType"`
	PaySign   string `json:"paySign"`
}

// APPPay is what the APP's OpenSDK PayReq takes.
type APPPay struct {
	AppID     string `json:"appid"`
	PartnerID string `json:"partnerid"`
	PrepayID  string `json:"prepayid"`
	Package   string `json:"package"`
	NonceStr  string `json:"noncestr"`
	TimeStamp string `json:"timestamp"`
	Sign      string `json:"sign"`
}

// H5Pay: open h5_url in the phone's browser (it lives 5 minutes).
type H5Pay struct {
	H5URL string `json:"h5_url"`
}

// NativePay: show qr_png, a PNG data URL of code_url (a weixin:// link no browser opens).
type NativePay struct {
	CodeURL string `json:"code_url"`
	QRPNG   string `json:"qr_png"`
}

// CashierPay: send the user to cashier_url, or show qr_png (its QR code).
type CashierPay struct {
	CashierURL string `json:"cashier_url"`
	QRPNG      string `json:"qr_png"`
}

// OrderView is the answer of GET /orders/{order_id}.
type OrderView struct {
	OrderID     string `json:"order_id"`
	OutTradeNo  string `json:"out_trade_no"`
	Scene       string `json:"scene"`
	State       string `json:"state"` // WeChat Pay's trade_state words, plus REVIEW
	Amount      int64  `json:"amount"`
	Description string `json:"description"`
	// TransactionID and PaidAt describe the payment of the current attempt.
	TransactionID string `json:"transaction_id,omitempty"`
	PaidAt        string `json:"paid_at,omitempty"`
	ExpiresAt     string `json:"expires_at,omitempty"`
	// ClosePending: a close was asked for and WeChat Pay's 5-minute rule defers it.
	ClosePending bool   `json:"close_pending,omitempty"`
	Refunded     int64  `json:"refunded,omitempty"`
	Attempts     int    `json:"attempts"`
	ReviewReason string `json:"review_reason,omitempty"`
	// ReviewCauses are why the order is REVIEW, first first (typed: second_payment, …).
	ReviewCauses []Cause      `json:"review_causes,omitempty"`
	Refunds      []RefundView `json:"refunds"`
	// Previous lists the replaced attempts of a re-priced order.
	Previous []AttemptView `json:"previous,omitempty"`
	// CombineOrderID is the combine the order is a sub-order of (combine.go).
	CombineOrderID string `json:"combine_order_id,omitempty"`
	// ProfitSharing is the order's profit sharing (sharing.go).
	ProfitSharing *SharingView `json:"profit_sharing,omitempty"`
}

// AttemptView is a replaced attempt of a re-priced order.
type AttemptView struct {
	OutTradeNo    string `json:"out_trade_no"`
	State         string `json:"state"`
	Amount        int64  `json:"amount"`
	TransactionID string `json:"transaction_id,omitempty"`
}

// RefundRequest is the body of POST /orders/{order_id}/refunds. OutRefundNo makes the
// call safe to repeat; without it the API derives one from an Idempotency-Key header,
// or, without that either, makes a random one (and a retry is a second refund).
type RefundRequest struct {
	OutRefundNo string `json:"out_refund_no,omitempty"`
	Amount      Fen    `json:"amount"`
	Reason      string `json:"reason,omitempty"`
}

// RefundView is a refund as the API shows it.
type RefundView struct {
	OutRefundNo string `json:"out_refund_no"`
	OutTradeNo  string `json:"out_trade_no"`
	OrderID     string `json:"order_id,omitempty"`
	State       string `json:"state"` // PROCESSING, SUCCESS, ABNORMAL, CLOSED (or REVIEW)
	Amount      int64  `json:"amount"`
	RefundID    string `json:"refund_id,omitempty"`
	SuccessTime string `json:"success_time,omitempty"`
	// ReviewReason and ReviewCauses say why the refund is REVIEW (refund_names_another_order, …).
	ReviewReason string  `json:"review_reason,omitempty"`
	ReviewCauses []Cause `json:"review_causes,omitempty"`
	// WaitingFor says why a refund of a shared order is not yet asked of WeChat Pay: its
	// shares are being taken back first (分账回退); reconcile asks for it after.
	WaitingFor string `json:"waiting_for,omitempty"`
	// Advance is the platform's advance of the refund (垫付) and its return (ecommerce).
	Advance *Advance `json:"advance,omitempty"`
}

// Cause is one reason an order or refund is in REVIEW: a kind tools branch on, and a
// detail for people.
type Cause struct {
	Kind          string `json:"kind"`
	Detail        string `json:"detail"`
	TransactionID string `json:"transaction_id,omitempty"`
	OutRefundNo   string `json:"out_refund_no,omitempty"`
	Amount        int64  `json:"amount,omitempty"`
	At            string `json:"at,omitempty"`
}

// CloseAnswer is the answer of POST /orders/{order_id}/close: 200 when closed, 202
// when WeChat Pay's 5-minute rule defers the close to close_at.
type CloseAnswer struct {
	OrderID    string `json:"order_id"`
	OutTradeNo string `json:"out_trade_no"`
	State      string `json:"state"`
	Close      string `json:"close"` // "done" or "scheduled"
	CloseAt    string `json:"close_at,omitempty"`
	Message    string `json:"message"`
}

// OpenIDAnswer is the answer of GET /oauth/openid?code=….
type OpenIDAnswer struct {
	OpenID  string `json:"openid"`
	AppID   string `json:"appid"`
	Scope   string `json:"scope,omitempty"`
	UnionID string `json:"unionid,omitempty"`
	// PayerField is where the openid goes in POST /orders (payer.openid or payer.sp_openid).
	PayerField string `json:"payer_field"`
}

// ErrorBody is the API's error answer.
type ErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Hint    string `json:"hint,omitempty"`
}
