// Package awslambda serves a function on AWS Lambda (provided.al2023): HTTP
// functions behind API Gateway (REST API, HTTP API) or a function URL, scheduled
// functions from EventBridge Scheduler. Like aws-lambda-go's lambdaurl it exports what
// a main needs — HTTP or Jobs, the host.Platform to put in its host.Build — and Wrap,
// the handler itself.
//
// A start that fails (a setting the build cannot honour, a secret that cannot be
// read) is reported through the Runtime API's init-error endpoint, so the console
// shows the reason instead of Runtime.ExitError.
package awslambda

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/textproto"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/paysls/wxpay/shared/host"
	"github.com/paysls/wxpay/shared/host/internal/request"
)

// envRuntimeAPI is the Runtime API's host:port, set by every Lambda runtime
// (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html).
const envRuntimeAPI = "AWS_LAMBDA_RUNTIME_API"

// HTTP serves an HTTP function: every API Gateway and function URL shape, one
// handler for all (Wrap). lambda.Start never returns.
func HTTP() host.Platform {
	return host.Platform{Build: "lambda", Ready: ready, Failed: reportInitError,
		Serve: func(h http.Handler, _ *slog.Logger) error {
			lambda.Start(Wrap(h))
			return nil
		}}
}

// Jobs serves a scheduled function: each invocation (an EventBridge Scheduler or
// scheduled-rule event, or {} from a console test) runs the job once.
func Jobs() host.Platform {
	return host.Platform{Build: "lambda", Ready: ready, Failed: reportInitError,
		Run: func(job host.Job, log *slog.Logger) error {
			lambda.Start(host.JobHandler(job, log))
			return nil
		}}
}

// ready: a Lambda build started anywhere but Lambda says where it belongs, instead of
// aws-lambda-go's "expected AWS Lambda environment variables … are not defined".
func ready(getenv func(string) string) error {
	if getenv(envRuntimeAPI) == "" {
		return errors.New(envRuntimeAPI + " is not set: the Lambda build runs on AWS Lambda only; elsewhere run the local build (cmd/local)")
	}
	return nil
}

// initErrorType is the Lambda-Runtime-Function-Error-Type of a failed start: every
// failure before the handler serves is a setting or a resource the function was
// given (a missing variable, a secret it may not read).
const initErrorType = "Runtime.ConfigInvalid"

// reportInitError posts err to the Runtime API's initialization-error path, as a
// runtime does when its initialization fails
// (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html#runtimes-api-initerror:
// POST /2018-06-01/runtime/init/error, header Lambda-Runtime-Function-Error-Type,
// body {errorMessage, errorType, stackTrace}); Lambda then shows the message for the
// failed init. The process exits right after, as the Runtime API expects. A Runtime
// API that cannot be reached changes nothing: the log line was written first.
func reportInitError(err error) {
	api := strings.TrimSpace(os.Getenv(envRuntimeAPI))
	if api == "" {
		return
	}
	body, _ := json.Marshal(map[string]any{"errorMessage": err.Error(), "errorType": initErrorType, "stackTrace": []string{}})
	req, rerr := http.NewRequest(http.MethodPost, "http://"+api+"/2018-06-01/runtime/init/error", bytes.NewReader(body))
	if rerr != nil {
		return
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Lambda-Runtime-Function-Error-Type", initErrorType)
	resp, rerr := (&http.Client{Timeout: 2 * time.Second}).Do(req)
	if rerr == nil {
		resp.Body.Close()
	}
}

// awsEventKind is the HTTP event shape a Lambda invocation carries.
type awsEventKind int

const (
	awsUnknown     awsEventKind = iota
	awsRESTAPI                  // API Gateway REST API, or HTTP API with payload format 1.0
	awsHTTPAPI                  // API Gateway HTTP API, payload format 2.0
	awsFunctionURL              // Lambda function URL (payload format 2.0 shape)
)

func (k awsEventKind) String() string {
	switch k {
	case awsRESTAPI:
		return "apigateway-v1"
	case awsHTTPAPI:
		return "apigateway-v2"
	case awsFunctionURL:
		return "function-url"
	default:
		return "unknown"
	}
}

// awsProbe holds just enough of an event to tell the HTTP shapes apart.
type awsProbe struct {
	Version        string `json:"version"`
	HTTPMethod     string `json:"httpMethod"`
	RequestContext struct {
		DomainName string          `json:"domainName"`
		ELB        json.RawMessage `json:"elb"`
		HTTP       struct {
			Method string `json:"method"`
		} `json:"http"`
	} `json:"requestContext"`
}

func classifyAWS(raw []byte) (awsEventKind, error) {
	var p awsProbe
	if err := json.Unmarshal(raw, &p); err != nil {
		return awsUnknown, fmt.Errorf("decode Lambda event: %w", err)
	}
	switch {
	case len(p.RequestContext.ELB) > 0:
		// ALB wants statusDescription in its responses; nothing here deploys behind ALB.
		return awsUnknown, errors.New("ALB target events are not supported; use API Gateway or a function URL")
	case p.Version == "2.0" && p.RequestContext.HTTP.Method != "":
		if strings.Contains(p.RequestContext.DomainName, ".lambda-url.") {
			return awsFunctionURL, nil
		}
		return awsHTTPAPI, nil
	case p.HTTPMethod != "":
		return awsRESTAPI, nil
	}
	return awsUnknown, errors.New("Lambda event is not an API Gateway or function URL request (a scheduled event needs the jobs build)")
}

// Wrap returns the Lambda handler for h. One handler takes every HTTP shape so that
// the same binary works behind a REST API, an HTTP API and a function URL; the
// conversion itself is aws-lambda-go-api-proxy's.
func Wrap(h http.Handler) func(context.Context, json.RawMessage) (any, error) {
	h = ensureStatus(h)
	v1 := httpadapter.New(h)
	return func(ctx context.Context, raw json.RawMessage) (any, error) {
		kind, err := classifyAWS(raw)
		if err != nil {
			return nil, err
		}
		switch kind {
		case awsRESTAPI:
			var ev events.APIGatewayProxyRequest
			if err := json.Unmarshal(raw, &ev); err != nil {
				return nil, fmt.Errorf("decode %s event: %w", kind, err)
			}
			return v1.ProxyWithContext(ctx, ev)
		default: // awsHTTPAPI, awsFunctionURL: both payload format 2.0
			var ev events.APIGatewayV2HTTPRequest
			if err := json.Unmarshal(raw, &ev); err != nil {
				return nil, fmt.Errorf("decode %s event: %w", kind, err)
			}
			// A per-invocation adapter is one small allocation; it lets the
			// handler see this event's headers as sent (see headersAsSent).
			return httpadapter.NewV2(headersAsSent(h, ev.Headers)).ProxyWithContext(ctx, ev)
		}
	}
}

// headersAsSent restores payload-2.0 headers to the single values in the
// event. The proxy library splits every non-singleton header on commas, which
// turns "X-Forwarded-For: client, proxy" into two values and cuts Date and
// User-Agent apart; handlers must see what the gateway sent.
//
// Two spellings of one header in the event (a hand-made test event; gateways
// lower-case names) are one field whose values follow in sorted key order, so
// the answer never depends on map iteration.
func headersAsSent(h http.Handler, sent map[string]string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen := make(map[string]bool, len(sent))
		for _, k := range request.SortedKeys(sent) {
			ck := textproto.CanonicalMIMEHeaderKey(k)
			if !seen[ck] {
				seen[ck] = true
				r.Header[ck] = nil
			}
			r.Header[ck] = append(r.Header[ck], sent[k])
		}
		h.ServeHTTP(w, r)
	})
}

// ensureStatus makes a handler that returns without writing anything answer
// 200, as net/http does. aws-lambda-go-api-proxy instead turns such a response
// into a 504 ("Status code not set on response").
func ensureStatus(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r)
		if !sw.wrote {
			sw.WriteHeader(http.StatusOK)
		}
	})
}

type statusWriter struct {
	http.ResponseWriter
	wrote bool
}

func (w *statusWriter) WriteHeader(code int) {
	w.wrote = true
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
