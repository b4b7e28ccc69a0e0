package deploytest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/rpc"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/paysls/wxpay/internal/keysdirtest"
	"github.com/paysls/wxpay/internal/ssmtest"
	"github.com/paysls/wxpay/internal/testserver"
	"github.com/paysls/wxpay/shared/keysdir"
	"github.com/paysls/wxpay/shared/secrets/tencentssm"
	"github.com/paysls/wxpay/shared/store/billstore"
	"github.com/paysls/wxpay/shared/store/dynamostore"
)

// The first deploy, on each cloud, for a merchant who set only the required values:
// each deployment file is rendered as its tool would (renderSAM, renderSCF) and every
// function is started from its built package with exactly that environment, plus
// what the platform itself sets (the Runtime API or SCF's port, region, the role's
// key) and, test-only, WXPAY_API_BASE pointing WeChat Pay at a dead local stand-in
// and the AWS/SSM endpoints at local stand-ins (moto, ssmtest). Each function must
// start and answer its health check; a function that cannot must stop with one line
// naming the setting. The four defects of issue 20 are regression cases here.

const firstDeployToken = "first-deploy-api-token"

// merchantSecret is the secret JSON the README has the merchant store (Secrets
// Manager or Tencent SSM), from the shared test identity.
func merchantSecret(t *testing.T, extra map[string]string) (*keysdir.Identity, string) {
	t.Helper()
	id, dir := keysdirtest.Dir(t)
	pem, err := os.ReadFile(filepath.Join(dir, keysdir.FileMerchantKey))
	if err != nil {
		t.Fatal(err)
	}
	v3, err := os.ReadFile(filepath.Join(dir, keysdir.FileAPIv3Key))
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{"private_key": string(pem), "apiv3_key": strings.TrimSpace(string(v3)),
		"api_token": firstDeployToken, "webhook_secret": "first-deploy-webhook-secret"}
	for k, v := range extra {
		m[k] = v
	}
	b, _ := json.Marshal(m)
	return id, string(b)
}

// deadWeChat is WeChat Pay's API stand-in that fails every call (no network here).
func deadWeChat(t *testing.T) string {
	dead := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, `{"code":"SYSTEM_ERROR","message":"test stand-in"}`, http.StatusInternalServerError)
	}))
	t.Cleanup(dead.Close)
	return dead.URL
}

func envList(m map[string]string, extra ...string) []string {
	out := []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return append(out, extra...)
}

// runToExit runs bin and waits for it to stop by itself: a function that cannot start.
func runToExit(t *testing.T, bin string, env []string, args ...string) (exited bool, stderr string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	var buf lockedBuffer
	cmd.Stderr = &buf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err != nil, buf.String()
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		return false, buf.String()
	}
}

// lastLine is the one log line a function that cannot start ends with.
func lastLine(stderr string) string {
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	return lines[len(lines)-1]
}

// ------------------------------------------------------------------ AWS

func TestFirstDeployAWS(t *testing.T) {
	moto := testserver.Moto(t)
	id, secret := merchantSecret(t, nil)
	stack := renderSAM(t, map[string]string{"MchId": id.MchID, "AppId": id.AppID, "MerchantSerial": id.MerchantSerial, "SecretName": "wxpay/prod"})
	ctx := context.Background()

	// What exists before the functions start: the stack's table, and the secret the
	// README has the merchant create (aws secretsmanager create-secret --name wxpay/prod).
	tableName := stack.ref(t, "Table")
	tbl, err := dynamostore.Open(ctx, tableName, dynamostore.WithEndpoint(moto), dynamostore.WithRegion(samRegion), dynamostore.WithStaticCredentials("test", "test"))
	if err != nil {
		t.Fatal(err)
	}
	if err := tbl.CreateTable(ctx); err != nil {
		t.Fatal(err)
	}
	sm := secretsmanager.New(secretsmanager.Options{Region: samRegion, BaseEndpoint: aws.String(moto), Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")})
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("wxpay/prod"), SecretString: aws.String(secret)}); err != nil {
		t.Fatal(err)
	}
	dead := deadWeChat(t)
	apiURL := "https://" + samPhysical["HttpApi"] + ".execute-api." + samRegion + ".amazonaws.com"

	for _, fn := range functions(t) {
		t.Run(fn.name, func(t *testing.T) {
			logical := samLogical(t, stack, fn.name)
			env := stack.functionEnv(t, logical)
			// Defect 3: notify_url defaults to the stack's own API URL (createorder
			// refused to start with the old empty default until a second deploy).
			if env["WXPAY_NOTIFY_URL"] != apiURL+"/notify" || env["WXPAY_PUBLIC_URL"] != apiURL {
				t.Errorf("WXPAY_NOTIFY_URL %q, WXPAY_PUBLIC_URL %q: want the stack's own %s/notify and %s", env["WXPAY_NOTIFY_URL"], env["WXPAY_PUBLIC_URL"], apiURL, apiURL)
			}
			if env["WXPAY_SECRET_ARN"] != "wxpay/prod" || env["STORE_URL"] != "dynamodb://"+tableName {
				t.Errorf("WXPAY_SECRET_ARN %q, STORE_URL %q", env["WXPAY_SECRET_ARN"], env["STORE_URL"])
			}
			bin := build(t, fn.name, buildLambda)
			platform := func(api *runtimeAPI) []string {
				return []string{"AWS_LAMBDA_RUNTIME_API=" + api.addr(), "AWS_REGION=" + samRegion, "AWS_ACCESS_KEY_ID=test",
					"AWS_SECRET_ACCESS_KEY=test", "AWS_SESSION_TOKEN=test", "AWS_LAMBDA_FUNCTION_NAME=wxpay-" + fn.name, "HOME=" + t.TempDir(),
					"AWS_ENDPOINT_URL=" + moto, "WXPAY_API_BASE=" + dead}
			}
			if fn.name == "createorder" {
				// The old default: with no notify_url createorder stops, naming it (in its
				// log and in the init error it posts to its own Runtime API).
				old, oldAPI := maps(env, map[string]string{"WXPAY_NOTIFY_URL": ""}), newRuntimeAPI(t)
				exited, stderr := runToExit(t, bin, envList(old, platform(oldAPI)...))
				if !exited || !strings.Contains(lastLine(stderr), "WXPAY_NOTIFY_URL") {
					t.Errorf("createorder without a notify_url: exited %t, last line %q; want a stop naming WXPAY_NOTIFY_URL", exited, lastLine(stderr))
				}
				select {
				case r := <-oldAPI.results:
					if r.kind != "init-error" || !strings.Contains(string(r.body), "WXPAY_NOTIFY_URL") {
						t.Errorf("createorder without a notify_url posted %s %s, want an init error naming WXPAY_NOTIFY_URL", r.kind, r.body)
					}
				default:
					t.Error("createorder without a notify_url posted no init error")
				}
			}
			api := newRuntimeAPI(t)
			start(t, bin, envList(env, platform(api)...))
			if !fn.http {
				r := api.invoke(t, "first-run", scheduledInput(fn.name))
				checkJobResult(t, r.kind, r.body)
				return
			}
			for _, p := range firstDeployProbes[fn.name] {
				status, body := api.httpV2(t, p.method, p.path, p.body, p.header)
				p.check(t, status, body)
			}
		})
	}
}

// samLogical is the logical id of the function deployed from functions/<name>.
func samLogical(t *testing.T, s *samStack, name string) string {
	for id, r := range s.resources {
		if dig(r, "Type") == "AWS::Serverless::Function" && strings.EqualFold(strings.TrimSuffix(id, "Function"), name) {
			return id
		}
	}
	t.Fatalf("template.yaml does not deploy %s", name)
	return ""
}

func maps(base, over map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		if v == "" {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	return out
}

// healthProbe is a request a started function must answer, and what it must answer.
type healthProbe struct {
	method, path, body string
	header             map[string]string
	check              func(t *testing.T, status int, body []byte)
}

var bearer = map[string]string{"Authorization": "Bearer " + firstDeployToken}

// wantAnswer: the handler itself answered (JSON carrying code), with the status given.
func wantAnswer(status int, code string) func(t *testing.T, got int, body []byte) {
	return func(t *testing.T, got int, body []byte) {
		t.Helper()
		var a struct{ Code, Message, Hint string }
		_ = json.Unmarshal(body, &a)
		if got != status || a.Code != code {
			t.Errorf("%d %s, want %d with code %s", got, body, status, code)
		}
	}
}

// The health checks: each proves the function read its secret (the bearer token
// comes from it), reached its store, and routes what the deployment routes.
var firstDeployProbes = map[string][]healthProbe{
	"createorder": {
		// The order API with the secret's api_token: the store is read, the order is not there.
		{"GET", "/orders/FIRSTDEPLOY1", "", bearer, wantAnswer(404, "ORDER_NOT_FOUND")},
		{"GET", "/orders/FIRSTDEPLOY1", "", nil, func(t *testing.T, got int, body []byte) {
			if got != 401 {
				t.Errorf("without the token: %d %s, want 401", got, body)
			}
		}},
	},
	"notify": {
		// Defect 4: GET /events/{id} is served (and routed, see the route-parity test).
		{"GET", "/events/evt_firstdeploy", "", bearer, wantEventLookup},
		{"POST", "/notify", `{"id":"EV-1","event_type":"TRANSACTION.SUCCESS"}`, nil, func(t *testing.T, got int, body []byte) {
			wantFail(t, got, nil, body)
		}},
	},
}

// wantEventLookup: the events API looked the id up (and found it malformed or absent),
// rather than answering that the route does not exist.
func wantEventLookup(t *testing.T, got int, body []byte) {
	t.Helper()
	if (got != 400 && got != 404) || !strings.Contains(string(body), "event") || strings.Contains(string(body), "no such route") {
		t.Errorf("GET /events/{id}: %d %s, want the event lookup's own 400/404", got, body)
	}
}

// httpV2 sends one API Gateway HTTP API (payload 2.0) request through the Runtime API
// stand-in and returns the function's answer.
func (api *runtimeAPI) httpV2(t *testing.T, method, path, body string, header map[string]string) (int, []byte) {
	t.Helper()
	ev := fixture(t, "aws-apigw-v2-request.json")
	p, q, _ := strings.Cut(path, "?")
	ev["rawPath"], ev["rawQueryString"], ev["body"], ev["isBase64Encoded"] = p, q, body, false
	delete(ev, "queryStringParameters")
	delete(ev, "cookies")
	set(ev, method, "requestContext", "http", "method")
	set(ev, p, "requestContext", "http", "path")
	headers := map[string]any{"content-type": "application/json"}
	for k, v := range header {
		headers[strings.ToLower(k)] = v
	}
	ev["headers"] = headers
	r := api.invoke(t, fmt.Sprintf("req-%d", requestSeq.Add(1)), mustJSON(t, ev))
	if r.kind != "response" {
		t.Fatalf("%s %s: %s %s", method, path, r.kind, r.body)
	}
	var resp struct {
		StatusCode int    `json:"statusCode"`
		Body       string `json:"body"`
	}
	if err := json.Unmarshal(r.body, &resp); err != nil {
		t.Fatalf("%s %s: %s: %v", method, path, r.body, err)
	}
	return resp.StatusCode, []byte(resp.Body)
}

// ------------------------------------------------------------------ Tencent Cloud

// The role's temporary key SCF gives a function that has an execution role.
var scfRoleKey = ssmtest.Key{SecretID: "AKIDscfrole", SecretKey: "scf-role-secret-key", Token: "scf-role-session-token"}

const (
	scfRegion     = "ap-guangzhou"
	redisPassword = "first-deploy-redis-password"
)

var packageOnce = sync.OnceValue(func() error {
	cmd := exec.Command("make", "-s", "package")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("make package: %v\n%s", err, out)
	}
	return nil
})

// tencentSetup is what the README has the merchant create before `make deploy-tencent`
// (Redis with a password and AOF, the COS bucket, the SSM secret), stood in for
// locally, and the .env holding only the required settings.
func tencentSetup(t *testing.T) (dotenv map[string]string, ssm *ssmtest.Server) {
	t.Helper()
	if _, err := exec.LookPath("zip"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("zip not installed: make package needs it (apt-get install zip)")
		}
		t.Skip("zip not installed: make package needs it")
	}
	redis := testserver.Run(t, "redis-server", "apt-get install redis-server", func(port int) []string {
		return []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes",
			"--dir", t.TempDir(), "--requirepass", redisPassword}
	})
	moto := testserver.Moto(t) // COS's S3-compatible API
	cos, err := billstore.NewS3(context.Background(), billstore.S3Options{Bucket: "wxpay-bills-1250000000", Region: scfRegion, Endpoint: moto,
		Credentials: billstore.StaticCredentials("test", "test", "")})
	if err != nil {
		t.Fatal(err)
	}
	if err := cos.CreateBucket(context.Background()); err != nil {
		t.Fatal(err)
	}
	id, secret := merchantSecret(t, map[string]string{"store_password": redisPassword})
	ssm = ssmtest.Start(t, scfRoleKey, map[string][]ssmtest.Version{scfRegion + "/wxpay-prod": {{ID: "v1", CreateTime: time.Now().Unix(), String: secret}}})
	if err := packageOnce(); err != nil {
		t.Fatal(err)
	}
	return map[string]string{
		"STAGE": "prod", "REGION": scfRegion, "VPC_ID": "vpc-firstdeploy", "SUBNET_ID": "subnet-firstdeploy",
		"STORE_URL":   "redis://" + redis.Addr() + "/0",
		"WXPAY_MCHID": id.MchID, "WXPAY_APPID": id.AppID, "WXPAY_MERCHANT_SERIAL": id.MerchantSerial,
		"WXPAY_NOTIFY_URL":          "https://pay.example.com/notify",
		"WXPAY_TENCENT_SECRET_NAME": "wxpay-prod",
		"BILLS_URL":                 "s3://wxpay-bills-1250000000/bills?endpoint=" + moto + "&region=" + scfRegion,
	}, ssm
}

// scfPlatform is what SCF adds to a function's environment: the role's key when the
// deployment gives it a role (defect 2: without one there is none), and, test-only,
// the local stand-ins.
func scfPlatform(t *testing.T, role string, ssm *ssmtest.Server, extra ...string) []string {
	out := []string{"HOME=" + t.TempDir(), "TENCENTCLOUD_RUNENV=SCF", "WXPAY_API_BASE=" + deadWeChat(t), tencentssm.EnvEndpoint + "=" + ssm.URL}
	if role != "" && role != "undefined" {
		out = append(out, "TENCENTCLOUD_SECRETID="+scfRoleKey.SecretID, "TENCENTCLOUD_SECRETKEY="+scfRoleKey.SecretKey, "TENCENTCLOUD_SESSIONTOKEN="+scfRoleKey.Token)
	}
	return append(out, extra...)
}

func TestFirstDeployTencent(t *testing.T) {
	dotenv, ssm := tencentSetup(t)
	jobs := renderSCF(t, filepath.Join(root, "serverless.yml"), dotenv)
	byName := map[string]scfFunction{}
	for _, j := range jobs {
		byName[j.name] = j
	}
	for _, fn := range functions(t) {
		t.Run(fn.name, func(t *testing.T) {
			if !fn.http {
				job, ok := byName[fn.name]
				if !ok {
					t.Fatalf("serverless.yml does not deploy %s", fn.name)
				}
				// Defect 1: nothing the merchant left unset reaches the job as "undefined".
				for k, v := range job.env {
					if strings.Contains(v, "undefined") {
						t.Errorf("%s=%q: an unset ${env:X} in serverless.yml", k, v)
					}
				}
				// Defect 2: the job has a role, so SCF gives it a key (COS, SSM).
				if job.role == "" || job.role == "undefined" {
					t.Errorf("%s has no execution role: no TENCENTCLOUD_* key for COS and SSM", fn.name)
				}
				startSCFJob(t, fn.name, job, scfPlatform(t, job.role, ssm))
				return
			}
			web := renderSCF(t, filepath.Join(root, "deploy", "tencent", fn.name, "serverless.yml"), dotenv)[0]
			for k, v := range web.env {
				if strings.Contains(v, "undefined") {
					t.Errorf("%s=%q", k, v)
				}
			}
			addr := startSCFWeb(t, fn.name, web.env, scfPlatform(t, web.role, ssm))
			for _, p := range firstDeployProbes[fn.name] {
				status, body := webRequest(t, addr, p.method, p.path, p.body, p.header)
				p.check(t, status, body)
			}
			if fn.name == "createorder" {
				// H5 on an SCF web function: no documented client address, TRUSTED_PROXIES
				// unset, so the order is refused with a message naming the setting.
				status, body := webRequest(t, addr, "POST", "/orders", `{"order_id":"FIRSTH5ORDER1","amount":1,"description":"x","scene":"h5","h5":{"type":"Wap"}}`, bearer)
				wantAnswer(400, "CLIENT_IP_UNKNOWN")(t, status, body)
				if !strings.Contains(string(body), "TRUSTED_PROXIES") {
					t.Errorf("H5 refusal does not name TRUSTED_PROXIES: %s", body)
				}
			}
		})
	}
	// Each cold start read the secret once: a version list and one GetSecretValue per
	// process, every request signed with the role's key (ssmtest verifies each).
	calls := ssm.Calls()
	if got := len(calls); got == 0 || got%2 != 0 {
		t.Errorf("SSM calls %v", calls)
	}
	if r := ssm.Refused(); len(r) > 0 {
		t.Errorf("SSM refused %v", r)
	}
}

// startSCFJob starts a job from build/scf/jobs (what serverless.yml deploys) as SCF's
// Go1 runtime does, and invokes its timer.
func startSCFJob(t *testing.T, name string, job scfFunction, platform []string) {
	t.Helper()
	bin := filepath.Join(root, "build", "scf", "jobs", job.handler)
	st, err := os.Stat(bin)
	if err != nil || st.Mode().Perm()&0o100 == 0 {
		t.Fatalf("handler %s: %v (mode %v): the Go1 runtime execs the handler's binary in the code folder", job.handler, err, st.Mode())
	}
	port := freePort(t)
	start(t, bin, envList(job.env, append(platform, fmt.Sprintf("_LAMBDA_SERVER_PORT=%d", port), "SCF_RUNTIME=Go1", "SCF_FUNCTIONNAME=wxpay-"+name+"-prod")...))
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	waitPort(t, addr)
	client, err := rpc.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	timer := fmt.Appendf(nil, `{"Type":"Timer","TriggerName":%q,"Time":%q,"Message":""}`, name, time.Now().UTC().Format(time.RFC3339))
	resp := scfInvoke(t, client, "timer", timer)
	if resp.Error != nil {
		if strings.Contains(resp.Error.Message, "credentials") || strings.Contains(resp.Error.Message, "undefined") {
			t.Errorf("%s: %s", name, resp.Error.Message)
		}
		checkJobResult(t, "error", mustJSON(t, map[string]string{"errorMessage": resp.Error.Message}))
	} else {
		checkJobResult(t, "response", resp.Payload)
	}
}

// startSCFWeb unpacks build/scf/<name>.zip and starts it as SCF starts a web function.
func startSCFWeb(t *testing.T, name string, env map[string]string, platform []string) string {
	t.Helper()
	dir := unzip(t, filepath.Join(root, "build", "scf", name+".zip"))
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	start(t, "/bin/bash", envList(env, append(platform, "WXPAY_SCF_WEB_ADDR="+addr)...), filepath.Join(dir, "scf_bootstrap"))
	waitPort(t, addr)
	return addr
}

func webRequest(t *testing.T, addr, method, path, body string, header map[string]string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequestWithContext(context.Background(), method, "http://"+addr+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// Defect 1, the mechanism: the file as it was (every optional setting referenced)
// rendered for the same merchant gives the jobs "undefined", and reconcile stops on
// it naming the setting. Defect 2: a job without a role gets no key, and stops naming
// what to fix.
func TestFirstDeployTencentRegressions(t *testing.T) {
	dotenv, ssm := tencentSetup(t)
	raw, err := os.ReadFile(filepath.Join(root, "serverless.yml"))
	if err != nil {
		t.Fatal(err)
	}
	// Uncomment every optional ${env:X} line: the file before the fix.
	optional := regexp.MustCompile(`(?m)^(\s*)# (- \{key: \w+, value: '\$\{env:\w+\}'\})`)
	old := optional.ReplaceAll(raw, []byte("$1$2"))
	if bytes.Equal(old, raw) {
		t.Fatal("serverless.yml has no commented optional settings to restore")
	}
	oldFile := filepath.Join(t.TempDir(), "serverless.yml")
	if err := os.WriteFile(oldFile, old, 0o644); err != nil {
		t.Fatal(err)
	}
	var reconcile scfFunction
	for _, f := range renderSCF(t, oldFile, dotenv) {
		if f.name == "reconcile" {
			reconcile = f
		}
	}
	if reconcile.env["WXPAY_PARTNER"] != "undefined" {
		t.Fatalf("the old file's WXPAY_PARTNER renders as %q, want the text undefined", reconcile.env["WXPAY_PARTNER"])
	}
	bin := filepath.Join(root, "build", "scf", "jobs", reconcile.handler)
	exited, stderr := runToExit(t, bin, envList(reconcile.env, scfPlatform(t, reconcile.role, ssm, fmt.Sprintf("_LAMBDA_SERVER_PORT=%d", freePort(t)))...))
	if !exited || !strings.Contains(lastLine(stderr), `WXPAY_PARTNER=\"undefined\"`) {
		t.Errorf("reconcile with the old file: exited %t, last line %q; want a stop naming WXPAY_PARTNER=\"undefined\"", exited, lastLine(stderr))
	}

	var billfetch scfFunction
	for _, f := range renderSCF(t, filepath.Join(root, "serverless.yml"), dotenv) {
		if f.name == "billfetch" {
			billfetch = f
		}
	}
	bin = filepath.Join(root, "build", "scf", "jobs", billfetch.handler)
	exited, stderr = runToExit(t, bin, envList(billfetch.env, scfPlatform(t, "", ssm, fmt.Sprintf("_LAMBDA_SERVER_PORT=%d", freePort(t)))...))
	if line := lastLine(stderr); !exited || !strings.Contains(line, "execution role") || strings.Count(strings.TrimSpace(stderr), "\n") > 3 {
		t.Errorf("billfetch without a role: exited %t, stderr:\n%s\nwant a short stop naming the execution role", exited, stderr)
	}
}

var requestSeq atomic.Int64
