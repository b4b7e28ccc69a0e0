package wechatpay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
)

// WeChat Pay's own error codes (the "code" of an APIv3 error body) that the bundle acts
// on or explains. The HTTP status WeChat Pay pairs them with is noted where it matters.
const (
	CodeParamError         = "PARAM_ERROR"           // 400: a parameter is missing or malformed; detail names it
	CodeInvalidRequest     = "INVALID_REQUEST"       // 400: the request breaks a business rule (e.g. state of the order)
	codeSignError          = "SIGN_ERROR"            // 401: the Authorization signature did not verify
	codeNoAuth             = "NO_AUTH"               // 403: the merchant lacks the product permission
	CodeOutTradeNoUsed     = "OUT_TRADE_NO_USED"     // 403: out_trade_no already used with different parameters
	CodeOrderPaid          = "ORDERPAID"             // 403: the order is already paid
	CodeOrderClosed        = "ORDER_CLOSED"          // 400/403: the order is closed
	CodeOrderNotExist      = "ORDER_NOT_EXIST"       // 404: no such order
	CodeResourceNotExists  = "RESOURCE_NOT_EXISTS"   // 404: no such refund/bill
	codeAppIDMchIDNotMatch = "APPID_MCHID_NOT_MATCH" // 400: appid not bound to mchid
	codeMchNotExists       = "MCH_NOT_EXISTS"        // 400: unknown merchant id
	CodeNotEnough          = "NOT_ENOUGH"            // 403: refund: not enough balance
	CodeFrequencyLimited   = "FREQUENCY_LIMITED"     // 429: rate limited
	codeSystemError        = "SYSTEM_ERROR"          // 500: WeChat Pay side error; retry with the same parameters
	codeBankError          = "BANK_ERROR"            // 500: bank side error; retry later
	CodeNoStatementExist   = "NO_STATEMENT_EXIST"    // 400: bill: no bill for that date
	CodeStatementCreating  = "STATEMENT_CREATING"    // 400: bill: not generated yet (after 10:00 the next day)
)

// codeHints say, in the user's terms, what to do about a code. They are appended to
// APIError.Error() so a log line alone tells the operator how to fix it.
var codeHints = map[string]string{
	codeSignError: "WeChat Pay could not verify our request signature: the private key, the merchant " +
		"certificate serial (serial_no) and the mchid must all belong to the same merchant API certificate; " +
		"also check that the server clock is correct and that the body sent is exactly the body signed",
	CodeParamError:     "a request parameter is missing or malformed",
	CodeInvalidRequest: "the request breaks a business rule for the order's current state (e.g. closing a paid order, or a refund larger than what is left)",
	CodeOutTradeNoUsed: "this out_trade_no was already used with different parameters: a re-priced order needs a new out_trade_no and the old one closed",
	CodeOrderPaid:      "the order is already paid: do not charge again, mark it paid (query it to get the transaction)",
	CodeOrderClosed:    "the order is closed: create a new order with a new out_trade_no",
	CodeOrderNotExist: "WeChat Pay has no such order: check the out_trade_no/transaction_id and that it was placed " +
		"under this mchid (and sub_mchid); an order whose prepay call failed never existed",
	CodeResourceNotExists:  "WeChat Pay has no such resource: check the identifier and the merchant it belongs to",
	codeAppIDMchIDNotMatch: "the appid is not bound to this mchid: bind it in 商户平台 → 产品中心 → AppID账号管理, or use the right appid",
	codeMchNotExists:       "the mchid does not exist: check the merchant id configured",
	CodeNotEnough:          "not enough money: for a refund, the merchant's available balance (top up or retry later); for a split (分账), what the order still holds (query its unsplit amount)",
	codeNoAuth:             "the merchant has no permission for this API or product: apply for it in 商户平台 → 产品中心",
	CodeFrequencyLimited:   "rate limited by WeChat Pay: slow down and retry with back-off",
	codeSystemError:        "a WeChat Pay system error: retry with exactly the same parameters (same out_trade_no / out_refund_no)",
	codeBankError:          "a bank system error: retry later with the same parameters",
	CodeNoStatementExist:   "no bill exists for that date (no transactions, or the date is out of range)",
	CodeStatementCreating:  "the bill is still being generated: bills are ready after about 10:00 (UTC+8) the next day",
}

// APIError is a non-2xx answer from WeChat Pay, decoded from its JSON error body.
type APIError struct {
	StatusCode int
	Code       string
	Message    string
	Detail     *ErrorDetail
	// RequestID is the Request-ID header: quote it to WeChat Pay support.
	RequestID string
	// Verified is true when the error response carried a valid WeChat Pay signature.
	// Error bodies are decoded even when unsigned (WeChat Pay's gateway does not sign
	// every error), so code that changes state on an error should prefer verified ones.
	Verified bool
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "wechatpay: HTTP %d", e.StatusCode)
	if e.Code != "" {
		b.WriteString(" ")
		b.WriteString(e.Code)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if d := e.Detail; d != nil {
		issue := d.Issue
		if issue == "" && d.Inner != nil {
			issue = d.Inner.Issue
		}
		if d.Field != "" || issue != "" {
			fmt.Fprintf(&b, " (field %q", d.Field)
			if d.Location != "" {
				fmt.Fprintf(&b, " in %s", d.Location)
			}
			if issue != "" {
				fmt.Fprintf(&b, ": %s", issue)
			}
			b.WriteString(")")
		}
	}
	if h, ok := codeHints[e.Code]; ok {
		b.WriteString(" — ")
		b.WriteString(h)
	}
	if e.RequestID != "" {
		fmt.Fprintf(&b, " [Request-ID %s]", e.RequestID)
	}
	return b.String()
}

// Retryable reports whether the same request may be sent again: WeChat Pay's own
// advice for 5xx, SYSTEM_ERROR, BANK_ERROR and FREQUENCY_LIMITED. Never for 4xx
// parameter or signature errors, which fail the same way every time.
func (e *APIError) Retryable() bool {
	switch e.Code {
	case codeSystemError, codeBankError, CodeFrequencyLimited:
		return true
	case CodeParamError, codeSignError, CodeInvalidRequest, codeNoAuth:
		return false
	}
	return e.StatusCode >= 500 || e.StatusCode == http.StatusTooManyRequests
}

// IsCode reports whether err is (or wraps) an *APIError with WeChat Pay code code.
func IsCode(err error, code string) bool {
	var e *APIError
	return errors.As(err, &e) && e.Code == code
}

// IsRetryable reports whether err is a transient failure after which the same request
// may be sent again: a retryable *APIError or a network error. Context cancellation
// and deadline errors are not retryable: the caller gave up.
func IsRetryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var e *APIError
	if errors.As(err, &e) {
		return e.Retryable()
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var te *transportError
	return errors.As(err, &te)
}

// transportError marks a failure to send the request or read the answer, as opposed
// to an answer that was wrong.
type transportError struct{ err error }

func (e *transportError) Error() string { return "wechatpay: transport: " + e.err.Error() }
func (e *transportError) Unwrap() error { return e.err }

// decodeAPIError builds an *APIError from a non-2xx response. A body that is not the
// documented JSON (a gateway's HTML page, say) still yields an error with the status
// and a short excerpt, never a decoding failure that hides the status.
func decodeAPIError(status int, h http.Header, body []byte) *APIError {
	e := &APIError{StatusCode: status, RequestID: h.Get(HeaderRequestID)}
	var eb ErrorBody
	if err := json.Unmarshal(body, &eb); err == nil && eb.Code != "" {
		e.Code, e.Message, e.Detail = eb.Code, eb.Message, eb.Detail
		return e
	}
	excerpt := strings.TrimSpace(string(body))
	if len(excerpt) > 200 {
		excerpt = excerpt[:200] + "…"
	}
	if excerpt == "" {
		excerpt = http.StatusText(status)
	}
	e.Message = excerpt
	return e
}
