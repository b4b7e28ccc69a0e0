package createorder

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/paysls/wxpay/functions/createorder/console"
	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/events"
	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// ConsolePrefix is where the operator's console is served: by this handler, beside the
// order API, so every build that mounts the order API at "/" serves it (wxpay serve
// mounts ConsolePrefix and ConsolePrefix+"/" too).
const ConsolePrefix = "/console"

// CashierPrefix is where the hosted cashier page is served (GET /pay/{order_id}?t=…).
const CashierPrefix = "/pay/"

// withPages serves the operator's console under ConsolePrefix, the cashier page under
// CashierPrefix and the order API everywhere else. The console signs its own users in
// (console_users), the cashier's links carry their own token: the API's bearer token is
// neither asked for nor accepted there.
func (h *Handler) withPages(api, cashierPage http.Handler) http.Handler {
	con := h.console()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch p := r.URL.Path; {
		case p == ConsolePrefix || strings.HasPrefix(p, ConsolePrefix+"/"):
			con.ServeHTTP(w, r)
		case strings.HasPrefix(p, CashierPrefix):
			cashierPage.ServeHTTP(w, r)
		default:
			api.ServeHTTP(w, r)
		}
	})
}

// console is the operator's console (package console) over this order API's ledger:
// a kept transaction is refunded through the same refund path as POST
// /orders/{order_id}/refunds, reviews are resolved by the ledger, events resent
// through it. Without console_users (or with a malformed one) it is one page saying
// how to configure it; the order API is unaffected either way.
func (h *Handler) console() http.Handler {
	users := h.cfg.Bundle.ConsoleUsers.Reveal()
	if len(users) == 0 {
		return console.Unconfigured(ConsolePrefix, nil)
	}
	sink, name := h.consoleSink()
	src := &console.LedgerSource{
		Ledger:        h.ledger,
		Client:        h.client,
		Refund:        h.consoleRefund,
		EncryptionKey: h.encryptionKey,
		Deliverer:     &events.Deliverer{Store: h.st, Marker: h.ledger, Sink: sink, Now: h.now, Log: h.log},
		Owners:        []string{h.cfg.MchID},
		FundMchID:     h.cfg.MchID,
		Sink:          name,
	}
	if h.partner {
		// Records are the sub-merchants': the listings show them all, actions act on
		// any of them, Find takes "sub_mchid/id" (the default sub_mchid without it).
		src.AnyOwner = true
		src.BillMchIDs = src.Owners // billfetch: a platform's one bill (below), else the default sub-merchant's
		if sub := h.cfg.Bundle.SubMchID; sub != "" {
			src.Owners = []string{sub}
			if !h.cfg.Bundle.Ecommerce() {
				src.BillMchIDs = src.Owners
			}
		}
		src.Holders = h.holdersOf // holders.go: Find given a number alone names every sub-merchant holding it
		src.Ecommerce = h.cfg.Bundle.Ecommerce()
		src.Platform = h.cfg.MchID // combines are kept under it
		// Payments and refunds are listed under the account paid (this mchid); refunds
		// recorded before payment.Refund.Account under their sub-merchant.
		src.Listings = slices.Compact(slices.Sorted(slices.Values(append([]string{h.cfg.MchID}, src.Owners...))))
	}
	c, err := console.New(console.Options{Users: users, Store: h.st, Source: src, Now: h.now, Logger: h.log, Prefix: ConsolePrefix})
	if err != nil {
		h.log.Error("operations console off: console_users cannot be read", "error", err.Error())
		return console.Unconfigured(ConsolePrefix, err)
	}
	return c
}

// consoleSink is the sink a resent event is delivered to at once (the one notify and
// reconcile use: Options.Sink, else the webhook the settings name), and its name for
// the Events view. Without one (or with an event bus this program leaves out) a
// resent event is due now and the next delivery run sends it.
func (h *Handler) consoleSink() (events.Sink, string) {
	b := h.cfg.Bundle
	name := b.EventBus
	if u, err := url.Parse(b.WebhookURL); err == nil && b.WebhookURL != "" {
		name = u.Host
	}
	if h.sink != nil {
		return h.sink, name
	}
	sink, err := events.SinkFromConfig(context.Background(), b, h.http, events.WebhookSink)
	if err != nil {
		if !errors.Is(err, events.ErrNoSink) {
			h.log.Warn("console: resent events wait for the next delivery run", "error", err.Error())
		}
		return nil, name
	}
	return sink, name
}

// consoleRefund is the order API's refund path for the console: its refusals (the
// ledger's bounds, WeChat Pay's 4xx answers) are shown to the operator as they would be
// answered to a merchant.
func (h *Handler) consoleRefund(ctx context.Context, o *payment.Order, req payment.RefundRequest) (*payment.Refund, error) {
	rf, err := h.refund(ctx, o, req)
	var ae *apiError
	var we *wechatpay.APIError
	switch {
	case errors.As(err, &ae) && ae.status < 500:
		return nil, fmt.Errorf("%w: %s (%s)", console.ErrRefused, ae.message, ae.code)
	case errors.As(err, &we) && we.StatusCode < 500 && !we.Retryable():
		return nil, fmt.Errorf("%w: WeChat Pay: %s %s", console.ErrRefused, we.Code, we.Message)
	}
	return rf, err
}

// encryptionKey is the key 异常退款's card fields are encrypted with: the platform
// public key when one is configured (WeChat Pay's public-key mode), else the newest
// platform certificate (downloaded and cached like the verification keys).
func (h *Handler) encryptionKey(ctx context.Context) (wechatpay.EncryptionKey, error) {
	if id := h.cfg.PlatformPublicKeyID; id != "" && len(h.cfg.PlatformPublicKey) > 0 {
		pub, err := wechatpay.ParsePublicKey(h.cfg.PlatformPublicKey)
		if err != nil {
			return wechatpay.EncryptionKey{}, err
		}
		return wechatpay.EncryptionKey{Serial: id, Key: pub}, nil
	}
	if m, ok := h.client.Verifier.Keys.(*wechatpay.CertificateManager); ok {
		return m.EncryptionKey(ctx)
	}
	cert, err := h.cfg.PlatformCertificate()
	if err != nil || cert == nil {
		return wechatpay.EncryptionKey{}, fmt.Errorf("no platform certificate or public key configured (%s)", config.EnvPlatformPublicKeyID)
	}
	return wechatpay.EncryptionKeyFromCertificate(cert)
}
