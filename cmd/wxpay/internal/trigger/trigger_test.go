package trigger

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/paysls/wxpay/shared/keysdir"
	"github.com/paysls/wxpay/shared/wechatpay"
)

func TestTriggerTransactionVerifiedAndDecrypted(t *testing.T) {
	id := identity(t)
	for _, mode := range []string{ModeCert, ModePubKey} {
		t.Run(mode, func(t *testing.T) {
			ep, srv := newEndpoint(t)
			r, err := sender(t, mode).Trigger(context.Background(), Options{
				URL:   srv.URL + "/notify",
				Event: Event{Type: wechatpay.EventTransactionSuccess, OutTradeNo: "T20240520001", Amount: 1999, OpenID: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},
			})
			if err != nil {
				t.Fatal(err)
			}
			if !r.OK || len(r.Deliveries) != 1 || !r.Deliveries[0].Verdict.OK || r.Deliveries[0].Attempt.Status != http.StatusNoContent {
				t.Fatalf("want one acknowledged delivery, got %+v", r)
			}
			got := ep.received()
			if len(got) != 1 {
				t.Fatalf("endpoint verified %d notifications, want 1", len(got))
			}
			wantSerial := id.PlatformSerial()
			if mode == ModePubKey {
				wantSerial = id.PlatformPublicKeyID
			}
			if got[0].Headers.Serial != wantSerial {
				t.Errorf("Wechatpay-Serial = %q, want %q", got[0].Headers.Serial, wantSerial)
			}
			env := got[0].Envelope
			if env.EventType != wechatpay.EventTransactionSuccess || env.ResourceType != "encrypt-resource" || env.Summary != "支付成功" ||
				env.Resource.OriginalType != "transaction" || env.Resource.AssociatedData != "transaction" ||
				env.Resource.Algorithm != wechatpay.AlgorithmAEAD || len(env.Resource.Nonce) != 12 || len(env.ID) != 36 {
				t.Errorf("envelope = %+v", env)
			}
			if _, err := time.Parse(time.RFC3339, env.CreateTime); err != nil || !strings.HasSuffix(env.CreateTime, "+08:00") {
				t.Errorf("create_time %q: want RFC 3339 in +08:00", env.CreateTime)
			}
			var tx wechatpay.Transaction
			if err := json.Unmarshal(got[0].Plaintext, &tx); err != nil {
				t.Fatal(err)
			}
			if tx.AppID != id.AppID || tx.MchID != id.MchID || tx.OutTradeNo != "T20240520001" ||
				tx.TradeType != "JSAPI" || tx.TradeState != "SUCCESS" || tx.TradeStateDesc != "支付成功" || tx.BankType != "OTHERS" ||
				tx.Payer == nil || tx.Payer.OpenID != "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o" ||
				tx.Amount == nil || *tx.Amount != (wechatpay.Amount{Total: 1999, PayerTotal: 1999, Currency: "CNY", PayerCurrency: "CNY"}) {
				t.Errorf("transaction = %s", got[0].Plaintext)
			}
			if !regexp.MustCompile(`^4200\d{24}$`).MatchString(tx.TransactionID) {
				t.Errorf("transaction_id %q: want 28 digits starting 4200", tx.TransactionID)
			}
			if st, err := time.Parse(time.RFC3339, tx.SuccessTime); err != nil || !strings.HasSuffix(tx.SuccessTime, "+08:00") || time.Since(st) > time.Minute {
				t.Errorf("success_time %q: want now, RFC 3339, +08:00", tx.SuccessTime)
			}
			if !bytes.Equal(r.Resource, got[0].Plaintext) {
				t.Errorf("report resource %s differs from what the endpoint decrypted", r.Resource)
			}
		})
	}
}

func TestTriggerRefundEvents(t *testing.T) {
	for event, status := range map[string]string{
		wechatpay.EventRefundSuccess: "SUCCESS", wechatpay.EventRefundAbnormal: "ABNORMAL", wechatpay.EventRefundClosed: "CLOSED",
	} {
		t.Run(event, func(t *testing.T) {
			ep, srv := newEndpoint(t)
			r, err := sender(t, "").Trigger(context.Background(), Options{URL: srv.URL, Event: Event{
				Type: event, OutTradeNo: "T20240520002", OutRefundNo: "R20240520002", Amount: 500, RefundAmount: 200, TransactionID: "4200001234202405201234567890",
			}})
			if err != nil || !r.OK {
				t.Fatalf("report %+v, err %v", r, err)
			}
			got := ep.received()[0]
			var n wechatpay.RefundNotice
			if err := json.Unmarshal(got.Plaintext, &n); err != nil {
				t.Fatal(err)
			}
			if got.Envelope.Resource.AssociatedData != "refund" || got.Envelope.Resource.OriginalType != "refund" || got.Envelope.EventType != event {
				t.Errorf("envelope %+v", got.Envelope)
			}
			if n.RefundStatus != status || n.OutRefundNo != "R20240520002" || n.TransactionID != "4200001234202405201234567890" ||
				n.Amount.Refund != 200 || n.Amount.Total != 500 || n.RefundID == "" {
				t.Errorf("refund notice %s", got.Plaintext)
			}
			if (status == "SUCCESS") != (n.SuccessTime != "") {
				t.Errorf("success_time %q for status %s", n.SuccessTime, status)
			}
		})
	}
}

func TestTriggerBuildRejectsBadInput(t *testing.T) {
	s := sender(t, "")
	for name, ev := range map[string]Event{
		"short out_trade_no":    {Type: wechatpay.EventTransactionSuccess, OutTradeNo: "T1", Amount: 1},
		"zero amount":           {Type: wechatpay.EventTransactionSuccess, OutTradeNo: "T20240520003", Amount: 0},
		"refund without number": {Type: wechatpay.EventRefundSuccess, OutTradeNo: "T20240520003", Amount: 1},
		"refund above total":    {Type: wechatpay.EventRefundSuccess, OutTradeNo: "T20240520003", OutRefundNo: "R20240520003", Amount: 1, RefundAmount: 2},
		"unknown event":         {Type: "TRANSACTION.CLOSED", OutTradeNo: "T20240520003", Amount: 1},
	} {
		if _, err := s.build(ev); err == nil {
			t.Errorf("%s: build accepted %+v", name, ev)
		}
	}
}

func TestTriggerNotAcknowledged(t *testing.T) {
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(slow.Close)
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close() // nothing listens there any more: connection refused

	for _, tc := range []struct {
		name, url, failure, cause string
		status                    int
	}{
		{"500", fixed(t, 500, `{"code":"FAIL","message":"db down"}`).URL, "", "your handler failed", 500},
		{"404 double slash", fixed(t, 404, "not found").URL + "/pay//notify", "", "path mismatch", 404},
		{"401 wrong platform key", fixed(t, 401, "").URL, "", "signature verification failed", 401},
		{"201 is not an ack", fixed(t, 201, "").URL, "", "only 200 or 204", 201},
		{"502 gateway", fixed(t, 502, "").URL, "", "gateway", 502},
		{"timeout", slow.URL, failTimeout, "too slow", 0},
		{"refused", closed.URL, failRefused, "connection refused", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := sender(t, "")
			// Only the timeout case needs a short client timeout; the others answer at
			// once, but on a loaded machine not always within 200 ms.
			timeout := 10 * time.Second
			if tc.failure == failTimeout {
				timeout = 200 * time.Millisecond
			}
			s.Client = NewClient(timeout)
			r, err := s.Trigger(context.Background(), Options{URL: tc.url, Event: Event{Type: wechatpay.EventTransactionSuccess, OutTradeNo: "T20240520004", Amount: 1}})
			if err != nil {
				t.Fatal(err)
			}
			d := r.Deliveries[0]
			if r.OK || d.Verdict.OK {
				t.Fatalf("verdict OK for %s: %+v", tc.name, d)
			}
			if d.Attempt.Status != tc.status || d.Attempt.Failure != tc.failure {
				t.Errorf("attempt %+v: want status %d failure %q", d.Attempt, tc.status, tc.failure)
			}
			if !strings.Contains(d.Verdict.Cause, tc.cause) || !strings.Contains(d.Verdict.Headline, "15s/15s/30s/3m") {
				t.Errorf("verdict %+v: want cause containing %q and the retry schedule", d.Verdict, tc.cause)
			}
		})
	}
}

func TestTriggerSignTest(t *testing.T) {
	ev := Event{Type: wechatpay.EventTransactionSuccess, OutTradeNo: "T20240520005", Amount: 1}
	t.Run("verifying endpoint refuses: good", func(t *testing.T) {
		ep, srv := newEndpoint(t)
		r, err := sender(t, "").Trigger(context.Background(), Options{URL: srv.URL, Event: ev, SignTest: true})
		if err != nil {
			t.Fatal(err)
		}
		if !r.OK || r.Deliveries[0].Attempt.Status != http.StatusUnauthorized || len(ep.received()) != 0 {
			t.Fatalf("want a refused probe and a good verdict, got %+v", r)
		}
	})
	t.Run("endpoint that never verifies: loud bad verdict", func(t *testing.T) {
		var sig string
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			sig = r.Header.Get(wechatpay.HeaderSignature)
			w.WriteHeader(http.StatusOK)
		}))
		t.Cleanup(srv.Close)
		r, err := sender(t, "").Trigger(context.Background(), Options{URL: srv.URL, Event: ev, SignTest: true})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(sig, wechatpay.SignTestPrefix) {
			t.Errorf("signature %q is not a SIGNTEST probe", sig)
		}
		v := r.Deliveries[0].Verdict
		if r.OK || v.OK || !strings.Contains(v.Headline, "DANGER") || !strings.Contains(v.Cause, "does not verify") {
			t.Fatalf("want a loud bad verdict, got %+v", v)
		}
	})
	t.Run("404 is inconclusive, not a pass", func(t *testing.T) {
		r, err := sender(t, "").Trigger(context.Background(), Options{URL: fixed(t, 404, "").URL, Event: ev, SignTest: true})
		if err != nil {
			t.Fatal(err)
		}
		if r.OK || !strings.Contains(r.Deliveries[0].Verdict.Headline, "inconclusive") {
			t.Fatalf("got %+v", r.Deliveries[0].Verdict)
		}
	})
}

func TestTriggerRepeat(t *testing.T) {
	ev := Event{Type: wechatpay.EventTransactionSuccess, OutTradeNo: "T20240520006", Amount: 1}
	t.Run("same notification, fresh signatures", func(t *testing.T) {
		ep, srv := newEndpoint(t)
		r, err := sender(t, "").Trigger(context.Background(), Options{URL: srv.URL, Event: ev, Repeat: 3})
		if err != nil {
			t.Fatal(err)
		}
		got := ep.received()
		if !r.OK || len(r.Deliveries) != 3 || len(got) != 3 {
			t.Fatalf("report %+v, endpoint got %d", r, len(got))
		}
		for _, g := range got[1:] {
			if !bytes.Equal(g.Body, got[0].Body) || g.Envelope.ID != r.NotificationID {
				t.Error("repeated deliveries must carry the identical notification")
			}
			if g.Headers.Nonce == got[0].Headers.Nonce {
				t.Error("each delivery must be signed afresh (new nonce)")
			}
		}
		if !strings.Contains(r.Summary, "all 3 deliveries") {
			t.Errorf("summary %q", r.Summary)
		}
	})
	t.Run("handler that rejects duplicates", func(t *testing.T) {
		ep, srv := newEndpoint(t)
		ep.answer = func(n int) int {
			if n == 1 {
				return http.StatusOK
			}
			return http.StatusConflict // "already processed"
		}
		r, err := sender(t, "").Trigger(context.Background(), Options{URL: srv.URL, Event: ev, Repeat: 2})
		if err != nil {
			t.Fatal(err)
		}
		if r.OK || !r.Deliveries[0].Verdict.OK || r.Deliveries[1].Verdict.OK || !strings.Contains(r.Summary, "duplicate must also be answered") {
			t.Fatalf("got %+v", r)
		}
	})
}

func TestNewSenderNeedsPlatformKey(t *testing.T) {
	id := *identity(t)
	id.PlatformKey = nil
	if _, err := NewSender(&id, ""); !errors.Is(err, ErrNoPlatformKey) || !strings.Contains(err.Error(), "wxpay sim --keys-dir") {
		t.Fatalf("err = %v", err)
	}
	id = *identity(t)
	id.PlatformCert = nil
	if _, err := NewSender(&id, ModeCert); err == nil {
		t.Fatal("cert mode without a platform certificate was accepted")
	}
	s, err := NewSender(&id, "")
	if err != nil || s.mode != ModePubKey {
		t.Fatalf("default mode without a certificate: %v, %v", s, err)
	}
	other, err := keysdir.Generate()
	if err != nil {
		t.Fatal(err)
	}
	id = *identity(t)
	id.PlatformKey = other.PlatformKey
	if _, err := NewSender(&id, ModeCert); err == nil || !strings.Contains(err.Error(), "does not belong") {
		t.Fatalf("mismatched platform key: err = %v", err)
	}
}

func TestProductionWarning(t *testing.T) {
	if w := productionWarning("http://127.0.0.1:8080/notify"); !strings.Contains(w, "http") {
		t.Errorf("local http URL: warning %q", w)
	}
	if w := productionWarning("https://pay.example.com/wxpay/notify"); w != "" {
		t.Errorf("valid URL warned: %q", w)
	}
	if err := ValidateTargetURL("pay.example.com/notify"); err == nil {
		t.Error("relative URL accepted")
	}
}

func TestNotifyURLIssuesListsEveryRule(t *testing.T) {
	issues := notifyURLIssues("http://pay.example.com:8443/pay//notify?id=10086")
	joined := strings.Join(issues, " | ")
	for _, want := range []string{"uses http", "port 8443", "query string", "empty segment"} {
		if !strings.Contains(joined, want) {
			t.Errorf("issues %q lack %q", joined, want)
		}
	}
	if len(issues) != 4 {
		t.Errorf("want 4 issues, got %d: %q", len(issues), joined)
	}
	if got := notifyURLIssues("https://192.168.1.3:8080/notify"); len(got) != 2 {
		t.Errorf("IP and port: got %q", got)
	}
	if got := notifyURLIssues("https://pay.example.com/wxpay/notify"); len(got) != 0 {
		t.Errorf("valid URL: got %q", got)
	}
}

func TestTriggerReportText(t *testing.T) {
	_, srv := newEndpoint(t)
	r, err := sender(t, "").Trigger(context.Background(), Options{URL: srv.URL + "/notify", Event: Event{Type: wechatpay.EventTransactionSuccess, OutTradeNo: "T20240520007", Amount: 1}})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	r.WriteText(&b)
	out := b.String()
	for _, want := range []string{"warning: WeChat Pay would reject", "POST " + srv.URL, "HTTP 204", "VERDICT ✔", "✔ the endpoint acknowledges"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, string(identity(t).APIv3Key.Bytes())) {
		t.Error("output contains the APIv3 key")
	}
}
