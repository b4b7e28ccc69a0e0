package host_test

// The adapters side by side: every platform's request conversion must hand the
// handler the same request, and every response conversion the client the same answer.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/paysls/wxpay/shared/host/awslambda"
	"github.com/paysls/wxpay/shared/host/scfevent"
)

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The two bodies every event kind must deliver byte for byte: bytes that are
// not UTF-8 (so not JSON-safe), and JSON whose spacing a re-marshal would lose.
var (
	binaryBody = []byte{0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0xff, 0xfe, 0x00, 0x80, 0xc3, 0x28, '{', '}'}
	spacedJSON = []byte("{ \"id\" :\"EV-2018022511223320873\",\n\t\"event_type\":\"TRANSACTION.SUCCESS\" , \"summary\":\"支付成功\"  }\r\n")
)

// echo is what echoHandler saw of the request.
type echo struct {
	Method     string
	Path       string
	RawQuery   string
	Query      url.Values
	Header     http.Header
	Host       string
	RemoteAddr string
	BodySHA256 string
	BodyLen    int
}

func sha(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

var echoHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(echo{
		Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Query: r.URL.Query(),
		Header: r.Header, Host: r.Host, RemoteAddr: r.RemoteAddr,
		BodySHA256: sha(body), BodyLen: len(body),
	})
})

// withBody returns the event with its body replaced, base64-encoded or not.
// Only the envelope is re-marshalled; the body string is set verbatim.
func withBody(t *testing.T, raw []byte, body []byte, b64 bool) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if b64 {
		m["body"] = base64.StdEncoding.EncodeToString(body)
	} else {
		m["body"] = string(body)
	}
	m["isBase64Encoded"] = b64
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// result is a platform response reduced to what a client would receive.
type result struct {
	status int
	header http.Header
	body   []byte
	b64    bool
}

func invokeAWS(t *testing.T, h http.Handler, raw []byte) result {
	t.Helper()
	out, err := awslambda.Wrap(h)(context.Background(), raw)
	if err != nil {
		t.Fatalf("lambda handler: %v", err)
	}
	var res result
	var body string
	switch r := out.(type) {
	case events.APIGatewayProxyResponse:
		res.status, res.b64, body = r.StatusCode, r.IsBase64Encoded, r.Body
		res.header = http.Header(r.MultiValueHeaders)
	case events.APIGatewayV2HTTPResponse:
		res.status, res.b64, body = r.StatusCode, r.IsBase64Encoded, r.Body
		res.header = http.Header{}
		for k, v := range r.Headers {
			res.header.Set(k, v)
		}
		for _, c := range r.Cookies {
			res.header.Add("Set-Cookie", c)
		}
	default:
		t.Fatalf("unexpected Lambda response type %T", out)
	}
	res.body = decodeBody(t, body, res.b64)
	return res
}

func invokeSCF(t *testing.T, h http.Handler, raw []byte) result {
	t.Helper()
	r, err := scfevent.Wrap(h)(context.Background(), raw)
	if err != nil {
		t.Fatalf("scf handler: %v", err)
	}
	res := result{status: r.StatusCode, b64: r.IsBase64Encoded, header: http.Header{}}
	// The API gateway protocol's merge rule: a header in multiValueHeaders is
	// sent with those values, any other with its value in headers.
	for k, v := range r.Headers {
		res.header.Set(k, v)
	}
	for k, vs := range r.MultiValueHeaders {
		res.header[http.CanonicalHeaderKey(k)] = vs
	}
	res.body = decodeBody(t, r.Body, r.IsBase64Encoded)
	return res
}

func decodeBody(t *testing.T, body string, b64 bool) []byte {
	t.Helper()
	if !b64 {
		return []byte(body)
	}
	b, err := base64.StdEncoding.DecodeString(body)
	if err != nil {
		t.Fatalf("response body is not base64: %v", err)
	}
	return b
}

func TestRequestConversion(t *testing.T) {
	tests := []struct {
		fixture  string
		scf      bool
		method   string
		path     string
		query    url.Values
		rawQuery string // checked when the platform keeps the raw query
		headers  map[string]string
		host     string
		remote   string
	}{
		{
			fixture: "aws-apigw-v1-request.json",
			method:  "POST", path: "/v1/notify/pay",
			query: url.Values{"name": {"me"}, "tag": {"a", "b"}},
			headers: map[string]string{
				"X-Forwarded-For":     "203.0.113.7, 10.0.0.1",
				"Wechatpay-Signature": "cVl2Wn0mQ4S1z+ZpTo/2QkFgL0Q=",
				"Wechatpay-Serial":    "PUB_KEY_ID_0114232134912410000000000000",
			},
			host:   "gy415nuibc.execute-api.ap-east-1.amazonaws.com",
			remote: "203.0.113.7",
		},
		{
			fixture: "aws-apigw-v2-request.json",
			method:  "POST", path: "/v1/notify/pay",
			query:    url.Values{"a": {"1"}, "b": {"中", "2"}},
			rawQuery: "b=%E4%B8%AD&a=1&b=2",
			headers: map[string]string{
				"X-Forwarded-For":     "203.0.113.7, 10.0.0.1",
				"Date":                "Wed, 21 Oct 2015 07:28:00 GMT",
				"User-Agent":          "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)",
				"Wechatpay-Signature": "cVl2Wn0mQ4S1z+ZpTo/2QkFgL0Q=",
				"Cookie":              "session=abc",
			},
			host:   "aaaaaaaaaa.execute-api.ap-east-1.amazonaws.com",
			remote: "203.0.113.7",
		},
		{
			fixture: "aws-lambda-url-request.json",
			method:  "POST", path: "/v1/orders",
			query:    url.Values{"trade_type": {"NATIVE"}, "debug": {""}},
			rawQuery: "trade_type=NATIVE&debug",
			headers:  map[string]string{"X-Forwarded-For": "198.51.100.23", "Content-Type": "application/json; charset=utf-8"},
			host:     "abcdefghijklmnop.lambda-url.ap-east-1.on.aws",
			remote:   "198.51.100.23",
		},
		{
			fixture: "scf-apigw-request.json", scf: true,
			method: "POST", path: "/v1/notify/pay",
			query:    url.Values{"a": {"1"}, "b": {"x", "y"}, "flag": {""}},
			rawQuery: "a=1&b=x&b=y&flag=",
			headers: map[string]string{
				"X-Forwarded-For":     "203.0.113.9, 10.0.0.2",
				"Wechatpay-Signature": "cVl2Wn0mQ4S1z+ZpTo/2QkFgL0Q=",
				"Content-Type":        "application/octet-stream",
			},
			host:   "service-f94sy04v-1250000000.gz.apigw.tencentcs.com",
			remote: "203.0.113.9",
		},
		{
			fixture: "scf-function-url-request.json", scf: true,
			method: "POST", path: "/v1/orders",
			query:    url.Values{"a": {"1"}, "b": {"2"}},
			rawQuery: "a=1&b=2",
			headers:  map[string]string{"X-Forwarded-For": "111.206.96.145", "X-Scf-Remote-Addr": "111.206.96.145"},
			host:     "1250000000-abcd1234.ap-guangzhou.tencentscf.com",
			remote:   "111.206.96.145",
		},
	}
	bodies := []struct {
		name string
		body []byte
		b64  bool
	}{
		{"binary-base64", binaryBody, true},
		{"json-base64", spacedJSON, true},
		{"json-plain", spacedJSON, false},
	}
	for _, tt := range tests {
		raw := fixture(t, tt.fixture)
		for _, bd := range bodies {
			if tt.fixture == "scf-function-url-request.json" && bd.b64 {
				continue // SCF documents no isBase64Encoded for function URLs
			}
			t.Run(tt.fixture+"/"+bd.name, func(t *testing.T) {
				invoke := invokeAWS
				if tt.scf {
					invoke = invokeSCF
				}
				res := invoke(t, echoHandler, withBody(t, raw, bd.body, bd.b64))
				if res.status != http.StatusOK {
					t.Fatalf("status %d, body %s", res.status, res.body)
				}
				var got echo
				if err := json.Unmarshal(res.body, &got); err != nil {
					t.Fatalf("echo: %v (%s)", err, res.body)
				}
				if got.BodySHA256 != sha(bd.body) || got.BodyLen != len(bd.body) {
					t.Errorf("body changed: sha %s len %d, want sha %s len %d", got.BodySHA256, got.BodyLen, sha(bd.body), len(bd.body))
				}
				if got.Method != tt.method || got.Path != tt.path {
					t.Errorf("request line %s %s, want %s %s", got.Method, got.Path, tt.method, tt.path)
				}
				if !reflect.DeepEqual(got.Query, tt.query) {
					t.Errorf("query %v, want %v", got.Query, tt.query)
				}
				if tt.rawQuery != "" && got.RawQuery != tt.rawQuery {
					t.Errorf("raw query %q, want %q", got.RawQuery, tt.rawQuery)
				}
				for k, want := range tt.headers {
					if v := got.Header.Values(k); len(v) == 0 || v[0] != want {
						t.Errorf("header %s = %q, want %q as sent", k, v, want)
					}
				}
				if got.Host != tt.host {
					t.Errorf("host %q, want %q", got.Host, tt.host)
				}
				if got.RemoteAddr != tt.remote {
					t.Errorf("RemoteAddr %q, want %q", got.RemoteAddr, tt.remote)
				}
			})
		}
	}
}

// The shipped fixtures themselves carry the interesting bodies, so that a
// fixture edited by hand still exercises base64 and spacing.
func TestFixtureBodies(t *testing.T) {
	for name, want := range map[string][]byte{
		"aws-apigw-v1-request.json":     binaryBody,
		"aws-apigw-v2-request.json":     spacedJSON,
		"aws-lambda-url-request.json":   spacedJSON,
		"scf-apigw-request.json":        binaryBody,
		"scf-function-url-request.json": spacedJSON,
	} {
		invoke := invokeAWS
		if name[:4] == "scf-" {
			invoke = invokeSCF
		}
		var got echo
		if err := json.Unmarshal(invoke(t, echoHandler, fixture(t, name)).body, &got); err != nil {
			t.Fatal(err)
		}
		if got.BodySHA256 != sha(want) {
			t.Errorf("%s: body sha %s, want %s", name, got.BodySHA256, sha(want))
		}
	}
}

func TestResponseConversion(t *testing.T) {
	png := append([]byte(nil), binaryBody...)
	binary := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		w.Header().Add("X-Multi", "a")
		w.Header().Add("X-Multi", "b")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write(png)
	})
	jsonBody := []byte(`{"code":"FAIL","message":"签名错误"}`)
	text := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Add("Set-Cookie", "a=1")
		w.Header().Add("Set-Cookie", "b=2")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write(jsonBody)
	})
	silent := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	badText := []byte{'o', 'k', 0xff}
	invalidUTF8 := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write(badText)
	})

	platforms := []struct {
		fixture      string
		scf          bool
		multiValue   bool // repeated headers arrive as separate values
		cookiesApart bool // repeated Set-Cookie arrive as separate values
	}{
		{"aws-apigw-v1-request.json", false, true, true},
		{"aws-apigw-v2-request.json", false, false, true},
		{"aws-lambda-url-request.json", false, false, true},
		{"scf-apigw-request.json", true, true, true},
		{"scf-function-url-request.json", true, true, true},
	}
	for _, p := range platforms {
		t.Run(p.fixture, func(t *testing.T) {
			invoke := invokeAWS
			if p.scf {
				invoke = invokeSCF
			}
			raw := fixture(t, p.fixture)

			res := invoke(t, binary, raw)
			if res.status != http.StatusCreated || !res.b64 || !bytes.Equal(res.body, png) {
				t.Errorf("binary: status %d base64 %v body %x, want 201, true, %x", res.status, res.b64, res.body, png)
			}
			if ct := res.header.Get("Content-Type"); ct != "image/png" {
				t.Errorf("binary: content type %q", ct)
			}
			wantMulti := []string{"a, b"}
			if p.multiValue {
				wantMulti = []string{"a", "b"}
			} else if !p.scf {
				wantMulti = []string{"a,b"} // aws-lambda-go-api-proxy joins v2 headers without a space
			}
			if got := res.header.Values("X-Multi"); !reflect.DeepEqual(got, wantMulti) {
				t.Errorf("X-Multi = %q, want %q", got, wantMulti)
			}

			res = invoke(t, text, raw)
			if res.status != http.StatusUnauthorized || res.b64 || !bytes.Equal(res.body, jsonBody) {
				t.Errorf("json: status %d base64 %v body %q", res.status, res.b64, res.body)
			}
			wantCookies := []string{"a=1, b=2"}
			if p.cookiesApart {
				wantCookies = []string{"a=1", "b=2"}
			}
			if got := res.header.Values("Set-Cookie"); !reflect.DeepEqual(got, wantCookies) {
				t.Errorf("Set-Cookie = %q, want %q", got, wantCookies)
			}

			res = invoke(t, silent, raw)
			if res.status != http.StatusOK || len(res.body) != 0 {
				t.Errorf("silent handler: status %d body %q, want 200 and empty", res.status, res.body)
			}

			res = invoke(t, invalidUTF8, raw)
			if !res.b64 || !bytes.Equal(res.body, badText) {
				t.Errorf("invalid UTF-8 text: base64 %v body %x, want base64 of %x", res.b64, res.body, badText)
			}
		})
	}
}

func TestSCFResponseJSON(t *testing.T) {
	r, err := scfevent.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "<xml><return_code><![CDATA[SUCCESS]]></return_code></xml>")
	}))(context.Background(), fixture(t, "scf-apigw-request.json"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"isBase64Encoded": false,
		"statusCode":      float64(200),
		"headers":         map[string]any{"Content-Type": "text/plain; charset=utf-8"}, // sniffed, as net/http does
		"body":            "<xml><return_code><![CDATA[SUCCESS]]></return_code></xml>",
	}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("SCF response JSON\n got %v\nwant %v", m, want)
	}

	// Two Set-Cookie fields: a list in multiValueHeaders, never "a=1, b=2".
	r, err = scfevent.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Set-Cookie", "a=1; Path=/")
		w.Header().Add("Set-Cookie", "b=2; Path=/")
		w.Header().Add("Vary", "Origin")
		w.Header().Add("Vary", "Accept")
	}))(context.Background(), fixture(t, "scf-function-url-request.json"))
	if err != nil {
		t.Fatal(err)
	}
	if b, err = json.Marshal(r); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Headers           map[string]string
		MultiValueHeaders map[string][]string
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.MultiValueHeaders["Set-Cookie"], []string{"a=1; Path=/", "b=2; Path=/"}) ||
		got.Headers["Set-Cookie"] != "a=1; Path=/" || got.Headers["Vary"] != "Origin, Accept" ||
		!reflect.DeepEqual(got.MultiValueHeaders["Vary"], []string{"Origin", "Accept"}) || len(got.MultiValueHeaders) != 2 {
		t.Errorf("repeated headers: %s", b)
	}
}

func TestUnsupportedEvents(t *testing.T) {
	timer := fixture(t, "scf-timer.json")
	schedule := fixture(t, "aws-eventbridge-scheduled.json")
	alb := []byte(`{"requestContext":{"elb":{"targetGroupArn":"arn:aws:elasticloadbalancing:region:123456789012:targetgroup/my-target-group/6d0ecf831eec9f09"}},"httpMethod":"GET","path":"/"}`)
	for name, raw := range map[string][]byte{"lambda/eventbridge": schedule, "lambda/scf-timer": timer, "lambda/alb": alb, "lambda/not-json": []byte("nope")} {
		if _, err := awslambda.Wrap(echoHandler)(context.Background(), raw); err == nil {
			t.Errorf("%s: want an error", name)
		}
	}
	badB64 := []byte(`{"httpMethod":"POST","path":"/","body":"%%%","isBase64Encoded":true}`)
	for name, raw := range map[string][]byte{"scf/timer": timer, "scf/eventbridge": schedule, "scf/bad-base64": badB64} {
		if _, err := scfevent.Wrap(echoHandler)(context.Background(), raw); err == nil {
			t.Errorf("%s: want an error", name)
		}
	}
}
