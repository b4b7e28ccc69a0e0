// Package scfevent serves a function as a Tencent Cloud SCF event function on the Go1
// runtime: scheduled functions from timer triggers (Jobs), HTTP functions from API
// gateway triggers and function URL events (HTTP, Wrap). It speaks the runtime's
// protocol itself (rpc.go) rather than through scf-go-lib's cloudfunction.Start, whose
// net/rpc doubled the binary; the deployed HTTP functions are web functions
// (shared/host/scfweb).
package scfevent

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/paysls/wxpay/shared/host"
	"github.com/paysls/wxpay/shared/host/internal/request"
)

// HTTP serves an HTTP function from API gateway and function URL events (Wrap).
func HTTP() host.Platform {
	return host.Platform{Build: "scfevent", Ready: ready, Serve: func(h http.Handler, _ *slog.Logger) error {
		handle := Wrap(h)
		return listen(func(ctx context.Context, raw json.RawMessage) (any, error) { return handle(ctx, raw) })
	}}
}

// Jobs serves a scheduled function from timer events.
func Jobs() host.Platform {
	return host.Platform{Build: "scfevent", Ready: ready, Run: func(job host.Job, log *slog.Logger) error {
		handle := host.JobHandler(job, log)
		return listen(func(ctx context.Context, raw json.RawMessage) (any, error) { return handle(ctx, raw) })
	}}
}

// listen serves invocations on the port the Go1 runtime gives; it returns only when
// the listener fails.
func listen(invoke invokeFunc) error {
	ln, err := host.Listen("0.0.0.0:" + os.Getenv(envGoServerPort))
	if err != nil {
		return fmt.Errorf("listen on %s: %w", envGoServerPort, err)
	}
	return serve(ln, invoke)
}

// Where SCF tells an event function how it is run.
const (
	envGoServerPort = "_LAMBDA_SERVER_PORT" // the port invocations arrive on; only the Go1 runtime sets it
	envRuntimeAPI   = "SCF_RUNTIME_API"     // SCF custom runtime (bootstrap) API host
)

// httpEvent is what SCF passes to an event function for an API gateway
// trigger request, and for a function URL request (which sends the same
// protocol minus requestContext, isBase64Encoded and the *Parameters fields,
// and carries the client IP in the x-scf-remote-addr header).
//
// scf-go-lib's events.APIGatewayRequest lacks isBase64Encoded, which API
// gateway sets when it base64-encodes a body; without it binary bodies, and
// with them signatures, would be corrupted.
type httpEvent struct {
	HTTPMethod            string            `json:"httpMethod"`
	Path                  string            `json:"path"`
	Headers               values            `json:"headers"`
	QueryString           values            `json:"queryString"`
	Body                  string            `json:"body"`
	IsBase64Encoded       bool              `json:"isBase64Encoded,omitempty"`
	RequestContext        *requestContext   `json:"requestContext,omitempty"`
	PathParameters        map[string]string `json:"pathParameters,omitempty"`
	QueryStringParameters map[string]string `json:"queryStringParameters,omitempty"`
	HeaderParameters      map[string]string `json:"headerParameters,omitempty"`
	StageVariables        map[string]string `json:"stageVariables,omitempty"`
}

// requestContext describes the API gateway service and caller.
type requestContext struct {
	ServiceID  string   `json:"serviceId"`
	Path       string   `json:"path"`
	HTTPMethod string   `json:"httpMethod"`
	RequestID  string   `json:"requestId"`
	Stage      string   `json:"stage"`
	SourceIP   string   `json:"sourceIp"`
	Identity   identity `json:"identity"`
}

// identity is the caller's authentication data, when the API requires any.
type identity struct {
	SecretID string `json:"secretId,omitempty"`
	SourceIP string `json:"sourceIp,omitempty"`
}

// response is an event function's answer to an API gateway or function
// URL request.
//
// The documented response (function URL: https://cloud.tencent.cn/document/product/583/96099,
// "响应参数"; API gateway integration response: https://www.tencentcloud.com/document/product/583/12513)
// is {statusCode, headers, body, isBase64Encoded} with one string per header, and
// no documented way to repeat a field. SCF calls its HTTP event protocol compatible
// with the API gateway protocol ("兼容apigw协议"), whose response format carries
// repeated fields as lists in multiValueHeaders; so a header with several values is
// sent there as the list, and in headers as well for a front end that reads only
// headers: joined with ", " (RFC 9110 §5.3), except Set-Cookie, whose values cannot
// be joined (RFC 6265 §3) and which gets its first value. That SCF's front ends honour
// multiValueHeaders is not documented: the deployment files therefore run HTTP
// functions as web functions (plain HTTP, no translation, every field kept).
type response struct {
	IsBase64Encoded   bool                `json:"isBase64Encoded"`
	StatusCode        int                 `json:"statusCode"`
	Headers           map[string]string   `json:"headers"`
	MultiValueHeaders map[string][]string `json:"multiValueHeaders,omitempty"`
	Body              string              `json:"body"`
}

// values is a header or query map as SCF sends it: each value is a string,
// a list of strings (repeated query keys) or true (a query key without "=").
type values map[string][]string

// UnmarshalJSON accepts every value form SCF uses.
func (v *values) UnmarshalJSON(data []byte) error {
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return err
	}
	out := make(values, len(m))
	for k, val := range m {
		switch t := val.(type) {
		case string:
			out[k] = []string{t}
		case bool, nil:
			out[k] = []string{""}
		case []any:
			for _, e := range t {
				s, ok := e.(string)
				if !ok {
					return fmt.Errorf("SCF value for %q: unexpected %T in list", k, e)
				}
				out[k] = append(out[k], s)
			}
		default:
			return fmt.Errorf("SCF value for %q: unexpected %T", k, val)
		}
	}
	*v = out
	return nil
}

// ready explains, instead of hanging, when the runtime's invocations cannot come: they
// arrive on _LAMBDA_SERVER_PORT, which only SCF's Go1 runtime sets.
func ready(getenv func(string) string) error {
	if getenv(envGoServerPort) != "" {
		return nil
	}
	if getenv(envRuntimeAPI) != "" {
		return errors.New("SCF custom runtime (" + envRuntimeAPI + ") is not supported: deploy the event function on SCF's Go1 runtime, or an HTTP function's scfweb build as a web function")
	}
	return errors.New(envGoServerPort + " is not set: the scfevent build runs as an SCF event function on the Go1 runtime only; an HTTP function's web function is the scfweb build, elsewhere run the local build (cmd/local)")
}

// Wrap returns the invocation handler for h: API gateway and function URL events in,
// their responses out.
func Wrap(h http.Handler) func(context.Context, json.RawMessage) (*response, error) {
	return func(ctx context.Context, raw json.RawMessage) (*response, error) {
		var ev httpEvent
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, fmt.Errorf("decode SCF HTTP event: %w", err)
		}
		if ev.HTTPMethod == "" {
			return nil, errors.New("SCF event has no httpMethod: not an API gateway or function URL request (a timer event needs the jobs build)")
		}
		r, err := scfRequest(ctx, &ev)
		if err != nil {
			return nil, err
		}
		w := newSCFResponseWriter()
		h.ServeHTTP(w, r)
		return w.response(), nil
	}
}

// scfRequest converts an SCF event into the request a net/http server would
// have handed the handler.
func scfRequest(ctx context.Context, ev *httpEvent) (*http.Request, error) {
	body := []byte(ev.Body)
	if ev.IsBase64Encoded {
		var err error
		if body, err = base64.StdEncoding.DecodeString(ev.Body); err != nil {
			return nil, fmt.Errorf("decode base64 SCF body: %w", err)
		}
	}
	path := ev.Path
	if path == "" {
		path = "/"
	}
	u, err := url.ParseRequestURI(path)
	if err != nil {
		return nil, fmt.Errorf("SCF path %q: %w", ev.Path, err)
	}
	// SCF hands the query over parsed; its original order is lost, so encode
	// it deterministically (sorted by key).
	u.RawQuery = url.Values(ev.QueryString).Encode()

	r, err := http.NewRequestWithContext(ctx, strings.ToUpper(ev.HTTPMethod), u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("build request from SCF event: %w", err)
	}
	// Two spellings of one header ("X-Forwarded-For" and "x-forwarded-for") are
	// one field: add them in sorted key order so the values' order never depends
	// on map iteration.
	for _, k := range request.SortedKeys(ev.Headers) {
		for _, v := range ev.Headers[k] {
			r.Header.Add(k, v)
		}
	}
	// net/http servers move Host out of the header map; do the same.
	r.Host = r.Header.Get("Host")
	r.Header.Del("Host")
	r.RequestURI = u.RequestURI()
	r.RemoteAddr = scfSourceIP(ev)
	return r, nil
}

// scfSourceIP is the address the gateway saw: API gateway reports it in
// requestContext, function URLs in the x-scf-remote-addr header, which may
// carry a port ("1.2.3.4:5678", "[::1]:5678"); the port is dropped so that
// RemoteAddr is a bare IP as on Lambda. Of two spellings of the header, the
// first in sorted order wins.
func scfSourceIP(ev *httpEvent) string {
	if rc := ev.RequestContext; rc != nil {
		if rc.SourceIP != "" {
			return request.HostOnly(rc.SourceIP)
		}
		if rc.Identity.SourceIP != "" {
			return request.HostOnly(rc.Identity.SourceIP)
		}
	}
	for _, k := range request.SortedKeys(ev.Headers) {
		if vs := ev.Headers[k]; strings.EqualFold(k, request.SCFRemoteAddr) && len(vs) > 0 {
			return request.HostOnly(vs[0])
		}
	}
	return ""
}

// scfResponseWriter buffers a response for SCF, which wants it whole.
type scfResponseWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func newSCFResponseWriter() *scfResponseWriter {
	return &scfResponseWriter{header: make(http.Header)}
}

func (w *scfResponseWriter) Header() http.Header { return w.header }

func (w *scfResponseWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 { // first final status wins, as in net/http
		w.status = code
	}
}

func (w *scfResponseWriter) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(b)
}

func (w *scfResponseWriter) response() *response {
	status := w.status
	if status == 0 {
		status = http.StatusOK
	}
	body := w.body.Bytes()
	if _, set := w.header["Content-Type"]; !set && len(body) > 0 {
		w.header.Set("Content-Type", http.DetectContentType(body)) // as net/http does
	}
	// Repeated fields go out as a list in multiValueHeaders (see Response).
	headers := make(map[string]string, len(w.header))
	var multi map[string][]string
	for k, vs := range w.header {
		switch {
		case len(vs) == 0:
			continue
		case len(vs) == 1:
			headers[k] = vs[0]
			continue
		case k == "Set-Cookie":
			headers[k] = vs[0]
		default:
			headers[k] = strings.Join(vs, ", ")
		}
		if multi == nil {
			multi = map[string][]string{}
		}
		multi[k] = slices.Clone(vs)
	}
	resp := &response{StatusCode: status, Headers: headers, MultiValueHeaders: multi}
	if isText(w.header.Get("Content-Type")) && utf8.Valid(body) {
		resp.Body = string(body)
	} else {
		// Binary (a QR code PNG) or bytes that JSON cannot carry as a string.
		resp.Body = base64.StdEncoding.EncodeToString(body)
		resp.IsBase64Encoded = true
	}
	return resp
}

// textTypes are the non-text/* media types that are sent as strings.
var textTypes = []string{
	"application/javascript",
	"application/json",
	"application/x-www-form-urlencoded",
	"application/xml",
}

func isText(contentType string) bool {
	if contentType == "" {
		return true // empty body
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	if strings.HasPrefix(mt, "text/") || strings.HasSuffix(mt, "+json") || strings.HasSuffix(mt, "+xml") {
		return true
	}
	return slices.Contains(textTypes, mt)
}
