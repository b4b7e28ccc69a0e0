package trigger

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/paysls/wxpay/shared/wechatpay"
	"github.com/paysls/wxpay/shared/wxv2"
)

// modeV2 is the Mode of a report on a v2 XML notification (`wxpay trigger --v2`).
const modeV2 = "v2"

// errNoAPIv2Key: the keys dir has no apiv2_key, so v2 notifications cannot be signed.
var errNoAPIv2Key = errors.New("the keys dir has no apiv2_key: v2 notifications are signed (payments) and encrypted (refunds) with the APIv2 key; " +
	"use a keys dir written by `wxpay sim --keys-dir DIR` and configure the endpoint with its apiv2_key (WXPAY_APIV2_KEY)")

// V2Options is one `wxpay trigger --v2` run: Event.Type picks a payment result
// (TRANSACTION.SUCCESS) or a refund result (REFUND.SUCCESS → SUCCESS, REFUND.ABNORMAL →
// CHANGE, REFUND.CLOSED → REFUNDCLOSE); SignTest forges it (a random key instead of the
// APIv2 key), which a verifying endpoint must refuse.
type V2Options struct {
	Options
	SignType string // MD5 (default) or HMAC-SHA256; payments only
}

// buildV2 makes the v2 XML notification for ev: the same business content as build's
// v3 resource, in WeChat Pay's v2 fields. It returns the body and the fields a receiver
// should read (for a refund, req_info decrypted).
func (s *Sender) buildV2(ev Event, signType string, forge bool) (body []byte, fields wxv2.Params, err error) {
	key := s.apiv2Key
	if key == "" {
		return nil, nil, errNoAPIv2Key
	}
	if forge {
		key = wxv2.ForgeryKey()
	}
	msg, err := s.build(ev)
	if err != nil {
		return nil, nil, err
	}
	if ev.Type == wechatpay.EventTransactionSuccess {
		var tx wechatpay.Transaction
		if err := json.Unmarshal(msg.Plaintext, &tx); err != nil {
			return nil, nil, err
		}
		p, err := wxv2.PaymentParams(&tx)
		if err != nil {
			return nil, nil, err
		}
		if err := wxv2.SignParams(p, signType, key); err != nil {
			return nil, nil, err
		}
		return p.EncodeXML(), p, nil
	}
	var rn wechatpay.RefundNotice
	if err := json.Unmarshal(msg.Plaintext, &rn); err != nil {
		return nil, nil, err
	}
	outer, inner, err := wxv2.RefundParams(&rn, wxv2.RefundOptions{AppID: s.appID, RequestSource: "VENDOR_PLATFORM", RefundAccount: "REFUND_SOURCE_UNSETTLED_FUNDS"})
	if err != nil {
		return nil, nil, err
	}
	body, err = wxv2.SealRefund(outer, inner, key)
	return body, inner, err
}

// TriggerV2 builds one v2 notification and delivers it opts.Repeat times (WeChat
// Pay's v2 retries repeat the same bytes), judging each answer by v2's rule: HTTP 200
// with return_code SUCCESS in the XML body acknowledges.
func (s *Sender) TriggerV2(ctx context.Context, opts V2Options) (*Report, error) {
	if err := ValidateTargetURL(opts.URL); err != nil {
		return nil, err
	}
	switch opts.SignType {
	case "", wxv2.SignTypeMD5, wxv2.SignTypeHMACSHA256:
	default:
		return nil, fmt.Errorf("sign type %q: want MD5 or HMAC-SHA256", opts.SignType)
	}
	body, fields, err := s.buildV2(opts.Event, opts.SignType, opts.SignTest)
	if err != nil {
		return nil, err
	}
	shown := wxv2.Params{}
	for k, v := range fields {
		if k != "sign" {
			shown[k] = v
		}
	}
	resource, err := json.Marshal(shown)
	if err != nil {
		return nil, err
	}
	kind := "payment result (支付结果通知), sign_type " + orMD5(opts.SignType)
	if opts.Event.Type != wechatpay.EventTransactionSuccess {
		kind = "refund result (退款结果通知), refund_status " + fields["refund_status"]
	}
	timeout := WeChatPayTimeout
	if s.Client != nil && s.Client.Timeout > 0 {
		timeout = s.Client.Timeout
	}
	r := &Report{
		URL: opts.URL, URLWarning: productionWarning(opts.URL), EventType: "v2 " + kind,
		NotificationID: fields["nonce_str"], Mode: modeV2, SignTest: opts.SignTest, Resource: resource,
	}
	if r.NotificationID == "" {
		p, _ := wxv2.ParseXML(body, "xml")
		r.NotificationID = p["nonce_str"]
	}
	n := max(opts.Repeat, 1)
	for i := 1; i <= n && ctx.Err() == nil; i++ {
		a := s.deliverXML(ctx, opts.URL, body)
		r.Deliveries = append(r.Deliveries, Delivery{N: i, Attempt: a, Verdict: judgeV2(a, opts.SignTest, timeout)})
	}
	r.OK, r.Summary = summarize(r.Deliveries, n, opts.SignTest)
	return r, nil
}

func orMD5(t string) string {
	if t == "" {
		return wxv2.SignTypeMD5
	}
	return t
}

// deliverXML POSTs a v2 notification: XML, no Wechatpay-* headers.
func (s *Sender) deliverXML(ctx context.Context, url string, body []byte) Attempt {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return Attempt{Failure: failNetwork, Error: err.Error()}
	}
	req.Header.Set("Content-Type", "text/xml")
	req.Header.Set("Accept", "*/*")
	req.Header.Set("User-Agent", "wxpay-trigger (simulating WeChat Pay v2 notify)")
	client := s.Client
	if client == nil {
		client = NewClient(WeChatPayTimeout)
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		a := Attempt{Duration: time.Since(start), Error: err.Error(), Failure: classify(ctx, err)}
		a.DurationMS = ms(a.Duration)
		return a
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	a := Attempt{Status: resp.StatusCode, StatusText: http.StatusText(resp.StatusCode), Duration: time.Since(start), Location: resp.Header.Get("Location")}
	if len(b) > maxBody {
		b, a.BodyTruncated = b[:maxBody], true
	}
	a.Body, a.DurationMS = string(b), ms(a.Duration)
	return a
}

// judgeV2 applies v2's rule — HTTP 200 whose XML body says return_code SUCCESS, within
// the timeout — or, for a forged notification, the inverted one.
func judgeV2(a Attempt, forged bool, timeout time.Duration) Verdict {
	acked := a.Failure == "" && wxv2.Acknowledged(a.Status, []byte(a.Body))
	if forged {
		switch {
		case acked:
			return Verdict{
				Headline: fmt.Sprintf("!!! DANGER: your endpoint ACKNOWLEDGED (HTTP %d, return_code SUCCESS) a v2 notification that was not signed with the APIv2 key !!!", a.Status),
				Cause: "it does not verify sign (payments) or does not decrypt req_info with md5(APIv2 key) (refunds): anyone can post a fake 支付成功. " +
					"Verify sign — MD5 or HMAC-SHA256 over the sorted non-empty fields + \"&key=\" + APIv2 key — and answer FAIL when it does not match (未验证签名：任何人都可以伪造支付成功通知)",
			}
		case a.Failure != "":
			return Verdict{Headline: "inconclusive: the forged notification got no answer", Cause: cause(a, timeout, "")}
		case a.Status == http.StatusNotFound || a.Status == http.StatusMethodNotAllowed || (a.Status >= 300 && a.Status < 400):
			return Verdict{Headline: fmt.Sprintf("inconclusive: HTTP %d — the notification never reached your handler", a.Status),
				Cause: "fix the URL first (run trigger --v2 without --signtest): " + cause(a, timeout, "")}
		default:
			return Verdict{OK: true, Headline: fmt.Sprintf("refused the forged v2 notification (HTTP %d), as a verifying endpoint must", a.Status)}
		}
	}
	if acked {
		v := Verdict{OK: true, Headline: "acknowledged (HTTP 200, return_code SUCCESS): WeChat Pay counts the v2 notification as delivered and stops retrying"}
		if timeout > 0 && a.Duration > timeout/2 {
			v.Warning = fmt.Sprintf("the answer took %s of the %s WeChat Pay waits", a.Duration.Round(time.Millisecond), timeout)
		}
		return v
	}
	v := Verdict{Headline: "NOT acknowledged: WeChat Pay will retry " + retrySchedule + ", then give up"}
	switch {
	case a.Failure != "":
		v.Cause = cause(a, timeout, "")
	case a.Status == http.StatusOK || a.Status == http.StatusNoContent:
		v.Cause = fmt.Sprintf("HTTP %d, but a v2 notification is acknowledged by its body: answer <xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml> with HTTP 200", a.Status)
	case a.Status == http.StatusUnauthorized || a.Status == http.StatusForbidden:
		v.Cause = "the endpoint could not verify it: its APIv2 key (WXPAY_APIV2_KEY) is not the keys dir's apiv2_key — for refunds req_info is decrypted with md5 of that key"
	case a.Status == http.StatusBadRequest:
		v.Cause = "the endpoint rejected it as malformed: v2 notifications are XML (<xml>…</xml>), not JSON — an endpoint that only parses JSON refuses them; its answer or log says more"
	case a.Status >= 500:
		v.Cause = fmt.Sprintf("HTTP %d: the handler failed or is not configured for v2 (no APIv2 key?) — check its answer and log", a.Status)
	default:
		v.Cause = cause(a, timeout, "")
	}
	return v
}

func v2Kind(forged bool) string {
	if forged {
		return "forged (signed/encrypted with a random key, not the APIv2 key) — a correct endpoint must refuse it"
	}
	return "signed/encrypted with the APIv2 key"
}
