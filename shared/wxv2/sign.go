package wxv2

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Signature types (sign_type). MD5 is the default when sign_type is absent.
const (
	SignTypeMD5        = "MD5"
	SignTypeHMACSHA256 = "HMAC-SHA256"
)

// errSignature is the class of every signature failure: the message is not provably
// from WeChat Pay under the configured APIv2 key.
var errSignature = errors.New("wxv2: signature rejected")

// ErrNoKey means no APIv2 key is configured.
var ErrNoKey = errors.New("wxv2: no APIv2 key configured")

// stringToSign is stringA of WeChat Pay's 签名算法: every non-empty field except sign,
// sorted by name in ASCII order, joined as k=v with &.
// https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=4_3
func stringToSign(p Params) string {
	var b strings.Builder
	for _, k := range p.keys() {
		v := p[k]
		if k == "sign" || v == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(v)
	}
	return b.String()
}

// sign computes the sign of p with the APIv2 key: stringSignTemp = stringA + "&key=" +
// key, then MD5(stringSignTemp) or HMAC-SHA256(key, stringSignTemp), upper-case hex.
func sign(p Params, signType, key string) (string, error) {
	if key == "" {
		return "", ErrNoKey
	}
	temp := stringToSign(p) + "&key=" + key
	var sum []byte
	switch signType {
	case "", SignTypeMD5:
		s := md5.Sum([]byte(temp))
		sum = s[:]
	case SignTypeHMACSHA256:
		m := hmac.New(sha256.New, []byte(key))
		m.Write([]byte(temp))
		sum = m.Sum(nil)
	default:
		return "", fmt.Errorf("%w: sign_type %q: want MD5 or HMAC-SHA256", errFormat, signType)
	}
	return strings.ToUpper(hex.EncodeToString(sum)), nil
}

// verify checks p's sign with the APIv2 key under p's sign_type (MD5 when absent), in
// constant time. An unknown sign_type is a format error; a missing or wrong sign is
// errSignature.
func verify(p Params, key string) error {
	if key == "" {
		return ErrNoKey
	}
	got := p["sign"]
	if got == "" {
		return fmt.Errorf("%w: the message has no sign field", errSignature)
	}
	want, err := sign(p, p["sign_type"], key)
	if err != nil {
		return err
	}
	// WeChat Pay sends upper-case hex; accept lower case too, it is the same value.
	if subtle.ConstantTimeCompare([]byte(strings.ToUpper(got)), []byte(want)) != 1 {
		return fmt.Errorf("%w: sign does not match (sign_type %s): the message was not signed with the configured APIv2 key — it is forged, or %s is not this merchant's APIv2 key (商户平台 → 账户中心 → API安全 → APIv2密钥)",
			errSignature, signTypeName(p["sign_type"]), envKeyName)
	}
	return nil
}

// envKeyName is the environment variable holding the APIv2 key, named in messages.
const envKeyName = "WXPAY_APIV2_KEY"

func signTypeName(t string) string {
	if t == "" {
		return SignTypeMD5 + " (default)"
	}
	return t
}
