package wxv2

import (
	"errors"
	"maps"
	"net/http"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/paysls/wxpay/shared/wechatpay"
)

// docKey is the APIv2 key of the example in WeChat Pay's 签名算法 document.
const docKey = "192006250b4c09247ec02edce69f6a2d"

// TestSignKnownAnswers is the worked example of WeChat Pay's 安全规范/签名算法
// (https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=4_3): its parameters, its
// stringA, and the MD5 and HMAC-SHA256 signs it prints. The two values were also
// recomputed here with md5sum and `openssl dgst -sha256 -hmac`.
func TestSignKnownAnswers(t *testing.T) {
	p := Params{
		"appid": "wxd930ea5d5a258f4f", "mch_id": "10000100", "device_info": "1000",
		"body": "test", "nonce_str": "ibuaiVcKdpRxkhJA",
	}
	const stringA = "appid=wxd930ea5d5a258f4f&body=test&device_info=1000&mch_id=10000100&nonce_str=ibuaiVcKdpRxkhJA"
	if got := stringToSign(p); got != stringA {
		t.Fatalf("stringA = %q, want %q", got, stringA)
	}
	for _, c := range []struct{ typ, want string }{
		{SignTypeMD5, "9A0A8659F005D6984697E2CA0A9CF3B7"},
		{"", "9A0A8659F005D6984697E2CA0A9CF3B7"}, // MD5 is the default
		{SignTypeHMACSHA256, "6A9AE1657590FD6257D693A078E1C3E4BB6BA4DC30B23E0EE2496E54170DACD6"},
	} {
		got, err := sign(p, c.typ, docKey)
		if err != nil || got != c.want {
			t.Errorf("Sign(%q) = %s, %v; want %s", c.typ, got, err, c.want)
		}
	}
	// Verify accepts the documented signs and nothing else.
	md5 := maps.Clone(p)
	md5["sign"] = "9A0A8659F005D6984697E2CA0A9CF3B7"
	if err := verify(md5, docKey); err != nil {
		t.Errorf("Verify(documented MD5 sign) = %v", err)
	}
	// sign_type is itself a signed field, so the documented HMAC value (computed
	// without it) verifies only on a message that has no sign_type — which Verify
	// then reads as MD5. Check the HMAC path with sign_type present instead.
	h := maps.Clone(p)
	if err := SignParams(h, SignTypeHMACSHA256, docKey); err != nil {
		t.Fatal(err)
	}
	if err := verify(h, docKey); err != nil {
		t.Errorf("Verify(HMAC-SHA256) = %v", err)
	}
	for name, mut := range map[string]func(Params){
		"tampered field": func(p Params) { p["body"] = "tesT" },
		"extra field":    func(p Params) { p["total_fee"] = "1" },
		"no sign":        func(p Params) { delete(p, "sign") },
		"md5 sign as hmac": func(p Params) {
			p["sign_type"] = SignTypeHMACSHA256
		},
	} {
		q := maps.Clone(md5)
		mut(q)
		if err := verify(q, docKey); !errors.Is(err, errSignature) {
			t.Errorf("%s: Verify = %v, want ErrSignature", name, err)
		}
	}
	if err := verify(md5, docKey[:31]); !errors.Is(err, errSignature) {
		t.Errorf("wrong key: Verify = %v", err)
	}
	lower := maps.Clone(md5)
	lower["sign"] = strings.ToLower(lower["sign"])
	if err := verify(lower, docKey); err != nil {
		t.Errorf("lower-case hex sign: %v", err)
	}
	// Empty values are not signed: adding one changes nothing.
	empty := maps.Clone(md5)
	empty["attach"] = ""
	if err := verify(empty, docKey); err != nil {
		t.Errorf("empty field changed the signature: %v", err)
	}
	bad := maps.Clone(md5)
	bad["sign_type"] = "SHA1"
	if err := verify(bad, docKey); !errors.Is(err, errFormat) {
		t.Errorf("unknown sign_type: %v", err)
	}
}

// TestReqInfoKnownAnswer decrypts a req_info produced by openssl (not by this code)
// from the refund document's decrypted example, and checks the key derivation.
func TestReqInfoKnownAnswer(t *testing.T) {
	if got := string(reqInfoKey(docKey)); got != "d96eb16afdd491fa1e705096edbc2205" {
		t.Fatalf("ReqInfoKey = %s", got)
	}
	plain := read(t, "testdata/refund_req_info_plain.xml")
	ct := strings.TrimSpace(string(read(t, "testdata/refund_req_info_openssl.b64")))
	got, err := decryptReqInfo(ct, docKey)
	if err != nil || string(got) != string(plain) {
		t.Fatalf("DecryptReqInfo = %q, %v", got, err)
	}
	back, err := encryptReqInfo(plain, docKey)
	if err != nil || back != ct {
		t.Fatalf("EncryptReqInfo differs from openssl:\n%s\n%s", back, ct)
	}
	if _, err := decryptReqInfo(ct, "another key"); !errors.Is(err, errDecrypt) {
		t.Errorf("wrong key: %v, want ErrDecrypt", err)
	}
	for _, junk := range []string{"", "not base64!", "AAAA", strings.Repeat("A", 20)} {
		if _, err := decryptReqInfo(junk, docKey); !errors.Is(err, errFormat) {
			t.Errorf("DecryptReqInfo(%q) = %v, want ErrFormat", junk, err)
		}
	}
}

// TestRefundDocumentExample converts the refund document's example end to end: the
// outer XML of the example with the openssl-made req_info.
func TestRefundDocumentExample(t *testing.T) {
	ct := strings.TrimSpace(string(read(t, "testdata/refund_req_info_openssl.b64")))
	body := "<xml><return_code>SUCCESS</return_code><appid><![CDATA[wx2421b1c4370ec43b]]></appid>" +
		"<mch_id><![CDATA[10000100]]></mch_id><nonce_str><![CDATA[TeqClE3i0mvn3DrK]]></nonce_str>" +
		"<req_info><![CDATA[" + ct + "]]></req_info></xml>"
	n, err := Parse([]byte(body), docKey)
	if err != nil {
		t.Fatal(err)
	}
	want := &wechatpay.RefundNotice{
		MchID: "10000100", OutTradeNo: "71106718111915575302817", TransactionID: "4200000215201811190261405420",
		OutRefundNo: "131811191610442717309", RefundID: "50000408942018111907145868882",
		RefundStatus: wechatpay.RefundStatusSuccess, SuccessTime: "2018-11-19T16:24:13+08:00",
		UserReceivedAccount: "支付用户零钱",
		Amount:              wechatpay.RefundAmount{Refund: 3960, Total: 3960, Currency: "CNY", SettlementRefund: 3960, SettlementTotal: 3960},
	}
	if n.Kind != KindRefund || !reflect.DeepEqual(n.Refund, want) {
		t.Fatalf("refund = %+v\nwant     %+v", n.Refund, want)
	}
	if n.ReqInfo["refund_request_source"] != "API" {
		t.Errorf("req_info fields: %v", n.ReqInfo)
	}
	if _, err := Parse([]byte(body), "0123456789abcdef0123456789abcdef"); wechatpay.NotifyStatus(err) != http.StatusUnauthorized {
		t.Errorf("wrong key: %v (status %d), want 401", err, wechatpay.NotifyStatus(err))
	}
}

// TestPaymentDocumentExample parses the payment document's example (its key is not
// published, so it is re-signed with the 签名算法 example key) and checks the v3 shape.
func TestPaymentDocumentExample(t *testing.T) {
	body := read(t, "testdata/payment_doc_example.xml")
	p, err := ParseXML(body, "xml")
	if err != nil {
		t.Fatal(err)
	}
	if p["sign"] != "B552ED6B279343CB493C5DD0D78AB241" || p["total_fee"] != "1" || p["attach"] != "支付测试" || len(p) != 20 {
		t.Fatalf("parsed %d fields: %v", len(p), p)
	}
	if _, err := Parse(body, docKey); wechatpay.NotifyStatus(err) != http.StatusUnauthorized {
		t.Fatalf("a sign made with another key must be refused 401; got %v", err)
	}
	for _, typ := range []string{SignTypeMD5, SignTypeHMACSHA256} {
		if err := SignParams(p, typ, docKey); err != nil {
			t.Fatal(err)
		}
		n, err := Parse(p.EncodeXML(), docKey)
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		want := &wechatpay.Transaction{
			AppID: "wx2421b1c4370ec43b", MchID: "10000100", OutTradeNo: "1409811653",
			TransactionID: "1004400740201409030005092168", TradeType: "JSAPI", TradeState: "SUCCESS",
			TradeStateDesc: "支付成功", BankType: "CFT", Attach: "支付测试", SuccessTime: "2014-09-03T13:15:40+08:00",
			Payer:  &wechatpay.Payer{OpenID: "oUpF8uMEb4qRXf22hE3X68TekukE"},
			Amount: &wechatpay.Amount{Total: 1, Currency: "CNY", PayerCurrency: "CNY"},
		}
		if n.SignType != typ || !reflect.DeepEqual(n.Transaction, want) {
			t.Fatalf("%s: transaction = %+v\nwant %+v", typ, n.Transaction, want)
		}
	}
}

func TestRoundTripPartnerAndStatuses(t *testing.T) {
	key := ForgeryKey()
	tx := &wechatpay.Transaction{
		SpAppID: "wxsp", SpMchID: "1900000100", SubAppID: "wxsub", SubMchID: "1900000109",
		OutTradeNo: "T2024-05_20|01*", TransactionID: "4200000000202405200000000001", TradeType: "NATIVE",
		TradeState: "SUCCESS", TradeStateDesc: "支付成功", BankType: "OTHERS", Attach: "a&b=c]]>d",
		SuccessTime: "2024-05-20T23:59:59+08:00",
		Payer:       &wechatpay.Payer{SpOpenID: "osp", SubOpenID: "osub"},
		Amount:      &wechatpay.Amount{Total: 1000, PayerTotal: 900, Currency: "CNY", PayerCurrency: "CNY"},
		PromotionDetail: []wechatpay.PromotionDetail{
			{CouponID: "c1", Type: "NOCASH", Amount: 100},
		},
		SceneInfo: &wechatpay.SceneInfo{DeviceID: "013467007045764"},
	}
	p, err := PaymentParams(tx)
	if err != nil {
		t.Fatal(err)
	}
	if err := SignParams(p, SignTypeHMACSHA256, key); err != nil {
		t.Fatal(err)
	}
	n, err := Parse(p.EncodeXML(), key)
	if err != nil || !reflect.DeepEqual(n.Transaction, tx) {
		t.Fatalf("round trip: %+v, %v\nwant %+v", n.Transaction, err, tx)
	}
	for v3, v2 := range map[string]string{"SUCCESS": "SUCCESS", "ABNORMAL": "CHANGE", "CLOSED": "REFUNDCLOSE"} {
		rn := &wechatpay.RefundNotice{
			SpMchID: "1900000100", SubMchID: "1900000109", OutTradeNo: "T1", TransactionID: "42", OutRefundNo: "R1",
			RefundID: "50", RefundStatus: v3, UserReceivedAccount: "招商银行信用卡0403",
			Amount: wechatpay.RefundAmount{Refund: 10, Total: 100, Currency: "CNY", SettlementRefund: 10, SettlementTotal: 100},
		}
		if v3 == "SUCCESS" {
			rn.SuccessTime = "2024-05-21T00:00:01+08:00"
		}
		outer, inner, err := RefundParams(rn, RefundOptions{AppID: "wxsp", RequestSource: "VENDOR_PLATFORM"})
		if err != nil || inner["refund_status"] != v2 {
			t.Fatalf("%s: %v %v", v3, inner, err)
		}
		body, err := SealRefund(outer, inner, key)
		if err != nil {
			t.Fatal(err)
		}
		n, err := Parse(body, key)
		if err != nil || !reflect.DeepEqual(n.Refund, rn) {
			t.Fatalf("%s round trip: %+v, %v\nwant %+v", v3, n.Refund, err, rn)
		}
	}
}

func TestParseRefusals(t *testing.T) {
	key := ForgeryKey()
	good := Params{"return_code": "SUCCESS", "result_code": "SUCCESS", "appid": "wx1", "mch_id": "1",
		"nonce_str": "n", "out_trade_no": "T1", "transaction_id": "42", "total_fee": "100", "cash_fee": "100",
		"time_end": "20240520120000", "trade_type": "JSAPI"}
	signed := func(mut func(Params)) []byte {
		p := maps.Clone(good)
		mut(p)
		if err := SignParams(p, "", key); err != nil {
			t.Fatal(err)
		}
		return p.EncodeXML()
	}
	ok := signed(func(Params) {})
	if _, err := Parse(ok, key); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		body   string
		status int
	}{
		{"doctype", `<!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]><xml><return_code>&x;</return_code></xml>`, 400},
		{"entity", `<xml><return_code>&x;</return_code></xml>`, 400},
		{"json", `{"id":"x"}`, 400},
		{"nested", `<xml><return_code><a>SUCCESS</a></return_code></xml>`, 400},
		{"duplicate", strings.Replace(string(ok), "<out_trade_no>", "<out_trade_no><![CDATA[T2]]></out_trade_no><out_trade_no>", 1), 400},
		{"attribute", `<xml><return_code x="1">SUCCESS</return_code></xml>`, 400},
		{"other root", `<root><return_code>SUCCESS</return_code></root>`, 400},
		{"two roots", string(ok) + string(ok), 400},
		{"text", `<xml>hi<return_code>SUCCESS</return_code></xml>`, 400},
		{"gbk", `<?xml version="1.0" encoding="GBK"?><xml><return_code>SUCCESS</return_code></xml>`, 400},
		{"return FAIL", `<xml><return_code>FAIL</return_code><return_msg>签名失败</return_msg></xml>`, 400},
		{"truncated", string(ok[:len(ok)-3]), 400},
		{"too big", "<xml><a>" + strings.Repeat("x", MaxBody) + "</a></xml>", 400},
		{"forged", strings.Replace(string(ok), "<total_fee><![CDATA[100]]>", "<total_fee><![CDATA[1]]>", 1), 401},
		{"unsigned", string(good.EncodeXML()), 401},
		{"bad amount", string(signed(func(p Params) { p["total_fee"] = "1.00" })), 400},
		{"bad time", string(signed(func(p Params) { p["time_end"] = "2024-05-20 12:00:00" })), 400},
		{"no out_trade_no", string(signed(func(p Params) { delete(p, "out_trade_no") })), 400},
		{"refund junk", `<xml><return_code>SUCCESS</return_code><mch_id>1</mch_id><req_info>AAAAAAAAAAAAAAAAAAAAAA==</req_info></xml>`, 401},
	}
	for _, c := range cases {
		_, err := Parse([]byte(c.body), key)
		if got := wechatpay.NotifyStatus(err); got != c.status {
			t.Errorf("%s: status %d (%v), want %d", c.name, got, err, c.status)
		}
	}
	if _, err := Parse(ok, ""); !errors.Is(err, ErrNoKey) || wechatpay.NotifyStatus(err) != 500 {
		t.Errorf("no key: %v", err)
	}
	// A signed failed payment is acknowledged with nothing to apply.
	n, err := Parse(signed(func(p Params) { p["result_code"] = "FAIL" }), key)
	if err != nil || n.Transaction != nil {
		t.Errorf("result_code FAIL: %+v, %v", n, err)
	}
	// The forged-signature message names the key to check, never the key itself.
	_, err = Parse([]byte(cases[13].body), key)
	if !strings.Contains(err.Error(), "WXPAY_APIV2_KEY") || strings.Contains(err.Error(), key) {
		t.Errorf("message: %v", err)
	}
}

func TestAnswers(t *testing.T) {
	if !Acknowledged(200, []byte(AckXML)) || Acknowledged(500, []byte(AckXML)) {
		t.Error("AckXML")
	}
	f := FailXML("bad ]]> sign")
	p, err := ParseXML(f, "xml")
	if err != nil || p["return_code"] != "FAIL" || p["return_msg"] != "bad ]]> sign" || Acknowledged(200, f) {
		t.Errorf("FailXML = %s (%v, %v)", f, p, err)
	}
}

func read(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
