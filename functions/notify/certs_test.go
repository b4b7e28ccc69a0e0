package notify_test

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/paysls/wxpay/functions/notify"
	"github.com/paysls/wxpay/internal/paysim"
	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/keysdir"
	"github.com/paysls/wxpay/shared/store/boltstore"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// Certificate mode with nothing but the merchant's own credentials, as most merchants
// run: the first notification makes notify download the platform certificates (from the
// simulator's /v3/certificates, verified and decrypted), keep them in the store, and a
// cold-started instance verifies from the store without calling WeChat Pay at all.
func TestNotifyDownloadsPlatformCertificatesOnce(t *testing.T) {
	dir := t.TempDir()
	id, err := keysdir.Generate()
	if err != nil {
		t.Fatal(err)
	}
	if err := id.Save(dir); err != nil {
		t.Fatal(err)
	}
	sim, err := paysim.New(paysim.Config{Identity: id})
	if err != nil {
		t.Fatal(err)
	}
	api := httptest.NewServer(sim)
	defer sim.Close()

	cfg, err := config.FromKeysDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg.PlatformCert, cfg.PlatformPublicKey, cfg.PlatformPublicKeyID = nil, nil, ""
	cfg.APIBase = api.URL
	st, err := boltstore.Open(filepath.Join(dir, "n.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))

	aead, err := wechatpay.NewAEAD(id.APIv3Key)
	if err != nil {
		t.Fatal(err)
	}
	signer := &wechatpay.PlatformSigner{Serial: id.PlatformSerial(), Key: id.PlatformKey}
	deliver := func(h http.Handler, no string) int {
		tx := wechatpay.Transaction{MchID: id.MchID, AppID: id.AppID, OutTradeNo: no, TransactionID: "42000000" + no,
			TradeState: wechatpay.TradeStateSuccess, Amount: &wechatpay.Amount{Total: 1}}
		_, body, err := wechatpay.SealNotification(aead, wechatpay.EventTransactionSuccess, tx, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		sh, err := signer.Sign(body)
		if err != nil {
			t.Fatal(err)
		}
		r := httptest.NewRequest(http.MethodPost, "/notify", bytes.NewReader(body))
		sh.Apply(r.Header)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusNoContent {
			t.Logf("answer: %d %s", w.Code, w.Body)
		}
		return w.Code
	}

	first, err := notify.New(cfg, st, log)
	if err != nil {
		t.Fatal(err)
	}
	if code := deliver(first, "CERTDL0001"); code != http.StatusNoContent {
		t.Fatalf("first notification: %d", code)
	}
	// A cold start with WeChat Pay unreachable: the store has what it needs (the
	// certificates were cached there by the first instance).
	api.Close()
	cold, err := notify.New(cfg, st, log)
	if err != nil {
		t.Fatal(err)
	}
	if code := deliver(cold, "CERTDL0002"); code != http.StatusNoContent {
		t.Fatalf("cold start from the cached certificates: %d", code)
	}
	// A serial that neither the cache nor (unreachable) WeChat Pay knows is refused.
	signer.Serial = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
	if code := deliver(cold, "CERTDL0003"); code != http.StatusUnauthorized {
		t.Fatalf("unknown serial: %d, want 401", code)
	}
}

// Without merchant credentials and without platform keys there is nothing to verify
// with: New says so instead of accepting everything.
func TestNewRefusesConfigurationWithoutVerificationKeys(t *testing.T) {
	dir := t.TempDir()
	id, err := keysdir.Generate()
	if err != nil {
		t.Fatal(err)
	}
	if err := id.Save(dir); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.FromKeysDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg.PlatformCert, cfg.PlatformPublicKey, cfg.PlatformPublicKeyID = nil, nil, ""
	cfg.PrivateKey = config.Secret{}
	if _, err := notify.New(cfg, nil, nil); err == nil {
		t.Fatal("notify.New accepted a configuration with no way to verify signatures")
	}
}
