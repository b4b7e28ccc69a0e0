// Package payclient builds, from the merchant configuration, the WeChat Pay API client
// and the verification keys every function shares: requests signed with the merchant
// key; answers and notifications verified with the configured platform public key or
// certificate and, when only the merchant credentials are configured, with platform
// certificates downloaded from /v3/certificates on the first unknown serial — cached in
// the store, so every instance and cold start shares one download. No network at
// construction.
package payclient

import (
	"crypto/rsa"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/store"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// Options tune New.
type Options struct {
	// HTTP is the client for API calls; a 10 s timeout client when nil.
	HTTP *http.Client
	// AllowLoopbackNotifyURL accepts http:// loopback notify_urls (the simulator).
	AllowLoopbackNotifyURL bool
}

// VerificationKeys builds, from cfg, the key set answers and notifications are verified
// with: the configured keys (platform public key, platform certificate), and — when the
// merchant credentials to download with are there — platform certificates downloaded
// lazily from /v3/certificates and cached in st. A Verifier's Keys resolves a serial in
// one call (wechatpay.CertificateManager); nothing is downloaded, and neither the
// merchant key nor the configured platform keys parsed, here (their PEM is checked).
// It fails only when nothing could verify, or a configured platform key's PEM is
// wrong.
func VerificationKeys(cfg config.Config, st store.Store, opts Options) (wechatpay.KeyResolver, error) {
	static, staticErr := cfg.PlatformKeys()
	if cfg.MchID == "" || cfg.MerchantSerial == "" || cfg.PrivateKey.IsZero() {
		if staticErr != nil {
			return nil, staticErr // nothing to verify with, or a configured key whose PEM is wrong
		}
		return static, nil
	}
	// The downloader's key is parsed at its first download, not here: a function that
	// only verifies (notify) and whose configured keys or cached certificates cover
	// every serial never parses it, and a cold start does not pay for it. A key that
	// does not parse fails that download, naming the key and its source (the functions
	// that sign, and wxpay doctor, report it at start).
	signer := &wechatpay.Signer{MchID: cfg.MchID, Serial: strings.ToUpper(cfg.MerchantSerial),
		LoadKey: func() (*rsa.PrivateKey, error) { return merchantKey(cfg) }}
	// Downloaded certificates are encrypted with the APIv3 key; with a bad key there is
	// nothing to download with (the caller reports the key itself).
	aead, err := v3AEAD(cfg)
	if err != nil {
		if staticErr != nil {
			return nil, staticErr
		}
		return static, nil
	}
	if staticErr != nil && (len(cfg.PlatformCert) > 0 || len(cfg.PlatformPublicKey) > 0) {
		return nil, staticErr // a configured key whose PEM is wrong
	}
	downloader := &wechatpay.Client{BaseURL: cfg.APIBase, HTTP: httpClient(opts, 5*time.Second), Signer: signer, MchID: cfg.MchID}
	certs := wechatpay.NewCertificateManager(downloader, aead, certStore{st: st, mchid: cfg.MchID})
	if staticErr == nil {
		certs.Configured = static
	}
	return certs, nil
}

func v3AEAD(cfg config.Config) (*wechatpay.AEAD, error) {
	key, err := cfg.V3Key()
	if err != nil {
		return nil, err
	}
	return wechatpay.NewAEAD(key)
}

// merchantSigner is the signer of cfg's merchant. Its key is checked here, at
// start-up (a wrong or damaged key stops the function, naming it), and parsed at the
// first signature: the parse's arithmetic checks are 0.2–0.3 ms of a cold start that
// signs nothing (config.CheckMerchantKey).
func merchantSigner(cfg config.Config) (*wechatpay.Signer, error) {
	if err := cfg.CheckMerchantKey(); err != nil {
		return nil, fmt.Errorf("merchant private key (%s): %w", cfg.Source("PrivateKey"), err)
	}
	return &wechatpay.Signer{MchID: cfg.MchID, Serial: strings.ToUpper(cfg.MerchantSerial),
		LoadKey: func() (*rsa.PrivateKey, error) { return merchantKey(cfg) }}, nil
}

// merchantKey is cfg's merchant key (parsed once per Secret), its error naming where
// the key came from.
func merchantKey(cfg config.Config) (*rsa.PrivateKey, error) {
	mk, err := cfg.MerchantKey()
	if err != nil {
		return nil, fmt.Errorf("merchant private key (%s): %w", cfg.Source("PrivateKey"), err)
	}
	return mk, nil
}

func httpClient(opts Options, timeout time.Duration) *http.Client {
	if opts.HTTP != nil {
		return opts.HTTP
	}
	return &http.Client{Timeout: timeout}
}

// New builds the API client for cfg: direct mode, or partner mode (cfg.Bundle.Partner:
// MchID/AppID are the service provider's sp_mchid/sp_appid; use ForSub per
// sub-merchant). keys may be nil, then VerificationKeys is built here.
func New(cfg config.Config, st store.Store, keys wechatpay.KeyResolver, opts Options) (*wechatpay.Client, error) {
	var errs []error
	if cfg.MchID == "" {
		errs = append(errs, fmt.Errorf("%s is not set", config.EnvMchID))
	}
	if cfg.MerchantSerial == "" {
		errs = append(errs, fmt.Errorf("%s is not set", config.EnvMerchantSerial))
	}
	signer, err := merchantSigner(cfg)
	if err != nil {
		errs = append(errs, err)
	}
	if keys == nil {
		if keys, err = VerificationKeys(cfg, st, opts); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("merchant configuration: %w", err)
	}
	c := &wechatpay.Client{
		BaseURL: cfg.APIBase, HTTP: httpClient(opts, 10*time.Second), Signer: signer,
		Verifier:         &wechatpay.Verifier{Keys: keys},
		NotifyURLOptions: wechatpay.NotifyURLOptions{AllowLoopback: opts.AllowLoopbackNotifyURL},
	}
	if cfg.Bundle.Partner {
		c.SpMchID, c.SpAppID = cfg.MchID, cfg.AppID
		c.SubMchID, c.SubAppID = cfg.Bundle.SubMchID, cfg.Bundle.SubAppID
	} else {
		c.MchID, c.AppID = cfg.MchID, cfg.AppID
	}
	return c, nil
}

// ForOwner returns the client acting for the merchant that owns an order or refund
// record (its mchid attribute): itself in direct mode, ForSub in partner mode.
func ForOwner(c *wechatpay.Client, owner string) *wechatpay.Client {
	if !c.Partner() || owner == "" || owner == c.SubMchID {
		return c
	}
	return c.ForSub(owner, "")
}
