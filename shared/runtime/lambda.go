//go:build !wxpay_noaws

package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"
)

// startLambdaHTTP serves h as a Lambda function; it does not return.
func startLambdaHTTP(h http.Handler) error {
	lambda.Start(lambdaHTTPHandler(h))
	return nil
}

// startLambdaJob serves a job handler as a Lambda function; it does not return.
func startLambdaJob(handler func(context.Context, json.RawMessage) (Report, error)) error {
	lambda.Start(handler)
	return nil
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
		return awsUnknown, fmt.Errorf("runtime: decode Lambda event: %w", err)
	}
	switch {
	case len(p.RequestContext.ELB) > 0:
		// ALB wants statusDescription in its responses; nothing here deploys behind ALB.
		return awsUnknown, errors.New("runtime: ALB target events are not supported; use API Gateway or a function URL")
	case p.Version == "2.0" && p.RequestContext.HTTP.Method != "":
		if strings.Contains(p.RequestContext.DomainName, ".lambda-url.") {
			return awsFunctionURL, nil
		}
		return awsHTTPAPI, nil
	case p.HTTPMethod != "":
		return awsRESTAPI, nil
	}
	return awsUnknown, errors.New("runtime: Lambda event is not an API Gateway or function URL request (a scheduled event needs RunJob)")
}

// lambdaHTTPHandler returns the Lambda handler for h. One handler takes every
// HTTP shape so that the same binary works behind a REST API, an HTTP API and
// a function URL; the conversion itself is aws-lambda-go-api-proxy's.
func lambdaHTTPHandler(h http.Handler) func(context.Context, json.RawMessage) (any, error) {
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
				return nil, fmt.Errorf("runtime: decode %s event: %w", kind, err)
			}
			return v1.ProxyWithContext(ctx, ev)
		default: // awsHTTPAPI, awsFunctionURL: both payload format 2.0
			var ev events.APIGatewayV2HTTPRequest
			if err := json.Unmarshal(raw, &ev); err != nil {
				return nil, fmt.Errorf("runtime: decode %s event: %w", kind, err)
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
		for _, k := range sortedKeys(sent) {
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
