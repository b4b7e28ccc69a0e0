package cashier

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// The cashier link carries t, a short-lived token over the order id: order ids cannot be
// enumerated and a link cannot be re-pointed at another order. t = "{expiry}.{mac}",
// expiry in Unix seconds, mac = HMAC-SHA256(key, "t\x00" order_id "\x00" expiry) cut to
// 128 bits, base64url. The key is derived from the API token (DeriveKey), so whoever can
// create orders can mint links, and nobody else.

// macLen is the length kept of each HMAC-SHA256 (128 bits).
const macLen = 16

// DeriveKey is the cashier's HMAC key: SHA-256("wxpay-cashier\x00" + API token). A
// separate key, so a leaked cashier link says nothing about the API token.
func DeriveKey(apiToken []byte) []byte {
	h := sha256.New()
	h.Write([]byte("wxpay-cashier\x00"))
	h.Write(apiToken)
	return h.Sum(nil)
}

func mac(key []byte, parts ...string) []byte {
	m := hmac.New(sha256.New, key)
	for i, p := range parts {
		if i > 0 {
			m.Write([]byte{0})
		}
		m.Write([]byte(p))
	}
	return m.Sum(nil)[:macLen]
}

// token mints t for orderID, valid until now+ttl.
func token(key []byte, orderID string, now time.Time, ttl time.Duration) string {
	exp := strconv.FormatInt(now.Add(ttl).Unix(), 10)
	return exp + "." + base64.RawURLEncoding.EncodeToString(mac(key, "t", orderID, exp))
}

// Link is the cashier URL of an order: base (the bundle's public URL, WXPAY_PUBLIC_URL)
// + /pay/{order_id}?t=…, valid for ttl from now. createorder answers it for
// scene "cashier" as pay.cashier_url (with its QR code as pay.qr_png).
func Link(base, orderID string, key []byte, now time.Time, ttl time.Duration) string {
	return strings.TrimRight(base, "/") + "/pay/" + url.PathEscape(orderID) + "?t=" + url.QueryEscape(token(key, orderID, now, ttl))
}

// LinkID is the path segment of an order's cashier link: its order_id, or on a
// platform "{sub_mchid}.{order_id}" for an order of a sub-merchant other than the
// default (WXPAY_SUB_MCHID). The page looked every order up under the default, so a
// link to another sub-merchant's order showed "No such order". An order_id never holds
// a '.', and the token covers the whole segment: the sub-merchant cannot be changed.
func LinkID(orderID, subMchID string) string {
	if subMchID == "" {
		return orderID
	}
	return subMchID + "." + orderID
}

// orderOf splits a link id (LinkID) into the order_id and its sub-merchant ("": the
// default), as the order API's Order takes them.
func orderOf(id string) (orderID, subMchID string) {
	if sub, oid, ok := strings.Cut(id, "."); ok {
		return oid, sub
	}
	return id, ""
}

// Token refusals.
var (
	errTokenMissing  = errors.New("cashier: link token missing")
	errTokenInvalid  = errors.New("cashier: link token invalid")
	errTokenExpired  = errors.New("cashier: link token expired")
	errStateInvalid  = errors.New("cashier: OAuth state invalid or for another order")
	errStateExpired  = errors.New("cashier: OAuth state expired")
	errStateNotOurs  = errors.New("cashier: OAuth state was not issued to this browser (replayed or foreign)")
	errCookieInvalid = errors.New("cashier: payer cookie invalid")
)

// CheckToken verifies t for orderID at now, in constant time, and returns its expiry.
func CheckToken(key []byte, orderID, t string, now time.Time) (time.Time, error) {
	if t == "" {
		return time.Time{}, errTokenMissing
	}
	expS, macS, ok := strings.Cut(t, ".")
	if !ok || len(expS) > 12 {
		return time.Time{}, errTokenInvalid
	}
	got, err := base64.RawURLEncoding.Strict().DecodeString(macS)
	if err != nil || len(got) != macLen {
		return time.Time{}, errTokenInvalid
	}
	if !hmac.Equal(got, mac(key, "t", orderID, expS)) {
		return time.Time{}, errTokenInvalid
	}
	exp, err := strconv.ParseInt(expS, 10, 64)
	if err != nil {
		return time.Time{}, errTokenInvalid
	}
	e := time.Unix(exp, 0)
	if !now.Before(e) {
		return e, errTokenExpired
	}
	return e, nil
}

// OAuth state. WeChat accepts [a-zA-Z0-9]{0,128} and returns it unchanged. Ours binds
// the order and a nonce that is also kept in a cookie scoped to the OAuth return path:
// state = nonce(16 hex) expiry(8 hex) mac(32 hex), mac over ("s", order_id, nonce, expiry).
// On return the mac must match this order (a foreign or edited state fails), the state
// must be young (WeChat's code lives 5 minutes), and the cookie's nonce must be the
// state's (a code replayed from another browser, or after the cookie was spent, fails).

const stateTTL = 10 * time.Minute

func newNonce() string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("cashier: crypto/rand: %v", err))
	}
	return hex.EncodeToString(b[:])
}

func makeState(key []byte, orderID, nonce string, now time.Time) string {
	exp := fmt.Sprintf("%08x", uint32(now.Add(stateTTL).Unix()))
	return nonce + exp + hex.EncodeToString(mac(key, "s", orderID, nonce, exp))
}

// checkState verifies state for orderID against the cookie's nonce.
func checkState(key []byte, orderID, state, cookieNonce string, now time.Time) error {
	if len(state) != 16+8+2*macLen {
		return errStateInvalid
	}
	nonce, exp, m := state[:16], state[16:24], state[24:]
	got, err := hex.DecodeString(m)
	if err != nil || !hmac.Equal(got, mac(key, "s", orderID, nonce, exp)) {
		return errStateInvalid
	}
	e, err := strconv.ParseUint(exp, 16, 32)
	if err != nil {
		return errStateInvalid
	}
	if !now.Before(time.Unix(int64(e), 0)) {
		return errStateExpired
	}
	if cookieNonce == "" || !hmac.Equal([]byte(cookieNonce), []byte(nonce)) {
		return errStateNotOurs
	}
	return nil
}

// The payer cookie keeps the openid OAuth gave for this browser, so a reload does not
// need a second OAuth round trip: "{openid}.{expiry}.{mac}", mac over ("o", appid,
// openid, expiry). It names a WeChat user of our app only; it is HttpOnly and signed.

const payerTTL = 2 * time.Hour

func makePayer(key []byte, appID, openID string, now time.Time) string {
	exp := strconv.FormatInt(now.Add(payerTTL).Unix(), 10)
	return openID + "." + exp + "." + base64.RawURLEncoding.EncodeToString(mac(key, "o", appID, openID, exp))
}

func checkPayer(key []byte, appID, v string, now time.Time) (string, error) {
	parts := strings.Split(v, ".")
	if len(parts) != 3 {
		return "", errCookieInvalid
	}
	got, err := base64.RawURLEncoding.Strict().DecodeString(parts[2])
	if err != nil || !hmac.Equal(got, mac(key, "o", appID, parts[0], parts[1])) {
		return "", errCookieInvalid
	}
	exp, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || !now.Before(time.Unix(exp, 0)) {
		return "", errCookieInvalid
	}
	return parts[0], nil
}
