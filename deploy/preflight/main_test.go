package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPreflight(t *testing.T) {
	root := t.TempDir()
	write := func(path, content string) {
		p := filepath.Join(root, path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("serverless.yml", "component: multi-scf\ninputs:\n  region: ${env:REGION}\n  environments:\n    - {key: A, value: '${env:WXPAY_MCHID}'} # ${env:IN_COMMENT}\n    # - {key: B, value: '${env:WXPAY_WEBHOOK_URL}'}\n")
	write("deploy/tencent/notify/serverless.yml", "# required: REGION STORE_URL\ncomponent: scf\ninputs:\n  environment:\n    variables:\n      X: ${env:OPTIONAL}\n      Y: ${env:STORE_URL}\n")
	files := []string{filepath.Join(root, "serverless.yml"), filepath.Join(root, "deploy/tencent/notify/serverless.yml")}
	run := func(env map[string]string) string {
		return strings.Join(check(files, func(k string) string { return env[k] }, root), "\n")
	}
	got := run(nil)
	for _, want := range []string{"REGION is not set", "WXPAY_MCHID is not set", `"undefined"`, "STORE_URL is not set"} {
		if !strings.Contains(got, want) {
			t.Errorf("nothing set: %q lacks %q", got, want)
		}
	}
	for _, not := range []string{"WXPAY_WEBHOOK_URL", "IN_COMMENT", "OPTIONAL"} {
		if strings.Contains(got, not) {
			t.Errorf("%s is commented out or optional, yet named: %q", not, got)
		}
	}
	// The root's .env serves every file (make deploy-tencent runs scf from the root).
	write(".env", "# comment\nREGION=ap-guangzhou\nWXPAY_MCHID='1900000109'\nSTORE_URL=\"redis://10.0.0.5:6379/0\"\n")
	if got := run(nil); got != "" {
		t.Errorf("all set in .env: %q", got)
	}
	// A .env beside a target wins over the root's, as in the CLI.
	write("deploy/tencent/notify/.env", "REGION=ap-guangzhou\n")
	if got := run(nil); !strings.Contains(got, "notify/serverless.yml: STORE_URL is not set") {
		t.Errorf("target .env: %q", got)
	}
	if got := run(map[string]string{"STORE_URL": "redis://x:6379/0"}); got != "" {
		t.Errorf("the shell fills what .env lacks: %q", got)
	}
}
