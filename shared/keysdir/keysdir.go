// Package keysdir reads and writes a WeChat Pay identity as plain files in one
// directory, the form `wxpay sim --keys-dir DIR` writes and every client (ours, the
// official SDKs, a user's own) can be configured from:
//
//	mchid, appid                        merchant id and app id
//	merchant_private_key.pem            merchant API private key (apiclient_key.pem)
//	merchant_serial                     merchant API certificate serial
//	merchant_cert.pem                   merchant API certificate (optional)
//	platform_cert.pem                   WeChat Pay platform certificate (certificate mode)
//	platform_public_key.pem             WeChat Pay platform public key (public-key mode)
//	platform_public_key_id              its PUB_KEY_ID_… id
//	apiv3_key, apiv2_key                the symmetric keys
//	app_secret                          the official account's AppSecret (OAuth code exchange)
//	platform_private_key.pem            the simulator's own signing key (simulator only)
//
// A merchant's own files keep the names the merchant platform gives them:
// apiclient_key.pem is read as merchant_private_key.pem and apiclient_cert.pem as
// merchant_cert.pem (see Aliases). Secret files are written with mode 0600.
package keysdir

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/paysls/wxpay/shared/wechatpay"
)

// File names inside the directory.
const (
	FileMchID               = "mchid"
	FileAppID               = "appid"
	FileMerchantKey         = "merchant_private_key.pem"
	FileMerchantSerial      = "merchant_serial"
	FileMerchantCert        = "merchant_cert.pem"
	FilePlatformCert        = "platform_cert.pem"
	FilePlatformPublicKey   = "platform_public_key.pem"
	FilePlatformPublicKeyID = "platform_public_key_id"
	FileAPIv3Key            = "apiv3_key"
	FileAPIv2Key            = "apiv2_key"
	FilePlatformKey         = "platform_private_key.pem"
	FileAppSecret           = "app_secret"
)

// Aliases are other names a file may have in a keys directory: the names of the files
// in the certificate bundle the merchant platform hands out (商户平台 → 账户中心 → API安全
// → 申请API证书). Find accepts either name; Save writes the canonical one.
var Aliases = map[string][]string{
	FileMerchantKey:  {"apiclient_key.pem"},
	FileMerchantCert: {"apiclient_cert.pem"},
}

// Find returns the path of the file called name (or one of its Aliases) in dir. When
// none exists the error wraps fs.ErrNotExist and path is the canonical name; when two
// exist it is an error that names both, since they might differ.
func Find(dir, name string) (path string, err error) {
	return find(dir, name, func(p string) error { _, err := os.Stat(p); return err })
}

func find(dir, name string, exists func(path string) error) (path string, err error) {
	var found []string
	for _, n := range append([]string{name}, Aliases[name]...) {
		p := filepath.Join(dir, n)
		if err := exists(p); err == nil {
			found = append(found, p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return p, err
		}
	}
	switch len(found) {
	case 0:
		p := filepath.Join(dir, name)
		return p, &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
	case 1:
		return found[0], nil
	default:
		return found[0], fmt.Errorf("both %s and %s exist in %s: keep one", filepath.Base(found[0]), filepath.Base(found[1]), dir)
	}
}

// Identity is a merchant and the WeChat Pay platform it talks to.
type Identity struct {
	MchID          string
	AppID          string
	MerchantKey    *rsa.PrivateKey
	MerchantSerial string
	MerchantCert   *x509.Certificate // nil when the directory has none

	PlatformCert        *x509.Certificate // certificate mode
	PlatformPublicKey   *rsa.PublicKey    // public-key mode
	PlatformPublicKeyID string            // PUB_KEY_ID_…
	// PlatformKey is the private key behind PlatformCert and PlatformPublicKey: only the
	// simulator (and `wxpay trigger`, which plays WeChat Pay) has it. Nil otherwise.
	PlatformKey *rsa.PrivateKey

	APIv3Key wechatpay.APIv3Key
	APIv2Key string
	// AppSecret is the AppID's AppSecret, which the OAuth code exchange
	// (/sns/oauth2/access_token) checks. Empty in directories written before it existed.
	AppSecret string
}

// String keeps secrets out of formatted output.
func (id *Identity) String() string {
	return fmt.Sprintf("Identity{MchID:%s AppID:%s MerchantSerial:%s PlatformSerial:%s PublicKeyID:%s}",
		id.MchID, id.AppID, id.MerchantSerial, id.PlatformSerial(), id.PlatformPublicKeyID)
}

// GoString redacts secrets for %#v.
func (id *Identity) GoString() string { return id.String() }

// PlatformSerial is the platform certificate's serial, or "" without a certificate.
func (id *Identity) PlatformSerial() string {
	if id.PlatformCert == nil {
		return ""
	}
	return wechatpay.CertificateSerial(id.PlatformCert)
}

// PlatformKeys is a resolver for both verification modes: the certificate under its
// serial and the public key under its PUB_KEY_ID_… id.
func (id *Identity) PlatformKeys() wechatpay.StaticKeys {
	keys := wechatpay.StaticKeys{}
	if id.PlatformCert != nil {
		keys[id.PlatformSerial()] = id.PlatformCert.PublicKey.(*rsa.PublicKey)
	}
	if id.PlatformPublicKey != nil && id.PlatformPublicKeyID != "" {
		keys[id.PlatformPublicKeyID] = id.PlatformPublicKey
	}
	return keys
}

// MerchantSigner signs requests as this merchant.
func (id *Identity) MerchantSigner() *wechatpay.Signer {
	return &wechatpay.Signer{MchID: id.MchID, Serial: id.MerchantSerial, Key: id.MerchantKey}
}

// Generate makes a fresh test identity: merchant and platform RSA-2048 keys with
// self-signed certificates, a PUB_KEY_ID_…, random 32-byte APIv3 and APIv2 keys.
func Generate() (*Identity, error) {
	mk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("keysdir: merchant key: %w", err)
	}
	pk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("keysdir: platform key: %w", err)
	}
	mchid := "1900" + randomFrom(digitChars, 6)
	mcert, err := selfSigned(mk, "商户API证书 "+mchid, 5*365*24*time.Hour)
	if err != nil {
		return nil, err
	}
	pcert, err := selfSigned(pk, "Tenpay.com Root CA (simulated platform certificate)", 5*365*24*time.Hour)
	if err != nil {
		return nil, err
	}
	v3, err := wechatpay.NewAPIv3Key(randomFrom(alnumChars, 32))
	if err != nil {
		return nil, err
	}
	return &Identity{
		MchID: mchid, AppID: "wx" + strings.ToLower(randomFrom(alnumChars, 16)),
		MerchantKey: mk, MerchantSerial: wechatpay.CertificateSerial(mcert), MerchantCert: mcert,
		PlatformCert: pcert, PlatformPublicKey: &pk.PublicKey,
		PlatformPublicKeyID: wechatpay.PublicKeyIDPrefix + "01" + randomFrom(digitChars, 30),
		PlatformKey:         pk, APIv3Key: v3, APIv2Key: randomFrom(alnumChars, 32),
		AppSecret: newAppSecret(),
	}, nil
}

const (
	digitChars = "0123456789"
	alnumChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
)

// randomFrom draws n characters of set from crypto/rand (the APIv3 and APIv2 keys are
// secrets), without bias.
func randomFrom(set string, n int) string {
	limit := 256 - 256%len(set)
	out := make([]byte, 0, n)
	var b [1]byte
	for len(out) < n {
		_, _ = rand.Read(b[:]) // crypto/rand never fails (Go 1.24+)
		if int(b[0]) < limit {
			out = append(out, set[int(b[0])%len(set)])
		}
	}
	return string(out)
}

// newAppSecret looks like a WeChat AppSecret: 32 lower-case hex digits.
func newAppSecret() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func selfSigned(k *rsa.PrivateKey, cn string, life time.Duration) (*x509.Certificate, error) {
	// A serial of 20 bytes whose first byte is 0x10–0x7f: positive, within x509's 20
	// octets, and exactly 40 hex digits, like the serials WeChat Pay issues.
	lo := new(big.Int).Lsh(big.NewInt(0x10), 152)
	span := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(0x80), 152), lo)
	serial, err := rand.Int(rand.Reader, span)
	if err != nil {
		return nil, err
	}
	serial.Add(serial, lo)
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"wxpay simulator"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(life),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		return nil, fmt.Errorf("keysdir: certificate: %w", err)
	}
	return x509.ParseCertificate(der)
}

// Save writes the identity to dir (created if missing). Secret files get mode 0600.
func (id *Identity) Save(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("keysdir: %w", err)
	}
	type file struct {
		name   string
		data   []byte
		secret bool
	}
	files := []file{
		{FileMchID, []byte(id.MchID + "\n"), false},
		{FileAppID, []byte(id.AppID + "\n"), false},
		{FileMerchantKey, wechatpay.EncodePrivateKeyPEM(id.MerchantKey), true},
		{FileMerchantSerial, []byte(id.MerchantSerial + "\n"), false},
		{FileAPIv3Key, append(append([]byte{}, id.APIv3Key.Bytes()...), '\n'), true},
		{FileAPIv2Key, []byte(id.APIv2Key + "\n"), true},
	}
	if id.AppSecret != "" {
		files = append(files, file{FileAppSecret, []byte(id.AppSecret + "\n"), true})
	}
	if id.MerchantCert != nil {
		files = append(files, file{FileMerchantCert, wechatpay.EncodeCertificatePEM(id.MerchantCert), false})
	}
	if id.PlatformCert != nil {
		files = append(files, file{FilePlatformCert, wechatpay.EncodeCertificatePEM(id.PlatformCert), false})
	}
	if id.PlatformPublicKey != nil {
		files = append(files, file{FilePlatformPublicKey, wechatpay.EncodePublicKeyPEM(id.PlatformPublicKey), false},
			file{FilePlatformPublicKeyID, []byte(id.PlatformPublicKeyID + "\n"), false})
	}
	if id.PlatformKey != nil {
		files = append(files, file{FilePlatformKey, wechatpay.EncodePrivateKeyPEM(id.PlatformKey), true})
	}
	for _, f := range files {
		mode := fs.FileMode(0o644)
		if f.secret {
			mode = 0o600
		}
		if err := writeFile(dir, f.name, f.data, mode); err != nil {
			return fmt.Errorf("keysdir: write %s: %w", f.name, err)
		}
	}
	return nil
}

// writeFile replaces dir/name atomically: the data goes to a temporary file that is
// created fresh (O_CREATE|O_EXCL, random name, mode 0600 from the start), so a leftover
// temp file or a symlink planted where one would go is never reused or followed, and
// a reader never sees half a key. rename replaces a link at the final name, not its
// target. Non-secret files are widened to mode after writing.
func writeFile(dir, name string, data []byte, mode fs.FileMode) (err error) {
	f, err := os.CreateTemp(dir, "."+name+".*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = os.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if mode != 0o600 {
		if err = os.Chmod(tmp, mode); err != nil {
			return err
		}
	}
	return os.Rename(tmp, filepath.Join(dir, name))
}

// Load reads an identity from dir. mchid, appid, merchant_private_key.pem,
// merchant_serial and apiv3_key are required; at least one of platform_cert.pem and
// platform_public_key.pem (+ its id) must be present; the rest is optional.
func Load(dir string) (*Identity, error) {
	id := &Identity{}
	var err error
	text := func(name string, required bool) string {
		if err != nil {
			return ""
		}
		p, e := Find(dir, name)
		var b []byte
		if e == nil {
			b, e = os.ReadFile(p)
		}
		if e != nil {
			if required || !errors.Is(e, fs.ErrNotExist) {
				err = fmt.Errorf("keysdir: %w", e)
			}
			return ""
		}
		return strings.TrimSpace(string(b))
	}
	id.MchID = text(FileMchID, true)
	id.AppID = text(FileAppID, true)
	id.MerchantSerial = strings.ToUpper(text(FileMerchantSerial, true))
	keyPEM := text(FileMerchantKey, true)
	v3 := text(FileAPIv3Key, true)
	id.APIv2Key = text(FileAPIv2Key, false)
	id.AppSecret = text(FileAppSecret, false)
	mcert := text(FileMerchantCert, false)
	pcert := text(FilePlatformCert, false)
	ppub := text(FilePlatformPublicKey, false)
	id.PlatformPublicKeyID = text(FilePlatformPublicKeyID, false)
	pkey := text(FilePlatformKey, false)
	if err != nil {
		return nil, err
	}
	if id.MerchantKey, err = wechatpay.ParsePrivateKey([]byte(keyPEM)); err != nil {
		return nil, fmt.Errorf("keysdir: %s: %w", FileMerchantKey, err)
	}
	if id.APIv3Key, err = wechatpay.NewAPIv3Key(v3); err != nil {
		return nil, fmt.Errorf("keysdir: %s: %w", FileAPIv3Key, err)
	}
	if mcert != "" {
		if id.MerchantCert, err = wechatpay.ParseCertificate([]byte(mcert)); err != nil {
			return nil, fmt.Errorf("keysdir: %s: %w", FileMerchantCert, err)
		}
	}
	if pcert != "" {
		if id.PlatformCert, err = wechatpay.ParseCertificate([]byte(pcert)); err != nil {
			return nil, fmt.Errorf("keysdir: %s: %w", FilePlatformCert, err)
		}
	}
	if ppub != "" {
		if id.PlatformPublicKey, err = wechatpay.ParsePublicKey([]byte(ppub)); err != nil {
			return nil, fmt.Errorf("keysdir: %s: %w", FilePlatformPublicKey, err)
		}
		if !strings.HasPrefix(id.PlatformPublicKeyID, wechatpay.PublicKeyIDPrefix) {
			return nil, fmt.Errorf("keysdir: %s must hold the key id starting with %s, got %q", FilePlatformPublicKeyID, wechatpay.PublicKeyIDPrefix, id.PlatformPublicKeyID)
		}
	}
	if id.PlatformCert == nil && id.PlatformPublicKey == nil {
		return nil, fmt.Errorf("keysdir: %s has neither %s nor %s: responses and notifications could not be verified", dir, FilePlatformCert, FilePlatformPublicKey)
	}
	if pkey != "" {
		if id.PlatformKey, err = wechatpay.ParsePrivateKey([]byte(pkey)); err != nil {
			return nil, fmt.Errorf("keysdir: %s: %w", FilePlatformKey, err)
		}
	}
	return id, nil
}

// HasIdentity reports whether dir holds an identity (its mchid file): LoadOrCreate
// creates one where it does not.
func HasIdentity(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, FileMchID))
	return err == nil
}

// IsSimulator reports whether dir holds a simulator's identity: one with the platform
// private key (platform_private_key.pem), which only a simulator has — a merchant's
// keys dir never does. Commands use it to talk to the simulator, not to WeChat Pay.
func IsSimulator(dir string) bool {
	if !HasIdentity(dir) {
		return false
	}
	_, err := os.Stat(filepath.Join(dir, FilePlatformKey))
	return err == nil
}

// LoadOrCreate loads dir's identity, or generates and saves one when dir holds none
// (no mchid file). created tells which happened.
func LoadOrCreate(dir string) (id *Identity, created bool, err error) {
	if _, err := os.Stat(filepath.Join(dir, FileMchID)); errors.Is(err, fs.ErrNotExist) {
		id, err := Generate()
		if err != nil {
			return nil, false, err
		}
		return id, true, id.Save(dir)
	}
	if id, err = Load(dir); err != nil {
		return nil, false, err
	}
	if id.AppSecret == "" {
		// A directory written before app_secret existed: add one, never replacing a file.
		secret := newAppSecret()
		f, err := os.OpenFile(filepath.Join(dir, FileAppSecret), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, false, fmt.Errorf("keysdir: add %s: %w", FileAppSecret, err)
		}
		_, werr := f.WriteString(secret + "\n")
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return nil, false, fmt.Errorf("keysdir: add %s: %w", FileAppSecret, werr)
		}
		id.AppSecret = secret
	}
	return id, false, nil
}
