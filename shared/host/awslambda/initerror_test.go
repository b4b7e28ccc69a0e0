package awslambda

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// A failed start is posted to the Runtime API's init-error path with the error type
// header and the documented body, so Lambda shows the message.
func TestReportInitError(t *testing.T) {
	type post struct {
		path, errType string
		body          map[string]any
	}
	got := make(chan post, 1)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		got <- post{r.Method + " " + r.URL.Path, r.Header.Get("Lambda-Runtime-Function-Error-Type"), m}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer api.Close()
	t.Setenv(envRuntimeAPI, strings.TrimPrefix(api.URL, "http://"))
	reportInitError(errors.New("WXPAY_SECRET_ARN: read Secrets Manager secret: AccessDeniedException"))
	p := <-got
	if p.path != "POST /2018-06-01/runtime/init/error" || p.errType != initErrorType ||
		p.body["errorMessage"] != "WXPAY_SECRET_ARN: read Secrets Manager secret: AccessDeniedException" || p.body["errorType"] != initErrorType {
		t.Errorf("posted %+v", p)
	}
	if st, ok := p.body["stackTrace"].([]any); !ok || len(st) != 0 {
		t.Errorf("stackTrace %v, want []", p.body["stackTrace"])
	}
}

func TestReadyNeedsTheRuntimeAPI(t *testing.T) {
	if err := ready(func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), envRuntimeAPI) {
		t.Errorf("ready without the Runtime API: %v", err)
	}
	if err := ready(func(string) string { return "127.0.0.1:9001" }); err != nil {
		t.Error(err)
	}
}
