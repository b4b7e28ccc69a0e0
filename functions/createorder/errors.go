package createorder

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/paysls/wxpay/shared/apiauth"
	"github.com/paysls/wxpay/shared/store"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// apiError is an answer the API gives on purpose: status, code, message, hint.
type apiError struct {
	status              int
	code, message, hint string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func fail(status int, code, message, hint string) *apiError {
	return &apiError{status: status, code: code, message: message, hint: hint}
}

func badRequest(code, format string, a ...any) *apiError {
	return fail(http.StatusBadRequest, code, fmt.Sprintf(format, a...), "")
}

func (e *apiError) withHint(h string) *apiError { e.hint = h; return e }

// writeError answers err. WeChat Pay's own codes are passed on with their hint; store
// and network failures say what to retry; anything else is a 500 whose detail stays in
// the log.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	var ve *wechatpay.ValidationError
	var we *wechatpay.APIError
	switch {
	case errors.As(err, &ae):
	case errors.As(err, &ve):
		ae = fail(http.StatusBadRequest, wechatpay.CodeParamError, ve.Error(), "fix the field named and send the request again · 请按提示修改参数后重试")
	case errors.As(err, &we):
		ae = fromWeChat(we)
	case errors.Is(err, context.DeadlineExceeded):
		ae = fail(http.StatusGatewayTimeout, "WECHATPAY_TIMEOUT", "WeChat Pay did not answer in time",
			"retry the same request: order_id makes it safe (the same order is never created twice) · 请用相同参数重试")
	case errors.Is(err, store.ErrUnavailable):
		ae = fail(http.StatusServiceUnavailable, "STORE_UNAVAILABLE", "the store could not be reached",
			"retry the same request; it is safe to repeat")
	case wechatpay.IsRetryable(err):
		ae = fail(http.StatusBadGateway, "WECHATPAY_UNREACHABLE", "WeChat Pay could not be reached",
			"retry the same request: it is safe to repeat · 请用相同参数重试")
	default:
		ae = fail(http.StatusInternalServerError, "INTERNAL", "internal error (details are in the function's log)", "retry later; if it persists, check the function's log")
	}
	level := h.log.Info
	if ae.status >= 500 {
		level = h.log.Error
	}
	level("order API error", "method", r.Method, "path", r.URL.Path, "status", ae.status, "code", ae.code, "error", err.Error())
	apiauth.Error(w, ae.status, ae.code, ae.message, ae.hint)
}

// fromWeChat maps a WeChat Pay error to our answer: its code is kept; the status says
// whose problem it is (4xx the caller's request, 502/503 WeChat Pay or our configuration).
func fromWeChat(e *wechatpay.APIError) *apiError {
	msg := e.Error()
	switch e.Code {
	case wechatpay.CodeOrderPaid, wechatpay.CodeOutTradeNoUsed, wechatpay.CodeOrderClosed:
		return fail(http.StatusConflict, e.Code, msg, "")
	case wechatpay.CodeParamError, wechatpay.CodeInvalidRequest:
		return fail(http.StatusBadRequest, e.Code, msg, "")
	case wechatpay.CodeOrderNotExist, wechatpay.CodeResourceNotExists:
		return fail(http.StatusNotFound, e.Code, msg, "")
	case wechatpay.CodeNotEnough:
		return fail(http.StatusConflict, e.Code, msg, "")
	case wechatpay.CodeFrequencyLimited:
		return fail(http.StatusTooManyRequests, e.Code, msg, "")
	}
	if e.Retryable() {
		return fail(http.StatusServiceUnavailable, or(e.Code, "WECHATPAY_ERROR"), msg, "retry the same request: it is safe to repeat · 请用相同参数重试")
	}
	// SIGN_ERROR, NO_AUTH, APPID_MCHID_NOT_MATCH, MCH_NOT_EXISTS: the deployment's
	// configuration, not the caller's request.
	return fail(http.StatusBadGateway, or(e.Code, "WECHATPAY_ERROR"), msg, "the deployment's WeChat Pay configuration needs fixing (run `wxpay doctor`)")
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// maxBody bounds request bodies of the order API.
const maxBody = 64 << 10

// decodeBody reads a JSON body strictly: unknown fields, trailing data and oversize
// bodies are refused with the reason.
func decodeBody(r *http.Request, v any) *apiError {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return badRequest("INVALID_REQUEST", "could not read the request body: %v", err)
	}
	if len(b) > maxBody {
		return badRequest("INVALID_REQUEST", "the request body is larger than %d bytes", maxBody)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest(wechatpay.CodeParamError, "the body is not the expected JSON: %v", err).
			withHint("send a JSON object with the documented fields · 请求体须为 JSON")
	}
	if dec.More() {
		return badRequest(wechatpay.CodeParamError, "the body has data after the JSON object")
	}
	return nil
}
