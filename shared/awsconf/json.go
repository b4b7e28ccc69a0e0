package awsconf

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// CallJSON makes one SigV4-signed awsJson1_1 call (SSM, Secrets Manager, EventBridge)
// and returns the response body. The SDK's clients for these services would each add
// about a megabyte to every Lambda bootstrap and their schema tables to every cold
// start's init (EventBridge's alone: 0.5 ms), for one call each; the signer is linked
// anyway (DynamoDB uses it). service is the endpoint prefix and signing name ("ssm",
// "secretsmanager", "events"), target the X-Amz-Target header
// ("AmazonSSM.GetParameter"); endpoint, when not "", replaces the regional endpoint
// (https://docs.aws.amazon.com/general/latest/gr/rande.html; China regions end in
// amazonaws.com.cn), else cfg.BaseEndpoint does (AWS_ENDPOINT_URL). An error names
// the service's error type and message, never the request.
func CallJSON(ctx context.Context, cfg aws.Config, endpoint, service, target string, in any) ([]byte, error) {
	if cfg.Region == "" {
		return nil, fmt.Errorf("no AWS region")
	}
	url := "https://" + service + "." + cfg.Region + ".amazonaws.com/"
	if strings.HasPrefix(cfg.Region, "cn-") {
		url = "https://" + service + "." + cfg.Region + ".amazonaws.com.cn/"
	}
	if endpoint == "" && cfg.BaseEndpoint != nil {
		endpoint = *cfg.BaseEndpoint // AWS_ENDPOINT_URL
	}
	if endpoint != "" {
		url = strings.TrimRight(endpoint, "/") + "/"
	}
	body, err := json.Marshal(in)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", target)
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return nil, fmt.Errorf("credentials: %w", err)
	}
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), service, cfg.Region, time.Now()); err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	client := http.DefaultClient
	if c, ok := cfg.HTTPClient.(*http.Client); ok && c != nil {
		client = c
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		// An error body names the error type and a message, never the value.
		var e struct {
			Type    string `json:"__type"`
			Message string `json:"message"`
			Msg     string `json:"Message"`
		}
		_ = json.Unmarshal(raw, &e)
		if i := strings.LastIndexByte(e.Type, '#'); i >= 0 {
			e.Type = e.Type[i+1:]
		}
		if e.Message == "" {
			e.Message = e.Msg
		}
		return nil, fmt.Errorf("HTTP %d %s: %s", resp.StatusCode, e.Type, e.Message)
	}
	return raw, nil
}
