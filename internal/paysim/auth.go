package paysim

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/paysls/wxpay/shared/wechatpay"
)

// authTolerance is how far the Authorization timestamp may be from WeChat Pay's clock.
const authTolerance = 5 * time.Minute

// authenticate checks the merchant Authorization header of a /v3 request the way
// WeChat Pay does and returns nil when it is good, or the 401 SIGN_ERROR to answer.
// The message names the part that failed, because "签名错误" alone is the single most
// common dead end in merchants' debugging.
func (s *Simulator) authenticate(r *http.Request, body []byte) *reply {
	h := r.Header.Get("Authorization")
	if h == "" {
		return signError("authorization", "", "Authorization header is missing: sign the request with "+wechatpay.AuthScheme+" and the merchant API private key")
	}
	a, err := wechatpay.ParseAuthorization(h)
	if err != nil {
		return signError("authorization", "", err.Error())
	}
	if a.MchID != s.id.MchID {
		return signError("mchid", a.MchID, fmt.Sprintf("mchid %q in Authorization is not this merchant (%s): the mchid signing a request must be the merchant (or service provider, sp_mchid) whose API key signs it", a.MchID, s.id.MchID))
	}
	if !strings.EqualFold(a.Serial, s.id.MerchantSerial) {
		return signError("serial_no", a.Serial, fmt.Sprintf("商户证书序列号有误。请使用签名私钥匹配的证书序列号: serial_no %q is not the merchant API certificate serial %s", a.Serial, s.id.MerchantSerial))
	}
	if d := time.Since(time.Unix(a.Timestamp, 0)); d > authTolerance || d < -authTolerance {
		return signError("timestamp", strconv.FormatInt(a.Timestamp, 10), fmt.Sprintf("timestamp %d is %s away from WeChat Pay's clock (at most 5m): check the server clock (NTP), and never reuse a signed header", a.Timestamp, d.Round(time.Second)))
	}
	target := r.RequestURI
	if target == "" || !strings.HasPrefix(target, "/") {
		target = r.URL.RequestURI()
	}
	msg := wechatpay.RequestMessage(r.Method, target, a.Timestamp, a.Nonce, body)
	if err := wechatpay.VerifyMessage(s.merchantPublicKey(), msg, a.Signature); err != nil {
		issue := fmt.Sprintf("sign not match: the signature does not verify with the merchant API certificate %s over %q (METHOD\\nURL\\nTIMESTAMP\\nNONCE\\nBODY\\n, URL = path and query exactly as sent, BODY = the exact bytes sent, %d bytes)", s.id.MerchantSerial, truncate(string(msg), 120), len(body))
		if errors.Is(err, wechatpay.ErrBadSignature) && strings.Contains(err.Error(), "base64") {
			issue = "signature is not valid base64"
		}
		return signError("signature", "", issue)
	}
	return nil
}

func (s *Simulator) merchantPublicKey() *rsa.PublicKey {
	if s.id.MerchantCert != nil {
		if k, ok := s.id.MerchantCert.PublicKey.(*rsa.PublicKey); ok {
			return k
		}
	}
	return &s.id.MerchantKey.PublicKey
}

// signError is WeChat Pay's 401 answer to a bad Authorization.
func signError(field, value, issue string) *reply {
	return jsonReply(http.StatusUnauthorized, wechatpay.ErrorBody{
		Code:    "SIGN_ERROR",
		Message: "签名错误,请检查后再试: " + issue,
		Detail:  &wechatpay.ErrorDetail{Field: field, Value: nonEmpty(value), Issue: issue, Location: "authorization"},
	})
}

// nonEmpty keeps an empty value out of the JSON (ErrorDetail.Value is omitempty any).
func nonEmpty(v string) any {
	if v == "" {
		return nil
	}
	return v
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// newRequestID looks like WeChat Pay's Request-ID: opaque upper-case hex.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return strings.ToUpper(hex.EncodeToString(b[:]))
}
