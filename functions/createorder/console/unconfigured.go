package console

import (
	"errors"
	"net/http"
	"strings"
)

// Unconfigured answers every request under prefix ("/console" when empty) with one
// page saying how to configure the console: a deployment without console_users (or
// with a malformed one, named by line in why) serves the order API as before and
// never crashes on the console. It is a 503: nothing under it works yet.
func Unconfigured(prefix string, why error) http.Handler {
	p := strings.TrimRight(prefix, "/")
	if p == "" {
		p = "/console"
	}
	var detail string
	if why != nil && errors.Is(why, ErrUsers) {
		detail = why.Error() // names the line, never its content
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		securityHeaders(w)
		if r.URL.Path != p && !strings.HasPrefix(r.URL.Path, p+"/") {
			http.NotFound(w, r)
			return
		}
		if name, ok := strings.CutPrefix(r.URL.Path, p+"/_/"); ok && r.Method == http.MethodGet {
			(&Handler{prefix: p}).asset(w, r, name)
			return
		}
		lang := pickLang(r)
		pg := &page{lang: lang}
		pg.head(p, t(lang, "setup.title"))
		pg.raw(`<main class="setup"><h1>`)
		pg.t("setup.title")
		pg.raw("</h1>\n")
		if detail != "" {
			pg.raw(`<p class="problem" role="alert">`)
			pg.text(detail)
			pg.raw("</p>\n")
		}
		pg.raw("<p>")
		pg.t("setup.why")
		pg.raw("</p>\n<ol><li>")
		pg.t("setup.step1")
		pg.raw("<pre><code>wxpay console passwd ops</code></pre></li><li>")
		pg.t("setup.step2")
		pg.raw("<ul><li>")
		pg.t("setup.aws")
		pg.raw("</li><li>")
		pg.t("setup.tencent")
		pg.raw("</li><li>")
		pg.t("setup.local")
		pg.raw("</li></ul></li><li>")
		pg.t("setup.step3")
		pg.raw("</li></ol>\n<p class=\"muted\">")
		pg.t("setup.readme")
		pg.raw(`</p><p class="lang"><a href="?lang=`)
		if lang == langEN {
			pg.raw("zh")
		} else {
			pg.raw("en")
		}
		pg.raw(`">`)
		pg.t("lang.switch")
		pg.raw("</a></p>\n")
		pg.foot()
		writeHTML(w, http.StatusServiceUnavailable, pg)
	})
}
