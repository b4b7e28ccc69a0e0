package apiauth

import (
	"net/http"
	"strings"
)

// RouteErrors answers what mux has no route for like every other error of the API,
// {code, message, hint}, instead of the standard library's plain text: 404 NOT_FOUND
// for a path no route serves, 405 METHOD_NOT_ALLOWED (with Allow) for a path served
// under other methods. routes is the hint: the routes a caller can use.
func RouteErrors(mux *http.ServeMux, routes string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
