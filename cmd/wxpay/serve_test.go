package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/store"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// The whole local bundle: an order placed through the simulated WeChat Pay API by our
// own client, paid through the driver API, delivered to /notify on the same port,
// verified, decrypted and applied to the store — in both signing modes.
func TestServeBundleEndToEnd(t *testing.T) {
	for _, mode := range []string{"cert", "pubkey"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			keys := filepath.Join(dir, "sim")
			b, err := newBundle(context.Background(), serveOptions{keysDir: keys, mode: mode, retryScale: 0.001},
				slog.New(slog.NewJSONHandler(io.Discard, nil)))
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(b.handler)
			t.Cleanup(func() { srv.Close(); b.Close() })

			if tok, err := os.ReadFile(filepath.Join(keys, apiTokenFile)); err != nil || len(strings.TrimSpace(string(tok))) < 32 {
				t.Fatalf("api_token = %q, %v", tok, err)
			}
			client := &wechatpay.Client{BaseURL: srv.URL, Signer: b.id.MerchantSigner(),
				Verifier: &wechatpay.Verifier{Keys: b.id.PlatformKeys()}, MchID: b.id.MchID, AppID: b.id.AppID,
				NotifyURLOptions: wechatpay.NotifyURLOptions{AllowLoopback: true}}
			ctx := context.Background()
			resp, err := client.Prepay(ctx, wechatpay.SceneNative, wechatpay.PrepayRequest{
				Description: "wxpay e2e", OutTradeNo: "E2E" + mode + "0001", NotifyURL: srv.URL + "/notify",
				Amount: wechatpay.Amount{Total: 1999, Currency: "CNY"}})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(resp.CodeURL, "weixin://wxpay/bizpayurl?pr=") {
				t.Fatalf("code_url = %q", resp.CodeURL)
			}
			pay, err := http.Post(srv.URL+"/sim/orders/E2E"+mode+"0001/pay", "application/json", nil)
			if err != nil {
				t.Fatal(err)
			}
			pay.Body.Close()
			if pay.StatusCode/100 != 2 {
				t.Fatalf("pay: %s", pay.Status)
			}
			key := payment.OrderKey(b.id.MchID, "E2E"+mode+"0001")
			var rec store.Record
			deadline := time.Now().Add(10 * time.Second)
			for {
				rec, err = b.store.Get(ctx, key)
				if err == nil || time.Now().After(deadline) {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			if err != nil {
				t.Fatalf("order never reached the store: %v", err)
			}
			o, err := payment.OrderOf(rec)
			if err != nil || o.Status() != wechatpay.TradeStateSuccess || o.Amount != 1999 {
				t.Fatalf("stored order = %+v %v", o, err)
			}
			tx, err := client.QueryByOutTradeNo(ctx, "E2E"+mode+"0001")
			if err != nil || tx.TradeState != wechatpay.TradeStateSuccess || tx.TransactionID != o.Payment.TransactionID {
				t.Fatalf("query = %+v, %v; store has transaction %s", tx, err, o.Payment.TransactionID)
			}
			// The simulator saw our 204 as an acknowledgement: one attempt, no retries. It
			// records the answer after notify has written the order, so it is waited for.
			var body []byte
			for {
				res, err := http.Get(srv.URL + "/sim/deliveries")
				if err != nil {
					t.Fatal(err)
				}
				body, _ = io.ReadAll(res.Body)
				res.Body.Close()
				if strings.Contains(string(body), "204") || time.Now().After(deadline) {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			if !strings.Contains(string(body), "204") {
				t.Fatalf("deliveries = %s", body)
			}
			var health map[string]string
			hr, err := http.Get(srv.URL + "/healthz")
			if err != nil {
				t.Fatal(err)
			}
			defer hr.Body.Close()
			if err := json.NewDecoder(hr.Body).Decode(&health); err != nil || health["status"] != "ok" {
				t.Fatalf("healthz = %v, %v", health, err)
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe to read while runServe writes its banner.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// runServe as the CLI runs it: listens, prints where, answers, and stops cleanly when
// its context ends (Ctrl-C).
func TestRunServeListensAndStops(t *testing.T) {
	srv := startRunServe(t)
	res, err := http.Get(srv.base + "/healthz")
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %v %v", res, err)
	}
	res.Body.Close()
	if err := srv.stop(); err != nil {
		t.Fatalf("runServe = %v", err)
	}
	if strings.Contains(srv.out.String()+srv.errOut.String(), "PRIVATE KEY") {
		t.Fatal("serve printed key material")
	}
}

// A second serve on the same keys dir keeps the identity and the token.
func TestServeReusesIdentityAndToken(t *testing.T) {
	dir := t.TempDir()
	keys := filepath.Join(dir, "sim")
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	b1, err := newBundle(context.Background(), serveOptions{keysDir: keys, mode: "cert"}, log)
	if err != nil {
		t.Fatal(err)
	}
	mch, tok := b1.id.MchID, b1.token
	b1.Close()
	b2, err := newBundle(context.Background(), serveOptions{keysDir: keys, mode: "cert"}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	if b2.id.MchID != mch || b2.token != tok {
		t.Fatalf("identity or token changed between runs: %s/%s vs %s/%s", mch, tok, b2.id.MchID, b2.token)
	}
}

// stateOf is a stored order's or refund's state as the API shows it ("" when unreadable).
func stateOf(rec store.Record) string {
	if strings.HasPrefix(rec.Key, "refund/") {
		if r, err := payment.RefundOf(rec); err == nil {
			return r.Status()
		}
		return ""
	}
	if o, err := payment.OrderOf(rec); err == nil {
		return o.Status()
	}
	return ""
}
