package dynamostore

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/paysls/wxpay/shared/awsconf"
	"github.com/paysls/wxpay/shared/store"
)

// The wire as DynamoDB speaks it, where moto cannot: throttling is retried and then
// succeeds; retries stop at the attempts allowed and the error is ErrUnavailable; a
// validation error is not retried; a failed condition brings the item back; every
// request is signed and names its operation.
func TestWireRetriesWhatARetryMayCure(t *testing.T) {
	var n atomic.Int32
	var answers []func(w http.ResponseWriter)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := n.Add(1) - 1
		if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 Credential=AKID/") ||
			r.Header.Get("Content-Type") != "application/x-amz-json-1.0" || !strings.HasPrefix(r.Header.Get("X-Amz-Target"), "DynamoDB_20120810.") {
			t.Errorf("request %d: headers %v", i, r.Header)
		}
		io.Copy(io.Discard, r.Body)
		answers[int(i)%len(answers)](w)
	}))
	defer srv.Close()
	fail := func(status int, typ, msg string, item string) func(w http.ResponseWriter) {
		return func(w http.ResponseWriter) {
			w.WriteHeader(status)
			io.WriteString(w, `{"__type":"com.amazonaws.dynamodb.v20120810#`+typ+`","message":"`+msg+`"`+item+`}`)
		}
	}
	ok := func(body string) func(w http.ResponseWriter) {
		return func(w http.ResponseWriter) { io.WriteString(w, body) }
	}
	s, err := Open(context.Background(), "t", WithRegion("us-east-1"), WithEndpoint(srv.URL), WithStaticCredentials("AKID", "secret"),
		WithLoader(awsconf.FromEnv))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	item := `{"Item":{"pk":{"S":"k"},"version":{"N":"4"},"attrs":{"M":{"a":{"S":"1"},"b":{"B":"/w=="}}}}}`

	answers = []func(http.ResponseWriter){fail(400, "ThrottlingException", "slow down", ""), fail(500, "InternalServerError", "", ""), ok(item)}
	n.Store(0)
	rec, err := s.Get(ctx, "k")
	if err != nil || rec.Version != 4 || rec.Attrs["a"] != "1" || rec.Attrs["b"] != "\xff" || n.Load() != 3 {
		t.Fatalf("Get after two retryable failures: %+v, %v (%d requests)", rec, err, n.Load())
	}

	answers = []func(http.ResponseWriter){fail(400, "ProvisionedThroughputExceededException", "", "")}
	n.Store(0)
	if _, err := s.Get(ctx, "k"); !errors.Is(err, store.ErrUnavailable) || n.Load() != defaultMaxAttempts {
		t.Fatalf("Get throttled throughout: %v (%d requests), want ErrUnavailable after %d", err, n.Load(), defaultMaxAttempts)
	}

	answers = []func(http.ResponseWriter){fail(400, "ValidationException", "Item size has exceeded the maximum allowed size", "")}
	n.Store(0)
	_, err = s.Update(ctx, "k", store.Change{Set: map[string]string{"a": "2"}}, store.Condition{})
	if !errors.Is(err, store.ErrInvalid) || n.Load() != 1 {
		t.Fatalf("Update too large: %v (%d requests), want ErrInvalid, not retried", err, n.Load())
	}

	answers = []func(http.ResponseWriter){fail(400, codeConditionFailed, "The conditional request failed", `,`+item[1:len(item)-1])}
	n.Store(0)
	_, err = s.Update(ctx, "k", store.Change{Set: map[string]string{"a": "2"}}, store.Condition{Version: 3})
	var cf *store.ConditionFailedError
	if !errors.As(err, &cf) || cf.Current == nil || cf.Current.Version != 4 || n.Load() != 1 {
		t.Fatalf("Update on a stale version: %v (%d requests), want the current record", err, n.Load())
	}
}
