package wechatpay

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
)

func TestDecodeAPIError(t *testing.T) {
	h := http.Header{}
	h.Set(HeaderRequestID, "08F78BB5AF0610D302")
	body := `{"code":"PARAM_ERROR","message":"参数错误","detail":{"field":"/amount/total","value":0,"issue":"must be >= 1","location":"body"}}`
	e := decodeAPIError(400, h, []byte(body))
	if e.Code != CodeParamError || e.StatusCode != 400 || e.RequestID != "08F78BB5AF0610D302" || e.Detail == nil || e.Detail.Field != "/amount/total" {
		t.Fatalf("%+v", e)
	}
	msg := e.Error()
	for _, want := range []string{"HTTP 400", "PARAM_ERROR", "参数错误", `"/amount/total"`, "must be >= 1", "Request-ID 08F78BB5AF0610D302"} {
		if !strings.Contains(msg, want) {
			t.Errorf("%q lacks %q", msg, want)
		}
	}
	// SIGN_ERROR's nested detail and hint.
	sign := `{"code":"SIGN_ERROR","detail":{"detail":{"issue":"sign not match"},"field":"signature","location":"authorization"},"message":"签名错误，请检查后再试"}`
	e = decodeAPIError(401, http.Header{}, []byte(sign))
	for _, want := range []string{"SIGN_ERROR", "sign not match", "serial", "clock"} {
		if !strings.Contains(e.Error(), want) {
			t.Errorf("%q lacks %q", e.Error(), want)
		}
	}
	// Non-JSON bodies keep the status.
	e = decodeAPIError(502, http.Header{}, []byte("<html>Bad Gateway</html>"))
	if e.StatusCode != 502 || !strings.Contains(e.Error(), "Bad Gateway") || !e.Retryable() {
		t.Fatalf("%+v", e)
	}
	e = decodeAPIError(503, http.Header{}, nil)
	if !strings.Contains(e.Error(), "Service Unavailable") {
		t.Fatal(e)
	}
}

func TestAPIErrorHints(t *testing.T) {
	for code, want := range map[string]string{
		CodeOutTradeNoUsed:   "a re-priced order needs a new out_trade_no and the old one closed",
		CodeOrderPaid:        "already paid",
		CodeOrderNotExist:    "no such order",
		CodeFrequencyLimited: "retry",
		codeSystemError:      "same parameters",
		codeNoAuth:           "permission",
		CodeInvalidRequest:   "business rule",
		codeSignError:        "private key",
	} {
		e := &APIError{StatusCode: 400, Code: code}
		if !strings.Contains(e.Error(), want) {
			t.Errorf("%s: %q lacks %q", code, e.Error(), want)
		}
	}
}

func TestRetryability(t *testing.T) {
	cases := []struct {
		err  error
		want bool
	}{
		{&APIError{StatusCode: 500, Code: codeSystemError}, true},
		{&APIError{StatusCode: 429, Code: CodeFrequencyLimited}, true},
		{&APIError{StatusCode: 400, Code: codeSystemError}, true},
		{&APIError{StatusCode: 503}, true},
		{&APIError{StatusCode: 400, Code: CodeParamError}, false},
		{&APIError{StatusCode: 401, Code: codeSignError}, false},
		{&APIError{StatusCode: 500, Code: CodeParamError}, false},
		{&APIError{StatusCode: 404, Code: CodeOrderNotExist}, false},
		{fmt.Errorf("wrapped: %w", &APIError{StatusCode: 500}), true},
		{&transportError{errors.New("connection reset")}, true},
		{&net.OpError{Op: "dial", Err: errors.New("refused")}, true},
		{context.DeadlineExceeded, false},
		{fmt.Errorf("x: %w", context.Canceled), false},
		{errors.New("plain"), false},
		{nil, false},
	}
	for _, c := range cases {
		if got := IsRetryable(c.err); got != c.want {
			t.Errorf("IsRetryable(%v) = %v, want %v", c.err, got, c.want)
		}
	}
	wrapped := fmt.Errorf("prepay: %w", &APIError{Code: CodeOrderPaid})
	if !IsCode(wrapped, CodeOrderPaid) || IsCode(wrapped, CodeOrderClosed) || IsCode(errors.New("ORDERPAID"), CodeOrderPaid) {
		t.Fatal("IsCode")
	}
}
