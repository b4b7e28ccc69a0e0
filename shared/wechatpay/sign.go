package wechatpay

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unsafe"
)

// AuthScheme is the scheme of the merchant Authorization header.
const AuthScheme = "WECHATPAY2-SHA256-RSA2048"

// RequestMessage builds the string a merchant signs for a request:
// METHOD\nURL\nTIMESTAMP\nNONCE\nBODY\n, where URL is the absolute path with its query
// string, exactly as sent. An empty body (GET) still ends in "\n".
func RequestMessage(method, pathAndQuery string, timestamp int64, nonce string, body []byte) []byte {
	ts := strconv.FormatInt(timestamp, 10)
	b := make([]byte, 0, len(method)+len(pathAndQuery)+len(ts)+len(nonce)+len(body)+5)
	b = append(b, method...)
	b = append(b, '\n')
	b = append(b, pathAndQuery...)
	b = append(b, '\n')
	b = append(b, ts...)
	b = append(b, '\n')
	b = append(b, nonce...)
	b = append(b, '\n')
	b = append(b, body...)
	b = append(b, '\n')
	return b
}

// responseMessage builds the string WeChat Pay signs for responses and notifications:
// TIMESTAMP\nNONCE\nBODY\n, with TIMESTAMP and NONCE taken verbatim from the
// Wechatpay-Timestamp and Wechatpay-Nonce headers and BODY the raw body bytes.
func responseMessage(timestamp, nonce string, body []byte) []byte {
	b := make([]byte, 0, len(timestamp)+len(nonce)+len(body)+3)
	b = append(b, timestamp...)
	b = append(b, '\n')
	b = append(b, nonce...)
	b = append(b, '\n')
	b = append(b, body...)
	b = append(b, '\n')
	return b
}

// SignMessage signs msg with SHA256withRSA (PKCS#1 v1.5) and returns base64.
func SignMessage(key *rsa.PrivateKey, msg []byte) (string, error) {
	if key == nil {
		return "", errors.New("wechatpay: sign: no merchant private key")
	}
	sum := sha256.Sum256(msg)
	sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, sum[:])
	if err != nil {
		return "", fmt.Errorf("wechatpay: sign: %w", err)
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}

// ErrBadSignature means a signature did not verify against the key it names.
var ErrBadSignature = errors.New("wechatpay: signature does not verify")

// VerifyMessage checks a base64 SHA256withRSA signature over msg.
func VerifyMessage(pub *rsa.PublicKey, msg []byte, signatureB64 string) error {
	sum := sha256.Sum256(msg)
	return verifyDigest(pub, sum[:], signatureB64)
}

// verifyResponse is VerifyMessage(pub, responseMessage(timestamp, nonce, body), sig)
// without building the message: the hash is fed the parts, so a notification body is
// never copied.
func verifyResponse(pub *rsa.PublicKey, timestamp, nonce string, body []byte, signatureB64 string) error {
	h := sha256.New()
	nl := []byte{'\n'}
	io.WriteString(h, timestamp)
	h.Write(nl)
	io.WriteString(h, nonce)
	h.Write(nl)
	h.Write(body)
	h.Write(nl)
	var sum [sha256.Size]byte
	return verifyDigest(pub, h.Sum(sum[:0]), signatureB64)
}

// maxSignatureLen bounds decoded signatures (RSA-4096); WeChat Pay's are 256 bytes.
const maxSignatureLen = 512

func verifyDigest(pub *rsa.PublicKey, digest []byte, signatureB64 string) error {
	// Decode into a stack buffer; the string is only read.
	var buf [maxSignatureLen]byte
	if base64.StdEncoding.DecodedLen(len(signatureB64)) > len(buf) {
		return fmt.Errorf("%w: signature longer than %d bytes", ErrBadSignature, maxSignatureLen)
	}
	n, err := base64.StdEncoding.Decode(buf[:], unsafe.Slice(unsafe.StringData(signatureB64), len(signatureB64)))
	if err != nil {
		return fmt.Errorf("%w: signature is not valid base64", ErrBadSignature)
	}
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest, buf[:n]); err != nil {
		return ErrBadSignature
	}
	return nil
}

// newNonce returns a 32-character random nonce (upper-case hex of 16 bytes from
// crypto/rand), the form WeChat Pay's own SDKs send.
func newNonce(r io.Reader) (string, error) {
	if r == nil {
		r = rand.Reader
	}
	var b [16]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", fmt.Errorf("wechatpay: nonce: %w", err)
	}
	return strings.ToUpper(hex.EncodeToString(b[:])), nil
}

// Signer signs merchant requests. The zero Now and Rand use the real clock and
// crypto/rand; tests inject their own.
type Signer struct {
	MchID  string
	Serial string // the merchant API certificate serial (商户API证书序列号)
	Key    *rsa.PrivateKey
	// LoadKey, when Key is nil, gives the key at each signature (it must be cheap after
	// its first call): a signer that may never sign — notify's certificate downloader,
	// when the platform public key verifies everything — parses no key at cold start.
	LoadKey func() (*rsa.PrivateKey, error)
	Now     func() time.Time
	Rand    io.Reader
}

// hasKey reports whether s can sign: it holds a key or a way to load one.
func (s *Signer) hasKey() bool { return s != nil && (s.Key != nil || s.LoadKey != nil) }

func (s *Signer) key() (*rsa.PrivateKey, error) {
	if s.Key != nil || s.LoadKey == nil {
		return s.Key, nil
	}
	return s.LoadKey()
}

// String keeps the private key out of any formatted output. Value receivers, so that
// a Signer held by value inside a config struct is redacted by %v too.
func (s Signer) String() string {
	return fmt.Sprintf("Signer{MchID:%s Serial:%s Key:REDACTED}", s.MchID, s.Serial)
}

// GoString redacts the key for %#v.
func (s Signer) GoString() string { return s.String() }

// LogValue redacts the key in log/slog output (whose JSON handler would otherwise
// marshal the key's numbers).
func (s Signer) LogValue() slog.Value {
	return slog.GroupValue(slog.String("mchid", s.MchID), slog.String("serial", s.Serial), slog.String("key", "REDACTED"))
}

// MarshalJSON redacts the key from encoding/json output.
func (s Signer) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{"mchid": s.MchID, "serial": s.Serial, "key": "REDACTED"})
}

func (s *Signer) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Authorization returns the Authorization header value for a request. target is the
// request URL's absolute path plus query (u.RequestURI() of the URL actually sent).
func (s *Signer) Authorization(method, target string, body []byte) (string, error) {
	nonce, err := newNonce(s.Rand)
	if err != nil {
		return "", err
	}
	ts := s.now().Unix()
	key, err := s.key()
	if err != nil {
		return "", err
	}
	sig, err := SignMessage(key, RequestMessage(method, target, ts, nonce, body))
	if err != nil {
		return "", err
	}
	return Authorization{MchID: s.MchID, Nonce: nonce, Signature: sig, Timestamp: ts, Serial: s.Serial}.String(), nil
}

// requestTarget is the path-and-query that is signed for u: what goes on the request
// line, escaped exactly as sent.
func requestTarget(u *url.URL) string { return u.RequestURI() }

// Authorization is the parsed merchant Authorization header.
type Authorization struct {
	MchID     string
	Nonce     string
	Signature string
	Timestamp int64
	Serial    string
}

// String formats the header value in WeChat Pay's order.
func (a Authorization) String() string {
	return AuthScheme + ` mchid="` + a.MchID + `",nonce_str="` + a.Nonce + `",signature="` + a.Signature +
		`",timestamp="` + strconv.FormatInt(a.Timestamp, 10) + `",serial_no="` + a.Serial + `"`
}

// errMalformedAuthorization is matched by every ParseAuthorization error.
var errMalformedAuthorization = errors.New("wechatpay: malformed Authorization header")

// ParseAuthorization parses `WECHATPAY2-SHA256-RSA2048 k="v",…` in any key order.
// Every one of mchid, nonce_str, signature, timestamp and serial_no must appear once.
func ParseAuthorization(h string) (Authorization, error) {
	var a Authorization
	scheme, rest, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || scheme != AuthScheme {
		return a, fmt.Errorf("%w: scheme must be %s", errMalformedAuthorization, AuthScheme)
	}
	seen := 0
	for rest = strings.TrimSpace(rest); rest != ""; {
		eq := strings.IndexByte(rest, '=')
		if eq <= 0 {
			return a, fmt.Errorf("%w: expected key=\"value\"", errMalformedAuthorization)
		}
		k := strings.TrimSpace(rest[:eq])
		rest = rest[eq+1:]
		if len(rest) == 0 || rest[0] != '"' {
			return a, fmt.Errorf("%w: value of %s must be quoted", errMalformedAuthorization, k)
		}
		end := strings.IndexByte(rest[1:], '"')
		if end < 0 {
			return a, fmt.Errorf("%w: unterminated value of %s", errMalformedAuthorization, k)
		}
		v := rest[1 : 1+end]
		rest = strings.TrimSpace(rest[end+2:])
		if rest != "" {
			if rest[0] != ',' {
				return a, fmt.Errorf("%w: expected ',' after %s", errMalformedAuthorization, k)
			}
			rest = strings.TrimSpace(rest[1:])
		}
		var bit int
		switch k {
		case "mchid":
			a.MchID, bit = v, 1
		case "nonce_str":
			a.Nonce, bit = v, 2
		case "signature":
			a.Signature, bit = v, 4
		case "timestamp":
			ts, err := strconv.ParseInt(v, 10, 64)
			if err != nil || ts < 0 {
				return a, fmt.Errorf("%w: timestamp %q is not Unix seconds", errMalformedAuthorization, v)
			}
			a.Timestamp, bit = ts, 8
		case "serial_no":
			a.Serial, bit = v, 16
		default:
			continue // unknown parameters are ignored, as WeChat Pay does
		}
		if seen&bit != 0 {
			return a, fmt.Errorf("%w: %s given twice", errMalformedAuthorization, k)
		}
		seen |= bit
	}
	if seen != 31 {
		var missing []string
		for i, n := range []string{"mchid", "nonce_str", "signature", "timestamp", "serial_no"} {
			if seen&(1<<i) == 0 {
				missing = append(missing, n)
			}
		}
		return a, fmt.Errorf("%w: missing %s", errMalformedAuthorization, strings.Join(missing, ", "))
	}
	return a, nil
}
