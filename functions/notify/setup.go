package notify

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/store"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// New builds the handler from the merchant configuration. It does no network I/O, so
// a cold start stays cheap; every problem it finds is reported at once, by name.
func New(cfg config.Config, st store.Store, log *slog.Logger) (*Handler, error) {
	var errs []error
	key, err := cfg.V3Key()
	if err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", config.EnvAPIv3Key, err))
	}
	keys, err := cfg.PlatformKeys()
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
	return &Handler{Notifier: &wechatpay.Notifier{Verifier: &wechatpay.Verifier{Keys: keys}, AEAD: aead}, Store: st, Logger: log}, nil
}
