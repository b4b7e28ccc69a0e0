package wechatpay

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateNotifyURL(t *testing.T) {
	long := "https://pay.example.com/" + strings.Repeat("a", 255-len("https://pay.example.com/"))
	cases := []struct {
		name     string
		url      string
		loopback bool
		wantMsg  string // "" means valid
	}{
		{"valid", "https://pay.example.com/wxpay/notify", false, ""},
		{"valid root", "https://pay.example.com", false, ""},
		{"valid 255 chars", long, false, ""},
		{"256 chars", long + "a", false, "at most 255"},
		{"empty", "", false, "is empty"},
		{"http", "http://pay.example.com/notify", false, "uses http"},
		{"other scheme", "ftp://pay.example.com/notify", false, "https://"},
		{"no scheme", "pay.example.com/notify", false, "https://"},
		{"IPv4", "https://203.0.113.7/notify", false, "IP address"},
		{"IPv6", "https://[2001:db8::1]/notify", false, "IP address"},
		{"port", "https://pay.example.com:8443/notify", false, "port 8443"},
		{"explicit 443 port", "https://pay.example.com:443/notify", false, "port 443"},
		{"query", "https://pay.example.com/notify?order=1", false, "query string"},
		{"empty query", "https://pay.example.com/notify?", false, "query string"},
		{"fragment", "https://pay.example.com/notify#x", false, "fragment"},
		{"trailing space", "https://pay.example.com/notify ", false, "whitespace"},
		{"trailing newline", "https://pay.example.com/notify\n", false, "whitespace"},
		{"inner space", "https://pay.example.com/no tify", false, "whitespace"},
		{"tab", "https://pay.example.com/\tnotify", false, "whitespace"},
		{"double slash", "https://pay.example.com//notify", false, "empty segment"},
		{"double slash inside", "https://pay.example.com/wx//notify", false, "empty segment"},
		{"userinfo", "https://u:p@pay.example.com/notify", false, "user:password"},
		{"no host", "https:///notify", false, "no host"},
		{"single label", "https://payserver/notify", false, "not a public domain"},
		{"localhost without option", "https://localhost/notify", false, "not a public domain"},
		{"loopback IP without option", "http://127.0.0.1:8080/notify", false, "uses http"},
		{".internal", "https://pay.corp.internal/notify", false, "not a public domain"},
		{"loopback with option", "http://127.0.0.1:8080/notify", true, ""},
		{"localhost with option", "http://localhost:9000/wxpay/notify", true, ""},
		{"IPv6 loopback with option", "http://[::1]:9000/notify", true, ""},
		{"loopback with option still no query", "http://127.0.0.1:8080/notify?x=1", true, "query string"},
		{"loopback with option still no //", "http://127.0.0.1:8080//notify", true, "empty segment"},
		{"option does not allow private IPs", "http://10.0.0.5:8080/notify", true, "uses http"},
		{"option does not allow public IPs", "https://203.0.113.7/notify", true, "IP address"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := ValidateNotifyURL(c.url, NotifyURLOptions{AllowLoopback: c.loopback})
			if c.wantMsg == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted %q, want error mentioning %q", c.url, c.wantMsg)
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Field != "notify_url" || !errors.Is(err, ErrInvalid) {
				t.Fatalf("want *ValidationError for notify_url, got %#v", err)
			}
			if !strings.Contains(err.Error(), c.wantMsg) {
				t.Fatalf("error %q does not mention %q", err, c.wantMsg)
			}
		})
	}
}

func TestValidateOutTradeNo(t *testing.T) {
	for _, c := range []struct {
		in  string
		max int
		ok  bool
	}{
		{"123456", 32, true},
		{"12345", 32, false},
		{strings.Repeat("a", 32), 32, true},
		{strings.Repeat("a", 33), 32, false},
		{strings.Repeat("a", 64), 64, true},
		{"Ab_-*|09", 32, true},
		{"order#1234", 32, false},
		{"order 1234", 32, false},
		{"订单123456", 32, false},
		{"order.1234", 32, false},
		{"", 32, false},
	} {
		err := ValidateOutTradeNo("out_trade_no", c.in, c.max)
		if (err == nil) != c.ok {
			t.Errorf("ValidateOutTradeNo(%q, %d) = %v, want ok=%v", c.in, c.max, err, c.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: not ErrInvalid", c.in)
		}
	}
	err := ValidateOutTradeNo("out_refund_no", "ab#defg", 64)
	if err == nil || !strings.Contains(err.Error(), "out_refund_no") || !strings.Contains(err.Error(), "position 2") {
		t.Fatalf("message should name the field and position: %v", err)
	}
	// A character outside ASCII is named as sent, at its character position.
	err = ValidateOutTradeNo("out_refund_no", "RF订单123", 64)
	if err == nil || !strings.Contains(err.Error(), `'订'`) || !strings.Contains(err.Error(), "position 2") {
		t.Fatalf("message should name the character sent and its position: %v", err)
	}
}

func TestValidateAmountAndDescription(t *testing.T) {
	if ValidateAmount("amount.total", 1) != nil || ValidateAmount("amount.total", 0) == nil || ValidateAmount("amount.total", -5) == nil {
		t.Fatal("amount")
	}
	if ValidateDescription("") == nil || ValidateDescription(strings.Repeat("商", 127)) != nil || ValidateDescription(strings.Repeat("商", 128)) == nil {
		t.Fatal("description")
	}
}
