package wechatpay

import (
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"strings"
)

// ParsePrivateKey reads the merchant API private key (apiclient_key.pem) in PKCS#8
// (PEM type "PRIVATE KEY", what the merchant tool produces) or PKCS#1 (PEM type "RSA PRIVATE
// KEY") PEM form. Errors never quote the key.
func ParsePrivateKey(pemBytes []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, errors.New("wechatpay: private key: no PEM block found (expected the whole contents of apiclient_key.pem, PEM header and footer included)")
	}
	switch block.Type {
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("wechatpay: private key: malformed PKCS#8 block: %w", err)
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("wechatpay: private key: PKCS#8 block holds a %T, WeChat Pay API keys are RSA", k)
		}
		return rk, nil
	case "RSA PRIVATE KEY":
		k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("wechatpay: private key: malformed PKCS#1 block: %w", err)
		}
		return k, nil
	case "CERTIFICATE":
		return nil, errors.New("wechatpay: private key: got a CERTIFICATE (apiclient_cert.pem); the private key is apiclient_key.pem")
	case "PUBLIC KEY":
		return nil, errors.New("wechatpay: private key: got a PUBLIC KEY; the merchant private key is apiclient_key.pem")
	default:
		return nil, fmt.Errorf("wechatpay: private key: unsupported PEM block %q (want PRIVATE KEY or RSA PRIVATE KEY)", block.Type)
	}
}

// CheckPrivateKey reports, in microseconds, whether ParsePrivateKey would accept
// pemBytes as far as the key's shape goes: one PEM block of a private key, PKCS#8
// holding an RSA key or PKCS#1, every number present and positive. It skips what
// makes ParsePrivateKey cost 0.2–0.3 ms — crypto/rsa checking the key's arithmetic
// (p·q = n, d against dP and dQ) and precomputing for signatures — so that a function
// refuses a wrong or damaged key at start-up and parses it at its first signature.
// What it refuses, it refuses with ParsePrivateKey's own error (a shape it does not
// take as given — under 2048 bits, say — is parsed in full); a key whose numbers are
// well-formed but do not agree passes here and fails at its parse.
func CheckPrivateKey(pemBytes []byte) error {
	if block, _ := pem.Decode(pemBytes); block != nil && wellFormedRSAKey(block) {
		return nil
	}
	_, err := ParsePrivateKey(pemBytes)
	return err
}

// oidRSAEncryption is PKCS#8's algorithm identifier of an RSA key (RFC 8017 A.1).
var oidRSAEncryption = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}

// wellFormedRSAKey is CheckPrivateKey's shape check of a decoded block: the
// structures crypto/x509 reads (RFC 5208 PrivateKeyInfo, RFC 8017 RSAPrivateKey),
// read the way it reads them, with no arithmetic.
func wellFormedRSAKey(block *pem.Block) bool {
	der := block.Bytes
	switch block.Type {
	case "PRIVATE KEY":
		var info struct {
			Version    int
			Algo       pkix.AlgorithmIdentifier
			PrivateKey []byte
		}
		if rest, err := asn1.Unmarshal(der, &info); err != nil || len(rest) > 0 || !info.Algo.Algorithm.Equal(oidRSAEncryption) {
			return false
		}
		der = info.PrivateKey
	case "RSA PRIVATE KEY":
	default:
		return false
	}
	var k struct {
		Version          int
		N                *big.Int
		E                int
		D, P, Q          *big.Int
		Dp, Dq, Qinv     *big.Int        `asn1:"optional"`
		AdditionalPrimes []asn1.RawValue `asn1:"optional,omitempty"`
	}
	if rest, err := asn1.Unmarshal(der, &k); err != nil || len(rest) > 0 {
		return false
	}
	positive := func(ns ...*big.Int) bool {
		for _, n := range ns {
			if n == nil || n.Sign() <= 0 {
				return false
			}
		}
		return true
	}
	return k.Version == 0 && len(k.AdditionalPrimes) == 0 && k.E >= 3 && k.E%2 == 1 &&
		k.N.BitLen() >= 2048 && positive(k.N, k.D, k.P, k.Q, k.Dp, k.Dq, k.Qinv)
}

// loadPrivateKeyFile reads and parses a private key file.
func loadPrivateKeyFile(path string) (*rsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("wechatpay: private key: %w", err)
	}
	k, err := ParsePrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("%w (file %s)", err, path)
	}
	return k, nil
}

// ParseCertificate reads one PEM certificate (a merchant apiclient_cert.pem or a
// WeChat Pay platform certificate).
func ParseCertificate(pemBytes []byte) (*x509.Certificate, error) {
	block, err := certificateBlock(pemBytes)
	if err != nil {
		return nil, err
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("wechatpay: certificate: %w", err)
	}
	if _, ok := c.PublicKey.(*rsa.PublicKey); !ok {
		return nil, fmt.Errorf("wechatpay: certificate %s: public key is %T, want RSA", CertificateSerial(c), c.PublicKey)
	}
	return c, nil
}

// certificateBlock is the PEM block ParseCertificate parses, refused with its errors.
func certificateBlock(pemBytes []byte) (*pem.Block, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, errors.New("wechatpay: certificate: no PEM block found")
	}
	if block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("wechatpay: certificate: PEM block is %q, want CERTIFICATE", block.Type)
	}
	return block, nil
}

// CertificateSerial is the serial number as WeChat Pay and its SDKs write it: the
// serial's bytes in upper-case hex (%X), e.g. in serial_no of the Authorization header
// and in Wechatpay-Serial. Formatting the number instead (Text(16)) would drop a
// leading zero nibble and name a different serial. (encoding/hex, not fmt's %X: the
// same text, without fmt's first run in a cold start.)
func CertificateSerial(c *x509.Certificate) string {
	return strings.ToUpper(hex.EncodeToString(c.SerialNumber.Bytes()))
}

// publicKeyBlock is the PEM block ParsePublicKey parses, refused with its errors.
func publicKeyBlock(pemBytes []byte) (*pem.Block, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, errors.New("wechatpay: public key: no PEM block found")
	}
	switch block.Type {
	case "PUBLIC KEY", "RSA PUBLIC KEY", "CERTIFICATE":
		return block, nil
	default:
		return nil, fmt.Errorf("wechatpay: public key: unsupported PEM block %q", block.Type)
	}
}

// ParsePublicKey reads an RSA public key: the WeChat Pay platform public key
// (pub_key.pem, "BEGIN PUBLIC KEY"), a PKCS#1 "BEGIN RSA PUBLIC KEY", or the key inside
// a certificate.
func ParsePublicKey(pemBytes []byte) (*rsa.PublicKey, error) {
	block, err := publicKeyBlock(pemBytes)
	if err != nil {
		return nil, err
	}
	switch block.Type {
	case "RSA PUBLIC KEY":
		k, err := x509.ParsePKCS1PublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("wechatpay: public key: %w", err)
		}
		return k, nil
	case "CERTIFICATE":
		c, err := ParseCertificate(pemBytes)
		if err != nil {
			return nil, err
		}
		return c.PublicKey.(*rsa.PublicKey), nil
	default: // "PUBLIC KEY": publicKeyBlock admits no other type
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("wechatpay: public key: %w", err)
		}
		rk, ok := k.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("wechatpay: public key: got %T, want RSA", k)
		}
		return rk, nil
	}
}

// KeyMatchesCertificate reports whether the private key belongs to the certificate:
// the most common cause of SIGN_ERROR is a key from one application and a serial from
// another.
func KeyMatchesCertificate(k *rsa.PrivateKey, c *x509.Certificate) bool {
	pub, ok := c.PublicKey.(*rsa.PublicKey)
	return ok && pub.Equal(&k.PublicKey)
}

// EncodePrivateKeyPEM writes a key as PKCS#8 PEM, the form WeChat Pay's tool produces.
func EncodePrivateKeyPEM(k *rsa.PrivateKey) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		panic(err) // cannot fail for an RSA key
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// EncodePublicKeyPEM writes a public key in PKIX PEM form, as pub_key.pem is.
func EncodePublicKeyPEM(k *rsa.PublicKey) []byte {
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		panic(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// EncodeCertificatePEM writes a certificate in PEM form.
func EncodeCertificatePEM(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

// APIv3Key is the 32-byte symmetric key set in the merchant platform (账户中心 → API安全
// → 设置APIv3密钥). It decrypts notifications and the platform certificates. It
// redacts itself when formatted or logged.
type APIv3Key struct{ b [32]byte }

// errAPIv3KeyLength is returned by NewAPIv3Key for a key that is not 32 bytes.
var errAPIv3KeyLength = errors.New("wechatpay: the APIv3 key must be exactly 32 bytes (32 ASCII characters as set in 商户平台 → 账户中心 → API安全 → APIv3密钥; it is not the APIv2 key and not the certificate serial)")

// errAPIv3KeyNotSet is returned by NewAPIv3Key for an empty key: the merchant never set
// one (收不到回调 情况一), which is a different fix from a key of the wrong length.
var errAPIv3KeyNotSet = errors.New("wechatpay: APIv3 key is not set (设置APIv3密钥 in 商户平台 → 账户中心 → API安全); v3 notifications cannot be decrypted without it")

// NewAPIv3Key checks and wraps an APIv3 key. Surrounding whitespace (a trailing
// newline from a file or a secret) is removed first, because it is never part of a key.
func NewAPIv3Key(s string) (APIv3Key, error) {
	s = strings.TrimSpace(s)
	var k APIv3Key
	if s == "" {
		return k, errAPIv3KeyNotSet
	}
	if len(s) != 32 {
		return k, fmt.Errorf("%w: got %d bytes", errAPIv3KeyLength, len(s))
	}
	copy(k.b[:], s)
	return k, nil
}

// Bytes returns the raw key. Callers must not log it.
func (k APIv3Key) Bytes() []byte { return k.b[:] }

// IsZero reports whether the key was never set.
func (k APIv3Key) IsZero() bool { return k.b == [32]byte{} }

// String redacts the key.
func (k APIv3Key) String() string { return "APIv3Key(REDACTED)" }

// GoString redacts the key for %#v.
func (k APIv3Key) GoString() string { return k.String() }

// LogValue redacts the key in log/slog output.
func (k APIv3Key) LogValue() slog.Value { return slog.StringValue("REDACTED") }

// MarshalJSON redacts the key from encoding/json output.
func (k APIv3Key) MarshalJSON() ([]byte, error) { return []byte(`"REDACTED"`), nil }
