package wechatpay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// partnerFake is a partner-mode client of f: the platform 1230000109 acting for
// sub-merchant 1900000109.
func partnerFake(f *fakeWX) *Client {
	c, _ := f.client()
	c.MchID, c.AppID = "", ""
	c.SpMchID, c.SpAppID = "1230000109", "wx8888888888888888"
	return c.ForSub("1900000109", "")
}

func threeSubs() []CombineSubOrder {
	var subs []CombineSubOrder
	for i, sub := range []string{"1900000109", "1900000110", "1900000111"} {
		subs = append(subs, CombineSubOrder{SubMchID: sub, Attach: "cart-7", OutTradeNo: fmt.Sprintf("SUB2024060800%d", i+1),
			Description: "腾讯充值中心-QQ会员充值", Amount: CombineAmount{TotalAmount: int64(100 * (i + 1))},
			SettleInfo: &CombineSettleInfo{ProfitSharing: i == 0}})
	}
	return subs
}

func TestCombinePrepaySendsWhatTheDocsAsk(t *testing.T) {
	f := newFakeWX(t, func(r *http.Request, body []byte) reply {
		if r.Method != "POST" || r.URL.Path != "/v3/combine-transactions/jsapi" {
			return reply{status: 404, body: `{"code":"NOT_FOUND","message":"no route"}`}
		}
		return reply{body: `{"prepay_id":"wx201410272009395522657a690389285100"}`}
	})
	c := partnerFake(f)
	req := CombinePrepayRequest{CombineOutTradeNo: "P20150806125346", SubOrders: threeSubs(),
		CombinePayerInfo: &CombinePayerInfo{OpenID: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},
		SceneInfo:        &CombineSceneInfo{PayerClientIP: "14.23.150.211"}, NotifyURL: "https://pay.example.com/wxpay/notify"}
	out, err := c.CombinePrepay(context.Background(), SceneJSAPI, req)
	if err != nil || out.PrepayID != "wx201410272009395522657a690389285100" {
		t.Fatalf("%v %+v", err, out)
	}
	var sent struct {
		CombineAppID string `json:"combine_appid"`
		CombineMchID string `json:"combine_mchid"`
		SubOrders    []struct {
			MchID    string `json:"mchid"`
			SubMchID string `json:"sub_mchid"`
			Amount   struct {
				TotalAmount int64  `json:"total_amount"`
				Currency    string `json:"currency"`
			} `json:"amount"`
			SettleInfo *struct {
				ProfitSharing bool `json:"profit_sharing"`
			} `json:"settle_info"`
		} `json:"sub_orders"`
	}
	if err := json.Unmarshal(f.requests()[0].body, &sent); err != nil {
		t.Fatal(err)
	}
	if sent.CombineAppID != "wx8888888888888888" || sent.CombineMchID != "1230000109" || len(sent.SubOrders) != 3 {
		t.Fatalf("combine ids not filled in: %s", f.requests()[0].body)
	}
	for i, s := range sent.SubOrders {
		if s.MchID != "1230000109" || s.Amount.Currency != "CNY" || s.Amount.TotalAmount != int64(100*(i+1)) || s.SubMchID == "" || s.SettleInfo == nil {
			t.Fatalf("sub_orders[%d] = %+v", i, s)
		}
	}
	if req.SubOrders[0].MchID != "" {
		t.Fatal("CombinePrepay changed the caller's sub-orders")
	}

	// The combine's pay bundles: JSAPI under combine_appid, APP with partnerid = combine_mchid.
	filled := req
	filled.CombineAppID, filled.CombineMchID = "wx8888888888888888", "1230000109"
	now := time.Unix(1414561699, 0)
	js, err := SignCombineJSAPI(merchantKey(t), &filled, out.PrepayID, now)
	if err != nil || js.AppID != "wx8888888888888888" || js.Package != "prepay_id="+out.PrepayID {
		t.Fatalf("%v %+v", err, js)
	}
	if err := VerifyMessage(&merchantKey(t).PublicKey, lines(js.AppID, js.TimeStamp, js.NonceStr, js.Package), js.PaySign); err != nil {
		t.Fatalf("JSAPI paySign: %v", err)
	}
	app, err := signCombineAPP(merchantKey(t), &filled, out.PrepayID, now)
	if err != nil || app.PartnerID != "1230000109" || app.AppID != "wx8888888888888888" {
		t.Fatalf("%v %+v", err, app)
	}
	if err := VerifyMessage(&merchantKey(t).PublicKey, lines(app.AppID, app.TimeStamp, app.NonceStr, app.PrepayID), app.Sign); err != nil {
		t.Fatalf("APP sign: %v", err)
	}
}

func TestValidateCombine(t *testing.T) {
	base := func() CombinePrepayRequest {
		subs := threeSubs()
		for i := range subs {
			subs[i].MchID, subs[i].Amount.Currency = "1230000109", "CNY"
		}
		return CombinePrepayRequest{CombineAppID: "wx8888888888888888", CombineMchID: "1230000109", CombineOutTradeNo: "P1",
			SubOrders: subs, NotifyURL: "https://pay.example.com/n",
			SceneInfo: &CombineSceneInfo{PayerClientIP: "2001:db8::1", DeviceID: "POS1:1", H5Info: &H5Info{Type: "Wap"}}}
	}
	if err := ValidateCombine(SceneH5, ptr(base()), true, NotifyURLOptions{}); err != nil {
		t.Fatalf("valid combine refused: %v", err)
	}
	many := func(n int) []CombineSubOrder {
		out := make([]CombineSubOrder, n)
		for i := range out {
			out[i] = CombineSubOrder{MchID: "1230000109", SubMchID: "1900000109", Attach: "a", OutTradeNo: fmt.Sprintf("S%05d", i),
				Description: "d", Amount: CombineAmount{TotalAmount: 1, Currency: "CNY"}}
		}
		return out
	}
	cases := []struct {
		name, field string
		scene       Scene
		partner     bool
		edit        func(*CombinePrepayRequest)
	}{
		{"one character number", "combine_out_trade_no", SceneH5, true, func(r *CombinePrepayRequest) { r.CombineOutTradeNo = "P" }},
		{"no sub-orders", "sub_orders", SceneNative, true, func(r *CombinePrepayRequest) { r.SubOrders = nil }},
		{"51 sub-orders", "sub_orders", SceneNative, true, func(r *CombinePrepayRequest) { r.SubOrders = many(51) }},
		{"direct with one", "sub_orders", SceneNative, false, func(r *CombinePrepayRequest) {
			r.SubOrders = r.SubOrders[:1]
			r.SubOrders[0].SubMchID = ""
		}},
		{"direct with 11", "sub_orders", SceneNative, false, func(r *CombinePrepayRequest) { r.SubOrders = many(11) }},
		{"direct with sub_mchid", "sub_orders[0].sub_mchid", SceneNative, false, func(r *CombinePrepayRequest) {}},
		{"partner without sub_mchid", "sub_orders[1].sub_mchid", SceneNative, true, func(r *CombinePrepayRequest) { r.SubOrders[1].SubMchID = "" }},
		{"another mchid", "sub_orders[2].mchid", SceneNative, true, func(r *CombinePrepayRequest) { r.SubOrders[2].MchID = "1900000001" }},
		{"same out_trade_no twice", "sub_orders[1].out_trade_no", SceneNative, true, func(r *CombinePrepayRequest) { r.SubOrders[1].OutTradeNo = r.SubOrders[0].OutTradeNo }},
		{"no attach", "sub_orders[0].attach", SceneNative, true, func(r *CombinePrepayRequest) { r.SubOrders[0].Attach = "" }},
		{"long attach", "sub_orders[0].attach", SceneNative, true, func(r *CombinePrepayRequest) { r.SubOrders[0].Attach = strings.Repeat("a", 129) }},
		{"no description", "sub_orders[0].description", SceneNative, true, func(r *CombinePrepayRequest) { r.SubOrders[0].Description = "" }},
		{"zero amount", "sub_orders[1].amount.total_amount", SceneNative, true, func(r *CombinePrepayRequest) { r.SubOrders[1].Amount.TotalAmount = 0 }},
		{"dollars", "sub_orders[1].amount.currency", SceneNative, true, func(r *CombinePrepayRequest) { r.SubOrders[1].Amount.Currency = "USD" }},
		{"subsidy above the amount", "sub_orders[0].settle_info.subsidy_amount", SceneNative, true, func(r *CombinePrepayRequest) {
			r.SubOrders[0].SettleInfo.SubsidyAmount = 101
		}},
		{"scene_info without IP", "scene_info.payer_client_ip", SceneNative, true, func(r *CombinePrepayRequest) { r.SceneInfo.PayerClientIP = "" }},
		{"IP that is not one", "scene_info.payer_client_ip", SceneNative, true, func(r *CombinePrepayRequest) { r.SceneInfo.PayerClientIP = "10.0.0.1, 1.2.3.4" }},
		{"H5 without scene_info", "scene_info", SceneH5, true, func(r *CombinePrepayRequest) { r.SceneInfo = nil }},
		{"H5 without device_id", "scene_info.device_id", SceneH5, true, func(r *CombinePrepayRequest) { r.SceneInfo.DeviceID = "" }},
		{"H5 of another type", "scene_info.h5_info.type", SceneH5, true, func(r *CombinePrepayRequest) { r.SceneInfo.H5Info.Type = "PC" }},
		{"JSAPI without payer", "combine_payer_info.openid", SceneJSAPI, true, func(r *CombinePrepayRequest) {}},
		{"time_expire without zone", "time_expire", SceneNative, true, func(r *CombinePrepayRequest) { r.TimeExpire = "2024-06-08 10:34:56" }},
		{"notify_url with a port", "notify_url", SceneNative, true, func(r *CombinePrepayRequest) { r.NotifyURL = "https://pay.example.com:8443/n" }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := base()
			c.edit(&r)
			err := ValidateCombine(c.scene, &r, c.partner, NotifyURLOptions{})
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Field != c.field {
				t.Fatalf("want a ValidationError on %s, got %v", c.field, err)
			}
		})
	}
	// 50 sub-orders is WeChat Pay's maximum, and allowed.
	r := base()
	r.SubOrders = many(MaxCombineSubOrders)
	if err := ValidateCombine(SceneNative, &r, true, NotifyURLOptions{}); err != nil {
		t.Fatalf("50 sub-orders: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }

func TestQueryAndCloseCombine(t *testing.T) {
	f := newFakeWX(t, func(r *http.Request, body []byte) reply {
		switch {
		case r.Method == "GET" && r.URL.Path == "/v3/combine-transactions/out-trade-no/P20150806125346":
			return reply{body: combineSample}
		case r.Method == "POST" && r.URL.Path == "/v3/combine-transactions/out-trade-no/P20150806125346/close":
			return reply{status: 204}
		}
		return reply{status: 404, body: `{"code":"NOT_FOUND","message":"` + r.URL.Path + `"}`}
	})
	c := partnerFake(f)
	ctx := context.Background()
	tx, err := c.QueryCombine(ctx, "P20150806125346")
	if err != nil || len(tx.SubOrders) != 2 || tx.SubOrders[1].SubOpenID == "" {
		t.Fatalf("%v %+v", err, tx)
	}
	req := CombinePrepayRequest{SubOrders: []CombineSubOrder{{MchID: "1230000109", OutTradeNo: "S1", SubMchID: "1900000109"}}}
	if err := c.CloseCombine(ctx, "P20150806125346", req.CloseSubOrders()); err != nil {
		t.Fatal(err)
	}
	var body CombineCloseRequest
	if err := json.Unmarshal(f.requests()[1].body, &body); err != nil {
		t.Fatal(err)
	}
	if body.CombineAppID != "wx8888888888888888" || len(body.SubOrders) != 1 || body.SubOrders[0] != (CombineCloseSubOrder{MchID: "1230000109", OutTradeNo: "S1", SubMchID: "1900000109"}) {
		t.Fatalf("close body %s", f.requests()[1].body)
	}
	if err := c.CloseCombine(ctx, "P20150806125346", nil); err == nil {
		t.Fatal("a close without sub_orders was sent")
	}
}

// combineSample is a combine resource in the shape of WeChat Pay's 合单支付 notification
// example: one sub-order of another mchid, one under sub_appid with sub_openid.
const combineSample = `{"combine_appid":"wx74fa3044c1866158","combine_mchid":"1604508789",
"combine_payer_info":{"openid":"oLRds5TJjkPmSUZcVT4RtDtctquo"},
"sub_orders":[{"mchid":"1604508789","trade_type":"JSAPI","trade_state":"SUCCESS","bank_type":"OTHERS","attach":"notify with attach",
"success_time":"2021-01-02T13:58:03+08:00","amount":{"total_amount":1,"payer_amount":1,"currency":"CNY","payer_currency":"CNY"},
"transaction_id":"4325100661202101025776656304","out_trade_no":"2021010213608015858H10290","sub_mchid":"1604978280"},
{"mchid":"1604508789","trade_type":"JSAPI","trade_state":"SUCCESS","bank_type":"OTHERS","attach":"notify with attach",
"success_time":"2021-01-02T13:58:03+08:00","amount":{"total_amount":2,"payer_amount":2,"currency":"CNY","payer_currency":"CNY"},
"transaction_id":"4325100661202101027478904172","out_trade_no":"2021010213630653846H10291","sub_mchid":"1605090777",
"sub_appid":"wx74fa3044c1866159","sub_openid":"oLRds5TJjkPmSUZcVT4RtDtctqup"}],
"scene_info":{"device_id":"Center001"},"combine_out_trade_no":"2021010213606717170H10289"}`

func TestDecodeCombineNotification(t *testing.T) {
	aead := testAEAD(t)
	body, err := BuildNotification(aead, NotificationInput{ID: "EV-2018022511223320873", CreateTime: time.Unix(1609567083, 0),
		EventType: EventTransactionSuccess, Summary: "支付成功", OriginalType: "transaction", AssociatedData: "transaction",
		Resource: []byte(combineSample)})
	if err != nil {
		t.Fatal(err)
	}
	h, err := (&PlatformSigner{Serial: fixturePlatformSer, Key: platformKey(t)}).Sign(body)
	if err != nil {
		t.Fatal(err)
	}
	v := &Verifier{Keys: StaticKeys{fixturePlatformSer: &platformKey(t).PublicKey}}
	n, pt, err := ParseNotification(context.Background(), v, aead, h, body)
	if err != nil {
		t.Fatal(err)
	}
	if !IsCombineResource(pt) {
		t.Fatal("a combine resource not recognised")
	}
	if IsCombineResource([]byte(`{"out_trade_no":"1217752501201407033233368018","trade_state":"SUCCESS"}`)) {
		t.Fatal("a single order's resource taken for a combine")
	}
	tx, err := DecodeCombineTransaction(n, pt)
	if err != nil {
		t.Fatal(err)
	}
	if tx.CombineOutTradeNo != "2021010213606717170H10289" || len(tx.SubOrders) != 2 || tx.SubOrders[1].Amount.PayerAmount != 2 {
		t.Fatalf("%+v", tx)
	}
	// Each sub-order becomes the Transaction of a partner order, payer included.
	ts := tx.Transactions()
	if ts[0].SpMchID != "1604508789" || ts[0].SubMchID != "1604978280" || ts[0].SpAppID != "wx74fa3044c1866158" ||
		ts[0].Payer.SpOpenID != "oLRds5TJjkPmSUZcVT4RtDtctquo" || ts[0].Amount.Total != 1 || ts[0].TradeState != "SUCCESS" || ts[0].MchID != "" {
		t.Fatalf("sub-order 0 as a transaction: %+v", ts[0])
	}
	if ts[1].SubAppID != "wx74fa3044c1866159" || ts[1].Payer.SubOpenID != "oLRds5TJjkPmSUZcVT4RtDtctqup" || ts[1].TransactionID != "4325100661202101027478904172" {
		t.Fatalf("sub-order 1 as a transaction: %+v", ts[1])
	}
	// A single order's resource, or a combine without sub-orders, is malformed here.
	for _, bad := range []string{`{"out_trade_no":"X","trade_state":"SUCCESS"}`, `{"combine_out_trade_no":"C1","sub_orders":[]}`,
		`{"combine_out_trade_no":"C1","sub_orders":[{"out_trade_no":"S1"}]}`} {
		if _, err := DecodeCombineTransaction(n, []byte(bad)); !errors.Is(err, ErrNotifyMalformed) {
			t.Fatalf("%s: %v", bad, err)
		}
	}
	if _, err := DecodeCombineTransaction(&Notification{EventType: EventRefundSuccess}, pt); !errors.Is(err, ErrNotifyMalformed) {
		t.Fatalf("refund event: %v", err)
	}
}

func TestCombineCallsAreRetried(t *testing.T) {
	var n int
	f := newFakeWX(t, func(r *http.Request, body []byte) reply {
		n++
		if n == 1 {
			return reply{status: 500, body: `{"code":"SYSTEM_ERROR","message":"系统异常"}`}
		}
		return reply{body: `{"code_url":"weixin://wxpay/bizpayurl?pr=Yr3Zuz6"}`}
	})
	c := partnerFake(f)
	out, err := c.CombinePrepay(context.Background(), SceneNative, CombinePrepayRequest{CombineOutTradeNo: "P2",
		SubOrders: threeSubs(), NotifyURL: "https://pay.example.com/n"})
	if err != nil || out.CodeURL == "" || n != 2 {
		t.Fatalf("%v %+v after %d requests", err, out, n)
	}
	if !retrySafe(call{method: "POST", path: "/v3/ecommerce/refunds/apply"}) || !retrySafe(call{method: "POST", path: "/v3/ecommerce/refunds/5030/return-advance"}) ||
		retrySafe(call{method: "POST", path: "/v3/ecommerce/refunds/5030/apply-abnormal-refund"}) {
		t.Fatal("retrySafe of the e-commerce refund calls")
	}
}
