package notify

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/paysls/wxpay/shared/certcache"
	"github.com/paysls/wxpay/shared/config"
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
func New(cfg config.Config, st store.Store, log *slog.Logger) (*Handler, error) {
	var errs []error
	key, err := cfg.V3Key()
	if err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", config.EnvAPIv3Key, err))
	}
	static, staticErr := cfg.PlatformKeys()
	certs, err := certificateManager(cfg, st)
	if err != nil {
		errs = append(errs, err)
	}
	if staticErr != nil && (certs == nil || len(cfg.PlatformCert) > 0 || len(cfg.PlatformPublicKey) > 0) {
		// Nothing to verify with, or a configured key that does not parse.
		errs = append(errs, staticErr)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("notify: configuration: %w", err)
	}
	aead, err := wechatpay.NewAEAD(key)
	if err != nil {
		return nil, fmt.Errorf("notify: %w", err)
	}
	if certs != nil {
		certs.AEAD = aead
		certs.Bootstrap = static
	}
	keys := resolver{static: static, certs: certs}
	ledger := &payment.Ledger{Store: st, Merchants: []string{cfg.MchID}, RefundLatePayments: cfg.Bundle.RefundLatePayments, Log: log}
	if cfg.MchID == "" {
		ledger.Merchants = nil
	}
	h := &Handler{Notifier: &wechatpay.Notifier{Verifier: &wechatpay.Verifier{Keys: keys}, AEAD: aead}, Ledger: ledger, Logger: log}
	return h, withEvents(h, cfg, st, log)
}

// certificateManager is the downloader of platform certificates, or nil when the
// merchant credentials needed to call /v3/certificates are not configured.
func certificateManager(cfg config.Config, st store.Store) (*wechatpay.CertificateManager, error) {
	if cfg.MchID == "" || cfg.MerchantSerial == "" || cfg.PrivateKey.IsZero() {
		return nil, nil
	}
	mk, err := cfg.MerchantKey()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", config.EnvPrivateKey, err)
	}
	client := &wechatpay.Client{
		BaseURL: cfg.APIBase, HTTP: &http.Client{Timeout: 5 * time.Second},
		Signer: &wechatpay.Signer{MchID: cfg.MchID, Serial: strings.ToUpper(cfg.MerchantSerial), Key: mk},
		MchID:  cfg.MchID,
	}
	return wechatpay.NewCertificateManager(client, nil, certcache.Store{Store: st, MchID: cfg.MchID}), nil
}

// resolver finds the key for a Wechatpay-Serial: configured keys first, then the
// downloaded platform certificates.
type resolver struct {
	static wechatpay.StaticKeys
	certs  *wechatpay.CertificateManager
}

func (r resolver) PublicKey(ctx context.Context, serial string) (*rsa.PublicKey, error) {
	k, err := r.static.PublicKey(ctx, serial)
	if err == nil || r.certs == nil || strings.HasPrefix(serial, wechatpay.PublicKeyIDPrefix) {
		return k, err
	}
	return r.certs.PublicKey(ctx, serial)
}
