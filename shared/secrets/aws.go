package secrets

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/paysls/wxpay/shared/awsconf"
)

// getParameter is SSM's GetParameter with decryption
// (https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_GetParameter.html).
func getParameter(ctx context.Context, cfg aws.Config, endpoint, name string) (string, error) {
	raw, err := awsconf.CallJSON(ctx, cfg, endpoint, "ssm", "AmazonSSM.GetParameter", map[string]any{"Name": name, "WithDecryption": true})
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
func getSecretString(ctx context.Context, cfg aws.Config, endpoint, id string) (string, error) {
	raw, err := awsconf.CallJSON(ctx, cfg, endpoint, "secretsmanager", "secretsmanager.GetSecretValue", map[string]any{"SecretId": id})
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
