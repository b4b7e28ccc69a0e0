// Package payclient builds, from the merchant configuration, the WeChat Pay API client
// and the verification keys every function shares: requests signed with the merchant
// key; answers and notifications verified with the configured platform public key or
// certificate and, when only the merchant credentials are configured, with platform
// certificates downloaded from /v3/certificates on the first unknown serial — cached in
// the store, so every instance and cold start shares one download. No network at
// construction.
package payclient

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/paysls/wxpay/shared/certcache"
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

// Keys is the verification key set: configured keys first, then downloaded platform
// certificates (nil Certs when the merchant credentials needed to download are missing).
type Keys struct {
	Static wechatpay.StaticKeys
	Certs  *wechatpay.CertificateManager
}

// PublicKey implements wechatpay.KeyResolver.
func (k *Keys) PublicKey(ctx context.Context, serial string) (*rsa.PublicKey, error) {
	key, err := k.Static.PublicKey(ctx, serial)
	if err == nil || k.Certs == nil || strings.HasPrefix(serial, wechatpay.PublicKeyIDPrefix) {
		return key, err
	}
	return k.Certs.PublicKey(ctx, serial)
}

// VerificationKeys builds the key set from cfg. It fails only when nothing could
// verify, or a configured key does not parse.
func VerificationKeys(cfg config.Config, st store.Store, opts Options) (*Keys, error) {
	static, staticErr := cfg.PlatformKeys()
	var certs *wechatpay.CertificateManager
	if cfg.MchID != "" && cfg.MerchantSerial != "" && !cfg.PrivateKey.IsZero() {
		signer, err := merchantSigner(cfg)
		if err != nil {
			return nil, err
		}
		// Downloaded certificates are encrypted with the APIv3 key; with a bad key there is
		// nothing to download with (the caller reports the key itself).
		aead, err := v3AEAD(cfg)
		if err != nil {
			return &Keys{Static: static}, staticErr
		}
		downloader := &wechatpay.Client{BaseURL: cfg.APIBase, HTTP: httpClient(opts, 5*time.Second), Signer: signer, MchID: cfg.MchID}
		certs = wechatpay.NewCertificateManager(downloader, aead, certcache.Store{Store: st, MchID: cfg.MchID})
		certs.Bootstrap = static
	}
	if staticErr != nil && (certs == nil || len(cfg.PlatformCert) > 0 || len(cfg.PlatformPublicKey) > 0) {
		return nil, staticErr // nothing to verify with, or a configured key that does not parse
	}
	return &Keys{Static: static, Certs: certs}, nil
}

func v3AEAD(cfg config.Config) (*wechatpay.AEAD, error) {
	key, err := cfg.V3Key()
	if err != nil {
		return nil, err
	}
	return wechatpay.NewAEAD(key)
}

func merchantSigner(cfg config.Config) (*wechatpay.Signer, error) {
	mk, err := cfg.MerchantKey()
	if err != nil {
		return nil, fmt.Errorf("merchant private key (%s): %w", cfg.Source("PrivateKey"), err)
	}
	return &wechatpay.Signer{MchID: cfg.MchID, Serial: strings.ToUpper(cfg.MerchantSerial), Key: mk}, nil
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
func New(cfg config.Config, st store.Store, keys *Keys, opts Options) (*wechatpay.Client, error) {
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
