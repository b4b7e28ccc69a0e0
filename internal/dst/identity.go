package dst

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"math/big"
	"sync"
	"time"

	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/keysdir"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// The DST's merchant and WeChat Pay identity. RSA signing dominates a history's cost
// (every call to WeChat Pay is signed by the merchant and answered signed by WeChat
// Pay), so the DST's keys are RSA-1024 — real SHA256withRSA signatures, which the
// code under test verifies exactly as with WeChat Pay's 2048-bit keys; 1024 is the
// smallest key Go's crypto/rsa accepts. The ids are fixed so that a history's store
// keys, and with them its trace, are the same in every process.
const (
	dstMchID = "1900000001"
	dstAppID = "wxd930ea5d5a258f4f"
	apiToken = "dst-api-token-0123456789abcdef0123"
	// publicURL lets scene cashier answer its link; the history loads it (scenes.go).
	publicURL = "https://pay.dst.example"
)

// KeyBits is the size of the DST's RSA keys.
const KeyBits = 1024

var identity = sync.OnceValues(func() (*keysdir.Identity, error) {
	mk, err := rsa.GenerateKey(rand.Reader, KeyBits)
	if err != nil {
		return nil, err
	}
	pk, err := rsa.GenerateKey(rand.Reader, KeyBits)
	if err != nil {
		return nil, err
	}
	mcert, err := selfSigned(mk, "dst merchant "+dstMchID)
	if err != nil {
		return nil, err
	}
	pcert, err := selfSigned(pk, "dst WeChat Pay platform")
	if err != nil {
		return nil, err
	}
	v3, err := wechatpay.NewAPIv3Key(randomHex(16))
	if err != nil {
		return nil, err
	}
	return &keysdir.Identity{
		MchID: dstMchID, AppID: dstAppID,
		MerchantKey: mk, MerchantSerial: wechatpay.CertificateSerial(mcert), MerchantCert: mcert,
		PlatformCert: pcert, PlatformPublicKey: &pk.PublicKey, PlatformKey: pk,
		PlatformPublicKeyID: wechatpay.PublicKeyIDPrefix + "0119000000012026010100000000000001",
		APIv3Key:            v3, APIv2Key: randomHex(16), AppSecret: randomHex(16),
	}, nil
})

// bundleConfig is the bundle's configuration for the identity: direct merchant,
// WeChat Pay at wechatPayBase, notifications to notifyURL.
func bundleConfig(id *keysdir.Identity) config.Config {
	return config.Config{
		MchID: id.MchID, AppID: id.AppID, MerchantSerial: id.MerchantSerial,
		PrivateKey:   config.NewSecret(wechatpay.EncodePrivateKeyPEM(id.MerchantKey)),
		MerchantCert: wechatpay.EncodeCertificatePEM(id.MerchantCert),
		APIv3Key:     config.NewSecret(id.APIv3Key.Bytes()), APIv2Key: config.NewSecret([]byte(id.APIv2Key)),
		PlatformCert: wechatpay.EncodeCertificatePEM(id.PlatformCert), PlatformPublicKey: wechatpay.EncodePublicKeyPEM(id.PlatformPublicKey),
		PlatformPublicKeyID: id.PlatformPublicKeyID,
		NotifyURL:           notifyURL, APIBase: wechatPayBase,
		Bundle: config.Bundle{
			APIToken: config.NewSecret([]byte(apiToken)), OrderTTL: 2 * time.Hour, PublicURL: publicURL,
			AppSecret: config.NewSecret([]byte(id.AppSecret)),
		},
		Sources: map[string]string{},
	}
}

func selfSigned(k *rsa.PrivateKey, cn string) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 150))
	if err != nil {
		return nil, err
	}
	serial.SetBit(serial, 155, 1) // 40 hex digits, like WeChat Pay's serials
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn, Organization: []string{"wxpay dst"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
