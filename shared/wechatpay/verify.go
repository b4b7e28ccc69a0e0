package wechatpay

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Headers WeChat Pay sets on signed responses and notifications.
const (
	headerTimestamp     = "Wechatpay-Timestamp"
	HeaderNonce         = "Wechatpay-Nonce"
	HeaderSignature     = "Wechatpay-Signature"
	HeaderSerial        = "Wechatpay-Serial"
	headerSignatureType = "Wechatpay-Signature-Type"
	HeaderRequestID     = "Request-ID"
)

// PublicKeyIDPrefix starts the Wechatpay-Serial of platform public-key mode
// (微信支付公钥, given to merchants since late 2024 instead of platform certificates).
const PublicKeyIDPrefix = "PUB_KEY_ID_"

// SignTestPrefix starts the signature of WeChat Pay's signature-probe notifications,
// sent to check that a merchant really verifies signatures. They must fail.
const SignTestPrefix = "WECHATPAY/SIGNTEST/"

// defaultTolerance is how far Wechatpay-Timestamp may be from the local clock.
const defaultTolerance = 5 * time.Minute

// Verification errors. Each error returned by Verifier.Verify matches exactly one.
var (
	errMissingSignature = errors.New("wechatpay: response or notification is not signed (missing Wechatpay-Timestamp/Nonce/Signature/Serial headers)")
	ErrSignatureProbe   = errors.New("wechatpay: signature is a WECHATPAY/SIGNTEST/ probe and must be rejected")
	ErrTimestampSkew    = errors.New("wechatpay: Wechatpay-Timestamp is too far from local time (more than 5 minutes: check the server clock, or this is a replay)")
	ErrUnknownSerial    = errors.New("wechatpay: Wechatpay-Serial matches no known platform certificate or public key")
)

// SignatureHeaders are the Wechatpay-* headers of one response or notification.
type SignatureHeaders struct {
	Timestamp string
	Nonce     string
	Signature string
	Serial    string
}

// HeadersFrom extracts the signature headers from an http.Header.
func HeadersFrom(h http.Header) SignatureHeaders {
	return SignatureHeaders{
		Timestamp: h.Get(headerTimestamp),
		Nonce:     h.Get(HeaderNonce),
		Signature: h.Get(HeaderSignature),
		Serial:    h.Get(HeaderSerial),
	}
}

// KeyResolver finds the platform public key for a Wechatpay-Serial value: a
// platform-certificate serial or a PUB_KEY_ID_… id. It returns an error matching
// ErrUnknownSerial when it has none (after refreshing, if it can refresh).
type KeyResolver interface {
	PublicKey(ctx context.Context, serial string) (*rsa.PublicKey, error)
}

// StaticKeys resolves serials from a fixed map: the platform public key under its
// PUB_KEY_ID_… id, and/or platform certificates under their serials. Serials are
// matched case-insensitively for certificates (hex), exactly for public-key ids.
type StaticKeys map[string]*rsa.PublicKey

// PublicKey implements KeyResolver.
func (s StaticKeys) PublicKey(_ context.Context, serial string) (*rsa.PublicKey, error) {
	if k, ok := s[serial]; ok {
		return k, nil
	}
	if k, ok := s[strings.ToUpper(serial)]; ok {
		return k, nil
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownSerial, serial)
}

// Verifier checks WeChat Pay's signature on responses and notifications.
type Verifier struct {
	Keys KeyResolver
	// Tolerance defaults to defaultTolerance.
	Tolerance time.Duration
	// Now defaults to time.Now.
	Now func() time.Time
}

// Verify checks the signature of body under h. It rejects, in this order: missing
// headers, SIGNTEST probes, timestamps outside the tolerance, unknown serials and bad
// signatures. The body must be the raw bytes received, never re-marshalled JSON.
func (v *Verifier) Verify(ctx context.Context, h SignatureHeaders, body []byte) error {
	if h.Timestamp == "" || h.Nonce == "" || h.Signature == "" || h.Serial == "" {
		return errMissingSignature
	}
	if strings.HasPrefix(h.Signature, SignTestPrefix) {
		return ErrSignatureProbe
	}
	ts, err := strconv.ParseInt(h.Timestamp, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %q is not Unix seconds", ErrTimestampSkew, h.Timestamp)
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	tol := v.Tolerance
	if tol == 0 {
		tol = defaultTolerance
	}
	// Compare without subtracting ts: a hostile timestamp near MinInt64 would overflow.
	n, t := now().Unix(), int64(tol/time.Second)
	if ts < n-t || ts > n+t {
		return fmt.Errorf("%w: Wechatpay-Timestamp %d, local clock %d", ErrTimestampSkew, ts, n)
	}
	if v.Keys == nil {
		return fmt.Errorf("%w: Verifier.Keys is nil (configure the platform public key or certificates)", ErrConfig)
	}
	pub, err := v.Keys.PublicKey(ctx, h.Serial)
	if err != nil {
		return err
	}
	if err := verifyResponse(pub, h.Timestamp, h.Nonce, body, h.Signature); err != nil {
		return fmt.Errorf("%w (Wechatpay-Serial %s)", err, h.Serial)
	}
	return nil
}

// PlatformSigner signs as WeChat Pay does: responses and notifications. It is what the
// simulator and `wxpay trigger` use, and what tests use to make genuine notifications.
type PlatformSigner struct {
	// Serial is the platform certificate serial or the PUB_KEY_ID_… id put in
	// Wechatpay-Serial.
	Serial string
	Key    *rsa.PrivateKey
	Now    func() time.Time
}

// String keeps the platform private key out of formatted output.
func (p PlatformSigner) String() string {
	return "PlatformSigner{Serial:" + p.Serial + " Key:REDACTED}"
}

// GoString redacts the key for %#v.
func (p PlatformSigner) GoString() string { return p.String() }

// LogValue redacts the key in log/slog output.
func (p PlatformSigner) LogValue() slog.Value {
	return slog.GroupValue(slog.String("serial", p.Serial), slog.String("key", "REDACTED"))
}

// MarshalJSON redacts the key from encoding/json output.
func (p PlatformSigner) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{"serial": p.Serial, "key": "REDACTED"})
}

// Sign returns the Wechatpay-* headers for body.
func (p *PlatformSigner) Sign(body []byte) (SignatureHeaders, error) {
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	nonce, err := newNonce(nil)
	if err != nil {
		return SignatureHeaders{}, err
	}
	ts := strconv.FormatInt(now().Unix(), 10)
	sig, err := SignMessage(p.Key, responseMessage(ts, nonce, body))
	if err != nil {
		return SignatureHeaders{}, err
	}
	return SignatureHeaders{Timestamp: ts, Nonce: nonce, Signature: sig, Serial: p.Serial}, nil
}

// Apply sets the headers on an http.Header.
func (h SignatureHeaders) Apply(dst http.Header) {
	dst.Set(headerTimestamp, h.Timestamp)
	dst.Set(HeaderNonce, h.Nonce)
	dst.Set(HeaderSignature, h.Signature)
	dst.Set(HeaderSerial, h.Serial)
	dst.Set(headerSignatureType, AuthScheme)
}
