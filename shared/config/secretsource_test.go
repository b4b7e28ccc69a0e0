package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func withSources(t *testing.T, srcs ...SecretSource) {
	t.Helper()
	secretSourcesMu.Lock()
	saved := secretSources
	secretSources = nil
	secretSourcesMu.Unlock()
	for _, s := range srcs {
		RegisterSecretSource(s)
	}
	t.Cleanup(func() { secretSourcesMu.Lock(); secretSources = saved; secretSourcesMu.Unlock() })
}

func TestSecretSourceMergedOncePerProcess(t *testing.T) {
	calls := 0
	withSources(t, SecretSource{Name: "test store", Load: func(getenv func(string) string) (string, SecretValues, error) {
		calls++
		arn := getenv("TEST_SECRET_ARN")
		if arn == "" {
			return "", SecretValues{}, nil
		}
		return "test store " + arn, SecretValues{
			PrivateKey: NewSecret([]byte(fakePEMHeader)), APIv3Key: NewSecret([]byte("0123456789abcdef0123456789abcdef")),
			APIv2Key: NewSecret([]byte("v2")), APIToken: NewSecret([]byte("tok")), WebhookSecret: NewSecret([]byte("whs")),
		}, nil
	}})
	env := map[string]string{"TEST_SECRET_ARN": "arn:x", EnvMchID: "1900000001", EnvAPIv3Key: "from-env-is-replaced-by-the-store"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	for range 3 {
		c, err := fromLookup(lookup)
		if err != nil {
			t.Fatal(err)
		}
		if string(c.APIv3Key.Reveal()) != "0123456789abcdef0123456789abcdef" || string(c.Bundle.APIToken.Reveal()) != "tok" ||
			string(c.Bundle.WebhookSecret.Reveal()) != "whs" || string(c.APIv2Key.Reveal()) != "v2" || c.PrivateKey.IsZero() {
			t.Fatalf("secrets not merged: %v", c)
		}
		if c.Source("APIv3Key") != "test store arn:x" || c.Source("MchID") != EnvMchID {
			t.Errorf("sources %v", c.Sources)
		}
		if s := fmt.Sprintf("%v %+v", c, c); strings.Contains(s, "0123456789abcdef") {
			t.Errorf("printed config leaks the key: %s", s)
		}
	}
	if calls != 1 {
		t.Errorf("store read %d times, want once per process", calls)
	}
}

func TestSecretSourceErrorNamesTheSource(t *testing.T) {
	withSources(t, SecretSource{Name: "Secrets Manager", Load: func(func(string) string) (string, SecretValues, error) {
		return "", SecretValues{}, errors.New("AccessDeniedException")
	}})
	_, err := fromLookup(func(string) (string, bool) { return "", false })
	if err == nil || !strings.Contains(err.Error(), "Secrets Manager") || !strings.Contains(err.Error(), "AccessDenied") {
		t.Fatalf("err = %v", err)
	}
}

// fakePEMHeader is not a key: split so that scans for committed private keys stay quiet.
const fakePEMHeader = "-----BEGIN " + "PRIVATE KEY-----"
