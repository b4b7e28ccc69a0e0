package console

import (
	"html"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/paysls/wxpay/shared/clock"
)

// Pages are written by hand, as the cashier's are: html/template's reflection keeps
// every exported method of every type in the binary, and createorder's Lambda
// bootstrap has a 10 MB budget. Every value goes through esc (text and quoted
// attributes: & < > " ' become entities); every URL is built here from the prefix and
// escaped query values. TestHostileValuesAreInert holds this to hostile input.

func esc(s string) string { return html.EscapeString(s) }

// yuan formats fen as yuan with two decimals.
func yuan(fen int64) string {
	neg := fen < 0
	if neg {
		fen = -fen
	}
	s := strconv.FormatInt(fen/100, 10) + "." + strconv.FormatInt(fen%100/10, 10) + strconv.FormatInt(fen%10, 10)
	if neg {
		return "-" + s
	}
	return s
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.In(clock.CST).Format("2006-01-02 15:04:05")
}

// page accumulates one HTML answer.
type page struct {
	b    strings.Builder
	lang string
}

// The writers are kept out of line: a page is hundreds of calls, and inlining
// strings.Builder.WriteString into each would cost the binary more than the calls
// cost a request (createorder's Lambda bootstrap has a 10 MB budget).

//go:noinline
func (p *page) raw(s string) { p.b.WriteString(s) }

//go:noinline
func (p *page) text(s string) { p.b.WriteString(esc(s)) }

//go:noinline
func (p *page) t(key string) { p.b.WriteString(esc(t(p.lang, key))) }
func (p *page) tag(open, s string) {
	p.raw("<" + open + ">")
	p.text(s)
	p.raw("</" + strings.Fields(open)[0] + ">")
}

// head writes the document up to <main>.
func (p *page) head(prefix, title string) {
	p.raw(`<!doctype html>
<html lang="`)
	if p.lang == langEN {
		p.raw("en")
	} else {
		p.raw("zh-CN")
	}
	p.raw(`">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="same-origin">
<link rel="icon" href="data:,">
<title>`)
	p.text(title + " · " + t(p.lang, "title"))
	p.raw(`</title>
<link rel="stylesheet" href="` + esc(prefix) + `/_/console.css">
<script src="` + esc(prefix) + `/_/console.js" defer></script>
</head>
<body>
`)
}

func (p *page) foot() { p.raw("</main>\n</body>\n</html>\n") }

// csrfField is the hidden input every action form carries.
func csrfField(token string) string {
	return `<input type="hidden" name="csrf" value="` + esc(token) + `">`
}

func writeHTML(w http.ResponseWriter, status int, p *page) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(p.b.String()))
}

func (h *Handler) signInPage(w http.ResponseWriter, r *http.Request, lang string, status int, problem, next string) {
	p := &page{lang: lang}
	p.head(h.prefix, t(lang, "signin"))
	p.raw(`<main class="signin">
<h1>`)
	p.t("title")
	p.raw("</h1>\n")
	if problem != "" {
		p.raw(`<p class="problem" role="alert">`)
		p.text(problem)
		p.raw("</p>\n")
	}
	p.raw(`<form method="post" action="` + esc(h.prefix) + `/signin">
<input type="hidden" name="next" value="` + esc(next) + `">
<label>`)
	p.t("user")
	p.raw(` <input name="user" autocomplete="username" required maxlength="32" autofocus></label>
<label>`)
	p.t("password")
	p.raw(` <input name="password" type="password" autocomplete="current-password" required maxlength="256"></label>
<button type="submit">`)
	p.t("signin")
	p.raw(`</button>
</form>
<p class="lang"><a href="?lang=`)
	if lang == langEN {
		p.raw("zh")
	} else {
		p.raw("en")
	}
	p.raw(`">`)
	p.t("lang.switch")
	p.raw("</a></p>\n")
	p.foot()
	writeHTML(w, status, p)
}

func (h *Handler) errorPage(w http.ResponseWriter, lang string, status int, message string) {
	p := &page{lang: lang}
	p.head(h.prefix, t(lang, "err.title"))
	p.raw(`<main class="signin"><h1>`)
	p.t("err.title")
	p.raw(`</h1><p class="problem" role="alert">`)
	p.text(message)
	p.raw(`</p><p><a href="` + esc(h.prefix) + `/">`)
	p.t("title")
	p.raw("</a></p>\n")
	p.foot()
	writeHTML(w, status, p)
}
