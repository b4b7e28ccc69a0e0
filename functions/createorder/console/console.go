// Package console is the operator's console: one page, served at /console/ by the
// createorder function (no infrastructure of its own), where a person sees what the
// bundle found and could not settle by itself — orders and refunds in REVIEW with
// every kept transaction, merchant events a webhook has not acknowledged, each day's
// bill discrepancies, refunds stuck in PROCESSING or ABNORMAL — and acts on them
// through the ledger's transitions and the order API's rules, never by editing money.
//
// Security: a console credential (console_users: names with PBKDF2 hashes), not the
// API bearer token; a sign-in form issuing an HttpOnly, Secure, SameSite=Strict session
// cookie whose session lives in the store and expires (idle and absolute); a CSRF token
// on every action; a CSP without inline scripts and frame-ancestors 'none'; every value
// escaped; every action logged and kept in the audit listing with who and when. A
// request without a session gets the sign-in form (a page GET) or 401 (anything else):
// never a 404 that reveals which actions exist.
package console

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/paysls/wxpay/shared/clock"
	"github.com/paysls/wxpay/shared/store"
)

//go:embed assets
var assets embed.FS

// Options configure New.
type Options struct {
	// Users is the console_users secret (see users.go). Required.
	Users []byte
	// Store keeps sessions, sign-in failure counts and the audit listing.
	Store store.Store
	// Source reads and acts (ledger.go builds the bundle's).
	Source Source
	// Now is the business clock (the simulator's virtual clock under `wxpay serve`):
	// what "today" is. Sessions always use the wall clock.
	Now    clock.Func
	Logger *slog.Logger
	// Prefix is where the console is mounted; "/console" when empty.
	Prefix string
}

// Handler serves the console.
type Handler struct {
	users map[string]user
	st    store.Store
	src   Source
	now   clock.Func
	// wall is the real clock of sessions and the audit log (tests replace it).
	wall   clock.Func
	log    *slog.Logger
	prefix string
}

// New builds the console. It fails when console_users is missing or malformed, naming
// the line (never its content).
func New(opts Options) (*Handler, error) {
	if opts.Store == nil || opts.Source == nil {
		return nil, errors.New("console: a store and a source are required")
	}
	users, err := parseUsers(opts.Users)
	if err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	p := strings.TrimRight(opts.Prefix, "/")
	if p == "" {
		p = "/console"
	}
	return &Handler{users: users, st: opts.Store, src: opts.Source, now: clock.Or(opts.Now), wall: clock.Wall, log: log.With("component", "console"), prefix: p}, nil
}

// securityHeaders apply to every answer, the sign-in form included.
func securityHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	securityHeaders(w)
	rest, ok := strings.CutPrefix(r.URL.Path, h.prefix)
	if !ok {
		http.NotFound(w, r)
		return
	}
	if rest == "" {
		http.Redirect(w, r, h.prefix+"/", http.StatusSeeOther)
		return
	}
	if name, ok := strings.CutPrefix(rest, "/_/"); ok && r.Method == http.MethodGet {
		h.asset(w, r, name)
		return
	}
	lang := pickLang(r)
	if l := r.URL.Query().Get("lang"); l == langZH || l == langEN {
		http.SetCookie(w, &http.Cookie{Name: langCookie, Value: l, Path: h.prefix + "/", MaxAge: 365 * 86400,
			HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
	}
	if rest == "/signin" && r.Method == http.MethodPost {
		h.signIn(w, r, lang)
		return
	}
	s, ok := h.session(r)
	if !ok {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			h.signInPage(w, r, lang, http.StatusOK, "", cleanNext(h.prefix, r.URL.RequestURI()))
			return
		}
		h.errorPage(w, lang, http.StatusUnauthorized, t(lang, "err.signin"))
		return
	}
	c := &call{h: h, w: w, r: r, lang: lang, s: s}
	if r.Method == http.MethodPost {
		if err := r.ParseForm(); err != nil || !s.validCSRF(r) || !sameOrigin(r) {
			h.log.Warn("console action refused: CSRF token or origin", "user", s.user, "path", r.URL.Path)
			h.errorPage(w, lang, http.StatusForbidden, t(lang, "err.csrf"))
			return
		}
		c.post(strings.TrimPrefix(rest, "/"))
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, POST")
		h.errorPage(w, lang, http.StatusMethodNotAllowed, t(lang, "err.notfound"))
		return
	}
	c.get(strings.TrimPrefix(rest, "/"))
}

// sameOrigin refuses a POST whose Origin (when the browser sends one) is another site:
// a second line behind the CSRF token and SameSite=Strict.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" || o == "null" {
		return o == ""
	}
	u, err := url.Parse(o)
	return err == nil && u.Host == r.Host
}

// cleanNext keeps a sign-in's return address on the console.
func cleanNext(prefix, next string) string {
	if !strings.HasPrefix(next, prefix+"/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return prefix + "/"
	}
	return next
}

func (h *Handler) signIn(w http.ResponseWriter, r *http.Request, lang string) {
	if err := r.ParseForm(); err != nil {
		h.signInPage(w, r, lang, http.StatusBadRequest, t(lang, "signin.bad"), h.prefix+"/")
		return
	}
	name, pass := strings.TrimSpace(r.PostForm.Get("user")), r.PostForm.Get("password")
	next := cleanNext(h.prefix, r.PostForm.Get("next"))
	if !sameOrigin(r) {
		h.errorPage(w, lang, http.StatusForbidden, t(lang, "err.csrf"))
		return
	}
	ctx := r.Context()
	if h.locked(ctx, name) {
		h.log.Warn("console sign-in refused: too many failures", "user", name)
		h.signInPage(w, r, lang, http.StatusTooManyRequests, t(lang, "signin.locked"), next)
		return
	}
	u := h.users[name] // the zero user costs the same derivation and never matches
	if !u.check(pass) {
		h.failed(ctx, name)
		h.log.Warn("console sign-in failed", "user", name)
		h.signInPage(w, r, lang, http.StatusUnauthorized, t(lang, "signin.bad"), next)
		return
	}
	id, _, err := h.newSession(ctx, name)
	if err != nil {
		h.log.Error("console sign-in: session not recorded", "user", name, "error", err.Error())
		h.errorPage(w, lang, http.StatusServiceUnavailable, t(lang, "err.store"))
		return
	}
	h.setCookie(w, id, int(sessionLife/time.Second))
	h.audit(ctx, name, "signin", "", "")
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (h *Handler) asset(w http.ResponseWriter, r *http.Request, name string) {
	b, err := assets.ReadFile("assets/" + name)
	if err != nil || strings.Contains(name, "/") {
		http.NotFound(w, r)
		return
	}
	switch {
	case strings.HasSuffix(name, ".css"):
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
	case strings.HasSuffix(name, ".js"):
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	}
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(b)
}

// audit records an action: one log line and one record in the store's
// console_audit listing (newest last), kept a year.
func (h *Handler) audit(ctx context.Context, who, action, ref, detail string) {
	now := h.wall().UTC()
	h.log.Info("console action", "user", who, "action", action, "ref", ref, "detail", detail)
	key := fmt.Sprintf("console/audit/%s-%s", now.Format("20060102T150405.000000000"), randomToken()[:8])
	_, err := h.st.Put(ctx, store.Record{Key: key, Pending: auditIndex, PendingSince: auditSince(now), ExpiresAt: now.AddDate(1, 0, 0),
		Attrs: map[string]string{"who": who, "action": action, "ref": ref, "detail": detail, "at": now.Format(time.RFC3339)}}, store.Condition{Absent: true})
	if err != nil {
		h.log.Error("console action not kept in the audit listing", "user", who, "action", action, "error", err.Error())
	}
}

// auditIndex is the passive listing of console actions (billday_-style: never due).
const auditIndex = "console_audit"
