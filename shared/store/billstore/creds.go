package billstore

import (
	"context"
	"errors"
	"os"
)

// credentials are an access key, its secret and, for temporary keys, a session token.
type credentials struct {
	AccessKeyID, SecretAccessKey, SessionToken string
}

// credentialsProvider gives the credentials of each request.
type credentialsProvider interface {
	Retrieve(ctx context.Context) (credentials, error)
}

type staticCredentials credentials

func (s staticCredentials) Retrieve(context.Context) (credentials, error) { return credentials(s), nil }

// StaticCredentials always gives the same key (tests, local servers).
func StaticCredentials(id, secret, token string) credentialsProvider {
	return staticCredentials{AccessKeyID: id, SecretAccessKey: secret, SessionToken: token}
}

// loadConfig: the region from region= or AWS_REGION; the key, read again for every
// request, from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN (what
// Lambda sets from the function's role), else the temporary key SCF sets from the
// function's execution role (运行角色, https://cloud.tencent.com/document/product/583/32389)
// in TENCENTCLOUD_SECRETID / TENCENTCLOUD_SECRETKEY / TENCENTCLOUD_SESSIONTOKEN, which
// COS accepts on its S3-compatible endpoint. The package links no AWS SDK, so every
// build carries it; a program that wants another source (a profile, an instance role)
// passes S3Options.Credentials.
func loadConfig(ctx context.Context, region string) (credentialsProvider, string, error) {
	if region == "" {
		region = os.Getenv("AWS_REGION")
	}
	if _, err := (envCredentials{}).Retrieve(ctx); err != nil {
		return nil, "", err
	}
	return envCredentials{}, region, nil
}

type envCredentials struct{}

func (envCredentials) Retrieve(context.Context) (credentials, error) {
	switch {
	case os.Getenv("AWS_ACCESS_KEY_ID") != "" && os.Getenv("AWS_SECRET_ACCESS_KEY") != "":
		return credentials{os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY"), os.Getenv("AWS_SESSION_TOKEN")}, nil
	case os.Getenv("TENCENTCLOUD_SECRETID") != "" && os.Getenv("TENCENTCLOUD_SECRETKEY") != "":
		return credentials{os.Getenv("TENCENTCLOUD_SECRETID"), os.Getenv("TENCENTCLOUD_SECRETKEY"), os.Getenv("TENCENTCLOUD_SESSIONTOKEN")}, nil
	}
	return credentials{}, errors.New("billstore: no credentials for s3: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or give the SCF function an execution role (TENCENTCLOUD_SECRETID/SECRETKEY)")
}
