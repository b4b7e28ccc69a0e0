package main

import (
	"log/slog"
	"net/http"

	"github.com/paysls/wxpay/functions/createorder"
	"github.com/paysls/wxpay/shared/config"
)

// mountOrders mounts the order API (createorder) and the hosted cashier page on the
// bundle's mux, on the bundle's clock. With the simulator, cfg already names this
// server as WeChat Pay's API, its OAuth endpoints and the public URL of cashier links,
// and base + "/notify" as notify_url, so an order placed through /orders is paid
// through /sim/orders/{out_trade_no}/pay (or POST /sim/pay) and notified to /notify on
// one port. The bearer token is <keys-dir>/api_token. The cashier (GET /pay/…) is
// public — each link carries its own token — and places payments through the order
// API in process. In live mode without WXPAY_API_TOKEN and WXPAY_NOTIFY_URL both are
// left out (with a warning) rather than stopping notify.
func (b *bundle) mountOrders(mux *http.ServeMux, cfg config.Config, log *slog.Logger) ([]string, error) {
	if b.token != "" {
		cfg.Bundle.APIToken = config.NewSecret([]byte(b.token))
	}
	h, err := createorder.New(cfg, b.store, createorder.Options{Logger: log.With("function", "createorder"), Simulator: b.sim != nil, Now: b.clock(), Sink: b.sink})
	if err != nil {
		if b.sim == nil {
			log.Warn("order API not mounted", "error", err.Error())
			return nil, nil
		}
		return nil, err
	}
	mux.Handle("/orders", h)
	mux.Handle("/orders/", h)
	mux.Handle("/oauth/openid", h)
	mux.Handle("/profitsharing/", h)
	// The operations console and the cashier page are served by the order API's handler.
	mux.Handle(createorder.ConsolePrefix, h)
	mux.Handle(createorder.ConsolePrefix+"/", h)
	mux.Handle(createorder.CashierPrefix, h)
	return []string{"POST /orders, GET /orders/{order_id}, POST /orders/{order_id}/close, POST /orders/{order_id}/refunds, GET /orders/{order_id}/refunds/{out_refund_no}, GET /oauth/openid (bearer api_token)",
		"POST /orders/{order_id}/settle, POST /orders/{order_id}/subsidy[/cancel|/returns], POST|DELETE /profitsharing/receivers (profit sharing)",
		"GET /console/ (the operations console; console_users)",
		"GET /pay/{order_id}?t=… (cashier page for scene \"cashier\" links; public)"}, nil
}
