package config

import (
	"crypto/rsa"
	"sync"

	"github.com/paysls/wxpay/shared/wechatpay"
)

// parsedKey is the RSA key a Secret's bytes hold, parsed once per Secret (its bytes
// never change): a function asks for the merchant key up to three times while it
// starts (createorder itself, payclient's signer, its certificate downloader), and
// each parse checks the key's arithmetic — 0.15 ms, about 5 % of a cold start.
type parsedKey struct {
	once sync.Once
	key  *rsa.PrivateKey
	err  error
}

func (s Secret) rsaKey() (*rsa.PrivateKey, error) {
	k := &s.p.rsa
	k.once.Do(func() { k.key, k.err = wechatpay.ParsePrivateKey(s.p.b) })
	return k.key, k.err
}
