package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

type mapResolver map[string][]string

func (m mapResolver) LookupHost(_ context.Context, host string) ([]string, error) {
	if a, ok := m[host]; ok {
		return a, nil
	}
	return nil, errors.New("no such host")
}

func TestDoctorCommand(t *testing.T) {
	id, dir := simKeysDir(t)
	doctorResolver = mapResolver{"pay.example.com": {"203.0.113.7"}}
	t.Cleanup(func() { doctorResolver = nil })
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusUnauthorized) }))
	t.Cleanup(api.Close)
	t.Setenv("WXPAY_NOTIFY_URL", "")
	t.Setenv("WXPAY_KEYS_DIR", "")

	args := []string{"doctor", "--keys-dir", dir, "--api-base", api.URL}
	code, out, errOut := runCmd(t, append(args, "--notify-url", "https://pay.example.com/wxpay/notify")...)
	if code != 0 || !strings.Contains(out, "✔ all checks passed") || !strings.Contains(out, "keys dir "+dir) {
		t.Errorf("good config: exit %d\n%s%s", code, out, errOut)
	}

	code, out, _ = runCmd(t, append(args, "--notify-url", "http://pay.example.com:8080/notify?x=1", "--json")...)
	var rep struct {
		OK     bool
		Checks []struct{ Name, Status, Detail string }
	}
	if code != 1 || json.Unmarshal([]byte(out), &rep) != nil || rep.OK {
		t.Fatalf("bad notify_url: exit %d\n%s", code, out)
	}
	if strings.Contains(out, string(id.APIv3Key.Bytes())) {
		t.Error("JSON report contains the APIv3 key")
	}

	// --probe against a verifying endpoint: the probe lines pass (notify_url itself is
	// a local http URL, so its rules fail and the exit code is 1).
	ep := verifyingEndpoint(t, id)
	code, out, _ = runCmd(t, append(args, "--notify-url", ep.URL+"/notify", "--probe")...)
	if code != 1 || !strings.Contains(out, "✔ probe: signed notification") || !strings.Contains(out, "✔ probe: forged signature") {
		t.Errorf("probe: exit %d\n%s", code, out)
	}
}

func TestDoctorCommandFromEnv(t *testing.T) {
	_, dir := simKeysDir(t)
	doctorResolver = mapResolver{}
	t.Cleanup(func() { doctorResolver = nil })
	t.Setenv("WXPAY_KEYS_DIR", "")
	t.Setenv("WXPAY_MCHID", "1900000109")
	t.Setenv("WXPAY_APIV3_KEY", strings.Repeat("k", 31))
	t.Setenv("WXPAY_PRIVATE_KEY_FILE", dir+"/merchant_private_key.pem")
	t.Setenv("WXPAY_NOTIFY_URL", "https://pay.example.com/notify")
	t.Setenv("WXPAY_API_BASE", "http://127.0.0.1:1")
	code, out, _ := runCmd(t, "doctor", "--probe")
	for _, want := range []string{"configuration from environment", "✘ APIv3 key", "31 bytes", "– platform certificates", "⚠ notify_url DNS", "⚠ clock", "✘ probe", "/v3/security/echo"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if code != 1 {
		t.Errorf("exit %d\n%s", code, out)
	}
}
