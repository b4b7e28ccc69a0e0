package wechatpay

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

const txResource = `{"mchid":"1900000001","appid":"wxd678efh567hg6787","out_trade_no":"1217752501201407033233368018","transaction_id":"4200000985202103031441826014","trade_type":"JSAPI","trade_state":"SUCCESS","trade_state_desc":"支付成功","bank_type":"CMC","success_time":"2018-06-08T10:34:56+08:00","payer":{"openid":"oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},"amount":{"total":100,"payer_total":100,"currency":"CNY","payer_currency":"CNY"}}`

const refundResource = `{"mchid":"1900000001","out_trade_no":"1217752501201407033233368018","transaction_id":"4200000985202103031441826014","out_refund_no":"R1217752501201407033233368018","refund_id":"50000000382019052709732678859","refund_status":"SUCCESS","success_time":"2018-06-08T10:34:56+08:00","user_received_account":"招商银行信用卡0403","amount":{"total":100,"refund":100,"payer_total":100,"payer_refund":100}}`

type notifyFixture struct {
	notifier *Notifier
	signer   *PlatformSigner
	aead     *AEAD
}

func newNotifyFixture(t testing.TB) *notifyFixture {
	pk := platformKey(t)
	clock := func() time.Time { return verifyNow }
	return &notifyFixture{
		notifier: &Notifier{Verifier: &Verifier{Keys: StaticKeys{fixturePlatformSer: &pk.PublicKey}, Now: clock}, AEAD: testAEAD(t)},
		signer:   &PlatformSigner{Serial: fixturePlatformSer, Key: pk, Now: clock},
		aead:     testAEAD(t),
	}
}

func (f *notifyFixture) build(t testing.TB, event, originalType, ad string, resource string) ([]byte, SignatureHeaders) {
	t.Helper()
	body, err := BuildNotification(f.aead, NotificationInput{ID: "EV-2018022511223320873", CreateTime: verifyNow,
		EventType: event, Summary: "支付成功", OriginalType: originalType, AssociatedData: ad, Resource: []byte(resource)})
	if err != nil {
		t.Fatal(err)
	}
	h, err := f.signer.Sign(body)
	if err != nil {
		t.Fatal(err)
	}
	return body, h
}

func TestParseNotificationTransaction(t *testing.T) {
	f := newNotifyFixture(t)
	body, h := f.build(t, EventTransactionSuccess, "transaction", "transaction", txResource)
	n, pt, err := f.notifier.Parse(context.Background(), h, body)
	if err != nil {
		t.Fatal(err)
	}
	if n.EventType != EventTransactionSuccess || n.ResourceType != resourceTypeEncrypted || n.CreateTime != "2023-11-15T06:13:20+08:00" || string(pt) != txResource {
		t.Fatalf("%+v %s", n, pt)
	}
	tx, err := DecodeTransaction(n, pt)
	if err != nil || tx.TradeState != TradeStateSuccess || tx.Amount.Total != 100 || tx.Payer.OpenID == "" {
		t.Fatalf("%v %+v", err, tx)
	}
	if _, err := DecodeRefundNotice(n, pt); !errors.Is(err, ErrNotifyMalformed) {
		t.Fatalf("refund decode of a transaction: %v", err)
	}
}

func TestParseNotificationRefundEmptyAD(t *testing.T) {
	f := newNotifyFixture(t)
	body, h := f.build(t, EventRefundSuccess, "refund", "", refundResource)
	n, pt, err := ParseNotification(context.Background(), f.notifier.Verifier, f.notifier.AEAD, h, body)
	if err != nil {
		t.Fatal(err)
	}
	r, err := DecodeRefundNotice(n, pt)
	if err != nil || r.RefundStatus != RefundStatusSuccess || r.Amount.Refund != 100 {
		t.Fatalf("%v %+v", err, r)
	}
	if _, err := DecodeTransaction(n, pt); !errors.Is(err, ErrNotifyMalformed) {
		t.Fatal("transaction decode of a refund accepted")
	}
}

func TestParseNotificationFailures(t *testing.T) {
	f := newNotifyFixture(t)
	ctx := context.Background()
	resign := func(body []byte) SignatureHeaders { h, _ := f.signer.Sign(body); return h }
	cases := []struct {
		name       string
		make       func() ([]byte, SignatureHeaders)
		class      error
		status     int
		wantInText string
	}{
		{"unsigned", func() ([]byte, SignatureHeaders) {
			b, _ := f.build(t, EventTransactionSuccess, "transaction", "transaction", txResource)
			return b, SignatureHeaders{}
		}, ErrNotifySignature, 401, "not signed"},
		{"SIGNTEST probe", func() ([]byte, SignatureHeaders) {
			b, h := f.build(t, EventTransactionSuccess, "transaction", "transaction", txResource)
			h.Signature = SignTestPrefix + "xxx"
			return b, h
		}, ErrNotifySignature, 401, "SIGNTEST"},
		{"tampered body", func() ([]byte, SignatureHeaders) {
			b, h := f.build(t, EventTransactionSuccess, "transaction", "transaction", txResource)
			return bytes.Replace(b, []byte("TRANSACTION.SUCCESS"), []byte("REFUND.SUCCESS"), 1), h
		}, ErrNotifySignature, 401, "does not verify"},
		{"signed garbage", func() ([]byte, SignatureHeaders) {
			b := []byte("<xml>not json</xml>")
			return b, resign(b)
		}, ErrNotifyMalformed, 400, "not JSON"},
		{"wrong resource_type", func() ([]byte, SignatureHeaders) {
			b, _ := f.build(t, EventTransactionSuccess, "transaction", "transaction", txResource)
			b = bytes.Replace(b, []byte(resourceTypeEncrypted), []byte("plain"), 1)
			return b, resign(b)
		}, ErrNotifyMalformed, 400, "resource_type"},
		{"wrong algorithm", func() ([]byte, SignatureHeaders) {
			b, _ := f.build(t, EventTransactionSuccess, "transaction", "transaction", txResource)
			b = bytes.Replace(b, []byte(AlgorithmAEAD), []byte("AEAD_SM4_GCM"), 1)
			return b, resign(b)
		}, ErrNotifyMalformed, 400, "algorithm"},
		{"wrong APIv3 key", func() ([]byte, SignatureHeaders) {
			k, _ := NewAPIv3Key(strings.Repeat("k", 32))
			other, _ := NewAEAD(k)
			b, err := BuildNotification(other, NotificationInput{ID: "EV-1", CreateTime: verifyNow, EventType: EventTransactionSuccess, Resource: []byte(txResource)})
			if err != nil {
				t.Fatal(err)
			}
			return b, resign(b)
		}, ErrNotifyDecrypt, 500, "APIv3 key"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, h := c.make()
			n, pt, err := f.notifier.Parse(ctx, h, b)
			if err == nil || n != nil || pt != nil {
				t.Fatalf("accepted: %v", err)
			}
			if !errors.Is(err, c.class) {
				t.Fatalf("err = %v, want class %v", err, c.class)
			}
			if got := NotifyStatus(err); got != c.status {
				t.Fatalf("status %d, want %d", got, c.status)
			}
			if !strings.Contains(err.Error(), c.wantInText) {
				t.Fatalf("error %q lacks %q", err, c.wantInText)
			}
		})
	}
	if NotifyStatus(nil) != 200 || NotifyStatus(errors.New("store down")) != 500 {
		t.Fatal("NotifyStatus defaults")
	}
	if _, _, err := ParseNotification(ctx, nil, nil, SignatureHeaders{}, nil); !errors.Is(err, ErrConfig) {
		t.Fatal("nil verifier")
	}
}
