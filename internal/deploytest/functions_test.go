package deploytest

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/rpc"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tencentyun/scf-go-lib/cloudfunction/messages"

	"github.com/paysls/wxpay/internal/keysdirtest"
)

const root = "../.."

// goTags is the Makefile's tag set: aws-lambda-go's own lambda.norpc, nothing of ours.
const goTags = "lambda.norpc"

// The builds of a function: the mains under functions/<fn>/cmd.
const (
	buildLambda   = "lambda"
	buildSCFWeb   = "scfweb" // HTTP functions only
	buildSCFEvent = "scfevent"
	buildLocal    = "local"
)

type function struct {
	name   string
	http   bool     // it has a web-function main (scfweb); otherwise it is a job
	builds []string // the folders under cmd/ that hold a main
}

// functions lists functions/*/cmd/lambda/main.go, as the Makefile does.
func functions(t *testing.T) []function {
	t.Helper()
	mains, err := filepath.Glob(filepath.Join(root, "functions", "*", "cmd", "lambda", "main.go"))
	if err != nil || len(mains) == 0 {
		t.Fatalf("no functions/*/cmd/lambda/main.go: %v", err)
	}
	var fs []function
	for _, m := range mains {
		fn := function{name: filepath.Base(filepath.Dir(filepath.Dir(filepath.Dir(m))))}
		for _, b := range []string{buildLambda, buildSCFWeb, buildSCFEvent, buildLocal} {
			if _, err := os.Stat(filepath.Join(root, "functions", fn.name, "cmd", b, "main.go")); err == nil {
				fn.builds = append(fn.builds, b)
			}
		}
		fn.http = slices.Contains(fn.builds, buildSCFWeb)
		if want := []string{buildLambda, buildSCFEvent, buildLocal}; fn.http {
			want = []string{buildLambda, buildSCFWeb, buildSCFEvent, buildLocal}
			if !slices.Equal(fn.builds, want) {
				t.Errorf("functions/%s/cmd holds %v, an HTTP function has %v", fn.name, fn.builds, want)
			}
		} else if !slices.Equal(fn.builds, want) {
			t.Errorf("functions/%s/cmd holds %v, a job has %v", fn.name, fn.builds, want)
		}
		fs = append(fs, fn)
	}
	return fs
}

// probe is one request to an HTTP function and what must come back.
type probe struct {
	method, path, body string
	check              func(t *testing.T, status int, header http.Header, body []byte)
}

func wantFail(t *testing.T, status int, _ http.Header, body []byte) {
	t.Helper()
	var ack struct{ Code, Message string }
	if status < 400 || status > 499 || json.Unmarshal(body, &ack) != nil || ack.Code != "FAIL" || ack.Message == "" {
		t.Errorf("unsigned notification: %d %s, want 4xx {\"code\":\"FAIL\",…}", status, body)
	}
}

func wantUnauthorized(t *testing.T, status int, _ http.Header, body []byte) {
	t.Helper()
	if status != http.StatusUnauthorized {
		t.Errorf("request without the bearer token: %d %s, want 401", status, body)
	}
}

// probes per HTTP function; a function without one gets a request that only has
// to come back as some HTTP answer.
var probes = map[string]probe{
	"notify":      {"POST", "/notify", `{"id":"EV-1","event_type":"TRANSACTION.SUCCESS"}`, wantFail},
	"createorder": {"GET", "/orders/ORDER-1", "", wantUnauthorized},
}

func probeFor(fn string) probe {
	if p, ok := probes[fn]; ok {
		return p
	}
	return probe{"GET", "/", "", func(t *testing.T, status int, _ http.Header, _ []byte) {
		if status < 200 || status > 599 {
			t.Errorf("status %d", status)
		}
	}}
}

var (
	buildMu sync.Mutex
	built   = map[string]string{}
)

// build compiles a function's main for this machine as the Makefile does (cached per
// test run).
func build(t *testing.T, fn, main string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	key := fn + " " + main
	if p, ok := built[key]; ok {
		return p
	}
	dir, err := os.MkdirTemp("", "wxpay-deploytest-")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "bootstrap")
	cmd := exec.Command("go", "build", "-trimpath", "-tags", goTags, "-ldflags", "-s -w", "-o", out, "./functions/"+fn+"/cmd/"+main)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build functions/%s/cmd/%s: %v\n%s", fn, main, err, b)
	}
	built[key] = out
	return out
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, p := range built {
		os.RemoveAll(filepath.Dir(p))
	}
	os.Exit(code)
}

// env is a working configuration: the shared test identity in a keys dir, a bbolt
// store in a temp dir, WeChat Pay's API pointed at a dead local port, and nothing
// inherited that could point at a real platform.
func env(t *testing.T, extra ...string) []string {
	t.Helper()
	_, keys := keysdirtest.Dir(t)
	dead := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, `{"code":"SYSTEM_ERROR","message":"test stand-in"}`, http.StatusInternalServerError)
	}))
	t.Cleanup(dead.Close)
	base := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(),
		"WXPAY_KEYS_DIR=" + keys,
		"STORE_URL=bolt://" + filepath.Join(t.TempDir(), "store.db"),
		"WXPAY_API_BASE=" + dead.URL,
		"WXPAY_API_TOKEN=test-token",
		"WXPAY_NOTIFY_URL=https://pay.example.com/wxpay/notify", // createorder checks it at start-up
		"BILLS_URL=file://" + t.TempDir(),
	}
	return append(base, extra...)
}

// start runs bin and kills it when the test ends; its stderr is shown on failure.
func start(t *testing.T, bin string, env []string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("%s stderr:\n%s", filepath.Base(bin), stderr.String())
		}
	})
	return cmd
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func waitPort(t *testing.T, addr string) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond); err == nil {
			c.Close()
			return
		}
	}
	t.Fatalf("nothing listens on %s", addr)
}

func fixture(t *testing.T, name string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "shared", "host", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func set(m map[string]any, v any, path ...string) {
	for _, p := range path[:len(path)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	m[path[len(path)-1]] = v
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// scheduledInput is the template's Scheduler input with the time filled in.
func scheduledInput(fn string) []byte {
	return fmt.Appendf(nil, `{"source":"wxpay.scheduler","job":%q,"scheduled_time":%q}`, fn, time.Now().UTC().Truncate(time.Minute).Format(time.RFC3339))
}

// ------------------------------------------------------------------ Lambda

// runtimeAPI is a stand-in for the Lambda Runtime API
// (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html): it hands out
// queued events on /next and collects responses and errors.
type runtimeAPI struct {
	srv     *httptest.Server
	events  chan invocation
	results chan result
	nexts   chan time.Time
}

type invocation struct {
	id      string
	payload []byte
}

type result struct {
	id        string
	kind      string // "response", "error" or "init-error"
	body      []byte
	errorType string // Lambda-Runtime-Function-Error-Type
}

func newRuntimeAPI(t *testing.T) *runtimeAPI {
	t.Helper()
	api := &runtimeAPI{events: make(chan invocation, 16), results: make(chan result, 16), nexts: make(chan time.Time, 64)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /2018-06-01/runtime/invocation/next", func(w http.ResponseWriter, r *http.Request) {
		select {
		case api.nexts <- time.Now():
		default:
		}
		select {
		case inv := <-api.events:
			w.Header().Set("Lambda-Runtime-Aws-Request-Id", inv.id)
			w.Header().Set("Lambda-Runtime-Deadline-Ms", fmt.Sprint(time.Now().Add(30*time.Second).UnixMilli()))
			w.Header().Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:ap-east-1:123456789012:function:wxpay-test")
			w.Header().Set("Lambda-Runtime-Trace-Id", "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1")
			_, _ = w.Write(inv.payload)
		case <-r.Context().Done():
		}
	})
	collect := func(kind string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			api.results <- result{id: r.PathValue("id"), kind: kind, body: b, errorType: r.Header.Get("Lambda-Runtime-Function-Error-Type")}
			w.WriteHeader(http.StatusAccepted)
		}
	}
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/response", collect("response"))
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/error", collect("error"))
	mux.HandleFunc("POST /2018-06-01/runtime/init/error", collect("init-error"))
	api.srv = httptest.NewServer(mux)
	t.Cleanup(api.srv.Close)
	return api
}

func (api *runtimeAPI) addr() string { return strings.TrimPrefix(api.srv.URL, "http://") }

func (api *runtimeAPI) invoke(t *testing.T, id string, payload []byte) result {
	t.Helper()
	api.events <- invocation{id: id, payload: payload}
	select {
	case r := <-api.results:
		if r.id != id && r.kind != "init-error" {
			t.Fatalf("answer for %q, want %q", r.id, id)
		}
		return r
	case <-time.After(30 * time.Second):
		t.Fatalf("invocation %s: no answer", id)
	}
	return result{}
}

func TestLambdaBinary(t *testing.T) {
	for _, fn := range functions(t) {
		t.Run(fn.name, func(t *testing.T) {
			bin := build(t, fn.name, buildLambda)
			api := newRuntimeAPI(t)
			start(t, bin, env(t, "AWS_LAMBDA_RUNTIME_API="+api.addr(), "AWS_REGION=ap-east-1",
				"AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "AWS_LAMBDA_FUNCTION_NAME=wxpay-"+fn.name))
			if !fn.http {
				r := api.invoke(t, "job-1", scheduledInput(fn.name))
				checkJobResult(t, r.kind, r.body)
				r = api.invoke(t, "job-2", mustJSON(t, fixture(t, "aws-eventbridge-scheduled.json")))
				checkJobResult(t, r.kind, r.body)
				return
			}
			p := probeFor(fn.name)
			for i, shape := range []string{"aws-apigw-v1-request.json", "aws-apigw-v2-request.json", "aws-lambda-url-request.json"} {
				ev := fixture(t, shape)
				ev["body"], ev["isBase64Encoded"] = p.body, false
				if shape == "aws-apigw-v1-request.json" {
					ev["httpMethod"], ev["path"] = p.method, p.path
					set(ev, p.path, "requestContext", "path")
					set(ev, p.method, "requestContext", "httpMethod")
					delete(ev, "multiValueQueryStringParameters")
					delete(ev, "queryStringParameters")
				} else {
					ev["rawPath"], ev["rawQueryString"] = p.path, ""
					set(ev, p.method, "requestContext", "http", "method")
					set(ev, p.path, "requestContext", "http", "path")
					delete(ev, "queryStringParameters")
				}
				r := api.invoke(t, fmt.Sprintf("req-%d", i), mustJSON(t, ev))
				if r.kind != "response" {
					t.Fatalf("%s: %s %s", shape, r.kind, r.body)
				}
				var resp struct {
					StatusCode        int                 `json:"statusCode"`
					Headers           map[string]string   `json:"headers"`
					MultiValueHeaders map[string][]string `json:"multiValueHeaders"`
					Body              string              `json:"body"`
				}
				if err := json.Unmarshal(r.body, &resp); err != nil {
					t.Fatalf("%s: response %s: %v", shape, r.body, err)
				}
				h := http.Header{}
				for k, v := range resp.Headers {
					h.Set(k, v)
				}
				for k, v := range resp.MultiValueHeaders {
					h[http.CanonicalHeaderKey(k)] = v
				}
				t.Run(shape, func(t *testing.T) { p.check(t, resp.StatusCode, h, []byte(resp.Body)) })
			}
		})
	}
}

func checkJobResult(t *testing.T, kind string, body []byte) {
	t.Helper()
	switch kind {
	case "response":
		var report map[string]any
		if err := json.Unmarshal(body, &report); err != nil {
			t.Errorf("job result %s is not a JSON report: %v", body, err)
		}
	case "error":
		// A job that fails (here: WeChat Pay is a dead stand-in) is reported as the
		// invocation's error, with a message: the runtime served it.
		var e struct{ ErrorMessage, ErrorType string }
		if err := json.Unmarshal(body, &e); err != nil || e.ErrorMessage == "" {
			t.Errorf("job error %s has no errorMessage", body)
		}
	default:
		t.Errorf("job: %s %s", kind, body)
	}
}

// ------------------------------------------------------------------ SCF event (Go1 runtime)

// scfInvoke calls an SCF Go1 event function the way SCF's runtime does: net/rpc
// on _LAMBDA_SERVER_PORT, method Function.Invoke (scf-go-lib cloudfunction).
func scfInvoke(t *testing.T, client *rpc.Client, id string, payload []byte) messages.InvokeResponse {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	req := &messages.InvokeRequest{
		Payload: payload, RequestId: id,
		Deadline:     messages.InvokeRequest_Timestamp{Seconds: deadline.Unix(), Nanos: int64(deadline.Nanosecond())},
		FunctionName: "wxpay-test", Namespace: "default", TencentcloudRegion: "ap-guangzhou",
	}
	var resp messages.InvokeResponse
	if err := client.Call("Function.Invoke", req, &resp); err != nil {
		t.Fatalf("Function.Invoke: %v", err)
	}
	return resp
}

func TestSCFEventBinary(t *testing.T) {
	for _, fn := range functions(t) {
		t.Run(fn.name, func(t *testing.T) {
			bin := build(t, fn.name, buildSCFEvent)
			port := freePort(t)
			start(t, bin, env(t, fmt.Sprintf("_LAMBDA_SERVER_PORT=%d", port), "SCF_RUNTIME=Go1", "TENCENTCLOUD_RUNENV=SCF", "SCF_FUNCTIONNAME=wxpay-"+fn.name))
			addr := fmt.Sprintf("127.0.0.1:%d", port)
			waitPort(t, addr)
			client, err := rpc.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			if !fn.http {
				timer := fmt.Appendf(nil, `{"Type":"Timer","TriggerName":%q,"Time":"2019-02-21T11:49:00Z","Message":""}`, fn.name)
				for _, payload := range [][]byte{timer, scheduledInput(fn.name)} {
					resp := scfInvoke(t, client, "timer", payload)
					if resp.Error != nil {
						checkJobResult(t, "error", mustJSON(t, map[string]string{"errorMessage": resp.Error.Message}))
					} else {
						checkJobResult(t, "response", resp.Payload)
					}
				}
				return
			}
			p := probeFor(fn.name)
			for _, shape := range []string{"scf-apigw-request.json", "scf-function-url-request.json"} {
				ev := fixture(t, shape)
				ev["httpMethod"], ev["path"], ev["body"] = p.method, p.path, p.body
				ev["queryString"], ev["isBase64Encoded"] = map[string]any{}, false
				resp := scfInvoke(t, client, shape, mustJSON(t, ev))
				if resp.Error != nil {
					t.Fatalf("%s: %s", shape, resp.Error.Message)
				}
				var out struct {
					StatusCode        int                 `json:"statusCode"`
					Headers           map[string]string   `json:"headers"`
					MultiValueHeaders map[string][]string `json:"multiValueHeaders"`
					Body              string              `json:"body"`
				}
				if err := json.Unmarshal(resp.Payload, &out); err != nil {
					t.Fatalf("%s: %s: %v", shape, resp.Payload, err)
				}
				h := http.Header{}
				for k, v := range out.Headers {
					h.Set(k, v)
				}
				t.Run(shape, func(t *testing.T) { p.check(t, out.StatusCode, h, []byte(out.Body)) })
			}
		})
	}
}

// ------------------------------------------------------------------ SCF web function

// TestSCFWebPackage builds each HTTP function's SCF package with `make`, unpacks
// it and starts it the way SCF does: by executing scf_bootstrap.
func TestSCFWebPackage(t *testing.T) {
	if _, err := exec.LookPath("zip"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("zip not installed: make package needs it (apt-get install zip)")
		}
		t.Skip("zip not installed: make package needs it")
	}
	for _, fn := range functions(t) {
		if !fn.http {
			continue
		}
		t.Run(fn.name, func(t *testing.T) {
			cmd := exec.Command("make", "-s", "build/scf/"+fn.name+".zip")
			cmd.Dir = root
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("make: %v\n%s", err, b)
			}
			dir := unzip(t, filepath.Join(root, "build", "scf", fn.name+".zip"))
			boot := filepath.Join(dir, "scf_bootstrap")
			st, err := os.Stat(boot)
			if err != nil {
				t.Fatalf("package has no scf_bootstrap: %v", err)
			}
			if st.Mode().Perm() != 0o755 {
				t.Errorf("scf_bootstrap mode %v, want 0755", st.Mode().Perm())
			}
			src, _ := os.ReadFile(boot)
			if !bytes.HasPrefix(src, []byte("#!/bin/bash\n")) || bytes.Contains(src, []byte("\r")) || !bytes.Contains(src, []byte("exec ")) {
				t.Errorf("scf_bootstrap must start with #!/bin/bash, use LF endings and exec the binary:\n%s", src)
			}
			addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
			// Only what SCF gives a web function: no _LAMBDA_SERVER_PORT, no SCF_RUNTIME;
			// the package holds the scfweb build, which serves HTTP whatever the environment.
			start(t, "/bin/bash", env(t, "WXPAY_SCF_WEB_ADDR="+addr), boot)
			waitPort(t, addr)
			p := probeFor(fn.name)
			req, _ := http.NewRequestWithContext(context.Background(), p.method, "http://"+addr+p.path, strings.NewReader(p.body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Scf-Remote-Addr", "111.206.96.145:51234")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			p.check(t, resp.StatusCode, resp.Header, body)
		})
	}
}

// unzip extracts a package with the modes it carries, as SCF does.
func unzip(t *testing.T, path string) string {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	dir := t.TempDir()
	for _, f := range zr.File {
		if f.FileInfo().IsDir() {
			continue
		}
		dst := filepath.Join(dir, filepath.FromSlash(f.Name))
		if !strings.HasPrefix(dst, dir+string(filepath.Separator)) {
			t.Fatalf("zip entry %q escapes the directory", f.Name)
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, f.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dst, f.Mode().Perm()); err != nil { // WriteFile's mode is masked by umask
			t.Fatal(err)
		}
	}
	return dir
}
