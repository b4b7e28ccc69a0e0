package billstore_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/paysls/wxpay/shared/store/billstore"
	"github.com/paysls/wxpay/shared/store/billstore/s3test"
)

var (
	server   *s3test.Server
	startErr error
)

func TestMain(m *testing.M) {
	server, startErr = s3test.Start()
	code := m.Run()
	if server != nil {
		server.Kill()
	}
	os.Exit(code)
}

// roundTrip holds every backend to the same behaviour: absent, put, stat, open,
// replace.
func roundTrip(t *testing.T, st billstore.Store) {
	t.Helper()
	ctx := context.Background()
	k := billstore.Key{MchID: "1900000001", Type: "trade_all", Date: "2026-11-25"}
	if _, err := st.Stat(ctx, k); !errors.Is(err, billstore.ErrNotFound) {
		t.Fatalf("Stat of an absent file = %v, want ErrNotFound", err)
	}
	if _, _, err := st.Open(ctx, k); !errors.Is(err, billstore.ErrNotFound) {
		t.Fatalf("Open of an absent file = %v, want ErrNotFound", err)
	}
	body := []byte("gzip bytes \x00\x01\x02")
	m := billstore.Meta{HashType: "SHA1", HashValue: "0123456789abcdef0123456789abcdef01234567", Size: 1234, Rows: 7}
	if err := st.Put(ctx, k, bytes.NewReader(body), int64(len(body)), m); err != nil {
		t.Fatal(err)
	}
	got, err := st.Stat(ctx, k)
	if err != nil || got != m {
		t.Fatalf("Stat = %+v, %v; want %+v", got, err, m)
	}
	rc, m2, err := st.Open(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(b, body) || m2 != m {
		t.Fatalf("Open = %q %+v %v", b, m2, err)
	}
	m.HashValue, m.Rows = "fedcba9876543210fedcba9876543210fedcba98", 8
	if err := st.Put(ctx, k, bytes.NewReader([]byte("v2")), 2, m); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.Stat(ctx, k); got != m {
		t.Fatalf("after replace Stat = %+v", got)
	}
	bad := billstore.Key{MchID: "../etc", Type: "trade_all", Date: "2026-11-25"}
	if err := st.Put(ctx, bad, bytes.NewReader(nil), 0, m); err == nil {
		t.Fatal("a key with a path separator was accepted")
	}
}

func TestDir(t *testing.T) {
	dir := t.TempDir()
	st, err := billstore.Open(context.Background(), "file://"+dir)
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, st)
	if _, err := os.Stat(filepath.Join(dir, "1900000001", "trade_all", "2026-11-25.csv.gz")); err != nil {
		t.Fatal(err)
	}
	left, _ := filepath.Glob(filepath.Join(dir, "1900000001", "trade_all", ".tmp-*"))
	if len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
}

func TestDefaultDirUnderDataHome(t *testing.T) {
	t.Setenv("XDG_DATA_HOME", t.TempDir())
	st, err := billstore.Open(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	if want := "file://" + filepath.Join(os.Getenv("XDG_DATA_HOME"), "wxpay", "bills"); st.String() != want {
		t.Fatalf("default = %s, want %s", st, want)
	}
}

func TestS3OnMoto(t *testing.T) {
	s3test.Need(t, startErr)
	bucket := server.NewBucket(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	// Through the URL form users configure, as COS would be.
	st, err := billstore.Open(context.Background(), "s3://"+bucket+"/bills/prod?region=us-east-1&endpoint="+server.Endpoint())
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, st)
	// The object sits under the prefix, path-style.
	raw := server.Open(t, bucket, "bills/prod")
	if _, err := raw.Stat(context.Background(), billstore.Key{MchID: "1900000001", Type: "trade_all", Date: "2026-11-25"}); err != nil {
		t.Fatal(err)
	}
	if other := server.Open(t, bucket, "elsewhere"); other != nil {
		if _, err := other.Stat(context.Background(), billstore.Key{MchID: "1900000001", Type: "trade_all", Date: "2026-11-25"}); !errors.Is(err, billstore.ErrNotFound) {
			t.Fatalf("prefix ignored: %v", err)
		}
	}
}

func TestURLErrors(t *testing.T) {
	for _, u := range []string{"ftp://x", "s3://", "s3://b/p?bogus=1", "s3://b/p?style=sideways", "s3://user:secret@b/p", "file://"} {
		if _, err := billstore.Open(context.Background(), u); err == nil {
			t.Errorf("Open(%q) accepted", u)
		} else if bytes.Contains([]byte(err.Error()), []byte("secret")) {
			t.Errorf("error leaks the password: %v", err)
		}
	}
}
