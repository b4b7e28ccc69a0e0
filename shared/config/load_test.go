package config

import (
	"strings"
	"testing"
)

// lookupOf is an environment made of m alone.
func lookupOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// The one loader: a keys dir supplies identity and secrets, the environment supplies
// the settings — the same settings whatever the mode — and Sources says where each
// value came from.
func TestLoadKeysDirIdentityEnvironmentSettings(t *testing.T) {
	id, dir := savedDir(t)
	env := map[string]string{
		EnvMchID:              "1900000001", // a merchant variable: not mixed into a simulator's identity
		EnvAPIv3Key:           "0123456789abcdef0123456789abcdef",
		EnvTrustedProxies:     "10.0.0.0/8, 192.168.1.1",
		EnvPartner:            "1",
		envRefundLatePayments: "yes",
		envOrderTTL:           "45m",
		EnvWebhookURL:         "https://merchant.example.com/hook",
		EnvWebhookSecret:      "whsec_from_env",
		EnvNotifyURL:          "https://pay.example.com/notify",
	}
	c, err := load(dir, lookupOf(env), false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.MchID != id.MchID || string(c.APIv3Key.Reveal()) != string(id.APIv3Key.Bytes()) {
		t.Errorf("identity from the environment leaked into a keys-dir-only load: mchid %s", c.MchID)
	}
	if !strings.HasPrefix(c.Source("MchID"), "keys dir ") {
		t.Errorf("MchID source %q", c.Source("MchID"))
	}
	b := c.Bundle
	if len(b.TrustedProxies) != 2 || !b.Partner || !b.RefundLatePayments || b.OrderTTL.String() != "45m0s" ||
		b.WebhookURL != env[EnvWebhookURL] || string(b.WebhookSecret.Reveal()) != "whsec_from_env" || c.NotifyURL != env[EnvNotifyURL] {
		t.Errorf("settings not taken from the environment: %+v notify %s", b, c.NotifyURL)
	}
	got := map[string]setting{}
	for _, s := range c.Settings() {
		got[s.Name] = s
	}
	for name, want := range map[string][2]string{
		EnvTrustedProxies:     {"10.0.0.0/8,192.168.1.1/32", "environment"},
		EnvPartner:            {"on", "environment"},
		envRefundLatePayments: {"on", "environment"},
		envOrderTTL:           {"45m0s", "environment"},
		EnvWebhookSecret:      {"(set, 14 bytes)", "environment"},
		EnvAPIBase:            {DefaultAPIBase, "default"},
		EnvOAuthBase:          {DefaultOAuthBase, "default"},
		envMerchantName:       {"(unset)", "-"},
	} {
		if s := got[name]; s.Value != want[0] || s.Source != want[1] {
			t.Errorf("%s = %+v, want %q from %q", name, s, want[0], want[1])
		}
	}
	for _, s := range c.Settings() {
		if strings.Contains(s.Value, "whsec_from_env") {
			t.Errorf("a secret printed in Settings: %+v", s)
		}
	}

	// Load (live mode): the same keys dir, the merchant variables override it.
	c, err = load(dir, lookupOf(env), true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.MchID != "1900000001" || c.Source("MchID") != EnvMchID {
		t.Errorf("Load: WXPAY_MCHID did not override the keys dir: %s from %s", c.MchID, c.Source("MchID"))
	}
}

// A malformed setting is an error naming its variable, in every mode.
func TestLoadRefusesMalformedSettings(t *testing.T) {
	_, dir := savedDir(t)
	for _, env := range []map[string]string{
		{EnvTrustedProxies: "10.0.0.0/33"},
		{envOrderTTL: "2 hours"},
		{EnvPartner: "maybe"},
	} {
		for _, identityFromEnv := range []bool{false, true} {
			_, err := load(dir, lookupOf(env), identityFromEnv, nil)
			for k := range env {
				if err == nil || !strings.Contains(err.Error(), k) {
					t.Errorf("%v (identity from env %v): %v", env, identityFromEnv, err)
				}
			}
		}
	}
}
