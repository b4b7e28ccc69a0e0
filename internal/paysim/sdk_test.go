package paysim

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/core"
	"github.com/wechatpay-apiv3/wechatpay-go/core/auth"
	"github.com/wechatpay-apiv3/wechatpay-go/core/auth/verifiers"
	"github.com/wechatpay-apiv3/wechatpay-go/core/cipher/decryptors"
	"github.com/wechatpay-apiv3/wechatpay-go/core/cipher/encryptors"
	"github.com/wechatpay-apiv3/wechatpay-go/core/notify"
	"github.com/wechatpay-apiv3/wechatpay-go/core/option"
	"github.com/wechatpay-apiv3/wechatpay-go/services/payments"
	"github.com/wechatpay-apiv3/wechatpay-go/services/payments/app"
	"github.com/wechatpay-apiv3/wechatpay-go/services/payments/h5"
	"github.com/wechatpay-apiv3/wechatpay-go/services/payments/jsapi"
	"github.com/wechatpay-apiv3/wechatpay-go/services/payments/native"
	"github.com/wechatpay-apiv3/wechatpay-go/services/refunddomestic"
	"github.com/wechatpay-apiv3/wechatpay-go/utils"

	"github.com/paysls/wxpay/shared/keysdir"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// rewriteHost sends the SDK's requests for https://api.mch.weixin.qq.com to the
// simulator. The signed request target (path and query) is untouched.
type rewriteHost struct{ target *url.URL }

func (rt rewriteHost) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.URL.Scheme, r.URL.Host = rt.target.Scheme, rt.target.Host
	r.Host = rt.target.Host
	return http.DefaultTransport.RoundTrip(r)
}

// sdkMerchant is the official SDK configured only from a keys dir's files.
type sdkMerchant struct {
	mchid, appid, serial, apiv3 string
	client                      *core.Client
	notifyHandler               *notify.Handler
	platformCert                *x509.Certificate
}

func readText(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func newSDKMerchant(t *testing.T, dir, mode, simURL string) *sdkMerchant {
	t.Helper()
	m := &sdkMerchant{
		mchid: readText(t, dir, keysdir.FileMchID), appid: readText(t, dir, keysdir.FileAppID),
		serial: readText(t, dir, keysdir.FileMerchantSerial), apiv3: readText(t, dir, keysdir.FileAPIv3Key),
	}
	key, err := utils.LoadPrivateKeyWithPath(filepath.Join(dir, keysdir.FileMerchantKey))
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(simURL)
	httpClient := &http.Client{Transport: rewriteHost{u}, Timeout: 10 * time.Second}
	var opts []core.ClientOption
	var verifier auth.Verifier
	switch mode {
	case ModeCert:
		cert, err := utils.LoadCertificateWithPath(filepath.Join(dir, keysdir.FilePlatformCert))
		if err != nil {
			t.Fatal(err)
		}
		m.platformCert = cert
		opts = []core.ClientOption{
			option.WithMerchantCredential(m.mchid, m.serial, key),
			option.WithWechatPayCertificate([]*x509.Certificate{cert}),
			// The SDK encrypts sensitive fields (a receiver's name) only with a cipher:
			// in certificate mode it is configured apart from the verifier.
			option.WithWechatPayCipher(encryptors.NewWechatPayEncryptor(core.NewCertificateMapWithList([]*x509.Certificate{cert})), decryptors.NewWechatPayDecryptor(key)),
		}
		verifier = verifiers.NewSHA256WithRSAVerifier(core.NewCertificateMapWithList([]*x509.Certificate{cert}))
	case ModePubKey:
		pub, err := utils.LoadPublicKeyWithPath(filepath.Join(dir, keysdir.FilePlatformPublicKey))
		if err != nil {
			t.Fatal(err)
		}
		pubID := readText(t, dir, keysdir.FilePlatformPublicKeyID)
		opts = []core.ClientOption{option.WithWechatPayPublicKeyAuthCipher(m.mchid, m.serial, key, pubID, pub)}
		verifier = verifiers.NewSHA256WithRSAPubkeyVerifier(pubID, *pub)
	}
	opts = append(opts, option.WithHTTPClient(httpClient))
	m.client, err = core.NewClient(context.Background(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	m.notifyHandler, err = notify.NewRSANotifyHandler(m.apiv3, verifier)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// sdkNotice is one notification parsed by the SDK's notify.Handler.
type sdkNotice struct {
	req *notify.Request
	err error
}

// sdkReceiver is a notify endpoint built on the SDK's notify.Handler.
func sdkReceiver(t *testing.T, m *sdkMerchant) (string, chan sdkNotice) {
	ch := make(chan sdkNotice, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var content map[string]any
		req, err := m.notifyHandler.ParseNotifyRequest(r.Context(), r, &content)
		if err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"code":"FAIL","message":"bad notification"}`))
		} else {
			w.WriteHeader(http.StatusNoContent)
		}
		ch <- sdkNotice{req, err}
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/wxpay/notify", ch
}

func nextNotice(t *testing.T, ch chan sdkNotice) *notify.Request {
	t.Helper()
	select {
	case n := <-ch:
		if n.err != nil {
			t.Fatalf("SDK rejected the notification: %v", n.err)
		}
		return n.req
	case <-time.After(5 * time.Second):
		t.Fatal("no notification within 5s")
	}
	return nil
}

func apiErrorCode(t *testing.T, err error) string {
	t.Helper()
	var ae *core.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("want *core.APIError, got %v", err)
	}
	return ae.Code
}

// TestOfficialSDKAcceptance drives the simulator with the official Go SDK, configured
// only from the files of a keys dir, in both platform-certificate and public-key mode,
// with the SDK's response validation on: prepay in all four scenes, query, pay,
// notification parsing with the SDK's notify.Handler, refund and refund notification,
// close (too early, then after 5 minutes), and /v3/certificates decryption.
func TestOfficialSDKAcceptance(t *testing.T) {
	for _, mode := range []string{ModeCert, ModePubKey} {
		t.Run(mode, func(t *testing.T) {
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
			e := newEnv(t, Config{Identity: id, Mode: mode})
			m := newSDKMerchant(t, dir, mode, e.srv.URL)
			notifyURL, notices := sdkReceiver(t, m)
			ctx := context.Background()
			stamp := time.Now().Format("150405.000")
			no := func(kind string) string { return "SDK" + kind + strings.ReplaceAll(stamp, ".", "") }

			// JSAPI, with the SDK's own pay-bundle signing on top.
			js := jsapi.JsapiApiService{Client: m.client}
			jr, _, err := js.PrepayWithRequestPayment(ctx, jsapi.PrepayRequest{
				Appid: core.String(m.appid), Mchid: core.String(m.mchid), Description: core.String("SDK JSAPI"),
				OutTradeNo: core.String(no("J")), NotifyUrl: core.String(notifyURL),
				Amount: &jsapi.Amount{Total: core.Int64(1999)}, Payer: &jsapi.Payer{Openid: core.String("oUpF8uMuAJO_M2pxb1Q9zNjWeS6o")},
			})
			if err != nil {
				t.Fatalf("jsapi prepay: %v", err)
			}
			if !strings.HasPrefix(*jr.PrepayId, "wx") || *jr.Package != "prepay_id="+*jr.PrepayId {
				t.Fatalf("jsapi prepay response %+v", jr)
			}
			// The same request again is answered with the same prepay_id.
			jr2, _, err := js.Prepay(ctx, jsapi.PrepayRequest{
				Appid: core.String(m.appid), Mchid: core.String(m.mchid), Description: core.String("SDK JSAPI"),
				OutTradeNo: core.String(no("J")), NotifyUrl: core.String(notifyURL),
				Amount: &jsapi.Amount{Total: core.Int64(1999)}, Payer: &jsapi.Payer{Openid: core.String("oUpF8uMuAJO_M2pxb1Q9zNjWeS6o")},
			})
			if err != nil || *jr2.PrepayId != *jr.PrepayId {
				t.Fatalf("repeated jsapi prepay: %v %v", err, jr2)
			}

			nr, _, err := (&native.NativeApiService{Client: m.client}).Prepay(ctx, native.PrepayRequest{
				Appid: core.String(m.appid), Mchid: core.String(m.mchid), Description: core.String("SDK Native"),
				OutTradeNo: core.String(no("N")), NotifyUrl: core.String(notifyURL), Amount: &native.Amount{Total: core.Int64(100)},
			})
			if err != nil || !strings.HasPrefix(*nr.CodeUrl, "weixin://wxpay/bizpayurl?pr=") {
				t.Fatalf("native prepay: %v %v", err, nr)
			}
			hr, _, err := (&h5.H5ApiService{Client: m.client}).Prepay(ctx, h5.PrepayRequest{
				Appid: core.String(m.appid), Mchid: core.String(m.mchid), Description: core.String("SDK H5"),
				OutTradeNo: core.String(no("H")), NotifyUrl: core.String(notifyURL), Amount: &h5.Amount{Total: core.Int64(100)},
				SceneInfo: &h5.SceneInfo{PayerClientIp: core.String("203.0.113.7"), H5Info: &h5.H5Info{Type: core.String("Wap")}},
			})
			if err != nil || !strings.Contains(*hr.H5Url, "/sim/h5/wx") || !strings.Contains(*hr.H5Url, "?package=") {
				t.Fatalf("h5 prepay: %v %v", err, hr)
			}
			ar, _, err := (&app.AppApiService{Client: m.client}).Prepay(ctx, app.PrepayRequest{
				Appid: core.String(m.appid), Mchid: core.String(m.mchid), Description: core.String("SDK APP"),
				OutTradeNo: core.String(no("A")), NotifyUrl: core.String(notifyURL), Amount: &app.Amount{Total: core.Int64(100)},
			})
			if err != nil || !strings.HasPrefix(*ar.PrepayId, "wx") {
				t.Fatalf("app prepay: %v %v", err, ar)
			}

			// Query before paying.
			tx, _, err := js.QueryOrderByOutTradeNo(ctx, jsapi.QueryOrderByOutTradeNoRequest{OutTradeNo: core.String(no("J")), Mchid: core.String(m.mchid)})
			if err != nil || *tx.TradeState != "NOTPAY" {
				t.Fatalf("query unpaid: %v %+v", err, tx)
			}

			// Pay; the SDK's notify.Handler verifies and decrypts the notification.
			if st := e.simCall("POST", "/sim/orders/"+no("J")+"/pay", map[string]string{"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}, nil); st != 200 {
				t.Fatalf("sim pay: %d", st)
			}
			n := nextNotice(t, notices)
			if n.EventType != "TRANSACTION.SUCCESS" || n.ResourceType != "encrypt-resource" || n.Summary != "支付成功" || n.Resource.OriginalType != "transaction" {
				t.Fatalf("envelope %+v", n)
			}
			var paid payments.Transaction
			if err := json.Unmarshal([]byte(n.Resource.Plaintext), &paid); err != nil {
				t.Fatal(err)
			}
			if *paid.TradeState != "SUCCESS" || *paid.OutTradeNo != no("J") || *paid.Amount.Total != 1999 || *paid.Payer.Openid != "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o" || *paid.TradeType != "JSAPI" {
				t.Fatalf("notified transaction %s", n.Resource.Plaintext)
			}
			byID, _, err := js.QueryOrderById(ctx, jsapi.QueryOrderByIdRequest{TransactionId: paid.TransactionId, Mchid: core.String(m.mchid)})
			if err != nil || *byID.TradeState != "SUCCESS" || *byID.SuccessTime == "" {
				t.Fatalf("query by id: %v %+v", err, byID)
			}

			// Refund, then settle it: REFUND.SUCCESS through the SDK handler.
			rs := refunddomestic.RefundsApiService{Client: m.client}
			rf, _, err := rs.Create(ctx, refunddomestic.CreateRequest{
				OutTradeNo: core.String(no("J")), OutRefundNo: core.String("R" + no("J")), NotifyUrl: core.String(notifyURL),
				Amount: &refunddomestic.AmountReq{Refund: core.Int64(999), Total: core.Int64(1999), Currency: core.String("CNY")},
			})
			if err != nil || *rf.Status != refunddomestic.STATUS_PROCESSING || *rf.Amount.Refund != 999 {
				t.Fatalf("refund: %v %+v", err, rf)
			}
			if st := e.simCall("POST", "/sim/refunds/R"+no("J")+"/settle", nil, nil); st != 200 {
				t.Fatalf("sim settle: %d", st)
			}
			n = nextNotice(t, notices)
			var notice struct {
				RefundStatus string `json:"refund_status"`
				OutRefundNo  string `json:"out_refund_no"`
				Amount       struct{ Refund, Total int64 }
			}
			if err := json.Unmarshal([]byte(n.Resource.Plaintext), &notice); err != nil {
				t.Fatal(err)
			}
			if n.EventType != "REFUND.SUCCESS" || n.Resource.OriginalType != "refund" || notice.RefundStatus != "SUCCESS" || notice.OutRefundNo != "R"+no("J") || notice.Amount.Refund != 999 {
				t.Fatalf("refund notification %+v %s", n, n.Resource.Plaintext)
			}
			rq, _, err := rs.QueryByOutRefundNo(ctx, refunddomestic.QueryByOutRefundNoRequest{OutRefundNo: core.String("R" + no("J"))})
			if err != nil || *rq.Status != refunddomestic.STATUS_SUCCESS {
				t.Fatalf("refund query: %v %+v", err, rq)
			}
			tx, _, err = js.QueryOrderByOutTradeNo(ctx, jsapi.QueryOrderByOutTradeNoRequest{OutTradeNo: core.String(no("J")), Mchid: core.String(m.mchid)})
			if err != nil || *tx.TradeState != "REFUND" {
				t.Fatalf("query refunded: %v %+v", err, tx)
			}

			// Close: refused within 5 minutes, accepted after.
			ns := native.NativeApiService{Client: m.client}
			_, err = ns.CloseOrder(ctx, native.CloseOrderRequest{OutTradeNo: core.String(no("N")), Mchid: core.String(m.mchid)})
			if code := apiErrorCode(t, err); code != "RULELIMIT" {
				t.Fatalf("early close: %v", err)
			}
			e.clock.Advance(6 * time.Minute)
			if _, err := ns.CloseOrder(ctx, native.CloseOrderRequest{OutTradeNo: core.String(no("N")), Mchid: core.String(m.mchid)}); err != nil {
				t.Fatalf("close: %v", err)
			}
			ntx, _, err := ns.QueryOrderByOutTradeNo(ctx, native.QueryOrderByOutTradeNoRequest{OutTradeNo: core.String(no("N")), Mchid: core.String(m.mchid)})
			if err != nil || *ntx.TradeState != "CLOSED" {
				t.Fatalf("query closed: %v %+v", err, ntx)
			}
			// A prepay on a paid order: ORDERPAID, on a closed one: ORDER_CLOSED.
			_, _, err = ns.Prepay(ctx, native.PrepayRequest{
				Appid: core.String(m.appid), Mchid: core.String(m.mchid), Description: core.String("SDK Native"),
				OutTradeNo: core.String(no("N")), NotifyUrl: core.String(notifyURL), Amount: &native.Amount{Total: core.Int64(100)},
			})
			if code := apiErrorCode(t, err); code != "ORDER_CLOSED" {
				t.Fatalf("prepay closed: %v", err)
			}

			// /v3/certificates decrypts with the APIv3 key to the platform certificate.
			res, err := m.client.Get(ctx, "https://api.mch.weixin.qq.com/v3/certificates")
			if err != nil {
				t.Fatalf("certificates: %v", err)
			}
			var certs wechatpay.PlatformCertificates
			if err := json.NewDecoder(res.Response.Body).Decode(&certs); err != nil || len(certs.Data) != 1 {
				t.Fatalf("certificates body: %v %+v", err, certs)
			}
			c := certs.Data[0]
			pemText, err := utils.DecryptAES256GCM(m.apiv3, c.EncryptCertificate.AssociatedData, c.EncryptCertificate.Nonce, c.EncryptCertificate.Ciphertext)
			if err != nil {
				t.Fatal(err)
			}
			cert, err := utils.LoadCertificate(pemText)
			if err != nil {
				t.Fatal(err)
			}
			if utils.GetCertificateSerialNumber(*cert) != c.SerialNo {
				t.Fatalf("serial_no %s does not match the certificate", c.SerialNo)
			}
			if !cert.PublicKey.(*rsa.PublicKey).Equal(&id.PlatformKey.PublicKey) {
				t.Fatal("listed certificate is not the platform key's")
			}
		})
	}
}

// TestOfficialSDKRejectsRotatedKey: after a rotation the simulator signs with a key
// the SDK was not configured with, and the SDK's response validation notices; with
// the new certificate from /v3/certificates added, it verifies again.
func TestOfficialSDKRejectsRotatedKey(t *testing.T) {
	dir := t.TempDir()
	if err := testIdentity(t).Save(dir); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, Config{Mode: ModeCert})
	m := newSDKMerchant(t, dir, ModeCert, e.srv.URL)
	ctx := context.Background()
	q := func(c *core.Client) error {
		_, err := c.Get(ctx, "https://api.mch.weixin.qq.com/v3/certificates")
		return err
	}
	if err := q(m.client); err != nil {
		t.Fatalf("before rotation: %v", err)
	}
	if st := e.simCall("POST", "/sim/faults", map[string]any{"rotate_certificate": true}, nil); st != 200 {
		t.Fatal(st)
	}
	err := q(m.client)
	if err == nil || !strings.Contains(err.Error(), "validate") {
		t.Fatalf("after rotation the SDK should fail validation, got %v", err)
	}
	keys := e.sim.PlatformKeys()
	if len(keys) != 2 || !keys[1].Current {
		t.Fatalf("keys %+v", keys)
	}
	key, _ := utils.LoadPrivateKeyWithPath(filepath.Join(dir, keysdir.FileMerchantKey))
	u, _ := url.Parse(e.srv.URL)
	c2, err := core.NewClient(ctx, option.WithMerchantCredential(m.mchid, m.serial, key),
		option.WithWechatPayCertificate([]*x509.Certificate{m.platformCert, keys[1].Certificate}),
		option.WithHTTPClient(&http.Client{Transport: rewriteHost{u}}))
	if err != nil {
		t.Fatal(err)
	}
	if err := q(c2); err != nil {
		t.Fatalf("with the new certificate: %v", err)
	}
}
