package paysim

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net/http"
	"time"

	"github.com/paysls/wxpay/shared/keysdir"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// platformKey is one WeChat Pay platform signing key with the certificate and the
// PUB_KEY_ID it is published under.
type platformKey struct {
	key      *rsa.PrivateKey
	cert     *x509.Certificate
	serial   string
	pubKeyID string
}

func initialPlatformKey(id *keysdir.Identity) (*platformKey, error) {
	k := &platformKey{key: id.PlatformKey, cert: id.PlatformCert, pubKeyID: id.PlatformPublicKeyID}
	if k.cert == nil {
		// A public-key-only identity: make a certificate for /v3/certificates anyway.
		c, err := selfSignedPlatformCert(k.key)
		if err != nil {
			return nil, err
		}
		k.cert = c
	}
	k.serial = wechatpay.CertificateSerial(k.cert)
	return k, nil
}

func selfSignedPlatformCert(k *rsa.PrivateKey) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 159))
	if err != nil {
		return nil, fmt.Errorf("paysim: certificate serial: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "Tenpay.com Root CA (paysim platform certificate)", Organization: []string{"wxpay simulator"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(5 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		return nil, fmt.Errorf("paysim: platform certificate: %w", err)
	}
	return x509.ParseCertificate(der)
}

// rotatePlatformKey puts a new platform key in service, as WeChat Pay does when a
// platform certificate nears expiry: a new RSA key with a new certificate serial (and a
// new PUB_KEY_ID) signs everything from now on, and /v3/certificates lists both the
// old and the new certificate so clients can pick the new one up.
func (s *Simulator) rotatePlatformKey() error {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return fmt.Errorf("paysim: rotate platform key: %w", err)
	}
	cert, err := selfSignedPlatformCert(key)
	if err != nil {
		return err
	}
	k := &platformKey{key: key, cert: cert, serial: wechatpay.CertificateSerial(cert), pubKeyID: wechatpay.PublicKeyIDPrefix + "01" + s.ids.digits(30)}
	s.mu.Lock()
	s.keys = append(s.keys, k)
	s.mu.Unlock()
	s.log.Info("paysim: platform key rotated", "serial", k.serial, "public_key_id", k.pubKeyID)
	return nil
}

// PlatformKey is the public half of a platform key, for clients and tests.
type PlatformKey struct {
	Serial      string            `json:"serial_no"`
	PublicKeyID string            `json:"public_key_id"`
	Certificate *x509.Certificate `json:"-"`
	PublicKey   *rsa.PublicKey    `json:"-"`
	CertPEM     string            `json:"certificate_pem"`
	PublicPEM   string            `json:"public_key_pem"`
	Current     bool              `json:"current"`
}

// PlatformKeys lists every platform key the simulator has used, oldest first; the
// last one signs.
func (s *Simulator) PlatformKeys() []PlatformKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]PlatformKey, len(s.keys))
	for i, k := range s.keys {
		out[i] = PlatformKey{
			Serial: k.serial, PublicKeyID: k.pubKeyID, Certificate: k.cert, PublicKey: &k.key.PublicKey,
			CertPEM: string(wechatpay.EncodeCertificatePEM(k.cert)), PublicPEM: string(wechatpay.EncodePublicKeyPEM(&k.key.PublicKey)),
			Current: i == len(s.keys)-1,
		}
	}
	return out
}

// resolver returns a wechatpay.KeyResolver that knows every platform key under both
// its certificate serial and its PUB_KEY_ID.
func (s *Simulator) resolver() wechatpay.StaticKeys {
	keys := wechatpay.StaticKeys{}
	for _, k := range s.PlatformKeys() {
		keys[k.Serial] = k.PublicKey
		keys[k.PublicKeyID] = k.PublicKey
	}
	return keys
}

// simPlatform handles GET /sim/platform: the platform certificates and public keys,
// so a client can be pointed at the simulator (or follow a rotation) without files.
func (s *Simulator) simPlatform(w http.ResponseWriter, _ *http.Request) {
	simJSON(w, http.StatusOK, map[string]any{"mode": s.cfg.Mode, "mchid": s.id.MchID, "appid": s.id.AppID, "keys": s.PlatformKeys()})
}

// certificates handles GET /v3/certificates: every platform certificate, its PEM
// encrypted with the APIv3 key (associated_data "certificate").
func (s *Simulator) certificates(*apiRequest) *reply {
	aead, err := wechatpay.NewAEAD(s.id.APIv3Key)
	if err != nil {
		return errReply(http.StatusInternalServerError, "SYSTEM_ERROR", "paysim: "+err.Error())
	}
	var out wechatpay.PlatformCertificates
	for _, k := range s.PlatformKeys() {
		nonce := s.ids.alnum(12)
		ct, err := aead.Seal(nonce, "certificate", []byte(k.CertPEM))
		if err != nil {
			return errReply(http.StatusInternalServerError, "SYSTEM_ERROR", "paysim: "+err.Error())
		}
		out.Data = append(out.Data, wechatpay.PlatformCertificate{
			SerialNo: k.Serial, EffectiveTime: rfc3339CST(k.Certificate.NotBefore), ExpireTime: rfc3339CST(k.Certificate.NotAfter),
			EncryptCertificate: wechatpay.EncryptedResource{
				Algorithm: wechatpay.AlgorithmAEAD, Nonce: nonce, AssociatedData: "certificate", Ciphertext: ct,
			},
		})
	}
	return jsonReply(http.StatusOK, out)
}
