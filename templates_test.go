// Tests that hold the deployment files to the code: what template.yaml and
// serverless.yml deploy must be what the Makefile builds and what the functions read.
package wxpay_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"gopkg.in/yaml.v3"

	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/store/dynamostore"
)

// envRead are the variables the functions read; a template that sets anything else
// sets it for nothing (usually a typo that leaves the real variable unset).
var envRead = []string{
	"STORE_URL", config.EnvMchID, config.EnvAppID, config.EnvMerchantSerial, config.EnvPrivateKey,
	config.EnvPrivateKeyFile, config.EnvMerchantCertFile, config.EnvAPIv3Key, config.EnvPlatformCert,
	config.EnvPlatformCertFile, config.EnvPlatformPubKey, config.EnvPlatformPubKeyFile,
	config.EnvPlatformPublicKeyID, config.EnvNotifyURL, config.EnvAPIBase,
}

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

func TestSAMTemplateMatchesCode(t *testing.T) {
	tpl := loadYAML(t, "template.yaml")
	makefile, err := os.ReadFile("Makefile")
	if err != nil {
		t.Fatal(err)
	}
	if rt := get(tpl, "Globals", "Function", "Runtime"); rt != "provided.al2023" {
		t.Errorf("Runtime = %v, want provided.al2023", rt)
	}
	if arch := get(tpl, "Globals", "Function", "Architectures"); !slices.Equal(toStrings(arch), []string{"arm64"}) {
		t.Errorf("Architectures = %v, want [arm64]", arch)
	}
	vars, _ := get(tpl, "Globals", "Function", "Environment", "Variables").(map[string]any)
	for name := range vars {
		if !slices.Contains(envRead, name) {
			t.Errorf("template.yaml sets %s, which no function reads", name)
		}
	}
	for _, need := range []string{"STORE_URL", config.EnvAPIv3Key, config.EnvPrivateKey, config.EnvMchID} {
		if _, ok := vars[need]; !ok {
			t.Errorf("template.yaml does not set %s", need)
		}
	}
	functions := 0
	for id, res := range get(tpl, "Resources").(map[string]any) {
		if get(res, "Type") != "AWS::Serverless::Function" {
			continue
		}
		functions++
		if get(res, "Metadata", "BuildMethod") != "makefile" {
			t.Errorf("%s: BuildMethod must be makefile (sam build runs build-%s)", id, id)
		}
		// sam build calls `make build-<LogicalId>`; it must build an existing main package.
		m := regexp.MustCompile(`(?m)^build-` + id + `:\n\t.*-o \$\(ARTIFACTS_DIR\)/bootstrap \./(functions/\S+)`).FindSubmatch(makefile)
		if m == nil {
			t.Errorf("Makefile has no build-%s target writing $(ARTIFACTS_DIR)/bootstrap", id)
			continue
		}
		if _, err := os.Stat(filepath.Join(string(m[1]), "main.go")); err != nil {
			t.Errorf("build-%s builds ./%s, which has no main.go", id, m[1])
		}
	}
	if functions == 0 {
		t.Fatal("template.yaml deploys no function")
	}
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

func TestServerlessYAMLMatchesCode(t *testing.T) {
	sls := loadYAML(t, "serverless.yml")
	makefile, err := os.ReadFile("Makefile")
	if err != nil {
		t.Fatal(err)
	}
	if get(sls, "component") != "scf" || get(sls, "inputs", "runtime") != "Go1" || get(sls, "inputs", "handler") != "bootstrap" {
		t.Errorf("serverless.yml must deploy an scf component with runtime Go1 and handler bootstrap: %v", get(sls, "inputs"))
	}
	src, _ := get(sls, "inputs", "src", "src").(string)
	fn := strings.TrimPrefix(src, "./build/scf/")
	if fn == src || !strings.Contains(string(makefile), "build/scf/$$f/bootstrap") {
		t.Errorf("inputs.src.src = %q: make package writes build/scf/<function>/bootstrap", src)
	}
	if _, err := os.Stat(filepath.Join("functions", fn, "cmd", "main.go")); err != nil {
		t.Errorf("serverless.yml deploys %q, which is not a function with a main package", fn)
	}
	vars, _ := get(sls, "inputs", "environment", "variables").(map[string]any)
	for name := range vars {
		if !slices.Contains(envRead, name) {
			t.Errorf("serverless.yml sets %s, which no function reads", name)
		}
	}
	// SCF no longer creates API gateway triggers: the function needs a Function URL.
	events, _ := get(sls, "inputs", "events").([]any)
	if len(events) == 0 || get(events[0], "http") == nil {
		t.Errorf("events = %v, want an http (Function URL) trigger", events)
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
