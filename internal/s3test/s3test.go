// Package s3test starts a real S3-compatible server (moto_server) on loopback for
// tests of bill storage, so no S3 client is ever mocked. Start one per test binary
// (TestMain) and give each test its own bucket.
package s3test

import (
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paysls/wxpay/internal/testserver"
	"github.com/paysls/wxpay/shared/store/billstore"
)

// install says how to get the server.
const install = "pip install 'moto[server]'"

// Server is a running moto_server.
type Server struct {
	srv *testserver.Server
	seq atomic.Int64
}

// Start runs moto_server on a free loopback port.
func Start() (*Server, error) {
	srv, err := testserver.Start("moto_server", 60*time.Second, func(port int) []string {
		return []string{"-H", "127.0.0.1", "-p", fmt.Sprint(port)}
	})
	if err != nil {
		return nil, err
	}
	return &Server{srv: srv}, nil
}

// StartAuthenticated runs a moto_server that checks every request's SigV4 signature
// against the IAM access keys it holds, and creates one key allowed everything: its
// id and secret are returned. moto authenticates nothing before its first
// INITIAL_NO_AUTH_ACTION_COUNT requests, which are the three IAM calls made here.
func StartAuthenticated() (srv *Server, keyID, secret string, err error) {
	if _, err := exec.LookPath("moto_server"); err != nil {
		return nil, "", "", fmt.Errorf("moto_server: %w", testserver.ErrMissing)
	}
	ts, err := testserver.Start("env", 60*time.Second, func(port int) []string {
		return []string{"INITIAL_NO_AUTH_ACTION_COUNT=3", "moto_server", "-H", "127.0.0.1", "-p", fmt.Sprint(port)}
	})
	if err != nil {
		return nil, "", "", err
	}
	srv = &Server{srv: ts}
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`
	var out struct {
		KeyID  string `xml:"CreateAccessKeyResult>AccessKey>AccessKeyId"`
		Secret string `xml:"CreateAccessKeyResult>AccessKey>SecretAccessKey"`
	}
	for _, call := range []struct {
		form url.Values
		out  any
	}{
		{url.Values{"Action": {"CreateUser"}, "UserName": {"wxpay"}}, nil},
		{url.Values{"Action": {"PutUserPolicy"}, "UserName": {"wxpay"}, "PolicyName": {"all"}, "PolicyDocument": {policy}}, nil},
		{url.Values{"Action": {"CreateAccessKey"}, "UserName": {"wxpay"}}, &out},
	} {
		if err := srv.iam(call.form, call.out); err != nil {
			srv.Kill()
			return nil, "", "", err
		}
	}
	if out.KeyID == "" || out.Secret == "" {
		srv.Kill()
		return nil, "", "", fmt.Errorf("moto IAM CreateAccessKey returned no key")
	}
	return srv, out.KeyID, out.Secret, nil
}

// iam makes one IAM Query API call (https://docs.aws.amazon.com/IAM/latest/APIReference/)
// on the server. moto routes it by the Authorization header's credential scope; the
// signature itself is not checked before INITIAL_NO_AUTH_ACTION_COUNT runs out.
func (s *Server) iam(form url.Values, out any) error {
	form.Set("Version", "2010-05-08")
	body := form.Encode()
	req, err := http.NewRequest(http.MethodPost, s.Endpoint()+"/", strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	req.Header.Set("X-Amz-Date", time.Now().UTC().Format("20060102T150405Z"))
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=bootstrap/"+time.Now().UTC().Format("20060102")+
		"/us-east-1/iam/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("moto IAM %s: %w", form.Get("Action"), err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("moto IAM %s: HTTP %d: %s", form.Get("Action"), resp.StatusCode, raw)
	}
	if out != nil {
		return xml.Unmarshal(raw, out)
	}
	return nil
}

// Need skips (developer machine without moto) or fails (CI, broken install) a test
// whose server did not start.
func Need(t testing.TB, startErr error) { t.Helper(); testserver.Need(t, startErr, install) }

// Endpoint is the server's base URL.
func (s *Server) Endpoint() string { return "http://" + s.srv.Addr() }

// Kill stops the server.
func (s *Server) Kill() { s.srv.Kill() }

// NewBucket returns the name of a fresh bucket on the server, created.
func (s *Server) NewBucket(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("wxpay-bills-%d", s.seq.Add(1))
	st := s.Open(t, name, "")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := st.CreateBucket(ctx); err != nil {
		t.Fatal(err)
	}
	return name
}

// Open opens a bill store on bucket/prefix with static test credentials.
func (s *Server) Open(t testing.TB, bucket, prefix string) *billstore.S3 {
	t.Helper()
	st, err := billstore.NewS3(context.Background(), billstore.S3Options{
		Bucket: bucket, Prefix: prefix, Region: "us-east-1", Endpoint: s.Endpoint(),
		Credentials: billstore.StaticCredentials("test", "test", ""),
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
}
