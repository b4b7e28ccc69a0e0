package createorder

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/paysls/wxpay/shared/apiauth"
	"github.com/paysls/wxpay/shared/orderapi"
	"github.com/paysls/wxpay/shared/payment"
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
// the log. Every answer is {code, message, hint} in words a merchant can act on: no
// internal package names (payment: …, wechatpay: …), and a hint even where the
// message says it all.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	var ve *wechatpay.ValidationError
	var we *wechatpay.APIError
	switch {
	case errors.As(err, &ae):
	case errors.As(err, &ve):
		ae = fail(http.StatusBadRequest, wechatpay.CodeParamError, fieldIssue(ve), "fix the field named and send the request again · 请按提示修改参数后重试")
	case errors.As(err, &we):
		ae = fromWeChat(we)
	case errors.Is(err, context.DeadlineExceeded):
		ae = fail(http.StatusGatewayTimeout, "WECHATPAY_TIMEOUT", "WeChat Pay did not answer in time",
			"retry the same request: order_id makes it safe (the same order is never created twice) · 请用相同参数重试")
	case errors.Is(err, payment.ErrContended):
		ae = fail(http.StatusServiceUnavailable, "BUSY", "the order is being changed by many requests at this moment; this one changed nothing",
			"retry the same request in a moment; it is safe to repeat · 请稍后用相同参数重试")
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
	hint := merchantText(ae.hint)
	if hint == "" {
		hint = defaultHint(ae.status)
	}
	apiauth.Error(w, ae.status, ae.code, merchantText(ae.message), hint)
}

// fieldIssue words a validation error as a sentence: "description is required", not
// "description: is required".
func fieldIssue(ve *wechatpay.ValidationError) string {
	if ve.Field == "" {
		return ve.Issue
	}
	return ve.Field + " " + ve.Issue
}

// internalPrefixes are the package names errors of the code below carry in their text
// ("payment: the refund exceeds …"): meaningful in a log, noise in an answer. Compiled
// at the first error answer: 0.1 ms a cold start does not need.
var internalPrefixes = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`\b(payment|wechatpay|createorder|payclient|certcache|paysim|ledger|boltstore|redisstore|dynamostore): `)
})

// merchantText removes internal package prefixes from a message or hint.
func merchantText(s string) string {
	return internalPrefixes().ReplaceAllString(s, "")
}

// defaultHint is the hint of an answer that came without one.
func defaultHint(status int) string {
	switch {
	case status == http.StatusNotFound:
		return "check the order_id (or out_refund_no) in the path: it must be one this API created · 请核对订单号"
	case status == http.StatusConflict:
		return "the order's state does not allow this: read it (GET /orders/{order_id}) and act on what it says · 请先查询订单状态"
	case status == http.StatusTooManyRequests:
		return "slow down and retry with back-off · 请降低请求频率后重试"
	case status >= 500:
		return "retry the same request later: it is safe to repeat · 请稍后用相同参数重试"
	default:
		return "fix the request as the message says and send it again · 请按提示修改后重试"
	}
}

// fromWeChat maps a WeChat Pay error to our answer: its code is kept; the status says
// whose problem it is (4xx the caller's request, 502/503 WeChat Pay or our configuration).
func fromWeChat(e *wechatpay.APIError) *apiError {
	msg := "WeChat Pay answered " + strings.TrimPrefix(e.Error(), "wechatpay: ")
	switch e.Code {
	case wechatpay.CodeOrderPaid, wechatpay.CodeOutTradeNoUsed, wechatpay.CodeOrderClosed:
		return fail(http.StatusConflict, e.Code, msg, "")
	case wechatpay.CodeParamError, wechatpay.CodeInvalidRequest:
		return fail(http.StatusBadRequest, e.Code, msg, "")
	case wechatpay.CodeOrderNotExist, wechatpay.CodeResourceNotExists:
		return fail(http.StatusNotFound, e.Code, msg, "")
	case wechatpay.CodeNotEnough:
		return fail(http.StatusConflict, e.Code, msg, "the merchant account's balance cannot pay this refund now: top it up or retry later · 商户账户余额不足")
	case wechatpay.CodeFrequencyLimited:
		return fail(http.StatusTooManyRequests, e.Code, msg, "")
	}
	if e.Retryable() {
		return fail(http.StatusServiceUnavailable, cmp.Or(e.Code, "WECHATPAY_ERROR"), msg, "retry the same request: it is safe to repeat · 请用相同参数重试")
	}
	// SIGN_ERROR, NO_AUTH, APPID_MCHID_NOT_MATCH, MCH_NOT_EXISTS: the deployment's
	// configuration, not the caller's request.
	return fail(http.StatusBadGateway, cmp.Or(e.Code, "WECHATPAY_ERROR"), msg, "the deployment's WeChat Pay configuration needs fixing (run `wxpay doctor`)")
}

// maxBody bounds request bodies of the order API.
const maxBody = 64 << 10

// decodeBody reads a JSON body strictly: an empty body, unknown fields, values of the
// wrong type, trailing data and oversize bodies are refused with the reason and the
// shape the route takes.
func decodeBody(r *http.Request, v any) *apiError {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return badRequest("INVALID_REQUEST", "could not read the request body: %v", err)
	}
	if len(b) > maxBody {
		return badRequest("INVALID_REQUEST", "the request body is larger than %d bytes", maxBody).
			withHint("an order API request is a small JSON object · 请求体过大")
	}
	shape := bodyShape(v)
	form, e := bodyMediaType(r)
	if e != nil {
		return e
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return badRequest(wechatpay.CodeParamError, "the request body is empty; %s %s takes a JSON object", r.Method, r.URL.Path).
			withHint("send e.g. " + shape.example + " (" + shape.fields + ") · 请求体不能为空")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var ae *orderapi.AmountError
		if errors.As(err, &ae) {
			_, e := parseAmount(ae.Raw)
			return e
		}
		var syn *json.SyntaxError
		if form && errors.As(err, &syn) {
			// A real form post (key=value&…) would otherwise read "invalid character
			// 'o' looking for beginning of value": say what it is.
			return badRequest(wechatpay.CodeParamError, "the body is form data (Content-Type %s), not JSON", r.Header.Get("Content-Type")).
				withHint("send a JSON object with Content-Type: application/json, e.g. " + shape.example + " · 请求体须为 JSON")
		}
		return bodyError(err, shape)
	}
	if dec.More() {
		return badRequest(wechatpay.CodeParamError, "the body has data after the JSON object").
			withHint("send exactly one JSON object · 请求体须为单个 JSON 对象")
	}
	if k := duplicateKey(b); k != "" {
		return badRequest(wechatpay.CodeParamError, "the field %s is given twice in one JSON object", apiauth.Echo(k)).
			withHint("send each field once (field names are matched without regard to case) · 同一字段不能重复出现")
	}
	// An amount left out decodes as 0: say it is required, not that 0 is too little.
	if a, ok := amountOf(v); ok && a == 0 {
		var fields map[string]json.RawMessage
		if json.Unmarshal(b, &fields) == nil {
			if _, given := fields["amount"]; !given {
				_, e := parseAmount("")
				return e
			}
		}
	}
	return nil
}

// bodyMediaType refuses a body declared to be another format than JSON (an APIv2
// habit of XML, a multipart form): decoding it as JSON anyway would either fail with a
// syntax error at byte 1 or, worse, act on a request whose sender meant something else.
// Accepted are no Content-Type, application/json and any +json type, and the two a JSON
// body plausibly arrives with undeclared: application/x-www-form-urlencoded (curl -d's
// default, as the README's examples are pasted), text/plain (fetch with a string
// body) and application/octet-stream (bytes of no declared kind, as some gateways and
// HTTP libraries label a body they pass on). form reports the form type, so that a real form body is named as such.
func bodyMediaType(r *http.Request) (form bool, e *apiError) {
	ct := r.Header.Get("Content-Type")
	if strings.TrimSpace(ct) == "" {
		return false, nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	switch {
	case err != nil:
	case mt == "application/json", strings.HasSuffix(mt, "+json"), mt == "text/plain", mt == "application/octet-stream":
		return false, nil
	case mt == "application/x-www-form-urlencoded":
		return true, nil
	}
	return false, fail(http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE",
		fmt.Sprintf("Content-Type %s: %s %s takes a JSON body", apiauth.Echo(ct), r.Method, apiauth.Clip(r.URL.Path)),
		"send the JSON object with Content-Type: application/json · 请求体须为 JSON（Content-Type: application/json）")
}

// duplicateKey returns the first key that appears twice in one object of the JSON
// value b (compared without case, as encoding/json matches fields), "" when none does.
// A body like {"amount":1,"amount":100000} means one amount to a parser that keeps the
// first value (a proxy, a signature check, a log) and another to Go, which keeps the
// last: the API refuses it rather than choose. b has already decoded without error.
func duplicateKey(b []byte) string {
	dec := json.NewDecoder(bytes.NewReader(b))
	type frame struct {
		object bool
		keys   map[string]bool
		key    bool // the next token of an object is a key
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return ""
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{', '[':
				if top != nil && top.object {
					top.key = true // the value of the key just read
				}
				stack = append(stack, &frame{object: d == '{', keys: map[string]bool{}, key: d == '{'})
			default:
				stack = stack[:len(stack)-1]
			}
			continue
		}
		if top == nil || !top.object {
			continue
		}
		if top.key {
			k := tok.(string)
			// Upper then lower: encoding/json also takes ſ for s and the Kelvin sign for k.
			if fk := strings.ToLower(strings.ToUpper(k)); top.keys[fk] {
				return k
			} else {
				top.keys[fk] = true
			}
		}
		top.key = !top.key
	}
}

// amountOf is the amount of a request body that has one.
func amountOf(v any) (orderapi.Fen, bool) {
	switch r := v.(type) {
	case *orderapi.CreateRequest:
		return r.Amount, len(r.SubOrders) == 0 // a combine's amount is its sub-orders
	case *orderapi.RefundRequest:
		return r.Amount, true
	}
	return 0, false
}

// bodyError words a JSON decoding error for the caller.
func bodyError(err error, shape bodyFields) *apiError {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	hint := "send e.g. " + shape.example + " (" + shape.fields + ") · 请求体须为 JSON 对象"
	switch {
	case errors.As(err, &syn):
		return badRequest(wechatpay.CodeParamError, "the body is not valid JSON: %s (at byte %d)", strings.TrimPrefix(syn.Error(), "json: "), syn.Offset).withHint(hint)
	case errors.As(err, &typ) && typ.Field != "":
		return badRequest(wechatpay.CodeParamError, "%s must be a JSON %s, got %s", typ.Field, jsonKind(typ.Type), typ.Value).withHint(hint)
	case errors.As(err, &typ):
		return badRequest(wechatpay.CodeParamError, "the body must be a JSON object, got %s", typ.Value).withHint(hint)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest(wechatpay.CodeParamError, "the body ends in the middle of its JSON").withHint(hint)
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return badRequest(wechatpay.CodeParamError, "unknown field %s: the fields are %s", echoJSONName(name), shape.names).
			withHint("check the spelling: field names are lower-case snake_case, as listed · 请检查字段名")
	}
	return badRequest(wechatpay.CodeParamError, "the body is not the expected JSON: %s", strings.TrimPrefix(err.Error(), "json: ")).withHint(hint)
}

// jsonKind names a Go type as JSON calls it.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice, reflect.Array:
		return "array"
	}
	return "object"
}

// bodyFields describes the JSON object a route takes, from its request type.
type bodyFields struct {
	names   string // every field, in order: "order_id, amount, …"
	fields  string // "required: …; optional: …"
	example string // the required fields with example values
}

// exampleValues are shown in the example of an empty body's hint.
var exampleValues = map[string]string{
	"order_id": `"SHOP20240001"`, "amount": `100`, "description": `"咖啡 coffee"`, "scene": `"native"`,
	"out_refund_no": `"SHOP20240001R1"`, "reason": `"少杯"`,
}

// bodyShape reads v's JSON field names: fields without omitempty are required.
func bodyShape(v any) bodyFields {
	t := reflect.TypeOf(v)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return bodyFields{names: "(none)", fields: "a JSON object", example: "{}"}
	}
	var all, req, opt, ex []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, rest, _ := strings.Cut(f.Tag.Get("json"), ",")
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		all = append(all, name)
		if strings.Contains(rest, "omitempty") {
			opt = append(opt, name)
			continue
		}
		req = append(req, name)
		val, ok := exampleValues[name]
		if !ok {
			val = `"…"`
		}
		ex = append(ex, `"`+name+`":`+val)
	}
	fields := "required: " + strings.Join(req, ", ")
	if len(opt) > 0 {
		fields += "; optional: " + strings.Join(opt, ", ")
	}
	return bodyFields{names: strings.Join(all, ", "), fields: fields, example: "{" + strings.Join(ex, ",") + "}"}
}

// echoJSONName is a field name as encoding/json quotes it in "unknown field" (a Go
// quoted string), clipped as every echo of input is (apiauth.Echo).
func echoJSONName(quoted string) string {
	if name, err := strconv.Unquote(quoted); err == nil {
		return apiauth.Echo(name)
	}
	return apiauth.Clip(quoted)
}
