package scfevent

import (
	"strings"
	"testing"
)

func TestReady(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	if err := ready(env("_LAMBDA_SERVER_PORT", "9001")); err != nil {
		t.Errorf("go runtime: %v", err)
	}
	if err := ready(env("SCF_RUNTIME_API", "127.0.0.1")); err == nil || !strings.Contains(err.Error(), "custom runtime") {
		t.Errorf("custom runtime: %v, want an explanation", err)
	}
	if err := ready(env()); err == nil || !strings.Contains(err.Error(), "scfweb") || !strings.Contains(err.Error(), "_LAMBDA_SERVER_PORT") {
		t.Errorf("no channel: %v, want the variable and the build to use", err)
	}
}
