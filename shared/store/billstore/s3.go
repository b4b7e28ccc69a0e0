package billstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// The S3 backend speaks the S3 REST API directly: four operations (PutObject,
// HeadObject, GetObject, CreateBucket) as plain net/http requests, SigV4-signed by
// sigv4.go. The SDK's service/s3 client added its endpoint rules, checksum and
// serialisation code — 1.05 MB — to the billfetch Lambda bootstrap for these four
// calls (shared/secrets does the same for SSM and Secrets Manager), and the SDK as a
// whole to the Tencent SCF build, which must do without it and stores its bills in
// COS through this same code.
//
// Signing (https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html):
// every request carries x-amz-content-sha256, signed, holding the hex SHA-256 of the
// payload ("signed payload"; the hash of the empty string for GET, HEAD and an empty
// PUT); S3 rejects a SigV4 request without it. The canonical URI is the path
// URI-encoded once (S3, unlike other services, does not encode it twice). Tencent COS
// accepts the same SigV4 requests on its S3-compatible endpoints
// (https://cloud.tencent.com/document/product/436/37421: endpoint
// cos.<region>.myqcloud.com, region e.g. ap-guangzhou).

// S3 is a Store in an S3 bucket (or Tencent COS, which speaks the S3 API).
type S3 struct {
	creds    credentialsProvider
	region   string
	client   *http.Client
	base     *url.URL // scheme, host (bucket.host when virtual) and base path
	virtual  bool
	bucket   string
	prefix   string // "" or ending in "/"
	endpoint string // as configured ("" = AWS), for String
}

// S3Options configures NewS3.
type S3Options struct {
	Bucket   string
	Prefix   string
	Region   string
	Endpoint string // "" = AWS; else e.g. https://cos.ap-guangzhou.myqcloud.com or a local server
	// VirtualHost addresses the bucket as a host name (bucket.endpoint) instead of
	// path-style (endpoint/bucket), for services that require it.
	VirtualHost bool
	// Credentials, when set, replace the default chain (tests, local servers):
	// StaticCredentials, or any credentialsProvider.
	Credentials credentialsProvider
	// HTTPClient, when set, sends the requests (default http.DefaultClient). It
	// must not have a Timeout shorter than a download: Open streams the body.
	HTTPClient *http.Client
}

func openS3(ctx context.Context, u *url.URL) (Store, error) {
	if u.User != nil {
		return nil, errors.New("billstore: s3 URL must not carry credentials; use the AWS environment or role")
	}
	o := S3Options{Bucket: u.Host, Prefix: strings.Trim(u.Path, "/")}
	for name, vals := range u.Query() {
		v := vals[len(vals)-1]
		switch name {
		case "region":
			o.Region = v
		case "style":
			switch v {
			case "path":
			case "virtual":
				o.VirtualHost = true
			default:
				return nil, fmt.Errorf("billstore: s3 style %q: want path or virtual", v)
			}
		case "endpoint":
			if _, err := url.ParseRequestURI(v); err != nil {
				return nil, fmt.Errorf("billstore: s3 endpoint %q is not a URL", v)
			}
			o.Endpoint = v
		default:
			return nil, fmt.Errorf("billstore: unknown s3 URL parameter %q (known: region, endpoint, style)", name)
		}
	}
	return NewS3(ctx, o)
}

// NewS3 builds the client from the environment's credentials and region (creds.go)
// adjusted by o. It does not contact the bucket.
func NewS3(ctx context.Context, o S3Options) (*S3, error) {
	if o.Bucket == "" {
		return nil, errors.New("billstore: s3 URL must name a bucket: s3://BUCKET/prefix")
	}
	creds, region := o.Credentials, o.Region
	if creds == nil || region == "" {
		// The environment's credentials and region (creds.go); not consulted when o
		// gives both.
		var err error
		if creds, region, err = loadConfig(ctx, o.Region); err != nil {
			return nil, err
		}
		if o.Credentials != nil {
			creds = o.Credentials
		}
	}
	if creds == nil {
		return nil, errors.New("billstore: no AWS credentials for s3 (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or use a role)")
	}
	if region == "" {
		region = "us-east-1"
	}
	endpoint := o.Endpoint
	if endpoint == "" {
		// https://docs.aws.amazon.com/general/latest/gr/s3.html (China: amazonaws.com.cn).
		endpoint = "https://s3." + region + ".amazonaws.com"
		if strings.HasPrefix(region, "cn-") {
			endpoint += ".cn"
		}
	}
	base, err := url.Parse(endpoint)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("billstore: s3 endpoint %q: want http(s)://host[:port]", endpoint)
	}
	base = &url.URL{Scheme: base.Scheme, Host: base.Host, Path: strings.TrimRight(base.Path, "/")}
	if o.VirtualHost {
		base.Host = o.Bucket + "." + base.Host
	}
	client := o.HTTPClient
	if client == nil {
		client = http.DefaultClient
	}
	prefix := strings.Trim(o.Prefix, "/")
	if prefix != "" {
		prefix += "/"
	}
	return &S3{
		creds: creds, region: region, client: client, base: base, virtual: o.VirtualHost,
		bucket: o.Bucket, prefix: prefix, endpoint: o.Endpoint,
	}, nil
}

func (s *S3) String() string {
	where := "s3://" + s.bucket + "/" + s.prefix
	if s.endpoint != "" {
		where += " at " + s.endpoint
	}
	return where
}

func (s *S3) key(k Key) string { return s.prefix + k.Path() }

// Metadata names (x-amz-meta-*).
const (
	metaHashType  = "hash-type"
	metaHashValue = "hash-value"
	metaSize      = "uncompressed-size"
	metaRows      = "rows"
)

// emptySHA256 is the payload hash of a request without a body.
const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// Put uploads the file with its hash as object metadata.
func (s *S3) Put(ctx context.Context, k Key, body io.ReadSeeker, size int64, m Meta) error {
	if err := k.validate(); err != nil {
		return err
	}
	where := "put s3://" + s.bucket + "/" + s.key(k)
	// The payload hash is signed, so the body is read twice: hashed, then sent from
	// where it started.
	start, err := body.Seek(0, io.SeekCurrent)
	if err != nil {
		return fmt.Errorf("billstore: %s: %w", where, err)
	}
	h := sha256.New()
	if n, err := io.CopyN(h, body, size); err != nil {
		return fmt.Errorf("billstore: %s: body has %d bytes, want %d: %w", where, n, size, err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	header := http.Header{"Content-Type": {"application/gzip"}}
	for name, v := range map[string]string{
		metaHashType: m.HashType, metaHashValue: m.HashValue,
		metaSize: strconv.FormatInt(m.Size, 10), metaRows: strconv.FormatInt(m.Rows, 10),
	} {
		header.Set("X-Amz-Meta-"+name, v)
	}
	resp, err := s.do(ctx, http.MethodPut, s.objectURL(k), header, sum, size, func() (io.Reader, error) {
		if _, err := body.Seek(start, io.SeekStart); err != nil {
			return nil, err
		}
		return io.LimitReader(body, size), nil
	})
	if err != nil {
		return fmt.Errorf("billstore: %s: %w", where, err)
	}
	defer drain(resp)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("billstore: %s: %w", where, responseError(resp))
	}
	return nil
}

// Stat reads the object's metadata.
func (s *S3) Stat(ctx context.Context, k Key) (Meta, error) {
	if err := k.validate(); err != nil {
		return Meta{}, err
	}
	resp, err := s.do(ctx, http.MethodHead, s.objectURL(k), nil, emptySHA256, 0, nil)
	if err != nil {
		return Meta{}, fmt.Errorf("billstore: head s3://%s/%s: %w", s.bucket, s.key(k), err)
	}
	defer drain(resp)
	switch resp.StatusCode {
	case http.StatusOK:
		return metaOf(resp.Header), nil
	case http.StatusNotFound:
		// A HEAD answer has no body to tell a missing key from a missing bucket;
		// Put then names the bucket (NoSuchBucket).
		return Meta{}, ErrNotFound
	}
	return Meta{}, fmt.Errorf("billstore: head s3://%s/%s: %w", s.bucket, s.key(k), responseError(resp))
}

// Open downloads the object: the body streams from the response.
func (s *S3) Open(ctx context.Context, k Key) (io.ReadCloser, Meta, error) {
	if err := k.validate(); err != nil {
		return nil, Meta{}, err
	}
	resp, err := s.do(ctx, http.MethodGet, s.objectURL(k), nil, emptySHA256, 0, nil)
	if err != nil {
		return nil, Meta{}, fmt.Errorf("billstore: get s3://%s/%s: %w", s.bucket, s.key(k), err)
	}
	if resp.StatusCode == http.StatusOK {
		return resp.Body, metaOf(resp.Header), nil
	}
	defer drain(resp)
	e := responseError(resp)
	if resp.StatusCode == http.StatusNotFound && (e.Code == "NoSuchKey" || e.Code == "NotFound") {
		return nil, Meta{}, ErrNotFound
	}
	return nil, Meta{}, fmt.Errorf("billstore: get s3://%s/%s: %w", s.bucket, s.key(k), e)
}

// CreateBucket creates the bucket if it does not exist (local servers and tests).
func (s *S3) CreateBucket(ctx context.Context) error {
	u := s.bucketURL()
	var body []byte
	sum := emptySHA256
	if s.region != "us-east-1" {
		// https://docs.aws.amazon.com/AmazonS3/latest/API/API_CreateBucket.html: outside
		// us-east-1 the bucket's region is named in the body.
		body = []byte(`<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><LocationConstraint>` +
			s.region + `</LocationConstraint></CreateBucketConfiguration>`)
		h := sha256.Sum256(body)
		sum = hex.EncodeToString(h[:])
	}
	resp, err := s.do(ctx, http.MethodPut, u, nil, sum, int64(len(body)), func() (io.Reader, error) { return bytes.NewReader(body), nil })
	if err != nil {
		return fmt.Errorf("billstore: create bucket %s: %w", s.bucket, err)
	}
	defer drain(resp)
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	e := responseError(resp)
	if e.Code == "BucketAlreadyOwnedByYou" || e.Code == "BucketAlreadyExists" {
		return nil
	}
	return fmt.Errorf("billstore: create bucket %s: %w", s.bucket, e)
}

// bucketURL is the bucket's URL: endpoint/bucket, or bucket.endpoint/ when virtual.
func (s *S3) bucketURL() *url.URL {
	u := *s.base
	if !s.virtual {
		u.Path += "/" + s.bucket
	}
	if u.Path == "" {
		u.Path = "/"
	}
	u.RawPath = escapePath(u.Path)
	return &u
}

func (s *S3) objectURL(k Key) *url.URL {
	u := *s.base
	if !s.virtual {
		u.Path += "/" + s.bucket
	}
	u.Path += "/" + s.key(k)
	u.RawPath = escapePath(u.Path)
	return &u
}

// escapePath: the path UriEncoded (sigv4.go) but for its slashes, which is also a
// valid escaping for net/url, so the path sent is the path signed.
func escapePath(p string) string { return uriEncode(p, true) }

// Requests are retried on a transport error or a 500/502/503/504 answer (S3's
// InternalError and SlowDown), like the SDK's standard retryer; every operation here
// is idempotent.
const attempts = 3

// do signs and sends one request, retrying as above. body (nil: no body) gives the
// payload afresh for each attempt; payloadHash is its hex SHA-256.
func (s *S3) do(ctx context.Context, method string, u *url.URL, header http.Header, payloadHash string, size int64, body func() (io.Reader, error)) (*http.Response, error) {
	var lastErr error
	for attempt := 0; attempt < attempts; attempt++ {
		if attempt > 0 {
			wait := time.Duration(100<<attempt)*time.Millisecond + rand.N(100*time.Millisecond)
			select {
			case <-ctx.Done():
				return nil, errors.Join(lastErr, ctx.Err())
			case <-time.After(wait):
			}
		}
		req, err := http.NewRequestWithContext(ctx, method, u.String(), nil)
		if err != nil {
			return nil, err
		}
		for k, v := range header {
			req.Header[k] = v
		}
		if body != nil && size > 0 {
			r, err := body()
			if err != nil {
				return nil, err
			}
			req.Body, req.ContentLength = io.NopCloser(r), size
		}
		creds, err := s.creds.Retrieve(ctx)
		if err != nil {
			return nil, fmt.Errorf("credentials: %w", err)
		}
		signV4(req, creds, s.region, "s3", payloadHash, time.Now())
		resp, err := s.client.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return nil, err
			}
			lastErr = err
			continue
		}
		switch resp.StatusCode {
		case http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			if attempt < attempts-1 {
				lastErr = responseError(resp)
				drain(resp)
				continue
			}
		}
		return resp, nil
	}
	return nil, fmt.Errorf("after %d attempts: %w", attempts, lastErr)
}

func drain(resp *http.Response) {
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}

// S3Error is an error answer of S3 (or COS): its HTTP status and, from the XML error
// body (https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html), its
// code (NoSuchKey, NoSuchBucket, AccessDenied, SignatureDoesNotMatch, …) and message.
// A HEAD answer has no body: the code is then derived from the status.
type S3Error struct {
	StatusCode int
	Code       string
	Message    string
	RequestID  string
	// Region is the bucket's region when S3 says the request went to the wrong one
	// (x-amz-bucket-region).
	Region string
}

func (e *S3Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "S3 answered HTTP %d %s", e.StatusCode, e.Code)
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	switch e.Code {
	case "SignatureDoesNotMatch":
		b.WriteString(" (check the secret access key, and that region= is the bucket's region)")
	case "InvalidAccessKeyId":
		b.WriteString(" (the access key id is unknown to this endpoint)")
	case "AuthorizationHeaderMalformed", "PermanentRedirect", "IllegalLocationConstraintException":
		if e.Region != "" {
			b.WriteString(" (the bucket is in region " + e.Region + ": set region=" + e.Region + ")")
		}
	}
	if e.RequestID != "" {
		b.WriteString(" [request id " + e.RequestID + "]")
	}
	return b.String()
}

// responseError reads a non-success answer's error body (it does not close it).
func responseError(resp *http.Response) *S3Error {
	e := &S3Error{StatusCode: resp.StatusCode, Region: resp.Header.Get("X-Amz-Bucket-Region")}
	var body struct {
		Code      string `xml:"Code"`
		Message   string `xml:"Message"`
		RequestID string `xml:"RequestId"`
		Region    string `xml:"Region"`
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if len(raw) > 0 && xml.Unmarshal(raw, &body) == nil {
		e.Code, e.Message, e.RequestID = body.Code, body.Message, body.RequestID
		if e.Region == "" {
			e.Region = body.Region
		}
	}
	if e.RequestID == "" {
		e.RequestID = resp.Header.Get("X-Amz-Request-Id")
	}
	if e.Code == "" {
		switch resp.StatusCode {
		case http.StatusNotFound:
			e.Code = "NotFound"
		case http.StatusForbidden:
			e.Code = "Forbidden"
		case http.StatusMovedPermanently:
			e.Code = "PermanentRedirect"
		default:
			e.Code = strings.ReplaceAll(http.StatusText(resp.StatusCode), " ", "")
		}
	}
	return e
}

func metaOf(h http.Header) Meta {
	get := func(name string) string { return h.Get("X-Amz-Meta-" + name) } // Get folds case
	size, _ := strconv.ParseInt(get(metaSize), 10, 64)
	rows, _ := strconv.ParseInt(get(metaRows), 10, 64)
	return Meta{HashType: get(metaHashType), HashValue: get(metaHashValue), Size: size, Rows: rows}
}
