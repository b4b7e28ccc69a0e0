package cashier

import (
	"context"
	"errors"
	"fmt"
)

// Scenes the cashier asks Orders to create (createorder's scene words).
const (
	SceneJSAPI  = "jsapi"
	SceneH5     = "h5"
	SceneNative = "native"
)

// Orders is what the cashier needs from the order API (functions/createorder).
// APIOrders adapts createorder's handler to it (wxpay serve, the createorder function);
// the tests adapt the simulator.
type Orders interface {
	// Create places the order's payment in one scene, or replays it: order_id is the
	// idempotency key, so the same request answers the same payment (JSAPI pay-sign
	// fields may be fresh). A different scene or payer is a new attempt of the same
	// order (createorder's re-pricing rule). clientIP is the user's address as the
	// platform saw it (H5 payer_client_ip); userAgent is the browser's.
	Create(ctx context.Context, req CreateRequest, clientIP, userAgent string) (*Answer, error)
	// Status reads an order. With ask set, an order not yet settled may be checked with
	// WeChat Pay (query by out_trade_no, applied through the ledger) — the answer to a
	// user who says "I have paid". Without ask the stored state is enough: the page
	// the H5 payment returns to must not query on its own (seed 004).
	// An unknown order is ErrNotFound.
	Status(ctx context.Context, orderID string, ask bool) (*Status, error)
}

// CreateRequest mirrors the fields of createorder's POST /orders body the cashier uses.
type CreateRequest struct {
	OrderID     string  `json:"order_id"`
	Amount      int64   `json:"amount"` // fen, from Status
	Description string  `json:"description"`
	Scene       string  `json:"scene"` // jsapi, h5 or native
	Payer       *Payer  `json:"payer,omitempty"`
	H5          *H5Info `json:"h5,omitempty"`
	// RedirectURL is where WeChat's H5 page sends the user back: createorder appends it
	// to h5_url URL-encoded (seed 004).
	RedirectURL string `json:"redirect_url,omitempty"`
	// TimeExpire keeps the scene's payment within the cashier order's lifetime (RFC 3339).
	TimeExpire string `json:"time_expire,omitempty"`
}

// Payer is the JSAPI payer: the openid the cashier got from WeChat OAuth (snsapi_base)
// under the app it signs for.
type Payer struct {
	OpenID string `json:"openid"`
}

// H5Info is scene_info.h5_info.
type H5Info struct {
	Type string `json:"type"` // Wap
}

// Answer mirrors createorder's CreateAnswer.
type Answer struct {
	OrderID    string `json:"order_id"`
	OutTradeNo string `json:"out_trade_no"`
	Scene      string `json:"scene"`
	State      string `json:"state"`
	Amount     int64  `json:"amount"`
	ExpiresAt  string `json:"expires_at,omitempty"`
	Pay        Pay    `json:"pay"`
}

// Pay is the union of the pay parts the cashier uses: JSAPI (WeixinJSBridge
// getBrandWCPayRequest fields), H5 (h5_url, redirect_url already appended) and Native
// (code_url and its QR code as a data:image/png;base64 URL).
type Pay struct {
	AppID     string `json:"appId,omitempty"`
	TimeStamp string `json:"timeStamp,omitempty"`
	NonceStr  string `json:"nonceStr,omitempty"`
	Package   string `json:"package,omitempty"`
	SignType  string `json:"signType,omitempty"`
	PaySign   string `json:"paySign,omitempty"`

	H5URL string `json:"h5_url,omitempty"`

	CodeURL string `json:"code_url,omitempty"`
	QRPNG   string `json:"qr_png,omitempty"`
}

// JSAPI is the object WeixinJSBridge.invoke('getBrandWCPayRequest', …) takes.
type JSAPI struct {
	AppID     string `json:"appId"`
	TimeStamp string `json:"timeStamp"`
	NonceStr  string `json:"nonceStr"`
	Package   string `json:"package"`
	SignType  string `json:"signType"`
	PaySign   string `json:"paySign"`
}

// Status mirrors createorder's OrderView (the fields the page shows).
type Status struct {
	OrderID     string `json:"order_id"`
	State       string `json:"state"` // WeChat Pay's trade_state words plus REVIEW
	Amount      int64  `json:"amount"`
	Description string `json:"description"`
	Scene       string `json:"scene,omitempty"`
	ExpiresAt   string `json:"expires_at,omitempty"` // RFC 3339
}

// ErrNotFound is Status's answer for an unknown order.
var ErrNotFound = errors.New("cashier: no such order")

// Error is a refusal of the order API ({"code","message","hint"}) the page shows.
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Hint    string `json:"hint,omitempty"`
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Code, e.Message) }
