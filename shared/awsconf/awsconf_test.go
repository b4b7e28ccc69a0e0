package awsconf_test

import (
	"context"
	"testing"

	"github.com/paysls/wxpay/shared/awsconf"
	"github.com/paysls/wxpay/shared/awsconf/defaultchain"
)

// Both loaders take region and credentials from the environment when no options are
// given, and the options over it.
func TestLoadersReadTheEnvironment(t *testing.T) {
	for name, load := range map[string]awsconf.Loader{"FromEnv": awsconf.FromEnv, "defaultchain": defaultchain.Load} {
		t.Run(name, func(t *testing.T) {
			t.Setenv("AWS_REGION", "ap-east-1")
			t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
			t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
			t.Setenv("AWS_SESSION_TOKEN", "token")
			t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
			t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
			cfg, err := load(context.Background(), awsconf.Options{})
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
				t.Errorf("credentials %+v", c)
			}
			cfg, err = load(context.Background(), awsconf.Options{Region: "us-east-1", AccessKeyID: "test", SecretAccessKey: "test"})
			if err != nil {
				t.Fatal(err)
			}
			if c, _ := cfg.Credentials.Retrieve(context.Background()); cfg.Region != "us-east-1" || c.AccessKeyID != "test" || c.SessionToken != "" {
				t.Errorf("options not applied: %s %+v", cfg.Region, c)
			}
		})
	}
}

// FromEnv reads nothing but the environment: without the role's keys it says so.
func TestFromEnvNeedsCredentials(t *testing.T) {
	t.Setenv("AWS_REGION", "ap-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	if _, err := awsconf.FromEnv(context.Background(), awsconf.Options{}); err == nil {
		t.Fatal("want an error naming the missing variables")
	}
}
