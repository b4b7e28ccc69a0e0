package config

import (
	"fmt"
	"strings"
)

// EnvMode picks which kind of WeChat Pay merchant the deployment is.
const EnvMode = "WXPAY_MODE"

// envRefundAdvance asks, in ecommerce mode, that refunds be advanced by the platform.
const envRefundAdvance = "WXPAY_REFUND_ADVANCE"

// Mode is the kind of WeChat Pay merchant the deployment is (WXPAY_MODE):
//
//   - direct: an ordinary merchant (普通商户): /v3/pay/transactions/*, /v3/refund/domestic/refunds.
//   - partner: a service provider (服务商) acting for sub-merchants (特约商户): MchID/AppID
//     are sp_mchid/sp_appid, every order names a sub_mchid; /v3/pay/partner/transactions/*,
//     refunds through /v3/refund/domestic/refunds with sub_mchid.
//   - ecommerce: a platform (电商收付通 平台商户) selling for its sub-merchants (二级商户):
//     single orders as in partner mode ("普通支付" of 电商收付通 uses
//     /v3/pay/partner/transactions/*), refunds through the e-commerce refund API
//     (/v3/ecommerce/refunds/apply, its queries, the same REFUND.* notifications and the
//     return of an advance), and combine orders (合单) of up to 50 sub-orders.
//
// WXPAY_PARTNER=1 without WXPAY_MODE is partner mode, as before.
type Mode string

// Modes.
const (
	modeDirect    Mode = "direct"
	ModePartner   Mode = "partner"
	ModeEcommerce Mode = "ecommerce"
)

// parseMode reads a WXPAY_MODE value.
func parseMode(s string) (Mode, error) {
	switch m := Mode(strings.ToLower(strings.TrimSpace(s))); m {
	case modeDirect, ModePartner, ModeEcommerce:
		return m, nil
	}
	return "", fmt.Errorf("config: %s=%q: want direct, partner or ecommerce", EnvMode, s)
}

// Ecommerce reports whether the deployment is an e-commerce platform (电商收付通).
func (b Bundle) Ecommerce() bool { return b.Mode == ModeEcommerce }

// ModeName is the mode in force: Mode, else what WXPAY_PARTNER says.
func (b Bundle) ModeName() Mode {
	switch {
	case b.Mode != "":
		return b.Mode
	case b.Partner:
		return ModePartner
	}
	return modeDirect
}

// applyMode reads WXPAY_MODE and WXPAY_REFUND_ADVANCE into c.Bundle. Partner follows the
// mode: partner and ecommerce deployments act for sub-merchants (sp_mchid, sp_appid);
// WXPAY_MODE=direct with WXPAY_PARTNER=1 contradicts itself and is refused. Calling it
// again with the same environment changes nothing.
func applyMode(lookup func(string) (string, bool), c *Config) []error {
	get := func(env string) string {
		v, _ := lookup(env)
		return strings.TrimSpace(v)
	}
	b := &c.Bundle
	var errs []error
	if v := get(EnvMode); v != "" {
		m, err := parseMode(v)
		if err != nil {
			return []error{err}
		}
		if m == modeDirect && b.Partner {
			return []error{fmt.Errorf("config: %s=direct contradicts %s=1: a service provider is partner (or ecommerce) mode", EnvMode, EnvPartner)}
		}
		b.Mode = m
		if c.Sources != nil {
			c.Sources["Mode"] = EnvMode
		}
	}
	b.Mode = b.ModeName()
	b.Partner = b.Mode != modeDirect
	switch v := strings.ToLower(get(envRefundAdvance)); v {
	case "":
	case "1", "true", "yes", "on":
		if b.Mode != ModeEcommerce {
			errs = append(errs, fmt.Errorf("config: %s=1 needs %s=ecommerce: only a platform's e-commerce refunds can be advanced (垫付)", envRefundAdvance, EnvMode))
		}
		b.RefundAdvance = true
		if c.Sources != nil {
			c.Sources["RefundAdvance"] = envRefundAdvance
		}
	case "0", "false", "no", "off":
		b.RefundAdvance = false
	default:
		errs = append(errs, fmt.Errorf("config: %s=%q: want 1 or 0", envRefundAdvance, v))
	}
	return errs
}
