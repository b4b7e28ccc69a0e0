package tencentssm

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/paysls/wxpay/internal/ssmtest"
)

const secretJSON = `{"apiv3_key":"0123456789abcdef0123456789abcdef","store_password":"redis-pass"}`

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func start(t *testing.T) (*ssmtest.Server, credentials) {
	creds := credentials{SecretID: "AKIDrole", SecretKey: "role-secret-key", Token: "role-session-token"}
	srv := ssmtest.Start(t, ssmtest.Key(creds), map[string][]ssmtest.Version{
		"ap-guangzhou/wxpay-prod": {
			{ID: "v1", CreateTime: 1700000000, String: `{"apiv3_key":"old"}`},
			{ID: "v2", CreateTime: 1700000500, String: secretJSON},
			{ID: "v0", CreateTime: 1600000000, String: `{"apiv3_key":"older"}`},
		},
	})
	return srv, creds
}

func roleEnv(srv *ssmtest.Server, creds credentials, extra map[string]string) func(string) string {
	m := map[string]string{
		envSecretName: "wxpay-prod", envRegion: "ap-guangzhou", EnvEndpoint: srv.URL,
		"TENCENTCLOUD_SECRETID": creds.SecretID, "TENCENTCLOUD_SECRETKEY": creds.SecretKey, "TENCENTCLOUD_SESSIONTOKEN": creds.Token,
	}
	for k, v := range extra {
		if v == "" {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	return env(m)
}

// Load with the role's temporary key: the newest version (by CreateTime, whatever
// order the API lists them in), two signed calls, the value as stored.
func TestLoadReadsTheNewestVersion(t *testing.T) {
	srv, creds := start(t)
	from, v, err := load(context.Background(), roleEnv(srv, creds, nil))
	if err != nil {
		t.Fatalf("Load: %v (refused: %v)", err, srv.Refused())
	}
	if string(v) != secretJSON || from != "Tencent SSM secret wxpay-prod@v2 in ap-guangzhou" {
		t.Errorf("Load = %q, %q", from, v)
	}
	if want := []string{"ListSecretVersionIds wxpay-prod", "GetSecretValue wxpay-prod"}; !slices.Equal(srv.Calls(), want) {
		t.Errorf("calls %v, want %v", srv.Calls(), want)
	}
}

func TestLoadPinnedVersion(t *testing.T) {
	srv, creds := start(t)
	_, v, err := load(context.Background(), roleEnv(srv, creds, map[string]string{envSecretVersion: "v1"}))
	if err != nil || string(v) != `{"apiv3_key":"old"}` {
		t.Fatalf("Load v1 = %q, %v", v, err)
	}
	if want := []string{"GetSecretValue wxpay-prod"}; !slices.Equal(srv.Calls(), want) {
		t.Errorf("a pinned version is one call: %v", srv.Calls())
	}
}

func TestLoadNotConfigured(t *testing.T) {
	from, v, err := load(context.Background(), env(nil))
	if from != "" || v != nil || err != nil {
		t.Errorf("without %s: %q %q %v, want nothing", envSecretName, from, v, err)
	}
}

// Every failure names what to fix, and no value of the secret or the key appears.
func TestLoadFailuresNameTheSetting(t *testing.T) {
	srv, creds := start(t)
	for name, c := range map[string]struct {
		extra map[string]string
		want  []string
	}{
		"no region":            {map[string]string{envRegion: ""}, []string{envRegion}},
		"no role":              {map[string]string{"TENCENTCLOUD_SECRETID": "", "TENCENTCLOUD_SECRETKEY": ""}, []string{"execution role", "TENCENTCLOUD_SECRETID"}},
		"wrong key":            {map[string]string{"TENCENTCLOUD_SECRETKEY": "not-the-key"}, []string{"AuthFailure.SignatureFailure", envSecretName}},
		"no session token":     {map[string]string{"TENCENTCLOUD_SESSIONTOKEN": ""}, []string{"AuthFailure.TokenFailure"}},
		"no such secret":       {map[string]string{envSecretName: "nope"}, []string{"ResourceNotFound", "nope"}},
		"no such version":      {map[string]string{envSecretVersion: "v9"}, []string{"ResourceNotFound", "v9"}},
		"another region":       {map[string]string{envRegion: "ap-shanghai"}, []string{"ResourceNotFound"}},
		"endpoint unreachable": {map[string]string{EnvEndpoint: "http://127.0.0.1:1"}, []string{envSecretName}},
	} {
		_, _, err := load(context.Background(), roleEnv(srv, creds, c.extra))
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q does not name %q", name, err, w)
			}
		}
		for _, secret := range []string{creds.SecretKey, creds.Token, "redis-pass", "0123456789abcdef"} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("%s: error shows a secret: %q", name, err)
			}
		}
	}
}

// Fetch is the small API the composed mains call with credentials they hold.
func TestFetch(t *testing.T) {
	srv, creds := start(t)
	c := &client{Endpoint: srv.URL}
	v, err := c.getSecretValue(context.Background(), creds, "ap-guangzhou", "wxpay-prod", "")
	if err != nil || string(v) != secretJSON {
		t.Fatalf("GetSecretValue = %q, %v", v, err)
	}
	if s := creds.String(); strings.Contains(s, creds.SecretKey) || strings.Contains(s, creds.Token) {
		t.Errorf("Credentials print their key: %s", s)
	}
}
