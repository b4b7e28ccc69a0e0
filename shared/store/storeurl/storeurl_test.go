package storeurl

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paysls/wxpay/shared/store"
	"github.com/paysls/wxpay/shared/store/boltstore"
	"github.com/paysls/wxpay/shared/store/dynamostore"
	"github.com/paysls/wxpay/shared/store/redisstore"
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
	p, err := defaultPath()
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
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
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
		"ftp://x":                               "does not open ftp:// stores",
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

// A program that lists only some drivers refuses the others by scheme, and has no
// default store without bbolt.
func TestDriversListed(t *testing.T) {
	ctx := context.Background()
	_, err := store.OpenURL(ctx, "redis://:s3cret@127.0.0.1:1/0", boltstore.URL)
	var nd *store.NoDriverError
	if !errors.As(err, &nd) || nd.Scheme != "redis" || strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), "bolt://") {
		t.Errorf("redis without its driver: %v", err)
	}
	_, err = store.OpenURL(ctx, "", redisstore.URL)
	if !errors.As(err, &nd) || nd.Scheme != "" {
		t.Errorf("empty URL without bbolt: %v", err)
	}
	s, err := store.OpenURL(ctx, "bolt://"+filepath.Join(t.TempDir(), "x.db"), redisstore.URL, boltstore.URL)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
}
