package tencentssm

import (
	"strings"
	"testing"

	"github.com/paysls/wxpay/internal/ssmtest"
)

// Source decodes the secret as shared/config's secret JSON (store_password included),
// names where it came from, reads nothing when no secret is named, and reports a
// malformed secret by its keys, never its values.
func TestSource(t *testing.T) {
	srv, creds := start(t)
	src := Source()
	from, v, err := src.Load(roleEnv(srv, creds, nil))
	if err != nil {
		t.Fatal(err)
	}
	if from != "Tencent SSM secret wxpay-prod@v2 in ap-guangzhou" || string(v.APIv3Key.Reveal()) != "0123456789abcdef0123456789abcdef" || string(v.StorePassword.Reveal()) != "redis-pass" {
		t.Errorf("Load = %q, %+v", from, v)
	}
	if from, _, err := src.Load(roleEnv(srv, creds, map[string]string{envSecretName: ""})); from != "" || err != nil {
		t.Errorf("no secret named: %q %v", from, err)
	}

	bad := ssmtest.Start(t, ssmtest.Key(creds), map[string][]ssmtest.Version{"ap-guangzhou/wxpay-prod": {{ID: "v1", CreateTime: 1, String: `{"apiv3_kye":"leaked-value"}`}}})
	_, _, err = src.Load(roleEnv(bad, creds, nil))
	if err == nil || !strings.Contains(err.Error(), "apiv3_kye") || strings.Contains(err.Error(), "leaked-value") {
		t.Errorf("a misspelt key: %v", err)
	}
}
