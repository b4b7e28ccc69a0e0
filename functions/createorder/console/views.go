package console

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// call is one signed-in request.
type call struct {
	h    *Handler
	w    http.ResponseWriter
	r    *http.Request
	lang string
	s    session
}

var tabs = []struct{ path, key string }{
	{"", "nav.today"}, {"review", "nav.review"}, {"events", "nav.events"},
	{"bills", "nav.bills"}, {"refunds", "nav.refunds"}, {"find", "nav.find"},
}

func (c *call) get(path string) {
	p := &page{lang: c.lang}
	switch path {
	case "", "review", "events", "bills", "refunds", "find", "audit":
	default:
		// Signed in, a page that does not exist (an action's address opened, say): the
		// console's frame with the problem, so the way on is one click.
		p.head(c.h.prefix, t(c.lang, "err.title"))
		c.nav(p, path)
		p.raw(`<p class="problem" role="alert">`)
		p.t("err.notfound")
		p.raw("</p>\n")
		p.foot()
		writeHTML(c.w, http.StatusNotFound, p)
		return
	}
	title := "nav.today"
	for _, tb := range tabs {
		if tb.path == path {
			title = tb.key
		}
	}
	if path == "audit" {
		title = "audit.heading"
	}
	p.head(c.h.prefix, t(c.lang, title))
	c.nav(p, path)
	var err error
	switch path {
	case "":
		err = c.today(p)
	case "review":
		err = c.reviews(p)
	case "events":
		err = c.events(p)
	case "bills":
		err = c.bills(p)
	case "refunds":
		err = c.refunds(p)
	case "find":
		err = c.find(p)
	case "audit":
		err = c.auditView(p)
	}
	if err != nil {
		c.h.log.Error("console view failed", "view", path, "error", err.Error())
		c.h.errorPage(c.w, c.lang, http.StatusServiceUnavailable, t(c.lang, "err.store"))
		return
	}
	p.foot()
	writeHTML(c.w, http.StatusOK, p)
}

func (c *call) nav(p *page, cur string) {
	pre := esc(c.h.prefix)
	p.raw(`<header><nav aria-label="console">`)
	for _, tb := range tabs {
		p.raw(`<a href="` + pre + "/" + tb.path + `"`)
		if tb.path == cur {
			p.raw(` aria-current="page"`)
		}
		p.raw(">")
		p.t(tb.key)
		p.raw("</a>")
	}
	p.raw(`</nav><div class="who"><a href="` + pre + `/audit">`)
	p.t("audit.heading")
	p.raw(`</a> · `)
	p.t("signed.as")
	p.raw(" <b>")
	p.text(c.s.user)
	p.raw(`</b> · <a href="?lang=`)
	if c.lang == langEN {
		p.raw("zh")
	} else {
		p.raw("en")
	}
	p.raw(`">`)
	p.t("lang.switch")
	p.raw(`</a> <form method="post" action="` + pre + `/signout" class="inline">` + csrfField(c.s.csrf) + `<button>`)
	p.t("signout")
	p.raw("</button></form></div></header>\n<main>\n")
	switch ok := c.r.URL.Query().Get("ok"); {
	case ok != "":
		p.raw(`<p class="ok" role="status">`)
		p.t("done")
		p.raw(" ")
		p.text(ok)
		p.raw("</p>\n")
	case c.r.URL.Query().Get("refused") != "":
		p.raw(`<p class="problem" role="alert">`)
		p.text(c.r.URL.Query().Get("refused"))
		p.raw("</p>\n")
	}
}

func (c *call) empty(p *page) {
	p.raw(`<p class="muted">`)
	p.t("none")
	p.raw("</p>\n")
}

func (c *call) today(p *page) error {
	days, err := c.h.src.Days(c.r.Context(), 14)
	if err != nil {
		return err
	}
	p.tag("h1", t(c.lang, "today.heading"))
	p.raw(chart(days, c.lang))
	p.raw(`<table><thead><tr><th>`)
	p.t("today.date")
	p.raw("</th><th>")
	p.t("today.paid")
	p.raw("</th><th>")
	p.t("today.count")
	p.raw("</th><th>")
	p.t("today.refunded")
	p.raw("</th><th>")
	p.t("today.count")
	p.raw("</th><th>")
	p.t("today.source")
	p.raw("</th></tr></thead><tbody>\n")
	for _, d := range days {
		p.raw("<tr><td>")
		p.text(d.Date)
		p.raw(`</td><td class="num">`)
		p.text(yuan(d.Paid))
		p.raw(`</td><td class="num">`)
		p.text(strconv.Itoa(d.PaidCount))
		p.raw(`</td><td class="num">`)
		p.text(yuan(d.Refunded))
		p.raw(`</td><td class="num">`)
		p.text(strconv.Itoa(d.RefundCount))
		p.raw("</td><td>")
		if d.FromBill {
			p.t("src.bill")
		} else {
			p.t("src.ledger")
		}
		p.raw("</td></tr>\n")
	}
	p.raw("</tbody></table>\n")
	return nil
}

func (c *call) causes(p *page, cs []Cause) {
	p.raw(`<ol class="causes">`)
	for _, k := range cs {
		p.raw(`<li>`)
		if label, ok := msg()["cause."+k.Kind]; ok {
			p.raw(`<span class="cause">`)
			p.text(pick(c.lang, label))
			p.raw("</span>")
		}
		p.raw("<code>")
		p.text(k.Kind)
		p.raw("</code> ")
		p.text(k.Detail)
		p.raw(` <span class="muted">`)
		p.text(stamp(k.At))
		p.raw("</span></li>")
	}
	p.raw("</ol>\n")
}

func (c *call) kept(p *page, ref string, ks []Kept) {
	if len(ks) == 0 {
		return
	}
	p.raw(`<table class="kept"><thead><tr><th>`)
	for i, k := range []string{"col.type", "col.outtradeno", "col.tx", "col.amount", "col.time", "col.action"} {
		if i > 0 {
			p.raw("</th><th>")
		}
		p.t(k)
	}
	p.raw("</th></tr></thead><tbody>\n")
	for _, k := range ks {
		p.raw("<tr><td><code>")
		p.text(k.Kind)
		p.raw("</code></td><td><code>")
		p.text(k.OutTradeNo)
		p.raw("</code></td><td><code>")
		p.text(k.TransactionID)
		if k.OutRefundNo != "" {
			p.raw("</code><br><code>")
			p.text(k.OutRefundNo)
		}
		p.raw(`</code></td><td class="num">`)
		p.text(yuan(k.Amount))
		p.raw("</td><td>")
		p.text(k.Time)
		p.raw("</td><td>")
		if k.Refund != "" {
			p.t("review.refunding")
			p.raw(" <code>")
			p.text(k.Refund)
			p.raw("</code>")
		}
		if k.Refundable {
			p.raw(`<form method="post" action="` + esc(c.h.prefix) + `/review/refund" data-confirm="` + esc(t(c.lang, "review.refund")+" "+yuan(k.Amount)) + `">` +
				csrfField(c.s.csrf) + `<input type="hidden" name="ref" value="` + esc(ref) + `"><input type="hidden" name="transaction_id" value="` + esc(k.TransactionID) + `"><button>`)
			p.t("review.refund")
			p.raw("</button></form>")
		}
		p.raw("</td></tr>\n")
	}
	p.raw("</tbody></table>\n")
}

func (c *call) reviews(p *page) error {
	items, err := c.h.src.Reviews(c.r.Context())
	if err != nil {
		return err
	}
	p.tag("h1", t(c.lang, "review.heading"))
	if len(items) == 0 {
		c.empty(p)
	}
	for _, it := range items {
		p.raw(`<section class="card review" data-ref="` + esc(it.Ref) + `"><h2>`)
		p.raw(`<span class="tag">`)
		p.t("kind." + it.Kind)
		p.raw("</span> ")
		c.findLinkAs(p, it.Find, it.OrderID, it.OutTradeNo)
		if it.OutRefund != "" {
			p.raw(" · ")
			p.text(it.OutRefund)
		}
		p.raw(` <span class="muted">`)
		p.text("out_trade_no " + it.OutTradeNo + " · " + it.MchID + " · ¥" + yuan(it.Amount) + " · " + stamp(it.Since))
		p.raw("</span></h2>\n<h3>")
		p.t("review.causes")
		p.raw("</h3>\n")
		c.causes(p, it.Causes)
		if len(it.Kept) > 0 {
			p.raw("<h3>")
			p.t("review.kept")
			p.raw("</h3>\n")
			c.kept(p, it.Ref, it.Kept)
		}
		p.raw(`<form method="post" action="` + esc(c.h.prefix) + `/review/resolve" class="resolve">` + csrfField(c.s.csrf) +
			`<input type="hidden" name="ref" value="` + esc(it.Ref) + `"><label>`)
		p.t("review.note")
		p.raw(` <input name="note" required maxlength="500" placeholder="` + esc(t(c.lang, "review.notehint")) + `"></label><button>`)
		p.t("review.resolve")
		p.raw("</button></form></section>\n")
	}
	return nil
}

func (c *call) events(p *page) error {
	items, err := c.h.src.Events(c.r.Context())
	if err != nil {
		return err
	}
	p.tag("h1", t(c.lang, "events.heading"))
	if len(items) == 0 {
		c.empty(p)
		return nil
	}
	p.raw(`<form method="post" action="` + esc(c.h.prefix) + `/events/resend-all">` + csrfField(c.s.csrf) + `<button>`)
	p.t("events.resendall")
	p.raw("</button></form>\n<table><thead><tr><th>")
	for i, k := range []string{"col.event", "col.type", "col.order", "col.time", "events.attempts", "events.next", "events.lasterr", "col.action"} {
		if i > 0 {
			p.raw("</th><th>")
		}
		p.t(k)
	}
	p.raw("</th></tr></thead><tbody>\n")
	for _, e := range items {
		p.raw("<tr><td><code>")
		p.text(e.ID)
		p.raw("</code><br><span class=muted>")
		p.text(e.Sink)
		p.raw("</span></td><td><code>")
		p.text(e.Type)
		p.raw("</code></td><td>")
		c.findLinkAs(p, e.Find, e.OrderID, "")
		p.raw("</td><td>")
		p.text(stamp(e.CreatedAt))
		p.raw(`</td><td class="num">`)
		p.text(strconv.Itoa(e.Attempts))
		p.raw("</td><td>")
		if e.Abandoned {
			p.raw(`<span class="abandoned">`)
			p.t("events.abandoned")
			p.raw("</span>")
		} else {
			p.text(stamp(e.NextAt))
		}
		p.raw(`</td><td class="err">`)
		if e.LastStatus != 0 {
			p.text("HTTP " + strconv.Itoa(e.LastStatus) + " ")
		}
		p.text(e.LastError)
		if e.Attempts == 0 {
			p.t("events.notyet")
		}
		p.raw(`</td><td><form method="post" action="` + esc(c.h.prefix) + `/events/resend">` + csrfField(c.s.csrf) +
			`<input type="hidden" name="id" value="` + esc(e.ID) + `"><button>`)
		p.t("events.resend")
		p.raw("</button></form></td></tr>\n")
	}
	p.raw("</tbody></table>\n")
	return nil
}

func (c *call) bills(p *page) error {
	items, err := c.h.src.Bills(c.r.Context(), 14)
	if err != nil {
		return err
	}
	p.tag("h1", t(c.lang, "bills.heading"))
	if len(items) == 0 {
		c.empty(p)
	}
	for _, b := range items {
		p.raw(`<section class="card bill" data-status="` + esc(b.Status) + `"><h2>`)
		p.text(b.Date + " · " + b.Type + " · " + b.MchID + " · ")
		p.t("bill." + b.Status)
		p.raw("</h2>\n")
		if b.Error != "" {
			p.raw(`<p class="problem">`)
			p.text(b.Error)
			p.raw("</p>\n")
		}
		p.raw("<p>")
		p.t("bills.hash")
		if b.HashChecked {
			p.raw(` <b class="good">✓</b>`)
		} else {
			p.raw(` <b class="bad">✗</b>`)
		}
		p.raw(" · ")
		p.t("bills.rows")
		p.text(" " + strconv.Itoa(b.Rows) + " · ")
		p.t("bills.matched")
		p.text(" " + strconv.Itoa(b.Matched) + " · ")
		p.t("bills.settled")
		p.text(" " + strconv.Itoa(b.Settled) + " · ")
		p.t("bills.diffs")
		p.text(" " + strconv.Itoa(len(b.Discrepancies)))
		if b.Truncated {
			p.text("+")
		}
		p.raw("</p>\n")
		if len(b.Discrepancies) > 0 {
			p.raw("<table><thead><tr><th>")
			p.t("col.type")
			p.raw("</th><th>")
			p.t("col.order")
			p.raw("</th><th>")
			p.t("col.detail")
			p.raw("</th></tr></thead><tbody>\n")
			for _, d := range b.Discrepancies {
				p.raw("<tr><td><code>")
				p.text(d.Kind)
				p.raw("</code></td><td>")
				c.findLink(p, d.OrderID, d.OutTradeNo)
				if d.OutTradeNo != "" && d.OutTradeNo != d.OrderID {
					p.raw(" <code>")
					p.text(d.OutTradeNo)
					p.raw("</code>")
				}
				if d.OutRefundNo != "" {
					p.raw(" <code>")
					p.text(d.OutRefundNo)
					p.raw("</code>")
				}
				p.raw("</td><td>")
				p.text(d.Detail)
				p.raw("</td></tr>\n")
			}
			p.raw("</tbody></table>\n")
		}
		p.raw("</section>\n")
	}
	return nil
}

func (c *call) refunds(p *page) error {
	items, err := c.h.src.Refunds(c.r.Context())
	if err != nil {
		return err
	}
	p.tag("h1", t(c.lang, "refunds.heading"))
	if len(items) == 0 {
		c.empty(p)
	}
	now := c.h.now()
	for _, rf := range items {
		p.raw(`<section class="card refund" data-state="` + esc(rf.State) + `"><h2>`)
		p.text(rf.OutRefundNo + " · " + rf.State + " · ")
		c.findLinkAs(p, rf.Find, rf.OrderID, rf.OutTradeNo)
		p.raw(` <span class="muted">`)
		if rf.OrderID != "" && rf.OrderID != rf.OutTradeNo {
			p.text(rf.OutTradeNo + " · ")
		}
		p.text("¥" + yuan(rf.Amount) + " · ")
		p.t("refunds.age")
		p.text(" " + age(now.Sub(rf.Since)))
		if rf.WorkingDays > 0 {
			p.text(" · ")
			p.t("refunds.workdays")
			p.text(" " + strconv.Itoa(rf.WorkingDays))
		}
		p.raw("</span></h2>\n")
		switch {
		case rf.State == "ABNORMAL" && rf.Reissues > 0:
			p.raw(`<p class="muted">`)
			p.t("refunds.abnormal.again")
			p.raw("</p>\n")
		case rf.State == "ABNORMAL":
			p.raw(`<p class="muted">`)
			p.t("refunds.abnormal.why")
			p.raw("</p>\n")
		default:
			p.raw(`<p class="muted">`)
			p.t("refunds.stuck.why")
			p.raw("</p>\n")
		}
		if rf.State == "ABNORMAL" {
			pre := esc(c.h.prefix)
			p.raw(`<form method="post" action="` + pre + `/refunds/abnormal" class="abnormal" autocomplete="off">` + csrfField(c.s.csrf) +
				`<input type="hidden" name="out_refund_no" value="` + esc(rf.OutRefundNo) + `"><input type="hidden" name="mchid" value="` + esc(rf.MchID) + `"><fieldset><legend>`)
			p.t("refunds.abnormal")
			p.raw(`</legend><label><input type="radio" name="type" value="USER_BANK_CARD" checked> `)
			p.t("refunds.touser")
			p.raw(`</label> <label><input type="radio" name="type" value="MERCHANT_BANK_CARD"> `)
			p.t("refunds.tomch")
			p.raw(`</label><label>`)
			p.t("refunds.bank")
			p.raw(` <input name="bank_type" maxlength="32" placeholder="ICBC_DEBIT"></label><label>`)
			p.t("refunds.account")
			p.raw(` <input name="bank_account" inputmode="numeric" maxlength="32"></label><label>`)
			p.t("refunds.name")
			p.raw(` <input name="real_name" maxlength="64"></label><button>`)
			p.t("refunds.send")
			p.raw("</button></fieldset></form>\n")
		}
		p.raw("</section>\n")
	}
	return nil
}

func age(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return strconv.Itoa(int(d/(24*time.Hour))) + "d"
	case d >= time.Hour:
		return strconv.Itoa(int(d/time.Hour)) + "h"
	}
	return strconv.Itoa(int(d/time.Minute)) + "m"
}

// findLink links an order (by order_id, else out_trade_no) to its story.
func (c *call) findLink(p *page, orderID, outTradeNo string) {
	c.findLinkAs(p, "", orderID, outTradeNo)
}

// findLinkAs links the story Find shows for query (its order_id, else out_trade_no,
// when query is ""), labelled with the order's id.
func (c *call) findLinkAs(p *page, query, orderID, outTradeNo string) {
	label := orderID
	if label == "" {
		label = outTradeNo
	}
	if label == "" {
		return
	}
	p.raw(`<a href="` + esc(c.h.prefix) + `/find?q=` + esc(url.QueryEscape(cmp.Or(query, label))) + `">`)
	p.text(label)
	p.raw("</a>")
}

// thead writes a table's header row from message keys.
func (p *page) thead(keys ...string) {
	p.raw("<table><thead><tr>")
	for _, k := range keys {
		p.raw("<th>")
		p.t(k)
		p.raw("</th>")
	}
	p.raw("</tr></thead><tbody>\n")
}

func (c *call) find(p *page) error {
	q := strings.TrimSpace(c.r.URL.Query().Get("q"))
	p.tag("h1", t(c.lang, "find.heading"))
	p.raw(`<form method="get" action="` + esc(c.h.prefix) + `/find" class="find"><input name="q" value="` + esc(q) +
		`" maxlength="64" placeholder="` + esc(t(c.lang, "find.hint")) + `"><button>`)
	p.t("find.go")
	p.raw("</button></form>\n")
	if q == "" {
		return nil
	}
	st, err := c.h.src.Find(c.r.Context(), q)
	if err != nil {
		return err
	}
	if st == nil {
		p.raw(`<p class="muted" id="nothing">`)
		p.t("find.nothing")
		p.raw(" <code>")
		p.text(q)
		p.raw("</code></p>\n")
		return nil
	}
	p.raw(`<section class="card story" data-state="` + esc(st.State) + `"><h2>`)
	p.text(st.OrderID + " · " + st.State)
	p.raw(` <span class="muted">`)
	p.text(st.OutTradeNo + " · " + st.MchID + " · ¥" + yuan(st.Amount))
	if st.Refunded > 0 {
		p.text(" · ")
		p.t("find.refunded")
		p.text(" ¥" + yuan(st.Refunded))
	}
	p.raw("</span></h2>\n")
	if len(st.Holders) > 1 {
		// The number alone names an order of each: every one is listed, each a Find away.
		p.raw(`<p class="holders" id="holders">`)
		p.t("find.holders")
		for _, h := range st.Holders {
			p.raw(" ")
			c.findLinkAs(p, h, h, "")
		}
		p.raw("</p>\n")
	}
	if len(st.Causes) > 0 {
		p.raw("<h3>")
		p.t("review.causes")
		p.raw("</h3>\n")
		c.causes(p, st.Causes)
		p.raw(`<p><a href="` + esc(c.h.prefix) + `/review">`)
		p.t("find.toreview")
		p.raw("</a></p>\n")
	}
	if len(st.Kept) > 0 {
		p.raw("<h3>")
		p.t("review.kept")
		p.raw("</h3>\n")
		c.kept(p, st.ReviewRef, st.Kept)
	}
	if len(st.Resolutions) > 0 {
		p.raw("<h3>")
		p.t("find.resolutions")
		p.raw("</h3>\n<ul class=\"resolutions\">")
		for _, r := range st.Resolutions {
			p.raw("<li><b>")
			p.text(r.By)
			p.raw("</b> ")
			p.text(stamp(r.At))
			p.raw(": ")
			p.text(r.Note)
			p.raw("</li>")
		}
		p.raw("</ul>\n")
	}
	p.raw("<h3>")
	p.t("find.attempts")
	p.raw("</h3>\n")
	p.thead("col.outtradeno", "col.state", "col.amount", "col.tx", "col.created", "col.paid")
	for _, a := range st.Attempts {
		p.raw("<tr><td><code>")
		p.text(a.OutTradeNo)
		p.raw("</code></td><td>")
		p.text(a.State + " " + a.Scene)
		p.raw(`</td><td class="num">`)
		p.text(yuan(a.Amount))
		p.raw("</td><td><code>")
		p.text(a.TransactionID)
		p.raw("</code></td><td>")
		p.text(stamp(a.CreatedAt))
		p.raw("</td><td>")
		p.text(a.PaidAt)
		p.raw("</td></tr>\n")
	}
	p.raw("</tbody></table>\n")
	if len(st.SubOrders) > 0 {
		p.raw("<h3>")
		p.t("find.suborders")
		p.raw("</h3>\n")
		p.thead("col.order", "col.merchant", "col.state", "col.amount", "col.outtradeno", "col.tx")
		for _, so := range st.SubOrders {
			p.raw("<tr><td>")
			c.findLinkAs(p, so.Find, so.OrderID, so.OutTradeNo)
			p.raw("</td><td><code>")
			p.text(so.SubMchID)
			p.raw("</code></td><td>")
			p.text(so.State)
			p.raw(`</td><td class="num">`)
			p.text(yuan(so.Amount))
			p.raw("</td><td><code>")
			p.text(so.OutTradeNo)
			p.raw("</code></td><td><code>")
			p.text(so.TransactionID)
			p.raw("</code></td></tr>\n")
		}
		p.raw("</tbody></table>\n")
	}
	if len(st.Refunds) > 0 {
		p.raw("<h3>")
		p.t("nav.refunds")
		p.raw("</h3>\n")
		p.thead("col.refund", "col.state", "col.amount", "col.tx", "col.detail")
		for _, rf := range st.Refunds {
			p.raw("<tr><td><code>")
			p.text(rf.OutRefundNo)
			p.raw("</code></td><td>")
			p.text(rf.State)
			p.raw(`</td><td class="num">`)
			p.text(yuan(rf.Amount))
			p.raw("</td><td><code>")
			p.text(rf.TransactionID)
			p.raw("</code></td><td>")
			p.text(strings.TrimSpace(rf.RefundID + " " + rf.SuccessTime))
			for _, re := range rf.Reissued {
				p.raw("<br>")
				p.t("find.reissued")
				p.text(" " + re)
			}
			p.raw("</td></tr>\n")
		}
		p.raw("</tbody></table>\n")
	}
	p.raw("<h3>")
	p.t("nav.events")
	p.raw("</h3>\n")
	p.thead("col.event", "col.time", "events.attempts", "col.delivery")
	for _, e := range st.Events {
		p.raw("<tr><td><code>")
		p.text(e.Type)
		p.raw("</code> <span class=muted>")
		p.text(e.ID)
		p.raw("</span></td><td>")
		p.text(stamp(e.CreatedAt))
		p.raw(`</td><td class="num">`)
		p.text(strconv.Itoa(e.Attempts))
		p.raw("</td><td>")
		switch {
		case !e.DeliveredAt.IsZero():
			p.raw(`<b class="good">✓</b> `)
			p.text(stamp(e.DeliveredAt))
		case e.LastStatus != 0 || e.LastError != "":
			p.raw(`<span class="err">`)
			if e.LastStatus != 0 {
				p.text("HTTP " + strconv.Itoa(e.LastStatus) + " ")
			}
			p.text(e.LastError)
			p.raw("</span>")
		default:
			p.t("events.notyet")
		}
		p.raw("</td></tr>\n")
	}
	p.raw("</tbody></table></section>\n")
	return nil
}

func (c *call) auditView(p *page) error {
	pg, err := c.h.st.ListPending(c.r.Context(), auditIndex, listNewest())
	if err != nil {
		return err
	}
	p.tag("h1", t(c.lang, "audit.heading"))
	recs := pg.Records
	if len(recs) == 0 {
		c.empty(p)
		return nil
	}
	p.raw("<table><thead><tr><th>")
	p.t("col.time")
	p.raw("</th><th>")
	p.t("audit.who")
	p.raw("</th><th>")
	p.t("col.action")
	p.raw("</th><th>")
	p.t("col.detail")
	p.raw("</th></tr></thead><tbody>\n")
	for _, rec := range recs {
		a := rec.Attrs
		p.raw("<tr><td>")
		if at, err := time.Parse(time.RFC3339, a["at"]); err == nil {
			p.text(stamp(at))
		} else {
			p.text(a["at"])
		}
		p.raw("</td><td>")
		p.text(a["who"])
		p.raw("</td><td><code>")
		p.text(a["action"])
		p.raw("</code></td><td>")
		p.text(strings.TrimSpace(a["ref"] + " " + a["detail"]))
		p.raw("</td></tr>\n")
	}
	p.raw("</tbody></table>\n")
	return nil
}

// post runs an action and answers with a redirect to its view (post/redirect/get).
func (c *call) post(path string) {
	ctx, f := c.r.Context(), c.r.PostForm.Get
	var (
		back = "/"
		done string
		err  error
	)
	switch path {
	case "signout":
		c.h.endSession(ctx, c.r)
		c.h.setCookie(c.w, "", -1)
		c.h.audit(ctx, c.s.user, "signout", "", "")
		http.Redirect(c.w, c.r, c.h.prefix+"/", http.StatusSeeOther)
		return
	case "review/refund":
		back = "/review"
		err = c.h.src.RefundKept(ctx, c.s.user, f("ref"), f("transaction_id"))
		done = f("transaction_id")
		c.h.audit(ctx, c.s.user, "refund_kept", f("ref"), f("transaction_id")+" "+errText(err))
	case "review/resolve":
		back = "/review"
		note := strings.TrimSpace(f("note"))
		if note == "" || len(note) > 500 {
			err = refusedf(c.lang, "a note of 1–500 characters is required", "必须填写 1–500 字的处理说明")
		} else {
			err = c.h.src.Resolve(ctx, c.s.user, f("ref"), note)
		}
		done = f("ref")
		c.h.audit(ctx, c.s.user, "resolve", f("ref"), note+" "+errText(err))
	case "events/resend":
		back = "/events"
		err = c.h.src.Resend(ctx, c.s.user, f("id"))
		done = f("id")
		c.h.audit(ctx, c.s.user, "resend", f("id"), errText(err))
	case "events/resend-all":
		back = "/events"
		var n int
		n, err = c.h.src.ResendAll(ctx, c.s.user)
		done = strconv.Itoa(n)
		c.h.audit(ctx, c.s.user, "resend_all", "", done+" "+errText(err))
	case "refunds/abnormal":
		back = "/refunds"
		req := AbnormalRequest{OutRefundNo: f("out_refund_no"), MchID: f("mchid"), ToMerchant: f("type") == "MERCHANT_BANK_CARD",
			BankType: strings.TrimSpace(f("bank_type")), BankAccount: strings.TrimSpace(f("bank_account")), RealName: strings.TrimSpace(f("real_name"))}
		err = c.h.src.AbnormalRefund(ctx, c.s.user, req)
		done = req.OutRefundNo
		// The card number and name are never logged or kept: only that it was sent.
		c.h.audit(ctx, c.s.user, "abnormal_refund", req.OutRefundNo, f("type")+" "+errText(err))
	default:
		c.h.errorPage(c.w, c.lang, http.StatusNotFound, t(c.lang, "err.notfound"))
		return
	}
	q := url.Values{}
	switch {
	case errors.Is(err, ErrRefused):
		q.Set("refused", strings.TrimPrefix(err.Error(), ErrRefused.Error()+": "))
	case err != nil:
		c.h.log.Error("console action failed", "action", path, "user", c.s.user, "error", err.Error())
		q.Set("refused", t(c.lang, "err.store"))
	default:
		q.Set("ok", done)
	}
	http.Redirect(c.w, c.r, c.h.prefix+back+"?"+q.Encode(), http.StatusSeeOther)
}

func errText(err error) string {
	if err == nil {
		return "ok"
	}
	return "failed: " + err.Error()
}

// refusedf is an ErrRefused in the operator's language.
func refusedf(lang, en, zh string) error {
	if lang == langEN {
		return fmt.Errorf("%w: %s", ErrRefused, en)
	}
	return fmt.Errorf("%w: %s", ErrRefused, zh)
}
