package paysim

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/paysls/wxpay/shared/clock"
	"github.com/paysls/wxpay/shared/keysdir"
	"github.com/paysls/wxpay/shared/wechatpay"
)

var testSubMchs = []string{"1900000109", "1900000110", "1900000111"}

// platformClient is the bundle's side in e-commerce mode: the typed client acting as
// the platform (sp_mchid = the identity's mchid) against the simulator.
func (e *env) platformClient() *wechatpay.Client {
	return &wechatpay.Client{
		BaseURL: e.srv.URL, Signer: e.id.MerchantSigner(), Verifier: &wechatpay.Verifier{Keys: e.sim.resolver()},
		SpMchID: e.id.MchID, SpAppID: e.id.AppID, NotifyURLOptions: wechatpay.NotifyURLOptions{AllowLoopback: true},
		Sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() },
	}
}

// cart is a combine of one sub-order per sub-merchant: 100, 200, 300 fen.
func cart(no, notifyURL string, subs ...string) wechatpay.CombinePrepayRequest {
	r := wechatpay.CombinePrepayRequest{CombineOutTradeNo: no, NotifyURL: notifyURL,
		CombinePayerInfo: &wechatpay.CombinePayerInfo{OpenID: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},
		SceneInfo:        &wechatpay.CombineSceneInfo{PayerClientIP: "14.23.150.211", DeviceID: "POS1:1", H5Info: &wechatpay.H5Info{Type: "Wap"}}}
	for i, sub := range subs {
		r.SubOrders = append(r.SubOrders, wechatpay.CombineSubOrder{SubMchID: sub, Attach: "cart " + no,
			OutTradeNo: fmt.Sprintf("%s-%d", no, i+1), Description: fmt.Sprintf("商品%d", i+1),
			Amount: wechatpay.CombineAmount{TotalAmount: int64(100 * (i + 1))}})
	}
	return r
}

// openCombine verifies, decrypts and decodes a received combine notification with the
// package's own client code.
func (e *env) openCombine(t *testing.T, r received) (*wechatpay.Notification, *wechatpay.CombineTransaction) {
	t.Helper()
	aead, err := wechatpay.NewAEAD(e.id.APIv3Key)
	if err != nil {
		t.Fatal(err)
	}
	n, pt, err := wechatpay.ParseNotification(context.Background(), &wechatpay.Verifier{Keys: e.sim.resolver()}, aead,
		wechatpay.HeadersFrom(r.header), r.body)
	if err != nil {
		t.Fatal(err)
	}
	if !wechatpay.IsCombineResource(pt) || n.EventType != wechatpay.EventTransactionSuccess || n.Resource.OriginalType != "transaction" {
		t.Fatalf("not a combine notification: %s %s", n.EventType, pt)
	}
	tx, err := wechatpay.DecodeCombineTransaction(n, pt)
	if err != nil {
		t.Fatal(err)
	}
	return n, tx
}

// TestCombineEveryScene places a 3-sub-merchant combine in each scene through the typed
// client, pays it the way that scene is paid (JSAPI/APP by prepay_id, Native by scanning
// code_url, H5 on the h5_url page), and checks the one notification and the query.
func TestCombineEveryScene(t *testing.T) {
	e := newEnv(t, Config{SubMchIDs: testSubMchs})
	rc := newReceiver(t, nil)
	c := e.platformClient()
	ctx := context.Background()
	for _, scene := range []wechatpay.Scene{wechatpay.SceneJSAPI, wechatpay.SceneApp, wechatpay.SceneH5, wechatpay.SceneNative} {
		t.Run(string(scene), func(t *testing.T) {
			no := "CART" + strings.ToUpper(string(scene))
			req := cart(no, rc.url(), testSubMchs...)
			out, err := c.CombinePrepay(ctx, scene, req)
			if err != nil {
				t.Fatal(err)
			}
			tx, err := c.QueryCombine(ctx, no)
			if err != nil || len(tx.SubOrders) != 3 || tx.SubOrders[0].TradeState != "NOTPAY" || tx.CombinePayerInfo != nil {
				t.Fatalf("unpaid query: %v %+v", err, tx)
			}
			switch scene {
			case wechatpay.SceneJSAPI, wechatpay.SceneApp:
				if !strings.HasPrefix(out.PrepayID, "wx") {
					t.Fatalf("%+v", out)
				}
				filled := req
				filled.CombineAppID, filled.CombineMchID = e.id.AppID, e.id.MchID
				p, err := wechatpay.SignCombineJSAPI(e.id.MerchantKey, &filled, out.PrepayID, time.Now())
				if err != nil || p.AppID != e.id.AppID {
					t.Fatal(err)
				}
				if st := e.simCall("POST", "/sim/pay", map[string]string{"prepay_id": p.Package}, nil); st != 200 {
					t.Fatalf("pay by prepay_id: %d", st)
				}
			case wechatpay.SceneNative:
				if !strings.HasPrefix(out.CodeURL, "weixin://wxpay/bizpayurl?pr=") {
					t.Fatalf("%+v", out)
				}
				if st := e.simCall("POST", "/sim/pay", map[string]string{"code_url": out.CodeURL}, nil); st != 200 {
					t.Fatalf("scan: %d", st)
				}
			case wechatpay.SceneH5:
				resp, page := get(t, out.H5URL, uaSafari)
				if resp.StatusCode != 200 || !strings.Contains(page, "¥6.00") || !strings.Contains(page, "商品3") || !strings.Contains(page, no) {
					t.Fatalf("h5 page %d: %s", resp.StatusCode, page)
				}
				u, _ := url.Parse(out.H5URL)
				prepayID := strings.TrimPrefix(u.Path, "/sim/h5/")
				form := url.Values{"package": {u.Query().Get("package")}, "redirect_url": {"https://shop.example.com/paid"}}
				pr, err := noRedirect.PostForm(e.srv.URL+"/sim/h5/"+prepayID+"/pay", form)
				if err != nil {
					t.Fatal(err)
				}
				pr.Body.Close()
				if pr.StatusCode != http.StatusSeeOther || pr.Header.Get("Location") != "https://shop.example.com/paid" {
					t.Fatalf("h5 pay: %d %s", pr.StatusCode, pr.Header.Get("Location"))
				}
			}
			_, paid := e.openCombine(t, rc.next(t))
			if paid.CombineOutTradeNo != no || paid.CombineMchID != e.id.MchID || paid.CombineAppID != e.id.AppID || len(paid.SubOrders) != 3 ||
				paid.CombinePayerInfo == nil || paid.CombinePayerInfo.OpenID == "" {
				t.Fatalf("notification %+v", paid)
			}
			ids := map[string]bool{}
			for i, s := range paid.SubOrders {
				if s.TradeState != "SUCCESS" || s.SubMchID != testSubMchs[i] || s.MchID != e.id.MchID || s.Amount.PayerAmount != int64(100*(i+1)) ||
					s.Attach != "cart "+no || s.SuccessTime == "" || s.TransactionID == "" || s.TradeType == "" {
					t.Fatalf("sub_orders[%d] = %+v", i, s)
				}
				ids[s.TransactionID] = true
			}
			if len(ids) != 3 {
				t.Fatal("sub-orders share a transaction_id")
			}
			rc.none(t, 50*time.Millisecond) // one notification for the whole combine
			q, err := c.QueryCombine(ctx, no)
			if err != nil || q.SubOrders[2].TransactionID != paid.SubOrders[2].TransactionID || q.SubOrders[2].TradeState != "SUCCESS" {
				t.Fatalf("paid query: %v %+v", err, q)
			}
			// Paid: the same prepay is ORDERPAID, paying again a conflict.
			if _, err := c.CombinePrepay(ctx, scene, req); !wechatpay.IsCode(err, "ORDERPAID") {
				t.Fatalf("prepay of a paid combine: %v", err)
			}
			if st := e.simCall("POST", "/sim/combines/"+no+"/pay", nil, nil); st != http.StatusConflict {
				t.Fatalf("second payment: %d", st)
			}
		})
	}
}

// TestCombineRules: the retry/changed-request rules, out_trade_no's namespace, the
// single-order endpoints' blindness to sub-orders, and WeChat Pay's own refusals of
// requests a client might send unchecked.
func TestCombineRules(t *testing.T) {
	e := newEnv(t, Config{SubMchIDs: testSubMchs})
	c := e.platformClient()
	ctx := context.Background()
	req := cart("RULES01", "https://merchant.example.com/pay/notify", testSubMchs...)
	first, err := c.CombinePrepay(ctx, wechatpay.SceneJSAPI, req)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := c.CombinePrepay(ctx, wechatpay.SceneJSAPI, req); err != nil || again.PrepayID != first.PrepayID {
		t.Fatalf("a retry is the same session: %v %+v", err, again)
	}
	changed := req
	changed.SubOrders = append([]wechatpay.CombineSubOrder(nil), req.SubOrders...)
	changed.SubOrders[1].Amount.TotalAmount = 199
	if _, err := c.CombinePrepay(ctx, wechatpay.SceneJSAPI, changed); !wechatpay.IsCode(err, "OUT_TRADE_NO_USED") {
		t.Fatalf("re-priced combine: %v", err)
	}
	// A sub-order's number is an order number of its sub-merchant: another combine, or an
	// ordinary partner order, cannot take it under that sub-merchant; the combine's own
	// number can. (Another sub-merchant may: TestOutTradeNoScope.)
	other := cart("RULES02", "https://merchant.example.com/pay/notify", testSubMchs[1])
	other.SubOrders[0].OutTradeNo = "RULES01-2"
	if _, err := c.CombinePrepay(ctx, wechatpay.SceneNative, other); !wechatpay.IsCode(err, "OUT_TRADE_NO_USED") {
		t.Fatalf("a sub-order number taken twice: %v", err)
	}
	p := e.partnerOrder("RULES01-3")
	p.SubMchID = testSubMchs[2]
	if r := e.call("POST", "/v3/pay/partner/transactions/jsapi", p); r.status != http.StatusForbidden || r.errorBody(t).Code != "OUT_TRADE_NO_USED" {
		t.Fatalf("an ordinary order on a sub-order's number: %d %s", r.status, r.body)
	}
	same := cart("RULES03", "https://merchant.example.com/pay/notify", testSubMchs[0])
	same.SubOrders[0].OutTradeNo = "RULES03" // the FAQ: a combine may share its number with a sub-order
	if _, err := c.CombinePrepay(ctx, wechatpay.SceneNative, same); err != nil {
		t.Fatalf("combine number = sub-order number: %v", err)
	}
	// Sub-orders are reached only through their combine.
	q := "?sp_mchid=" + e.id.MchID + "&sub_mchid=" + testSubMchs[0]
	if r := e.call("GET", "/v3/pay/partner/transactions/out-trade-no/RULES01-1"+q, nil); r.status != 404 || r.errorBody(t).Code != "ORDER_NOT_EXIST" {
		t.Fatalf("a sub-order on the single query: %d %s", r.status, r.body)
	}
	if st, b := e.simRaw("POST", "/sim/orders/RULES01-1/pay", nil); st != http.StatusConflict || !strings.Contains(simErrorOf(t, b), "combine") {
		t.Fatalf("paying a sub-order alone: %d %s", st, b)
	}
	if _, err := c.QueryCombine(ctx, "RULES01-1"); !wechatpay.IsCode(err, "ORDER_NOT_EXIST") {
		t.Fatalf("a sub-order number on the combine query: %v", err)
	}

	// What the simulator refuses on its own, sent without the client's checks.
	body := func(edit func(*wechatpay.CombinePrepayRequest)) wechatpay.CombinePrepayRequest {
		r := cart("RAW0001", "https://merchant.example.com/pay/notify", testSubMchs...)
		r.CombineAppID, r.CombineMchID = e.id.AppID, e.id.MchID
		for i := range r.SubOrders {
			r.SubOrders[i].MchID, r.SubOrders[i].Amount.Currency = e.id.MchID, "CNY"
		}
		edit(&r)
		return r
	}
	cases := []struct {
		name, kind, code, field string
		edit                    func(*wechatpay.CombinePrepayRequest)
	}{
		{"51 sub-orders", "native", "PARAM_ERROR", "sub_orders", func(r *wechatpay.CombinePrepayRequest) {
			for len(r.SubOrders) < 51 {
				s := r.SubOrders[0]
				s.OutTradeNo = fmt.Sprintf("RAWX%04d", len(r.SubOrders))
				r.SubOrders = append(r.SubOrders, s)
			}
		}},
		{"H5 without device_id", "h5", "PARAM_ERROR", "scene_info.device_id", func(r *wechatpay.CombinePrepayRequest) { r.SceneInfo.DeviceID = "" }},
		{"no attach", "app", "PARAM_ERROR", "sub_orders[1].attach", func(r *wechatpay.CombinePrepayRequest) { r.SubOrders[1].Attach = "" }},
		{"another combine_mchid", "app", "PARAM_ERROR", "combine_mchid", func(r *wechatpay.CombinePrepayRequest) { r.CombineMchID = "1900000001" }},
		{"unbound combine_appid", "app", "APPID_MCHID_NOT_MATCH", "", func(r *wechatpay.CombinePrepayRequest) { r.CombineAppID = "wx0000000000000000" }},
		{"unknown sub-merchant", "app", "INVALID_REQUEST", "", func(r *wechatpay.CombinePrepayRequest) { r.SubOrders[2].SubMchID = "1900000999" }},
		{"expired already", "app", "PARAM_ERROR", "time_expire", func(r *wechatpay.CombinePrepayRequest) { r.TimeExpire = "2001-01-01T00:00:00+08:00" }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.call("POST", "/v3/combine-transactions/"+tc.kind, body(tc.edit))
			eb := r.errorBody(t)
			if r.status != http.StatusBadRequest || r.sigErr != nil || eb.Code != tc.code || (tc.field != "" && (eb.Detail == nil || eb.Detail.Field != tc.field)) {
				t.Fatalf("%d %s", r.status, r.body)
			}
		})
	}
}

// TestOutTradeNoScope: an out_trade_no is unique per merchant (orderKey): two
// sub-merchants may each place "SCOPE00001", and each order is reached, paid, refunded
// and closed only under its own sub_mchid.
func TestOutTradeNoScope(t *testing.T) {
	e := newEnv(t, Config{SubMchIDs: testSubMchs})
	a := e.partnerOrder("SCOPE00001")
	a.SubMchID = testSubMchs[0]
	if r := e.call("POST", "/v3/pay/partner/transactions/jsapi", a); r.status != 200 {
		t.Fatal(r.status, string(r.body))
	}
	b := a
	b.SubMchID, b.Amount.Total = testSubMchs[1], 700
	if r := e.call("POST", "/v3/pay/partner/transactions/jsapi", b); r.status != 200 {
		t.Fatalf("the same number for another sub-merchant: %d %s", r.status, r.body)
	}
	// Within one sub-merchant the number is still taken.
	a2 := a
	a2.Amount.Total = 301
	if r := e.call("POST", "/v3/pay/partner/transactions/jsapi", a2); r.status != http.StatusForbidden || r.errorBody(t).Code != "OUT_TRADE_NO_USED" {
		t.Fatalf("the same number re-priced under the same sub-merchant: %d %s", r.status, r.body)
	}
	// The driver must say whose order it pays when two share the number.
	if st, body := e.simRaw("POST", "/sim/orders/SCOPE00001/pay", nil); st != http.StatusConflict || !strings.Contains(simErrorOf(t, body), testSubMchs[1]) {
		t.Fatalf("ambiguous pay: %d %s", st, body)
	}
	e.simCall("POST", "/sim/orders/SCOPE00001/pay?sub_mchid="+testSubMchs[0], nil, nil)
	var v OrderView
	e.simCall("GET", "/sim/orders/SCOPE00001?sub_mchid="+testSubMchs[0], nil, &v)
	if v.Transaction.SubMchID != testSubMchs[0] || v.Transaction.Amount.Total != 300 || v.Transaction.TradeState != "SUCCESS" {
		t.Fatalf("sub-merchant 0's order: %+v", v.Transaction)
	}
	query := func(sub string) wechatpay.Transaction {
		t.Helper()
		r := e.call("GET", "/v3/pay/partner/transactions/out-trade-no/SCOPE00001?sp_mchid="+e.id.MchID+"&sub_mchid="+sub, nil)
		var tx wechatpay.Transaction
		if r.status != 200 || json.Unmarshal(r.body, &tx) != nil {
			t.Fatalf("query under %s: %d %s", sub, r.status, r.body)
		}
		return tx
	}
	if tx := query(testSubMchs[1]); tx.TradeState != "NOTPAY" || tx.Amount.Total != 700 || tx.SubMchID != testSubMchs[1] {
		t.Fatalf("sub-merchant 1 sees: %+v", tx)
	}
	if tx := query(testSubMchs[0]); tx.TradeState != "SUCCESS" || tx.Amount.Total != 300 {
		t.Fatalf("sub-merchant 0 sees: %+v", tx)
	}
	// transaction_id is global, yet reached only under its own sub_mchid.
	if r := e.call("GET", "/v3/pay/partner/transactions/id/"+v.Transaction.TransactionID+"?sp_mchid="+e.id.MchID+"&sub_mchid="+testSubMchs[1], nil); r.status != 404 || r.errorBody(t).Code != "ORDER_NOT_EXIST" {
		t.Fatalf("transaction_id under another sub_mchid: %d %s", r.status, r.body)
	}
	// A refund under sub-merchant 1 finds its own (unpaid) order, not 0's paid one.
	refund := wechatpay.RefundRequest{OutTradeNo: "SCOPE00001", OutRefundNo: "SCOPERF00001", SubMchID: testSubMchs[1],
		Amount: wechatpay.RefundAmount{Refund: 100, Total: 700, Currency: "CNY"}}
	if r := e.call("POST", "/v3/refund/domestic/refunds", refund); r.status != 404 || r.errorBody(t).Code != "RESOURCE_NOT_EXISTS" || !strings.Contains(r.errorBody(t).Message, "is NOTPAY") {
		t.Fatalf("refund of sub-merchant 1's unpaid order: %d %s", r.status, r.body)
	}
	refund.SubMchID, refund.Amount.Total = testSubMchs[0], 300
	if r := e.call("POST", "/v3/refund/domestic/refunds", refund); r.status != 200 {
		t.Fatalf("refund of sub-merchant 0's order: %d %s", r.status, r.body)
	}
	// Closing sub-merchant 1's order leaves 0's alone.
	e.advance("5m1s")
	if r := e.call("POST", "/v3/pay/partner/transactions/out-trade-no/SCOPE00001/close", map[string]string{"sp_mchid": e.id.MchID, "sub_mchid": testSubMchs[1]}); r.status != http.StatusNoContent {
		t.Fatalf("close under sub-merchant 1: %d %s", r.status, r.body)
	}
	if tx := query(testSubMchs[1]); tx.TradeState != "CLOSED" {
		t.Fatalf("sub-merchant 1 after close: %s", tx.TradeState)
	}
	if tx := query(testSubMchs[0]); tx.TradeState != "REFUND" {
		t.Fatalf("sub-merchant 0 after 1's close: %s", tx.TradeState)
	}
}

func TestCombineClose(t *testing.T) {
	e := newEnv(t, Config{})
	c := e.platformClient()
	ctx := context.Background()
	req := cart("CLOSE01", "https://merchant.example.com/pay/notify", testSubMchs...)
	if _, err := c.CombinePrepay(ctx, wechatpay.SceneNative, req); err != nil {
		t.Fatal(err)
	}
	filled := req
	filled.CombineMchID = e.id.MchID
	for i := range filled.SubOrders {
		filled.SubOrders[i].MchID = e.id.MchID
	}
	subs := filled.CloseSubOrders()
	if err := c.CloseCombine(ctx, "CLOSE01", subs); !wechatpay.IsCode(err, wechatpay.CodeRuleLimit) {
		t.Fatalf("close within 5 minutes: %v", err)
	}
	e.advance("5m1s")
	if err := c.CloseCombine(ctx, "CLOSE01", subs[:2]); !wechatpay.IsCode(err, "INVALID_REQUEST") {
		t.Fatalf("close of some sub-orders: %v", err)
	}
	wrong := append([]wechatpay.CombineCloseSubOrder(nil), subs...)
	wrong[1].SubMchID = testSubMchs[0]
	if err := c.CloseCombine(ctx, "CLOSE01", wrong); !wechatpay.IsCode(err, "INVALID_REQUEST") {
		t.Fatalf("close with another sub_mchid: %v", err)
	}
	if err := c.CloseCombine(ctx, "CLOSE01", subs); err != nil {
		t.Fatal(err)
	}
	if err := c.CloseCombine(ctx, "CLOSE01", subs); err != nil {
		t.Fatalf("closing twice: %v", err)
	}
	tx, err := c.QueryCombine(ctx, "CLOSE01")
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range tx.SubOrders {
		if s.TradeState != "CLOSED" {
			t.Fatalf("sub_orders[%d] %s", i, s.TradeState)
		}
	}
	if _, err := c.CombinePrepay(ctx, wechatpay.SceneNative, req); !wechatpay.IsCode(err, "ORDER_CLOSED") {
		t.Fatalf("prepay of a closed combine: %v", err)
	}
	if st := e.simCall("POST", "/sim/combines/CLOSE01/pay", nil, nil); st != http.StatusConflict {
		t.Fatalf("pay a closed combine: %d", st)
	}
	// Unpaid past time_expire (7 days by default): closed without a call.
	if _, err := c.CombinePrepay(ctx, wechatpay.SceneNative, cart("EXPIRE1", "https://merchant.example.com/pay/notify", testSubMchs[0])); err != nil {
		t.Fatal(err)
	}
	e.advance("167h")
	if tx, _ := c.QueryCombine(ctx, "EXPIRE1"); tx.SubOrders[0].TradeState != "NOTPAY" {
		t.Fatalf("before 7 days: %+v", tx)
	}
	e.advance("2h")
	if tx, _ := c.QueryCombine(ctx, "EXPIRE1"); tx.SubOrders[0].TradeState != "CLOSED" {
		t.Fatalf("after 7 days: %+v", tx)
	}
}

// TestCombineNotificationFaults: dropped, duplicated, and a sub-order failed — by the
// fault and by the driver.
func TestCombineNotificationFaults(t *testing.T) {
	e := newEnv(t, Config{})
	rc := newReceiver(t, nil)
	c := e.platformClient()
	ctx := context.Background()
	place := func(no string) {
		t.Helper()
		if _, err := c.CombinePrepay(ctx, wechatpay.SceneApp, cart(no, rc.url(), testSubMchs...)); err != nil {
			t.Fatal(err)
		}
	}

	// Dropped: nothing arrives, the query still tells the truth.
	place("FAULT01")
	if err := e.sim.SetFaults(Faults{DropNext: 1}); err != nil {
		t.Fatal(err)
	}
	e.simCall("POST", "/sim/combines/FAULT01/pay", nil, nil)
	rc.none(t, 100*time.Millisecond)
	if tx, err := c.QueryCombine(ctx, "FAULT01"); err != nil || tx.SubOrders[0].TradeState != "SUCCESS" {
		t.Fatalf("%v %+v", err, tx)
	}

	// Duplicated: the same notification (same id) twice.
	place("FAULT02")
	if err := e.sim.SetFaults(Faults{Duplicate: true}); err != nil {
		t.Fatal(err)
	}
	e.simCall("POST", "/sim/combines/FAULT02/pay", nil, nil)
	n1, _ := e.openCombine(t, rc.next(t))
	n2, tx2 := e.openCombine(t, rc.next(t))
	if n1.ID != n2.ID || tx2.CombineOutTradeNo != "FAULT02" {
		t.Fatalf("duplicate: %s vs %s", n1.ID, n2.ID)
	}

	// One sub-order failed, by the fault: the last one is PAYERROR in the one notification.
	place("FAULT03")
	st, b := e.simRaw("POST", "/sim/faults", []byte(`{"combine_fail_sub_order":1}`))
	if st != 200 {
		t.Fatalf("%d %s", st, b)
	}
	e.simCall("POST", "/sim/combines/FAULT03/pay", nil, nil)
	_, tx3 := e.openCombine(t, rc.next(t))
	if tx3.SubOrders[0].TradeState != "SUCCESS" || tx3.SubOrders[1].TradeState != "SUCCESS" || tx3.SubOrders[2].TradeState != "PAYERROR" ||
		tx3.SubOrders[2].SuccessTime != "" {
		t.Fatalf("fault: %+v", tx3.SubOrders)
	}
	if f := e.sim.currentFaults(); f.CombineFailSubOrder != 0 {
		t.Fatalf("fault not consumed: %+v", f)
	}
	// …and by the driver, naming the sub-order.
	place("FAULT04")
	var out map[string]json.RawMessage
	if st := e.simCall("POST", "/sim/combines/FAULT04/pay", CombinePayRequest{FailSubOrders: []string{"FAULT04-1"}}, &out); st != 200 {
		t.Fatal(st)
	}
	_, tx4 := e.openCombine(t, rc.next(t))
	if tx4.SubOrders[0].TradeState != "PAYERROR" || tx4.SubOrders[1].TradeState != "SUCCESS" {
		t.Fatalf("driver: %+v", tx4.SubOrders)
	}
	if st, b := e.simRaw("POST", "/sim/combines/FAULT01/pay", []byte(`{"fail_sub_orders":["NOPE"]}`)); st != http.StatusBadRequest && st != http.StatusConflict {
		t.Fatalf("%d %s", st, b)
	}
	// A whole failed payment: no notification.
	place("FAULT05")
	e.simCall("POST", "/sim/combines/FAULT05/pay", CombinePayRequest{Result: "PAYERROR"}, nil)
	rc.none(t, 100*time.Millisecond)
	var v CombineView
	if st := e.simCall("GET", "/sim/combines/FAULT05", nil, &v); st != 200 || v.Transaction.SubOrders[0].TradeState != "PAYERROR" || v.Kind != "app" {
		t.Fatalf("%d %+v", st, v)
	}
	var all []CombineView
	if e.simCall("GET", "/sim/combines", nil, &all); len(all) != 5 {
		t.Fatalf("%d combines listed", len(all))
	}
}

// TestCombineBillRows: each sub-order is a row of the trade bill with its sub_mchid.
func TestCombineBillRows(t *testing.T) {
	e := newEnv(t, Config{})
	c := e.platformClient()
	ctx := context.Background()
	if _, err := c.CombinePrepay(ctx, wechatpay.SceneNative, cart("BILL01", "https://merchant.example.com/pay/notify", testSubMchs...)); err != nil {
		t.Fatal(err)
	}
	e.simCall("POST", "/sim/combines/BILL01/pay", nil, nil)
	day := e.sim.now().In(clock.CST).Format("2006-01-02")
	e.advance("34h")
	b, err := c.TradeBill(ctx, wechatpay.TradeBillRequest{BillDate: day})
	if err != nil {
		t.Fatal(err)
	}
	var buf strings.Builder
	if _, err := c.DownloadBill(ctx, *b, false, &buf); err != nil {
		t.Fatal(err)
	}
	rows := strings.Split(strings.TrimSpace(buf.String()), "\r\n")
	var found int
	for i, sub := range testSubMchs {
		for _, row := range rows {
			if strings.Contains(row, "`BILL01-"+fmt.Sprint(i+1)) && strings.Contains(row, "`"+sub+",") && strings.Contains(row, "`"+e.id.MchID+",") &&
				strings.Contains(row, fmt.Sprintf("`%d.00,", i+1)) {
				found++
			}
		}
	}
	if found != 3 {
		t.Fatalf("%d of 3 sub-order rows in\n%s", found, buf.String())
	}
}

// TestCombineOfficialSDK: the official SDK's client calls the combine API (its response
// validation on) and its notify.Handler parses the combine notification.
func TestCombineOfficialSDK(t *testing.T) {
	for _, mode := range []string{ModeCert, ModePubKey} {
		t.Run(mode, func(t *testing.T) {
			dir, id := sdkKeysDir(t)
			e := newEnv(t, Config{Identity: id, Mode: mode})
			m := newSDKMerchant(t, dir, mode, e.srv.URL)
			notifyURL, notices := sdkReceiver(t, m)
			ctx := context.Background()
			req := cart("SDKCART"+strings.ToUpper(mode), notifyURL, testSubMchs...)
			req.CombineAppID, req.CombineMchID = m.appid, m.mchid
			for i := range req.SubOrders {
				req.SubOrders[i].MchID, req.SubOrders[i].Amount.Currency = m.mchid, "CNY"
			}
			res, err := m.client.Post(ctx, "https://api.mch.weixin.qq.com/v3/combine-transactions/native", req)
			if err != nil {
				t.Fatalf("SDK combine prepay: %v", err)
			}
			var pr wechatpay.PrepayResponse
			if b, _ := io.ReadAll(res.Response.Body); json.Unmarshal(b, &pr) != nil || pr.CodeURL == "" {
				t.Fatalf("%s", b)
			}
			e.simCall("POST", "/sim/pay", map[string]string{"code_url": pr.CodeURL}, nil)
			n := nextNotice(t, notices)
			var content wechatpay.CombineTransaction
			if err := json.Unmarshal([]byte(n.Resource.Plaintext), &content); err != nil || content.CombineOutTradeNo != req.CombineOutTradeNo || len(content.SubOrders) != 3 {
				t.Fatalf("%v %s", err, n.Resource.Plaintext)
			}
			res, err = m.client.Get(ctx, "https://api.mch.weixin.qq.com/v3/combine-transactions/out-trade-no/"+req.CombineOutTradeNo)
			if err != nil {
				t.Fatalf("SDK combine query: %v", err)
			}
			res.Response.Body.Close()
			// And WeChat Pay's error for a close too early reaches the SDK as its APIError.
			_, err = m.client.Post(ctx, "https://api.mch.weixin.qq.com/v3/combine-transactions/out-trade-no/"+req.CombineOutTradeNo+"/close",
				wechatpay.CombineCloseRequest{CombineAppID: m.appid, SubOrders: req.CloseSubOrders()})
			if err == nil || apiErrorCode(t, err) != "ORDERPAID" {
				t.Fatalf("close a paid combine: %v", err)
			}
		})
	}
}

// sdkKeysDir writes a fresh keys dir, for the official SDK to load its files from.
func sdkKeysDir(t *testing.T) (string, *keysdir.Identity) {
	t.Helper()
	dir := t.TempDir()
	gen, err := keysdir.Generate()
	if err != nil {
		t.Fatal(err)
	}
	if err := gen.Save(dir); err != nil {
		t.Fatal(err)
	}
	id, err := keysdir.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return dir, id
}

// TestCombineH5Link: a combine's h5_url follows the single order's rules — not inside
// WeChat, 5 minutes, a fresh link for the same request afterwards — and pays the combine.
func TestCombineH5Link(t *testing.T) {
	e := newEnv(t, Config{})
	rc := newReceiver(t, nil)
	c := e.platformClient()
	ctx := context.Background()
	req := cart("H5CART01", rc.url(), testSubMchs[:2]...)
	first, err := c.CombinePrepay(ctx, wechatpay.SceneH5, req)
	if err != nil {
		t.Fatal(err)
	}
	if resp, _ := get(t, first.H5URL, uaWeChat); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("opened inside WeChat: %d", resp.StatusCode)
	}
	e.advance("5m1s")
	if resp, _ := get(t, first.H5URL, uaSafari); resp.StatusCode != http.StatusGone {
		t.Fatalf("after 5 minutes: %d", resp.StatusCode)
	}
	again, err := c.CombinePrepay(ctx, wechatpay.SceneH5, req)
	if err != nil || again.H5URL == first.H5URL {
		t.Fatalf("a fresh link: %v %+v", err, again)
	}
	if resp, page := get(t, again.H5URL, uaSafari); resp.StatusCode != 200 || !strings.Contains(page, "¥3.00") {
		t.Fatalf("fresh link %d: %s", resp.StatusCode, page)
	}
	u, _ := url.Parse(again.H5URL)
	if st := e.simCall("POST", "/sim/pay", map[string]string{"prepay_id": strings.TrimPrefix(u.Path, "/sim/h5/")}, nil); st != 200 {
		t.Fatalf("pay by the h5 prepay_id: %d", st)
	}
	if _, tx := e.openCombine(t, rc.next(t)); tx.SubOrders[1].TradeType != wechatpay.TradeTypeMWeb {
		t.Fatalf("%+v", tx.SubOrders[1])
	}
	if resp, page := get(t, again.H5URL, uaSafari); resp.StatusCode != 200 || !strings.Contains(page, "支付成功") {
		t.Fatalf("paid page %d: %s", resp.StatusCode, page)
	}
}

// TestCombineNotificationOfFiftyFits: the largest combine WeChat Pay allows — 50
// sub-orders, 32-character numbers, 128-byte attach — notifies in a body the bundle's
// notify reader accepts (notifyReaderLimit).
func TestCombineNotificationOfFiftyFits(t *testing.T) {
	e := newEnv(t, Config{})
	rc := newReceiver(t, nil)
	req := wechatpay.CombinePrepayRequest{CombineOutTradeNo: strings.Repeat("C", 32), NotifyURL: rc.url()}
	for i := 0; i < wechatpay.MaxCombineSubOrders; i++ {
		req.SubOrders = append(req.SubOrders, wechatpay.CombineSubOrder{SubMchID: fmt.Sprintf("19%08d", i), Attach: strings.Repeat("a", 128),
			OutTradeNo: fmt.Sprintf("%s%02d", strings.Repeat("S", 30), i), Description: strings.Repeat("商", 127),
			Amount: wechatpay.CombineAmount{TotalAmount: 1_000_000_00}, SettleInfo: &wechatpay.CombineSettleInfo{ProfitSharing: true}})
	}
	if _, err := e.platformClient().CombinePrepay(context.Background(), wechatpay.SceneNative, req); err != nil {
		t.Fatal(err)
	}
	e.simCall("POST", "/sim/combines/"+req.CombineOutTradeNo+"/pay", nil, nil)
	r := rc.next(t)
	if len(r.body) > notifyReaderLimit {
		t.Fatalf("a 50-sub-order notification is %d bytes, over the %d the notify reader takes", len(r.body), notifyReaderLimit)
	}
	if _, tx := e.openCombine(t, r); len(tx.SubOrders) != 50 {
		t.Fatalf("%d sub-orders", len(tx.SubOrders))
	}
	t.Logf("a 50-sub-order combine notification is %d bytes (limit %d)", len(r.body), notifyReaderLimit)
}

// notifyReaderLimit is what the notify function reads of a notification body
// (functions/notify/decode.go maxBody).
const notifyReaderLimit = 64 << 10
