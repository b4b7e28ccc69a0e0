package trigger

import (
	"fmt"
	"net/http"
	"time"
)

// retrySchedule is WeChat Pay's documented retry plan for a notification that was not
// acknowledged: intervals between deliveries, about 24 hours in all.
const retrySchedule = "15s/15s/30s/3m/10m/20m/30m/30m/30m/60m/3h/3h/3h/6h/6h (24h4m in total)"

// APIv3KeyConsolePath is where the APIv3 key is set in the merchant platform, as
// WeChat Pay's guide names it (pay.weixin.qq.com/docs/partner/development/interface-rules/apiv3key.html).
// The README quotes the same path.
const APIv3KeyConsolePath = "商户平台 → 账户中心 → API安全 → 设置APIv3密钥"

// Verdict judges one attempt from WeChat Pay's point of view.
type Verdict struct {
	OK       bool   `json:"ok"`
	Headline string `json:"headline"`
	Cause    string `json:"cause,omitempty"`   // the likely cause, when not OK
	Warning  string `json:"warning,omitempty"` // OK, but worth knowing
}

// judge applies WeChat Pay's rule — only HTTP 200 or 204 within the timeout
// acknowledges a notification, whatever the body says — or, for a SIGNTEST probe, the
// inverted rule: a correct endpoint must refuse it.
func judge(a Attempt, signTest bool, timeout time.Duration, serial string) Verdict {
	if signTest {
		return judgeProbe(a, timeout)
	}
	if a.Failure == "" && (a.Status == http.StatusOK || a.Status == http.StatusNoContent) {
		v := Verdict{OK: true, Headline: fmt.Sprintf("acknowledged (HTTP %d): WeChat Pay counts the notification as delivered and stops retrying; it ignores the body", a.Status)}
		if timeout > 0 && a.Duration > timeout/2 {
			v.Warning = fmt.Sprintf("the answer took %s of the %s WeChat Pay waits: a cold start or a slow store could push it over — acknowledge first, do slow work after", a.Duration.Round(time.Millisecond), timeout)
		}
		return v
	}
	return Verdict{
		Headline: "NOT acknowledged: WeChat Pay will retry " + retrySchedule + ", then give up; only reconcile (querying the order/refund) would still learn the result",
		Cause:    cause(a, timeout, serial),
	}
}

func cause(a Attempt, timeout time.Duration, serial string) string {
	switch a.Failure {
	case failTimeout:
		return fmt.Sprintf("too slow: no answer within %s. WeChat Pay waits 5 s for the answer (收到通知需在5秒内应答); verify, store, answer — move anything slow out of the handler, and watch cold starts", timeout)
	case failRefused:
		return "not reachable: connection refused — nothing listens at that host and port (server down, wrong port, or the function is not deployed)"
	case failDNS:
		return "not reachable: the host name does not resolve. WeChat Pay must resolve it from the public Internet: add the DNS record, and do not use URL forwarding (域名转发)"
	case failTLS:
		return "TLS failed (" + a.Error + "): WeChat Pay needs https with a certificate valid for this exact domain; an http-only port answered, or the certificate is self-signed, expired or for another name"
	case failInterrupted:
		return "interrupted before an answer arrived"
	case failNetwork:
		return "not reachable (" + a.Error + "): a firewall or security group may block WeChat Pay's callback IPs (回调IP段白名单)"
	}
	switch s := a.Status; {
	case s >= 200 && s < 300:
		return fmt.Sprintf("HTTP %d is a success code but not an acknowledgement: WeChat Pay accepts only 200 or 204", s)
	case s >= 300 && s < 400:
		return fmt.Sprintf("HTTP %d redirect to %q: the notify endpoint must answer itself — put the final URL (https, exact path, trailing slash or not) in notify_url", s, a.Location)
	case s == http.StatusNotFound:
		return "path mismatch: no route answers this URL. Compare notify_url with your route character by character: a doubled slash (/pay//notify), a trailing slash, whitespace, or a missing API Gateway stage prefix (/Prod/…)"
	case s == http.StatusMethodNotAllowed:
		return "the route exists but not for POST: WeChat Pay always POSTs the notification"
	case s == http.StatusUnauthorized || s == http.StatusForbidden:
		return fmt.Sprintf("signature verification failed on your side (or a WAF/firewall refused the request): the endpoint is configured with a different platform certificate or public key than the one that signed (Wechatpay-Serial %s). Configure the matching platform_cert.pem / platform_public_key.pem and PUB_KEY_ID, and check the server clock (±5 min)", serial)
	case s == http.StatusBadRequest:
		return "the handler rejected the request: usually it could not decrypt the resource (its APIv3 key differs from the one set in " + APIv3KeyConsolePath + ") or could not parse the body (v3 notifications are JSON, not XML or a form). Its log says which"
	case s == http.StatusBadGateway || s == http.StatusServiceUnavailable || s == http.StatusGatewayTimeout:
		return fmt.Sprintf("HTTP %d from the gateway in front of your handler (API Gateway, SCF, nginx): the function crashed, timed out or was not ready", s)
	case s >= 500:
		return fmt.Sprintf("HTTP %d: your handler failed. If it could not store the result durably, a 5xx is right and the retry will deliver it again — check its log", s)
	default:
		return fmt.Sprintf("HTTP %d: the endpoint refused the notification", s)
	}
}

func judgeProbe(a Attempt, timeout time.Duration) Verdict {
	switch {
	case a.Failure != "":
		return Verdict{Headline: "inconclusive: the probe got no answer", Cause: cause(a, timeout, "")}
	case a.Status == http.StatusNotFound || a.Status == http.StatusMethodNotAllowed || (a.Status >= 300 && a.Status < 400):
		return Verdict{Headline: fmt.Sprintf("inconclusive: HTTP %d — the probe never reached your handler", a.Status),
			Cause: "fix the URL first (run trigger without --signtest): " + cause(a, timeout, "")}
	case a.Status >= 200 && a.Status < 300:
		return Verdict{
			Headline: fmt.Sprintf("!!! DANGER: your endpoint ACKNOWLEDGED (HTTP %d) a notification with a forged WECHATPAY/SIGNTEST/ signature !!!", a.Status),
			Cause: "it does not verify Wechatpay-Signature: anyone can post a fake 支付成功 and receive goods for free. " +
				"Verify SHA256withRSA over \"timestamp\\nnonce\\nbody\\n\" with the platform key named by Wechatpay-Serial, on the raw body, and reject on failure " +
				"(未验证签名：任何人都可以伪造支付成功通知)",
		}
	default:
		return Verdict{OK: true, Headline: fmt.Sprintf("rejected the forged signature (HTTP %d), as a verifying endpoint must", a.Status)}
	}
}
