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

// getParameter is SSM's GetParameter with decryption
// (https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_GetParameter.html).
func getParameter(ctx context.Context, cfg aws.Config, endpoint *string, name string) (string, error) {
	raw, err := awsJSON(ctx, cfg, endpoint, "ssm", "AmazonSSM.GetParameter", map[string]any{"Name": name, "WithDecryption": true})
	if err != nil {
		return "", err
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

// getSecretString is Secrets Manager's GetSecretValue
// (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetSecretValue.html).
func getSecretString(ctx context.Context, cfg aws.Config, endpoint *string, id string) (string, error) {
	raw, err := awsJSON(ctx, cfg, endpoint, "secretsmanager", "secretsmanager.GetSecretValue", map[string]any{"SecretId": id})
	if err != nil {
		return "", err
	}
	var out struct {
		SecretString *string `json:"SecretString"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return "", fmt.Errorf("decode GetSecretValue response: %w", err)
	}
	if out.SecretString == nil {
		return "", fmt.Errorf("the secret has no SecretString: store the JSON object as text")
	}
	return *out.SecretString, nil
}

// awsJSON makes one SigV4-signed awsJson1_1 call. The SDK's SSM and Secrets
// Manager clients would add 1.5 MB to every Lambda bootstrap and their schema
// tables to every cold start's init, for one call each; the signer is linked
// anyway (DynamoDB uses it). Endpoints: https://docs.aws.amazon.com/general/latest/gr/rande.html
// (China regions end in amazonaws.com.cn).
func awsJSON(ctx context.Context, cfg aws.Config, endpoint *string, service, target string, in any) ([]byte, error) {
	if cfg.Region == "" {
		return nil, fmt.Errorf("no AWS region")
	}
	url := "https://" + service + "." + cfg.Region + ".amazonaws.com/"
	if strings.HasPrefix(cfg.Region, "cn-") {
		url = "https://" + service + "." + cfg.Region + ".amazonaws.com.cn/"
	}
	if endpoint == nil {
		endpoint = cfg.BaseEndpoint // AWS_ENDPOINT_URL (awsconf)
	}
	if endpoint != nil {
		url = strings.TrimRight(*endpoint, "/") + "/"
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
