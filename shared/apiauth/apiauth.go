// Package apiauth guards the bundle's own HTTP API (orders, events, jobs) with a bearer
// token compared in constant time. WeChat Pay's notifications (/notify) are not behind
// it: they are authenticated by WeChat Pay's signature instead.
package apiauth

import (
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

// Require wraps next so that only requests carrying "Authorization: Bearer <token>"
// reach it; everything else is answered 401 with a JSON error saying what is missing.
// An empty token refuses every request: a deployment without WXPAY_API_TOKEN must not
// expose an open order API by accident.
func Require(token []byte, next http.Handler) http.Handler {
	want := append([]byte(nil), token...)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		msg := check(want, r.Header.Get("Authorization"))
		if len(r.Header.Values("Authorization")) > 1 {
			// Which one counts would be up to each hop (this API read the first, a proxy
			// may read the last): a request carrying two is refused whatever they hold.
			msg = "more than one Authorization header: send exactly one"
		}
		if msg != "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="wxpay"`)
			Error(w, http.StatusUnauthorized, "UNAUTHORIZED", msg,
				"send Authorization: Bearer <token>, the value of WXPAY_API_TOKEN (wxpay serve writes it to <keys-dir>/api_token) · 请在请求头携带 Authorization: Bearer <WXPAY_API_TOKEN>")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func check(want []byte, header string) string {
	if len(want) == 0 {
		return "this deployment has no API token configured (WXPAY_API_TOKEN), so its API refuses every request"
	}
	if header == "" {
		return "missing Authorization header"
	}
	scheme, tok, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "Authorization must use the Bearer scheme"
	}
	if subtle.ConstantTimeCompare([]byte(strings.TrimSpace(tok)), want) != 1 {
		return "invalid API token"
	}
	return ""
}

// errorBody is the error shape of the bundle's API: code is ours or WeChat Pay's
// (PARAM_ERROR, OUT_TRADE_NO_USED, ORDERPAID…), hint says what to do.
type errorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Hint    string `json:"hint,omitempty"`
}

// Error writes an errorBody with status.
func Error(w http.ResponseWriter, status int, code, message, hint string) {
	WriteJSON(w, status, errorBody{Code: code, Message: message, Hint: hint})
}

// WriteJSON writes v as the JSON answer, without HTML escaping (URLs stay readable).
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// echoLimit is how many characters of a client's input an error message repeats.
const echoLimit = 64

// Clip is s cut to its first echoLimit characters, "…" marking the cut: an answer that
// names the input it refuses (an order_id, a field name, a header) must not hand back
// all of it — a 100 KB order_id would come back whole, in the answer and in the log
// line beside it — and its start is enough to recognise it.
func Clip(s string) string {
	n := 0
	for i := range s {
		if n == echoLimit {
			return s[:i] + "…"
		}
		n++
	}
	return s
}

// Echo is Clip(s) quoted as %q quotes (control characters and invalid UTF-8 escaped).
func Echo(s string) string { return strconv.Quote(Clip(s)) }
