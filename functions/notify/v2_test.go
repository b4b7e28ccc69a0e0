package notify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/paysls/wxpay/functions/notify"
	"github.com/paysls/wxpay/internal/paysim"
	"github.com/paysls/wxpay/internal/testenv"
	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/wechatpay"
	"github.com/paysls/wxpay/shared/wxv2"
)

// postXML sends a v2 notification the way WeChat Pay does: XML, no Wechatpay-* headers.
func postXML(t *testing.T, h http.Handler, body []byte) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/notify", bytes.NewReader(body))
	r.Header.Set("Content-Type", "text/xml")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// wantXML checks a v2 answer: status, return_code, and a return_msg containing part.
func wantXML(t *testing.T, status int, body []byte, wantStatus int, code, part string) {
	t.Helper()
	p, err := wxv2.ParseXML(body, "xml")
	if status != wantStatus || err != nil || p["return_code"] != code || !strings.Contains(p["return_msg"], part) {
		t.Fatalf("answer %d %s (%v); want %d with return_code %s and return_msg containing %q", status, body, err, wantStatus, code, part)
	}
}

func (f *fixture) v2payment(t *testing.T, no, txid string, total int64, signType, key string) []byte {
	t.Helper()
	tx := f.transaction(no, txid, total)
	p, err := wxv2.PaymentParams(&tx)
	if err != nil {
		t.Fatal(err)
	}
	if err := wxv2.SignParams(p, signType, key); err != nil {
		t.Fatal(err)
	}
	return p.EncodeXML()
}

func TestV2PaymentAppliedOnceDuplicatesAcknowledged(t *testing.T) {
	f := newFixture(t)
	f.h.APIv2Key = config.NewSecret([]byte(f.id.APIv2Key))
	for i, typ := range []string{wxv2.SignTypeMD5, wxv2.SignTypeHMACSHA256} {
		no, txid := "V2ORDER00"+string(rune('1'+i)), "420000000020000"+string(rune('1'+i))
		body := f.v2payment(t, no, txid, 100, typ, f.id.APIv2Key)
		w := postXML(t, f.handler, body)
		wantXML(t, w.Code, w.Body.Bytes(), http.StatusOK, "SUCCESS", "OK")
		if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/xml") {
			t.Errorf("Content-Type %q", ct)
		}
		rec, err := f.st.Get(context.Background(), payment.OrderKey(f.id.MchID, no))
		if err != nil || ord(t, rec).Status() != wechatpay.TradeStateSuccess || ord(t, rec).Payment.TransactionID != txid ||
			ord(t, rec).Source != "notify-v2" || ord(t, rec).Payment.Amount != 100 {
			t.Fatalf("%s: record = %+v, %v", typ, rec.Attrs, err)
		}
		for range 3 { // WeChat Pay redelivers the same XML
			w := postXML(t, f.handler, body)
			wantXML(t, w.Code, w.Body.Bytes(), http.StatusOK, "SUCCESS", "OK")
		}
		again, _ := f.st.Get(context.Background(), payment.OrderKey(f.id.MchID, no))
		if again.Version != rec.Version {
			t.Fatalf("duplicates wrote: version %d → %d", rec.Version, again.Version)
		}
	}
	// The same payment arriving as v3 afterwards is a duplicate too: one state machine.
	body := f.body(t, wechatpay.EventTransactionSuccess, f.transaction("V2ORDER001", "4200000000200001", 100))
	if w := f.post(t, body, f.signed(t, body)); w.Code != http.StatusNoContent {
		t.Fatalf("v3 copy of a v2 payment: %d %s", w.Code, w.Body)
	}
}

func TestV2Refusals(t *testing.T) {
	f := newFixture(t)
	key := f.id.APIv2Key
	f.h.APIv2Key = config.NewSecret([]byte(key))
	good := f.v2payment(t, "V2ORDER100", "4200000000200100", 100, "", key)

	forged := f.v2payment(t, "V2ORDER100", "4200000000200100", 100, "", wxv2.ForgeryKey())
	w := postXML(t, f.handler, forged)
	wantXML(t, w.Code, w.Body.Bytes(), http.StatusUnauthorized, "FAIL", "WXPAY_APIV2_KEY")
	if strings.Contains(w.Body.String(), key) {
		t.Fatal("the answer leaks the APIv2 key")
	}
	tampered := bytes.Replace(good, []byte("<total_fee><![CDATA[100]]>"), []byte("<total_fee><![CDATA[1]]>"), 1)
	w = postXML(t, f.handler, tampered)
	wantXML(t, w.Code, w.Body.Bytes(), http.StatusUnauthorized, "FAIL", "sign does not match")

	for name, body := range map[string]string{
		"DOCTYPE":     `<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]><xml><return_code>&x;</return_code></xml>`,
		"truncated":   string(good[:len(good)/2]),
		"return FAIL": `<xml><return_code>FAIL</return_code></xml>`,
		"oversized":   "<xml><a>" + strings.Repeat("x", wxv2.MaxBody) + "</a></xml>",
		"bom+space":   "\xef\xbb\xbf \n<xml><return_code>SUCCESS</return_code><x><y/></x></xml>",
	} {
		t.Run(name, func(t *testing.T) {
			w := postXML(t, f.handler, []byte(body))
			wantXML(t, w.Code, w.Body.Bytes(), http.StatusBadRequest, "FAIL", "")
		})
	}
	f.mustAbsent(t, "V2ORDER100")

	// A signed failed payment (result_code FAIL) has nothing to apply: acknowledged.
	p, _ := wxv2.ParseXML(good, "xml")
	p["result_code"], p["err_code"] = "FAIL", "SYSTEMERROR"
	_ = wxv2.SignParams(p, "", key)
	w = postXML(t, f.handler, p.EncodeXML())
	wantXML(t, w.Code, w.Body.Bytes(), http.StatusOK, "SUCCESS", "OK")
	f.mustAbsent(t, "V2ORDER100")

	// Without a key XML is refused with 500 (WeChat Pay retries) and says what to set.
	f.h.APIv2Key = config.Secret{}
	w = postXML(t, f.handler, good)
	wantXML(t, w.Code, w.Body.Bytes(), http.StatusInternalServerError, "FAIL", "set WXPAY_APIV2_KEY")
	f.mustAbsent(t, "V2ORDER100")

	// Store down: 500 without internals.
	f.h.APIv2Key = config.NewSecret([]byte(key))
	f.st.Close()
	w = postXML(t, f.handler, good)
	wantXML(t, w.Code, w.Body.Bytes(), http.StatusInternalServerError, "FAIL", "retry")
	if strings.Contains(w.Body.String(), "bolt") || strings.Contains(w.Body.String(), "database") {
		t.Fatalf("store detail leaked: %s", w.Body)
	}
}

// TestV2EndToEndThroughTheSimulator: the simulator sends v2 notifications over HTTP
// to notify served over HTTP — payment (MD5, HMAC-SHA256), duplicates, a manual refund
// from the merchant platform, 退款异常, forged ones, a receiver with the wrong key and
// one with none — and v3 keeps working on the same endpoint.
func TestV2EndToEndThroughTheSimulator(t *testing.T) {
	f := newFixture(t)
	f.h.APIv2Key = config.NewSecret([]byte(f.id.APIv2Key))
	notified := testenv.NotifiedBy(f.handler)
	notifySrv := httptest.NewServer(notified)
	t.Cleanup(notifySrv.Close)
	wrongKey := &notify.Handler{Notifier: f.h.Notifier, Ledger: f.h.Ledger, APIv2Key: config.NewSecret([]byte(wxv2.ForgeryKey()))}
	wrongSrv := httptest.NewServer(wrongKey)
	t.Cleanup(wrongSrv.Close)
	noKeySrv := httptest.NewServer(&notify.Handler{Notifier: f.h.Notifier, Ledger: f.h.Ledger})
	t.Cleanup(noKeySrv.Close)

	sim, err := paysim.New(paysim.Config{Identity: f.id, RetryScale: 0.001})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	simSrv := httptest.NewServer(sim)
	t.Cleanup(simSrv.Close)
	client := &wechatpay.Client{BaseURL: simSrv.URL, Signer: f.id.MerchantSigner(),
		Verifier: &wechatpay.Verifier{Keys: f.id.PlatformKeys()}, MchID: f.id.MchID, AppID: f.id.AppID,
		NotifyURLOptions: wechatpay.NotifyURLOptions{AllowLoopback: true}}
	ctx := context.Background()
	order := func(no string, total int64) {
		t.Helper()
		if _, err := client.Prepay(ctx, wechatpay.SceneNative, wechatpay.PrepayRequest{Description: "v2 test", OutTradeNo: no,
			NotifyURL: notifySrv.URL + "/notify", Amount: wechatpay.Amount{Total: total}}); err != nil {
			t.Fatal(err)
		}
	}
	send := func(req paysim.V2NotifyRequest) paysim.V2NotifyResult {
		t.Helper()
		b, _ := json.Marshal(req)
		resp, err := http.Post(simSrv.URL+"/sim/v2/notify", "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		var res paysim.V2NotifyResult
		if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &res) != nil {
			t.Fatalf("/sim/v2/notify %+v: %d %s", req, resp.StatusCode, body)
		}
		return res
	}
	state := func(key string) (string, int64) {
		t.Helper()
		rec, err := f.st.Get(ctx, key)
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		if strings.HasPrefix(key, "refund/") {
			return rfd(t, rec).Status(), rec.Version
		}
		return ord(t, rec).Status(), rec.Version
	}

	// Payment, MD5, then three duplicates: applied once.
	order("E2EV2PAY001", 300)
	res := send(paysim.V2NotifyRequest{Kind: "payment", OutTradeNo: "E2EV2PAY001"})
	if !res.Acknowledged || res.Status != http.StatusOK {
		t.Fatalf("v2 payment: %+v", res)
	}
	st, v := state(payment.OrderKey(f.id.MchID, "E2EV2PAY001"))
	if st != wechatpay.TradeStateSuccess {
		t.Fatalf("order state %s", st)
	}
	for range 3 {
		if res := send(paysim.V2NotifyRequest{Kind: "payment", OutTradeNo: "E2EV2PAY001"}); !res.Acknowledged {
			t.Fatalf("duplicate: %+v", res)
		}
	}
	if _, v2 := state(payment.OrderKey(f.id.MchID, "E2EV2PAY001")); v2 != v {
		t.Fatalf("duplicates wrote: version %d → %d", v, v2)
	}

	// HMAC-SHA256.
	order("E2EV2PAY002", 200)
	if res := send(paysim.V2NotifyRequest{Kind: "payment", OutTradeNo: "E2EV2PAY002", SignType: "HMAC-SHA256"}); !res.Acknowledged ||
		!strings.Contains(res.Body, "<sign_type><![CDATA[HMAC-SHA256]]></sign_type>") {
		t.Fatalf("HMAC payment: %+v", res)
	}

	// Forged payment: 401, nothing written.
	order("E2EV2PAY003", 100)
	res = send(paysim.V2NotifyRequest{Kind: "payment", OutTradeNo: "E2EV2PAY003", Forge: true})
	if res.Acknowledged || res.Status != http.StatusUnauthorized || !strings.HasPrefix(res.Verdict, "ok") {
		t.Fatalf("forged payment: %+v", res)
	}
	f.mustAbsent(t, "E2EV2PAY003")

	// Wrong key at the receiver: 401 for payment and refund; no key: 500 saying what to set.
	res = send(paysim.V2NotifyRequest{Kind: "payment", OutTradeNo: "E2EV2PAY003", URL: wrongSrv.URL})
	if res.Acknowledged || res.Status != http.StatusUnauthorized {
		t.Fatalf("wrong key: %+v", res)
	}
	res = send(paysim.V2NotifyRequest{Kind: "payment", OutTradeNo: "E2EV2PAY003", URL: noKeySrv.URL})
	if res.Acknowledged || res.Status != http.StatusInternalServerError || !strings.Contains(res.ResponseBody, "WXPAY_APIV2_KEY") {
		t.Fatalf("no key: %+v", res)
	}
	f.mustAbsent(t, "E2EV2PAY003")

	// A manual refund made in the merchant platform (part of the order), and its duplicate.
	res = send(paysim.V2NotifyRequest{Kind: "refund", OutTradeNo: "E2EV2PAY001", OutRefundNo: "E2EV2REF001", RefundFee: 100})
	if !res.Acknowledged || res.Fields["refund_request_source"] != "VENDOR_PLATFORM" || res.Fields["refund_fee"] != "100" {
		t.Fatalf("manual refund: %+v", res)
	}
	refKey := payment.RefundKey(f.id.MchID, "E2EV2REF001")
	st, v = state(refKey)
	if st != wechatpay.RefundStatusSuccess {
		t.Fatalf("refund state %s", st)
	}
	if res := send(paysim.V2NotifyRequest{Kind: "refund", OutRefundNo: "E2EV2REF001"}); !res.Acknowledged {
		t.Fatalf("refund duplicate: %+v", res)
	}
	if _, v2 := state(refKey); v2 != v {
		t.Fatalf("refund duplicate wrote: version %d → %d", v, v2)
	}
	// 退款异常 (CHANGE) is ABNORMAL in the v3 shape.
	if res := send(paysim.V2NotifyRequest{Kind: "refund", OutTradeNo: "E2EV2PAY002", OutRefundNo: "E2EV2REF002", RefundStatus: "CHANGE"}); !res.Acknowledged {
		t.Fatalf("CHANGE refund: %+v", res)
	}
	if st, _ := state(payment.RefundKey(f.id.MchID, "E2EV2REF002")); st != wechatpay.RefundStatusAbnormal {
		t.Fatalf("CHANGE → %s, want ABNORMAL", st)
	}
	// Forged refund (req_info under another key) and the wrong-key receiver: 401.
	for _, req := range []paysim.V2NotifyRequest{
		{Kind: "refund", OutTradeNo: "E2EV2PAY001", OutRefundNo: "E2EV2REF003", RefundFee: 50, Forge: true},
		{Kind: "refund", OutRefundNo: "E2EV2REF003", URL: wrongSrv.URL},
	} {
		if res := send(req); res.Acknowledged || res.Status != http.StatusUnauthorized {
			t.Fatalf("%+v: %+v", req, res)
		}
	}
	if _, err := f.st.Get(ctx, payment.RefundKey(f.id.MchID, "E2EV2REF003")); err == nil {
		t.Fatal("a refused refund notification wrote a record")
	}

	// v3 still works on the same endpoint.
	order("E2EV3PAY004", 100)
	_, nid, _, err := sim.Pay("E2EV3PAY004", paysim.PayRequest{})
	if err != nil {
		t.Fatal(err)
	}
	notified.Wait(t, nid)
	if rec, err := f.st.Get(ctx, payment.OrderKey(f.id.MchID, "E2EV3PAY004")); err != nil || ord(t, rec).Source != "notify" {
		t.Fatalf("the v3 notification was not applied: %v %+v", err, sim.Deliveries())
	}
	// Every v2 attempt is listed with the simulator's deliveries.
	n := 0
	for _, d := range sim.Deliveries() {
		if strings.HasPrefix(d.Event, "v2.") {
			n++
		}
	}
	if n != 13 { // 8 payments, 5 refunds
		t.Errorf("%d v2 deliveries listed, want 13", n)
	}
}

// A REVIEW caused by a v2 notification is loud once, from the ledger — as on the v3
// path (TestReviewIsAnErrorWithAMetricAndAnEvent): notify's v2 answer adds no ERROR.
func TestV2ReviewIsLoudOnce(t *testing.T) {
	f := newFixture(t)
	f.h.APIv2Key = config.NewSecret([]byte(f.id.APIv2Key))
	var logs logCapture
	f.h.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	f.h.Ledger.Log = f.h.Logger
	for _, txid := range []string{"4200000000600001", "4200000000600002", "4200000000600003", "4200000000600002"} {
		w := postXML(t, f.handler, f.v2payment(t, "V2LOUD0001", txid, 100, wxv2.SignTypeMD5, f.id.APIv2Key))
		wantXML(t, w.Code, w.Body.Bytes(), http.StatusOK, "SUCCESS", "OK")
	}
	wantLoudOnce(t, logs.lines(), "second_payment")
}
