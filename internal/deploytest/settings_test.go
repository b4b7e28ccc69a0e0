package deploytest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// A setting that asks a build for something its main did not put in, and the builds
// that have it (shared/host's offers, held here to the mains).
var askFor = []struct {
	env      string
	setting  string   // the name the stop line must carry
	have     []string // builds that honour it
	delivers bool     // only functions that deliver merchant events are asked
}{
	{"STORE_URL=dynamodb://wxpay?region=ap-east-1&endpoint=http://127.0.0.1:9", "STORE_URL=dynamodb://", []string{buildLambda, buildLocal}, false},
	{"STORE_URL=redis://127.0.0.1:9/0", "STORE_URL=redis://", []string{buildSCFWeb, buildSCFEvent, buildLocal}, false},
	{"WXPAY_SECRET_ARN=arn:aws:secretsmanager:ap-east-1:123456789012:secret:wxpay-AbCdEf", "WXPAY_SECRET_ARN", []string{buildLambda, buildLocal}, false},
	{"WXPAY_SECRET_SSM_PARAMETER=/wxpay/merchant", "WXPAY_SECRET_SSM_PARAMETER", []string{buildLambda, buildLocal}, false},
	{"WXPAY_TENCENT_SECRET_NAME=wxpay-prod", "WXPAY_TENCENT_SECRET_NAME", []string{buildSCFWeb, buildSCFEvent, buildLocal}, false},
	{"WXPAY_EVENT_BUS=wxpay", "WXPAY_EVENT_BUS", []string{buildLambda, buildLocal}, true},
}

// delivers are the functions whose mains list event sinks (createorder: the console
// resends events).
var delivers = []string{"createorder", "notify", "reconcile"}

// hermetic keeps every AWS call on loopback: a dead HTTPS proxy refuses each at once,
// and the default chain reads no files and no instance metadata.
var hermetic = []string{"HTTPS_PROXY=http://127.0.0.1:9", "AWS_EC2_METADATA_DISABLED=true",
	"AWS_CONFIG_FILE=/nonexistent", "AWS_SHARED_CREDENTIALS_FILE=/nonexistent",
	"AWS_REGION=ap-east-1", "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test"}

// outcome is how a started binary ended up: stopped (with its stderr) or serving.
type outcome struct {
	stopped bool
	code    int
	stderr  string
	initErr *result // what a Lambda build posted to the init-error path
}

// launch starts fn's build b the way its platform does, with extra settings over a
// working environment, and waits until it serves (the Lambda Runtime API is asked for
// an invocation, a listener accepts) or stops.
func launch(t *testing.T, fn function, b string, extra ...string) outcome {
	t.Helper()
	bin := build(t, fn.name, b)
	e := append(env(t, hermetic...), "AWS_LAMBDA_FUNCTION_NAME=wxpay-"+fn.name)
	var args []string
	var api *runtimeAPI
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	switch b {
	case buildLambda:
		api = newRuntimeAPI(t)
		e = append(e, "AWS_LAMBDA_RUNTIME_API="+api.addr())
	case buildSCFWeb:
		e = append(e, "WXPAY_SCF_WEB_ADDR="+addr)
	case buildSCFEvent:
		_, port, _ := net.SplitHostPort(addr)
		e = append(e, "_LAMBDA_SERVER_PORT="+port, "SCF_RUNTIME=Go1", "TENCENTCLOUD_RUNENV=SCF")
	case buildLocal:
		if fn.http {
			args = []string{"-addr", addr}
		}
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(e, extra...) // the last of two values wins
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() { _ = cmd.Process.Kill(); <-exited }()
	var out outcome
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); {
		select {
		case err := <-exited:
			exited <- err // for the deferred wait
			out.stopped, out.stderr = true, stderr.String()
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				out.code = ee.ExitCode()
			}
			if api != nil {
				select {
				case r := <-api.results:
					out.initErr = &r
				default:
				}
			}
			return out
		case <-time.After(10 * time.Millisecond):
		}
		if api != nil {
			select {
			case <-api.nexts:
				out.stderr = stderr.String()
				return out
			default:
			}
		} else if b != buildLocal || fn.http {
			if c, err := net.DialTimeout("tcp", addr, 50*time.Millisecond); err == nil {
				c.Close()
				out.stderr = stderr.String()
				return out
			}
		}
	}
	t.Fatalf("%s/%s neither served nor stopped within 20 s:\n%s", fn.name, b, stderr.String())
	return out
}

// TestSettingABuildCannotHonourStopsIt starts every build of every function with each
// setting that asks for a store, a secret source or an event sink. A build without it
// stops at start-up with one line naming the setting, the build and the builds that
// have it; a build with it does not say so (it may stop for another reason: here
// Redis and AWS are unreachable).
func TestSettingABuildCannotHonourStopsIt(t *testing.T) {
	for _, fn := range functions(t) {
		for _, b := range fn.builds {
			for _, a := range askFor {
				if a.delivers && !slices.Contains(delivers, fn.name) {
					continue
				}
				t.Run(fn.name+"/"+b+"/"+a.setting, func(t *testing.T) {
					out := launch(t, fn, b, a.env)
					here := "this build (functions/" + fn.name + "/cmd/" + b + ")"
					if slices.Contains(a.have, b) {
						if strings.Contains(out.stderr, here) {
							t.Errorf("%s has it, but says it has not:\n%s", b, out.stderr)
						}
						return
					}
					if !out.stopped || out.code == 0 {
						t.Fatalf("started with %s, which it cannot honour (stopped %v, exit %d):\n%s", a.env, out.stopped, out.code, out.stderr)
					}
					line := stopLine(t, out.stderr)
					if !strings.Contains(line, a.setting) || !strings.Contains(line, here) {
						t.Errorf("the stop line does not name %s and %s: %s", a.setting, here, line)
					}
					for _, other := range a.have {
						if other == buildSCFWeb && !fn.http {
							continue
						}
						if p := "functions/" + fn.name + "/cmd/" + other; !strings.Contains(line, p) {
							t.Errorf("the stop line does not name %s, which has it: %s", p, line)
						}
					}
					if b == buildLambda && (out.initErr == nil || out.initErr.kind != "init-error" || !strings.Contains(string(out.initErr.body), a.setting)) {
						t.Errorf("the Lambda build did not post the line to the init-error path: %+v", out.initErr)
					}
				})
			}
		}
	}
}

// stopLine is the error of the one log line a stopped function writes.
func stopLine(t *testing.T, stderr string) string {
	t.Helper()
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(stderr), "\n") {
		var rec struct{ Level, Msg, Error string }
		if json.Unmarshal([]byte(l), &rec) == nil && rec.Level == "ERROR" && strings.HasSuffix(rec.Msg, " stopped") {
			lines = append(lines, rec.Error)
		}
	}
	if len(lines) != 1 {
		t.Fatalf("want one stop line, got %d:\n%s", len(lines), stderr)
	}
	return lines[0]
}

// TestLambdaInitErrorIsReported: a Lambda function whose start fails — a secret it
// cannot read, a required setting missing, a setting of another build — posts the
// reason to the Runtime API's init-error path (so the console shows it instead of
// Runtime.ExitError) and exits 1.
func TestLambdaInitErrorIsReported(t *testing.T) {
	fns := map[string]function{}
	for _, fn := range functions(t) {
		fns[fn.name] = fn
	}
	for name, tc := range map[string]struct {
		fn    string
		extra []string
		want  []string
	}{
		"secret cannot be read": {"notify", []string{"WXPAY_SECRET_ARN=arn:aws:secretsmanager:ap-east-1:123456789012:secret:wxpay-AbCdEf"},
			[]string{"Secrets Manager", "WXPAY_SECRET_ARN", "arn:aws:secretsmanager:ap-east-1:123456789012:secret:wxpay-AbCdEf"}},
		"setting missing":          {"createorder", []string{"WXPAY_NOTIFY_URL="}, []string{"notify_url"}},
		"setting of another build": {"reconcile", []string{"STORE_URL=redis://127.0.0.1:9/0"}, []string{"STORE_URL=redis://", "functions/reconcile/cmd/scfevent"}},
	} {
		t.Run(name, func(t *testing.T) {
			fn, ok := fns[tc.fn]
			if !ok {
				t.Skipf("no function %s", tc.fn)
			}
			out := launch(t, fn, buildLambda, tc.extra...)
			if !out.stopped || out.code != 1 {
				t.Fatalf("stopped %v, exit %d, want exit 1:\n%s", out.stopped, out.code, out.stderr)
			}
			if out.initErr == nil || out.initErr.kind != "init-error" {
				t.Fatalf("nothing posted to /2018-06-01/runtime/init/error (got %+v)", out.initErr)
			}
			var body struct {
				ErrorMessage string   `json:"errorMessage"`
				ErrorType    string   `json:"errorType"`
				StackTrace   []string `json:"stackTrace"`
			}
			if err := json.Unmarshal(out.initErr.body, &body); err != nil {
				t.Fatalf("init error body %s: %v", out.initErr.body, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(strings.ToLower(body.ErrorMessage), strings.ToLower(w)) {
					t.Errorf("errorMessage %q does not mention %q", body.ErrorMessage, w)
				}
			}
			if body.ErrorType == "" || out.initErr.errorType == "" || !strings.HasPrefix(out.initErr.errorType, "Runtime.") {
				t.Errorf("error type: body %q, Lambda-Runtime-Function-Error-Type %q", body.ErrorType, out.initErr.errorType)
			}
			if line := stopLine(t, out.stderr); line != body.ErrorMessage {
				t.Errorf("the log line and the init error differ:\n%s\n%s", line, body.ErrorMessage)
			}
		})
	}
}
