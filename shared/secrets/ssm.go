package secrets

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

// getParameter is SSM's GetParameter (WithDecryption) as one SigV4-signed
// awsJson1_1 request (https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_GetParameter.html).
// The SDK's SSM client would add 1.25 MB to every Lambda bootstrap for this one
// call; the signer is linked anyway (DynamoDB uses it).
func getParameter(ctx context.Context, cfg aws.Config, endpoint *string, name string) (string, error) {
	if cfg.Region == "" {
		return "", fmt.Errorf("no AWS region")
	}
	url := "https://ssm." + cfg.Region + ".amazonaws.com/"
	if strings.HasPrefix(cfg.Region, "cn-") {
		url = "https://ssm." + cfg.Region + ".amazonaws.com.cn/"
	}
	if endpoint != nil {
		url = strings.TrimRight(*endpoint, "/") + "/"
	}
	body, err := json.Marshal(map[string]any{"Name": name, "WithDecryption": true})
	if err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "AmazonSSM.GetParameter")
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return "", fmt.Errorf("credentials: %w", err)
	}
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "ssm", cfg.Region, time.Now()); err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	client := http.DefaultClient
	if cfg.HTTPClient != nil {
		if c, ok := cfg.HTTPClient.(*http.Client); ok {
			client = c
		}
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		// An error body names the error type and message, never the value.
		var e struct {
			Type    string `json:"__type"`
			Message string `json:"message"`
		}
		_ = json.Unmarshal(raw, &e)
		if i := strings.LastIndexByte(e.Type, '#'); i >= 0 {
			e.Type = e.Type[i+1:]
		}
		return "", fmt.Errorf("HTTP %d %s: %s", resp.StatusCode, e.Type, e.Message)
	}
	var out struct {
		Parameter struct {
			Value *string `json:"Value"`
		} `json:"Parameter"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return "", fmt.Errorf("decode GetParameter response: %w", err)
	}
	if out.Parameter.Value == nil {
		return "", fmt.Errorf("parameter has no value")
	}
	return *out.Parameter.Value, nil
}
