// Package tencentssm reads a secret from Tencent Cloud Secrets Manager (SSM,
// 凭据管理系统) with the function's own temporary credentials, so that on Tencent
// Cloud SCF the merchant's keys live in SSM and the function's configuration names
// only where they are, as WXPAY_SECRET_ARN does on AWS:
//
//	WXPAY_TENCENT_SECRET_NAME     the SSM secret's name (SecretName)
//	WXPAY_TENCENT_SECRET_VERSION  its version (VersionId); empty: the newest version
//	WXPAY_TENCENT_REGION          the region the secret lives in, e.g. ap-guangzhou
//
// The credentials are the execution role's (运行角色) temporary key, which SCF gives a
// function as TENCENTCLOUD_SECRETID / TENCENTCLOUD_SECRETKEY / TENCENTCLOUD_SESSIONTOKEN
// (https://cloud.tencent.com/document/product/583/32748, "已内置环境变量"). The secret's
// SecretString is the same JSON object as the AWS secret's: Load returns its bytes,
// Source (the config.SecretSource the SCF and local mains list) decodes it with
// shared/config's secret JSON.
//
// Calls (API version 2019-09-23, endpoint ssm.tencentcloudapi.com):
// getSecretValue (https://cloud.tencent.com/document/api/1140/40522; VersionId is
// required) and, when no version is configured, ListSecretVersionIds
// (https://cloud.tencent.com/document/api/1140/40520) to find the newest.
package tencentssm

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Environment variables naming the secret.
const (
	envSecretName    = "WXPAY_TENCENT_SECRET_NAME"
	envSecretVersion = "WXPAY_TENCENT_SECRET_VERSION"
	envRegion        = "WXPAY_TENCENT_REGION"
	// EnvEndpoint replaces https://ssm.tencentcloudapi.com (tests: a local stand-in).
	EnvEndpoint = "WXPAY_TENCENT_SSM_ENDPOINT"
)

// The execution role's temporary key, as SCF sets it.
const (
	envSecretID     = "TENCENTCLOUD_SECRETID"
	envSecretKey    = "TENCENTCLOUD_SECRETKEY"
	envSessionToken = "TENCENTCLOUD_SESSIONTOKEN"
)

// defaultEndpoint is SSM's API endpoint; it routes to the nearest region, the
// region itself travels in X-TC-Region.
const defaultEndpoint = "https://ssm.tencentcloudapi.com"

const (
	service    = "ssm"
	apiVersion = "2019-09-23"
)

// timeout bounds the whole read at cold start.
const timeout = 10 * time.Second

// credentials are a Tencent Cloud key: SecretId, SecretKey and, for a temporary key,
// its token.
type credentials struct {
	SecretID, SecretKey, Token string
}

// String never shows the key.
func (c credentials) String() string { return "Credentials{SecretID:" + c.SecretID + "}" }

// credentialsFromEnv returns the execution role's temporary key SCF put in the
// environment, and whether there is one.
func credentialsFromEnv(getenv func(string) string) (credentials, bool) {
	c := credentials{SecretID: getenv(envSecretID), SecretKey: getenv(envSecretKey), Token: getenv(envSessionToken)}
	return c, c.SecretID != "" && c.SecretKey != ""
}

// client calls SSM. The zero value uses defaultEndpoint, http.DefaultClient and the
// wall clock (signatures carry the current time; the API refuses one 5 minutes off).
type client struct {
	Endpoint   string
	HTTPClient *http.Client
	Now        func() time.Time
}

// fetch returns the value of the secret name in region (its newest version), read
// with creds. For a secret stored as binary (SecretBinary) it is the decoded bytes.
func fetch(ctx context.Context, creds credentials, region, name string) ([]byte, error) {
	return (&client{}).getSecretValue(ctx, creds, region, name, "")
}

// load reads the secret the environment names (envSecretName …), once: the caller
// keeps the result for the container's life. It returns where the value came from
// ("Tencent SSM secret NAME@VERSION in REGION"), or "" and no error when no secret is
// configured. Errors name settings and the API's error code, never a value.
func load(ctx context.Context, getenv func(string) string) (from string, value []byte, err error) {
	name := strings.TrimSpace(getenv(envSecretName))
	if name == "" {
		return "", nil, nil
	}
	region := strings.TrimSpace(getenv(envRegion))
	if region == "" {
		return "", nil, fmt.Errorf("%s is set but %s is not: name the region the secret is in (e.g. ap-guangzhou)", envSecretName, envRegion)
	}
	creds, ok := credentialsFromEnv(getenv)
	if !ok {
		return "", nil, fmt.Errorf("%s is set but there is no %s/%s: give the function an execution role (role: in its serverless.yml) allowed ssm:GetSecretValue on the secret", envSecretName, envSecretID, envSecretKey)
	}
	c := &client{Endpoint: strings.TrimSpace(getenv(EnvEndpoint))}
	version := strings.TrimSpace(getenv(envSecretVersion))
	if version == "" {
		if version, err = c.latestVersion(ctx, creds, region, name); err != nil {
			return "", nil, fmt.Errorf("list the versions of Tencent SSM secret %s (%s): %w", name, envSecretName, err)
		}
	}
	value, err = c.getSecretValue(ctx, creds, region, name, version)
	if err != nil {
		return "", nil, fmt.Errorf("read Tencent SSM secret %s version %s (%s): %w", name, version, envSecretName, err)
	}
	return "Tencent SSM secret " + name + "@" + version + " in " + region, value, nil
}

// getSecretValue returns one version of a secret; version "" is the newest.
func (c *client) getSecretValue(ctx context.Context, creds credentials, region, name, version string) ([]byte, error) {
	if version == "" {
		v, err := c.latestVersion(ctx, creds, region, name)
		if err != nil {
			return nil, err
		}
		version = v
	}
	var out struct {
		SecretString string `json:"SecretString"`
		SecretBinary string `json:"SecretBinary"`
	}
	if err := c.call(ctx, creds, region, "GetSecretValue", map[string]string{"SecretName": name, "VersionId": version}, &out); err != nil {
		return nil, err
	}
	if out.SecretString != "" {
		return []byte(out.SecretString), nil
	}
	if out.SecretBinary != "" {
		b, err := base64.StdEncoding.DecodeString(out.SecretBinary)
		if err != nil {
			return nil, errors.New("SecretBinary is not base64")
		}
		return b, nil
	}
	return nil, errors.New("the secret version holds neither SecretString nor SecretBinary")
}

// latestVersion is the version created last.
func (c *client) latestVersion(ctx context.Context, creds credentials, region, name string) (string, error) {
	var out struct {
		Versions []struct {
			VersionID  string `json:"VersionId"`
			CreateTime int64  `json:"CreateTime"`
		} `json:"Versions"`
	}
	if err := c.call(ctx, creds, region, "ListSecretVersionIds", map[string]string{"SecretName": name}, &out); err != nil {
		return "", err
	}
	best, at := "", int64(-1)
	for _, v := range out.Versions {
		// Newest first; equal times (same second) fall to the larger id, so the
		// choice never depends on the order the API lists them in.
		if v.CreateTime > at || (v.CreateTime == at && v.VersionID > best) {
			best, at = v.VersionID, v.CreateTime
		}
	}
	if best == "" {
		return "", errors.New("the secret has no version: put one (PutSecretValue) or set " + envSecretVersion)
	}
	return best, nil
}

// call makes one signed API 3.0 request and decodes Response into out. API errors
// come back with HTTP 200 and Response.Error {Code, Message} (API 3.0's 返回结果,
// the same for every product, e.g. AuthFailure.SignatureFailure,
// ResourceNotFound).
func (c *client) call(ctx context.Context, creds credentials, region, action string, in any, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	endpoint := c.Endpoint
	if endpoint == "" {
		endpoint = defaultEndpoint
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(endpoint, "/")+"/", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("X-TC-Action", action)
	req.Header.Set("X-TC-Version", apiVersion)
	req.Header.Set("X-TC-Region", region)
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	sign(req, creds, service, body, now())
	hc := c.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	var env struct {
		Response struct {
			Error *struct {
				Code    string `json:"Code"`
				Message string `json:"Message"`
			} `json:"Error"`
			RequestID string `json:"RequestId"`
		} `json:"Response"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return fmt.Errorf("%s: HTTP %d, not an API 3.0 answer", action, resp.StatusCode)
	}
	if e := env.Response.Error; e != nil {
		// The message names the problem (a missing secret, a denied action), not a value.
		return fmt.Errorf("%s: %s: %s (RequestId %s)", action, e.Code, e.Message, env.Response.RequestID)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: HTTP %d", action, resp.StatusCode)
	}
	var wrapped struct {
		Response json.RawMessage `json:"Response"`
	}
	if err := json.Unmarshal(raw, &wrapped); err != nil {
		return err
	}
	return json.Unmarshal(wrapped.Response, out)
}
