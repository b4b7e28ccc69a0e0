package notify_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/paysls/wxpay/functions/notify"
	"github.com/paysls/wxpay/shared/keysdir"
	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/payment/paymenttest"
	"github.com/paysls/wxpay/shared/store"
	"github.com/paysls/wxpay/shared/store/boltstore"
	"github.com/paysls/wxpay/shared/wechatpay"
)

type fixture struct {
	id      *keysdir.Identity
	st      store.Store
	h       *notify.Handler
	signer  *wechatpay.PlatformSigner
	aead    *wechatpay.AEAD
	handler http.Handler
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	id, err := keysdir.Generate()
	if err != nil {
		t.Fatal(err)
	}
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "notify.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	guarded := paymenttest.Check(t, st) // every money write from the ledger
	aead, err := wechatpay.NewAEAD(id.APIv3Key)
	if err != nil {
		t.Fatal(err)
	}
	h := &notify.Handler{Notifier: &wechatpay.Notifier{Verifier: &wechatpay.Verifier{Keys: id.PlatformKeys()}, AEAD: aead}, Ledger: &payment.Ledger{Store: guarded}}
	return &fixture{id: id, st: guarded, h: h, aead: aead, handler: h,
		signer: &wechatpay.PlatformSigner{Serial: id.PlatformSerial(), Key: id.PlatformKey}}
}

func (f *fixture) transaction(no, txid string, total int64) wechatpay.Transaction {
	return wechatpay.Transaction{AppID: f.id.AppID, MchID: f.id.MchID, OutTradeNo: no, TransactionID: txid,
		TradeType: wechatpay.TradeTypeJSAPI, TradeState: wechatpay.TradeStateSuccess, TradeStateDesc: "支付成功",
		SuccessTime: wechatpay.FormatTime(time.Now()), Payer: &wechatpay.Payer{OpenID: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},
		Amount: &wechatpay.Amount{Total: total, PayerTotal: total, Currency: "CNY", PayerCurrency: "CNY"}}
}

func (f *fixture) body(t *testing.T, event string, resource any) []byte {
	t.Helper()
	_, b, err := wechatpay.SealNotification(f.aead, event, resource, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (f *fixture) post(t *testing.T, body []byte, h wechatpay.SignatureHeaders) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/notify", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	h.Apply(r.Header)
	w := httptest.NewRecorder()
	f.handler.ServeHTTP(w, r)
	return w
}

func (f *fixture) signed(t *testing.T, body []byte) wechatpay.SignatureHeaders {
	t.Helper()
	h, err := f.signer.Sign(body)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func (f *fixture) mustAbsent(t *testing.T, no string) {
	t.Helper()
	if _, err := f.st.Get(context.Background(), payment.OrderKey(f.id.MchID, no)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a rejected notification must write nothing; Get = %v", err)
	}
}

func wantFail(t *testing.T, w *httptest.ResponseRecorder, status int, msgPart string) {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status = %d, want %d; body %s", w.Code, status, w.Body)
	}
	var ack wechatpay.NotifyAck
	if err := json.Unmarshal(w.Body.Bytes(), &ack); err != nil || ack.Code != "FAIL" || !strings.Contains(ack.Message, msgPart) {
		t.Fatalf("body = %s (want code FAIL and a message containing %q)", w.Body, msgPart)
	}
}

func TestGenuinePaymentIsAppliedOnceAndDuplicatesAcknowledged(t *testing.T) {
	f := newFixture(t)
	body := f.body(t, wechatpay.EventTransactionSuccess, f.transaction("ORDER100001", "4200000000100001", 100))
	w := f.post(t, body, f.signed(t, body))
	if w.Code != http.StatusNoContent || w.Body.Len() != 0 {
		t.Fatalf("status = %d body %q, want 204 and no body", w.Code, w.Body)
	}
	rec, err := f.st.Get(context.Background(), payment.OrderKey(f.id.MchID, "ORDER100001"))
	if err != nil || ord(t, rec).Status() != wechatpay.TradeStateSuccess || ord(t, rec).Payment.TransactionID != "4200000000100001" {
		t.Fatalf("record = %+v, %v", rec.Attrs, err)
	}
	// WeChat Pay redelivers: a new nonce and signature over the same body.
	for i := 0; i < 3; i++ {
		if w := f.post(t, body, f.signed(t, body)); w.Code != http.StatusNoContent {
			t.Fatalf("duplicate %d: status %d %s", i, w.Code, w.Body)
		}
	}
	again, _ := f.st.Get(context.Background(), payment.OrderKey(f.id.MchID, "ORDER100001"))
	if again.Version != rec.Version {
		t.Fatalf("duplicates wrote: version %d → %d", rec.Version, again.Version)
	}
}

func TestPublicKeyModeSerial(t *testing.T) {
	f := newFixture(t)
	f.signer.Serial = f.id.PlatformPublicKeyID
	body := f.body(t, wechatpay.EventTransactionSuccess, f.transaction("ORDER100002", "4200000000100002", 1))
	if w := f.post(t, body, f.signed(t, body)); w.Code != http.StatusNoContent {
		t.Fatalf("PUB_KEY_ID_ signed notification: %d %s", w.Code, w.Body)
	}
}

func TestForgedNotificationsAreRejectedAndChangeNothing(t *testing.T) {
	f := newFixture(t)
	body := f.body(t, wechatpay.EventTransactionSuccess, f.transaction("ORDER100003", "4200000000100003", 100))
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	forger := &wechatpay.PlatformSigner{Serial: f.id.PlatformSerial(), Key: other}
	forged, err := forger.Sign(body)
	if err != nil {
		t.Fatal(err)
	}
	tampered := bytes.Replace(body, []byte(`"summary":"支付成功"`), []byte(`"summary":"支付成功 "`), 1)
	good := f.signed(t, body)
	probe := f.signed(t, body)
	probe.Signature = wechatpay.SignTestPrefix + probe.Signature
	stale := good
	stale.Timestamp = strconv.FormatInt(time.Now().Add(-6*time.Minute).Unix(), 10)
	unknown := good
	unknown.Serial = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
	missing := good
	missing.Signature = ""

	cases := []struct {
		name string
		body []byte
		h    wechatpay.SignatureHeaders
		msg  string
	}{
		{"signed by another key", body, forged, "does not verify"},
		{"body altered after signing", tampered, good, "does not verify"},
		{"SIGNTEST probe", body, probe, "SIGNTEST"},
		{"timestamp 6 minutes old", body, stale, "Timestamp"},
		{"unknown serial", body, unknown, "Wechatpay-Serial"},
		{"no signature", body, missing, "not signed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantFail(t, f.post(t, c.body, c.h), http.StatusUnauthorized, c.msg)
			f.mustAbsent(t, "ORDER100003")
		})
	}
}

func TestWrongAPIv3KeyIsA500ThatSaysSo(t *testing.T) {
	f := newFixture(t)
	wrong, _ := wechatpay.NewAPIv3Key(strings.Repeat("k", 32))
	f.h.Notifier.AEAD, _ = wechatpay.NewAEAD(wrong)
	body := f.body(t, wechatpay.EventTransactionSuccess, f.transaction("ORDER100004", "4200000000100004", 100))
	wantFail(t, f.post(t, body, f.signed(t, body)), http.StatusInternalServerError, "APIv3 key")
	f.mustAbsent(t, "ORDER100004")
}

func TestStoreDownIsA500SoWeChatPayRetries(t *testing.T) {
	f := newFixture(t)
	body := f.body(t, wechatpay.EventTransactionSuccess, f.transaction("ORDER100005", "4200000000100005", 100))
	h := f.signed(t, body)
	f.st.Close()
	w := f.post(t, body, h)
	wantFail(t, w, http.StatusInternalServerError, "retry")
	if strings.Contains(w.Body.String(), "bolt") || strings.Contains(w.Body.String(), "database") {
		t.Fatalf("a store failure's detail is for the log, not the answer: %s", w.Body)
	}
}

func TestRefundNotification(t *testing.T) {
	f := newFixture(t)
	rn := wechatpay.RefundNotice{MchID: f.id.MchID, OutTradeNo: "ORDER100006", TransactionID: "4200000000100006",
		OutRefundNo: "REFUND100006", RefundID: "50300000100006", RefundStatus: wechatpay.RefundStatusSuccess,
		UserReceivedAccount: "招商银行信用卡0403", Amount: wechatpay.RefundAmount{Total: 100, Refund: 100, PayerTotal: 100, PayerRefund: 100}}
	body := f.body(t, wechatpay.EventRefundSuccess, rn)
	if w := f.post(t, body, f.signed(t, body)); w.Code != http.StatusNoContent {
		t.Fatalf("status %d %s", w.Code, w.Body)
	}
	rec, err := f.st.Get(context.Background(), payment.RefundKey(f.id.MchID, "REFUND100006"))
	if err != nil || rfd(t, rec).Status() != wechatpay.RefundStatusSuccess {
		t.Fatalf("refund record = %+v, %v", rec.Attrs, err)
	}
}

func TestInputThatIsNotAV3Notification(t *testing.T) {
	f := newFixture(t)
	// XML goes to the v2 path (v2_test.go).
	r := httptest.NewRequest(http.MethodGet, "/notify", nil)
	w := httptest.NewRecorder()
	f.handler.ServeHTTP(w, r)
	wantFail(t, w, http.StatusMethodNotAllowed, "POST")

	notJSON := []byte(`{"id":`)
	wantFail(t, f.post(t, notJSON, f.signed(t, notJSON)), http.StatusBadRequest, "JSON")
}

// ord and rfd decode records as the ledger keeps them.
func ord(t testing.TB, rec store.Record) *payment.Order {
	t.Helper()
	o, err := payment.OrderOf(rec)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func rfd(t testing.TB, rec store.Record) *payment.Refund {
	t.Helper()
	r, err := payment.RefundOf(rec)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
