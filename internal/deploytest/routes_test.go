package deploytest

import (
	"go/ast"
	"go/parser"
	"go/token"

	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// Route parity: every route a deployed function's handler serves is routed by
// template.yaml to that function and reachable through its SCF Function URL, and
// template.yaml routes nothing that no handler serves. (Defect 4 of issue 20 was a
// handler route, GET /events/{id}, that the HTTP API answered 404.)

// handlerPackages are the packages whose ServeMux patterns each HTTP function's main
// mounts (createorder's mains mount the order API's handler under /, which serves the
// cashier page under /pay/; notify's mount the events API under /events and the
// notification handler elsewhere).
var handlerPackages = map[string][]string{
	"createorder": {"functions/createorder", "functions/createorder/cashier"},
	"notify":      {"functions/notify", "shared/events"},
}

const paritySampleMPVerify = "AbCd1234efGH5678"

// handlerRoutes scans the packages' non-test sources for mux.Handle/HandleFunc calls
// with a literal pattern. Subtree patterns ("/", "/pay/") are mounts and fallbacks,
// not routes. createorder's MP_verify route is built from WXPAY_MP_VERIFY.
func handlerRoutes(t *testing.T, fn string) []string {
	t.Helper()
	var out []string
	for _, dir := range handlerPackages[fn] {
		files, _ := filepath.Glob(filepath.Join(root, dir, "*.go"))
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			file, err := parser.ParseFile(token.NewFileSet(), f, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			ast.Inspect(file, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok || len(call.Args) != 2 {
					return true
				}
				sel, ok := call.Fun.(*ast.SelectorExpr)
				if !ok || (sel.Sel.Name != "Handle" && sel.Sel.Name != "HandleFunc") {
					return true
				}
				lit, ok := call.Args[0].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					return true
				}
				p, _ := strconv.Unquote(lit.Value)
				if !strings.HasSuffix(p, "/") {
					out = append(out, p)
				}
				return true
			})
		}
	}
	if fn == "createorder" {
		out = append(out, "GET /MP_verify_"+paritySampleMPVerify+".txt")
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// apiPath turns an API Gateway route path into a regexp: {x} is one segment, {x+} one
// or more.
func apiPath(p string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	for _, seg := range strings.Split(strings.TrimPrefix(p, "/"), "/") {
		b.WriteString("/")
		switch {
		case strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "+}"):
			b.WriteString(".+")
		case strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}"):
			b.WriteString("[^/]+")
		default:
			b.WriteString(regexp.QuoteMeta(seg))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

// sample fills a pattern's wildcards ({order_id}, {proxy+} …) with plausible values.
func sample(p string) string {
	r := strings.NewReplacer("{order_id}", "ROUTEPARITY01", "{out_refund_no}", "RFPARITY01", "{id}", "evt_parity", "{proxy+}", "ROUTEPARITY01/status")
	return r.Replace(p)
}

// unserved reports whether an answer is a router's "no such route", not a handler's.
func unserved(status int, body []byte) bool {
	b := string(body)
	return status == 405 || (status == 404 && (strings.Contains(b, "is not a route") || strings.Contains(b, "404 page not found") ||
		strings.Contains(b, "no such route") || strings.Contains(b, "Page not found")))
}

func TestRouteParity(t *testing.T) {
	stack := renderSAM(t, map[string]string{"MchId": "1900000109", "AppId": "wxd678efh567hg6787", "MerchantSerial": "5157F09EFDC096DE15EBE81A47057A7232F1B8E1",
		"SecretName": "wxpay/prod", "MpVerifyToken": paritySampleMPVerify})
	routed := stack.routes(t)
	for _, fn := range functions(t) {
		var fnRoutes []samRoute
		for _, r := range routed {
			if r.function == fn.name {
				fnRoutes = append(fnRoutes, r)
			}
		}
		if !fn.http {
			if len(fnRoutes) > 0 {
				t.Errorf("template.yaml routes %v to job %s", fnRoutes, fn.name)
			}
			continue
		}
		if _, ok := handlerPackages[fn.name]; !ok {
			t.Errorf("HTTP function %s: add the packages its main mounts to handlerPackages", fn.name)
			continue
		}
		t.Run(fn.name, func(t *testing.T) {
			// Every handler route is routed by template.yaml, to this function.
			for _, h := range handlerRoutes(t, fn.name) {
				method, path, ok := strings.Cut(h, " ")
				if !ok { // no method: any method the API routes there
					method, path = "", h
				}
				found := false
				for _, r := range fnRoutes {
					if (method == "" || r.method == method) && apiPath(r.path).MatchString(sample(path)) {
						found = true
					}
				}
				if !found {
					t.Errorf("the handler serves %q, which template.yaml does not route to %s", h, fn.name)
				}
			}
			// Every routed request reaches a handler that serves it: through the Lambda
			// binary as API Gateway (payload 2.0) delivers it, and through the SCF web
			// function as its Function URL does.
			extra := []string{"WXPAY_MP_VERIFY=" + paritySampleMPVerify}
			api := newRuntimeAPI(t)
			start(t, build(t, fn.name, buildLambda), env(t, append(extra, "AWS_LAMBDA_RUNTIME_API="+api.addr(), "AWS_REGION=ap-east-1",
				"AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "AWS_LAMBDA_FUNCTION_NAME=wxpay-"+fn.name)...))
			if err := packageOnce(); err != nil {
				t.Fatal(err)
			}
			dir := unzip(t, filepath.Join(root, "build", "scf", fn.name+".zip"))
			addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
			start(t, "/bin/bash", env(t, append(extra, "WXPAY_SCF_WEB_ADDR="+addr)...), filepath.Join(dir, "scf_bootstrap"))
			waitPort(t, addr)
			auth := map[string]string{"Authorization": "Bearer test-token"}
			for _, r := range fnRoutes {
				path := sample(r.path)
				status, body := api.httpV2(t, r.method, path, "{}", auth)
				if unserved(status, body) {
					t.Errorf("Lambda: %s %s (routed as %s) is served by no handler: %d %s", r.method, path, r.path, status, body)
				}
				status, body = webRequest(t, addr, r.method, path, "{}", auth)
				if unserved(status, body) {
					t.Errorf("SCF Function URL: %s %s is served by no handler: %d %s", r.method, path, status, body)
				}
			}
			// And the probe is able to tell: a path no handler serves is unserved.
			if status, body := webRequest(t, addr, "GET", "/no/such/route/"+fn.name, "", auth); fn.name == "createorder" && !unserved(status, body) {
				t.Errorf("GET /no/such/route: %d %s, want the router's 404 (the check would pass anything)", status, body)
			}
		})
	}
	// The routes template.yaml adds, named: GET /events/{id} (defect 4) among them.
	for _, want := range []string{"GET /events/{id}", "GET /MP_verify_" + paritySampleMPVerify + ".txt", "GET /pay/{proxy+}",
		"GET /console", "GET /console/{proxy+}", "POST /console/{proxy+}"} {
		found := false
		for _, r := range routed {
			found = found || r.method+" "+r.path == want
		}
		if !found {
			t.Errorf("template.yaml does not route %s", want)
		}
	}
}
