package ssmtest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The stand-in checks TC3-HMAC-SHA256 (the algorithm as
// https://cloud.tencent.com/document/api/213/30654 gives it) with its own copy of the
// steps, kept apart from the client's signer in shared/secrets/tencentssm: a change to
// that signer is checked against this copy, not against itself. The signer is held to
// the document's worked example by its own tests.

const algorithm = "TC3-HMAC-SHA256"

// Verify checks a TC3-HMAC-SHA256 request as the API does, recomputing the signature
// from the request as received: the algorithm, a credential scope naming service and
// the UTC date of X-TC-Timestamp, a timestamp within 5 minutes of now, content-type
// and host among the signed headers, and X-TC-Token when the key is temporary.
// secretFor returns the key (and its token, "" for a permanent key) of a SecretId.
// Exported for the client's tests, which check that it accepts what the client signs.
func Verify(r *http.Request, body []byte, service string, now time.Time, secretFor func(secretID string) (key, token string, ok bool)) error {
	auth := r.Header.Get("Authorization")
	rest, ok := strings.CutPrefix(auth, algorithm+" ")
	if !ok {
		return errors.New("AuthFailure.SignatureFailure: not a TC3-HMAC-SHA256 Authorization header")
	}
	fields := map[string]string{}
	for _, part := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		fields[k] = v
	}
	cred := strings.Split(fields["Credential"], "/")
	if len(cred) != 4 || cred[2] != service || cred[3] != "tc3_request" {
		return fmt.Errorf("AuthFailure.SignatureFailure: credential %q does not name service %s", fields["Credential"], service)
	}
	ts, err := strconv.ParseInt(r.Header.Get("X-TC-Timestamp"), 10, 64)
	if err != nil {
		return errors.New("AuthFailure.InvalidTimestamp: X-TC-Timestamp missing or not a number")
	}
	if d := now.Sub(time.Unix(ts, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return fmt.Errorf("AuthFailure.SignatureExpire: timestamp %d is %v from now", ts, d.Round(time.Second))
	}
	if cred[1] != time.Unix(ts, 0).UTC().Format("2006-01-02") {
		return fmt.Errorf("AuthFailure.SignatureFailure: credential date %s is not the UTC date of the timestamp", cred[1])
	}
	key, token, ok := secretFor(cred[0])
	if !ok {
		return errors.New("AuthFailure.SecretIdNotFound: unknown SecretId")
	}
	if token != "" && r.Header.Get("X-TC-Token") != token {
		return errors.New("AuthFailure.TokenFailure: X-TC-Token does not belong to this temporary key")
	}
	names := strings.Split(fields["SignedHeaders"], ";")
	if !slices.Contains(names, "content-type") || !slices.Contains(names, "host") || !slices.IsSorted(names) {
		return fmt.Errorf("AuthFailure.SignatureFailure: SignedHeaders %q must be sorted and include content-type and host", fields["SignedHeaders"])
	}
	get := func(n string) string {
		if n == "host" {
			return r.Host
		}
		return r.Header.Get(n)
	}
	want := signature(key, ts, service, stringToSign(ts, service, canonicalRequest(r.Method, r.URL.RawQuery, names, get, body)))
	if !hmac.Equal([]byte(want), []byte(fields["Signature"])) {
		return errors.New("AuthFailure.SignatureFailure: the signature does not match the request")
	}
	return nil
}

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

func stringToSign(ts int64, service, canonical string) string {
	sum := sha256.Sum256([]byte(canonical))
	date := time.Unix(ts, 0).UTC().Format("2006-01-02")
	return algorithm + "\n" + strconv.FormatInt(ts, 10) + "\n" + date + "/" + service + "/tc3_request\n" + hex.EncodeToString(sum[:])
}

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
