package main

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/paysls/wxpay/functions/createorder"
	"github.com/paysls/wxpay/shared/config"
)

// mountOrders mounts the order API (createorder) on the bundle's mux. It needs the
// address serve listens on: with the simulator, notify_url is base + "/notify" and
// WeChat Pay's API is the simulator at base, so an order placed through /orders is
// paid through /sim/orders/{out_trade_no}/pay and notified to /notify on one port.
// The bearer token is <keys-dir>/api_token. In live mode the configuration comes from
// the environment; without WXPAY_API_TOKEN and WXPAY_NOTIFY_URL the order API is left
// out (with a warning) rather than stopping notify.
func (b *bundle) mountOrders(base string, log *slog.Logger) error {
	cfg := b.cfg
	if b.sim != nil {
		cfg.NotifyURL = strings.TrimRight(base, "/") + "/notify"
		cfg.APIBase = base
		if b.token != "" {
			cfg.Bundle.APIToken = config.NewSecret([]byte(b.token))
		}
	}
	h, err := createorder.New(cfg, b.store, createorder.Options{Logger: log.With("function", "createorder"), Simulator: b.sim != nil})
	if err != nil {
		if b.sim == nil {
			log.Warn("order API not mounted", "error", err.Error())
			return nil
		}
		return fmt.Errorf("serve: %w", err)
	}
	b.mux.Handle("/orders", h)
	b.mux.Handle("/orders/", h)
	b.mux.Handle("/oauth/openid", h)
	b.routes = append(b.routes, "POST /orders, GET /orders/{order_id}, POST /orders/{order_id}/close, POST /orders/{order_id}/refunds, GET /orders/{order_id}/refunds/{out_refund_no}, GET /oauth/openid (bearer api_token)")
	return nil
}
