package paysim

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/paysls/wxpay/shared/wechatpay"
)

const testSubMch = "1900000109"

// partnerOrder is a valid partner (服务商) JSAPI prepay body for testSubMch.
func (e *env) partnerOrder(no string) wechatpay.PrepayRequest {
	return wechatpay.PrepayRequest{
		SpAppID: e.id.AppID, SpMchID: e.id.MchID, SubMchID: testSubMch, Description: "服务商测试", OutTradeNo: no,
		NotifyURL: "https://merchant.example.com/pay/notify", Amount: wechatpay.Amount{Total: 300, Currency: "CNY"},
		Payer: &wechatpay.Payer{SpOpenID: openID(e.id.AppID, "carol")},
	}
}

func TestPartnerPrepayRules(t *testing.T) {
	e := newEnv(t, Config{SubMchIDs: []string{testSubMch}})
	r := e.call("POST", "/v3/pay/partner/transactions/jsapi", e.partnerOrder("PARTNER00001"))
	var pr wechatpay.PrepayResponse
	if r.status != 200 || r.sigErr != nil || json.Unmarshal(r.body, &pr) != nil || len(pr.PrepayID) != 36 {
		t.Fatalf("partner jsapi prepay: %d %s %v", r.status, r.body, r.sigErr)
	}
	cases := []struct {
		name, kind, code, field string
		edit                    func(*wechatpay.PrepayRequest)
	}{
		{"unknown sub_mchid", "jsapi", "INVALID_REQUEST", "", func(p *wechatpay.PrepayRequest) { p.SubMchID = "1900000999" }},
		{"no sub_mchid", "jsapi", "PARAM_ERROR", "sub_mchid", func(p *wechatpay.PrepayRequest) { p.SubMchID = "" }},
		{"no sp_appid", "jsapi", "PARAM_ERROR", "sp_appid", func(p *wechatpay.PrepayRequest) { p.SpAppID = "" }},
		{"other sp_mchid", "jsapi", "PARAM_ERROR", "sp_mchid", func(p *wechatpay.PrepayRequest) { p.SpMchID = "1900000001" }},
		{"sp_appid not bound", "jsapi", "APPID_MCHID_NOT_MATCH", "", func(p *wechatpay.PrepayRequest) { p.SpAppID = "wx0000000000000000" }},
		{"no payer", "jsapi", "PARAM_ERROR", "payer.sp_openid", func(p *wechatpay.PrepayRequest) { p.Payer = nil }},
		{"sub_openid without sub_appid", "jsapi", "PARAM_ERROR", "sub_appid", func(p *wechatpay.PrepayRequest) {
			p.Payer = &wechatpay.Payer{SubOpenID: "oSub000000000000000000000000"}
		}},
		{"direct fields on the partner endpoint", "native", "PARAM_ERROR", "sp_appid", func(p *wechatpay.PrepayRequest) {
			p.SpAppID, p.SpMchID, p.AppID, p.MchID = "", "", e.id.AppID, e.id.MchID
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := e.partnerOrder("PARTNER00002")
			c.edit(&p)
			r := e.call("POST", "/v3/pay/partner/transactions/"+c.kind, p)
			if r.status != http.StatusBadRequest || r.sigErr != nil {
				t.Fatalf("%d %s", r.status, r.body)
			}
			eb := r.errorBody(t)
			if eb.Code != c.code || (c.field != "" && (eb.Detail == nil || eb.Detail.Field != c.field)) {
				t.Fatalf("%s", r.body)
			}
		})
	}
	// A partner Native order with sub_appid and a direct H5 order share nothing.
	p := e.partnerOrder("PARTNER00003")
	p.SubAppID, p.Payer = "wx2222222222222222", nil
	if r := e.call("POST", "/v3/pay/partner/transactions/native", p); r.status != 200 {
		t.Fatalf("partner native: %d %s", r.status, r.body)
	}
}

func TestPartnerQueryPayClose(t *testing.T) {
	e := newEnv(t, Config{SubMchIDs: []string{testSubMch}})
	rc := newReceiver(t, nil)
	p := e.partnerOrder("PARTNER00010")
	p.NotifyURL = rc.url()
	if r := e.call("POST", "/v3/pay/partner/transactions/jsapi", p); r.status != 200 {
		t.Fatal(r.status, string(r.body))
	}
	e.placeNative("DIRECT000010", 100, "https://merchant.example.com/n")
	q := "?sp_mchid=" + e.id.MchID + "&sub_mchid=" + testSubMch
	partnerQuery := func(no string) response {
		return e.call("GET", "/v3/pay/partner/transactions/out-trade-no/"+no+q, nil)
	}
	r := partnerQuery("PARTNER00010")
	var tx wechatpay.Transaction
	if r.status != 200 || r.sigErr != nil || json.Unmarshal(r.body, &tx) != nil {
		t.Fatalf("partner query: %d %s", r.status, r.body)
	}
	if tx.SpMchID != e.id.MchID || tx.SubMchID != testSubMch || tx.SpAppID != e.id.AppID || tx.MchID != "" || tx.AppID != "" || tx.TradeState != "NOTPAY" {
		t.Fatalf("partner transaction: %s", r.body)
	}
	// The query parameters are checked, and each endpoint family sees only its orders.
	if r := e.call("GET", "/v3/pay/partner/transactions/out-trade-no/PARTNER00010?sp_mchid="+e.id.MchID, nil); r.status != 400 || r.errorBody(t).Detail.Field != "sub_mchid" {
		t.Fatalf("no sub_mchid: %d %s", r.status, r.body)
	}
	if r := e.call("GET", "/v3/pay/partner/transactions/out-trade-no/PARTNER00010?sp_mchid=1900000001&sub_mchid="+testSubMch, nil); r.status != 400 || r.errorBody(t).Detail.Field != "sp_mchid" {
		t.Fatalf("other sp_mchid: %d %s", r.status, r.body)
	}
	if r := e.call("GET", "/v3/pay/transactions/out-trade-no/PARTNER00010?mchid="+e.id.MchID, nil); r.status != 404 || r.errorBody(t).Code != "ORDER_NOT_EXIST" {
		t.Fatalf("a partner order on the direct endpoint: %d %s", r.status, r.body)
	}
	if r := partnerQuery("DIRECT000010"); r.status != 404 || r.errorBody(t).Code != "ORDER_NOT_EXIST" {
		t.Fatalf("a direct order on the partner endpoint: %d %s", r.status, r.body)
	}

	// Close: the 5-minute rule, the body's sp_mchid/sub_mchid, then 204.
	closeURL := "/v3/pay/partner/transactions/out-trade-no/PARTNER00011/close"
	p2 := e.partnerOrder("PARTNER00011")
	if r := e.call("POST", "/v3/pay/partner/transactions/jsapi", p2); r.status != 200 {
		t.Fatal(r.status)
	}
	good := map[string]string{"sp_mchid": e.id.MchID, "sub_mchid": testSubMch}
	if r := e.call("POST", closeURL, good); r.status != http.StatusForbidden || r.errorBody(t).Code != "RULELIMIT" {
		t.Fatalf("partner close within 5 minutes: %d %s", r.status, r.body)
	}
	if r := e.call("POST", closeURL, map[string]string{"sp_mchid": e.id.MchID}); r.status != 400 || r.errorBody(t).Detail.Field != "sub_mchid" {
		t.Fatalf("close without sub_mchid: %d %s", r.status, r.body)
	}
	if r := e.call("POST", closeURL, map[string]string{"mchid": e.id.MchID}); r.status != 400 || r.errorBody(t).Detail.Field != "sp_mchid" {
		t.Fatalf("close with the direct body: %d %s", r.status, r.body)
	}
	e.advance("5m1s")
	if r := e.call("POST", closeURL, good); r.status != http.StatusNoContent || r.sigErr != nil {
		t.Fatalf("partner close: %d %s", r.status, r.body)
	}
	if r := partnerQuery("PARTNER00011"); !json.Valid(r.body) || json.Unmarshal(r.body, &tx) != nil || tx.TradeState != "CLOSED" {
		t.Fatalf("after close: %s", r.body)
	}

	// Pay: the notification and the query by transaction_id speak partner.
	e.simCall("POST", "/sim/orders/PARTNER00010/pay", nil, nil)
	var paid wechatpay.Transaction
	e.open(t, rc.next(t), &paid)
	if paid.SpMchID != e.id.MchID || paid.SubMchID != testSubMch || paid.MchID != "" || paid.Payer == nil ||
		paid.Payer.SpOpenID != openID(e.id.AppID, "carol") || paid.TradeState != "SUCCESS" || paid.TransactionID == "" {
		t.Fatalf("partner notification: %+v payer %+v", paid, paid.Payer)
	}
	r = e.call("GET", "/v3/pay/partner/transactions/id/"+paid.TransactionID+q, nil)
	if r.status != 200 || json.Unmarshal(r.body, &tx) != nil || tx.OutTradeNo != "PARTNER00010" {
		t.Fatalf("partner query by id: %d %s", r.status, r.body)
	}
	if r := e.call("GET", "/v3/pay/transactions/id/"+paid.TransactionID+"?mchid="+e.id.MchID, nil); r.status != 404 {
		t.Fatalf("partner transaction on the direct endpoint: %d %s", r.status, r.body)
	}
	if r := e.call("POST", "/v3/pay/partner/transactions/out-trade-no/PARTNER00010/close", good); r.status != http.StatusForbidden || r.errorBody(t).Code != "ORDERPAID" {
		t.Fatalf("closing a paid partner order: %d %s", r.status, r.body)
	}
	// A refund must name the order's sub-merchant: out_trade_no is per sub-merchant, so
	// under another there is no such order.
	refund := wechatpay.RefundRequest{OutTradeNo: "PARTNER00010", OutRefundNo: "PRF000000001", SubMchID: "1900000999",
		Amount: wechatpay.RefundAmount{Refund: 100, Total: 300, Currency: "CNY"}}
	if r := e.call("POST", "/v3/refund/domestic/refunds", refund); r.status != 404 || r.errorBody(t).Code != "RESOURCE_NOT_EXISTS" {
		t.Fatalf("refund with another sub_mchid: %d %s", r.status, r.body)
	}
	refund.SubMchID = testSubMch
	if r := e.call("POST", "/v3/refund/domestic/refunds", refund); r.status != 200 {
		t.Fatalf("partner refund: %d %s", r.status, r.body)
	}
}

// TestPartnerSubOpenID: an order paid under sub_appid reports the payer's sub_openid.
func TestPartnerSubOpenID(t *testing.T) {
	e := newEnv(t, Config{})
	rc := newReceiver(t, nil)
	p := e.partnerOrder("PARTNER00020")
	p.NotifyURL, p.SubAppID = rc.url(), "wx3333333333333333"
	p.Payer = &wechatpay.Payer{SubOpenID: openID("wx3333333333333333", "dave")}
	if r := e.call("POST", "/v3/pay/partner/transactions/jsapi", p); r.status != 200 {
		t.Fatal(r.status, string(r.body))
	}
	e.simCall("POST", "/sim/orders/PARTNER00020/pay", nil, nil)
	var paid wechatpay.Transaction
	e.open(t, rc.next(t), &paid)
	if paid.SubAppID != "wx3333333333333333" || paid.Payer == nil || paid.Payer.SubOpenID != openID("wx3333333333333333", "dave") {
		t.Fatalf("payer %+v in %+v", paid.Payer, paid)
	}
}
