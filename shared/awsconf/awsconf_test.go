package awsconf

import (
	"context"
	"testing"
)

// Both builds (go test ./shared/awsconf and go test -tags wxpay_lambda ./shared/awsconf)
// take region and credentials from the environment when no options are given.
func TestLoadFromEnvironment(t *testing.T) {
	t.Setenv("AWS_REGION", "ap-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_SESSION_TOKEN", "token")
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
	cfg, err := Load(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Region != "ap-east-1" {
		t.Errorf("region %q", cfg.Region)
	}
	c, err := cfg.Credentials.Retrieve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if c.AccessKeyID != "AKIDEXAMPLE" || c.SecretAccessKey != "secret" || c.SessionToken != "token" {
		t.Errorf("%s credentials %+v", Chain, c)
	}

	cfg, err = Load(context.Background(), Options{Region: "us-east-1", AccessKeyID: "test", SecretAccessKey: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := cfg.Credentials.Retrieve(context.Background()); cfg.Region != "us-east-1" || c.AccessKeyID != "test" || c.SessionToken != "" {
		t.Errorf("options not applied: %s %+v", cfg.Region, c)
	}
}
