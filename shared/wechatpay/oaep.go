package wechatpay

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
)

// EncryptOAEP encrypts a sensitive field (a name, an ID number, a phone number) for
// WeChat Pay with RSAES-OAEP (SHA-1, MGF1-SHA-1), the padding APIv3 prescribes. The
// request must then carry Wechatpay-Serial naming the key used.
func EncryptOAEP(pub *rsa.PublicKey, plaintext []byte) (string, error) {
	ct, err := rsa.EncryptOAEP(sha1.New(), rand.Reader, pub, plaintext, nil)
	if err != nil {
		return "", fmt.Errorf("wechatpay: oaep encrypt: %w", err)
	}
	return base64.StdEncoding.EncodeToString(ct), nil
}

// DecryptOAEP decrypts a sensitive field WeChat Pay encrypted with the merchant's key.
func DecryptOAEP(key *rsa.PrivateKey, ciphertextB64 string) ([]byte, error) {
	ct, err := base64.StdEncoding.DecodeString(ciphertextB64)
	if err != nil {
		return nil, fmt.Errorf("wechatpay: oaep decrypt: ciphertext is not valid base64: %w", err)
	}
	pt, err := rsa.DecryptOAEP(sha1.New(), nil, key, ct, nil)
	if err != nil {
		return nil, fmt.Errorf("wechatpay: oaep decrypt: %w", err)
	}
	return pt, nil
}
