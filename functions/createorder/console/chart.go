package console

import (
	"strconv"
	"strings"
	"time"

	"github.com/paysls/wxpay/shared/store"
)

// chart draws the days as an inline SVG bar chart (paid and refunded side by side,
// oldest on the left): drawn on the server, so the page needs no script for it, and
// the CSP needs no inline style.
func chart(days []Day, lang string) string {
	const w, h, pad = 700, 180, 24
	var top int64 = 1
	for _, d := range days {
		top = max(top, d.Paid, d.Refunded)
	}
	n := len(days)
	if n == 0 {
		return ""
	}
	slot := float64(w-2*pad) / float64(n)
	bar := slot * 0.38
	var b strings.Builder
	b.WriteString(`<svg class="chart" viewBox="0 0 ` + strconv.Itoa(w) + " " + strconv.Itoa(h) + `" role="img" aria-label="` +
		esc(t(lang, "today.heading")) + `">`)
	f := func(x float64) string { return strconv.FormatFloat(x, 'f', 1, 64) }
	for i := range n {
		d := days[n-1-i] // days come newest first
		x := pad + float64(i)*slot
		for j, v := range []int64{d.Paid, d.Refunded} {
			bh := float64(h-2*pad) * float64(v) / float64(top)
			cls := "paid"
			if j == 1 {
				cls = "refunded"
			}
			b.WriteString(`<rect class="` + cls + `" x="` + f(x+float64(j)*bar) + `" y="` + f(float64(h-pad)-bh) + `" width="` + f(bar) +
				`" height="` + f(bh) + `"><title>` + esc(d.Date+" "+t(lang, "today."+cls)+" ¥"+yuan(v)) + `</title></rect>`)
		}
		if (n-1-i)%2 == 0 || n <= 7 { // every other day, the newest labelled
			b.WriteString(`<text x="` + f(x) + `" y="` + strconv.Itoa(h-6) + `">` + esc(shortDate(d.Date)) + `</text>`)
		}
	}
	b.WriteString(`<text x="` + strconv.Itoa(pad) + `" y="14">¥` + esc(yuan(top)) + `</text></svg>` + "\n")
	b.WriteString(`<p class="legend"><span class="paid">■</span> ` + esc(t(lang, "today.paid")) + ` <span class="refunded">■</span> ` + esc(t(lang, "today.refunded")) + "</p>\n")
	return b.String()
}

func shortDate(d string) string {
	if len(d) == 10 {
		return d[5:]
	}
	return d
}

// The audit listing is read newest first although a pending index lists oldest first:
// each record is placed at auditEpoch minus its age since 1970, so the newest sorts
// earliest and one page of the listing is the latest actions, whatever its length.
var auditEpoch = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC) // the store keeps times before 2116

func auditSince(now time.Time) time.Time { return auditEpoch.Add(-now.Sub(time.Unix(0, 0))) }

func listNewest() store.ListOptions { return store.ListOptions{Limit: 200} }
