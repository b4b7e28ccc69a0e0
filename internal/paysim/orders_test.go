package paysim

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/paysls/wxpay/shared/wechatpay"
)

func TestPrepayIdempotentAndOutTradeNoUsed(t *testing.T) {
	e := newEnv(t, Config{})
	first := e.placeNative("ORDER000001", 100, "https://merchant.example.com/pay/notify")
	again := e.placeNative("ORDER000001", 100, "https://merchant.example.com/pay/notify")
	if first.CodeURL == "" || first != again {
		t.Fatalf("the same request must return the same code_url: %+v vs %+v", first, again)
	}
	r := e.call("POST", "/v3/pay/transactions/native", e.nativeOrder("ORDER000001", 200, "https://merchant.example.com/pay/notify"))
	if r.status != http.StatusForbidden || r.errorBody(t).Code != "OUT_TRADE_NO_USED" || !strings.Contains(r.errorBody(t).Message, "amount.total 100 → 200") {
		t.Fatalf("re-priced order: %d %s", r.status, r.body)
	}
	// A different scene under the same out_trade_no is different content too.
	body := e.nativeOrder("ORDER000001", 100, "https://merchant.example.com/pay/notify")
	r = e.call("POST", "/v3/pay/transactions/app", body)
	if r.errorBody(t).Code != "OUT_TRADE_NO_USED" {
		t.Fatalf("scene change: %d %s", r.status, r.body)
	}
	// After payment: ORDERPAID.
	if st := e.simCall("POST", "/sim/orders/ORDER000001/pay", nil, nil); st != 200 {
		t.Fatal(st)
	}
	r = e.call("POST", "/v3/pay/transactions/native", e.nativeOrder("ORDER000001", 100, "https://merchant.example.com/pay/notify"))
	if r.status != http.StatusForbidden || r.errorBody(t).Code != "ORDERPAID" {
		t.Fatalf("paid: %d %s", r.status, r.body)
	}
}

func TestPrepayParamErrors(t *testing.T) {
	e := newEnv(t, Config{})
	base := func() wechatpay.PrepayRequest {
		return e.nativeOrder("PARAM0000001", 100, "https://merchant.example.com/pay/notify")
	}
	cases := []struct {
		name, kind, field, code string
		edit                    func(*wechatpay.PrepayRequest)
	}{
		{"http notify_url", "native", "notify_url", "PARAM_ERROR", func(p *wechatpay.PrepayRequest) { p.NotifyURL = "http://merchant.example.com/notify" }},
		{"ip notify_url", "native", "notify_url", "PARAM_ERROR", func(p *wechatpay.PrepayRequest) { p.NotifyURL = "https://203.0.113.9/notify" }},
		{"port in notify_url", "native", "notify_url", "PARAM_ERROR", func(p *wechatpay.PrepayRequest) { p.NotifyURL = "https://merchant.example.com:443/notify" }},
		{"query in notify_url", "native", "notify_url", "PARAM_ERROR", func(p *wechatpay.PrepayRequest) { p.NotifyURL = "https://merchant.example.com/notify?id=1" }},
		{"double slash", "native", "notify_url", "PARAM_ERROR", func(p *wechatpay.PrepayRequest) { p.NotifyURL = "https://merchant.example.com/pay//notify" }},
		{"whitespace", "native", "notify_url", "PARAM_ERROR", func(p *wechatpay.PrepayRequest) { p.NotifyURL = "https://merchant.example.com/notify " }},
		{"too long", "native", "notify_url", "PARAM_ERROR", func(p *wechatpay.PrepayRequest) {
			p.NotifyURL = "https://merchant.example.com/" + strings.Repeat("a", 250)
		}},
		{"short out_trade_no", "native", "out_trade_no", "PARAM_ERROR", func(p *wechatpay.PrepayRequest) { p.OutTradeNo = "12345" }},
		{"bad char out_trade_no", "native", "out_trade_no", "PARAM_ERROR", func(p *wechatpay.PrepayRequest) { p.OutTradeNo = "ORDER#00001" }},
		{"zero amount", "native", "amount.total", "PARAM_ERROR", func(p *wechatpay.PrepayRequest) { p.Amount.Total = 0 }},
		{"no description", "native", "description", "PARAM_ERROR", func(p *wechatpay.PrepayRequest) { p.Description = "" }},
		{"jsapi without openid", "jsapi", "payer.openid", "PARAM_ERROR", func(p *wechatpay.PrepayRequest) {}},
		{"h5 without ip", "h5", "scene_info.payer_client_ip", "PARAM_ERROR", func(p *wechatpay.PrepayRequest) {}},
		{"h5 without h5_info", "h5", "scene_info.h5_info.type", "PARAM_ERROR", func(p *wechatpay.PrepayRequest) {
			p.SceneInfo = &wechatpay.SceneInfo{PayerClientIP: "203.0.113.7"}
		}},
		{"mchid mismatch", "native", "mchid", "PARAM_ERROR", func(p *wechatpay.PrepayRequest) { p.MchID = "1900000001" }},
		{"appid mismatch", "native", "", "APPID_MCHID_NOT_MATCH", func(p *wechatpay.PrepayRequest) { p.AppID = "wx0000000000000000" }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := base()
			c.edit(&p)
			r := e.call("POST", "/v3/pay/transactions/"+c.kind, p)
			if r.status != http.StatusBadRequest || r.sigErr != nil {
				t.Fatalf("%d %s %v", r.status, r.body, r.sigErr)
			}
			eb := r.errorBody(t)
			if eb.Code != c.code {
				t.Fatalf("code %s: %s", eb.Code, r.body)
			}
			if c.field != "" && (eb.Detail == nil || eb.Detail.Field != c.field || eb.Detail.Location != "body" || eb.Detail.Issue == "") {
				t.Fatalf("detail: %s", r.body)
			}
		})
	}
	t.Run("loopback http notify_url is allowed here", func(t *testing.T) {
		p := base()
		p.NotifyURL = "http://127.0.0.1:9000/notify"
		if r := e.call("POST", "/v3/pay/transactions/native", p); r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
	})
}

func TestQueryAndClose(t *testing.T) {
	e := newEnv(t, Config{})
	e.placeNative("CLOSE0000001", 100, "https://merchant.example.com/pay/notify")
	if r := e.call("GET", "/v3/pay/transactions/out-trade-no/CLOSE0000001", nil); r.status != 400 || r.errorBody(t).Detail.Field != "mchid" {
		t.Fatalf("missing mchid: %d %s", r.status, r.body)
	}
	if r := e.call("GET", "/v3/pay/transactions/out-trade-no/MISSING00001?mchid="+e.id.MchID, nil); r.status != 404 || r.errorBody(t).Code != "ORDER_NOT_EXIST" {
		t.Fatalf("missing order: %d %s", r.status, r.body)
	}
	closeBody := map[string]string{"mchid": e.id.MchID}
	r := e.call("POST", "/v3/pay/transactions/out-trade-no/CLOSE0000001/close", closeBody)
	if r.status != http.StatusForbidden || r.errorBody(t).Code != "RULELIMIT" || r.sigErr != nil {
		t.Fatalf("close within 5 minutes: %d %s", r.status, r.body)
	}
	e.clock.Advance(5*time.Minute + time.Second)
	r = e.call("POST", "/v3/pay/transactions/out-trade-no/CLOSE0000001/close", closeBody)
	if r.status != http.StatusNoContent || len(r.body) != 0 || r.sigErr != nil {
		t.Fatalf("close: %d %s %v", r.status, r.body, r.sigErr)
	}
	var tx wechatpay.Transaction
	r = e.call("GET", "/v3/pay/transactions/out-trade-no/CLOSE0000001?mchid="+e.id.MchID, nil)
	_ = json.Unmarshal(r.body, &tx)
	if tx.TradeState != wechatpay.TradeStateClosed {
		t.Fatalf("after close: %s", r.body)
	}
	if st := e.simCall("POST", "/sim/orders/CLOSE0000001/pay", nil, nil); st != http.StatusConflict {
		t.Fatalf("paying a closed order: %d", st)
	}
}

func TestTimeExpireAndStates(t *testing.T) {
	e := newEnv(t, Config{})
	p := e.nativeOrder("EXPIRE000001", 100, "https://merchant.example.com/pay/notify")
	p.TimeExpire = rfc3339CST(e.clock.Now().Add(10 * time.Minute))
	if r := e.call("POST", "/v3/pay/transactions/native", p); r.status != 200 {
		t.Fatal(r.status, string(r.body))
	}
	state := func(no string) string {
		var tx wechatpay.Transaction
		r := e.call("GET", "/v3/pay/transactions/out-trade-no/"+no+"?mchid="+e.id.MchID, nil)
		_ = json.Unmarshal(r.body, &tx)
		return tx.TradeState
	}
	if s := state("EXPIRE000001"); s != "NOTPAY" {
		t.Fatal(s)
	}
	e.clock.Advance(11 * time.Minute)
	if s := state("EXPIRE000001"); s != "CLOSED" {
		t.Fatalf("after time_expire: %s", s)
	}
	// USERPAYING then PAYERROR, both without notification.
	e.placeNative("STATES000001", 100, "https://merchant.example.com/pay/notify")
	e.simCall("POST", "/sim/orders/STATES000001/pay", PayRequest{Result: "USERPAYING"}, nil)
	if s := state("STATES000001"); s != "USERPAYING" {
		t.Fatal(s)
	}
	e.simCall("POST", "/sim/orders/STATES000001/pay", PayRequest{Result: "PAYERROR"}, nil)
	if s := state("STATES000001"); s != "PAYERROR" {
		t.Fatal(s)
	}
	if d := e.sim.Deliveries(); len(d) != 0 {
		t.Fatalf("no notification for unsuccessful payments: %+v", d)
	}
	var v OrderView
	if st := e.simCall("GET", "/sim/orders/EXPIRE000001", nil, &v); st != 200 || !strings.Contains(string(v.Request), `"time_expire"`) {
		t.Fatalf("sim order view: %d %+v", st, v)
	}
}

func TestRefundRules(t *testing.T) {
	e := newEnv(t, Config{})
	rc := newReceiver(t, nil)
	e.placeNative("REFUND000001", 1000, rc.url())
	refund := func(no string, amt, total int64) response {
		return e.call("POST", "/v3/refund/domestic/refunds", wechatpay.RefundRequest{
			OutTradeNo: "REFUND000001", OutRefundNo: no, NotifyURL: rc.url(),
			Amount: wechatpay.RefundAmount{Refund: amt, Total: total, Currency: "CNY"},
		})
	}
	if r := refund("RF0000000001", 100, 1000); r.status != 404 || r.errorBody(t).Code != "RESOURCE_NOT_EXISTS" || !strings.Contains(r.errorBody(t).Message, "未支付的订单不能发起退款") {
		t.Fatalf("refund before payment: %d %s", r.status, r.body)
	}
	e.simCall("POST", "/sim/orders/REFUND000001/pay", nil, nil)
	rc.next(t)
	r1 := refund("RF0000000001", 600, 1000)
	if r1.status != 200 {
		t.Fatal(r1.status, string(r1.body))
	}
	var a, b wechatpay.Refund
	_ = json.Unmarshal(r1.body, &a)
	r2 := refund("RF0000000001", 600, 1000)
	_ = json.Unmarshal(r2.body, &b)
	if a.Status != "PROCESSING" || a.RefundID == "" || a.RefundID != b.RefundID {
		t.Fatalf("same out_refund_no, same content → same refund: %s / %s", r1.body, r2.body)
	}
	if r := refund("RF0000000001", 500, 1000); r.status != 400 || !strings.Contains(r.errorBody(t).Message, "不一致") {
		t.Fatalf("changed content: %d %s", r.status, r.body)
	}
	if r := refund("RF0000000002", 100, 999); r.status != 400 || !strings.Contains(r.errorBody(t).Message, "不一致") {
		t.Fatalf("wrong total: %d %s", r.status, r.body)
	}
	if r := refund("RF0000000002", 401, 1000); r.status != 400 || !strings.Contains(r.errorBody(t).Message, "超过订单可退金额") {
		t.Fatalf("over-refund: %d %s", r.status, r.body)
	}
	// A closed refund gives its money back.
	e.simCall("POST", "/sim/refunds/RF0000000001/settle", settleRequest{Status: "CLOSED"}, nil)
	var notice wechatpay.RefundNotice
	n := e.open(t, rc.next(t), &notice)
	if n.EventType != "REFUND.CLOSED" || notice.RefundStatus != "CLOSED" {
		t.Fatalf("%+v %+v", n, notice)
	}
	if r := refund("RF0000000003", 1000, 1000); r.status != 200 {
		t.Fatalf("full refund after a closed one: %d %s", r.status, r.body)
	}
	if r := e.call("POST", "/v3/refund/domestic/refunds", wechatpay.RefundRequest{OutTradeNo: "NOSUCH000001", OutRefundNo: "RF0000000009",
		Amount: wechatpay.RefundAmount{Refund: 1, Total: 1, Currency: "CNY"}}); r.status != 404 || r.errorBody(t).Code != "RESOURCE_NOT_EXISTS" {
		t.Fatalf("unknown order: %d %s", r.status, r.body)
	}
}
