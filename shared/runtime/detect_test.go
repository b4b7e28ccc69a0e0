package runtime

import (
	"strings"
	"testing"
)

func TestDetect(t *testing.T) {
	tests := []struct {
		name string
		env  string // space-separated KEY=VALUE
		want Platform
	}{
		{"empty environment", "", Local},
		{"lambda", "AWS_LAMBDA_RUNTIME_API=127.0.0.1:9001", Lambda},
		{"lambda wins over SCF lookalikes", "AWS_LAMBDA_RUNTIME_API=127.0.0.1:9001 TENCENTCLOUD_RUNENV=SCF", Lambda},
		{"scf go runtime event function", "TENCENTCLOUD_RUNENV=SCF _LAMBDA_SERVER_PORT=9001 SCF_RUNTIME=Go1", SCFEvent},
		{"scf custom runtime", "TENCENTCLOUD_RUNENV=SCF SCF_RUNTIME_API=127.0.0.1 SCF_RUNTIME_API_PORT=9001", SCFEvent},
		{"scf without event channel is a web function", "TENCENTCLOUD_RUNENV=SCF", SCFWeb},
		{"scf known by SCF_RUNTIME", "SCF_RUNTIME=Go1 _LAMBDA_SERVER_PORT=9001", SCFEvent},
		{"scf known by SCF_FUNCTIONNAME", "SCF_FUNCTIONNAME=notify", SCFWeb},
		{"explicit web beats event port", "TENCENTCLOUD_RUNENV=SCF _LAMBDA_SERVER_PORT=9001 WXPAY_SCF_MODE=web", SCFWeb},
		{"explicit event", "TENCENTCLOUD_RUNENV=SCF WXPAY_SCF_MODE=Event", SCFEvent},
		{"unknown mode falls back to signals", "TENCENTCLOUD_RUNENV=SCF WXPAY_SCF_MODE=webb", SCFWeb},
		{"web mode alone selects a web function", "WXPAY_SCF_MODE=web", SCFWeb},
		{"event mode alone selects an event function", "WXPAY_SCF_MODE=event", SCFEvent},
		{"unknown mode alone is local", "WXPAY_SCF_MODE=webb", Local},
		{"other runenv value is not SCF", "TENCENTCLOUD_RUNENV=TKE", Local},
		{"go runtime port without lambda is an SCF event function", "_LAMBDA_SERVER_PORT=9001", SCFEvent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{}
			for _, kv := range strings.Fields(tt.env) {
				k, v, _ := strings.Cut(kv, "=")
				env[k] = v
			}
			if got := detect(func(k string) string { return env[k] }); got != tt.want {
				t.Errorf("detect(%s) = %v, want %v", tt.env, got, tt.want)
			}
		})
	}
}

func TestDetectReadsProcessEnvironment(t *testing.T) {
	for _, k := range []string{envLambdaRuntimeAPI, envSCFRunEnv, envSCFRuntime, envSCFFunctionName, envSCFGoServerPort, envSCFRuntimeAPI, envSCFMode} {
		t.Setenv(k, "")
	}
	t.Setenv("TENCENTCLOUD_RUNENV", "SCF")
	t.Setenv("_LAMBDA_SERVER_PORT", "9001")
	if got := Detect(); got != SCFEvent {
		t.Errorf("Detect() = %v, want %v", got, SCFEvent)
	}
}

func TestSCFEventRuntimeReady(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	if err := scfEventRuntimeReady(env("_LAMBDA_SERVER_PORT", "9001")); err != nil {
		t.Errorf("go runtime: %v", err)
	}
	if err := scfEventRuntimeReady(env("SCF_RUNTIME_API", "127.0.0.1")); err == nil || !strings.Contains(err.Error(), "custom runtime") {
		t.Errorf("custom runtime: %v, want an explanation", err)
	}
	if err := scfEventRuntimeReady(env()); err == nil || !strings.Contains(err.Error(), "WXPAY_SCF_MODE=web") {
		t.Errorf("no channel: %v, want a fix in the message", err)
	}
}
