package deploytest

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// This file renders the deployment files as their tools would for a merchant's
// values, so that the first-deploy tests start each function with exactly the
// environment a real first deploy gives it.

// ------------------------------------------------------------------ SAM

// samStack is template.yaml after `sam deploy` with some parameter values: parameters
// not given take their Default, the pseudo parameters and physical ids are fixed
// stand-ins, and intrinsic functions are evaluated.
type samStack struct {
	params     map[string]string
	resources  map[string]any
	conditions map[string]any
	globalEnv  map[string]any
	outputs    map[string]any
}

// Physical ids the stand-in stack gives resources (Ref of a resource).
var samPhysical = map[string]string{
	"HttpApi": "a1b2c3d4e5", "HttpApiStage": "$default", "Table": "wxpay-Table-1ABCDEFGHIJ",
	"BillBucket": "wxpay-billbucket-1abcdefghij", "ApiDomain": "pay.example.com",
}

const samRegion = "ap-east-1"

func loadCFN(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var n yaml.Node
	if err := yaml.Unmarshal(b, &n); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return cfnValue(&n).(map[string]any)
}

// cfnValue decodes CloudFormation YAML, whose short-form tags (!Ref, !Sub …) become
// {"Ref": v} / {"Fn::Sub": v}.
func cfnValue(n *yaml.Node) any {
	var v any
	switch n.Kind {
	case yaml.DocumentNode:
		return cfnValue(n.Content[0])
	case yaml.MappingNode:
		m := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			m[n.Content[i].Value] = cfnValue(n.Content[i+1])
		}
		v = m
	case yaml.SequenceNode:
		l := []any{}
		for _, c := range n.Content {
			l = append(l, cfnValue(c))
		}
		v = l
	default:
		v = n.Value
	}
	if tag, ok := strings.CutPrefix(n.Tag, "!"); ok && !strings.HasPrefix(tag, "!") {
		if tag != "Ref" && tag != "Condition" {
			tag = "Fn::" + tag
		}
		return map[string]any{tag: v}
	}
	return v
}

func renderSAM(t *testing.T, given map[string]string) *samStack {
	t.Helper()
	tpl := loadCFN(t, filepath.Join(root, "template.yaml"))
	s := &samStack{params: map[string]string{}, resources: tpl["Resources"].(map[string]any), conditions: map[string]any{}, outputs: map[string]any{}}
	for name, p := range tpl["Parameters"].(map[string]any) {
		p := p.(map[string]any)
		v, ok := given[name]
		if !ok {
			d, has := p["Default"]
			if !has {
				t.Fatalf("template.yaml parameter %s is required and not given", name)
			}
			v = fmt.Sprint(d)
		}
		if pat, ok := p["AllowedPattern"].(string); ok && !regexp.MustCompile(pat).MatchString(v) {
			t.Fatalf("parameter %s=%q does not match its AllowedPattern %s", name, v, pat)
		}
		s.params[name] = v
	}
	for name := range given {
		if _, ok := s.params[name]; !ok {
			t.Fatalf("template.yaml has no parameter %s", name)
		}
	}
	if c, ok := tpl["Conditions"].(map[string]any); ok {
		s.conditions = c
	}
	if o, ok := tpl["Outputs"].(map[string]any); ok {
		s.outputs = o
	}
	g, _ := dig(tpl, "Globals", "Function", "Environment", "Variables").(map[string]any)
	s.globalEnv = g
	return s
}

func dig(v any, path ...string) any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

func (s *samStack) ref(t *testing.T, name string) string {
	switch name {
	case "AWS::Region":
		return samRegion
	case "AWS::AccountId":
		return "123456789012"
	case "AWS::Partition":
		return "aws"
	case "AWS::URLSuffix":
		return "amazonaws.com"
	case "AWS::StackName":
		return "wxpay"
	}
	if v, ok := s.params[name]; ok {
		return v
	}
	if v, ok := samPhysical[name]; ok {
		return v
	}
	if _, ok := s.resources[name]; ok {
		return "wxpay-" + name
	}
	t.Fatalf("template.yaml: Ref to unknown %s", name)
	return ""
}

var subVar = regexp.MustCompile(`\$\{([^}!][^}]*)\}`)

// eval evaluates v's intrinsic functions; noValue is returned for AWS::NoValue.
func (s *samStack) eval(t *testing.T, v any) any {
	m, ok := v.(map[string]any)
	if !ok {
		if l, ok := v.([]any); ok {
			var out []any
			for _, e := range l {
				if r := s.eval(t, e); r != noValue {
					out = append(out, r)
				}
			}
			return out
		}
		return v
	}
	if len(m) == 1 {
		for k, arg := range m {
			switch k {
			case "Ref":
				if arg == "AWS::NoValue" {
					return noValue
				}
				return s.ref(t, arg.(string))
			case "Fn::Sub":
				str, vars := arg, map[string]any{}
				if l, ok := arg.([]any); ok {
					str, vars = l[0], l[1].(map[string]any)
				}
				return subVar.ReplaceAllStringFunc(str.(string), func(x string) string {
					name := x[2 : len(x)-1]
					if v, ok := vars[name]; ok {
						return fmt.Sprint(s.eval(t, v))
					}
					if res, attr, ok := strings.Cut(name, "."); ok {
						return s.getAtt(t, res, attr)
					}
					return s.ref(t, name)
				})
			case "Fn::If":
				l := arg.([]any)
				if s.cond(t, l[0].(string)) {
					return s.eval(t, l[1])
				}
				return s.eval(t, l[2])
			case "Fn::Select":
				l := arg.([]any)
				list := s.eval(t, l[1]).([]any)
				var i int
				fmt.Sscan(fmt.Sprint(s.eval(t, l[0])), &i)
				return list[i]
			case "Fn::Split":
				l := arg.([]any)
				var out []any
				for _, p := range strings.Split(fmt.Sprint(s.eval(t, l[1])), l[0].(string)) {
					out = append(out, p)
				}
				return out
			case "Fn::GetAtt":
				res, attr, _ := strings.Cut(fmt.Sprint(arg), ".")
				return s.getAtt(t, res, attr)
			}
		}
	}
	out := map[string]any{}
	for k, e := range m {
		if r := s.eval(t, e); r != noValue {
			out[k] = r
		}
	}
	return out
}

var noValue = &struct{ string }{"AWS::NoValue"}

func (s *samStack) getAtt(t *testing.T, res, attr string) string {
	switch {
	case attr == "Arn" && strings.HasSuffix(res, "Function"):
		return "arn:aws:lambda:" + samRegion + ":123456789012:function:wxpay-" + res
	case attr == "Arn":
		return "arn:aws:dynamodb:" + samRegion + ":123456789012:table/" + s.ref(t, res)
	case attr == "RegionalDomainName":
		return "d-abc123.execute-api." + samRegion + ".amazonaws.com"
	}
	t.Fatalf("GetAtt %s.%s not stood in for", res, attr)
	return ""
}

func (s *samStack) cond(t *testing.T, name string) bool {
	c, ok := s.conditions[name]
	if !ok {
		t.Fatalf("template.yaml: unknown condition %s", name)
	}
	return s.truth(t, c)
}

func (s *samStack) truth(t *testing.T, c any) bool {
	m := c.(map[string]any)
	for k, arg := range m {
		l, _ := arg.([]any)
		switch k {
		case "Fn::Equals":
			return fmt.Sprint(s.eval(t, l[0])) == fmt.Sprint(s.eval(t, l[1]))
		case "Fn::Not":
			return !s.truth(t, l[0])
		case "Fn::And":
			for _, e := range l {
				if !s.truth(t, e) {
					return false
				}
			}
			return true
		case "Fn::Or":
			for _, e := range l {
				if s.truth(t, e) {
					return true
				}
			}
			return false
		case "Condition":
			return s.cond(t, arg.(string))
		}
	}
	t.Fatalf("condition %v not understood", c)
	return false
}

// functionEnv is a function's environment as Lambda gets it: Globals merged with the
// function's own variables (SAM's rule), intrinsics evaluated.
func (s *samStack) functionEnv(t *testing.T, logical string) map[string]string {
	t.Helper()
	own, _ := dig(s.resources[logical], "Properties", "Environment", "Variables").(map[string]any)
	out := map[string]string{}
	for _, vars := range []map[string]any{s.globalEnv, own} {
		for k, v := range vars {
			out[k] = fmt.Sprint(s.eval(t, v))
		}
	}
	return out
}

// samRoute is one route of the HTTP API and the function it reaches.
type samRoute struct{ method, path, function string }

// routes are the HTTP API's routes that exist for these parameters.
func (s *samStack) routes(t *testing.T) []samRoute {
	t.Helper()
	integration := map[string]string{}
	for id, r := range s.resources {
		if dig(r, "Type") == "AWS::ApiGatewayV2::Integration" {
			fn, _, _ := strings.Cut(fmt.Sprint(dig(r, "Properties", "IntegrationUri", "Fn::GetAtt")), ".")
			integration["integrations/"+"wxpay-"+id] = strings.ToLower(strings.TrimSuffix(fn, "Function"))
		}
	}
	var out []samRoute
	for _, r := range s.resources {
		if dig(r, "Type") != "AWS::ApiGatewayV2::Route" {
			continue
		}
		if c, ok := dig(r, "Condition").(string); ok && !s.cond(t, c) {
			continue
		}
		key := fmt.Sprint(s.eval(t, dig(r, "Properties", "RouteKey")))
		method, path, _ := strings.Cut(key, " ")
		target := fmt.Sprint(s.eval(t, dig(r, "Properties", "Target")))
		fn, ok := integration[target]
		if !ok {
			t.Fatalf("route %s targets %s, no integration", key, target)
		}
		out = append(out, samRoute{method, path, fn})
	}
	slices.SortFunc(out, func(a, b samRoute) int { return strings.Compare(a.method+a.path, b.method+b.path) })
	return out
}

// output is an Outputs value, or "" when its condition is false.
func (s *samStack) output(t *testing.T, name string) string {
	o, ok := s.outputs[name].(map[string]any)
	if !ok {
		t.Fatalf("template.yaml has no output %s", name)
	}
	if c, ok := o["Condition"].(string); ok && !s.cond(t, c) {
		return ""
	}
	return fmt.Sprint(s.eval(t, o["Value"]))
}

// ------------------------------------------------------------------ serverless-cloud-framework

// scfFunction is one function of a Tencent deployment file as the CLI and its
// component would create it.
type scfFunction struct {
	name, handler, role, typ string
	env                      map[string]string
}

// undefined is JavaScript's undefined: what the CLI puts for an unset ${env:X}.
type undefinedT struct{}

var undefined = undefinedT{}

var envVar = regexp.MustCompile(`\$\{env:(\w*[\w.-_]+)\}`)

// resolveEnv is serverless-cloud-framework's resolveVariables
// (src/libs/utils/basic.js): a value that is exactly ${env:X} becomes process.env.X,
// which is undefined when unset; ${env:X} inside a longer string becomes
// String(process.env.X), i.e. "undefined" when unset.
func resolveEnv(v any, env map[string]string) any {
	switch x := v.(type) {
	case string:
		if m := envVar.FindStringSubmatch(x); m != nil && m[0] == x {
			if val, ok := env[m[1]]; ok {
				return val
			}
			return undefined
		}
		return envVar.ReplaceAllStringFunc(x, func(ref string) string {
			if val, ok := env[envVar.FindStringSubmatch(ref)[1]]; ok {
				return val
			}
			return "undefined"
		})
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			out[k] = resolveEnv(e, env)
		}
		return out
	case []any:
		var out []any
		for _, e := range x {
			out = append(out, resolveEnv(e, env))
		}
		return out
	}
	return v
}

// jsString is JavaScript's String(v) for what YAML and the CLI produce.
func jsString(v any) string {
	if v == undefined {
		return "undefined"
	}
	return fmt.Sprint(v)
}

// renderSCF renders a Tencent deployment file for the merchant's variables (the shell
// and .env merged) as the component would create its functions: multi-scf builds each
// function's environment from `environments` with {key: value} and the toolkit writes
// String(val), so an undefined value becomes "undefined"; the scf component's inputs
// reach it as JSON, where an undefined value vanishes.
func renderSCF(t *testing.T, path string, env map[string]string) []scfFunction {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	doc = resolveEnv(doc, env).(map[string]any)
	in, _ := doc["inputs"].(map[string]any)
	switch doc["component"] {
	case "multi-scf":
		shared := map[string]string{}
		for _, e := range toList(in["environments"]) {
			m := e.(map[string]any)
			shared[fmt.Sprint(m["key"])] = jsString(m["value"])
		}
		var out []scfFunction
		for key, f := range in["functions"].(map[string]any) {
			f := f.(map[string]any)
			merged := map[string]any{}
			for k, v := range in {
				merged[k] = v
			}
			for k, v := range f { // Object.assign(commonInputs, func)
				merged[k] = v
			}
			env := shared
			if own, ok := f["environments"]; ok {
				env = map[string]string{}
				for _, e := range toList(own) {
					m := e.(map[string]any)
					env[fmt.Sprint(m["key"])] = jsString(m["value"])
				}
			}
			out = append(out, scfFunction{name: key, handler: jsString(merged["handler"]), role: jsString(merged["role"]), typ: jsString(merged["type"]), env: env})
		}
		slices.SortFunc(out, func(a, b scfFunction) int { return strings.Compare(a.name, b.name) })
		return out
	case "scf":
		env := map[string]string{}
		vars, _ := dig(in, "environment", "variables").(map[string]any)
		for k, v := range vars {
			if v != undefined {
				env[k] = jsString(v)
			}
		}
		return []scfFunction{{name: filepath.Base(filepath.Dir(path)), role: jsString(in["role"]), typ: jsString(in["type"]), env: env}}
	}
	t.Fatalf("%s: component %v", path, doc["component"])
	return nil
}

func toList(v any) []any { l, _ := v.([]any); return l }
