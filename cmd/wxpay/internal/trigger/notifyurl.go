package trigger

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"

	"github.com/paysls/wxpay/shared/wechatpay"
)

// NotifyURLIssues names every notify_url rule raw breaks, numbered, or "" when WeChat
// Pay would accept it: doctor fails on it, trigger only warns.
func NotifyURLIssues(raw string) string {
	return numbered(notifyURLIssues(raw))
}

// notifyURLIssues lists every notify_url rule raw breaks, not just the first.
// wechatpay.ValidateNotifyURL stops at the first problem (right for an API error); a
// checklist should show them all, so after each issue the URL is repaired in exactly
// that respect and validated again. The repairs follow the validator's order.
func notifyURLIssues(raw string) []string {
	var issues []string
	seen := map[string]bool{}
	cur := raw
	for range 10 {
		err := wechatpay.ValidateNotifyURL(cur, wechatpay.NotifyURLOptions{})
		if err == nil {
			break
		}
		issue := err.Error()
		var ve *wechatpay.ValidationError
		if errors.As(err, &ve) {
			issue = ve.Issue
		}
		if !seen[issue] {
			seen[issue] = true
			issues = append(issues, issue)
		}
		next := repairOnce(cur)
		if next == cur {
			break
		}
		cur = next
	}
	return issues
}

var slashes = regexp.MustCompile(`/{2,}`)

// repairOnce fixes the first broken rule of raw, in ValidateNotifyURL's order. Hosts
// that are IPs or not public are swapped for a placeholder so later rules can be seen.
func repairOnce(raw string) string {
	if strings.ContainsAny(raw, " \t\r\n") {
		return strings.Join(strings.Fields(raw), "")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	host := u.Hostname()
	switch {
	case u.Scheme != "https":
		u.Scheme = "https"
	case u.User != nil:
		u.User = nil
	case host == "" || net.ParseIP(host) != nil:
		u.Host = "notify.example.com" + portSuffix(u)
	case u.Port() != "":
		u.Host = host
	case !strings.Contains(host, ".") || host == "localhost" || strings.HasSuffix(host, ".local") || strings.HasSuffix(host, ".internal") || strings.HasSuffix(host, ".localhost"):
		u.Host = "notify.example.com"
	case u.RawQuery != "" || u.ForceQuery:
		u.RawQuery, u.ForceQuery = "", false
	case u.Fragment != "":
		u.Fragment, u.RawFragment = "", ""
	default:
		u.Path = slashes.ReplaceAllString(u.Path, "/")
		u.RawPath = ""
	}
	return u.String()
}

// numbered joins issues as "(1) … (2) …": the issues themselves contain semicolons.
func numbered(issues []string) string {
	if len(issues) <= 1 {
		return strings.Join(issues, "")
	}
	var b strings.Builder
	for i, s := range issues {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "(%d) %s", i+1, s)
	}
	return b.String()
}

func portSuffix(u *url.URL) string {
	if p := u.Port(); p != "" {
		return ":" + p
	}
	return ""
}
