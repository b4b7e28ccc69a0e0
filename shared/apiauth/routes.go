package apiauth

import (
	"net/http"
	"path"
	"strconv"
	"strings"
)

// RouteErrors answers what mux has no route for like every other error of the API,
// {code, message, hint}, instead of the standard library's plain text: 404 NOT_FOUND
// for a path no route serves, 405 METHOD_NOT_ALLOWED (with Allow) for a path served
// under other methods. routes is the hint: the routes a caller can use.
func RouteErrors(mux *http.ServeMux, routes string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// ServeMux answers a path with an empty or dot segment with a bare redirect to
		// its cleaned form: /orders//refunds (an order_id variable left empty) would go
		// to /orders/refunds, a route about an order named "refunds". Say what is wrong.
		if p := r.URL.EscapedPath(); p != "" && p != cleanPath(p) {
			Error(w, http.StatusBadRequest, "PARAM_ERROR",
				"the path "+strconvQuote(p)+" has an empty segment (//) or a . or .. segment: a value it should carry (order_id, out_refund_no, …) is missing",
				"check the variables that build the URL — an empty one leaves //; routes: "+routes+" · 请求路径中缺少参数（如订单号为空）")
			return
		}
		h, pattern := mux.Handler(r)
		if pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		// No pattern matched: the mux's own handler knows whether another method
		// would have (it sets Allow); ask it, then answer in JSON.
		rec := &statusRecorder{header: http.Header{}}
		h.ServeHTTP(rec, r)
		if allow := rec.header.Get("Allow"); rec.code == http.StatusMethodNotAllowed && allow != "" {
			w.Header().Set("Allow", allow)
			Error(w, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED",
				r.Method+" is not allowed on "+r.URL.Path+"; it takes "+strings.ReplaceAll(allow, ", ", " or "),
				"send "+firstMethod(allow)+" "+r.URL.Path+" · 请使用 "+allow+" 方法")
			return
		}
		Error(w, http.StatusNotFound, "NOT_FOUND", r.Method+" "+r.URL.Path+" is not a route of this API", "routes: "+routes)
	})
}

// firstMethod is the first method of an Allow list that is not HEAD (GET's twin).
func firstMethod(allow string) string {
	for _, m := range strings.Split(allow, ",") {
		if m = strings.TrimSpace(m); m != "" && m != http.MethodHead {
			return m
		}
	}
	return allow
}

// statusRecorder keeps the status and headers a handler sets and drops its body.
type statusRecorder struct {
	header http.Header
	code   int
}

func (s *statusRecorder) Header() http.Header { return s.header }
func (s *statusRecorder) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
}
func (s *statusRecorder) Write(p []byte) (int, error) {
	s.WriteHeader(http.StatusOK)
	return len(p), nil
}

// cleanPath is the canonical form ServeMux redirects to: path.Clean, keeping a trailing
// slash.
func cleanPath(p string) string {
	if p == "" || p[0] != '/' {
		p = "/" + p
	}
	np := path.Clean(p)
	if strings.HasSuffix(p, "/") && np != "/" {
		np += "/"
	}
	return np
}

// strconvQuote quotes a path for a message, bounded: a path can be as long as a client
// makes it.
func strconvQuote(p string) string {
	if len(p) > 200 {
		p = p[:200] + "…"
	}
	return strconv.Quote(p)
}
