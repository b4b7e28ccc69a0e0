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
	envOAuthAuthorizeBase = "WXPAY_OAUTH_AUTHORIZE_BASE" // authorize redirect, default https://open.weixin.qq.com
	EnvPartner            = "WXPAY_PARTNER"              // "1": service-provider / e-commerce mode (MchID/AppID are sp_*)
	EnvSubMchID           = "WXPAY_SUB_MCHID"            // partner mode: default sub_mchid
	envSubAppID           = "WXPAY_SUB_APPID"            // partner mode: default sub_appid
	EnvTrustedProxies     = "TRUSTED_PROXIES"            // CIDRs whose X-Forwarded-For entries are trusted
	EnvAPIv2Key           = "WXPAY_APIV2_KEY"            // APIv2 key: v2 XML notifications (manual refunds)
	envRefundLatePayments = "WXPAY_REFUND_LATE_PAYMENTS" // "1": refund a payment that arrives for a closed order
	envOrderTTL           = "WXPAY_ORDER_TTL"            // default order lifetime (Go duration), default 2h
	envMerchantName       = "WXPAY_MERCHANT_NAME"        // shown on the cashier page
	EnvPublicURL          = "WXPAY_PUBLIC_URL"           // the bundle's public base URL (cashier links, OAuth redirect)
)

// EnvConsoleUsers holds the operator console's users, one `name:pbkdf2-sha256$…` line
// each (`wxpay console passwd NAME` prints one); a secret like the API token: the keys
// dir's console_users file, or the secret store's console_users key, on a deployment.
const EnvConsoleUsers = "WXPAY_CONSOLE_USERS"

// Defaults of the bundle settings.
const (
	DefaultOAuthBase          = "https://api.weixin.qq.com"
	DefaultOAuthAuthorizeBase = "https://open.weixin.qq.com"
	defaultOrderTTL           = 2 * time.Hour
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
	// ConsoleUsers are the operator console's users (EnvConsoleUsers).
	ConsoleUsers Secret
}

// bundleFromLookup reads the bundle settings, recording in c.Sources where each came
// from (its variable, or "default"). Malformed values are errors naming the variable;
// unset ones keep what the keys dir gave, else their defaults. The keys dir's
// identity secrets (APIv2 key, AppSecret) are taken from the environment only when
// identityFromEnv.
func bundleFromLookup(lookup func(string) (string, bool), c *Config, identityFromEnv bool) []error {
	var errs []error
	get := func(env string) string {
		v, _ := lookup(env)
		return strings.TrimSpace(v)
	}
	b := &c.Bundle
	secret := func(dst *Secret, field, env string) {
		if v := get(env); v != "" {
			*dst = NewSecret([]byte(v))
			c.Sources[field] = env
		}
	}
	secret(&b.APIToken, "APIToken", EnvAPIToken)
	secret(&b.WebhookSecret, "WebhookSecret", EnvWebhookSecret)
	secret(&b.ConsoleUsers, "ConsoleUsers", EnvConsoleUsers)
	if identityFromEnv {
		secret(&b.AppSecret, "AppSecret", EnvAppSecret)
		secret(&c.APIv2Key, "APIv2Key", EnvAPIv2Key)
	}
	// text sets a string setting from its variable, else keeps what it has, else def.
	text := func(dst *string, field, env, def string) {
		switch v := get(env); {
		case v != "":
			*dst = v
			c.Sources[field] = env
		case *dst == "" && def != "":
			*dst = def
			c.Sources[field] = sourceDefault
		}
	}
	text(&b.WebhookURL, "WebhookURL", EnvWebhookURL, "")
	text(&b.EventBus, "EventBus", EnvEventBus, "")
	text(&b.OAuthBase, "OAuthBase", EnvOAuthBase, DefaultOAuthBase)
	text(&b.OAuthAuthorizeBase, "OAuthAuthorizeBase", envOAuthAuthorizeBase, DefaultOAuthAuthorizeBase)
	text(&b.SubMchID, "SubMchID", EnvSubMchID, "")
	text(&b.SubAppID, "SubAppID", envSubAppID, "")
	text(&b.MerchantName, "MerchantName", envMerchantName, "")
	text(&b.PublicURL, "PublicURL", EnvPublicURL, "")
	b.PublicURL = strings.TrimRight(b.PublicURL, "/")
	flag := func(field, env string, dst *bool) {
		switch v := strings.ToLower(get(env)); v {
		case "":
			c.Sources[field] = sourceDefault
		case "1", "true", "yes", "on":
			*dst = true
			c.Sources[field] = env
		case "0", "false", "no", "off":
			*dst = false
			c.Sources[field] = env
		default:
			errs = append(errs, fmt.Errorf("config: %s=%q: want 1 or 0", env, v))
		}
	}
	flag("Partner", EnvPartner, &b.Partner)
	flag("RefundLatePayments", envRefundLatePayments, &b.RefundLatePayments)
	if v := get(EnvTrustedProxies); v != "" {
		p, err := ParseTrustedProxies(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("config: %s: %w", EnvTrustedProxies, err))
		}
		b.TrustedProxies = p
		c.Sources["TrustedProxies"] = EnvTrustedProxies
	}
	errs = append(errs, applyMode(lookup, c)...) // mode.go
	if v := get(envOrderTTL); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Minute {
			errs = append(errs, fmt.Errorf("config: %s=%q: want a Go duration of at least 1m, e.g. 2h", envOrderTTL, v))
		} else {
			b.OrderTTL = d
			c.Sources["OrderTTL"] = envOrderTTL
		}
	}
	if b.OrderTTL == 0 {
		b.OrderTTL = defaultOrderTTL
	}
	if _, ok := c.Sources["OrderTTL"]; !ok {
		c.Sources["OrderTTL"] = sourceDefault
	}
	return errs
}

// sourceDefault is the source of a setting nothing set.
const sourceDefault = "default"

// setting is one setting in force, for a start-up banner: its variable, its value as
// it may be printed (a secret only says whether it is set), and where it came from.
type setting struct {
	Name   string // the environment variable that sets it
	Value  string
	Source string // the variable itself, "default", "keys dir …", a flag, …
}

// Settings lists the settings in force (not the WeChat Pay identity), in a fixed
// order, each with its source. Unset optional settings are listed as "(unset)".
func (c Config) Settings() []setting {
	b := c.Bundle
	onOff := func(v bool) string {
		if v {
			return "on"
		}
		return "off"
	}
	secret := func(s Secret) string {
		if s.IsZero() {
			return "(unset)"
		}
		return "(set, " + fmt.Sprint(s.Len()) + " bytes)"
	}
	orUnset := func(v string) string {
		if v == "" {
			return "(unset)"
		}
		return v
	}
	proxies := make([]string, len(b.TrustedProxies))
	for i, p := range b.TrustedProxies {
		proxies[i] = p.String()
	}
	rows := []struct{ field, env, value string }{
		{"NotifyURL", EnvNotifyURL, orUnset(c.NotifyURL)},
		{"APIBase", EnvAPIBase, c.APIBase},
		{"APIToken", EnvAPIToken, secret(b.APIToken)},
		{"WebhookURL", EnvWebhookURL, orUnset(b.WebhookURL)},
		{"WebhookSecret", EnvWebhookSecret, secret(b.WebhookSecret)},
		{"EventBus", EnvEventBus, orUnset(b.EventBus)},
		{"Partner", EnvPartner, onOff(b.Partner)},
		{"Mode", EnvMode, string(b.ModeName())},
		{"RefundAdvance", envRefundAdvance, onOff(b.RefundAdvance)},
		{"SubMchID", EnvSubMchID, orUnset(b.SubMchID)},
		{"SubAppID", envSubAppID, orUnset(b.SubAppID)},
		{"TrustedProxies", EnvTrustedProxies, orUnset(strings.Join(proxies, ","))},
		{"OrderTTL", envOrderTTL, b.OrderTTL.String()},
		{"RefundLatePayments", envRefundLatePayments, onOff(b.RefundLatePayments)},
		{"PublicURL", EnvPublicURL, orUnset(b.PublicURL)},
		{"MerchantName", envMerchantName, orUnset(b.MerchantName)},
		{"OAuthBase", EnvOAuthBase, b.OAuthBase},
		{"OAuthAuthorizeBase", envOAuthAuthorizeBase, b.OAuthAuthorizeBase},
		{"AppSecret", EnvAppSecret, secret(b.AppSecret)},
		{"ConsoleUsers", EnvConsoleUsers, secret(b.ConsoleUsers)},
	}
	out := make([]setting, 0, len(rows))
	for _, r := range rows {
		src, ok := c.Sources[r.field]
		switch {
		case !ok && strings.HasPrefix(r.value, "(unset)"):
			src = "-"
		case !ok:
			src = sourceDefault
		case src == r.env:
			src = "environment"
		}
		out = append(out, setting{Name: r.env, Value: r.value, Source: src})
	}
	return out
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
