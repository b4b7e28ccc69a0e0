package trigger

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strings"
)

// Options is one `wxpay trigger` run.
type Options struct {
	URL      string
	Event    Event
	Repeat   int  // deliveries of the same notification; 0 means 1
	SignTest bool // send WECHATPAY/SIGNTEST/ probes instead of genuine signatures
}

// Delivery is one numbered attempt and its verdict.
type Delivery struct {
	N       int     `json:"n"`
	Attempt Attempt `json:"attempt"`
	Verdict Verdict `json:"verdict"`
}

// Report is everything trigger learned; it prints as text or JSON.
type Report struct {
	URL            string          `json:"url"`
	URLWarning     string          `json:"url_warning,omitempty"`
	EventType      string          `json:"event_type"`
	NotificationID string          `json:"notification_id"`
	Mode           string          `json:"mode"`
	Serial         string          `json:"wechatpay_serial"`
	SignTest       bool            `json:"signtest,omitempty"`
	Resource       json.RawMessage `json:"resource"` // the plaintext the endpoint should decrypt
	Deliveries     []Delivery      `json:"deliveries"`
	OK             bool            `json:"ok"`
	Summary        string          `json:"summary"`
}

// ValidateTargetURL accepts any absolute http(s) URL: trigger is for local endpoints
// too, so WeChat Pay's stricter notify_url rules only produce a warning.
func ValidateTargetURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("--url: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--url %q: want an absolute http:// or https:// URL", raw)
	}
	return nil
}

// productionWarning says which notify_url rules WeChat Pay would reject raw for, or "".
func productionWarning(raw string) string {
	if issues := NotifyURLIssues(raw); issues != "" {
		return "WeChat Pay would reject this as notify_url in production: " + issues
	}
	return ""
}

// Trigger builds one notification and delivers it opts.Repeat times, re-signing each
// time (WeChat Pay's retries carry the same body with a fresh timestamp and nonce).
func (s *Sender) Trigger(ctx context.Context, opts Options) (*Report, error) {
	if err := ValidateTargetURL(opts.URL); err != nil {
		return nil, err
	}
	msg, err := s.build(opts.Event)
	if err != nil {
		return nil, err
	}
	n := max(opts.Repeat, 1)
	timeout := WeChatPayTimeout
	if s.Client != nil && s.Client.Timeout > 0 {
		timeout = s.Client.Timeout
	}
	r := &Report{
		URL: opts.URL, URLWarning: productionWarning(opts.URL), EventType: opts.Event.Type,
		NotificationID: msg.Envelope.ID, Mode: s.mode, Serial: s.signer.Serial,
		SignTest: opts.SignTest, Resource: msg.Plaintext,
	}
	for i := 1; i <= n; i++ {
		if ctx.Err() != nil {
			break
		}
		h, err := s.sign(msg.Body, opts.SignTest)
		if err != nil {
			return nil, err
		}
		a := s.deliver(ctx, opts.URL, msg.Body, h)
		r.Deliveries = append(r.Deliveries, Delivery{N: i, Attempt: a, Verdict: judge(a, opts.SignTest, timeout, s.signer.Serial)})
	}
	r.OK, r.Summary = summarize(r.Deliveries, n, opts.SignTest)
	return r, nil
}

func summarize(ds []Delivery, want int, signTest bool) (bool, string) {
	if len(ds) < want {
		return false, fmt.Sprintf("interrupted after %d of %d deliveries", len(ds), want)
	}
	bad := 0
	for _, d := range ds {
		if !d.Verdict.OK {
			bad++
		}
	}
	switch {
	case bad == 0 && signTest:
		return true, "the endpoint verifies signatures: every forged probe was refused"
	case bad == 0 && want > 1:
		return true, fmt.Sprintf("all %d deliveries of the same notification were acknowledged; now check that the payment was recorded once and side effects (shipping, messages) happened once", want)
	case bad == 0:
		return true, "the endpoint acknowledges this notification correctly"
	case !signTest && want > 1 && ds[0].Verdict.OK:
		// The first delivery worked and a duplicate did not: the classic "already
		// processed → error" handler, which makes WeChat Pay retry for a day.
		return false, fmt.Sprintf("%d of %d deliveries were not acknowledged although the first was: a duplicate must also be answered 200/204 (如果已处理过，直接返回成功), or WeChat Pay keeps retrying", bad, want)
	default:
		return false, fmt.Sprintf("%d of %d deliveries failed the check", bad, want)
	}
}

// WriteText prints the report for a terminal.
func (r *Report) WriteText(w io.Writer) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format+"\n", a...) }
	if r.URLWarning != "" {
		p("warning: %s (fine for local testing)", r.URLWarning)
	}
	kind := "genuine signature"
	if r.SignTest {
		kind = "forged WECHATPAY/SIGNTEST/ signature — a correct endpoint must refuse it"
	}
	p("POST %s", r.URL)
	if r.Mode == modeV2 {
		p("  %s, nonce_str %s, %s", r.EventType, r.NotificationID, v2Kind(r.SignTest))
	} else {
		p("  event %s, id %s, %s mode, Wechatpay-Serial %s, %s", r.EventType, r.NotificationID, r.Mode, r.Serial, kind)
	}
	p("  resource (decrypted): %s", r.Resource)
	for _, d := range r.Deliveries {
		prefix := ""
		if len(r.Deliveries) > 1 {
			prefix = fmt.Sprintf("#%d ", d.N)
		}
		p("%s← %s", prefix, d.Attempt)
		if d.Attempt.Failure == "" {
			body := strings.TrimSpace(d.Attempt.Body)
			if body == "" {
				body = "(empty)"
			}
			if d.Attempt.BodyTruncated {
				body += " …(truncated)"
			}
			p("  body: %s", body)
		}
		mark := "✔"
		if !d.Verdict.OK {
			mark = "✘"
		}
		p("  VERDICT %s %s", mark, d.Verdict.Headline)
		if d.Verdict.Cause != "" {
			p("  likely cause: %s", d.Verdict.Cause)
		}
		if d.Verdict.Warning != "" {
			p("  warning: %s", d.Verdict.Warning)
		}
	}
	mark := "✔"
	if !r.OK {
		mark = "✘"
	}
	p("%s %s", mark, r.Summary)
}
