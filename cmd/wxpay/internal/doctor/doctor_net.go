package doctor

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/paysls/wxpay/cmd/wxpay/internal/trigger"
	"github.com/paysls/wxpay/shared/wechatpay"
)

func (d *Doctor) checkNotifyURL(ctx context.Context) []Check {
	const name = "notify_url"
	raw := d.Config.NotifyURL
	if raw == "" {
		c := d.notSet(name, "NotifyURL", "orders would carry no callback address")
		c.FixZH += "，例如 https://pay.example.com/wxpay/notify"
		c.FixEN += ", e.g. https://pay.example.com/wxpay/notify"
		return []Check{c}
	}
	var out []Check
	if issues := trigger.NotifyURLIssues(raw); issues != "" {
		out = append(out, fail(name, fmt.Sprintf("%q is rejected by WeChat Pay: %s", raw, issues),
			"回调地址必须是 https:// 开头的公网域名，不能带端口、参数（?）、IP，路径中不能有 // 或空格，且不超过255字符",
			"notify_url must be https:// on a public domain name: no port, no ?query, no IP, no // or whitespace in the path, at most 255 characters"))
	} else {
		out = append(out, ok(name, raw+" (note: an order keeps the notify_url it was created with; changing it affects new orders only)"))
	}
	return append(out, d.checkDNS(ctx, raw))
}

// dnsControlHost is a name that always resolves where DNS works: WeChat Pay's API.
const dnsControlHost = "api.mch.weixin.qq.com"

// checkDNS resolves the notify host as WeChat Pay would have to: a name that does not
// resolve, or resolves only to private addresses, can never receive a callback.
func (d *Doctor) checkDNS(ctx context.Context, raw string) Check {
	const name = "notify_url DNS"
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Hostname() == "" {
		return skip(name, "no host to resolve")
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); ip != nil {
		return skip(name, "the host is an IP address, not a name")
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	addrs, err := d.resolver().LookupHost(ctx, host)
	if err != nil {
		// Tell "this name has no record" from "this machine resolves nothing" (a
		// sandbox, an offline laptop): only the first is a fact about notify_url.
		if _, cerr := d.resolver().LookupHost(ctx, dnsControlHost); cerr != nil {
			return warn(name, fmt.Sprintf("not checked: %s does not resolve from here, but neither does %s — this machine has no working DNS; run doctor where it has", host, dnsControlHost))
		}
		return fail(name, fmt.Sprintf("%s does not resolve from here: %v", host, err),
			"为该域名添加公网DNS解析（A/CNAME 记录），不要使用域名转发；在其他网络下也确认能解析。若本机无DNS，请在能上网的环境再运行",
			"add a public DNS record (A/CNAME) for the host and do not use URL forwarding; if this machine has no DNS, run doctor where it has")
	}
	public := 0
	for _, a := range addrs {
		if ip := net.ParseIP(a); ip != nil && !ip.IsPrivate() && !ip.IsLoopback() && !ip.IsLinkLocalUnicast() && !ip.IsUnspecified() {
			public++
		}
	}
	if public == 0 {
		return fail(name, fmt.Sprintf("%s resolves only to private addresses %v: WeChat Pay's servers cannot reach it", host, addrs),
			"回调域名必须解析到公网IP（内网IP只能在同一网络访问）", "the notify host must resolve to a public IP; private addresses are unreachable from WeChat Pay")
	}
	return ok(name, fmt.Sprintf("%s → %s", host, strings.Join(addrs, ", ")))
}

// maxSkew is WeChat Pay's limit on signature timestamps: beyond it, our requests are
// refused and we refuse its genuine notifications.
const maxSkew = 5 * time.Minute

// checkClock compares the local clock with the Date header of the API server. An
// unreachable server is only a warning: doctor often runs offline.
func (d *Doctor) checkClock(ctx context.Context) Check {
	const name = "clock"
	base := d.apiBase()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base, nil)
	if err != nil {
		return warn(name, fmt.Sprintf("cannot build a request for %s: %v (not checked)", base, err))
	}
	t0 := d.now()
	resp, err := d.httpClient().Do(req)
	t1 := d.now()
	if err != nil {
		return warn(name, fmt.Sprintf("could not reach %s to compare clocks: %v (not checked)", base, err))
	}
	resp.Body.Close()
	date, err := http.ParseTime(resp.Header.Get("Date"))
	if err != nil {
		return warn(name, fmt.Sprintf("%s sent no usable Date header (not checked)", base))
	}
	local := t0.Add(t1.Sub(t0) / 2) // the Date was stamped somewhere in between
	// Date has whole seconds, truncated: the server's clock was somewhere in the second
	// after it, so compare with the middle of that second.
	skew := local.Sub(date.Add(500 * time.Millisecond)).Round(time.Second)
	abs := skew.Abs()
	switch {
	case abs > maxSkew:
		return fail(name, fmt.Sprintf("local clock is %s off %s's (local %s, server %s): beyond WeChat Pay's 5-minute window every signature is rejected",
			skew, base, local.UTC().Format(time.RFC3339), date.UTC().Format(time.RFC3339)),
			"开启 NTP 时间同步（如 chronyd / systemd-timesyncd），容器和虚拟机也要同步", "enable NTP time sync (chronyd, systemd-timesyncd) on the host, VM or container")
	case abs > time.Minute:
		return warn(name, fmt.Sprintf("local clock is %s off %s's: within the 5-minute window, but drifting — enable NTP", skew, base))
	default:
		return ok(name, fmt.Sprintf("within %s of %s", max(abs, time.Second), base))
	}
}

// echoAPIHint explains how to test a notify_url against the real service, where only
// WeChat Pay can sign. POST /v3/security/echo is documented in the partner (服务商)
// docs at pay.weixin.qq.com/doc/v3/partner/4015139289 (callback SECURITY_ECHO.SUCCESS,
// doc 4019605946); wxpay does not call it yet.
const echoAPIHint = "against the real service only WeChat Pay can sign a notification: its 商户签名验签/加解密测试 API, " +
	"POST /v3/security/echo with {\"notify_url\":…,\"echo_message\":…}, makes it send a SECURITY_ECHO.SUCCESS callback " +
	"(documented for 服务商/平台商户; wxpay does not call it yet)"

// checkProbe delivers a genuine notification and a SIGNTEST probe to notify_url.
func (d *Doctor) checkProbe(ctx context.Context) []Check {
	if d.ProbeSender == nil {
		why := "no platform private key"
		if d.ProbeErr != nil {
			why = d.ProbeErr.Error()
		}
		return []Check{fail("probe", "cannot sign as WeChat Pay: "+why+". "+echoAPIHint,
			"--probe 需要模拟器的 keys dir（wxpay sim --keys-dir）；对真实环境请用微信支付的 /v3/security/echo 接口测试回调",
			"--probe needs the simulator's keys dir (wxpay sim --keys-dir); against the real service use WeChat Pay's /v3/security/echo")}
	}
	if d.Config.NotifyURL == "" {
		return []Check{skip("probe", "no notify_url to probe")}
	}
	ev := trigger.Event{Type: wechatpay.EventTransactionSuccess, OutTradeNo: "DOCTOR" + d.now().Format("20060102150405"), Amount: 1}
	var out []Check
	for _, signTest := range []bool{false, true} {
		name := "probe: signed notification"
		if signTest {
			name = "probe: forged signature"
		}
		r, err := d.ProbeSender.Trigger(ctx, trigger.Options{URL: d.Config.NotifyURL, Event: ev, SignTest: signTest})
		if err != nil {
			out = append(out, fail(name, err.Error(), "检查 notify_url", "check notify_url"))
			continue
		}
		dl := r.Deliveries[0]
		if dl.Verdict.OK {
			out = append(out, ok(name, dl.Attempt.String()+": "+dl.Verdict.Headline))
			continue
		}
		zh, en := "按上面的原因修复回调处理后重试 wxpay trigger", "fix the handler for the cause above, then retry with wxpay trigger"
		if signTest {
			zh, en = "回调处理必须先验证 Wechatpay-Signature，验签失败返回 4xx/5xx", "the handler must verify Wechatpay-Signature first and answer 4xx/5xx when it fails"
		}
		out = append(out, fail(name, dl.Attempt.String()+": "+dl.Verdict.Headline+" — "+dl.Verdict.Cause, zh, en))
	}
	return out
}
