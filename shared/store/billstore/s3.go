package billstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/paysls/wxpay/shared/awsconf"
)

// S3 is a Store in an S3 bucket (or Tencent COS, which speaks the S3 API).
type S3 struct {
	client   *s3.Client
	bucket   string
	prefix   string // "" or ending in "/"
	endpoint string
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
	// Credentials, when set, replace the default chain (tests, local servers).
	Credentials aws.CredentialsProvider
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

// NewS3 builds the client from the default AWS configuration adjusted by o. It does not
// contact the bucket.
func NewS3(ctx context.Context, o S3Options) (*S3, error) {
	if o.Bucket == "" {
		return nil, errors.New("billstore: s3 URL must name a bucket: s3://BUCKET/prefix")
	}
	// awsconf: the default chain locally, only the Lambda environment in Lambda builds
	// (which keeps SSO/STS/IMDS out of the bootstrap).
	cfg, err := awsconf.Load(ctx, awsconf.Options{Region: o.Region})
	if err != nil {
		return nil, fmt.Errorf("billstore: %w", err)
	}
	if o.Credentials != nil {
		cfg.Credentials = o.Credentials
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	client := s3.NewFromConfig(cfg, func(so *s3.Options) {
		so.UsePathStyle = !o.VirtualHost
		if o.Endpoint != "" {
			so.BaseEndpoint = aws.String(o.Endpoint)
		}
		// S3-compatible services (COS, local servers) do not all accept the SDK's
		// default trailing CRC checksums; send them only where the API requires them.
		so.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		so.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
	prefix := strings.Trim(o.Prefix, "/")
	if prefix != "" {
		prefix += "/"
	}
	return &S3{client: client, bucket: o.Bucket, prefix: prefix, endpoint: o.Endpoint}, nil
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

// Put uploads the file with its hash as object metadata.
func (s *S3) Put(ctx context.Context, k Key, body io.ReadSeeker, size int64, m Meta) error {
	if err := k.Validate(); err != nil {
		return err
	}
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(s.bucket), Key: aws.String(s.key(k)), Body: body,
		ContentLength: aws.Int64(size), ContentType: aws.String("application/gzip"),
		Metadata: map[string]string{
			metaHashType: m.HashType, metaHashValue: m.HashValue,
			metaSize: strconv.FormatInt(m.Size, 10), metaRows: strconv.FormatInt(m.Rows, 10),
		},
	})
	if err != nil {
		return fmt.Errorf("billstore: put s3://%s/%s: %w", s.bucket, s.key(k), err)
	}
	return nil
}

// Stat reads the object's metadata.
func (s *S3) Stat(ctx context.Context, k Key) (Meta, error) {
	if err := k.Validate(); err != nil {
		return Meta{}, err
	}
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.key(k))})
	if err != nil {
		if notFound(err) {
			return Meta{}, ErrNotFound
		}
		return Meta{}, fmt.Errorf("billstore: head s3://%s/%s: %w", s.bucket, s.key(k), err)
	}
	return metaOf(out.Metadata), nil
}

// Open downloads the object.
func (s *S3) Open(ctx context.Context, k Key) (io.ReadCloser, Meta, error) {
	if err := k.Validate(); err != nil {
		return nil, Meta{}, err
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.key(k))})
	if err != nil {
		if notFound(err) {
			return nil, Meta{}, ErrNotFound
		}
		return nil, Meta{}, fmt.Errorf("billstore: get s3://%s/%s: %w", s.bucket, s.key(k), err)
	}
	return out.Body, metaOf(out.Metadata), nil
}

// CreateBucket creates the bucket if it does not exist (local servers and tests).
func (s *S3) CreateBucket(ctx context.Context) error {
	_, err := s.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(s.bucket)})
	if err != nil && !strings.Contains(err.Error(), "BucketAlreadyOwnedByYou") && !strings.Contains(err.Error(), "BucketAlreadyExists") {
		return fmt.Errorf("billstore: create bucket %s: %w", s.bucket, err)
	}
	return nil
}

func metaOf(md map[string]string) Meta {
	get := func(name string) string {
		for k, v := range md { // header case varies between servers
			if strings.EqualFold(k, name) {
				return v
			}
		}
		return ""
	}
	size, _ := strconv.ParseInt(get(metaSize), 10, 64)
	rows, _ := strconv.ParseInt(get(metaRows), 10, 64)
	return Meta{HashType: get(metaHashType), HashValue: get(metaHashValue), Size: size, Rows: rows}
}

func notFound(err error) bool {
	var re *awshttp.ResponseError
	return errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound
}
