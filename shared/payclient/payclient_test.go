package payclient_test

import (
	"context"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/paysls/wxpay/internal/paysim"
	"github.com/paysls/wxpay/internal/storetest"
	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/keysdir"
	"github.com/paysls/wxpay/shared/payclient"
	"github.com/paysls/wxpay/shared/store/boltstore"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// The key set of a merchant in certificate mode: built without any network or store
// call; the first certificate serial downloads /v3/certificates once and caches it in
// the store; a cold start verifies from the store with WeChat Pay unreachable; the
// configured platform public key resolves without touching either. Verifier →
// CertificateManager → store: one resolver, no wrapper around another.
func TestVerificationKeysAreLazyAndCachedInTheStore(t *testing.T) {
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
	defer sim.Close()
	var calls atomic.Int32
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		sim.ServeHTTP(w, r)
	}))
	cfg, err := config.FromKeysDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg.PlatformCert = nil // certificates come from /v3/certificates; the public key stays configured
	cfg.APIBase = api.URL
	bolt, err := boltstore.Open(filepath.Join(dir, "keys.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer bolt.Close()
	st := &storetest.Counting{Store: bolt}
	ctx := context.Background()

	keys, err := payclient.VerificationKeys(cfg, st, payclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := keys.(*wechatpay.CertificateManager); !ok {
		t.Fatalf("keys are a %T, want the one resolver *wechatpay.CertificateManager", keys)
	}
	if calls.Load() != 0 || st.Calls() != 0 {
		t.Fatalf("construction made %d API and %d store calls, want none", calls.Load(), st.Calls())
	}
	if _, err := keys.PublicKey(ctx, id.PlatformPublicKeyID); err != nil || calls.Load() != 0 || st.Calls() != 0 {
		t.Fatalf("configured public key: %v (%d API, %d store calls)", err, calls.Load(), st.Calls())
	}
	serial := id.PlatformSerial()
	for range 3 {
		if _, err := keys.PublicKey(ctx, serial); err != nil {
			t.Fatal(err)
		}
	}
	if calls.Load() != 1 || st.Writes.Load() != 1 {
		t.Fatalf("three lookups: %d downloads and %d store writes, want one of each", calls.Load(), st.Writes.Load())
	}

	api.Close() // a cold start with WeChat Pay unreachable
	cold, err := payclient.VerificationKeys(cfg, st, payclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cold.PublicKey(ctx, serial); err != nil {
		t.Fatalf("cold start from the store: %v", err)
	}
	if _, err := cold.PublicKey(ctx, "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"); !errors.Is(err, wechatpay.ErrUnknownSerial) {
		t.Fatalf("unknown serial: %v", err)
	}
}

// Without merchant credentials only the configured keys verify; without those either,
// nothing could, and VerificationKeys says so.
func TestVerificationKeysWithoutCredentials(t *testing.T) {
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
	cfg.PrivateKey = config.Secret{}
	keys, err := payclient.VerificationKeys(cfg, nil, payclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := keys.(*wechatpay.CertificateManager); ok {
		t.Fatal("keys are a CertificateManager without credentials to download with: want the configured keys")
	}
	if _, err := keys.PublicKey(context.Background(), id.PlatformPublicKeyID); err != nil {
		t.Fatal(err)
	}
	cfg.PlatformCert, cfg.PlatformPublicKey, cfg.PlatformPublicKeyID = nil, nil, ""
	if _, err := payclient.VerificationKeys(cfg, nil, payclient.Options{}); err == nil {
		t.Fatal("no credentials and no platform keys: accepted")
	}
}

// The downloader's merchant key is parsed at its first download, not at construction:
// a key that does not parse costs a verifier whose configured keys cover every serial
// nothing, and fails the first download naming the key and where it came from.
func TestVerificationKeysParseTheMerchantKeyAtTheFirstDownload(t *testing.T) {
	dir := t.TempDir()
	id, err := keysdir.Generate()
	if err != nil {
		t.Fatal(err)
	}
	if err := id.Save(dir); err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { calls.Add(1) }))
	defer api.Close()
	cfg, err := config.FromKeysDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg.PlatformCert, cfg.APIBase = nil, api.URL
	// A PEM block that is no key, made here so that no key-shaped text sits in the source.
	cfg.PrivateKey = config.NewSecret(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("not a key")}))
	cfg.Sources["PrivateKey"] = "test"
	bolt, err := boltstore.Open(filepath.Join(dir, "keys.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer bolt.Close()

	keys, err := payclient.VerificationKeys(cfg, bolt, payclient.Options{})
	if err != nil {
		t.Fatalf("a malformed merchant key failed construction: %v", err)
	}
	ctx := context.Background()
	if _, err := keys.PublicKey(ctx, id.PlatformPublicKeyID); err != nil {
		t.Fatalf("configured public key: %v", err)
	}
	_, err = keys.PublicKey(ctx, id.PlatformSerial())
	if err == nil || !strings.Contains(err.Error(), "merchant private key (test)") || calls.Load() != 0 {
		t.Fatalf("first download with a malformed key: %v (%d API calls), want the key named and no call", err, calls.Load())
	}
}

// A client that signs checks its merchant key at construction — a cold start with no
// key, another file, or a damaged paste stops there, naming the setting — and parses
// it at its first signature (the parse's arithmetic is a tenth of a cold start).
func TestNewChecksTheMerchantKeyAtStartAndParsesItAtTheFirstSignature(t *testing.T) {
	dir := t.TempDir()
	id, err := keysdir.Generate()
	if err != nil {
		t.Fatal(err)
	}
	if err := id.Save(dir); err != nil {
		t.Fatal(err)
	}
	good, err := config.FromKeysDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := string(good.PrivateKey.Reveal())
	lines := strings.Split(strings.TrimSpace(pemKey), "\n")
	for name, key := range map[string]string{
		"missing":     "",
		"certificate": string(good.MerchantCert),
		"half cut":    strings.Join(append(lines[:len(lines)/2:len(lines)/2], lines[len(lines)-1]), "\n"),
		"not PEM":     "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC",
	} {
		cfg := good
		cfg.Sources = map[string]string{"PrivateKey": config.EnvPrivateKey}
		cfg.PrivateKey = config.NewSecret([]byte(key))
		if key == "" {
			cfg.PrivateKey = config.Secret{}
		}
		if _, err := payclient.New(cfg, nil, wechatpay.StaticKeys{}, payclient.Options{}); err == nil || !strings.Contains(err.Error(), "PRIVATE_KEY") {
			t.Errorf("%s key: New = %v, want an error at start naming the setting", name, err)
		}
	}

	var auth atomic.Value
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth.Store(r.Header.Get("Authorization"))
		w.WriteHeader(http.StatusNoContent)
	}))
	defer api.Close()
	cfg := good
	cfg.APIBase = api.URL
	c, err := payclient.New(cfg, nil, wechatpay.StaticKeys{}, payclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Signer.Key != nil || c.Signer.LoadKey == nil {
		t.Fatal("the merchant key was parsed at construction")
	}
	_ = c.Close(context.Background(), "startup-check-1") // its answer is unsigned: only the request matters
	if a, _ := auth.Load().(string); !strings.Contains(a, `signature="`) {
		t.Fatalf("first request's Authorization %q: not signed", a)
	}
}
