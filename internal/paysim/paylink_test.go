package paysim

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/paysls/wxpay/shared/wechatpay"
)

// TestPayByCodeURLAndPrepayID: the payer's side pays with what it holds.
func TestPayByCodeURLAndPrepayID(t *testing.T) {
	e := newEnv(t, Config{})
	rc := newReceiver(t, nil)
	native := e.placeNative("SCAN00000001", 100, rc.url())
	var out struct {
		Transaction wechatpay.Transaction `json:"transaction"`
	}
	if st := e.simCall("POST", "/sim/pay", payByRequest{CodeURL: native.CodeURL}, &out); st != 200 || out.Transaction.OutTradeNo != "SCAN00000001" || out.Transaction.TradeState != "SUCCESS" {
		t.Fatalf("scan: %d %+v", st, out)
	}
	rc.next(t)

	p := e.nativeOrder("JSAPI0000001", 100, rc.url())
	p.Payer = &wechatpay.Payer{OpenID: openID(e.id.AppID, "erin")}
	r := e.call("POST", "/v3/pay/transactions/jsapi", p)
	var pr wechatpay.PrepayResponse
	if r.status != 200 || json.Unmarshal(r.body, &pr) != nil {
		t.Fatal(r.status, string(r.body))
	}
	// The JS bridge sees package "prepay_id=…"; either form works.
	if st := e.simCall("POST", "/sim/pay", payByRequest{PrepayID: "prepay_id=" + pr.PrepayID}, &out); st != 200 || out.Transaction.Payer.OpenID != openID(e.id.AppID, "erin") {
		t.Fatalf("jsapi: %d %+v", st, out)
	}
	e.placeH5("H5SCAN000001", 100, rc.url())
	if st := e.simCall("POST", "/sim/pay", payByRequest{OutTradeNo: "H5SCAN000001", Result: "USERPAYING"}, nil); st != 200 || e.tradeState("H5SCAN000001") != "USERPAYING" {
		t.Fatalf("by out_trade_no: %d", st)
	}
	for _, c := range []struct {
		body   string
		status int
	}{
		{`{"code_url":"weixin://wxpay/bizpayurl?pr=nope"}`, http.StatusNotFound},
		{`{}`, http.StatusBadRequest},
		{`{"code_url":"x","out_trade_no":"y"}`, http.StatusBadRequest},
		{`{"code_url":"` + native.CodeURL + `"}`, http.StatusConflict}, // already paid
	} {
		if st, b := e.simRaw("POST", "/sim/pay", []byte(c.body)); st != c.status {
			t.Errorf("%s: %d %s, want %d", c.body, st, b, c.status)
		}
	}
}
