package trigger

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/paysls/wxpay/shared/wechatpay"
)

// Failure kinds of an attempt that got no HTTP answer.
const (
	failTimeout     = "timeout"
	failRefused     = "connection_refused"
	failDNS         = "dns"
	failTLS         = "tls"
	failNetwork     = "network"
	failInterrupted = "interrupted"
)

// maxBody is how much of the endpoint's answer is kept for display.
const maxBody = 4 << 10

// Attempt is the outcome of one delivery.
type Attempt struct {
	Status        int           `json:"status,omitempty"`
	StatusText    string        `json:"status_text,omitempty"`
	Duration      time.Duration `json:"-"`
	DurationMS    float64       `json:"duration_ms"`
	Body          string        `json:"body,omitempty"`
	BodyTruncated bool          `json:"body_truncated,omitempty"`
	Location      string        `json:"location,omitempty"` // of a redirect
	Failure       string        `json:"failure,omitempty"`  // one of Fail…, when no HTTP answer
	Error         string        `json:"error,omitempty"`
}

// deliver POSTs body with the signature headers h to url, as WeChat Pay does.
func (s *Sender) deliver(ctx context.Context, url string, body []byte, h wechatpay.SignatureHeaders) Attempt {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return Attempt{Failure: failNetwork, Error: err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "*/*")
	req.Header.Set("User-Agent", "wxpay-trigger (simulating WeChat Pay notify)")
	h.Apply(req.Header)
	client := s.Client
	if client == nil {
		client = NewClient(WeChatPayTimeout)
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		a := Attempt{Duration: time.Since(start), Error: err.Error()}
		a.Failure = classify(ctx, err)
		a.DurationMS = ms(a.Duration)
		return a
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	a := Attempt{
		Status: resp.StatusCode, StatusText: http.StatusText(resp.StatusCode),
		Duration: time.Since(start), Location: resp.Header.Get("Location"),
	}
	if len(b) > maxBody {
		b, a.BodyTruncated = b[:maxBody], true
	}
	a.Body = string(b)
	a.DurationMS = ms(a.Duration)
	return a
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// classify names why a request got no answer; the verdict's advice depends on it.
func classify(ctx context.Context, err error) string {
	if errors.Is(ctx.Err(), context.Canceled) {
		return failInterrupted
	}
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	var recErr tls.RecordHeaderError
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var netErr net.Error
	switch {
	case errors.As(err, &dnsErr):
		return failDNS
	case errors.Is(err, syscall.ECONNREFUSED):
		return failRefused
	case errors.As(err, &certErr), errors.As(err, &recErr), errors.As(err, &unknownCA), errors.As(err, &hostErr):
		return failTLS
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return failTimeout
	default:
		return failNetwork
	}
}

// String is a one-line summary: "200 OK in 12ms" or "timeout after 5s".
func (a Attempt) String() string {
	d := a.Duration.Round(time.Millisecond)
	if a.Failure != "" {
		return fmt.Sprintf("no answer (%s) after %s: %s", a.Failure, d, a.Error)
	}
	return fmt.Sprintf("HTTP %d %s in %s", a.Status, a.StatusText, d)
}
