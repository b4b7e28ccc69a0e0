// Tests that hold the deployment files to the code: what template.yaml, serverless.yml
// and deploy/tencent/*/serverless.yml deploy must be what the Makefile builds and what the
// functions read.
package wxpay_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"gopkg.in/yaml.v3"

	"github.com/paysls/wxpay/shared/host"
	"github.com/paysls/wxpay/shared/store/dynamostore"
)

// cfnNode decodes CloudFormation YAML, whose short-form tags (!Ref, !Sub, !If) plain
// YAML does not know: each tagged value becomes {"Fn::X": value}.
func cfnNode(n *yaml.Node) any {
	var v any
	switch n.Kind {
	case yaml.DocumentNode:
		return cfnNode(n.Content[0])
	case yaml.MappingNode:
		m := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			m[n.Content[i].Value] = cfnNode(n.Content[i+1])
		}
		v = m
	case yaml.SequenceNode:
		var l []any
		for _, c := range n.Content {
			l = append(l, cfnNode(c))
		}
		v = l
	default:
		v = n.Value
	}
	if strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") {
		name := strings.TrimPrefix(n.Tag, "!")
		if name != "Ref" && name != "Condition" {
			name = "Fn::" + name
		}
		return map[string]any{name: v}
	}
	return v
}

func loadYAML(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var n yaml.Node
	if err := yaml.Unmarshal(b, &n); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	m, ok := cfnNode(&n).(map[string]any)
	if !ok {
		t.Fatalf("%s is not a mapping", path)
	}
	return m
}

func get(v any, path ...string) any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

// The table template.yaml creates is the table dynamostore.CreateTable creates.
func TestSAMTableMatchesDynamoStore(t *testing.T) {
	tpl := loadYAML(t, "template.yaml")
	var table any
	for _, res := range get(tpl, "Resources").(map[string]any) {
		if get(res, "Type") == "AWS::DynamoDB::Table" {
			table = get(res, "Properties")
		}
	}
	if table == nil {
		t.Fatal("template.yaml has no DynamoDB table")
	}
	want := dynamostore.TableDefinition("t")
	if get(table, "BillingMode") != string(want.BillingMode) {
		t.Errorf("BillingMode = %v, want %s", get(table, "BillingMode"), want.BillingMode)
	}
	var defs, wantDefs []string
	for _, d := range get(table, "AttributeDefinitions").([]any) {
		defs = append(defs, get(d, "AttributeName").(string)+":"+get(d, "AttributeType").(string))
	}
	for _, d := range want.AttributeDefinitions {
		wantDefs = append(wantDefs, *d.AttributeName+":"+string(d.AttributeType))
	}
	slices.Sort(defs)
	slices.Sort(wantDefs)
	if !slices.Equal(defs, wantDefs) {
		t.Errorf("AttributeDefinitions = %v, want %v", defs, wantDefs)
	}
	if got, w := keySchema(get(table, "KeySchema")), wantKeys(want.KeySchema); !slices.Equal(got, w) {
		t.Errorf("KeySchema = %v, want %v", got, w)
	}
	gsis := get(table, "GlobalSecondaryIndexes").([]any)
	if len(gsis) != 1 || get(gsis[0], "IndexName") != *want.GlobalSecondaryIndexes[0].IndexName {
		t.Fatalf("GlobalSecondaryIndexes = %v, want one named %s", gsis, *want.GlobalSecondaryIndexes[0].IndexName)
	}
	if got, w := keySchema(get(gsis[0], "KeySchema")), wantKeys(want.GlobalSecondaryIndexes[0].KeySchema); !slices.Equal(got, w) {
		t.Errorf("pending index KeySchema = %v, want %v", got, w)
	}
	if get(gsis[0], "Projection", "ProjectionType") != string(want.GlobalSecondaryIndexes[0].Projection.ProjectionType) {
		t.Errorf("pending index projection = %v", get(gsis[0], "Projection"))
	}
	if get(table, "TimeToLiveSpecification", "AttributeName") != dynamostore.TTLAttribute ||
		get(table, "TimeToLiveSpecification", "Enabled") != "true" {
		t.Errorf("TTL = %v, want enabled on %s", get(table, "TimeToLiveSpecification"), dynamostore.TTLAttribute)
	}
}

func keySchema(v any) []string {
	var out []string
	for _, k := range v.([]any) {
		out = append(out, get(k, "AttributeName").(string)+":"+get(k, "KeyType").(string))
	}
	return out
}

func toStrings(v any) []string {
	var out []string
	l, _ := v.([]any)
	for _, x := range l {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

func wantKeys(ks []types.KeySchemaElement) []string {
	var out []string
	for _, k := range ks {
		out = append(out, *k.AttributeName+":"+string(k.KeyType))
	}
	return out
}

// ---------------------------------------------------------------- the code's side

// plannedHTTP says which functions are HTTP functions and which jobs (PLAN/DESIGN);
// a function with a main is classified by its main and must agree.
var plannedHTTP = map[string]bool{"createorder": true, "notify": true, "reconcile": false, "billfetch": false}

// wantSchedules: EventBridge Scheduler expression and SCF 7-field cron of each job.
var wantSchedules = map[string][2]string{
	"reconcile": {"rate(5 minutes)", "0 */5 * * * * *"},
	"billfetch": {"cron(30 10 * * ? *)", "0 30 10 * * * *"},
}

type fn struct {
	name    string
	http    bool
	hasMain bool // functions/<name>/cmd/lambda/main.go exists
	hasCmd  bool // functions/<name>/cmd/ exists
}

// awaitingMain are the planned functions allowed to be deployed before their
// functions/<name>/cmd/ exists (their mains are landing from other branches). The rule
// is keyed on cmd/: once functions/<name>/cmd/ exists it must hold a main.go that the
// Makefile builds for Lambda and SCF, whatever this list says.
//
// Integrator: when createorder's and billfetch's mains are on main, set this to nil.
// From then on every deployed function must be built, and a function without a main
// fails TestSAMTemplateMatchesCode and TestSCFFilesMatchCode.
var awaitingMain []string

// requireBuilt holds a deployed function to being built: a main under functions/<name>/cmd,
// compiled by the Makefile line that deploys it (built is the `make -n` output).
func requireBuilt(t *testing.T, f fn, built, want string) {
	t.Helper()
	switch {
	case f.hasMain:
		if !strings.Contains(built, want) {
			t.Errorf("functions/%s is deployed but the Makefile does not build it (no %q)", f.name, want)
		}
		if slices.Contains(awaitingMain, f.name) {
			t.Logf("functions/%s/cmd/lambda/main.go has landed: remove %s from awaitingMain", f.name, f.name)
		}
	case f.hasCmd:
		t.Errorf("functions/%s/cmd has no lambda/main.go: a deployed function must be built", f.name)
	case slices.Contains(awaitingMain, f.name):
		t.Logf("functions/%s has no cmd/ yet (awaitingMain): deployed, not built", f.name)
	default:
		t.Errorf("functions/%s is deployed but has no cmd/lambda/main.go to build", f.name)
	}
}

// functionsInRepo are the folders under functions/, with whether each has a main.
func functionsInRepo(t *testing.T) []fn {
	t.Helper()
	dirs, err := os.ReadDir("functions")
	if err != nil {
		t.Fatal(err)
	}
	var out []fn
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		f := fn{name: d.Name(), http: plannedHTTP[d.Name()]}
		if st, err := os.Stat(filepath.Join("functions", d.Name(), "cmd")); err == nil && st.IsDir() {
			f.hasCmd = true
		}
		if src, err := os.ReadFile(filepath.Join("functions", d.Name(), "cmd", "lambda", "main.go")); err == nil {
			f.hasMain = true
			isHTTP := bytes.Contains(src, []byte("host.ServeHTTP"))
			if planned, ok := plannedHTTP[f.name]; ok && planned != isHTTP {
				t.Errorf("functions/%s/cmd: HTTP function = %t, the plan says %t", f.name, isHTTP, planned)
			}
			f.http = isHTTP
		} else if _, planned := plannedHTTP[f.name]; !planned {
			continue // some other folder
		}
		out = append(out, f)
	}
	return out
}

// envRead are the environment variables the code reads: every Env* string constant
// of shared/config, shared/secrets (and its Tencent SSM client), shared/host (and its
// adapters) and functions/createorder, plus STORE_URL and BILLS_URL.
func envRead(t *testing.T) []string {
	t.Helper()
	names := []string{"STORE_URL", "BILLS_URL"}
	for _, dir := range []string{"shared/config", "shared/secrets", "shared/secrets/tencentssm", "shared/host", "shared/host/awslambda", "shared/host/scfweb", "shared/host/scfevent", "functions/createorder"} {
		pkgs, err := parser.ParseDir(token.NewFileSet(), dir, func(fi os.FileInfo) bool { return !strings.HasSuffix(fi.Name(), "_test.go") }, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pkgs {
			for _, f := range p.Files {
				ast.Inspect(f, func(n ast.Node) bool {
					vs, ok := n.(*ast.ValueSpec)
					if !ok {
						return true
					}
					for i, id := range vs.Names {
						if i >= len(vs.Values) || !strings.HasPrefix(strings.ToLower(id.Name), "env") {
							continue
						}
						if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
							v, _ := strconv.Unquote(lit.Value)
							names = append(names, v)
						}
					}
					return true
				})
			}
		}
	}
	for _, must := range []string{"WXPAY_MCHID", "WXPAY_SECRET_ARN", "_LAMBDA_SERVER_PORT"} {
		if !slices.Contains(names, must) {
			t.Fatalf("envRead found no %s: the scan of the code is broken (%v)", must, names)
		}
	}
	return names
}

// secretVars must never be set in a deployment file's plain environment on AWS.
var secretVars = []string{"WXPAY_PRIVATE_KEY", "WXPAY_APIV3_KEY", "WXPAY_APIV2_KEY", "WXPAY_API_TOKEN", "WXPAY_WEBHOOK_SECRET", "WXPAY_APP_SECRET"}

// pemVars hold PEM text, which does not fit SCF's 4 KB environment.
var pemVars = []string{"WXPAY_PRIVATE_KEY", "WXPAY_PLATFORM_PUBLIC_KEY", "WXPAY_PLATFORM_CERT"}

// wantEnv are the variables every deployment of a function passes (the merchant's
// configuration: empty values are fine, a missing variable is a setting the merchant
// cannot make without editing the deployment file). Secrets are not here: AWS reads
// them through WXPAY_SECRET_ARN, SCF through WXPAY_TENCENT_SECRET_NAME (Tencent SSM).
// The jobs' multi-scf file passes only what a job cannot start without (an unset
// ${env:X} there becomes the text "undefined"; serverless.yml says why): jobsRequired.
func wantEnv(name string, scf bool) []string {
	if scf && !plannedHTTP[name] {
		return jobsRequired
	}
	out := []string{"STORE_URL", "WXPAY_MCHID", "WXPAY_APPID", "WXPAY_MERCHANT_SERIAL", "WXPAY_PLATFORM_PUBLIC_KEY_ID",
		"WXPAY_NOTIFY_URL", "WXPAY_WEBHOOK_URL", "WXPAY_PARTNER", "WXPAY_SUB_MCHID", "WXPAY_SUB_APPID", "WXPAY_REFUND_LATE_PAYMENTS"}
	if scf {
		out = append(out, "WXPAY_TENCENT_SECRET_NAME", "WXPAY_TENCENT_REGION", "WXPAY_KEYS_DIR")
	} else {
		out = append(out, "WXPAY_SECRET_ARN", "WXPAY_SECRET_SSM_PARAMETER")
	}
	switch name {
	case "createorder":
		out = append(out, "WXPAY_PUBLIC_URL", "WXPAY_MERCHANT_NAME", "WXPAY_ORDER_TTL", "TRUSTED_PROXIES", "WXPAY_MP_VERIFY")
	case "billfetch":
		out = append(out, "BILLS_URL")
	}
	return out
}

// jobsRequired: the jobs' environment in serverless.yml, all of it required.
var jobsRequired = []string{"STORE_URL", "WXPAY_MCHID", "WXPAY_APPID", "WXPAY_MERCHANT_SERIAL", "WXPAY_NOTIFY_URL",
	"WXPAY_TENCENT_SECRET_NAME", "WXPAY_TENCENT_REGION", "BILLS_URL"}

func makeDryRun(t *testing.T, target string, vars ...string) string {
	t.Helper()
	out, err := exec.Command("make", append([]string{"-n", target}, vars...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("make -n %s: %v\n%s", target, err, out)
	}
	return string(out)
}

// ---------------------------------------------------------------- AWS SAM

type samFunction struct {
	id  string
	res any
}

func samFunctions(t *testing.T, tpl map[string]any) map[string]samFunction {
	t.Helper()
	out := map[string]samFunction{}
	for id, res := range get(tpl, "Resources").(map[string]any) {
		if get(res, "Type") == "AWS::Serverless::Function" {
			name, ok := strings.CutSuffix(id, "Function")
			if !ok {
				t.Errorf("%s: logical ids are <Name>Function (the Makefile's build-%%Function rule)", id)
				continue
			}
			out[strings.ToLower(name)] = samFunction{id, res}
		}
	}
	return out
}

func TestSAMTemplateMatchesCode(t *testing.T) {
	tpl := loadYAML(t, "template.yaml")
	raw, err := os.ReadFile("template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte("{{resolve:")) {
		t.Error("template.yaml resolves a dynamic reference into the environment: pass the secret's ARN instead")
	}
	if rt := get(tpl, "Globals", "Function", "Runtime"); rt != "provided.al2023" {
		t.Errorf("Runtime = %v, want provided.al2023", rt)
	}
	if arch := get(tpl, "Globals", "Function", "Architectures"); !slices.Equal(toStrings(arch), []string{"arm64"}) {
		t.Errorf("Architectures = %v, want [arm64]", arch)
	}
	read := envRead(t)
	global, _ := get(tpl, "Globals", "Function", "Environment", "Variables").(map[string]any)
	for _, need := range []string{"STORE_URL", "WXPAY_MCHID", "WXPAY_APPID", "WXPAY_MERCHANT_SERIAL", "WXPAY_SECRET_ARN"} {
		if _, ok := global[need]; !ok {
			t.Errorf("template.yaml does not set %s", need)
		}
	}
	fns := samFunctions(t, tpl)
	resources := get(tpl, "Resources").(map[string]any)
	for _, f := range functionsInRepo(t) {
		sf, ok := fns[f.name]
		if !ok {
			t.Errorf("functions/%s is not deployed by template.yaml", f.name)
			continue
		}
		logical, res := sf.id, sf.res
		t.Run(logical, func(t *testing.T) {
			if get(res, "Metadata", "BuildMethod") != "makefile" || get(res, "Properties", "CodeUri") != "." {
				t.Errorf("BuildMethod makefile and CodeUri . (sam build runs make build-%s)", logical)
			}
			// sam build runs `make build-<LogicalId>` with ARTIFACTS_DIR set.
			cmd := makeDryRun(t, "build-"+logical, "ARTIFACTS_DIR=/artifacts")
			for _, want := range []string{"GOARCH=arm64", "-tags lambda.norpc", "-o /artifacts/bootstrap ./functions/" + f.name + "/cmd/lambda"} {
				if !strings.Contains(cmd, want) {
					t.Errorf("make build-%s: %q lacks %q", logical, cmd, want)
				}
			}
			requireBuilt(t, f, makeDryRun(t, "build"), "-o build/"+f.name+"/bootstrap ./functions/"+f.name+"/cmd/lambda")
			vars, _ := get(res, "Properties", "Environment", "Variables").(map[string]any)
			for _, need := range wantEnv(f.name, false) {
				if _, ok := merge(global, vars)[need]; !ok {
					t.Errorf("does not pass %s", need)
				}
			}
			for name := range merge(global, vars) {
				if !slices.Contains(read, name) {
					t.Errorf("sets %s, which the code does not read", name)
				}
				if slices.Contains(secretVars, name) || slices.Contains(pemVars, name) {
					t.Errorf("sets %s in the plain environment: secrets come from WXPAY_SECRET_ARN at run time", name)
				}
			}
			if f.name == "billfetch" {
				if v := fmt.Sprint(vars["BILLS_URL"]); !strings.Contains(v, "s3://") {
					t.Errorf("BILLS_URL = %s, want s3://<bill bucket>/…", v)
				}
			}
			var policies []string
			for _, p := range get(res, "Properties", "Policies").([]any) {
				policies = append(policies, fmt.Sprint(p))
			}
			for _, want := range []string{"map[Ref:StorePolicy]", "map[Ref:SecretPolicy]"} {
				if !slices.Contains(policies, want) {
					t.Errorf("Policies %v lack %s", policies, want)
				}
			}
			events, _ := get(res, "Properties", "Events").(map[string]any)
			var schedules []any
			for _, ev := range events {
				switch get(ev, "Type") {
				case "ScheduleV2":
					schedules = append(schedules, get(ev, "Properties"))
				default:
					t.Errorf("event type %v: HTTP routes are AWS::ApiGatewayV2::Route resources (a SAM HttpApi event would make the API depend on the function that names it)", get(ev, "Type"))
				}
			}
			// Which routes, exactly, is deploytest's route-parity test; here: an HTTP
			// function is routed through its own integration, with a permission.
			routes := routesOf(resources, logical)
			if f.http != (len(routes) > 0) || f.http == (len(schedules) == 1) {
				t.Errorf("an HTTP function is routed, a job has one schedule: %d routes, %d schedules", len(routes), len(schedules))
			}
			for _, s := range schedules {
				if get(s, "ScheduleExpression") != wantSchedules[f.name][0] || get(s, "ScheduleExpressionTimezone") != "Asia/Shanghai" {
					t.Errorf("schedule %v, want %s in Asia/Shanghai", s, wantSchedules[f.name][0])
				}
				var in host.SchedulerInput
				dec := json.NewDecoder(strings.NewReader(fmt.Sprint(get(s, "Input"))))
				dec.DisallowUnknownFields()
				if err := dec.Decode(&in); err != nil || in.Source != host.SchedulerSource || in.Job != f.name || in.ScheduledTime != "<aws.scheduler.scheduled-time>" {
					t.Errorf("Input %v (%v): want host.SchedulerInput for %s carrying <aws.scheduler.scheduled-time>", get(s, "Input"), err, f.name)
				}
			}
			logGroup := false
			for _, r := range resources {
				if get(r, "Type") == "AWS::Logs::LogGroup" && strings.Contains(fmt.Sprint(get(r, "Properties", "LogGroupName")), "${"+logical+"}") {
					logGroup = get(r, "Properties", "RetentionInDays") != nil
				}
			}
			if !logGroup {
				t.Error("no log group with a retention")
			}
		})
	}
	for name := range fns {
		if _, err := os.Stat(filepath.Join("functions", name)); err != nil {
			t.Errorf("template.yaml deploys %s, which is not a folder under functions/", name)
		}
	}
	// Least privilege: exactly the calls dynamostore makes.
	actions := toStrings(get(resources["StorePolicy"], "Properties", "PolicyDocument", "Statement").([]any)[0].(map[string]any)["Action"])
	slices.Sort(actions)
	if want := []string{"dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem"}; !slices.Equal(actions, want) {
		t.Errorf("StorePolicy actions %v, want %v", actions, want)
	}
}

// routesOf are the route keys of template.yaml's HTTP API that reach the function
// logical through an AWS_PROXY integration, which a Lambda permission lets the API invoke.
func routesOf(resources map[string]any, logical string) []string {
	integrations := map[string]bool{}
	for id, r := range resources {
		if get(r, "Type") == "AWS::ApiGatewayV2::Integration" && fmt.Sprint(get(r, "Properties", "IntegrationUri")) == "map[Fn::GetAtt:"+logical+".Arn]" {
			integrations["integrations/${"+id+"}"] = true
		}
	}
	permitted := false
	for _, r := range resources {
		if get(r, "Type") == "AWS::Lambda::Permission" && fmt.Sprint(get(r, "Properties", "FunctionName")) == "map[Ref:"+logical+"]" {
			permitted = get(r, "Properties", "Principal") == "apigateway.amazonaws.com"
		}
	}
	var out []string
	for _, r := range resources {
		if get(r, "Type") == "AWS::ApiGatewayV2::Route" && integrations[fmt.Sprint(get(r, "Properties", "Target", "Fn::Sub"))] {
			out = append(out, fmt.Sprint(get(r, "Properties", "RouteKey")))
		}
	}
	if len(out) > 0 && !permitted {
		return []string{"(no AWS::Lambda::Permission lets API Gateway invoke " + logical + ")"}
	}
	slices.Sort(out)
	return out
}

func merge(ms ...map[string]any) map[string]any {
	out := map[string]any{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// ---------------------------------------------------------------- Tencent SCF

// The Tencent bundle is the top-level serverless.yml (multi-scf: the jobs and their
// timers) plus deploy/tencent/<fn>/serverless.yml (scf: each HTTP function behind a
// Function URL); serverless.yml says why.
const scfKeysDir = "/var/user/keys"

// checkSCFEnv holds one SCF function's environment to the code: names the code reads,
// everything the function needs, no secrets and no PEM (keys dir), within 4 KB.
func checkSCFEnv(t *testing.T, name string, vars map[string]any, read []string) {
	t.Helper()
	size := 0
	for k, v := range vars {
		size += len(k) + len(fmt.Sprint(v))
		if !slices.Contains(read, k) {
			t.Errorf("sets %s, which the code does not read", k)
		}
		if slices.Contains(secretVars, k) || slices.Contains(pemVars, k) {
			t.Errorf("sets %s in SCF's environment: secrets and PEM files are read from Tencent SSM (WXPAY_TENCENT_SECRET_NAME)", k)
		}
	}
	for _, need := range wantEnv(name, true) {
		if _, ok := vars[need]; !ok {
			t.Errorf("does not pass %s", need)
		}
	}
	if v, ok := vars["WXPAY_KEYS_DIR"]; ok && v != scfKeysDir && v != "${env:WXPAY_KEYS_DIR}" {
		t.Errorf("WXPAY_KEYS_DIR = %v, want %s (make package SCF_KEYS_DIR=… puts keys/ in the code directory /var/user)", v, scfKeysDir)
	}
	// Placeholders are ${env:NAME}; real values (a Redis URL ~60 bytes, ids, URLs) are
	// of the same order: well inside SCF's 4 KB with no secret or PEM in it.
	if size > 2048 {
		t.Errorf("environment of %d bytes before substitution leaves no room in SCF's 4 KB", size)
	}
}

func checkSCFBasics(t *testing.T, in any, what string) {
	t.Helper()
	if get(in, "runtime") != "Go1" {
		t.Errorf("%s: runtime %v, want Go1", what, get(in, "runtime"))
	}
	if n, err := strconv.Atoi(fmt.Sprint(get(in, "initTimeout"))); err != nil || n < 1 || n > 30 {
		t.Errorf("%s: initTimeout = %v, want 1..30 s", what, get(in, "initTimeout"))
	}
	if get(in, "vpcConfig", "vpcId") == nil || get(in, "vpcConfig", "subnetId") == nil {
		t.Errorf("%s: no vpcConfig (vpcId, subnetId) for a VPC-only Redis", what)
	}
}

// scfRole is the execution role every SCF function runs with: its temporary key reads
// the secret from SSM and billfetch's bills from COS (README creates it).
const scfRole = "wxpay-scf"

func TestSCFFilesMatchCode(t *testing.T) {
	read := envRead(t)
	dir := t.TempDir()
	deploy := makeDryRun(t, "deploy-tencent", "SCF_KEYS_DIR="+dir)
	if !strings.Contains(deploy, "scf deploy") || strings.Contains(deploy, "sls deploy") {
		t.Error("make deploy-tencent must run Tencent's `scf deploy` (serverless-cloud-framework), not `sls deploy`")
	}
	if !strings.Contains(deploy, "go run ./deploy/preflight") {
		t.Error("make deploy-tencent must run the preflight check before scf deploy")
	}
	pkg := makeDryRun(t, "package")

	root := loadYAML(t, "serverless.yml")
	in := get(root, "inputs")
	if get(root, "component") != "multi-scf" {
		t.Fatalf("serverless.yml: component %v, want multi-scf (the jobs)", get(root, "component"))
	}
	checkSCFBasics(t, in, "serverless.yml")
	if get(in, "src", "src") != "./build/scf/jobs" {
		t.Errorf("serverless.yml: src.src = %v, want ./build/scf/jobs (make package: one folder, modes kept)", get(in, "src", "src"))
	}
	rootFns, _ := get(in, "functions").(map[string]any)
	triggers, _ := get(in, "triggers").([]any)
	// multi-scf's environments is a list of {key, value}.
	rootVars := map[string]any{}
	for _, e := range toAnys(get(in, "environments")) {
		rootVars[fmt.Sprint(get(e, "key"))] = get(e, "value")
	}
	if get(in, "environment") != nil {
		t.Error("serverless.yml: multi-scf documents `environments: [{key, value}]`, not `environment`")
	}

	repo := map[string]fn{}
	for _, f := range functionsInRepo(t) {
		repo[f.name] = f
		t.Run(f.name, func(t *testing.T) {
			// What make package writes for this function, and that it zips that folder.
			scfMain := map[bool]string{true: "scfweb", false: "scfevent"}[f.http]
			requireBuilt(t, f, pkg, "-o build/scf/"+f.name+"/bootstrap ./functions/"+f.name+"/cmd/"+scfMain)
			if f.hasMain && !strings.Contains(pkg, "cd build/scf/"+f.name+" && zip ") {
				t.Errorf("make package does not zip build/scf/%s into build/scf/%s.zip", f.name, f.name)
			}
			perFn := filepath.Join("deploy", "tencent", f.name, "serverless.yml")
			_, perFnErr := os.Stat(perFn)
			if !f.http {
				// A job: a function of the top-level multi-scf file with one enabled timer.
				if perFnErr == nil {
					t.Errorf("%s exists: the jobs are deployed by serverless.yml", perFn)
				}
				def, ok := rootFns[f.name]
				if !ok {
					t.Fatalf("serverless.yml does not deploy %s", f.name)
				}
				// No src of its own: multi-scf re-zips such a function without file modes.
				if get(def, "src") != nil {
					t.Errorf("functions.%s.src = %v: multi-scf would re-zip it without the exec bit; the jobs share build/scf/jobs", f.name, get(def, "src"))
				}
				if f.hasMain && !strings.Contains(pkg, "build/scf/$f/bootstrap build/scf/jobs/$f") {
					t.Errorf("make package does not copy %s's binary into build/scf/jobs", f.name)
				}
				if get(def, "role") != scfRole {
					t.Errorf("functions.%s.role = %v, want %s (no role, no temporary key for SSM and COS)", f.name, get(def, "role"), scfRole)
				}
				typ := get(def, "type")
				if typ == nil {
					typ = get(in, "type")
				}
				if typ != "event" || get(def, "handler") != f.name {
					t.Errorf("a job is an event function whose handler is its binary in build/scf/jobs: type %v, handler %v, want %s", typ, get(def, "handler"), f.name)
				}
				if get(def, "environments") != nil || get(def, "environment") != nil {
					t.Errorf("functions.%s sets its own environment, which replaces the shared list", f.name)
				}
				checkSCFEnv(t, f.name, rootVars, read)
				var timers []any
				for _, tr := range triggers {
					if get(tr, "function") == f.name {
						timers = append(timers, tr)
					}
				}
				if len(timers) != 1 || get(timers[0], "type") != "timer" {
					t.Fatalf("triggers for %s: %v, want one timer", f.name, timers)
				}
				p := get(timers[0], "parameters")
				cron := fmt.Sprint(get(p, "cronExpression"))
				if len(strings.Fields(cron)) != 7 || cron != wantSchedules[f.name][1] {
					t.Errorf("cronExpression %q, want the 7-field %q", cron, wantSchedules[f.name][1])
				}
				if get(p, "enable") != "true" {
					t.Error("timer without enable: true is created disabled")
				}
				if get(p, "qualifier") != "$DEFAULT" || get(p, "name") == nil {
					t.Errorf("timer parameters %v: want a name and qualifier $DEFAULT", p)
				}
				return
			}
			// An HTTP function: its own scf-component file, a web function behind a Function URL.
			if _, ok := rootFns[f.name]; ok {
				t.Errorf("serverless.yml deploys HTTP function %s: multi-scf documents no Function URL trigger", f.name)
			}
			if perFnErr != nil {
				t.Fatalf("no %s", perFn)
			}
			if !strings.Contains(deploy, "scf deploy --target deploy/tencent/$f") || !strings.Contains(deploy, " "+f.name) {
				t.Errorf("make deploy-tencent does not deploy %s from the repository's root with --target", perFn)
			}
			y := loadYAML(t, perFn)
			fin := get(y, "inputs")
			if get(y, "component") != "scf" {
				t.Errorf("%s: component %v, want scf", perFn, get(y, "component"))
			}
			checkSCFBasics(t, fin, perFn)
			if get(fin, "role") != scfRole {
				t.Errorf("%s: role %v, want %s", perFn, get(fin, "role"), scfRole)
			}
			if src := get(fin, "src", "src"); src != "../../../build/scf/"+f.name {
				t.Errorf("src.src = %v, want ../../../build/scf/%s (make package)", src, f.name)
			}
			vars, _ := get(fin, "environment", "variables").(map[string]any)
			checkSCFEnv(t, f.name, vars, read)
			events, _ := get(fin, "events").([]any)
			if len(events) != 1 {
				t.Fatalf("events = %v, want one trigger", events)
			}
			p := get(events[0], "http", "parameters")
			if get(fin, "type") != "web" || get(p, "qualifier") != "$DEFAULT" || get(p, "authType") != "NONE" ||
				get(p, "netConfig", "enableExtranet") != "true" {
				t.Errorf("an HTTP function is a web function behind a Function URL (qualifier $DEFAULT, authType NONE, enableExtranet): type %v, %v", get(fin, "type"), p)
			}
			if f.hasMain && !strings.Contains(pkg, "build/scf/"+f.name+"/scf_bootstrap") {
				t.Errorf("make package writes no scf_bootstrap for %s", f.name)
			}
		})
	}
	for key := range rootFns {
		if f, ok := repo[key]; !ok || f.http {
			t.Errorf("serverless.yml deploys %s, which is not a job under functions/", key)
		}
	}
	for _, tr := range triggers {
		if get(tr, "type") != "timer" {
			t.Errorf("serverless.yml trigger %v: only timers belong here (multi-scf documents no Function URL)", tr)
		}
	}
	// Every ${env:X} the multi-scf file references (outside comments) is required: an
	// unset one reaches the jobs as the text "undefined".
	raw, _ := os.ReadFile("serverless.yml")
	for _, line := range strings.Split(string(raw), "\n") {
		code := strings.TrimSpace(line)
		if strings.HasPrefix(code, "#") {
			continue
		}
		code, _, _ = strings.Cut(code, " #")
		for _, m := range envRefs.FindAllStringSubmatch(code, -1) {
			if name := m[1]; !slices.Contains([]string{"STAGE", "REGION", "VPC_ID", "SUBNET_ID"}, name) && !slices.Contains(jobsRequiredSources, name) {
				t.Errorf("serverless.yml references ${env:%s}, an optional setting: unset, multi-scf deploys it as the text \"undefined\"; leave its line commented out", name)
			}
		}
	}
	dirs, _ := os.ReadDir(filepath.Join("deploy", "tencent"))
	for _, d := range dirs {
		if f, ok := repo[d.Name()]; d.IsDir() && (!ok || !f.http) {
			t.Errorf("deploy/tencent/%s deploys no HTTP function under functions/", d.Name())
		}
	}
}

var envRefs = regexp.MustCompile(`\$\{env:([A-Za-z0-9_.-]+)\}`)

// jobsRequiredSources are the ${env:X} behind jobsRequired (WXPAY_TENCENT_REGION comes from REGION).
var jobsRequiredSources = []string{"STORE_URL", "WXPAY_MCHID", "WXPAY_APPID", "WXPAY_MERCHANT_SERIAL", "WXPAY_NOTIFY_URL", "WXPAY_TENCENT_SECRET_NAME", "BILLS_URL"}

func toAnys(v any) []any {
	l, _ := v.([]any)
	return l
}
