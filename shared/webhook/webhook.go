// Package webhook signs and verifies wxpay's merchant events: the deliverer signs each
// POST with Sign, and a merchant's receiver checks it with Verify. It uses the standard
// library only, so a merchant's service can import it without the rest of the bundle.
//
// A delivery carries the header
//
//	Wxpay-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + "." + body)>
//
// (Stripe's scheme). During a rotation of the secret the header holds one v1= per
// secret, and a receiver may hold the old and the new secret: one match suffices.
//
// Delivery is at least once. De-duplicate by the id of the Event that Verify returns,
// which is read from the signed body — never by a header such as Wxpay-Event-Id, which
// the signature does not cover: a captured delivery replayed within the tolerance under
// a fresh header id must still be recognised as the same event.
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Headers of a delivery. HeaderEventID repeats the event id for logs and proxies; it
// is not signed.
const (
	HeaderSignature = "Wxpay-Signature"
	HeaderEventID   = "Wxpay-Event-Id"
)

// DefaultTolerance is how far a signature's timestamp may be from the receiver's clock.
const DefaultTolerance = 5 * time.Minute

// Errors of Verify. Each failure matches exactly one of them.
var (
	// ErrNotSigned: the Wxpay-Signature header is missing or empty.
	ErrNotSigned = errors.New("webhook: no Wxpay-Signature header")
	// ErrInvalidHeader: the header is not "t=<unix seconds>,v1=<hex>[,v1=<hex>…]".
	ErrInvalidHeader = errors.New("webhook: malformed Wxpay-Signature header (want t=<unix seconds>,v1=<hex>)")
	// ErrNoValidSignature: no v1= matches the body under any of the secrets (a wrong
	// WXPAY_WEBHOOK_SECRET, or a body changed after signing).
	ErrNoValidSignature = errors.New("webhook: no v1 signature in Wxpay-Signature matches the body (wrong secret, or the body was changed)")
	// ErrTooOld: the signature is genuine but its timestamp is outside the tolerance
	// (a replay, or a clock far off).
	ErrTooOld = errors.New("webhook: Wxpay-Signature timestamp outside the tolerance (a replay, or a clock far off)")
)

// Event is a merchant event as delivered: the JSON body of the POST.
type Event struct {
	ID        string          `json:"id"`
	Type      string          `json:"type"`
	CreatedAt time.Time       `json:"created_at"`
	Data      json.RawMessage `json:"data"`
}

// Sign returns the Wxpay-Signature value for body sent at t, with one v1= per secret
// (several while a secret is rotated).
func Sign(body []byte, t time.Time, secrets ...[]byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	var b strings.Builder
	b.WriteString("t=" + ts)
	for _, s := range secrets {
		b.WriteString(",v1=")
		b.WriteString(hex.EncodeToString(mac(s, ts, body)))
	}
	return b.String()
}

func mac(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte("."))
	m.Write(body)
	return m.Sum(nil)
}

// Verify checks header (the Wxpay-Signature value) over body, the exact bytes
// received, and returns the event parsed from that body. It accepts the delivery when
// any v1= matches under any of secrets (give the old and the new one while rotating)
// and its timestamp is within tolerance of the local clock (DefaultTolerance when
// tolerance ≤ 0). Comparisons are constant-time.
//
// The signature is checked before the timestamp, so ErrTooOld always means a genuine
// but old delivery: a replay, or a clock that is off.
func Verify(body []byte, header string, tolerance time.Duration, secrets ...[]byte) (Event, error) {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	ts, t, sigs, err := parseHeader(header)
	if err != nil {
		return Event{}, err
	}
	if !slices.ContainsFunc(secrets, func(s []byte) bool { return len(s) > 0 }) {
		// An unset secret (an empty environment variable) would make a MAC anyone can
		// compute: refuse rather than accept forgeries.
		return Event{}, fmt.Errorf("%w: no secret to verify with (is WXPAY_WEBHOOK_SECRET set?)", ErrNoValidSignature)
	}
	if !anyMatch(body, ts, sigs, secrets) {
		return Event{}, ErrNoValidSignature
	}
	// Compare in seconds without subtracting t from now: a hostile t near the int64
	// limits must not overflow into the window.
	now, tol := time.Now().Unix(), int64(tolerance/time.Second)
	if t < now-tol || t > now+tol {
		return Event{}, fmt.Errorf("%w: signed at %d, local clock %d", ErrTooOld, t, now)
	}
	var ev Event
	if err := json.Unmarshal(body, &ev); err != nil {
		return Event{}, fmt.Errorf("webhook: the signed body is not an event: %w", err)
	}
	if ev.ID == "" {
		return Event{}, errors.New("webhook: the signed body is not an event: it has no id")
	}
	return ev, nil
}

// maxSignatures bounds the v1= entries considered: a rotation needs two.
const maxSignatures = 8

// parseHeader splits "t=…,v1=…[,v1=…]". Unknown keys (a future v2=) are ignored, as
// are v1 values that are not hex (they cannot match). It returns the timestamp as sent
// (the MAC covers those exact digits) and as a number.
func parseHeader(header string) (ts string, t int64, sigs [][]byte, err error) {
	if strings.TrimSpace(header) == "" {
		return "", 0, nil, ErrNotSigned
	}
	seenT := false
	for part := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || k == "" {
			return "", 0, nil, ErrInvalidHeader
		}
		switch k {
		case "t":
			n, perr := strconv.ParseInt(v, 10, 64)
			if seenT || perr != nil || n < 0 {
				return "", 0, nil, ErrInvalidHeader
			}
			ts, t, seenT = v, n, true
		case "v1":
			if sig, derr := hex.DecodeString(v); derr == nil && len(sig) == sha256.Size && len(sigs) < maxSignatures {
				sigs = append(sigs, sig)
			}
		}
	}
	if !seenT {
		return "", 0, nil, ErrInvalidHeader
	}
	return ts, t, sigs, nil
}

// anyMatch compares every signature with every secret's MAC, without stopping early on
// a match, so the time taken does not say which one matched.
func anyMatch(body []byte, ts string, sigs, secrets [][]byte) bool {
	ok := false
	for _, s := range secrets {
		if len(s) == 0 {
			continue
		}
		want := mac(s, ts, body)
		for _, sig := range sigs {
			if hmac.Equal(want, sig) {
				ok = true
			}
		}
	}
	return ok
}
