package notify

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/payclient"
	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/store"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// New builds the handler from the merchant configuration. It does no network I/O, so a
// cold start stays cheap; every problem it finds is reported at once, by name.
//
// Verification keys: the platform public key (PUB_KEY_ID_…) and a platform certificate
// when configured; and, when the merchant credentials are there, platform certificates
// downloaded from /v3/certificates on the first serial not configured — cached in the
// store, so rotation needs no redeploy and cold starts no download.
func New(cfg config.Config, st store.Store, log *slog.Logger, opts ...Option) (*Handler, error) {
	var errs []error
	key, err := cfg.V3Key()
	if err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", config.EnvAPIv3Key, err))
	}
	keys, err := payclient.VerificationKeys(cfg, st, payclient.Options{})
	if err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("notify: configuration: %w", err)
	}
	aead, err := wechatpay.NewAEAD(key)
	if err != nil {
		return nil, fmt.Errorf("notify: %w", err)
	}
	ledger := &payment.Ledger{Store: st, Merchants: []string{cfg.MchID}, Partner: cfg.Bundle.Partner, RefundLatePayments: cfg.Bundle.RefundLatePayments, Log: log}
	if cfg.MchID == "" {
		ledger.Merchants = nil
	}
	h := &Handler{Notifier: &wechatpay.Notifier{Verifier: &wechatpay.Verifier{Keys: keys}, AEAD: aead}, Ledger: ledger, Logger: log,
		APIv2Key: cfg.APIv2Key}
	return h, withEvents(h, cfg, st, log, opts)
}
