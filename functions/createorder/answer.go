package createorder

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	"rsc.io/qr"

	"github.com/paysls/wxpay/functions/createorder/cashier"
	"github.com/paysls/wxpay/shared/orderapi"
	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/wechatpay"
)

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
func (h *Handler) answer(o *order, rec *payment.Order) (*orderapi.CreateAnswer, error) {
	a := &orderapi.CreateAnswer{
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
	var pay any
	switch a.Scene {
	case SceneCashier:
		exp := rec.ExpiresAt
		now := h.now()
		ttl := exp.Sub(now)
		if exp.IsZero() || ttl < time.Minute {
			ttl = time.Minute
		}
		id := o.orderID
		if h.partner && o.owner != h.cfg.Bundle.SubMchID {
			id = cashier.LinkID(o.orderID, o.owner) // the page looks it up under its own sub-merchant
		}
		link := cashier.Link(h.publicURL, id, h.cashierKey, now, ttl)
		png, err := QRPNG(link)
		if err != nil {
			return nil, err
		}
		pay = orderapi.CashierPay{CashierURL: link, QRPNG: png}
	case SceneJSAPI, SceneMiniProgram:
		// Signature timestamps are wall-clock: WeChat checks them against its own.
		p, err := wechatpay.SignJSAPI(h.key(), rec.Create.SignAppID, ans.PrepayID, time.Now())
		if err != nil {
			return nil, fmt.Errorf("createorder: sign JSAPI: %w", err)
		}
		pay = orderapi.JSAPIPay(p)
	case SceneApp:
		p, err := wechatpay.SignAPP(h.key(), rec.Create.SignAppID, rec.Owner, ans.PrepayID, time.Now())
		if err != nil {
			return nil, fmt.Errorf("createorder: sign APP: %w", err)
		}
		pay = orderapi.APPPay(p)
	case SceneH5:
		u := ans.H5URL
		if o.redirectURL != "" {
			sep := "?"
			if strings.Contains(u, "?") {
				sep = "&"
			}
			u += sep + "redirect_url=" + url.QueryEscape(o.redirectURL)
		}
		pay = orderapi.H5Pay{H5URL: u}
		// h5_url lives 5 minutes: that is when this answer expires.
		a.ExpiresAt = wechatpay.FormatTime(rec.Claim.Expiry)
	case SceneNative:
		png, err := QRPNG(ans.CodeURL)
		if err != nil {
			return nil, err
		}
		pay = orderapi.NativePay{CodeURL: ans.CodeURL, QRPNG: png}
	}
	if pay != nil {
		a.Pay = rawJSON(pay)
	}
	return a, nil
}

// rawJSON encodes the pay part as apiauth.WriteJSON encodes the answer around it (no
// HTML escaping: an h5_url's & stays &), so the answer's bytes are what they were when
// the part was a field of its own.
func rawJSON(v any) json.RawMessage {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // strings only: nothing can fail
	return bytes.TrimRight(b.Bytes(), "\n")
}
