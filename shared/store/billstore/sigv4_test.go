package billstore

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// The worked examples of https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html
// (GET Object with a Range header; PUT Object with a key needing escaping).
func TestSignV4MatchesAWSExamples(t *testing.T) {
	creds := credentials{AccessKeyID: "AKIAIOSFODNN7EXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}
	at := time.Date(2013, 5, 24, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		method, path, body string
		header             map[string]string
		signed, signature  string
	}{
		{"GET", "/test.txt", "", map[string]string{"Range": "bytes=0-9"},
			"host;range;x-amz-content-sha256;x-amz-date", "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"},
		{"PUT", "/test$file.text", "Welcome to Amazon S3.", map[string]string{"Date": "Fri, 24 May 2013 00:00:00 GMT", "X-Amz-Storage-Class": "REDUCED_REDUNDANCY"},
			"date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class", "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"},
	} {
		u := &url.URL{Scheme: "https", Host: "examplebucket.s3.amazonaws.com", Path: c.path, RawPath: escapePath(c.path)}
		req, err := http.NewRequest(c.method, u.String(), strings.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range c.header {
			req.Header.Set(k, v)
		}
		sum := sha256.Sum256([]byte(c.body))
		signV4(req, creds, "us-east-1", "s3", hex.EncodeToString(sum[:]), at)
		want := "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=" + c.signed + ", Signature=" + c.signature
		if got := req.Header.Get("Authorization"); got != want {
			t.Errorf("%s %s:\n got %s\nwant %s", c.method, c.path, got, want)
		}
	}
}

func TestSignV4SessionTokenAndDefaultPort(t *testing.T) {
	req, _ := http.NewRequest("GET", "https://cos.ap-guangzhou.myqcloud.com:443/b/k", nil)
	signV4(req, credentials{AccessKeyID: "id", SecretAccessKey: "s", SessionToken: "tok"}, "ap-guangzhou", "s3", emptySHA256, time.Now())
	if req.Header.Get("X-Amz-Security-Token") != "tok" || !strings.Contains(req.Header.Get("Authorization"), "x-amz-security-token") {
		t.Fatalf("session token not sent and signed: %v", req.Header)
	}
	if req.Host != "cos.ap-guangzhou.myqcloud.com" {
		t.Fatalf("Host sent = %q, want it without the default port it was signed without", req.Host)
	}
	if !strings.Contains(req.Header.Get("Authorization"), "/ap-guangzhou/s3/aws4_request") {
		t.Fatalf("scope: %s", req.Header.Get("Authorization"))
	}
}
