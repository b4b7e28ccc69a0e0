//go:build !wxpay_noaws && (!wxpay_lambda || wxpay_redis)

package storeurl

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paysls/wxpay/shared/store"
	"github.com/paysls/wxpay/shared/store/boltstore"
	"github.com/paysls/wxpay/shared/store/dynamostore"
)

func TestDefaultIsBoltUnderXDG(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_DATA_HOME", dir)
	s, err := Open(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	b, ok := s.(*boltstore.Store)
	if !ok || b.Path() != filepath.Join(dir, "wxpay", "wxpay.db") {
		t.Fatalf("got %T at %v", s, b)
	}
}

func TestDefaultWithoutXDG(t *testing.T) {
	home := t.TempDir()
	t.Setenv("XDG_DATA_HOME", "")
	t.Setenv("HOME", home)
	p, err := DefaultPath()
	if err != nil || p != filepath.Join(home, ".local", "share", "wxpay", "wxpay.db") {
		t.Fatalf("DefaultPath = %q, %v", p, err)
	}
}

func TestBoltPaths(t *testing.T) {
	dir := t.TempDir()
	abs := filepath.Join(dir, "abs.db")
	s, err := Open(context.Background(), "bolt://"+abs)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.(*boltstore.Store).Path(); got != abs {
		t.Fatalf("path = %q, want %q", got, abs)
	}
	s.Close()
	t.Chdir(dir)
	if err := os.Mkdir("sub", 0o700); err != nil {
		t.Fatal(err)
	}
	for _, raw := range []string{"bolt://rel.db", "bolt:rel2.db", "bolt://sub/rel3.db"} {
		s, err := Open(context.Background(), raw)
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		if p := s.(*boltstore.Store).Path(); filepath.IsAbs(p) {
			t.Fatalf("%s opened absolute %q", raw, p)
		}
		s.Close()
	}
}

func TestDynamoURL(t *testing.T) {
	// What Lambda provides; the wxpay_lambda build reads nothing else.
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	s, err := Open(context.Background(), "dynamodb://orders?region=us-east-1&endpoint=http://127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	if d, ok := s.(*dynamostore.Store); !ok || d.Table() != "orders" {
		t.Fatalf("got %T", s)
	}
	// Without create=1 nothing is contacted: Open succeeds even with no server.
	var _ store.Store = s
}

func TestErrors(t *testing.T) {
	cases := map[string]string{
		"ftp://x":                               "unknown store URL scheme \"ftp\"",
		"bolt://":                               "bolt URL has no file path",
		"bolt:///x.db?mode=1":                   "takes no query parameters",
		"dynamodb://":                           "must name a table",
		"dynamodb://t?bogus=1":                  "unknown dynamodb URL parameter \"bogus\"",
		"dynamodb://u:s3cret@t":                 "must not carry credentials",
		"redis://user:s3cret@127.0.0.1:1/0?x=1": "redis",
		"redis://user:s3cret@127.0.0.1:1/0":     "redis",
		"rediss://user:s3cret@127.0.0.1:1/0":    "redis",
		"redis://user:s3cret@[::1%zz:1/0":       "malformed",
		"just-a-path-without-scheme":            "no scheme",
		"dynamodb://t?endpoint=%3Anot+a+url":    "not a URL",
	}
	for raw, want := range cases {
		s, err := Open(context.Background(), raw)
		if err == nil {
			s.Close()
			t.Errorf("%s: opened, want error", raw)
			continue
		}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want it to mention %q", raw, err, want)
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: error echoes the password: %v", raw, err)
		}
	}
}
