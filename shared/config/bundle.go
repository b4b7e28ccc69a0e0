package config

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Environment variables of the bundle itself (not of WeChat Pay): the order API, merchant
// events, OAuth and operations. Secrets among them are Secret values.
const (
	EnvAPIToken           = "WXPAY_API_TOKEN"            // bearer token of the bundle's own API (/orders, /events, /jobs)
	EnvWebhookURL         = "WXPAY_WEBHOOK_URL"          // where merchant events are POSTed
	EnvWebhookSecret      = "WXPAY_WEBHOOK_SECRET"       // HMAC-SHA256 key of Wxpay-Signature
	EnvEventBus           = "WXPAY_EVENT_BUS"            // AWS: EventBridge bus name, an alternative sink
	EnvAppSecret          = "WXPAY_APP_SECRET"           // AppSecret of the official account, for OAuth snsapi_base
	EnvOAuthBase          = "WXPAY_OAUTH_BASE"           // code exchange, default https://api.weixin.qq.com
	EnvOAuthAuthorizeBase = "WXPAY_OAUTH_AUTHORIZE_BASE" // authorize redirect, default https://open.weixin.qq.com
	EnvPartner            = "WXPAY_PARTNER"              // "1": service-provider / e-commerce mode (MchID/AppID are sp_*)
	EnvSubMchID           = "WXPAY_SUB_MCHID"            // partner mode: default sub_mchid
	EnvSubAppID           = "WXPAY_SUB_APPID"            // partner mode: default sub_appid
	EnvTrustedProxies     = "TRUSTED_PROXIES"            // CIDRs whose X-Forwarded-For entries are trusted
	EnvAPIv2Key           = "WXPAY_APIV2_KEY"            // APIv2 key: v2 XML notifications (manual refunds)
	EnvRefundLatePayments = "WXPAY_REFUND_LATE_PAYMENTS" // "1": refund a payment that arrives for a closed order
	EnvOrderTTL           = "WXPAY_ORDER_TTL"            // default order lifetime (Go duration), default 2h
	EnvMerchantName       = "WXPAY_MERCHANT_NAME"        // shown on the cashier page
	EnvPublicURL          = "WXPAY_PUBLIC_URL"           // the bundle's public base URL (cashier links, OAuth redirect)
)

// Defaults of the bundle settings.
const (
	DefaultOAuthBase          = "https://api.weixin.qq.com"
	DefaultOAuthAuthorizeBase = "https://open.weixin.qq.com"
	DefaultOrderTTL           = 2 * time.Hour
)

// Bundle is the configuration of the bundle's own features, read beside the merchant
// configuration by FromEnv and FromKeysDir (Config.Bundle).
type Bundle struct {
	APIToken           Secret
	WebhookURL         string
	WebhookSecret      Secret
	EventBus           string
	AppSecret          Secret
	OAuthBase          string
	OAuthAuthorizeBase string
	Partner            bool
	// Mode is WXPAY_MODE (mode.go); Partner follows it.
	Mode Mode
	// RefundAdvance: e-commerce refunds are advanced by the platform (mode.go).
	RefundAdvance      bool
	SubMchID           string
	SubAppID           string
	TrustedProxies     []netip.Prefix
	RefundLatePayments bool
	OrderTTL           time.Duration
	MerchantName       string
	PublicURL          string
}

// bundleFromLookup reads the bundle settings. Malformed values are errors naming the
// variable; unset ones take their defaults.
func bundleFromLookup(lookup func(string) (string, bool), c *Config) []error {
	var errs []error
	get := func(env string) string {
		v, _ := lookup(env)
		return strings.TrimSpace(v)
	}
	b := &c.Bundle
	if v, ok := lookup(EnvAPIToken); ok && strings.TrimSpace(v) != "" {
		b.APIToken = NewSecret([]byte(strings.TrimSpace(v)))
		c.Sources["APIToken"] = EnvAPIToken
	}
	if v, ok := lookup(EnvWebhookSecret); ok && strings.TrimSpace(v) != "" {
		b.WebhookSecret = NewSecret([]byte(strings.TrimSpace(v)))
		c.Sources["WebhookSecret"] = EnvWebhookSecret
	}
	if v, ok := lookup(EnvAppSecret); ok && strings.TrimSpace(v) != "" {
		b.AppSecret = NewSecret([]byte(strings.TrimSpace(v)))
		c.Sources["AppSecret"] = EnvAppSecret
	}
	if v, ok := lookup(EnvAPIv2Key); ok && strings.TrimSpace(v) != "" {
		c.APIv2Key = NewSecret([]byte(strings.TrimSpace(v)))
		c.Sources["APIv2Key"] = EnvAPIv2Key
	}
	if v := get(EnvWebhookURL); v != "" {
		b.WebhookURL = v
	}
	b.EventBus = or(get(EnvEventBus), b.EventBus)
	b.OAuthBase = or(get(EnvOAuthBase), or(b.OAuthBase, DefaultOAuthBase))
	b.OAuthAuthorizeBase = or(get(EnvOAuthAuthorizeBase), or(b.OAuthAuthorizeBase, DefaultOAuthAuthorizeBase))
	b.SubMchID = or(get(EnvSubMchID), b.SubMchID)
	b.SubAppID = or(get(EnvSubAppID), b.SubAppID)
	b.MerchantName = or(get(EnvMerchantName), b.MerchantName)
	b.PublicURL = strings.TrimRight(or(get(EnvPublicURL), b.PublicURL), "/")
	flag := func(env string, dst *bool) {
		switch v := strings.ToLower(get(env)); v {
		case "":
		case "1", "true", "yes", "on":
			*dst = true
		case "0", "false", "no", "off":
			*dst = false
		default:
			errs = append(errs, fmt.Errorf("config: %s=%q: want 1 or 0", env, v))
		}
	}
	flag(EnvPartner, &b.Partner)
	flag(EnvRefundLatePayments, &b.RefundLatePayments)
	if v := get(EnvTrustedProxies); v != "" {
		p, err := ParseTrustedProxies(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("config: %s: %w", EnvTrustedProxies, err))
		}
		b.TrustedProxies = p
	}
	errs = append(errs, ApplyMode(lookup, c)...) // mode.go
	if v := get(EnvOrderTTL); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Minute {
			errs = append(errs, fmt.Errorf("config: %s=%q: want a Go duration of at least 1m, e.g. 2h", EnvOrderTTL, v))
		} else {
			b.OrderTTL = d
		}
	}
	if b.OrderTTL == 0 {
		b.OrderTTL = DefaultOrderTTL
	}
	return errs
}

// ParseTrustedProxies parses a comma-separated list of CIDRs or single addresses.
func ParseTrustedProxies(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !strings.Contains(f, "/") {
			a, err := netip.ParseAddr(f)
			if err != nil {
				return nil, fmt.Errorf("%q is neither a CIDR nor an IP address", f)
			}
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR: %v", f, err)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
