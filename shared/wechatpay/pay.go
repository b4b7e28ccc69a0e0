package wechatpay

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"net/url"
)

// Scene is the payment product of a prepay call, the last segment of its path.
type Scene string

// Payment scenes.
const (
	SceneJSAPI  Scene = "jsapi"  // WeChat official account / mini program: needs payer openid
	SceneApp    Scene = "app"    // native app via OpenSDK
	SceneH5     Scene = "h5"     // mobile browser outside WeChat: needs scene_info.payer_client_ip and h5_info
	SceneNative Scene = "native" // QR code: code_url goes into a QR code, not into location.href
)

// Prepay places an order (下单) and returns its prepay_id (JSAPI, APP), h5_url (H5) or
// code_url (Native). The merchant ids of req are filled in from the client when
// empty; the request is checked locally first, so that the common mistakes fail with
// a precise message instead of a round trip ending in PARAM_ERROR.
//
// Prepay is retried on transient failures: WeChat Pay answers a repeated identical
// request for the same out_trade_no with the same prepay_id. Sending the same
// out_trade_no with a different amount fails with OUT_TRADE_NO_USED.
func (c *Client) Prepay(ctx context.Context, scene Scene, req PrepayRequest) (*PrepayResponse, error) {
	switch scene {
	case SceneJSAPI, SceneApp, SceneH5, SceneNative:
	default:
		return nil, fmt.Errorf("wechatpay: unknown payment scene %q (want jsapi, app, h5 or native)", scene)
	}
	if err := c.fillPrepay(scene, &req); err != nil {
		return nil, err
	}
	path := "/v3/pay/transactions/" + string(scene)
	if c.Partner() {
		path = "/v3/pay/partner/transactions/" + string(scene)
	}
	var out PrepayResponse
	if err := c.do(ctx, http.MethodPost, path, nil, &req, &out); err != nil {
		return nil, fmt.Errorf("wechatpay: prepay %s %s: %w", scene, req.OutTradeNo, err)
	}
	return &out, nil
}

func (c *Client) fillPrepay(scene Scene, req *PrepayRequest) error {
	if c.Partner() {
		if req.AppID != "" || req.MchID != "" {
			return invalid("appid/mchid", "are direct-mode fields; in partner mode set sp_appid/sp_mchid/sub_mchid (the client fills them in)")
		}
		req.SpMchID = cmp.Or(req.SpMchID, c.SpMchID)
		req.SpAppID = cmp.Or(req.SpAppID, c.SpAppID)
		req.SubMchID = cmp.Or(req.SubMchID, c.SubMchID)
		req.SubAppID = cmp.Or(req.SubAppID, c.SubAppID)
		if req.SubMchID == "" {
			return invalid("sub_mchid", "is required in partner mode: use client.ForSub(subMchID, subAppID)")
		}
		if req.SpAppID == "" {
			return invalid("sp_appid", "is required in partner mode")
		}
	} else {
		if req.SpMchID != "" || req.SpAppID != "" || req.SubMchID != "" || req.SubAppID != "" {
			return invalid("sp_*/sub_*", "are partner-mode fields; this client is in direct mode (set SpMchID to use partner mode)")
		}
		req.MchID = cmp.Or(req.MchID, c.MchID)
		req.AppID = cmp.Or(req.AppID, c.AppID)
		if req.MchID == "" {
			return invalid("mchid", "is required: set Client.MchID")
		}
		if req.AppID == "" {
			return invalid("appid", "is required: set Client.AppID (the appid bound to the merchant)")
		}
	}
	if err := ValidateOutTradeNo("out_trade_no", req.OutTradeNo, 32); err != nil {
		return err
	}
	if err := ValidateDescription(req.Description); err != nil {
		return err
	}
	if err := ValidateAmount("amount.total", req.Amount.Total); err != nil {
		return err
	}
	if err := ValidateNotifyURL(req.NotifyURL, c.NotifyURLOptions); err != nil {
		return err
	}
	switch scene {
	case SceneJSAPI:
		if err := c.checkPayer(req.Payer); err != nil {
			return err
		}
	case SceneH5:
		if req.SceneInfo == nil || req.SceneInfo.PayerClientIP == "" {
			return invalid("scene_info.payer_client_ip", "is required for H5: the user's real IP (first X-Forwarded-For address behind trusted proxies, not the proxy's)")
		}
		if req.SceneInfo.H5Info == nil || req.SceneInfo.H5Info.Type == "" {
			return invalid("scene_info.h5_info.type", "is required for H5: Wap, iOS or Android")
		}
	}
	return nil
}

// checkPayer enforces which openid a JSAPI order carries: openid in direct mode;
// sp_openid (under sp_appid) or sub_openid (under sub_appid) in partner mode. An
// openid belongs to one appid, and sending it under another is the classic cause of
// "openid和appid不匹配".
func (c *Client) checkPayer(p *Payer) error {
	if c.Partner() {
		if p == nil || (p.SpOpenID == "" && p.SubOpenID == "") {
			return invalid("payer", "JSAPI in partner mode needs payer.sp_openid (openid under sp_appid) or payer.sub_openid (under sub_appid)")
		}
		if p.OpenID != "" {
			return invalid("payer.openid", "is the direct-mode field; in partner mode use sp_openid or sub_openid")
		}
		if p.SubOpenID != "" && c.SubAppID == "" {
			return invalid("payer.sub_openid", "needs sub_appid: use client.ForSub(subMchID, subAppID)")
		}
		return nil
	}
	if p == nil || p.OpenID == "" {
		return invalid("payer.openid", "is required for JSAPI: the user's openid under appid %s", c.AppID)
	}
	if p.SpOpenID != "" || p.SubOpenID != "" {
		return invalid("payer", "sp_openid/sub_openid are partner-mode fields; in direct mode use openid")
	}
	return nil
}

// QueryByTransactionID queries an order by WeChat Pay's transaction_id.
func (c *Client) QueryByTransactionID(ctx context.Context, transactionID string) (*Transaction, error) {
	if transactionID == "" {
		return nil, invalid("transaction_id", "is required")
	}
	return c.queryTransaction(ctx, "id/"+url.PathEscape(transactionID))
}

// QueryByOutTradeNo queries an order by the merchant's out_trade_no. It is the only
// way to query an order that was never paid.
func (c *Client) QueryByOutTradeNo(ctx context.Context, outTradeNo string) (*Transaction, error) {
	if err := ValidateOutTradeNo("out_trade_no", outTradeNo, 32); err != nil {
		return nil, err
	}
	return c.queryTransaction(ctx, "out-trade-no/"+url.PathEscape(outTradeNo))
}

func (c *Client) queryTransaction(ctx context.Context, tail string) (*Transaction, error) {
	q := url.Values{}
	path := "/v3/pay/transactions/" + tail
	if c.Partner() {
		if c.SubMchID == "" {
			return nil, invalid("sub_mchid", "is required in partner mode: use client.ForSub")
		}
		path = "/v3/pay/partner/transactions/" + tail
		q.Set("sp_mchid", c.SpMchID)
		q.Set("sub_mchid", c.SubMchID)
	} else {
		q.Set("mchid", c.MchID)
	}
	var t Transaction
	if err := c.do(ctx, http.MethodGet, path, q, nil, &t); err != nil {
		return nil, fmt.Errorf("wechatpay: query %s: %w", tail, err)
	}
	return &t, nil
}

// Close closes an unpaid order (answer 204). WeChat Pay refuses to close an order in
// its first 5 minutes; a closed out_trade_no cannot be paid or reused.
func (c *Client) Close(ctx context.Context, outTradeNo string) error {
	if err := ValidateOutTradeNo("out_trade_no", outTradeNo, 32); err != nil {
		return err
	}
	tail := "out-trade-no/" + url.PathEscape(outTradeNo) + "/close"
	var body CloseRequest
	path := "/v3/pay/transactions/" + tail
	if c.Partner() {
		if c.SubMchID == "" {
			return invalid("sub_mchid", "is required in partner mode: use client.ForSub")
		}
		path = "/v3/pay/partner/transactions/" + tail
		body.SpMchID, body.SubMchID = c.SpMchID, c.SubMchID
	} else {
		body.MchID = c.MchID
	}
	if err := c.do(ctx, http.MethodPost, path, nil, &body, nil); err != nil {
		return fmt.Errorf("wechatpay: close %s: %w", outTradeNo, err)
	}
	return nil
}
