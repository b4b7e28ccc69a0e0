package tencentssm

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// TencentCloud API 3.0 signature v3, TC3-HMAC-SHA256, written by hand as the SigV4
// client in shared/store/billstore is: the Tencent SDK would bring its whole common
// package into every SCF binary for one call. The algorithm
// (https://cloud.tencent.com/document/api/213/30654, "签名方法 v3"):
//
//	CanonicalRequest = Method \n "/" \n Query \n CanonicalHeaders \n SignedHeaders \n hex(sha256(body))
//	CanonicalHeaders = "name:value\n" per signed header, both lowercased and trimmed, sorted by name
//	StringToSign     = "TC3-HMAC-SHA256" \n Timestamp \n Date/service/tc3_request \n hex(sha256(CanonicalRequest))
//	key              = HMAC(HMAC(HMAC("TC3"+SecretKey, Date), service), "tc3_request")
//	Signature        = hex(HMAC(key, StringToSign))
//
// Date is the UTC date of X-TC-Timestamp (the document warns that a UTC+8 date
// fails every call between 00:00 and 08:00 Beijing time). tc3_test.go checks each
// step against the document's worked example.

const algorithm = "TC3-HMAC-SHA256"

// signedHeaderNames are the headers this client signs: the two the API requires and
// the action, which the current version of the document signs too so that a captured
// request cannot be replayed as another action.
var signedHeaderNames = []string{"content-type", "host", "x-tc-action"}

// canonicalRequest is step 1 for a request whose headers are looked up by get
// (lowercase names).
func canonicalRequest(method, query string, names []string, get func(string) string, body []byte) string {
	var b strings.Builder
	b.WriteString(method + "\n/\n" + query + "\n")
	for _, n := range names {
		b.WriteString(n + ":" + strings.ToLower(strings.TrimSpace(get(n))) + "\n")
	}
	sum := sha256.Sum256(body)
	b.WriteString("\n" + strings.Join(names, ";") + "\n" + hex.EncodeToString(sum[:]))
	return b.String()
}

// stringToSign is step 2.
func stringToSign(ts int64, service, canonical string) string {
	sum := sha256.Sum256([]byte(canonical))
	return algorithm + "\n" + strconv.FormatInt(ts, 10) + "\n" + scope(ts, service) + "\n" + hex.EncodeToString(sum[:])
}

func scope(ts int64, service string) string {
	return time.Unix(ts, 0).UTC().Format("2006-01-02") + "/" + service + "/tc3_request"
}

// signature is step 3.
func signature(secretKey string, ts int64, service, toSign string) string {
	mac := func(key []byte, msg string) []byte {
		h := hmac.New(sha256.New, key)
		h.Write([]byte(msg))
		return h.Sum(nil)
	}
	k := mac([]byte("TC3"+secretKey), time.Unix(ts, 0).UTC().Format("2006-01-02"))
	k = mac(k, service)
	k = mac(k, "tc3_request")
	return hex.EncodeToString(mac(k, toSign))
}

// sign sets X-TC-Timestamp, X-TC-Token (temporary credentials) and Authorization on
// req, whose Content-Type and X-TC-Action are already set; body is what will be sent.
func sign(req *http.Request, c credentials, service string, body []byte, now time.Time) {
	ts := now.Unix()
	req.Header.Set("X-TC-Timestamp", strconv.FormatInt(ts, 10))
	if c.Token != "" {
		req.Header.Set("X-TC-Token", c.Token)
	}
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	req.Host = host
	get := func(n string) string {
		if n == "host" {
			return host
		}
		return req.Header.Get(n)
	}
	toSign := stringToSign(ts, service, canonicalRequest(req.Method, req.URL.RawQuery, signedHeaderNames, get, body))
	req.Header.Set("Authorization", fmt.Sprintf("%s Credential=%s/%s, SignedHeaders=%s, Signature=%s",
		algorithm, c.SecretID, scope(ts, service), strings.Join(signedHeaderNames, ";"), signature(c.SecretKey, ts, service, toSign)))
}
