package wechatpay

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"unicode/utf8"
)

// ValidationError says which field is wrong and how to fix it. Field is the JSON name
// WeChat Pay uses, so the simulator can put it in a PARAM_ERROR detail.
type ValidationError struct {
	Field string
	Issue string
}

func (e *ValidationError) Error() string { return e.Field + ": " + e.Issue }

// ErrInvalid is matched by every *ValidationError.
var ErrInvalid = errors.New("wechatpay: invalid parameter")

// Is makes errors.Is(err, ErrInvalid) true.
func (e *ValidationError) Is(t error) bool { return t == ErrInvalid }

func invalid(field, format string, a ...any) error {
	return &ValidationError{Field: field, Issue: fmt.Sprintf(format, a...)}
}

// NotifyURLOptions relaxes ValidateNotifyURL for local testing.
type NotifyURLOptions struct {
	// AllowLoopback accepts http:// URLs to 127.0.0.1, ::1 and localhost with any port,
	// so the simulator can deliver to a local endpoint. Real WeChat Pay never does.
	AllowLoopback bool
}

// ValidateNotifyURL applies WeChat Pay's notify_url rules, each with a message that says
// what to change: https only, a public domain (not an IP), no port, no query string or
// fragment, no whitespace, no empty path segment ("//"), at most 255 characters. Most
// "the callback never arrives" reports are one of these.
func ValidateNotifyURL(raw string, opt NotifyURLOptions) error {
	const f = "notify_url"
	if raw == "" {
		return invalid(f, "is empty; it must be the https URL of your notify endpoint")
	}
	if len(raw) > 255 {
		return invalid(f, "is %d characters; WeChat Pay accepts at most 255", len(raw))
	}
	if strings.TrimSpace(raw) != raw || strings.ContainsAny(raw, " \t\r\n") {
		return invalid(f, "contains whitespace (%q); remove it — a trailing space or newline from a config file is the usual cause", raw)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return invalid(f, "is not a URL: %v", err)
	}
	host := u.Hostname()
	loopback := host == "localhost" || (net.ParseIP(host) != nil && net.ParseIP(host).IsLoopback())
	if opt.AllowLoopback && loopback && (u.Scheme == "http" || u.Scheme == "https") {
		return checkPathAndQuery(u)
	}
	switch u.Scheme {
	case "https":
	case "http":
		return invalid(f, "uses http; WeChat Pay requires https:// with a valid certificate")
	default:
		return invalid(f, "must start with https:// (got scheme %q)", u.Scheme)
	}
	if host == "" {
		return invalid(f, "has no host")
	}
	if u.User != nil {
		return invalid(f, "must not carry user:password@")
	}
	if net.ParseIP(host) != nil {
		return invalid(f, "uses the IP address %s; WeChat Pay requires a public domain name resolving to your server", host)
	}
	if u.Port() != "" {
		return invalid(f, "has port %s; notify_url must not carry a port — serve it on 443 behind your domain", u.Port())
	}
	if !strings.Contains(host, ".") || host == "localhost" || strings.HasSuffix(host, ".local") || strings.HasSuffix(host, ".internal") || strings.HasSuffix(host, ".localhost") {
		return invalid(f, "host %q is not a public domain name; WeChat Pay's servers must resolve and reach it from the Internet", host)
	}
	return checkPathAndQuery(u)
}

func checkPathAndQuery(u *url.URL) error {
	const f = "notify_url"
	if u.RawQuery != "" || u.ForceQuery {
		return invalid(f, "has a query string (?%s); WeChat Pay forbids parameters in notify_url — put the information in the path or in attach", u.RawQuery)
	}
	if u.Fragment != "" || strings.Contains(u.String(), "#") {
		return invalid(f, "has a fragment (#…); remove it")
	}
	if strings.Contains(u.EscapedPath(), "//") {
		return invalid(f, "path %q contains an empty segment (//); WeChat Pay posts to exactly this path, so your router will not match it", u.EscapedPath())
	}
	return nil
}

// ValidateOutTradeNo checks a merchant order number (out_trade_no): 6 to 32 characters
// of digits, letters and _-*|. The same rule holds for out_refund_no (at most 64).
func ValidateOutTradeNo(field, s string, max int) error {
	if len(s) < 6 || len(s) > max {
		return invalid(field, "must be 6 to %d characters, got %d", max, len(s))
	}
	// Read as characters, not bytes: the refusal names what was sent ('订', not the
	// first byte of its UTF-8 shown as 'è'), at its position among the characters.
	i := 0
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '-' || c == '*' || c == '|') {
			return invalid(field, "may contain only digits, letters and _-*|; found %q at position %d", c, i)
		}
		i++
	}
	return nil
}

// ValidateAmount checks an order amount in fen: a positive integer.
func ValidateAmount(field string, fen int64) error {
	if fen <= 0 {
		return invalid(field, "must be a positive whole number of fen (分), got %d", fen)
	}
	if fen > MaxAmount {
		return invalid(field, "%d fen is more than WeChat Pay's amounts hold: at most %d fen", fen, MaxAmount)
	}
	return nil
}

// MaxAmount is the largest amount in fen WeChat Pay takes: amount.total is an int
// (32-bit) in its APIv3 order APIs (JSAPI下单: "总金额 total int 订单总金额，单位为分",
// https://pay.weixin.qq.com/wiki/doc/apiv3/apis/chapter3_1_1.shtml; the official
// Java SDK's Amount.total is an Integer), so 2,147,483,647 fen (¥21,474,836.47).
const MaxAmount = 1<<31 - 1

// ValidateDescription checks an order description: 1 to 127 characters.
func ValidateDescription(s string) error {
	if s == "" {
		return invalid("description", "is required")
	}
	if n := utf8.RuneCountInString(s); n > 127 {
		return invalid("description", "is %d characters; at most 127", n)
	}
	return nil
}
