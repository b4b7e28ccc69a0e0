package createorder

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"
	"time"

	"rsc.io/qr"

	"github.com/paysls/wxpay/functions/cashier"
	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// CreateAnswer is the answer of POST /orders.
type CreateAnswer struct {
	OrderID    string `json:"order_id"`
	OutTradeNo string `json:"out_trade_no"`
	Scene      string `json:"scene"`
	State      string `json:"state"`
	Amount     int64  `json:"amount"`
	ExpiresAt  string `json:"expires_at,omitempty"`
	// Pay is what the client needs to pay: JSAPIPay, APPPay, H5Pay or NativePay by
	// scene; absent once the order is paid.
	Pay any `json:"pay,omitempty"`
}

// H5Pay is the pay part of an H5 order: open h5_url in the mobile browser.
type H5Pay struct {
	H5URL string `json:"h5_url"`
}

// NativePay is the pay part of a Native order: show qr_png; code_url is the QR
// code's content (a weixin:// link no browser can open).
type NativePay struct {
	CodeURL string `json:"code_url"`
	QRPNG   string `json:"qr_png"`
}

// CashierPay is the pay part of a cashier order: send the user to cashier_url, or
// show qr_png (its QR code). The page picks JSAPI inside WeChat, H5 in a phone browser
// and Native on a desktop. The link is signed and valid until the order expires.
type CashierPay struct {
	CashierURL string `json:"cashier_url"`
	QRPNG      string `json:"qr_png"`
}

// QRScale is the pixels per QR module of qr_png (plus a 4-module quiet zone).
const QRScale = 8

// QRPNG renders text as a PNG QR code (error correction M) and returns it as a data URL.
func QRPNG(text string) (string, error) {
	c, err := qr.Encode(text, qr.M)
	if err != nil {
		return "", fmt.Errorf("createorder: QR code: %w", err)
	}
	c.Scale = QRScale
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(c.PNG()), nil
}

// answer renders an attempt for the caller: pay-sign fields are made fresh each time
// (they carry a timestamp and nonce); h5_url gets the request's redirect_url.
func (h *Handler) answer(o *order, rec *payment.Order) (*CreateAnswer, error) {
	a := &CreateAnswer{
		OrderID: o.orderID, OutTradeNo: rec.OutTradeNo, Scene: rec.Scene,
		State: rec.Status(), Amount: rec.Amount,
	}
	if !rec.ExpiresAt.IsZero() {
		a.ExpiresAt = wechatpay.FormatTime(rec.ExpiresAt)
	}
	if o.scene == SceneCashier {
		// The link answers whatever scene the page has placed meanwhile.
		a.Scene = SceneCashier
	}
	if rec.Paid() {
		return a, nil
	}
	ans := rec.Claim.Answer
	switch a.Scene {
	case SceneCashier:
		exp := rec.ExpiresAt
		now := h.now()
		ttl := exp.Sub(now)
		if exp.IsZero() || ttl < time.Minute {
			ttl = time.Minute
		}
		link := cashier.Link(h.publicURL, o.orderID, h.cashierKey, now, ttl)
		png, err := QRPNG(link)
		if err != nil {
			return nil, err
		}
		a.Pay = CashierPay{CashierURL: link, QRPNG: png}
	case SceneJSAPI, SceneMiniProgram:
		// Signature timestamps are wall-clock: WeChat checks them against its own.
		p, err := wechatpay.SignJSAPI(h.key, rec.Create.SignAppID, ans.PrepayID, time.Now())
		if err != nil {
			return nil, fmt.Errorf("createorder: sign JSAPI: %w", err)
		}
		a.Pay = p
	case SceneApp:
		p, err := wechatpay.SignAPP(h.key, rec.Create.SignAppID, rec.Owner, ans.PrepayID, time.Now())
		if err != nil {
			return nil, fmt.Errorf("createorder: sign APP: %w", err)
		}
		a.Pay = p
	case SceneH5:
		u := ans.H5URL
		if o.redirectURL != "" {
			sep := "?"
			if strings.Contains(u, "?") {
				sep = "&"
			}
			u += sep + "redirect_url=" + url.QueryEscape(o.redirectURL)
		}
		a.Pay = H5Pay{H5URL: u}
		// h5_url lives 5 minutes: that is when this answer expires.
		a.ExpiresAt = wechatpay.FormatTime(rec.Claim.Expiry)
	case SceneNative:
		png, err := QRPNG(ans.CodeURL)
		if err != nil {
			return nil, err
		}
		a.Pay = NativePay{CodeURL: ans.CodeURL, QRPNG: png}
	}
	return a, nil
}
