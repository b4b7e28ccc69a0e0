package console

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// Languages: Chinese first (the people who resolve a REVIEW at 2 a.m. mostly read it
// first), English when the browser prefers it or the operator switches.
const (
	langZH = "zh"
	langEN = "en"
)

const langCookie = "wxpay_console_lang"

// pickLang chooses the page language: an explicit ?lang=, then the cookie the switch
// set, then the browser's Accept-Language (the first of zh*/en* with the highest q),
// then Chinese.
func pickLang(r *http.Request) string {
	if l := r.URL.Query().Get("lang"); l == langZH || l == langEN {
		return l
	}
	if c, err := r.Cookie(langCookie); err == nil && (c.Value == langZH || c.Value == langEN) {
		return c.Value
	}
	best, bestQ := langZH, -1.0
	for _, part := range strings.Split(r.Header.Get("Accept-Language"), ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				q = f
			}
		}
		tag = strings.ToLower(tag)
		var l string
		switch {
		case strings.HasPrefix(tag, "zh"):
			l = langZH
		case strings.HasPrefix(tag, "en"):
			l = langEN
		default:
			continue
		}
		if q > bestQ {
			best, bestQ = l, q
		}
	}
	return best
}

// msg holds every string the console shows, in both languages. The map is made at
// its first use, not at package init: every createorder cold start would otherwise
// build its 125 entries (about 18 µs) for a console most starts never show.
var msg = sync.OnceValue(func() map[string][2]string {
	return map[string][2]string{
		"title":            {"运营控制台", "Operations console"},
		"signin":           {"登录", "Sign in"},
		"signout":          {"退出", "Sign out"},
		"user":             {"用户名", "User"},
		"password":         {"密码", "Password"},
		"signin.bad":       {"用户名或密码不正确。", "Wrong user name or password."},
		"signin.locked":    {"失败次数过多，请 15 分钟后再试。", "Too many failed attempts; try again in 15 minutes."},
		"signin.expired":   {"会话已过期，请重新登录。", "Your session ended; sign in again."},
		"nav.today":        {"今日", "Today"},
		"nav.review":       {"待复核", "Review"},
		"nav.events":       {"事件", "Events"},
		"nav.bills":        {"对账单", "Bills"},
		"nav.refunds":      {"退款", "Refunds"},
		"nav.find":         {"查找", "Find"},
		"lang.switch":      {"English", "中文"},
		"signed.as":        {"当前用户", "Signed in as"},
		"none":             {"暂无。", "Nothing here."},
		"err.title":        {"出错了", "Something went wrong"},
		"err.csrf":         {"表单已过期或来源不对，请刷新页面后重试。", "The form expired or came from elsewhere; reload the page and try again."},
		"err.signin":       {"请先登录。", "Sign in first."},
		"err.notfound":     {"没有这个页面。", "No such page."},
		"err.store":        {"暂时无法读取数据，请稍后重试。", "The data cannot be read right now; try again shortly."},
		"done":             {"已完成。", "Done."},
		"today.heading":    {"最近 14 天收款与退款", "Payments and refunds, last 14 days"},
		"today.paid":       {"收款", "Paid"},
		"today.refunded":   {"退款", "Refunded"},
		"today.count":      {"笔数", "Count"},
		"today.amount":     {"金额（元）", "Amount (yuan)"},
		"today.date":       {"日期", "Date"},
		"today.source":     {"来源", "Source"},
		"src.bill":         {"对账单", "daily bill"},
		"src.ledger":       {"本地账本（未出账单）", "ledger (bill not yet fetched)"},
		"review.heading":   {"待人工复核的订单与退款", "Orders and refunds in REVIEW"},
		"review.causes":    {"原因", "Causes"},
		"review.kept":      {"保留的交易", "Kept transactions"},
		"review.refund":    {"退还这笔", "Refund this one"},
		"review.resolve":   {"标记已处理", "Mark resolved"},
		"review.note":      {"处理说明", "Note"},
		"review.notehint":  {"说明做了什么（必填，会记录操作人和时间）", "What was done (required; recorded with who and when)"},
		"events.heading":   {"未送达或失败的商户事件", "Undelivered or failing merchant events"},
		"events.resend":    {"重发", "Resend"},
		"events.resendall": {"全部重发", "Resend all"},
		"events.attempts":  {"尝试次数", "Attempts"},
		"events.next":      {"下次尝试", "Next attempt"},
		"events.lasterr":   {"最近错误", "Last error"},
		"events.abandoned": {"已放弃：72 小时内未送达，不再自动重试，请重发", "abandoned: undelivered for 72 h, no more automatic retries — resend it"},
		"bills.heading":    {"每日对账", "Daily reconciliation"},
		"bills.hash":       {"哈希校验", "Hash"},
		"bills.rows":       {"行数", "Rows"},
		"bills.matched":    {"一致", "Matched"},
		"bills.settled":    {"补记", "Settled"},
		"bills.diffs":      {"差异", "Discrepancies"},
		"refunds.heading":  {"处理中过久或异常的退款", "Refunds stuck in PROCESSING or ABNORMAL"},
		"refunds.age":      {"已过", "Age"},
		"refunds.abnormal": {"异常退款处理", "Abnormal refund"},
		"refunds.touser":   {"退到用户银行卡", "To the user's bank card"},
		"refunds.tomch":    {"退到商户银行卡", "To the merchant's bank card"},
		"refunds.bank":     {"开户银行", "Bank"},
		"refunds.account":  {"银行卡号", "Card number"},
		"refunds.name":     {"户名", "Account holder"},
		"refunds.send":     {"提交异常退款", "Send abnormal refund"},
		"find.heading":     {"查找订单", "Find an order"},
		"find.hint":        {"order_id（也可以是合单）、out_trade_no、transaction_id 或 out_refund_no（其他子商户：sub_mchid/单号）", "order_id (a combine's too), out_trade_no, transaction_id or out_refund_no (another sub-merchant: sub_mchid/id)"},
		"find.go":          {"查找", "Find"},
		"find.nothing":     {"没有找到。", "Nothing found."},
		"col.order":        {"订单", "Order"},
		"col.state":        {"状态", "State"},
		"col.amount":       {"金额（元）", "Amount (yuan)"},
		"col.time":         {"时间", "Time"},
		"col.event":        {"事件", "Event"},
		"col.type":         {"类型", "Type"},
		"col.refund":       {"退款单", "Refund"},
		"col.merchant":     {"商户号", "Merchant"},
		"col.action":       {"操作", "Action"},
		"col.detail":       {"详情", "Detail"},
		"col.attempt":      {"支付单", "Attempt"},
		"col.tx":           {"微信支付单号", "transaction_id"},
		"audit.heading":    {"操作记录", "Audit log"},
		"audit.who":        {"操作人", "Who"},
		// Review causes (payment.CauseKind), beside their code.
		"cause.second_payment":             {"重复支付", "second payment"},
		"cause.amount_mismatch":            {"金额不符", "amount differs"},
		"cause.merchant_mismatch":          {"商户号不符", "another merchant"},
		"cause.app_mismatch":               {"AppID 不符", "another app"},
		"cause.paid_after_close":           {"关单后支付", "paid after close"},
		"cause.paid_after_close_request":   {"改价或取消后旧单被支付", "paid after a re-price or cancel"},
		"cause.earlier_attempt_paid":       {"改价前的支付单被支付", "an earlier attempt was paid"},
		"cause.foreign_merchant":           {"非本部署商户的支付或退款", "a payment or refund for another merchant"},
		"cause.share_not_asked":            {"未发起的分账", "a split never asked"},
		"cause.share_result_contradicts":   {"分账结果矛盾", "contradicting split result"},
		"cause.refund_without_payment":     {"无支付的退款", "refund without a payment"},
		"cause.refund_exceeds_paid":        {"退款超过实付", "refunds exceed the payment"},
		"cause.refund_names_another_order": {"退款指向其他订单", "refund names another order"},
		"cause.refund_amount_differs":      {"退款金额不符", "refund amount differs"},
		"cause.refund_result_contradicts":  {"退款结果矛盾", "contradicting refund results"},
		"cause.payment_not_held":           {"微信支付查无该支付", "WeChat Pay holds no such payment"},
		"col.outtradeno":                   {"商户订单号", "out_trade_no"},
		"col.created":                      {"创建时间", "Created"},
		"col.paid":                         {"支付时间", "Paid"},
		"col.delivery":                     {"投递", "Delivery"},
		"kind.order":                       {"订单", "Order"},
		"kind.refund":                      {"退款", "Refund"},
		"kind.payment":                     {"外部支付", "Payment"},
		"review.refunding":                 {"已申请退款", "Refund asked"},
		"events.notyet":                    {"尚未投递（未配置 webhook 时，事件留在发件箱）", "not attempted yet (without a webhook, events wait in the outbox)"},
		"bill.reconciled":                  {"已对账", "reconciled"},
		"bill.no_statement":                {"当日无账单", "no bill that day"},
		"bill.not_ready":                   {"账单未生成", "bill not ready yet"},
		"bill.hash_mismatch":               {"哈希不一致", "hash mismatch"},
		"bill.failed":                      {"失败", "failed"},
		"refunds.workdays":                 {"工作日", "working days"},
		"refunds.stuck.why":                {"退款处理中已超过 7 个工作日：请在商户平台核查，或联系微信支付。", "PROCESSING for more than 7 working days: check it in the merchant platform, or ask WeChat Pay."},
		"refunds.abnormal.why":             {"银行退款失败（如用户银行卡已注销或冻结）。可发起异常退款，退到用户的其他银行卡或商户的银行账户。", "The bank refused the refund (the user's card cancelled or frozen, say). Send it again with 异常退款: to another card of the user's, or to the merchant's bank account."},
		"refunds.abnormal.again":           {"已发起过异常退款，但再次失败。", "An abnormal refund was sent before and failed again."},
		"find.refunded":                    {"已退", "refunded"},
		"find.holders":                     {"此单号在多个子商户下各有一笔订单（下为第一个）：", "Several sub-merchants each hold an order with this number (the first is shown):"},
		"find.toreview":                    {"到待复核处理", "Handle it under Review"},
		"find.resolutions":                 {"处理记录", "Resolutions"},
		"find.attempts":                    {"支付单（每次改价一个）", "Attempts (one per price)"},
		"find.suborders":                   {"子单（合单）", "Sub-orders (combine)"},
		"find.reissued":                    {"异常退款：", "Abnormal refund:"},
		"setup.title":                      {"运营控制台尚未配置", "The operations console is not configured"},
		"setup.why":                        {"这个部署没有设置控制台用户（console_users），所以控制台不可用；订单 API 照常工作。", "This deployment has no console users (console_users), so the console is off; the order API works as before."},
		"setup.step1":                      {"为每位操作员生成一行（密码只在本机输入，不会离开本机）：", "Make one line per operator (the password is typed on your machine and never leaves it):"},
		"setup.step2":                      {"把这些行（每行一个用户）放进 console_users：", "Put the lines (one user per line) into console_users:"},
		"setup.aws":                        {"AWS：Secrets Manager 密钥 JSON 的 console_users 键（多行用 \\n 连接）", "AWS: the console_users key of the Secrets Manager secret's JSON (lines joined with \\n)"},
		"setup.tencent":                    {"腾讯云：SSM 凭据 JSON 的 console_users 键（多行用 \\n 连接）", "Tencent Cloud: the console_users key of the SSM secret's JSON (lines joined with \\n)"},
		"setup.local":                      {"本地：keys 目录中的 console_users 文件，或环境变量 WXPAY_CONSOLE_USERS", "Locally: the file console_users in the keys dir, or the variable WXPAY_CONSOLE_USERS"},
		"setup.step3":                      {"重新部署或等函数冷启动（密钥在冷启动时读取），再打开本页登录。", "Redeploy, or wait for a cold start (secrets are read then), and open this page again to sign in."},
		"setup.readme":                     {"详见 README 的“运营控制台”一节。", "See the README, section \"The operations console\"."},

		// A review cause (payment.CauseKind) too long for the causes' alignment above.
		"cause.payment_without_sub_merchant": {"无子商户号的支付（服务商/平台不能自身收款）", "a payment without sub_mchid (a platform takes none of its own)"},
	}
})

// t is the string key in lang.
func t(lang, key string) string {
	m, ok := msg()[key]
	if !ok {
		return key
	}
	return pick(lang, m)
}

func pick(lang string, m [2]string) string {
	if lang == langEN {
		return m[1]
	}
	return m[0]
}
