package createorder_test

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/paysls/wxpay/internal/paysim"
)

// packagePrefix is an internal Go package name leading a phrase ("payment: the refund
// exceeds …", "json: unknown field"): words from inside the code, not for a merchant.
var packagePrefix = regexp.MustCompile(`\b(payment|wechatpay|store|config|createorder|payclient|certcache|events|paysim|json|strconv|boltstore|redisstore|dynamostore|ledger): `)

// Every error answer of the order API, one row per rule: the status, a JSON body
// {code, message, hint} with all three set, the words a merchant needs in it, and no
// internal package prefix.
func TestErrorAnswers(t *testing.T) {
	e := newEnv(t, envOptions{})
	// A paid order and an unpaid one, for the refund rules.
	if st, m := e.call(t, "POST", "/orders", map[string]any{"order_id": "ERRPAID001", "amount": 100, "description": "x", "scene": "native"}); st != 201 {
		t.Fatalf("create: %d %v", st, m)
	}
	e.pay(t, "ERRPAID001")
	e.waitState(t, "ERRPAID001", "SUCCESS")
	if st, m := e.call(t, "POST", "/orders", map[string]any{"order_id": "ERRUNPAID1", "amount": 100, "description": "x", "scene": "native"}); st != 201 {
		t.Fatalf("create: %d %v", st, m)
	}
	create := func(extra string) string {
		return `{"order_id":"ERRORS0001","amount":100,"description":"x","scene":"native"` + extra + `}`
	}
	cases := []struct {
		rule         string
		method, path string
		body         string
		noToken      bool
		status       int
		code         string
		want         []string // in message or hint
		allow        string
	}{
		{"empty body says so and shows the shape", "POST", "/orders", "", false, 400, "PARAM_ERROR",
			[]string{"body is empty", `"order_id":`, `"amount":100`, "required: order_id, amount, description, scene"}, ""},
		{"empty refund body shows the refund's shape", "POST", "/orders/ERRPAID001/refunds", "", false, 400, "PARAM_ERROR",
			[]string{"body is empty", `"amount":100`, "optional: out_refund_no"}, ""},
		{"unknown field lists the valid ones", "POST", "/orders", create(`,"amount_yuan":1`), false, 400, "PARAM_ERROR",
			[]string{`unknown field "amount_yuan"`, "order_id, amount, description, scene, payer"}, ""},
		{"wrong type names the field", "POST", "/orders", `{"order_id":"ERRORS0001","amount":100,"description":"x","scene":5}`, false, 400, "PARAM_ERROR",
			[]string{"scene must be a JSON string"}, ""},
		{"not JSON", "POST", "/orders", "amount=100", false, 400, "PARAM_ERROR", []string{"not valid JSON"}, ""},
		{"not an object", "POST", "/orders", "[1,2]", false, 400, "PARAM_ERROR", []string{"must be a JSON object"}, ""},
		{"trailing data", "POST", "/orders", create("") + "{}", false, 400, "PARAM_ERROR", []string{"after the JSON object"}, ""},
		// A key given twice is read by one parser as its first value and by Go as its last
		// (and Go matches keys case-insensitively): refused, never a silent choice of amount.
		{"duplicate key", "POST", "/orders", create(`,"amount":99999`), false, 400, "PARAM_ERROR", []string{`"amount" is given twice`}, ""},
		{"duplicate key in another case", "POST", "/orders", create(`,"AMOUNT":99999`), false, 400, "PARAM_ERROR", []string{`"AMOUNT" is given twice`}, ""},
		{"duplicate key Go folds (ſ is s)", "POST", "/orders", create(`,"ſcene":"h5"`), false, 400, "PARAM_ERROR", []string{`"ſcene" is given twice`}, ""},
		{"duplicate key in a nested object", "POST", "/orders", create(`,"payer":{"openid":"oA","openid":"oB"}`), false, 400, "PARAM_ERROR", []string{`"openid" is given twice`}, ""},
		{"duplicate key in a refund", "POST", "/orders/ERRPAID001/refunds", `{"out_refund_no":"ERRDUPKEY1","amount":1,"amount":100}`, false, 400, "PARAM_ERROR", []string{`"amount" is given twice`}, ""},
		{"cut short", "POST", "/orders", `{"order_id":"ERRORS0001",`, false, 400, "PARAM_ERROR", []string{"JSON"}, ""},
		{"amount beyond WeChat Pay's int32 total", "POST", "/orders", `{"order_id":"ERRORS0001","amount":2147483648,"description":"x","scene":"native"}`, false, 400, "PARAM_ERROR",
			[]string{"at most 2147483647 fen", "21,474,836.47"}, ""},
		{"amount at int64's limit", "POST", "/orders", `{"order_id":"ERRORS0001","amount":9223372036854775807,"description":"x","scene":"native"}`, false, 400, "PARAM_ERROR",
			[]string{"at most 2147483647 fen"}, ""},
		{"amount beyond int64", "POST", "/orders", `{"order_id":"ERRORS0001","amount":99999999999999999999,"description":"x","scene":"native"}`, false, 400, "PARAM_ERROR",
			[]string{"at most 2147483647 fen"}, ""},
		{"amount zero says why", "POST", "/orders", `{"order_id":"ERRORS0001","amount":0,"description":"x","scene":"native"}`, false, 400, "PARAM_ERROR",
			[]string{"must be positive", "100 means ¥1.00"}, ""},
		{"missing description is a sentence", "POST", "/orders", `{"order_id":"ERRORS0001","amount":1,"scene":"native"}`, false, 400, "PARAM_ERROR",
			[]string{"description is required"}, ""},
		{"refund over the remainder", "POST", "/orders/ERRPAID001/refunds", `{"out_refund_no":"ERRRF00001","amount":101}`, false, 409, "REFUND_EXCEEDS_REMAINDER",
			[]string{"refund exceeds"}, ""},
		{"refund of an unpaid order", "POST", "/orders/ERRUNPAID1/refunds", `{"out_refund_no":"ERRRF00002","amount":1}`, false, 409, "ORDER_NOT_PAID",
			[]string{"not paid"}, ""},
		{"unknown order", "GET", "/orders/NOSUCH0001", "", false, 404, "", []string{"NOSUCH0001"}, ""},
		{"unknown path under the API", "GET", "/orders/ERRPAID001/nothing", "", false, 404, "NOT_FOUND",
			[]string{"is not a route", "POST /orders"}, ""},
		{"wrong method on an order", "DELETE", "/orders/ERRPAID001", "", false, 405, "METHOD_NOT_ALLOWED",
			[]string{"DELETE is not allowed", "GET"}, "GET, HEAD"},
		{"wrong method on /orders", "GET", "/orders", "", false, 405, "METHOD_NOT_ALLOWED",
			[]string{"GET is not allowed", "POST"}, "POST"},
		{"no token", "GET", "/orders/ERRPAID001", "", true, 401, "UNAUTHORIZED", []string{"Authorization"}, ""},
	}
	for _, c := range cases {
		t.Run(c.rule, func(t *testing.T) {
			req, err := http.NewRequest(c.method, e.srv.URL+c.path, strings.NewReader(c.body))
			if err != nil {
				t.Fatal(err)
			}
			if !c.noToken {
				req.Header.Set("Authorization", "Bearer "+testToken)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			checkErrorAnswer(t, resp, c.status, c.code, c.want)
			if c.allow != "" && resp.Header.Get("Allow") != c.allow {
				t.Errorf("Allow = %q, want %q", resp.Header.Get("Allow"), c.allow)
			}
		})
	}

	// WeChat Pay's own errors keep their code, without the client's package prefix.
	t.Run("WeChat Pay's error", func(t *testing.T) {
		if err := e.sim.SetFaults(paysim.Faults{Endpoints: []paysim.EndpointFault{{Pattern: "POST /v3/pay/transactions/native", Status: 429}}}); err != nil {
			t.Fatal(err)
		}
		defer e.sim.SetFaults(paysim.Faults{})
		req, _ := http.NewRequest("POST", e.srv.URL+"/orders", strings.NewReader(create("")))
		req.Header.Set("Authorization", "Bearer "+testToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		checkErrorAnswer(t, resp, 429, "FREQUENCY_LIMITED", []string{"WeChat Pay answered HTTP 429"})
	})
}

// checkErrorAnswer holds one error answer to the API's rule: JSON {code, message,
// hint}, all set, no internal package prefix. status 0 accepts any 4xx/5xx.
func checkErrorAnswer(t *testing.T, resp *http.Response, status int, code string, want []string) {
	t.Helper()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("HTTP %d: the answer is not JSON: %v", resp.StatusCode, err)
	}
	if status != 0 && resp.StatusCode != status || resp.StatusCode < 400 {
		t.Errorf("status %d, want %d: %v", resp.StatusCode, status, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q", ct)
	}
	for _, k := range []string{"code", "message", "hint"} {
		if s, _ := body[k].(string); strings.TrimSpace(s) == "" {
			t.Errorf("%s is empty in %v", k, body)
		}
	}
	if len(body) != 3 {
		t.Errorf("want exactly code, message, hint: %v", body)
	}
	if code != "" && body["code"] != code {
		t.Errorf("code %v, want %s", body["code"], code)
	}
	text := body["message"].(string) + " | " + body["hint"].(string)
	if m := packagePrefix.FindString(text); m != "" {
		t.Errorf("internal prefix %q in %q", m, text)
	}
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("%q not in %q", w, text)
		}
	}
}
