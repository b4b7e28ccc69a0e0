package wechatpay

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

func jsapiOrder() PrepayRequest {
	return PrepayRequest{Description: "Image形象店-深圳腾大-QQ公仔", OutTradeNo: "1217752501201407033233368018",
		NotifyURL: "https://pay.example.com/wxpay/notify", Amount: Amount{Total: 100, Currency: "CNY"},
		Payer: &Payer{OpenID: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}}
}

func TestClientPrepayDirect(t *testing.T) {
	f := newFakeWX(t, func(r *http.Request, body []byte) reply {
		if r.Method != "POST" || r.URL.Path != "/v3/pay/transactions/jsapi" {
			return reply{status: 404, body: `{"code":"NOT_FOUND","message":"no route"}`}
		}
		return reply{body: `{"prepay_id":"wx26112221580621e9b071c00d9e093b0000"}`}
	})
	c, _ := f.client()
	out, err := c.Prepay(context.Background(), SceneJSAPI, jsapiOrder())
	if err != nil {
		t.Fatal(err)
	}
	if out.PrepayID != "wx26112221580621e9b071c00d9e093b0000" {
		t.Fatalf("%+v", out)
	}
	reqs := f.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	var sent map[string]any
	if err := json.Unmarshal(reqs[0].body, &sent); err != nil {
		t.Fatal(err)
	}
	if sent["mchid"] != fixtureMchID || sent["appid"] != "wxd678efh567hg6787" || sent["sp_mchid"] != nil {
		t.Fatalf("ids not filled in: %s", reqs[0].body)
	}
	h := reqs[0].header
	if h.Get("Accept") != "application/json" || h.Get("Content-Type") != "application/json" || !strings.HasPrefix(h.Get("User-Agent"), "wxpay/") {
		t.Fatalf("headers %v", h)
	}
}

func TestClientPartnerModePathsAndFields(t *testing.T) {
	f := newFakeWX(t, func(r *http.Request, body []byte) reply {
		switch {
		case r.Method == "POST" && r.URL.Path == "/v3/pay/partner/transactions/native":
			return reply{body: `{"code_url":"weixin://wxpay/bizpayurl?pr=p4lpSuKzz"}`}
		case r.Method == "GET" && r.URL.Path == "/v3/pay/partner/transactions/id/4200000985202103031441826014":
			return reply{body: `{"sp_mchid":"1230000109","sub_mchid":"1900000109","out_trade_no":"1217752501201407033233368018","trade_state":"SUCCESS"}`}
		case r.Method == "GET" && r.URL.Path == "/v3/pay/partner/transactions/out-trade-no/1217752501201407033233368018":
			return reply{body: `{"out_trade_no":"1217752501201407033233368018","trade_state":"NOTPAY"}`}
		case r.Method == "POST" && r.URL.Path == "/v3/pay/partner/transactions/out-trade-no/1217752501201407033233368018/close":
			return reply{status: 204}
		case r.Method == "GET" && r.URL.Path == "/v3/refund/domestic/refunds/R1217752501201407033233368018":
			return reply{body: `{"out_refund_no":"R1217752501201407033233368018","status":"SUCCESS","amount":{"refund":1,"total":1}}`}
		}
		return reply{status: 404, body: `{"code":"NOT_FOUND","message":"` + r.URL.Path + `"}`}
	})
	base, _ := f.client()
	base.MchID, base.AppID = "", ""
	base.SpMchID, base.SpAppID = "1230000109", "wx8888888888888888"
	c := base.ForSub("1900000109", "")
	ctx := context.Background()

	req := jsapiOrder()
	req.Payer = nil
	out, err := c.Prepay(ctx, SceneNative, req)
	if err != nil || out.CodeURL == "" {
		t.Fatalf("prepay: %v %+v", err, out)
	}
	if _, err := c.QueryByTransactionID(ctx, "4200000985202103031441826014"); err != nil {
		t.Fatal(err)
	}
	tx, err := c.QueryByOutTradeNo(ctx, "1217752501201407033233368018")
	if err != nil || tx.TradeState != TradeStateNotPay {
		t.Fatalf("%v %+v", err, tx)
	}
	if err := c.Close(ctx, "1217752501201407033233368018"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.QueryRefund(ctx, "R1217752501201407033233368018"); err != nil {
		t.Fatal(err)
	}
	reqs := f.requests()
	var prepayBody map[string]any
	json.Unmarshal(reqs[0].body, &prepayBody)
	if prepayBody["sp_mchid"] != "1230000109" || prepayBody["sp_appid"] != "wx8888888888888888" || prepayBody["sub_mchid"] != "1900000109" || prepayBody["mchid"] != nil {
		t.Fatalf("partner prepay body %s", reqs[0].body)
	}
	wantTargets := []string{
		"/v3/pay/partner/transactions/native",
		"/v3/pay/partner/transactions/id/4200000985202103031441826014?sp_mchid=1230000109&sub_mchid=1900000109",
		"/v3/pay/partner/transactions/out-trade-no/1217752501201407033233368018?sp_mchid=1230000109&sub_mchid=1900000109",
		"/v3/pay/partner/transactions/out-trade-no/1217752501201407033233368018/close",
		"/v3/refund/domestic/refunds/R1217752501201407033233368018?sub_mchid=1900000109",
	}
	for i, w := range wantTargets {
		if reqs[i].target != w {
			t.Errorf("request %d: %s, want %s", i, reqs[i].target, w)
		}
	}
	if string(reqs[3].body) != `{"sp_mchid":"1230000109","sub_mchid":"1900000109"}` {
		t.Errorf("close body %s", reqs[3].body)
	}
	// JSAPI in partner mode needs sp_openid/sub_openid, not openid.
	if _, err := c.Prepay(ctx, SceneJSAPI, jsapiOrder()); !errors.Is(err, ErrInvalid) {
		t.Fatalf("partner JSAPI with openid: %v", err)
	}
	if _, err := base.QueryByOutTradeNo(ctx, "1217752501201407033233368018"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("partner query without sub_mchid: %v", err)
	}
}

func TestClientDirectQueryAndClose(t *testing.T) {
	f := newFakeWX(t, func(r *http.Request, body []byte) reply {
		if r.URL.Path == "/v3/pay/transactions/out-trade-no/1217752501201407033233368018/close" {
			return reply{status: 204}
		}
		return reply{body: `{"mchid":"1900000001","out_trade_no":"1217752501201407033233368018","transaction_id":"4200000985202103031441826014","trade_state":"SUCCESS","amount":{"total":100,"payer_total":100}}`}
	})
	c, _ := f.client()
	ctx := context.Background()
	tx, err := c.QueryByOutTradeNo(ctx, "1217752501201407033233368018")
	if err != nil || tx.TradeState != TradeStateSuccess || tx.Amount.Total != 100 {
		t.Fatalf("%v %+v", err, tx)
	}
	if _, err := c.QueryByTransactionID(ctx, "4200000985202103031441826014"); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(ctx, "1217752501201407033233368018"); err != nil {
		t.Fatal(err)
	}
	reqs := f.requests()
	if reqs[0].target != "/v3/pay/transactions/out-trade-no/1217752501201407033233368018?mchid=1900000001" ||
		reqs[1].target != "/v3/pay/transactions/id/4200000985202103031441826014?mchid=1900000001" ||
		string(reqs[2].body) != `{"mchid":"1900000001"}` {
		t.Fatalf("requests %+v", reqs)
	}
	if reqs[0].header.Get("Content-Type") != "" {
		t.Fatal("GET must not carry Content-Type")
	}
}

func TestClientRejectsUnsignedOrBadlySigned2xx(t *testing.T) {
	for name, rp := range map[string]reply{
		"unsigned":    {body: `{"trade_state":"SUCCESS","out_trade_no":"123456"}`, unsigned: true},
		"bad sig":     {body: `{"trade_state":"SUCCESS","out_trade_no":"123456"}`, badSig: true},
		"unsigned204": {status: 204, unsigned: true},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFakeWX(t, func(*http.Request, []byte) reply { return rp })
			c, _ := f.client()
			var err error
			if rp.status == 204 {
				err = c.Close(context.Background(), "1234567")
			} else {
				_, err = c.QueryByOutTradeNo(context.Background(), "123456")
			}
			want := errMissingSignature
			if rp.badSig {
				want = ErrBadSignature
			}
			if !errors.Is(err, want) {
				t.Fatalf("err = %v, want %v", err, want)
			}
			if len(f.requests()) != 1 {
				t.Fatal("a verification failure must not be retried")
			}
		})
	}
}

func TestClientErrorDecodingNoRetryOnParamError(t *testing.T) {
	f := newFakeWX(t, func(*http.Request, []byte) reply {
		return reply{status: 400, unsigned: true, body: `{"code":"PARAM_ERROR","message":"参数错误","detail":{"field":"/amount/total","issue":"too small","location":"body"}}`}
	})
	c, sleeps := f.client()
	_, err := c.Prepay(context.Background(), SceneJSAPI, jsapiOrder())
	var ae *APIError
	if !errors.As(err, &ae) {
		t.Fatalf("err = %v", err)
	}
	if ae.StatusCode != 400 || ae.Code != CodeParamError || ae.RequestID != "REQ-/v3/pay/transactions/jsapi" || ae.Verified || ae.Detail.Field != "/amount/total" {
		t.Fatalf("%+v", ae)
	}
	if len(f.requests()) != 1 || len(*sleeps) != 0 {
		t.Fatalf("PARAM_ERROR retried: %d requests", len(f.requests()))
	}
	// A signed error is marked verified.
	f.setRoute(func(*http.Request, []byte) reply {
		return reply{status: 403, body: `{"code":"ORDERPAID","message":"订单已支付"}`}
	})
	_, err = c.Prepay(context.Background(), SceneJSAPI, jsapiOrder())
	if !errors.As(err, &ae) || !ae.Verified || !IsCode(err, CodeOrderPaid) {
		t.Fatalf("signed error: %v %+v", err, ae)
	}
}

func TestClientSignErrorFromServer(t *testing.T) {
	f := newFakeWX(t, nil)
	c, sleeps := f.client()
	c.Signer.Key = platformKey(t) // a key that does not belong to the serial
	_, err := c.QueryByOutTradeNo(context.Background(), "123456")
	if !IsCode(err, codeSignError) || !strings.Contains(err.Error(), "private key") {
		t.Fatalf("err = %v", err)
	}
	if len(*sleeps) != 0 || len(f.requests()) != 1 {
		t.Fatal("SIGN_ERROR must not be retried")
	}
}

func TestClientRetriesTransientFailures(t *testing.T) {
	n := 0
	f := newFakeWX(t, func(*http.Request, []byte) reply {
		n++
		switch n {
		case 1:
			return reply{status: 500, body: `{"code":"SYSTEM_ERROR","message":"系统错误"}`}
		case 2:
			return reply{status: 429, unsigned: true, body: `{"code":"FREQUENCY_LIMITED","message":"频率超限"}`}
		}
		return reply{body: `{"out_trade_no":"123456","trade_state":"SUCCESS"}`}
	})
	c, sleeps := f.client()
	c.BaseBackoff = 100 * time.Millisecond
	tx, err := c.QueryByOutTradeNo(context.Background(), "123456")
	if err != nil || tx.TradeState != "SUCCESS" {
		t.Fatalf("%v %+v", err, tx)
	}
	if len(f.requests()) != 3 || len(*sleeps) != 2 {
		t.Fatalf("%d requests, sleeps %v", len(f.requests()), *sleeps)
	}
	// Exponential with jitter: retry i waits within [base<<i / 2, base<<i].
	for i, d := range *sleeps {
		hi := c.BaseBackoff << i
		if d < hi/2 || d > hi {
			t.Errorf("sleep %d = %v, want in [%v, %v]", i, d, hi/2, hi)
		}
	}
	// Distinct nonces: each attempt is signed afresh.
	reqs := f.requests()
	a0, _ := ParseAuthorization(reqs[0].header.Get("Authorization"))
	a1, _ := ParseAuthorization(reqs[1].header.Get("Authorization"))
	if a0.Nonce == a1.Nonce {
		t.Fatal("retry reused the nonce")
	}
}

func TestClientRetriesAreBounded(t *testing.T) {
	f := newFakeWX(t, func(*http.Request, []byte) reply {
		return reply{status: 503, unsigned: true, body: `{"code":"SYSTEM_ERROR","message":"busy"}`}
	})
	c, _ := f.client()
	c.MaxAttempts = 4
	_, err := c.CreateRefund(context.Background(), RefundRequest{OutTradeNo: "1234567", OutRefundNo: "R1234567", Amount: RefundAmount{Refund: 1, Total: 1}})
	if !IsCode(err, codeSystemError) || !IsRetryable(err) {
		t.Fatalf("err = %v", err)
	}
	if len(f.requests()) != 4 {
		t.Fatalf("%d requests, want 4", len(f.requests()))
	}
	var sent RefundRequest
	json.Unmarshal(f.requests()[0].body, &sent)
	if sent.Amount.Currency != "CNY" {
		t.Fatal("refund currency default")
	}
}

func TestClientNetworkErrorRetried(t *testing.T) {
	f := newFakeWX(t, func(*http.Request, []byte) reply {
		return reply{body: `{"out_trade_no":"123456","trade_state":"SUCCESS"}`}
	})
	c, sleeps := f.client()
	c.BaseURL = "http://127.0.0.1:1" // nothing listens there
	_, err := c.QueryByOutTradeNo(context.Background(), "123456")
	if err == nil || !IsRetryable(err) || len(*sleeps) != 2 {
		t.Fatalf("err = %v, sleeps %v", err, *sleeps)
	}
}

func TestClientContextTimeout(t *testing.T) {
	f := newFakeWX(t, func(*http.Request, []byte) reply {
		return reply{delay: 2 * time.Second, body: `{}`}
	})
	c, sleeps := f.client()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.QueryByOutTradeNo(ctx, "123456")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
	if time.Since(start) > time.Second || len(*sleeps) != 0 {
		t.Fatalf("timeout not honoured promptly (%v) or retried (%v)", time.Since(start), *sleeps)
	}
}

func TestClientRealSleepHonoursContext(t *testing.T) {
	c := &Client{}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	if err := c.sleep(context.Background(), time.Millisecond); err != nil {
		t.Fatal(err)
	}
}

func TestClientValidatesLocally(t *testing.T) {
	f := newFakeWX(t, func(*http.Request, []byte) reply { return reply{body: `{}`} })
	c, _ := f.client()
	c.NotifyURLOptions = NotifyURLOptions{}
	ctx := context.Background()
	bad := []struct {
		name  string
		scene Scene
		mut   func(*PrepayRequest)
	}{
		{"notify_url with query", SceneJSAPI, func(r *PrepayRequest) { r.NotifyURL += "?a=1" }},
		{"notify_url loopback without option", SceneJSAPI, func(r *PrepayRequest) { r.NotifyURL = "http://127.0.0.1:8080/n" }},
		{"short out_trade_no", SceneJSAPI, func(r *PrepayRequest) { r.OutTradeNo = "123" }},
		{"zero amount", SceneJSAPI, func(r *PrepayRequest) { r.Amount.Total = 0 }},
		{"no description", SceneJSAPI, func(r *PrepayRequest) { r.Description = "" }},
		{"JSAPI without payer", SceneJSAPI, func(r *PrepayRequest) { r.Payer = nil }},
		{"H5 without client IP", SceneH5, func(r *PrepayRequest) { r.Payer = nil }},
		{"H5 without h5_info", SceneH5, func(r *PrepayRequest) { r.SceneInfo = &SceneInfo{PayerClientIP: "203.0.113.9"} }},
		{"partner fields in direct mode", SceneApp, func(r *PrepayRequest) { r.SubMchID = "1900000109" }},
	}
	for _, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			r := jsapiOrder()
			b.mut(&r)
			if _, err := c.Prepay(ctx, b.scene, r); !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v", err)
			}
		})
	}
	if _, err := c.Prepay(ctx, "qr", jsapiOrder()); err == nil {
		t.Fatal("unknown scene accepted")
	}
	if _, err := c.CreateRefund(ctx, RefundRequest{OutRefundNo: "R1234567", Amount: RefundAmount{Refund: 1, Total: 1}}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("refund without order id: %v", err)
	}
	if _, err := c.CreateRefund(ctx, RefundRequest{OutTradeNo: "1234567", OutRefundNo: "R1234567", Amount: RefundAmount{Refund: 2, Total: 1}}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("refund above total: %v", err)
	}
	if n := len(f.requests()); n != 0 {
		t.Fatalf("%d requests reached the server", n)
	}
	// H5 with everything set goes through.
	r := jsapiOrder()
	r.Payer = nil
	r.SceneInfo = &SceneInfo{PayerClientIP: "203.0.113.9", H5Info: &H5Info{Type: "Wap"}}
	if _, err := c.Prepay(ctx, SceneH5, r); err != nil {
		t.Fatal(err)
	}
	if f.requests()[0].target != "/v3/pay/transactions/h5" {
		t.Fatal(f.requests()[0].target)
	}
}

func TestClientConfigErrors(t *testing.T) {
	c := &Client{BaseURL: "http://127.0.0.1:1"}
	if _, err := c.QueryByOutTradeNo(context.Background(), "123456"); !errors.Is(err, ErrConfig) {
		t.Fatalf("no signer: %v", err)
	}
	f := newFakeWX(t, func(*http.Request, []byte) reply { return reply{body: `{}`} })
	c, _ = f.client()
	c.Verifier = nil
	if _, err := c.QueryByOutTradeNo(context.Background(), "123456"); !errors.Is(err, ErrConfig) {
		t.Fatalf("no verifier: %v", err)
	}
}
