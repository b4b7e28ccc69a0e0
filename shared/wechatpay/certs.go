package wechatpay

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// certCache persists the downloaded platform certificates between cold starts, so that
// a new function instance verifies without calling /v3/certificates first. The bytes
// are opaque to the cache (concatenated PEM certificates).
type certCache interface {
	LoadCerts(ctx context.Context) ([]byte, error)
	SaveCerts(ctx context.Context, b []byte) error
}

// memoryCertCache is a certCache in process memory, for tests and single processes.
type memoryCertCache struct {
	mu sync.Mutex
	b  []byte
}

// LoadCerts implements certCache.
func (m *memoryCertCache) LoadCerts(context.Context) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return bytes.Clone(m.b), nil
}

// SaveCerts implements certCache.
func (m *memoryCertCache) SaveCerts(_ context.Context, b []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.b = bytes.Clone(b)
	return nil
}

// configuredKeys resolves the platform keys a merchant configured: the platform public
// key (pub_key.pem) under its PUB_KEY_ID_… id, and a platform certificate under its
// serial (matched case-insensitively, as hex). NewConfiguredKeys checks their PEM
// blocks, so a wrong or damaged file stops a start; each key is parsed at its first
// lookup — the certificate with its serial, whatever Wechatpay-Serial asks for first
// that is not a public-key id. A cold start thus skips the x509 parses (about 40 µs,
// their code's first run), and a key nothing names (a certificate kept beside the
// public key while migrating to it) is never parsed. DER that does not parse inside a
// sound PEM block fails every lookup that needs that key — for a certificate, whose
// serial it holds, every lookup of a certificate serial — with an error matching
// ErrConfig that names the key, not ErrUnknownSerial, so no download hides it.
type configuredKeys struct {
	publicKeyID string
	publicKey   func() (*rsa.PublicKey, error)    // nil: none configured
	certificate func() (*x509.Certificate, error) // nil: none configured
}

// NewConfiguredKeys checks the configured keys' PEM — certPEM as ParseCertificate
// reads it, publicKeyPEM as ParsePublicKey does — and returns them to be parsed at
// first use (configuredKeys). Either may be empty (not configured); the caller checks
// publicKeyID, and that there is a key at all.
func NewConfiguredKeys(certPEM, publicKeyPEM []byte, publicKeyID string) (KeyResolver, error) {
	k := &configuredKeys{publicKeyID: publicKeyID}
	if len(certPEM) > 0 {
		if _, err := certificateBlock(certPEM); err != nil {
			return nil, err
		}
		k.certificate = sync.OnceValues(func() (*x509.Certificate, error) {
			c, err := ParseCertificate(certPEM)
			if err != nil {
				return nil, fmt.Errorf("%w: the configured platform certificate: %w", ErrConfig, err)
			}
			return c, nil
		})
	}
	if len(publicKeyPEM) > 0 {
		if _, err := publicKeyBlock(publicKeyPEM); err != nil {
			return nil, err
		}
		k.publicKey = sync.OnceValues(func() (*rsa.PublicKey, error) {
			pub, err := ParsePublicKey(publicKeyPEM)
			if err != nil {
				return nil, fmt.Errorf("%w: the configured platform public key %s: %w", ErrConfig, publicKeyID, err)
			}
			return pub, nil
		})
	}
	return k, nil
}

// empty reports whether no key is configured.
func (k *configuredKeys) empty() bool {
	return k == nil || (k.publicKey == nil && k.certificate == nil)
}

// PublicKey implements KeyResolver.
func (k *configuredKeys) PublicKey(_ context.Context, serial string) (*rsa.PublicKey, error) {
	upper := strings.ToUpper(serial)
	switch {
	case k.empty():
	case k.publicKey != nil && (serial == k.publicKeyID || upper == k.publicKeyID):
		return k.publicKey()
	case k.certificate != nil && !strings.HasPrefix(upper, PublicKeyIDPrefix):
		c, err := k.certificate()
		if err != nil {
			return nil, err
		}
		if CertificateSerial(c) == upper {
			return c.PublicKey.(*rsa.PublicKey), nil // ParseCertificate admits RSA keys only
		}
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownSerial, serial)
}

// defaultRefreshInterval is the least time between two downloads of /v3/certificates
// that were triggered by unknown serials.
const defaultRefreshInterval = time.Minute

// renewBefore: when the newest certificate expires within this, the next lookup
// refreshes, so that the successor is known before WeChat Pay switches to it.
const renewBefore = 24 * time.Hour

// CertificateManager resolves Wechatpay-Serial values (KeyResolver): the configured
// keys first (the platform public key under its PUB_KEY_ID_…, a configured platform
// certificate), then platform certificates, which it downloads from /v3/certificates
// lazily — on the first lookup when the cache is empty, on an unknown serial, and when
// the newest certificate expires within 24 h — never in the background, because
// serverless runtimes freeze idle goroutines. Only one download runs at a time;
// concurrent lookups wait for it and share its result. It is the whole key set of a
// Verifier: one lookup, no resolver wrapped around another.
type CertificateManager struct {
	// Client downloads the certificates. Its Verifier may resolve through this manager:
	// the download is verified here, not by the client.
	Client *Client
	// AEAD decrypts encrypt_certificate with the APIv3 key.
	AEAD *AEAD
	// Cache, optional, persists the certificates.
	Cache certCache
	// Configured, optional, holds the keys the merchant configured (NewConfiguredKeys).
	// They resolve before any certificate (a configured serial never costs a store
	// read), and they verify the download when WeChat Pay signs it with a key that is
	// not among the certificates (platform public-key mode, during the migration to
	// it). A configured key that does not parse fails its lookups: no download is
	// tried in its place.
	Configured KeyResolver
	// MinInterval is the least time between downloads caused by unknown serials
	// (default defaultRefreshInterval): a flood of forged serials costs at most one
	// download per interval.
	MinInterval time.Duration
	// Now defaults to the client's clock.
	Now func() time.Time

	dl sync.Mutex // held for the whole download: one at a time

	mu        sync.Mutex
	certs     map[string]*x509.Certificate // by upper-case serial
	loaded    bool                         // the cache was consulted
	gen       uint64                       // incremented by each completed download attempt
	lastTry   time.Time                    // last download attempt
	downloads int                          // completed download attempts, for tests and metrics
}

// NewCertificateManager builds a manager downloading with c and decrypting with aead.
func NewCertificateManager(c *Client, aead *AEAD, cache certCache) *CertificateManager {
	return &CertificateManager{Client: c, AEAD: aead, Cache: cache}
}

func (m *CertificateManager) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	if m.Client != nil {
		return m.Client.now()
	}
	return time.Now()
}

func (m *CertificateManager) interval() time.Duration {
	if m.MinInterval > 0 {
		return m.MinInterval
	}
	return defaultRefreshInterval
}

// PublicKey implements KeyResolver.
func (m *CertificateManager) PublicKey(ctx context.Context, serial string) (*rsa.PublicKey, error) {
	if m.Configured != nil {
		k, err := m.Configured.PublicKey(ctx, serial)
		if err == nil {
			return k, nil
		}
		if !errors.Is(err, ErrUnknownSerial) {
			return nil, err
		}
	}
	serial = strings.ToUpper(strings.TrimSpace(serial))
	if strings.HasPrefix(serial, PublicKeyIDPrefix) {
		// /v3/certificates never lists public keys: downloading cannot help.
		return nil, fmt.Errorf("%w: %s is a platform public-key id that is not configured; configure the platform public key (pub_key.pem) with its id (商户平台 → API安全 → 微信支付公钥)", ErrUnknownSerial, serial)
	}
	m.loadCache(ctx)

	m.mu.Lock()
	c, ok := m.certs[serial]
	gen := m.gen
	renew := ok && m.expiringLocked() && m.now().Sub(m.lastTry) >= m.interval()
	mayTry := m.gen == 0 || m.now().Sub(m.lastTry) >= m.interval()
	m.mu.Unlock()

	if ok {
		if renew {
			_ = m.refresh(ctx, gen) // best effort: the key we have is still valid
		}
		return c.PublicKey.(*rsa.PublicKey), nil
	}
	if !mayTry {
		return nil, fmt.Errorf("%w: %s (certificates were refreshed less than %s ago)", ErrUnknownSerial, serial, m.interval())
	}
	if err := m.refresh(ctx, gen); err != nil {
		return nil, fmt.Errorf("%w: %s, and downloading the platform certificates failed: %w", ErrUnknownSerial, serial, err)
	}
	m.mu.Lock()
	c, ok = m.certs[serial]
	m.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("%w: %s is not among the platform certificates WeChat Pay lists for this merchant (a forged notification, or one meant for another mchid)", ErrUnknownSerial, serial)
	}
	return c.PublicKey.(*rsa.PublicKey), nil
}

// Newest returns the platform certificate that expires last, the one to encrypt
// sensitive fields with (RSA-OAEP) and to name in Wechatpay-Serial. It downloads the
// certificates if none are known yet.
func (m *CertificateManager) Newest(ctx context.Context) (*x509.Certificate, error) {
	m.loadCache(ctx)
	m.mu.Lock()
	n, gen := m.newestLocked(), m.gen
	m.mu.Unlock()
	if n == nil {
		if err := m.refresh(ctx, gen); err != nil {
			return nil, err
		}
		m.mu.Lock()
		n = m.newestLocked()
		m.mu.Unlock()
		if n == nil {
			return nil, errors.New("wechatpay: /v3/certificates listed no valid certificate")
		}
	}
	return n, nil
}

// Refresh downloads the certificates now, regardless of the interval (for `wxpay
// doctor` and jobs that want a fresh view).
func (m *CertificateManager) Refresh(ctx context.Context) error {
	m.mu.Lock()
	gen := m.gen
	m.mu.Unlock()
	return m.refresh(ctx, gen)
}

// Downloads reports how many downloads were attempted.
func (m *CertificateManager) Downloads() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.downloads
}

func (m *CertificateManager) newestLocked() *x509.Certificate {
	var n *x509.Certificate
	for _, c := range m.certs {
		if n == nil || c.NotAfter.After(n.NotAfter) {
			n = c
		}
	}
	return n
}

func (m *CertificateManager) expiringLocked() bool {
	n := m.newestLocked()
	return n != nil && n.NotAfter.Sub(m.now()) < renewBefore
}

// loadCache reads the cache once. A cache failure is not fatal: the download path
// still works, only slower.
func (m *CertificateManager) loadCache(ctx context.Context) {
	m.mu.Lock()
	if m.loaded {
		m.mu.Unlock()
		return
	}
	m.loaded = true
	m.mu.Unlock()
	if m.Cache == nil {
		return
	}
	b, err := m.Cache.LoadCerts(ctx)
	if err != nil || len(b) == 0 {
		return
	}
	certs := map[string]*x509.Certificate{}
	now := m.now()
	for rest := b; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil || now.After(c.NotAfter) {
			continue
		}
		if _, ok := c.PublicKey.(*rsa.PublicKey); ok {
			certs[CertificateSerial(c)] = c
		}
	}
	m.mu.Lock()
	if m.certs == nil {
		m.certs = certs
	}
	m.mu.Unlock()
}

// refresh downloads unless a download completed since the caller read gen (then the
// caller just looks again): concurrent misses cause a single download.
func (m *CertificateManager) refresh(ctx context.Context, gen uint64) error {
	m.dl.Lock()
	defer m.dl.Unlock()
	m.mu.Lock()
	if m.gen != gen {
		m.mu.Unlock()
		return nil
	}
	m.lastTry = m.now()
	m.mu.Unlock()

	certs, err := m.download(ctx)

	m.mu.Lock()
	m.gen++
	m.downloads++
	if err == nil {
		m.certs = certs
	}
	m.mu.Unlock()
	if err != nil {
		return err
	}
	if m.Cache != nil {
		var buf bytes.Buffer
		for _, c := range certs {
			buf.Write(EncodeCertificatePEM(c))
		}
		// A failed save only costs the next cold start a download.
		_ = m.Cache.SaveCerts(ctx, buf.Bytes())
	}
	return nil
}

// ErrCertificateDownload is matched by errors of a /v3/certificates answer that is
// inconsistent or cannot be trusted.
var ErrCertificateDownload = errors.New("wechatpay: platform certificates")

func (m *CertificateManager) download(ctx context.Context) (map[string]*x509.Certificate, error) {
	if m.Client == nil || m.AEAD == nil {
		return nil, fmt.Errorf("%w: CertificateManager needs a Client and the APIv3 key AEAD", ErrConfig)
	}
	cl := call{method: http.MethodGet, path: "/v3/certificates", selfVerified: true}
	r, err := m.Client.roundTrip(ctx, cl)
	if err != nil {
		return nil, err
	}
	if r.status != http.StatusOK {
		// Not through the client's Verifier: it may resolve through this manager, whose
		// download lock we hold.
		return nil, decodeAPIError(r.status, r.header, r.body)
	}
	var pc PlatformCertificates
	if err := json.Unmarshal(r.body, &pc); err != nil {
		return nil, fmt.Errorf("%w: decoding /v3/certificates: %v", ErrCertificateDownload, err)
	}
	now := m.now()
	certs := make(map[string]*x509.Certificate, len(pc.Data))
	for _, d := range pc.Data {
		ec := d.EncryptCertificate
		if ec.Algorithm != AlgorithmAEAD {
			return nil, fmt.Errorf("%w: certificate %s uses algorithm %q, want %s", ErrCertificateDownload, d.SerialNo, ec.Algorithm, AlgorithmAEAD)
		}
		// The AEAD tag authenticates each certificate under the APIv3 key: only WeChat
		// Pay (and this merchant) can produce it. That is what makes trusting a
		// certificate from the very answer it signs sound.
		p, err := m.AEAD.Open(ec.Nonce, ec.AssociatedData, ec.Ciphertext)
		if err != nil {
			return nil, fmt.Errorf("%w: decrypting certificate %s: %w", ErrCertificateDownload, d.SerialNo, err)
		}
		c, err := ParseCertificate(p)
		if err != nil {
			return nil, fmt.Errorf("%w: certificate %s: %w", ErrCertificateDownload, d.SerialNo, err)
		}
		if got := CertificateSerial(c); got != strings.ToUpper(d.SerialNo) {
			return nil, fmt.Errorf("%w: serial_no %s does not match the decrypted certificate's serial %s", ErrCertificateDownload, d.SerialNo, got)
		}
		if now.After(c.NotAfter) {
			continue // expired: useless for verifying
		}
		certs[CertificateSerial(c)] = c
	}
	if err := m.verifyDownload(ctx, r, certs); err != nil {
		return nil, err
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("%w: /v3/certificates listed no unexpired certificate", ErrCertificateDownload)
	}
	return certs, nil
}

// verifyDownload checks the answer's signature: with the certificate it contains
// whose serial is Wechatpay-Serial, else with the bootstrap keys (public-key mode),
// else with a certificate already known.
func (m *CertificateManager) verifyDownload(ctx context.Context, r *response, fresh map[string]*x509.Certificate) error {
	h := HeadersFrom(r.header)
	serial := strings.ToUpper(h.Serial)
	resolvers := keyResolverFunc(func(ctx context.Context, s string) (*rsa.PublicKey, error) {
		if c, ok := fresh[serial]; ok {
			return c.PublicKey.(*rsa.PublicKey), nil
		}
		if m.Configured != nil {
			k, err := m.Configured.PublicKey(ctx, h.Serial)
			if err == nil {
				return k, nil
			}
			if !errors.Is(err, ErrUnknownSerial) {
				return nil, err
			}
		}
		m.mu.Lock()
		c, ok := m.certs[serial]
		m.mu.Unlock()
		if ok {
			return c.PublicKey.(*rsa.PublicKey), nil
		}
		return nil, fmt.Errorf("%w: %s signed /v3/certificates but is neither among its certificates nor a configured key", ErrUnknownSerial, h.Serial)
	})
	v := Verifier{Keys: resolvers, Now: m.now}
	if m.Client.Verifier != nil {
		v.Tolerance = m.Client.Verifier.Tolerance
	}
	if err := v.Verify(ctx, h, r.body); err != nil {
		return fmt.Errorf("%w: /v3/certificates answer rejected: %w", ErrCertificateDownload, err)
	}
	return nil
}

type keyResolverFunc func(ctx context.Context, serial string) (*rsa.PublicKey, error)

func (f keyResolverFunc) PublicKey(ctx context.Context, serial string) (*rsa.PublicKey, error) {
	return f(ctx, serial)
}
