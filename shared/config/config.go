// Package config is the one place the configuration comes from, in every mode (a
// deployed function, `wxpay serve` with or without the simulator, the CLI): a keys
// directory (what `wxpay sim --keys-dir` writes, or a merchant's own files) or a secret
// store supplies identity and secrets, the environment supplies the settings (Load,
// LoadKeysDir; FromEnv is Load of $WXPAY_KEYS_DIR). Config.Sources and Settings say
// where each value came from. It keeps values raw — as the user set them — so that
// `wxpay doctor` can say precisely what is wrong with each; the helpers parse on use.
//
// Environment variables:
//
//	WXPAY_KEYS_DIR                  a keys directory to start from (env vars below override it)
//	WXPAY_MCHID                     商户号, digits
//	WXPAY_APPID                     AppID bound to the merchant (wx…)
//	WXPAY_MERCHANT_SERIAL           商户API证书序列号, 40 hex digits
//	WXPAY_PRIVATE_KEY               商户API私钥 apiclient_key.pem as PEM text ("\n" escapes allowed)
//	WXPAY_PRIVATE_KEY_FILE          …or the path of apiclient_key.pem (set one of the two)
//	WXPAY_MERCHANT_CERT_FILE        商户API证书 apiclient_cert.pem (optional: lets doctor match key and serial)
//	WXPAY_APIV3_KEY                 APIv3密钥, 32 characters
//	WXPAY_PLATFORM_CERT_FILE        微信支付平台证书 (platform-certificate mode)
//	WXPAY_PLATFORM_CERT             …or the certificate as PEM text
//	WXPAY_PLATFORM_PUBLIC_KEY_FILE  微信支付公钥 pub_key.pem (public-key mode)
//	WXPAY_PLATFORM_PUBLIC_KEY       …or the public key as PEM text
//	WXPAY_PLATFORM_PUBLIC_KEY_ID    its id, PUB_KEY_ID_…
//	WXPAY_NOTIFY_URL                notify_url sent with every order and refund
//	WXPAY_API_BASE                  API endpoint, default https://api.mch.weixin.qq.com
package config

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/paysls/wxpay/shared/keysdir"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// Environment variable names.
const (
	EnvKeysDir             = "WXPAY_KEYS_DIR"
	EnvMchID               = "WXPAY_MCHID"
	EnvAppID               = "WXPAY_APPID"
	EnvMerchantSerial      = "WXPAY_MERCHANT_SERIAL"
	EnvPrivateKey          = "WXPAY_PRIVATE_KEY"
	EnvPrivateKeyFile      = "WXPAY_PRIVATE_KEY_FILE"
	EnvMerchantCertFile    = "WXPAY_MERCHANT_CERT_FILE"
	EnvAPIv3Key            = "WXPAY_APIV3_KEY"
	EnvPlatformCert        = "WXPAY_PLATFORM_CERT"
	EnvPlatformCertFile    = "WXPAY_PLATFORM_CERT_FILE"
	EnvPlatformPubKey      = "WXPAY_PLATFORM_PUBLIC_KEY"
	EnvPlatformPubKeyFile  = "WXPAY_PLATFORM_PUBLIC_KEY_FILE"
	EnvPlatformPublicKeyID = "WXPAY_PLATFORM_PUBLIC_KEY_ID"
	EnvNotifyURL           = "WXPAY_NOTIFY_URL"
	EnvAPIBase             = "WXPAY_API_BASE"
)

// Files of the bundle's own secrets in a keys directory (`wxpay serve` creates them).
const (
	FileAPIToken      = "api_token"
	FileWebhookSecret = "webhook_secret"
	FileConsoleUsers  = "console_users"
	// FileNotifyURL holds the notify_url, so a keys dir can be the whole configuration.
	FileNotifyURL = "notify_url"
)

// DefaultAPIBase is WeChat Pay's main API domain (api2.mch.weixin.qq.com is the backup).
const DefaultAPIBase = "https://api.mch.weixin.qq.com"

// Config is the merchant configuration, raw. Secrets are Secret values and redact
// themselves; the whole struct also redacts in String and LogValue.
type Config struct {
	MchID          string
	AppID          string
	MerchantSerial string
	PrivateKey     Secret // PEM text of apiclient_key.pem
	MerchantCert   []byte // PEM, optional
	APIv3Key       Secret // exactly as given: doctor reports whitespace and length
	APIv2Key       Secret // WXPAY_APIV2_KEY or keys dir apiv2_key: v2 XML notifications; lets doctor spot "APIv3 key = APIv2 key"

	PlatformCert        []byte // PEM, certificate mode
	PlatformPublicKey   []byte // PEM, public-key mode
	PlatformPublicKeyID string

	NotifyURL string
	APIBase   string

	// StorePassword, from a secret store's store_password, is the password of a Redis
	// STORE_URL that carries none (shared/host puts it in), so the URL in the function's
	// plain environment holds no secret.
	StorePassword Secret

	// Bundle holds the settings of the bundle's own features (order API token, merchant
	// events, OAuth, partner mode, trusted proxies); see bundle.go.
	Bundle Bundle

	// Sources says where each field came from ("WXPAY_MCHID", "keys dir ./k/mchid"), so
	// messages can point at the place to fix. Keys are the field names above.
	Sources map[string]string
}

// String summarises the configuration without secrets.
func (c Config) String() string {
	return fmt.Sprintf("Config{MchID:%s AppID:%s MerchantSerial:%s PrivateKey:%s APIv3Key:%s PlatformCert:%t PlatformPublicKeyID:%s NotifyURL:%s APIBase:%s}",
		c.MchID, c.AppID, c.MerchantSerial, c.PrivateKey, c.APIv3Key, len(c.PlatformCert) > 0, c.PlatformPublicKeyID, c.NotifyURL, c.APIBase)
}

// GoString redacts for %#v.
func (c Config) GoString() string { return c.String() }

// LogValue logs the non-secret fields only.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("mchid", c.MchID), slog.String("appid", c.AppID),
		slog.String("merchant_serial", c.MerchantSerial),
		slog.String("private_key", c.PrivateKey.String()), slog.String("apiv3_key", c.APIv3Key.String()),
		slog.Bool("platform_cert", len(c.PlatformCert) > 0),
		slog.String("platform_public_key_id", c.PlatformPublicKeyID),
		slog.String("notify_url", c.NotifyURL), slog.String("api_base", c.APIBase),
	)
}

// Source names where field came from, or "not set".
func (c Config) Source(field string) string {
	if s, ok := c.Sources[field]; ok {
		return s
	}
	return "not set"
}

// FromEnv reads the configuration from the environment (and the keys dir
// WXPAY_KEYS_DIR names, which the WXPAY_* variables override), then merges over it
// what the secret stores given hold (secretsource.go). Missing variables leave
// fields empty (doctor reports them); the error lists unreadable files and
// contradictions, and the Config holds whatever could be read.
func FromEnv(secrets ...SecretSource) (Config, error) {
	return load("", os.LookupEnv, true, secrets)
}

// Load is the one loader of every mode: the keys dir (keysDir, else $WXPAY_KEYS_DIR),
// the WXPAY_* identity variables and the secret stores given supply identity and
// secrets, the environment supplies the settings (notify_url, API base, webhook,
// partner mode, trusted proxies, order lifetime, …). Config.Sources and Settings say
// where each value came from.
func Load(keysDir string, secrets ...SecretSource) (Config, error) {
	return load(keysDir, os.LookupEnv, true, secrets)
}

// LoadKeysDir is Load for an identity that must come from keysDir alone: a simulator's,
// whose keys the simulator signs and verifies with. The WeChat Pay identity variables
// (WXPAY_MCHID, WXPAY_PRIVATE_KEY, WXPAY_APIV3_KEY, …) and secret stores are not mixed
// in; the bundle's own secrets (WXPAY_API_TOKEN, WXPAY_WEBHOOK_SECRET) and every
// setting still come from the environment.
func LoadKeysDir(keysDir string) (Config, error) { return load(keysDir, os.LookupEnv, false, nil) }

func fromLookup(lookup func(string) (string, bool), secrets ...SecretSource) (Config, error) {
	return load("", lookup, true, secrets)
}

func load(keysDir string, lookup func(string) (string, bool), identityFromEnv bool, secrets []SecretSource) (Config, error) {
	var c Config
	var errs []error
	if keysDir == "" {
		keysDir, _ = lookup(EnvKeysDir)
	}
	if keysDir != "" {
		var err error
		if c, err = FromKeysDir(keysDir); err != nil {
			errs = append(errs, err)
		}
	}
	if c.Sources == nil {
		c.Sources = map[string]string{}
	}
	str := func(dst *string, field, env string) {
		if v, ok := lookup(env); ok && v != "" {
			*dst = strings.TrimSpace(v)
			c.Sources[field] = env
		}
	}
	file := func(dst *[]byte, field, env string) {
		if p, ok := lookup(env); ok && p != "" {
			b, err := readFile(p)
			if err != nil {
				errs = append(errs, fmt.Errorf("config: %s: %w", env, err))
				return
			}
			*dst = b
			c.Sources[field] = env + " " + p
		}
	}
	// Settings: from the environment in every mode.
	str(&c.NotifyURL, "NotifyURL", EnvNotifyURL)
	str(&c.APIBase, "APIBase", EnvAPIBase)
	if c.APIBase == "" {
		c.APIBase = DefaultAPIBase
	}
	if identityFromEnv {
		errs = append(errs, identityFromLookup(lookup, &c, str, file)...)
	}
	errs = append(errs, bundleFromLookup(lookup, &c, identityFromEnv)...)
	if identityFromEnv {
		errs = append(errs, applySecretSources(lookup, &c, secrets)...) // secretsource.go
	}
	return c, errors.Join(errs...)
}

// identityFromLookup reads the WeChat Pay identity variables over what the keys dir gave.
func identityFromLookup(lookup func(string) (string, bool), c *Config, str func(*string, string, string), file func(*[]byte, string, string)) []error {
	var errs []error
	str(&c.MchID, "MchID", EnvMchID)
	str(&c.AppID, "AppID", EnvAppID)
	str(&c.MerchantSerial, "MerchantSerial", EnvMerchantSerial)
	str(&c.PlatformPublicKeyID, "PlatformPublicKeyID", EnvPlatformPublicKeyID)
	file(&c.MerchantCert, "MerchantCert", EnvMerchantCertFile)
	// Platform keys are public: given inline (Lambda/SCF environment, where files are
	// awkward) or as a file, not both.
	pemVar := func(dst *[]byte, field, inlineEnv, fileEnv string) {
		inline, _ := lookup(inlineEnv)
		path, _ := lookup(fileEnv)
		switch {
		case inline != "" && path != "":
			errs = append(errs, fmt.Errorf("config: both %s and %s are set; set only one", inlineEnv, fileEnv))
		case inline != "":
			*dst = []byte(unescapePEM(inline))
			c.Sources[field] = inlineEnv
		default:
			file(dst, field, fileEnv)
		}
	}
	pemVar(&c.PlatformCert, "PlatformCert", EnvPlatformCert, EnvPlatformCertFile)
	pemVar(&c.PlatformPublicKey, "PlatformPublicKey", EnvPlatformPubKey, EnvPlatformPubKeyFile)

	inline, hasInline := lookup(EnvPrivateKey)
	path, hasFile := lookup(EnvPrivateKeyFile)
	switch {
	case hasInline && inline != "" && hasFile && path != "":
		errs = append(errs, fmt.Errorf("config: both %s and %s are set; set only one", EnvPrivateKey, EnvPrivateKeyFile))
	case hasInline && inline != "":
		c.PrivateKey = NewSecret([]byte(unescapePEM(inline)))
		c.Sources["PrivateKey"] = EnvPrivateKey
	case hasFile && path != "":
		if b, err := readFile(path); err != nil {
			errs = append(errs, fmt.Errorf("config: %s: %w", EnvPrivateKeyFile, err))
		} else {
			c.PrivateKey = NewSecret(b)
			c.Sources["PrivateKey"] = EnvPrivateKeyFile + " " + path
		}
	}
	// The APIv3 key is kept untrimmed: doctor tells the user about stray whitespace.
	if v, ok := lookup(EnvAPIv3Key); ok && v != "" {
		c.APIv3Key = NewSecret([]byte(v))
		c.Sources["APIv3Key"] = EnvAPIv3Key
	}
	return errs
}

// unescapePEM turns a PEM pasted into a one-line variable (Lambda console, SCF, .env
// files) back into PEM: literal "\n" become newlines. Real newlines are left alone.
func unescapePEM(s string) string {
	if !strings.Contains(s, "\n") && strings.Contains(s, `\n`) {
		s = strings.ReplaceAll(s, `\n`, "\n")
	}
	return s
}

// FromKeysDir reads the raw files of a keys directory (the keysdir layout). Unlike
// keysdir.Load it does not stop at the first problem: missing or odd files become
// empty fields that doctor reports one by one.
func FromKeysDir(dir string) (Config, error) {
	c := Config{Sources: map[string]string{}, APIBase: DefaultAPIBase}
	var errs []error
	// Each file is opened by its name (and the merchant platform's alias, keysdir.Aliases)
	// relative to the open directory (dir_linux.go) and read in a few system calls
	// (readFile); a name that is not there costs one failed open. Every function's cold
	// start does this, for a dozen files.
	d, err := openDir(dir)
	if err != nil {
		return c, fmt.Errorf("config: keys dir %s is not a readable directory", dir)
	}
	defer d.close()
	// Each file is read into buf, on this function's stack, and copied once into the
	// field it fills (a string, a Secret, or a clone for the PEM fields kept as bytes):
	// a heap copy per file on top of the field's own was a dozen allocations, several
	// in size classes a cold start has not used yet.
	var buf [2048]byte
	read := func(name, field string) []byte { // valid until the next read
		var found []string
		var b []byte
		for _, n := range append([]string{name}, keysdir.Aliases[name]...) {
			p := filepath.Join(dir, n)
			data, err := d.read(n, p, buf[:0])
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("config: keys dir: %w", err))
				return nil
			}
			if found = append(found, p); len(found) == 1 {
				b = data
			}
		}
		switch len(found) {
		case 0:
			return nil
		case 1:
			c.Sources[field] = "keys dir " + found[0]
			return b
		default: // they might differ: which one is meant is the merchant's to say
			errs = append(errs, fmt.Errorf("config: keys dir: both %s and %s exist in %s: keep one", filepath.Base(found[0]), filepath.Base(found[1]), dir))
			return nil
		}
	}
	// clone keeps a file's bytes: nil when absent, empty (not nil) when empty.
	clone := func(b []byte) []byte {
		if b == nil {
			return nil
		}
		return append([]byte{}, b...)
	}
	c.MchID = strings.TrimSpace(string(read(keysdir.FileMchID, "MchID")))
	c.AppID = strings.TrimSpace(string(read(keysdir.FileAppID, "AppID")))
	c.MerchantSerial = strings.TrimSpace(string(read(keysdir.FileMerchantSerial, "MerchantSerial")))
	if b := read(keysdir.FileMerchantKey, "PrivateKey"); b != nil {
		c.PrivateKey = NewSecret(b)
	}
	c.MerchantCert = clone(read(keysdir.FileMerchantCert, "MerchantCert"))
	if b := read(keysdir.FileAPIv3Key, "APIv3Key"); b != nil {
		// keysdir.Save ends the file with a newline: that one is the file's, not the key's.
		c.APIv3Key = NewSecret(bytes.TrimSuffix(bytes.TrimSuffix(b, []byte("\n")), []byte("\r")))
	}
	if b := read(keysdir.FileAPIv2Key, "APIv2Key"); b != nil {
		c.APIv2Key = NewSecret(bytes.TrimSpace(b))
	}
	c.PlatformCert = clone(read(keysdir.FilePlatformCert, "PlatformCert"))
	c.PlatformPublicKey = clone(read(keysdir.FilePlatformPublicKey, "PlatformPublicKey"))
	c.PlatformPublicKeyID = strings.TrimSpace(string(read(keysdir.FilePlatformPublicKeyID, "PlatformPublicKeyID")))
	c.NotifyURL = strings.TrimSpace(string(read(FileNotifyURL, "NotifyURL")))
	if b := read(FileAPIToken, "APIToken"); b != nil {
		c.Bundle.APIToken = NewSecret(bytes.TrimSpace(b))
	}
	if b := read(keysdir.FileAppSecret, "AppSecret"); b != nil {
		c.Bundle.AppSecret = NewSecret(bytes.TrimSpace(b))
	}
	if b := read(FileWebhookSecret, "WebhookSecret"); b != nil {
		c.Bundle.WebhookSecret = NewSecret(bytes.TrimSpace(b))
	}
	if b := read(FileConsoleUsers, "ConsoleUsers"); b != nil {
		c.Bundle.ConsoleUsers = NewSecret(bytes.TrimSpace(b))
	}
	c.Bundle.OrderTTL = defaultOrderTTL
	c.Bundle.OAuthBase, c.Bundle.OAuthAuthorizeBase = DefaultOAuthBase, DefaultOAuthAuthorizeBase
	return c, errors.Join(errs...)
}

// MerchantKey parses the merchant private key (PKCS#8 or PKCS#1), once per Secret
// (merchantkey.go). The key returned is shared: use it, do not change it.
func (c Config) MerchantKey() (*rsa.PrivateKey, error) {
	if c.PrivateKey.IsZero() {
		return nil, fmt.Errorf("config: merchant private key not set (%s or %s)", EnvPrivateKey, EnvPrivateKeyFile)
	}
	return c.PrivateKey.rsaKey()
}

// CheckMerchantKey is what a function that signs checks at start-up: the merchant
// private key is set and shaped as MerchantKey parses it, refused otherwise with
// MerchantKey's own error. It leaves the parse itself — 0.2–0.3 ms of RSA arithmetic
// checks — to the first signature (wechatpay.CheckPrivateKey says what it covers).
func (c Config) CheckMerchantKey() error {
	if c.PrivateKey.IsZero() {
		_, err := c.MerchantKey()
		return err
	}
	return c.PrivateKey.checkRSAKey()
}

// V3Key checks and returns the APIv3 key (surrounding whitespace removed).
func (c Config) V3Key() (wechatpay.APIv3Key, error) {
	return wechatpay.NewAPIv3Key(string(c.APIv3Key.Reveal()))
}

// PlatformCertificate parses the platform certificate, or returns nil, nil without one.
func (c Config) PlatformCertificate() (*x509.Certificate, error) {
	if len(c.PlatformCert) == 0 {
		return nil, nil
	}
	return wechatpay.ParseCertificate(c.PlatformCert)
}

// MerchantCertificate parses the merchant certificate, or returns nil, nil without one.
func (c Config) MerchantCertificate() (*x509.Certificate, error) {
	if len(c.MerchantCert) == 0 {
		return nil, nil
	}
	return wechatpay.ParseCertificate(c.MerchantCert)
}

// PlatformKeys is the verification key set: the certificate under its serial and the
// public key under its PUB_KEY_ID_… id, whichever are configured. Their PEM is checked
// here, the keys parsed at their first lookup (wechatpay.NewConfiguredKeys says why).
func (c Config) PlatformKeys() (wechatpay.KeyResolver, error) {
	if len(c.PlatformCert) == 0 && len(c.PlatformPublicKey) == 0 {
		return nil, fmt.Errorf("config: neither %s nor %s is set: responses and notifications cannot be verified", EnvPlatformCertFile, EnvPlatformPubKeyFile)
	}
	if len(c.PlatformPublicKey) > 0 && !strings.HasPrefix(c.PlatformPublicKeyID, wechatpay.PublicKeyIDPrefix) {
		return nil, fmt.Errorf("config: %s must start with %s, got %q", EnvPlatformPublicKeyID, wechatpay.PublicKeyIDPrefix, c.PlatformPublicKeyID)
	}
	keys, err := wechatpay.NewConfiguredKeys(c.PlatformCert, c.PlatformPublicKey, c.PlatformPublicKeyID)
	if err != nil { // named by where it came from: the certificate's source if it is the one refused
		field := "PlatformPublicKey"
		if _, certErr := wechatpay.NewConfiguredKeys(c.PlatformCert, nil, ""); certErr != nil {
			field = "PlatformCert"
		}
		return nil, fmt.Errorf("config: %s: %w", c.Source(field), err)
	}
	return keys, nil
}
