package wechatpay

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// defaultBaseURL is WeChat Pay's main API domain. api2.mch.weixin.qq.com is the backup
// domain, reaching a different site.
const defaultBaseURL = "https://api.mch.weixin.qq.com"

// userAgent is sent on every request; WeChat Pay asks integrations to identify
// themselves.
const userAgent = "wxpay/1 (+https://github.com/paysls/wxpay)"

// maxResponseBody bounds what an API call reads into memory. APIv3 JSON answers are a
// few KiB; bills, the only large downloads, are streamed by DownloadBill instead.
const maxResponseBody = 4 << 20

// ErrConfig is matched by errors about a Client that cannot work as configured.
var ErrConfig = errors.New("wechatpay: client misconfigured")

// Client calls WeChat Pay APIv3. Every request is signed with Signer and every 2xx
// answer is verified with Verifier before it is decoded. A Client is safe for
// concurrent use; copy it (see ForSub) rather than mutating a shared one.
type Client struct {
	// BaseURL defaults to defaultBaseURL. Tests and the simulator point it elsewhere.
	BaseURL string
	// HTTP defaults to a client with a 30 s timeout; per-call deadlines come from ctx.
	HTTP *http.Client
	// Signer signs requests as the merchant (the service provider in partner mode).
	Signer *Signer
	// Verifier checks WeChat Pay's signature on responses.
	Verifier *Verifier

	// Direct mode (普通商户): MchID and AppID.
	MchID string
	AppID string
	// Partner mode (服务商): SpMchID and SpAppID are the service provider's;
	// SubMchID/SubAppID the sub-merchant's (set per call with ForSub). A non-empty
	// SpMchID selects partner mode.
	SpMchID  string
	SpAppID  string
	SubMchID string
	SubAppID string

	// NotifyURLOptions relaxes the local notify_url check (the simulator delivers to
	// loopback addresses); real WeChat Pay needs the defaults.
	NotifyURLOptions NotifyURLOptions

	// MaxAttempts bounds tries of a retry-safe call, first one included (default 3).
	MaxAttempts int
	// BaseBackoff is the first retry's mean delay, doubling each time (default 200 ms,
	// capped at 5 s), with full jitter so that many functions do not retry in step.
	BaseBackoff time.Duration
	// Sleep waits between retries; tests inject a recorder. It must return early with
	// ctx.Err() when ctx ends.
	Sleep func(ctx context.Context, d time.Duration) error
	// Now is the clock (certificate expiry checks); defaults to time.Now.
	Now func() time.Time
}

// Partner reports whether the client works in partner (服务商) mode.
func (c *Client) Partner() bool { return c.SpMchID != "" }

// ForSub returns a copy of a partner-mode client acting for one sub-merchant.
// subAppID may be empty when the sub-merchant has no appid of its own in the call.
func (c *Client) ForSub(subMchID, subAppID string) *Client {
	cp := *c
	cp.SubMchID, cp.SubAppID = subMchID, subAppID
	return &cp
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return defaultHTTP
}

var defaultHTTP = &http.Client{Timeout: 30 * time.Second}

func (c *Client) baseURL() string {
	if c.BaseURL != "" {
		return strings.TrimRight(c.BaseURL, "/")
	}
	return defaultBaseURL
}

// call is one API call as the client sends it.
type call struct {
	method string
	path   string // absolute path, already escaped
	query  url.Values
	body   any // marshalled to JSON once; nil for no body
	out    any // decoded from a 2xx body; nil to discard
	// serial, when set, is sent as Wechatpay-Serial: required when the body carries
	// RSA-OAEP-encrypted fields, naming the platform key used.
	serial string
	// selfVerified is set only for /v3/certificates, whose signature the
	// CertificateManager checks itself with a certificate from the same answer.
	selfVerified bool
}

// response is a read, not yet verified, answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do performs one API call: marshal once, sign the exact bytes, send, verify the
// answer's signature, decode. Retries happen only for retry-safe calls (see
// retrySafe).
func (c *Client) do(ctx context.Context, method, path string, query url.Values, body, out any) error {
	return c.send(ctx, call{method: method, path: path, query: query, body: body, out: out})
}

func (c *Client) send(ctx context.Context, cl call) error {
	resp, err := c.roundTrip(ctx, cl)
	if err != nil {
		return err
	}
	return c.finish(ctx, cl, resp)
}

// finish verifies and decodes an answer.
func (c *Client) finish(ctx context.Context, cl call, r *response) error {
	if r.status < 200 || r.status > 299 {
		return c.apiError(ctx, r)
	}
	if !cl.selfVerified {
		if err := c.verify(ctx, r); err != nil {
			return fmt.Errorf("wechatpay: %s %s: response rejected: %w", cl.method, cl.path, err)
		}
	}
	if r.status == http.StatusNoContent || cl.out == nil || len(r.body) == 0 {
		return nil
	}
	if err := json.Unmarshal(r.body, cl.out); err != nil {
		return fmt.Errorf("wechatpay: %s %s: decoding the answer: %w", cl.method, cl.path, err)
	}
	return nil
}

func (c *Client) verify(ctx context.Context, r *response) error {
	if c.Verifier == nil {
		return fmt.Errorf("%w: Verifier is nil; every WeChat Pay answer must be verified", ErrConfig)
	}
	return c.Verifier.Verify(ctx, HeadersFrom(r.header), r.body)
}

// apiError decodes a non-2xx answer and records whether it was validly signed. A bad
// or missing signature does not hide WeChat Pay's error code: the code is what the
// operator needs (SIGN_ERROR answers, notably, are often unsigned).
func (c *Client) apiError(ctx context.Context, r *response) error {
	e := decodeAPIError(r.status, r.header, r.body)
	if c.Verifier != nil && r.header.Get(HeaderSignature) != "" {
		e.Verified = c.Verifier.Verify(ctx, HeadersFrom(r.header), r.body) == nil
	}
	return e
}

// roundTrip sends cl, retrying transient failures of retry-safe calls, and returns
// the last answer read in full. Non-2xx answers are returned, not turned into errors,
// so that the caller decides; retry decisions look at their code.
func (c *Client) roundTrip(ctx context.Context, cl call) (*response, error) {
	if !c.Signer.hasKey() {
		return nil, fmt.Errorf("%w: Signer with the merchant private key is required", ErrConfig)
	}
	var payload []byte
	if cl.body != nil {
		var err error
		if payload, err = json.Marshal(cl.body); err != nil {
			return nil, fmt.Errorf("wechatpay: %s %s: encoding the request: %w", cl.method, cl.path, err)
		}
	}
	u, err := url.Parse(c.baseURL() + cl.path)
	if err != nil {
		return nil, fmt.Errorf("%w: bad URL %q: %v", ErrConfig, c.baseURL()+cl.path, err)
	}
	if len(cl.query) > 0 {
		u.RawQuery = cl.query.Encode()
	}
	attempts := 1
	if retrySafe(cl) {
		attempts = c.MaxAttempts
		if attempts <= 0 {
			attempts = 3
		}
	}
	for i := 0; ; i++ {
		r, err := c.attempt(ctx, cl.method, u, payload, cl.serial)
		var retry bool
		switch {
		case err != nil:
			retry = IsRetryable(err)
		case r.status >= 500 || r.status == http.StatusTooManyRequests:
			retry = true
		case r.status >= 400:
			// Some gateways answer SYSTEM_ERROR/FREQUENCY_LIMITED with a 4xx status.
			retry = decodeAPIError(r.status, r.header, r.body).Retryable()
		}
		if !retry || i+1 >= attempts || ctx.Err() != nil {
			return r, err
		}
		if serr := c.sleep(ctx, c.backoff(i)); serr != nil {
			if err == nil {
				return r, nil // give the caller the last real answer, not the cancellation
			}
			return nil, err
		}
	}
}

// retrySafe lists the calls that may be repeated without effect: every GET, and the
// POSTs WeChat Pay deduplicates by a merchant key — prepay by out_trade_no, refund by
// out_refund_no, and close. A new POST must be added here deliberately.
func retrySafe(cl call) bool {
	if cl.method == http.MethodGet {
		return true
	}
	if cl.method != http.MethodPost {
		return false
	}
	p := cl.path
	if retrySafeEcommerce(p) {
		return true
	}
	return strings.HasPrefix(p, "/v3/pay/transactions/") || strings.HasPrefix(p, "/v3/pay/partner/transactions/") ||
		p == "/v3/refund/domestic/refunds" || sharingRetrySafe(p)
}

// attempt sends one signed request and reads the whole answer.
func (c *Client) attempt(ctx context.Context, method string, u *url.URL, payload []byte, serial string) (*response, error) {
	auth, err := c.Signer.Authorization(method, requestTarget(u), payload)
	if err != nil {
		return nil, err
	}
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("wechatpay: building request: %w", err)
	}
	req.Header.Set("Authorization", auth)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if serial != "" {
		req.Header.Set(HeaderSerial, serial)
	}
	resp, err := c.httpClient().Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("wechatpay: %s %s: %w", method, u.Path, ctx.Err())
		}
		return nil, &transportError{fmt.Errorf("%s %s: %w", method, u.Path, err)}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody+1))
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("wechatpay: %s %s: reading the answer: %w", method, u.Path, ctx.Err())
		}
		return nil, &transportError{fmt.Errorf("%s %s: reading the answer: %w", method, u.Path, err)}
	}
	if len(b) > maxResponseBody {
		return nil, fmt.Errorf("wechatpay: %s %s: answer larger than %d bytes", method, u.Path, maxResponseBody)
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

func (c *Client) backoff(retry int) time.Duration {
	base := c.BaseBackoff
	if base <= 0 {
		base = 200 * time.Millisecond
	}
	const maxBackoff = 5 * time.Second
	d := base << retry
	if d > maxBackoff || d <= 0 {
		d = maxBackoff
	}
	// Full jitter in [d/2, d): spreads retries yet keeps a floor so a retry is never
	// immediate.
	return d/2 + rand.N(d/2+1)
}

func (c *Client) sleep(ctx context.Context, d time.Duration) error {
	if c.Sleep != nil {
		return c.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
