package wechatpay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
)

func TestEcommerceRefundCalls(t *testing.T) {
	f := newFakeWX(t, func(r *http.Request, body []byte) reply {
		switch {
		case r.Method == "POST" && r.URL.Path == "/v3/ecommerce/refunds/apply":
			return reply{body: `{"refund_id":"50000000382019052709732678859","out_refund_no":"R1217752501201407033233368018","create_time":"2018-06-08T10:34:56+08:00",
"amount":{"refund":888,"payer_refund":888,"discount_refund":0,"currency":"CNY","advance":888},"refund_account":"REFUND_SOURCE_PARTNER_ADVANCE"}`}
		case r.Method == "GET" && (r.URL.Path == "/v3/ecommerce/refunds/id/50000000382019052709732678859" ||
			r.URL.Path == "/v3/ecommerce/refunds/out-refund-no/R1217752501201407033233368018"):
			return reply{body: `{"refund_id":"50000000382019052709732678859","out_refund_no":"R1217752501201407033233368018","status":"SUCCESS",
"amount":{"refund":888,"currency":"CNY"},"refund_account":"REFUND_SOURCE_PARTNER_ADVANCE"}`}
		case r.URL.Path == "/v3/ecommerce/refunds/50000000382019052709732678859/return-advance":
			return reply{body: `{"refund_id":"50000000382019052709732678859","advance_return_id":"1215562501201407033233368018","return_amount":888,
"payer_mchid":"1900000109","payer_account":"BASIC","payee_mchid":"1230000109","payee_account":"BASIC","result":"SUCCESS","success_time":"2015-05-20T13:29:35+08:00"}`}
		}
		return reply{status: 404, body: `{"code":"NOT_FOUND","message":"` + r.URL.Path + `"}`}
	})
	c := partnerFake(f)
	ctx := context.Background()
	out, err := c.CreateEcommerceRefund(ctx, EcommerceRefundRequest{OutTradeNo: "1217752501201407033233368018",
		OutRefundNo: "R1217752501201407033233368018", Reason: "商品已售完", Amount: RefundAmount{Refund: 888, Total: 888},
		NotifyURL: "https://pay.example.com/wxpay/refund", RefundAccount: RefundSourcePartnerAdvance})
	if err != nil || out.RefundAccount != RefundSourcePartnerAdvance || out.Amount.Advance != 888 {
		t.Fatalf("%v %+v", err, out)
	}
	var sent EcommerceRefundRequest
	if err := json.Unmarshal(f.requests()[0].body, &sent); err != nil {
		t.Fatal(err)
	}
	if sent.SubMchID != "1900000109" || sent.SpAppID != "wx8888888888888888" || sent.Amount.Currency != "CNY" || sent.TransactionID != "" {
		t.Fatalf("apply body %s", f.requests()[0].body)
	}
	if _, err := c.QueryEcommerceRefundByID(ctx, "50000000382019052709732678859"); err != nil {
		t.Fatal(err)
	}
	if r, err := c.QueryEcommerceRefund(ctx, "R1217752501201407033233368018"); err != nil || r.Status != "SUCCESS" {
		t.Fatalf("%v %+v", err, r)
	}
	if ra, err := c.ReturnAdvance(ctx, "50000000382019052709732678859"); err != nil || ra.Result != ReturnAdvanceSuccess || ra.ReturnAmount != 888 {
		t.Fatalf("%v %+v", err, ra)
	}
	if _, err := c.QueryReturnAdvance(ctx, "50000000382019052709732678859"); err != nil {
		t.Fatal(err)
	}
	reqs := f.requests()
	for i, want := range []string{
		"/v3/ecommerce/refunds/id/50000000382019052709732678859?sub_mchid=1900000109",
		"/v3/ecommerce/refunds/out-refund-no/R1217752501201407033233368018?sub_mchid=1900000109",
		"/v3/ecommerce/refunds/50000000382019052709732678859/return-advance",
		"/v3/ecommerce/refunds/50000000382019052709732678859/return-advance?sub_mchid=1900000109",
	} {
		if reqs[i+1].target != want {
			t.Fatalf("request %d: %s, want %s", i+1, reqs[i+1].target, want)
		}
	}
	if string(reqs[3].body) != `{"sub_mchid":"1900000109"}` {
		t.Fatalf("return-advance body %s", reqs[3].body)
	}

	// A direct-mode client cannot call the platform's API; bad requests never leave.
	direct, _ := f.client()
	if _, err := direct.CreateEcommerceRefund(ctx, EcommerceRefundRequest{}); !errors.Is(err, ErrConfig) {
		t.Fatalf("direct client: %v", err)
	}
	for name, req := range map[string]EcommerceRefundRequest{
		"both order ids":   {OutTradeNo: "A1234567", TransactionID: "4200", OutRefundNo: "R1234567", Amount: RefundAmount{Refund: 1, Total: 1}},
		"more than paid":   {OutTradeNo: "A1234567", OutRefundNo: "R1234567", Amount: RefundAmount{Refund: 2, Total: 1}},
		"unknown account":  {OutTradeNo: "A1234567", OutRefundNo: "R1234567", Amount: RefundAmount{Refund: 1, Total: 1}, RefundAccount: "PLATFORM"},
		"short refund no":  {OutTradeNo: "A1234567", OutRefundNo: "R1", Amount: RefundAmount{Refund: 1, Total: 1}},
		"funds from BASIC": {OutTradeNo: "A1234567", OutRefundNo: "R1234567", Amount: RefundAmount{Refund: 1, Total: 1}, FundsAccount: "BASIC"},
	} {
		if _, err := c.CreateEcommerceRefund(ctx, req); !errors.Is(err, ErrInvalid) {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if n := len(f.requests()); n != 5 {
		t.Fatalf("%d requests reached WeChat Pay", n)
	}
	if _, err := c.ForSub("", "").QueryEcommerceRefund(ctx, "R1217752501201407033233368018"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("query without sub_mchid: %v", err)
	}
}

func TestDecodeEcommerceRefundNotice(t *testing.T) {
	pt := []byte(`{"sp_mchid":"1900000100","sub_mchid":"1900000109","transaction_id":"1008450740201411110005820873","out_trade_no":"20150806125346",
"refund_id":"50200207182018070300011301001","out_refund_no":"7752501201407033233368018","refund_status":"SUCCESS","success_time":"2018-06-08T10:34:56+08:00",
"user_received_account":"招商银行信用卡0403","amount":{"total":999,"refund":999,"payer_total":999,"payer_refund":999},"refund_account":"REFUND_SOURCE_SUB_MERCHANT"}`)
	n, err := decodeEcommerceRefundNotice(&Notification{EventType: EventRefundSuccess}, pt)
	if err != nil || n.SubMchID != "1900000109" || n.RefundAccount != RefundSourceSubMerchant || n.Amount.PayerRefund != 999 {
		t.Fatalf("%v %+v", err, n)
	}
	if _, err := decodeEcommerceRefundNotice(&Notification{EventType: EventTransactionSuccess}, pt); !errors.Is(err, ErrNotifyMalformed) {
		t.Fatalf("payment event: %v", err)
	}
	if _, err := decodeEcommerceRefundNotice(&Notification{EventType: EventRefundSuccess}, []byte(`{"refund_id":"1"}`)); !errors.Is(err, ErrNotifyMalformed) {
		t.Fatalf("no out_refund_no: %v", err)
	}
}

func TestApplyAbnormalRefundEncryptsTheCard(t *testing.T) {
	f := newFakeWX(t, func(r *http.Request, body []byte) reply {
		if r.Method == "POST" && strings.HasSuffix(r.URL.Path, "/50000000382019052709732678859/apply-abnormal-refund") {
			return reply{body: `{"refund_id":"50000000382019052709732678859","out_refund_no":"R1217752501201407033233368018","status":"PROCESSING","channel":"OTHER_BANKCARD","amount":{"refund":888,"total":888}}`}
		}
		return reply{status: 404, body: `{"code":"NOT_FOUND","message":"` + r.URL.Path + `"}`}
	})
	key := EncryptionKey{Serial: fixturePublicKeyID, Key: &platformKey(t).PublicKey}
	a := AbnormalRefund{OutRefundNo: "R1217752501201407033233368018", Type: AbnormalRefundUserBankCard, BankType: "CMB_DEBIT",
		BankAccount: "6214830000001234", RealName: "张三"}
	ctx := context.Background()

	// A service provider: the domestic path with sub_mchid.
	c := partnerFake(f)
	out, err := c.ApplyAbnormalRefund(ctx, "50000000382019052709732678859", a, key)
	if err != nil || out.Status != RefundStatusProcessing {
		t.Fatalf("%v %+v", err, out)
	}
	// A platform: the e-commerce path.
	if _, err := c.ApplyEcommerceAbnormalRefund(ctx, "50000000382019052709732678859", a, key); err != nil {
		t.Fatal(err)
	}
	reqs := f.requests()
	for i, path := range []string{"/v3/refund/domestic/refunds/50000000382019052709732678859/apply-abnormal-refund",
		"/v3/ecommerce/refunds/50000000382019052709732678859/apply-abnormal-refund"} {
		r := reqs[i]
		if r.target != path || r.header.Get(HeaderSerial) != fixturePublicKeyID {
			t.Fatalf("request %d: %s, Wechatpay-Serial %q", i, r.target, r.header.Get(HeaderSerial))
		}
		var sent AbnormalRefundRequest
		if err := json.Unmarshal(r.body, &sent); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(r.body), "6214830000001234") || strings.Contains(string(r.body), "张三") {
			t.Fatalf("card sent in clear: %s", r.body)
		}
		acct, err1 := DecryptOAEP(platformKey(t), sent.BankAccount)
		name, err2 := DecryptOAEP(platformKey(t), sent.RealName)
		if err1 != nil || err2 != nil || string(acct) != "6214830000001234" || string(name) != "张三" || sent.SubMchID != "1900000109" || sent.BankType != "CMB_DEBIT" {
			t.Fatalf("request %d: %s (%v %v)", i, r.body, err1, err2)
		}
	}
	// Without a key, with a credit card, or MERCHANT_BANK_CARD with card fields: refused locally.
	if _, err := c.ApplyAbnormalRefund(ctx, "50000000382019052709732678859", a, EncryptionKey{}); !errors.Is(err, ErrConfig) {
		t.Fatalf("no key: %v", err)
	}
	credit := a
	credit.BankType = "CMB_CREDIT"
	if _, err := c.ApplyAbnormalRefund(ctx, "50000000382019052709732678859", credit, key); !errors.Is(err, ErrInvalid) {
		t.Fatalf("credit card: %v", err)
	}
	merchant := a
	merchant.Type = AbnormalRefundMerchantBankCard
	if _, err := c.ApplyAbnormalRefund(ctx, "50000000382019052709732678859", merchant, key); !errors.Is(err, ErrInvalid) {
		t.Fatalf("merchant card with user fields: %v", err)
	}
	if n := len(f.requests()); n != 2 {
		t.Fatalf("%d requests", n)
	}
	// The plaintext never reaches a log line or an error.
	var logged strings.Builder
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("applying", "application", a)
	for _, s := range []string{fmt.Sprint(a), fmt.Sprintf("%#v", a), fmt.Sprintf("%+v", a), logged.String()} {
		if strings.Contains(s, "6214830000001234") || strings.Contains(s, "张三") {
			t.Fatalf("card leaked: %s", s)
		}
	}
}

func TestEncryptionKeyFromCertificate(t *testing.T) {
	k, err := EncryptionKeyFromCertificate(platformCert(t))
	if err != nil || k.Serial != fixturePlatformSer || k.Key.N.Cmp(platformKey(t).N) != 0 {
		t.Fatalf("%v %+v", err, k)
	}
}
