// Package s3test starts a real S3-compatible server (moto_server) on loopback for
// tests of bill storage, so no S3 client is ever mocked. Start one per test binary
// (TestMain) and give each test its own bucket.
package s3test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/paysls/wxpay/shared/store/billstore"
	"github.com/paysls/wxpay/shared/store/internal/testserver"
)

// Install says how to get the server.
const Install = "pip install 'moto[server]'"

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

// Need skips (developer machine without moto) or fails (CI, broken install) a test
// whose server did not start.
func Need(t testing.TB, startErr error) { t.Helper(); testserver.Need(t, startErr, Install) }

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
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
}
