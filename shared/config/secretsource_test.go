package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// The sources given are read once per FromEnv (a function calls it once per cold start)
// and their values merged over the environment.
func TestSecretSourceMergedOverTheEnvironment(t *testing.T) {
	calls := 0
	src := SecretSource{Name: "test store", Settings: []string{"TEST_SECRET_ARN"}, Load: func(getenv func(string) string) (string, SecretValues, error) {
		calls++
		arn := getenv("TEST_SECRET_ARN")
		if arn == "" {
			return "", SecretValues{}, nil
		}
		return "test store " + arn, SecretValues{
			PrivateKey: NewSecret([]byte(fakePEMHeader)), APIv3Key: NewSecret([]byte("0123456789abcdef0123456789abcdef")),
			APIv2Key: NewSecret([]byte("v2")), APIToken: NewSecret([]byte("tok")), WebhookSecret: NewSecret([]byte("whs")),
		}, nil
	}}
	env := map[string]string{"TEST_SECRET_ARN": "arn:x", EnvMchID: "1900000001", EnvAPIv3Key: "from-env-is-replaced-by-the-store"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	for range 3 {
		c, err := fromLookup(lookup, src)
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
	if calls != 3 {
		t.Errorf("store read %d times in 3 loads, want once each", calls)
	}
	// Without the source the same environment leaves the environment's key.
	c, err := fromLookup(lookup)
	if err != nil || string(c.APIv3Key.Reveal()) != "from-env-is-replaced-by-the-store" {
		t.Errorf("without sources: %v", err)
	}
}

func TestSecretSourceErrorNamesTheSource(t *testing.T) {
	src := SecretSource{Name: "Secrets Manager", Load: func(func(string) string) (string, SecretValues, error) {
		return "", SecretValues{}, errors.New("AccessDeniedException")
	}}
	_, err := fromLookup(func(string) (string, bool) { return "", false }, src)
	if err == nil || !strings.Contains(err.Error(), "Secrets Manager") || !strings.Contains(err.Error(), "AccessDenied") {
		t.Fatalf("err = %v", err)
	}
}

// fakePEMHeader is not a key: split so that scans for committed private keys stay quiet.
const fakePEMHeader = "-----BEGIN " + "PRIVATE KEY-----"

// A source none of whose settings is set is not asked (it would answer nothing, after
// setting up its call): a build carries sources it is not configured for.
func TestSecretSourceWithoutItsSettingsIsNotAsked(t *testing.T) {
	calls := 0
	src := SecretSource{Name: "test store", Settings: []string{"TEST_SECRET_ARN", "TEST_SECRET_PARAM"}, Load: func(func(string) string) (string, SecretValues, error) {
		calls++
		return "", SecretValues{}, nil
	}}
	for env, want := range map[string]int{"": 0, " ": 0, "arn:x": 1} {
		calls = 0
		lookup := func(k string) (string, bool) {
			if k == "TEST_SECRET_PARAM" {
				return env, true
			}
			return "", false
		}
		if _, err := fromLookup(lookup, src); err != nil {
			t.Fatal(err)
		}
		if calls != want {
			t.Errorf("TEST_SECRET_PARAM=%q: asked %d times, want %d", env, calls, want)
		}
	}
}
