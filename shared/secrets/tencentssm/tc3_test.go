package tencentssm

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/paysls/wxpay/internal/ssmtest"
)

// The worked example of "签名方法 v3" (https://cloud.tencent.com/document/api/213/30654;
// English: https://www.tencentcloud.com/document/api/213/30654): DescribeInstances in
// ap-guangzhou at X-TC-Timestamp 1551113065, SecretKey Gu5t9xGARNpq86cd98joQYCN3EXAMPLE.
// The document publishes the payload hash, the canonical request, its hash, the
// string to sign and the final signature; each step is checked on its own so that a
// failure names the step that broke.
const (
	docPayload   = `{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}`
	docTimestamp = 1551113065
	docSecretKey = "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE"
	docCanonical = "POST\n/\n\ncontent-type:application/json; charset=utf-8\nhost:cvm.tencentcloudapi.com\n\ncontent-type;host\n" +
		"35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
	docStringToSign = "TC3-HMAC-SHA256\n1551113065\n2019-02-25/cvm/tc3_request\n" +
		"5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031"
	docSignature = "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
	// The current version of the document also signs x-tc-action; its published
	// canonical request hash for the same request is this (the final signature there
	// is made with a masked key, so only this step can be checked).
	docActionCanonicalHash = "7019a55be8395899b900fb5564e4200d984910f34794a27cb3fb7d10ff6a1e84"
)

func docHeaders(n string) string {
	return map[string]string{"content-type": "application/json; charset=utf-8", "host": "cvm.tencentcloudapi.com", "x-tc-action": "DescribeInstances"}[n]
}

func TestTC3DocumentExample(t *testing.T) {
	canonical := canonicalRequest("POST", "", []string{"content-type", "host"}, docHeaders, []byte(docPayload))
	if canonical != docCanonical {
		t.Fatalf("step 1, canonical request:\n%q\nwant\n%q", canonical, docCanonical)
	}
	toSign := stringToSign(docTimestamp, "cvm", canonical)
	if toSign != docStringToSign {
		t.Fatalf("step 2, string to sign:\n%q\nwant\n%q", toSign, docStringToSign)
	}
	if got := signature(docSecretKey, docTimestamp, "cvm", toSign); got != docSignature {
		t.Fatalf("step 3, signature %s, want %s", got, docSignature)
	}
	withAction := canonicalRequest("POST", "", []string{"content-type", "host", "x-tc-action"}, docHeaders, []byte(docPayload))
	if got := stringToSign(docTimestamp, "cvm", withAction); !strings.HasSuffix(got, "\n"+docActionCanonicalHash) {
		t.Errorf("canonical request with x-tc-action (lowercased value) hashes to %s, want %s", got[strings.LastIndex(got, "\n")+1:], docActionCanonicalHash)
	}
}

// sign puts the document's request together end to end: the Authorization header it
// writes for the example's headers, key and time carries the published signature.
func TestSignWritesThePublishedAuthorization(t *testing.T) {
	req, _ := http.NewRequest("POST", "https://cvm.tencentcloudapi.com/", strings.NewReader(docPayload))
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("X-TC-Action", "DescribeInstances")
	saved := signedHeaderNames
	signedHeaderNames = []string{"content-type", "host"} // the example signs these two
	defer func() { signedHeaderNames = saved }()
	sign(req, credentials{SecretID: "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE", SecretKey: docSecretKey}, "cvm", []byte(docPayload), time.Unix(docTimestamp, 0))
	want := "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE/2019-02-25/cvm/tc3_request, SignedHeaders=content-type;host, Signature=" + docSignature
	if got := req.Header.Get("Authorization"); got != want {
		t.Errorf("Authorization:\n%s\nwant\n%s", got, want)
	}
	if req.Header.Get("X-TC-Timestamp") != "1551113065" || req.Header.Get("X-TC-Token") != "" {
		t.Errorf("X-TC-Timestamp %q, X-TC-Token %q (a permanent key sends no token)", req.Header.Get("X-TC-Timestamp"), req.Header.Get("X-TC-Token"))
	}
}

// Date is the UTC date of the timestamp: 1551113065 is 2019-02-26 00:44 in Beijing,
// and the scope must still say 2019-02-25 (the document's own warning).
func TestScopeIsUTCDate(t *testing.T) {
	if got := scope(docTimestamp, "ssm"); got != "2019-02-25/ssm/tc3_request" {
		t.Errorf("scope %s", got)
	}
}

// The stand-in's verifier (ssmtest.Verify, its own copy of the steps) accepts what
// sign writes and refuses every kind of tampering.
func TestVerifyRoundTrip(t *testing.T) {
	creds := credentials{SecretID: "AKIDtest", SecretKey: "key-1", Token: "tok-1"}
	now := time.Unix(1700000000, 0)
	body := []byte(`{"SecretName":"wxpay","VersionId":"v1"}`)
	newReq := func() *http.Request {
		req, _ := http.NewRequest("POST", "https://ssm.tencentcloudapi.com/", nil)
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
		req.Header.Set("X-TC-Action", "GetSecretValue")
		sign(req, creds, "ssm", body, now)
		return req
	}
	lookup := func(id string) (string, string, bool) { return creds.SecretKey, creds.Token, id == creds.SecretID }
	if err := ssmtest.Verify(newReq(), body, "ssm", now, lookup); err != nil {
		t.Fatalf("a request sign wrote: %v", err)
	}
	for name, c := range map[string]struct {
		mut  func(r *http.Request) []byte
		when time.Time
		code string
	}{
		"body changed":     {func(r *http.Request) []byte { return []byte(`{"SecretName":"other","VersionId":"v1"}`) }, now, "SignatureFailure"},
		"action changed":   {func(r *http.Request) []byte { r.Header.Set("X-TC-Action", "DeleteSecret"); return body }, now, "SignatureFailure"},
		"host changed":     {func(r *http.Request) []byte { r.Host = "ssm.example.com"; return body }, now, "SignatureFailure"},
		"token missing":    {func(r *http.Request) []byte { r.Header.Del("X-TC-Token"); return body }, now, "TokenFailure"},
		"ten minutes late": {func(r *http.Request) []byte { return body }, now.Add(10 * time.Minute), "SignatureExpire"},
		"other SecretId": {func(r *http.Request) []byte {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "AKIDtest", "AKIDother", 1))
			return body
		}, now, "SecretIdNotFound"},
	} {
		r := newReq()
		b := c.mut(r)
		err := ssmtest.Verify(r, b, "ssm", c.when, lookup)
		if err == nil || !strings.Contains(err.Error(), c.code) {
			t.Errorf("%s: %v, want %s", name, err, c.code)
		}
	}
}
