package paysim

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/wechatpay-apiv3/wechatpay-go/utils"

	"github.com/paysls/wxpay/shared/wechatpay"
)

// paidCart places and pays a 3-sub-merchant combine and returns its notification.
func (e *env) paidCart(t *testing.T, c *wechatpay.Client, no string) *wechatpay.CombineTransaction {
	t.Helper()
	if _, err := c.CombinePrepay(context.Background(), wechatpay.SceneNative, cart(no, "https://merchant.example.com/pay/notify", testSubMchs...)); err != nil {
		t.Fatal(err)
	}
	var out struct {
		Combine wechatpay.CombineTransaction `json:"combine"`
	}
	if st := e.simCall("POST", "/sim/combines/"+no+"/pay", nil, &out); st != 200 {
		t.Fatalf("pay %s: %d", no, st)
	}
	return &out.Combine
}

// TestEcommerceRefundOfASubOrder refunds one sub-order of a combine through the
// e-commerce API: apply, retry, both queries, the sub-merchant scope, the refundable
// amount, the REFUND.SUCCESS notification with refund_account, and the bill row.
func TestEcommerceRefundOfASubOrder(t *testing.T) {
	e := newEnv(t, Config{SubMchIDs: testSubMchs})
	rc := newReceiver(t, nil)
	platform := e.platformClient()
	paid := e.paidCart(t, platform, "ECR0001")
	ctx := context.Background()
	c := platform.ForSub(testSubMchs[1], "")
	req := wechatpay.EcommerceRefundRequest{TransactionID: paid.SubOrders[1].TransactionID, OutRefundNo: "ECRF000001",
		Reason: "商品已售完", Amount: wechatpay.RefundAmount{Refund: 150, Total: 200}, NotifyURL: rc.url()}
	rf, err := c.CreateEcommerceRefund(ctx, req)
	if err != nil || rf.RefundID == "" || rf.Status != "" || rf.RefundAccount != wechatpay.RefundSourceSubMerchant || rf.Amount.Refund != 150 || rf.CreateTime == "" {
		t.Fatalf("apply: %v %+v", err, rf)
	}
	if again, err := c.CreateEcommerceRefund(ctx, req); err != nil || again.RefundID != rf.RefundID {
		t.Fatalf("a retry is the same refund: %v %+v", err, again)
	}
	changed := req
	changed.Amount.Refund = 100
	if _, err := c.CreateEcommerceRefund(ctx, changed); !wechatpay.IsCode(err, "INVALID_REQUEST") {
		t.Fatalf("same out_refund_no, other amount: %v", err)
	}
	more := req
	more.OutRefundNo, more.Amount.Refund = "ECRF000002", 51
	if _, err := c.CreateEcommerceRefund(ctx, more); !wechatpay.IsCode(err, "INVALID_REQUEST") {
		t.Fatalf("more than what is left: %v", err)
	}
	// Another sub-merchant does not see the order, nor the refund.
	other := platform.ForSub(testSubMchs[0], "")
	wrong := req
	wrong.OutRefundNo = "ECRF000003"
	if _, err := other.CreateEcommerceRefund(ctx, wrong); !wechatpay.IsCode(err, "RESOURCE_NOT_EXISTS") {
		t.Fatalf("another sub-merchant's order: %v", err)
	}
	if _, err := other.QueryEcommerceRefund(ctx, "ECRF000001"); !wechatpay.IsCode(err, "RESOURCE_NOT_EXISTS") {
		t.Fatalf("another sub-merchant's refund: %v", err)
	}
	byID, err := c.QueryEcommerceRefundByID(ctx, rf.RefundID)
	if err != nil || byID.Status != "PROCESSING" || byID.OutTradeNo != "ECR0001-2" || byID.TransactionID != paid.SubOrders[1].TransactionID {
		t.Fatalf("by id: %v %+v", err, byID)
	}
	if byNo, err := c.QueryEcommerceRefund(ctx, "ECRF000001"); err != nil || byNo.RefundID != rf.RefundID {
		t.Fatalf("by out_refund_no: %v %+v", err, byNo)
	}
	// The domestic refund API does not take an e-commerce refund's number for another.
	if r := e.call("POST", "/v3/refund/domestic/refunds", wechatpay.RefundRequest{SubMchID: testSubMchs[1], OutTradeNo: "ECR0001-2", OutRefundNo: "ECRF000001",
		Amount: wechatpay.RefundAmount{Refund: 150, Total: 200, Currency: "CNY"}}); r.status != 400 || r.errorBody(t).Code != "INVALID_REQUEST" {
		t.Fatalf("domestic refund on the same out_refund_no: %d %s", r.status, r.body)
	}

	e.simCall("POST", "/sim/refunds/ECRF000001/settle", nil, nil)
	var notice wechatpay.EcommerceRefundNotice
	n := e.open(t, rc.next(t), &notice)
	if n.EventType != wechatpay.EventRefundSuccess || notice.SubMchID != testSubMchs[1] || notice.SpMchID != e.id.MchID || notice.RefundStatus != "SUCCESS" ||
		notice.RefundAccount != wechatpay.RefundSourceSubMerchant || notice.Amount.Refund != 150 || notice.Amount.Total != 200 || notice.OutTradeNo != "ECR0001-2" {
		t.Fatalf("notification %s %+v", n.EventType, notice)
	}
	if q, _ := c.QueryEcommerceRefund(ctx, "ECRF000001"); q.Status != "SUCCESS" || q.SuccessTime == "" {
		t.Fatalf("after settle: %+v", q)
	}
	// The combine query shows the sub-order refunded.
	if tx, _ := platform.QueryCombine(ctx, "ECR0001"); tx.SubOrders[1].TradeState != "REFUND" || tx.SubOrders[0].TradeState != "SUCCESS" {
		t.Fatalf("combine after refund: %+v", tx.SubOrders)
	}
}

// TestEcommerceRefundAdvance: a refund the platform advanced, and the return of the
// advance — SUCCESS at once, PROCESSING then SUCCESS, FAILED for good.
func TestEcommerceRefundAdvance(t *testing.T) {
	e := newEnv(t, Config{})
	platform := e.platformClient()
	paid := e.paidCart(t, platform, "ADV0001")
	ctx := context.Background()
	refund := func(i int, no string, advance bool) *wechatpay.EcommerceRefund {
		t.Helper()
		req := wechatpay.EcommerceRefundRequest{OutTradeNo: paid.SubOrders[i].OutTradeNo, OutRefundNo: no,
			Amount: wechatpay.RefundAmount{Refund: 100, Total: paid.SubOrders[i].Amount.TotalAmount}}
		if advance {
			req.RefundAccount = wechatpay.RefundSourcePartnerAdvance
		}
		rf, err := platform.ForSub(testSubMchs[i], "").CreateEcommerceRefund(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return rf
	}
	plain := refund(0, "ADVR000001", false)
	c0 := platform.ForSub(testSubMchs[0], "")
	if _, err := c0.ReturnAdvance(ctx, plain.RefundID); !wechatpay.IsCode(err, "INVALID_REQUEST") {
		t.Fatalf("return of a refund nobody advanced: %v", err)
	}
	if _, err := c0.QueryReturnAdvance(ctx, plain.RefundID); !wechatpay.IsCode(err, "RESOURCE_NOT_EXISTS") {
		t.Fatalf("query of a return never asked: %v", err)
	}

	// Advanced, returned at once.
	adv := refund(1, "ADVR000002", true)
	if adv.RefundAccount != wechatpay.RefundSourcePartnerAdvance || adv.Amount.Advance != 100 {
		t.Fatalf("advance: %+v", adv)
	}
	c1 := platform.ForSub(testSubMchs[1], "")
	ra, err := c1.ReturnAdvance(ctx, adv.RefundID)
	if err != nil || ra.Result != wechatpay.ReturnAdvanceSuccess || ra.ReturnAmount != 100 || ra.PayerMchID != testSubMchs[1] || ra.PayeeMchID != e.id.MchID ||
		ra.SuccessTime == "" || ra.AdvanceReturnID == "" {
		t.Fatalf("%v %+v", err, ra)
	}
	if again, err := c1.ReturnAdvance(ctx, adv.RefundID); err != nil || again.AdvanceReturnID != ra.AdvanceReturnID {
		t.Fatalf("asked twice: %v %+v", err, again)
	}
	if _, err := platform.ForSub(testSubMchs[0], "").ReturnAdvance(ctx, adv.RefundID); !wechatpay.IsCode(err, "RESOURCE_NOT_EXISTS") {
		t.Fatalf("another sub-merchant: %v", err)
	}

	// Advanced, the sub-merchant short: PROCESSING, then the driver settles it.
	slow := refund(2, "ADVR000003", true)
	c2 := platform.ForSub(testSubMchs[2], "")
	if st := e.simCall("POST", "/sim/ecommerce/refunds/"+slow.RefundID+"/return-advance", returnAdvanceOutcome{Result: "PROCESSING"}, nil); st != 200 {
		t.Fatal(st)
	}
	if ra, err := c2.ReturnAdvance(ctx, slow.RefundID); err != nil || ra.Result != wechatpay.ReturnAdvanceProcessing || ra.SuccessTime != "" {
		t.Fatalf("%v %+v", err, ra)
	}
	if ra, _ := c2.QueryReturnAdvance(ctx, slow.RefundID); ra.Result != wechatpay.ReturnAdvanceProcessing {
		t.Fatalf("%+v", ra)
	}
	if st := e.simCall("POST", "/sim/ecommerce/refunds/"+slow.RefundID+"/return-advance", returnAdvanceOutcome{Result: "SUCCESS"}, nil); st != 200 {
		t.Fatal(st)
	}
	if ra, _ := c2.QueryReturnAdvance(ctx, slow.RefundID); ra.Result != wechatpay.ReturnAdvanceSuccess || ra.SuccessTime == "" {
		t.Fatalf("%+v", ra)
	}

	// FAILED is final: no new return can be asked.
	failed := refund(2, "ADVR000004", true)
	e.simCall("POST", "/sim/ecommerce/refunds/"+failed.RefundID+"/return-advance", returnAdvanceOutcome{Result: "FAILED"}, nil)
	if ra, err := c2.ReturnAdvance(ctx, failed.RefundID); err != nil || ra.Result != wechatpay.ReturnAdvanceFailed {
		t.Fatalf("%v %+v", err, ra)
	}
	if _, err := c2.ReturnAdvance(ctx, failed.RefundID); !wechatpay.IsCode(err, "INVALID_REQUEST") {
		t.Fatalf("asked again after FAILED: %v", err)
	}
	if st, b := e.simRaw("POST", "/sim/ecommerce/refunds/"+plain.RefundID+"/return-advance", []byte(`{}`)); st != http.StatusConflict {
		t.Fatalf("driver on a refund nobody advanced: %d %s", st, b)
	}
	if st, b := e.simRaw("POST", "/sim/ecommerce/refunds/"+adv.RefundID+"/return-advance", []byte(`{"result":"MAYBE"}`)); st != http.StatusBadRequest {
		t.Fatalf("%d %s", st, b)
	}
}

// TestAbnormalRefund: a refund made ABNORMAL by the driver is re-routed with 异常退款 —
// the domestic path in certificate mode (a direct merchant), the e-commerce path in
// public-key mode with the card encrypted by the official SDK — then settled.
func TestAbnormalRefund(t *testing.T) {
	t.Run("domestic", func(t *testing.T) {
		e := newEnv(t, Config{})
		rc := newReceiver(t, nil)
		e.placeNative("ABN0000001", 500, "https://merchant.example.com/n")
		e.simCall("POST", "/sim/orders/ABN0000001/pay", nil, nil)
		r := e.call("POST", "/v3/refund/domestic/refunds", wechatpay.RefundRequest{OutTradeNo: "ABN0000001", OutRefundNo: "ABNR000001",
			NotifyURL: rc.url(), Amount: wechatpay.RefundAmount{Refund: 500, Total: 500, Currency: "CNY"}})
		if r.status != 200 {
			t.Fatal(r.status, string(r.body))
		}
		var refund wechatpay.Refund
		mustJSON(t, r.body, &refund)
		c := &wechatpay.Client{BaseURL: e.srv.URL, Signer: e.id.MerchantSigner(), Verifier: &wechatpay.Verifier{Keys: e.sim.resolver()},
			MchID: e.id.MchID, AppID: e.id.AppID}
		key, err := wechatpay.EncryptionKeyFromCertificate(e.id.PlatformCert)
		if err != nil {
			t.Fatal(err)
		}
		card := wechatpay.AbnormalRefund{OutRefundNo: "ABNR000001", Type: wechatpay.AbnormalRefundUserBankCard, BankType: "CMB_DEBIT",
			BankAccount: "6214830000001234", RealName: "张三"}
		ctx := context.Background()
		if _, err := c.ApplyAbnormalRefund(ctx, refund.RefundID, card, key); !wechatpay.IsCode(err, "INVALID_REQUEST") {
			t.Fatalf("a PROCESSING refund: %v", err)
		}
		e.simCall("POST", "/sim/refunds/ABNR000001/settle", settleRequest{Status: "ABNORMAL"}, nil)
		var notice wechatpay.RefundNotice
		if n := e.open(t, rc.next(t), &notice); n.EventType != wechatpay.EventRefundAbnormal || notice.RefundStatus != "ABNORMAL" {
			t.Fatalf("%s %+v", n.EventType, notice)
		}
		// WeChat Pay's refusals: no Wechatpay-Serial, an unknown one, a field not encrypted
		// under the named key, another out_refund_no.
		body := func(account string) wechatpay.AbnormalRefundRequest {
			enc, _ := wechatpay.EncryptOAEP(key.Key, []byte(account))
			name, _ := wechatpay.EncryptOAEP(key.Key, []byte("张三"))
			return wechatpay.AbnormalRefundRequest{OutRefundNo: "ABNR000001", Type: "USER_BANK_CARD", BankType: "CMB_DEBIT", BankAccount: enc, RealName: name}
		}
		path := "/v3/refund/domestic/refunds/" + refund.RefundID + "/apply-abnormal-refund"
		withSerial := func(serial string) func(*http.Request) {
			return func(r *http.Request) { r.Header.Set(wechatpay.HeaderSerial, serial) }
		}
		for name, tc := range map[string]struct {
			serial string
			body   wechatpay.AbnormalRefundRequest
			field  string
		}{
			"no serial":          {"", body("6214830000001234"), wechatpay.HeaderSerial},
			"unknown serial":     {"PUB_KEY_ID_0000", body("6214830000001234"), wechatpay.HeaderSerial},
			"not a card":         {key.Serial, body("not-a-card"), "bank_account"},
			"plain text account": {key.Serial, func() wechatpay.AbnormalRefundRequest { b := body("x"); b.BankAccount = "6214830000001234"; return b }(), "bank_account"},
			"other refund": {key.Serial, func() wechatpay.AbnormalRefundRequest {
				b := body("6214830000001234")
				b.OutRefundNo = "ABNR000009"
				return b
			}(), "out_refund_no"},
		} {
			r := e.callWith(e.id.MerchantSigner(), "POST", path, tc.body, withSerial(tc.serial))
			if r.status != 400 || r.errorBody(t).Code != "PARAM_ERROR" || r.errorBody(t).Detail.Field != tc.field {
				t.Fatalf("%s: %d %s", name, r.status, r.body)
			}
		}
		out, err := c.ApplyAbnormalRefund(ctx, refund.RefundID, card, key)
		if err != nil || out.Status != "PROCESSING" || out.Channel != "OTHER_BANKCARD" || out.UserReceivedAccount != "招商银行借记卡1234" {
			t.Fatalf("%v %+v", err, out)
		}
		if again, err := c.ApplyAbnormalRefund(ctx, refund.RefundID, card, key); err != nil || again.Status != "PROCESSING" {
			t.Fatalf("a retry: %v %+v", err, again)
		}
		to := card
		to.Type, to.BankType, to.BankAccount, to.RealName = wechatpay.AbnormalRefundMerchantBankCard, "", "", ""
		if _, err := c.ApplyAbnormalRefund(ctx, refund.RefundID, to, key); !wechatpay.IsCode(err, "INVALID_REQUEST") {
			t.Fatalf("another destination while processing: %v", err)
		}
		// Settled: the notification names the card; the state keeps only its tail.
		e.simCall("POST", "/sim/refunds/ABNR000001/settle", nil, nil)
		e.open(t, rc.next(t), &notice)
		if notice.RefundStatus != "SUCCESS" || notice.UserReceivedAccount != "招商银行借记卡1234" {
			t.Fatalf("%+v", notice)
		}
		e.sim.mu.Lock()
		snap, _ := jsonMarshal(e.sim.st.AbnormalRefunds)
		e.sim.mu.Unlock()
		if strings.Contains(snap, "6214830000001234") || strings.Contains(snap, "张三") || !strings.Contains(snap, `"account_tail":"1234"`) {
			t.Fatalf("state keeps %s", snap)
		}
	})

	t.Run("ecommerce", func(t *testing.T) {
		dir, id := sdkKeysDir(t)
		e := newEnv(t, Config{Identity: id, Mode: ModePubKey})
		m := newSDKMerchant(t, dir, ModePubKey, e.srv.URL)
		rc := newReceiver(t, nil)
		platform := e.platformClient()
		paid := e.paidCart(t, platform, "ABNE0001")
		c := platform.ForSub(testSubMchs[0], "")
		ctx := context.Background()
		rf, err := c.CreateEcommerceRefund(ctx, wechatpay.EcommerceRefundRequest{OutTradeNo: paid.SubOrders[0].OutTradeNo, OutRefundNo: "ABNER00001",
			NotifyURL: rc.url(), Amount: wechatpay.RefundAmount{Refund: 100, Total: 100}})
		if err != nil {
			t.Fatal(err)
		}
		e.simCall("POST", "/sim/refunds/ABNER00001/settle", settleRequest{Status: "ABNORMAL"}, nil)
		var notice wechatpay.EcommerceRefundNotice
		e.open(t, rc.next(t), &notice)
		if notice.RefundStatus != "ABNORMAL" || notice.RefundAccount == "" {
			t.Fatalf("%+v", notice)
		}
		// The official SDK encrypts the card under the platform public key and sends it with
		// Wechatpay-Serial = PUB_KEY_ID.
		acct, err := utils.EncryptOAEPWithPublicKey("6222020000005678", id.PlatformPublicKey)
		if err != nil {
			t.Fatal(err)
		}
		name, _ := utils.EncryptOAEPWithPublicKey("李四", id.PlatformPublicKey)
		hdr := http.Header{}
		hdr.Set(wechatpay.HeaderSerial, id.PlatformPublicKeyID)
		res, err := m.client.Request(ctx, http.MethodPost, "https://api.mch.weixin.qq.com/v3/ecommerce/refunds/"+rf.RefundID+"/apply-abnormal-refund", hdr, nil,
			wechatpay.AbnormalRefundRequest{SubMchID: testSubMchs[0], OutRefundNo: "ABNER00001", Type: "USER_BANK_CARD", BankType: "ICBC_DEBIT",
				BankAccount: acct, RealName: name}, "")
		if err != nil {
			t.Fatalf("SDK abnormal refund: %v", err)
		}
		res.Response.Body.Close()
		q, err := c.QueryEcommerceRefund(ctx, "ABNER00001")
		if err != nil || q.Status != "PROCESSING" || q.UserReceivedAccount != "工商银行借记卡5678" {
			t.Fatalf("%v %+v", err, q)
		}
		// Settled ABNORMAL again, then sent to the merchant's account with our client.
		e.simCall("POST", "/sim/refunds/ABNER00001/settle", settleRequest{Status: "ABNORMAL"}, nil)
		e.open(t, rc.next(t), &notice)
		out, err := c.ApplyEcommerceAbnormalRefund(ctx, rf.RefundID, wechatpay.AbnormalRefund{OutRefundNo: "ABNER00001",
			Type: wechatpay.AbnormalRefundMerchantBankCard}, wechatpay.EncryptionKey{})
		if err != nil || out.Status != "PROCESSING" || out.UserReceivedAccount != "商户结算银行账户" {
			t.Fatalf("%v %+v", err, out)
		}
		e.simCall("POST", "/sim/refunds/ABNER00001/settle", nil, nil)
		e.open(t, rc.next(t), &notice)
		if notice.RefundStatus != "SUCCESS" || notice.UserReceivedAccount != "商户结算银行账户" {
			t.Fatalf("%+v", notice)
		}
		// The domestic path does not know an e-commerce refund.
		dom := e.platformClient().ForSub(testSubMchs[0], "")
		if _, err := dom.ApplyAbnormalRefund(ctx, rf.RefundID, wechatpay.AbnormalRefund{OutRefundNo: "ABNER00001",
			Type: wechatpay.AbnormalRefundMerchantBankCard}, wechatpay.EncryptionKey{}); !wechatpay.IsCode(err, "RESOURCE_NOT_EXISTS") {
			t.Fatalf("domestic path: %v", err)
		}
	})
}

func mustJSON(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%v in %s", err, b)
	}
}

func jsonMarshal(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}
