package wechatpay

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type certEntry struct {
	cert     *x509.Certificate
	serialNo string // defaults to the certificate's serial
}

// certificatesBody builds a /v3/certificates answer.
func certificatesBody(t *testing.T, a *AEAD, entries ...certEntry) string {
	t.Helper()
	var pc PlatformCertificates
	for i, e := range entries {
		nonce := []string{"7b4ac4b2c5d1", "a1b2c3d4e5f6", "z9y8x7w6v5u4"}[i%3]
		ct, err := a.Seal(nonce, "certificate", EncodeCertificatePEM(e.cert))
		if err != nil {
			t.Fatal(err)
		}
		sn := e.serialNo
		if sn == "" {
			sn = CertificateSerial(e.cert)
		}
		pc.Data = append(pc.Data, PlatformCertificate{SerialNo: sn, EffectiveTime: e.cert.NotBefore.Format(time.RFC3339),
			ExpireTime:         e.cert.NotAfter.Format(time.RFC3339),
			EncryptCertificate: EncryptedResource{Algorithm: AlgorithmAEAD, Nonce: nonce, AssociatedData: "certificate", Ciphertext: ct}})
	}
	b, _ := json.Marshal(pc)
	return string(b)
}

type certFixture struct {
	f        *fakeWX
	c        *Client
	m        *CertificateManager
	cache    *memoryCertCache
	certA    *x509.Certificate // the fixture platform key's certificate
	certB    *x509.Certificate // a second platform certificate
	keyB     *rsa.PrivateKey
	now      time.Time
	mu       sync.Mutex
	body     string
	hits     atomic.Int32
	delay    time.Duration
	signWith *PlatformSigner // nil: the fixture platform cert
}

func newCertFixture(t *testing.T) *certFixture {
	t.Helper()
	x := &certFixture{now: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC), cache: &memoryCertCache{}}
	_, x.keyB = generatedKeys(t)
	x.certA = makeCert(t, platformKey(t), fixturePlatformSer, x.now.AddDate(-1, 0, 0), x.now.AddDate(4, 0, 0))
	x.certB = makeCert(t, x.keyB, "7E1C5A3D2B4F6E8D0A1B2C3D4E5F60718293A4B5", x.now.AddDate(0, -1, 0), x.now.AddDate(5, 0, 0))
	a := testAEAD(t)
	x.body = certificatesBody(t, a, certEntry{cert: x.certA})
	x.f = newFakeWX(t, func(r *http.Request, _ []byte) reply {
		if r.URL.Path != "/v3/certificates" {
			return reply{body: `{"out_trade_no":"123456","trade_state":"SUCCESS"}`}
		}
		x.hits.Add(1)
		x.mu.Lock()
		defer x.mu.Unlock()
		return reply{body: x.body, delay: x.delay}
	})
	x.f.signer.Now = func() time.Time { return x.clock() }
	x.c, _ = x.f.client()
	x.c.Now = x.clock
	x.m = NewCertificateManager(x.c, a, x.cache)
	x.c.Verifier = &Verifier{Keys: x.m, Now: x.clock}
	return x
}

func (x *certFixture) clock() time.Time {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.now
}

func (x *certFixture) advance(d time.Duration) {
	x.mu.Lock()
	x.now = x.now.Add(d)
	x.mu.Unlock()
}

func (x *certFixture) setBody(b string) {
	x.mu.Lock()
	x.body = b
	x.mu.Unlock()
}

func TestCertificateManagerDownloadsOnceAndCaches(t *testing.T) {
	x := newCertFixture(t)
	ctx := context.Background()
	// A normal API call whose answer is signed by a not-yet-known certificate: the
	// manager downloads the certificates, then the answer verifies.
	if _, err := x.c.QueryByOutTradeNo(ctx, "123456"); err != nil {
		t.Fatal(err)
	}
	if _, err := x.c.QueryByOutTradeNo(ctx, "123456"); err != nil {
		t.Fatal(err)
	}
	if x.hits.Load() != 1 || x.m.Downloads() != 1 {
		t.Fatalf("%d downloads, want 1", x.hits.Load())
	}
	// The cache lets a cold start skip the download.
	saved, _ := x.cache.LoadCerts(ctx)
	if !strings.Contains(string(saved), "BEGIN CERTIFICATE") {
		t.Fatal("certificates not saved")
	}
	m2 := NewCertificateManager(x.c, testAEAD(t), x.cache)
	m2.Now = x.clock
	if _, err := m2.PublicKey(ctx, strings.ToLower(fixturePlatformSer)); err != nil {
		t.Fatal(err)
	}
	if x.hits.Load() != 1 {
		t.Fatal("cold start with a cache downloaded anyway")
	}
	n, err := x.m.Newest(ctx)
	if err != nil || CertificateSerial(n) != fixturePlatformSer {
		t.Fatalf("newest: %v", err)
	}
}

func TestCertificateManagerUnknownSerialRateLimited(t *testing.T) {
	x := newCertFixture(t)
	ctx := context.Background()
	if _, err := x.m.PublicKey(ctx, fixturePlatformSer); err != nil {
		t.Fatal(err)
	}
	_, err := x.m.PublicKey(ctx, "0BADC0DE")
	if !errors.Is(err, ErrUnknownSerial) {
		t.Fatalf("err = %v", err)
	}
	if x.hits.Load() != 1 {
		t.Fatal("within the interval an unknown serial must not download again")
	}
	// A flood of forged serials costs nothing more within the interval.
	for i := 0; i < 50; i++ {
		x.m.PublicKey(ctx, "F0F0"+strings.Repeat("A", i%7))
	}
	if x.hits.Load() != 1 {
		t.Fatalf("%d downloads under a forged-serial flood", x.hits.Load())
	}
	// After the interval, a new serial (certificate rotation) triggers one refresh.
	x.setBody(certificatesBody(t, testAEAD(t), certEntry{cert: x.certA}, certEntry{cert: x.certB}))
	x.advance(defaultRefreshInterval)
	if _, err := x.m.PublicKey(ctx, CertificateSerial(x.certB)); err != nil {
		t.Fatal(err)
	}
	if x.hits.Load() != 2 {
		t.Fatalf("%d downloads, want 2", x.hits.Load())
	}
	// Still unknown after the refresh → ErrUnknownSerial with a clear message.
	x.advance(defaultRefreshInterval)
	_, err = x.m.PublicKey(ctx, "0BADC0DE")
	if !errors.Is(err, ErrUnknownSerial) || !strings.Contains(err.Error(), "not among") || x.hits.Load() != 3 {
		t.Fatalf("err = %v, downloads %d", err, x.hits.Load())
	}
	// PUB_KEY_ID serials never trigger a download.
	x.advance(defaultRefreshInterval)
	if _, err := x.m.PublicKey(ctx, fixturePublicKeyID); !errors.Is(err, ErrUnknownSerial) || x.hits.Load() != 3 {
		t.Fatalf("public key id: %v", err)
	}
}

func TestCertificateManagerOneDownloadAtATime(t *testing.T) {
	x := newCertFixture(t)
	x.delay = 150 * time.Millisecond
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := x.m.PublicKey(ctx, fixturePlatformSer)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if x.hits.Load() != 1 {
		t.Fatalf("%d concurrent downloads, want 1", x.hits.Load())
	}
}

func TestCertificateManagerRenewsBeforeExpiry(t *testing.T) {
	x := newCertFixture(t)
	ctx := context.Background()
	x.setBody(certificatesBody(t, testAEAD(t), certEntry{cert: makeCert(t, platformKey(t), fixturePlatformSer, x.now.AddDate(-1, 0, 0), x.now.Add(30*time.Hour))}))
	if _, err := x.m.PublicKey(ctx, fixturePlatformSer); err != nil {
		t.Fatal(err)
	}
	x.setBody(certificatesBody(t, testAEAD(t), certEntry{cert: x.certA}, certEntry{cert: x.certB}))
	x.advance(10 * time.Hour) // now expires within 24 h
	if _, err := x.m.PublicKey(ctx, fixturePlatformSer); err != nil {
		t.Fatal(err)
	}
	if x.hits.Load() != 2 {
		t.Fatalf("%d downloads, want a renewal", x.hits.Load())
	}
	if _, err := x.m.PublicKey(ctx, CertificateSerial(x.certB)); err != nil || x.hits.Load() != 2 {
		t.Fatalf("successor not learned by the renewal: %v", err)
	}
}

func TestCertificateManagerRejectsBadDownloads(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name string
		prep func(t *testing.T, x *certFixture)
		want string
	}{
		{"serial_no does not match certificate", func(t *testing.T, x *certFixture) {
			x.setBody(certificatesBody(t, testAEAD(t), certEntry{cert: x.certA, serialNo: "1234"}))
		}, "does not match"},
		{"wrong APIv3 key", func(t *testing.T, x *certFixture) {
			k, _ := NewAPIv3Key(strings.Repeat("q", 32))
			other, _ := NewAEAD(k)
			x.setBody(certificatesBody(t, other, certEntry{cert: x.certA}))
		}, "APIv3 key"},
		{"signed under a serial not in the answer", func(t *testing.T, x *certFixture) {
			x.setBody(certificatesBody(t, testAEAD(t), certEntry{cert: x.certB}))
		}, "neither among its certificates"},
		{"signed with a key other than the named certificate's", func(t *testing.T, x *certFixture) {
			x.f.signer.Key = x.keyB
		}, "signature does not verify"},
		{"expired only", func(t *testing.T, x *certFixture) {
			x.m.Configured = StaticKeys{fixturePlatformSer: &platformKey(t).PublicKey}
			x.setBody(certificatesBody(t, testAEAD(t), certEntry{cert: makeCert(t, platformKey(t), fixturePlatformSer, x.now.AddDate(-2, 0, 0), x.now.AddDate(-1, 0, 0))}))
		}, "no unexpired"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			x := newCertFixture(t)
			c.prep(t, x)
			err := x.m.Refresh(ctx)
			if !errors.Is(err, ErrCertificateDownload) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want ErrCertificateDownload mentioning %q", err, c.want)
			}
		})
	}
	// An error answer is an *APIError, decoded without re-entering the manager
	// (which would deadlock on its own download lock).
	x := newCertFixture(t)
	x.f.setRoute(func(*http.Request, []byte) reply {
		return reply{status: 401, body: `{"code":"SIGN_ERROR","message":"签名错误"}`}
	})
	if err := x.m.Refresh(ctx); !IsCode(err, codeSignError) {
		t.Fatalf("API error: %v", err)
	}
}

func TestCertificateManagerBootstrapWithPublicKey(t *testing.T) {
	x := newCertFixture(t)
	// WeChat Pay signs with the platform public key (PUB_KEY_ID) while still listing
	// certificates, during migration.
	x.f.signer.Serial = fixturePublicKeyID
	x.setBody(certificatesBody(t, testAEAD(t), certEntry{cert: x.certB}))
	if err := x.m.Refresh(context.Background()); !errors.Is(err, ErrCertificateDownload) {
		t.Fatalf("without bootstrap keys: %v", err)
	}
	x.m.Configured = StaticKeys{fixturePublicKeyID: &platformKey(t).PublicKey}
	if err := x.m.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// During the migration to the platform public key WeChat Pay signs with either: one
// manager resolves both kinds of Wechatpay-Serial, configured keys without a download.
func TestManagerResolvesConfiguredKeysAndCertificates(t *testing.T) {
	x := newCertFixture(t)
	keyB := x.keyB
	x.m.Configured = StaticKeys{fixturePublicKeyID: &keyB.PublicKey}
	ctx := context.Background()
	if k, err := x.m.PublicKey(ctx, fixturePublicKeyID); err != nil || !k.Equal(&keyB.PublicKey) || x.m.Downloads() != 0 {
		t.Fatalf("public key id: %v (downloads %d)", err, x.m.Downloads())
	}
	if k, err := x.m.PublicKey(ctx, fixturePlatformSer); err != nil || !k.Equal(&platformKey(t).PublicKey) {
		t.Fatalf("certificate serial: %v", err)
	}
	downloads := x.m.Downloads()
	if _, err := x.m.PublicKey(ctx, "PUB_KEY_ID_OTHER"); !errors.Is(err, ErrUnknownSerial) || !strings.Contains(err.Error(), "pub_key.pem") || x.m.Downloads() != downloads {
		t.Fatalf("other id: %v (a public-key id must never cause a download)", err)
	}
	// Both kinds verify through one Verifier whose Keys is the manager.
	v := &Verifier{Keys: x.m, Now: x.clock}
	for _, ps := range []*PlatformSigner{
		{Serial: fixturePublicKeyID, Key: keyB, Now: x.clock},
		{Serial: fixturePlatformSer, Key: platformKey(t), Now: x.clock},
	} {
		h, _ := ps.Sign([]byte(`{"ok":true}`))
		if err := v.Verify(ctx, h, []byte(`{"ok":true}`)); err != nil {
			t.Fatalf("%s: %v", ps.Serial, err)
		}
	}
}

// Configured keys are checked as PEM at start and parsed at their first lookup: a
// certificate whose DER is damaged inside a sound PEM block passes the start, is never
// parsed while only the public key is asked for, and then fails the lookups that need
// it with ErrConfig — never as an unknown serial, which would start a download in its
// place. A PEM block of the wrong kind stops the start with the parse's own error.
func TestConfiguredKeysParseAtFirstLookup(t *testing.T) {
	x := newCertFixture(t)
	ctx := context.Background()
	pubPEM := EncodePublicKeyPEM(&platformKey(t).PublicKey)
	certPEM := EncodeCertificatePEM(x.certA)

	keys, err := NewConfiguredKeys(certPEM, pubPEM, fixturePublicKeyID)
	if err != nil {
		t.Fatal(err)
	}
	for _, serial := range []string{fixturePublicKeyID, fixturePlatformSer, strings.ToLower(fixturePlatformSer)} {
		if k, err := keys.PublicKey(ctx, serial); err != nil || !k.Equal(&platformKey(t).PublicKey) {
			t.Fatalf("%s: %v", serial, err)
		}
	}
	for _, serial := range []string{"PUB_KEY_ID_OTHER", "7E1C5A3D2B4F6E8D0A1B2C3D4E5F60718293A4B5"} {
		if _, err := keys.PublicKey(ctx, serial); !errors.Is(err, ErrUnknownSerial) {
			t.Fatalf("%s: %v, want ErrUnknownSerial", serial, err)
		}
	}

	block, _ := pem.Decode(certPEM)
	damaged := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: block.Bytes[:len(block.Bytes)/2]})
	keys, err = NewConfiguredKeys(damaged, pubPEM, fixturePublicKeyID)
	if err != nil {
		t.Fatalf("a sound PEM block refused at start: %v", err)
	}
	if _, err := keys.PublicKey(ctx, fixturePublicKeyID); err != nil {
		t.Fatalf("the public key needs no certificate: %v", err)
	}
	if _, err := keys.PublicKey(ctx, fixturePlatformSer); !errors.Is(err, ErrConfig) || errors.Is(err, ErrUnknownSerial) || !strings.Contains(err.Error(), "platform certificate") {
		t.Fatalf("damaged certificate: %v, want ErrConfig naming the platform certificate", err)
	}
	x.m.Configured = keys
	if _, err := x.m.PublicKey(ctx, fixturePlatformSer); !errors.Is(err, ErrConfig) || x.hits.Load() != 0 {
		t.Fatalf("manager: %v after %d downloads, want the configured certificate's ErrConfig and none", err, x.hits.Load())
	}

	privPEM := readFixture(t, "merchant_key.pem")
	for _, c := range []struct {
		name      string
		cert, pub []byte
	}{{"certificate: a private key", privPEM, nil}, {"certificate: no PEM", []byte("MIIE…"), nil}, {"public key: a private key", nil, privPEM}} {
		_, err := NewConfiguredKeys(c.cert, c.pub, fixturePublicKeyID)
		var want error
		if c.cert != nil {
			_, want = ParseCertificate(c.cert)
		} else {
			_, want = ParsePublicKey(c.pub)
		}
		if err == nil || err.Error() != want.Error() {
			t.Errorf("%s: start-up error %v, want the parse's %v", c.name, err, want)
		}
	}
	if !(&configuredKeys{}).empty() || keys.(*configuredKeys).empty() {
		t.Error("empty")
	}
}
