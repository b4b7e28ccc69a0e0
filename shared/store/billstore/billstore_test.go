package billstore_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paysls/wxpay/internal/s3test"
	"github.com/paysls/wxpay/shared/store/billstore"
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

// An S3 error answer's XML body is surfaced: its code, in an *S3Error, within an
// error that names the operation.
func TestS3ErrorBody(t *testing.T) {
	s3test.Need(t, startErr)
	ctx := context.Background()
	st := server.Open(t, "wxpay-bills-never-created", "")
	k := billstore.Key{MchID: "1900000001", Type: "trade_all", Date: "2026-11-25"}
	body := []byte("x")
	err := st.Put(ctx, k, bytes.NewReader(body), 1, billstore.Meta{HashType: "SHA1"})
	var se *billstore.S3Error
	if !errors.As(err, &se) || se.Code != "NoSuchBucket" || se.StatusCode != 404 {
		t.Fatalf("Put into a missing bucket = %v, want an S3Error NoSuchBucket 404", err)
	}
	if !strings.Contains(err.Error(), "put s3://wxpay-bills-never-created/1900000001/trade_all/2026-11-25.csv.gz") {
		t.Fatalf("error does not name the operation: %v", err)
	}
	// GET has a body to tell a missing bucket from a missing key: not ErrNotFound.
	if _, _, err := st.Open(ctx, k); errors.Is(err, billstore.ErrNotFound) || !errors.As(err, &se) || se.Code != "NoSuchBucket" {
		t.Fatalf("Open in a missing bucket = %v, want NoSuchBucket", err)
	}
	// HEAD has none: the key is reported absent, as before.
	if _, err := st.Stat(ctx, k); !errors.Is(err, billstore.ErrNotFound) {
		t.Fatalf("Stat in a missing bucket = %v, want ErrNotFound", err)
	}
}

// Against a server that verifies every signature (moto with IAM authentication on):
// the right key signs PUT (with its metadata headers and payload hash), HEAD, GET and
// CreateBucket acceptably, under a prefix that needs escaping (a space: moto's own
// verifier rejects even boto3's signatures for keys holding + = ( ) or non-ASCII, so
// those are not tried here); a wrong secret or an
// unknown key id is refused with a clear error that never carries the secret.
func TestS3SignaturesVerified(t *testing.T) {
	srv, keyID, secret, err := s3test.StartAuthenticated()
	s3test.Need(t, err)
	defer srv.Kill()
	ctx := context.Background()
	open := func(id, secret, prefix string) *billstore.S3 {
		st, err := billstore.NewS3(ctx, billstore.S3Options{
			Bucket: "wxpay-bills-auth", Prefix: prefix, Region: "us-east-1", Endpoint: srv.Endpoint(),
			Credentials: billstore.StaticCredentials(id, secret, ""),
		})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	good := open(keyID, secret, "bills/prod q1~x")
	if err := good.CreateBucket(ctx); err != nil {
		t.Fatal(err)
	}
	roundTrip(t, good)

	// Put hashes and sends the body from where the reader stands.
	k := billstore.Key{MchID: "1900000002", Type: "trade_all", Date: "2026-11-25"}
	r := bytes.NewReader([]byte("skip|payload"))
	r.Seek(5, io.SeekStart)
	if err := good.Put(ctx, k, r, 7, billstore.Meta{HashType: "SHA1", HashValue: "ab"}); err != nil {
		t.Fatal(err)
	}
	rc, _, err := good.Open(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if string(got) != "payload" {
		t.Fatalf("stored %q, want %q", got, "payload")
	}

	wrong := open(keyID, "not-the-"+secret, "bills/prod q1~x")
	err = wrong.Put(ctx, k, bytes.NewReader([]byte("x")), 1, billstore.Meta{})
	var se *billstore.S3Error
	if !errors.As(err, &se) || se.Code != "SignatureDoesNotMatch" || se.StatusCode != 403 {
		t.Fatalf("Put with a wrong secret = %v, want SignatureDoesNotMatch 403", err)
	}
	if !strings.Contains(err.Error(), "check the secret access key") {
		t.Errorf("the error gives no hint: %v", err)
	}
	if strings.Contains(err.Error(), secret) {
		t.Errorf("the error carries the secret: %v", err)
	}
	if _, err := wrong.Stat(ctx, k); err == nil || errors.Is(err, billstore.ErrNotFound) {
		t.Fatalf("Stat with a wrong secret = %v, want a refusal (not ErrNotFound)", err)
	}
	if _, _, err := wrong.Open(ctx, k); !errors.As(err, &se) || se.Code != "SignatureDoesNotMatch" {
		t.Fatalf("Open with a wrong secret = %v, want SignatureDoesNotMatch", err)
	}
	unknown := open("AKIAUNKNOWNKEY000000", secret, "")
	if _, _, err := unknown.Open(ctx, k); !errors.As(err, &se) || se.Code != "InvalidAccessKeyId" {
		t.Fatalf("Open with an unknown key id = %v, want InvalidAccessKeyId", err)
	}
}

// style=virtual addresses the bucket as a host name: every connection goes to moto,
// which reads the bucket from the Host header as S3 does.
func TestS3VirtualHost(t *testing.T) {
	s3test.Need(t, startErr)
	bucket := server.NewBucket(t)
	addr := strings.TrimPrefix(server.Endpoint(), "http://")
	var hosts []string
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
		hosts = append(hosts, a)
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}}
	st, err := billstore.NewS3(context.Background(), billstore.S3Options{
		Bucket: bucket, Prefix: "v", Region: "us-east-1", Endpoint: "http://s3.us-east-1.amazonaws.com", VirtualHost: true,
		Credentials: billstore.StaticCredentials("test", "test", ""), HTTPClient: client,
	})
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, st)
	if len(hosts) == 0 || hosts[0] != bucket+".s3.us-east-1.amazonaws.com:80" {
		t.Fatalf("dialled %v, want the bucket's host name", hosts)
	}
	// The object is where path-style finds it.
	if _, err := server.Open(t, bucket, "v").Stat(context.Background(), billstore.Key{MchID: "1900000001", Type: "trade_all", Date: "2026-11-25"}); err != nil {
		t.Fatal(err)
	}
}
