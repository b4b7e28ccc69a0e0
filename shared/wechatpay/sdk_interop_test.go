package wechatpay

// Interoperability with WeChat Pay's official Go SDK (github.com/wechatpay-apiv3/
// wechatpay-go v0.2.20), used here only as a test oracle.

import (
	"bytes"
	"context"
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/wechatpay-apiv3/wechatpay-go/core"
	"github.com/wechatpay-apiv3/wechatpay-go/core/auth/credentials"
	"github.com/wechatpay-apiv3/wechatpay-go/core/auth/signers"
	"github.com/wechatpay-apiv3/wechatpay-go/core/auth/validators"
	"github.com/wechatpay-apiv3/wechatpay-go/core/auth/verifiers"
	"github.com/wechatpay-apiv3/wechatpay-go/core/notify"
	"github.com/wechatpay-apiv3/wechatpay-go/utils"
)

func platformCert(t testing.TB) *x509.Certificate {
	c, err := ParseCertificate(readFixture(t, "platform_cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSDKValidatorAcceptsOurSignedResponses(t *testing.T) {
	pk := platformKey(t)
	body := []byte(`{"prepay_id":"wx26112221580621e9b071c00d9e093b0000"}`)
	ctx := context.Background()
	for name, tc := range map[string]struct {
		serial string
		v      *validators.WechatPayResponseValidator
	}{
		"certificate": {fixturePlatformSer, validators.NewWechatPayResponseValidator(
			verifiers.NewSHA256WithRSAVerifier(core.NewCertificateMapWithList([]*x509.Certificate{platformCert(t)})))},
		"public key": {fixturePublicKeyID, validators.NewWechatPayResponseValidator(
			verifiers.NewSHA256WithRSAPubkeyVerifier(fixturePublicKeyID, pk.PublicKey))},
	} {
		t.Run(name, func(t *testing.T) {
			h, err := (&PlatformSigner{Serial: tc.serial, Key: pk}).Sign(body)
			if err != nil {
				t.Fatal(err)
			}
			resp := &http.Response{Header: http.Header{}, Body: io.NopCloser(bytes.NewReader(body))}
			h.Apply(resp.Header)
			if err := tc.v.Validate(ctx, resp); err != nil {
				t.Fatalf("SDK rejects our signature: %v", err)
			}
			// And it is the oracle, not a rubber stamp: a tampered body fails.
			resp = &http.Response{Header: resp.Header, Body: io.NopCloser(bytes.NewReader(append(bytes.Clone(body), ' ')))}
			if err := tc.v.Validate(ctx, resp); err == nil {
				t.Fatal("SDK accepted a tampered body")
			}
		})
	}
}

func TestSDKAuthorizationPassesOurVerification(t *testing.T) {
	mk := merchantKey(t)
	cred := credentials.WechatPayCredentials{Signer: &signers.SHA256WithRSASigner{
		MchID: fixtureMchID, CertificateSerialNo: fixtureMerchantSer, PrivateKey: mk}}
	for _, tc := range []struct{ method, target, body string }{
		{"GET", "/v3/certificates", ""},
		{"GET", "/v3/pay/transactions/id/4200000985202103031441826014?mchid=1900000001", ""},
		{"POST", "/v3/pay/transactions/jsapi", katBody},
	} {
		h, err := cred.GenerateAuthorizationHeader(context.Background(), tc.method, tc.target, tc.body)
		if err != nil {
			t.Fatal(err)
		}
		a, err := ParseAuthorization(h)
		if err != nil {
			t.Fatalf("%s: %v", h, err)
		}
		if a.MchID != fixtureMchID || a.Serial != fixtureMerchantSer {
			t.Fatalf("%+v", a)
		}
		if err := VerifyMessage(&mk.PublicKey, RequestMessage(tc.method, tc.target, a.Timestamp, a.Nonce, []byte(tc.body)), a.Signature); err != nil {
			t.Fatalf("%s %s: %v", tc.method, tc.target, err)
		}
	}
}

func TestSDKCryptoInterop(t *testing.T) {
	a := testAEAD(t)
	ct, err := a.Seal("0123456789ab", "transaction", []byte(txResource))
	if err != nil {
		t.Fatal(err)
	}
	pt, err := utils.DecryptAES256GCM(fixtureAPIv3KeyText, "transaction", "0123456789ab", ct)
	if err != nil || pt != txResource {
		t.Fatalf("SDK cannot open our AEAD: %v", err)
	}

	mk := merchantKey(t)
	sdkCT, err := utils.EncryptOAEPWithPublicKey("13800138000", &mk.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := DecryptOAEP(mk, sdkCT); err != nil || string(got) != "13800138000" {
		t.Fatalf("we cannot decrypt the SDK's OAEP: %v", err)
	}
	ourCT, err := EncryptOAEP(&mk.PublicKey, []byte("张三"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := utils.DecryptOAEP(ourCT, mk); err != nil || got != "张三" {
		t.Fatalf("SDK cannot decrypt our OAEP: %v", err)
	}
	// The SDK's signature of a message is ours (PKCS#1 v1.5 is deterministic).
	sdkSig, err := utils.SignSHA256WithRSA("GET\n/v3/certificates\n1554208460\n"+katNonce+"\n\n", mk)
	if err != nil || sdkSig != katSigGET {
		t.Fatalf("SDK signature differs from the known answer: %v", err)
	}
}

func TestSDKNotifyHandlerAcceptsOurNotification(t *testing.T) {
	pk := platformKey(t)
	for name, serial := range map[string]string{"certificate": fixturePlatformSer, "public key": fixturePublicKeyID} {
		t.Run(name, func(t *testing.T) {
			body, err := BuildNotification(testAEAD(t), NotificationInput{ID: "EV-2018022511223320873", CreateTime: verifyNow,
				EventType: EventTransactionSuccess, Summary: "支付成功", OriginalType: "transaction", AssociatedData: "transaction",
				Resource: []byte(txResource)})
			if err != nil {
				t.Fatal(err)
			}
			h, err := (&PlatformSigner{Serial: serial, Key: pk}).Sign(body) // real clock: the SDK checks it
			if err != nil {
				t.Fatal(err)
			}
			verifier := map[string]interface {
				Verify(ctx context.Context, serialNumber, message, signature string) error
				GetSerial(ctx context.Context) (string, error)
			}{
				fixturePlatformSer: verifiers.NewSHA256WithRSAVerifier(core.NewCertificateMapWithList([]*x509.Certificate{platformCert(t)})),
				fixturePublicKeyID: verifiers.NewSHA256WithRSAPubkeyVerifier(fixturePublicKeyID, pk.PublicKey),
			}[serial]
			handler, err := notify.NewRSANotifyHandler(fixtureAPIv3KeyText, verifier)
			if err != nil {
				t.Fatal(err)
			}
			req := httptest.NewRequest("POST", "/notify", bytes.NewReader(body))
			h.Apply(req.Header)
			var tx map[string]any
			nr, err := handler.ParseNotifyRequest(context.Background(), req, &tx)
			if err != nil {
				t.Fatalf("SDK rejects our notification: %v", err)
			}
			if nr.EventType != EventTransactionSuccess || tx["out_trade_no"] != "1217752501201407033233368018" || nr.Resource.Plaintext != txResource {
				t.Fatalf("%+v %v", nr, tx)
			}
		})
	}
}
