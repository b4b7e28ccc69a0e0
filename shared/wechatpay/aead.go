package wechatpay

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"errors"
	"fmt"
)

// AlgorithmAEAD is the only algorithm of encrypted notification resources and
// platform certificates.
const AlgorithmAEAD = "AEAD_AES_256_GCM"

// ErrDecrypt means a resource did not decrypt: almost always a wrong APIv3 key (the
// key set in the merchant platform differs from the one configured here), or a
// tampered notification.
var ErrDecrypt = errors.New("wechatpay: AEAD_AES_256_GCM decryption failed: the APIv3 key configured here is not the one set in 商户平台 → API安全, or the resource was altered")

// AEAD opens and seals AEAD_AES_256_GCM resources with the APIv3 key. Build it once and
// reuse it: the AES key schedule is the expensive part of a small decryption.
type AEAD struct{ gcm cipher.AEAD }

// NewAEAD prepares AES-256-GCM with the APIv3 key.
func NewAEAD(key APIv3Key) (*AEAD, error) {
	if key.IsZero() {
		return nil, errAPIv3KeyNotSet
	}
	block, err := aes.NewCipher(key.Bytes())
	if err != nil {
		return nil, fmt.Errorf("wechatpay: aes: %w", err)
	}
	gcm, err := cipher.NewGCM(block) // 12-byte nonce, 16-byte tag: WeChat Pay's parameters
	if err != nil {
		return nil, fmt.Errorf("wechatpay: gcm: %w", err)
	}
	return &AEAD{gcm: gcm}, nil
}

// Open decrypts a base64 ciphertext (with its 16-byte tag appended) under nonce and
// associatedData, both taken verbatim from the resource; associatedData may be empty.
func (a *AEAD) Open(nonce, associatedData, ciphertextB64 string) ([]byte, error) {
	if len(nonce) != a.gcm.NonceSize() {
		return nil, fmt.Errorf("wechatpay: resource nonce must be %d bytes, got %d", a.gcm.NonceSize(), len(nonce))
	}
	ct, err := base64.StdEncoding.DecodeString(ciphertextB64)
	if err != nil {
		return nil, fmt.Errorf("wechatpay: resource ciphertext is not valid base64: %w", err)
	}
	if len(ct) < a.gcm.Overhead() {
		return nil, fmt.Errorf("wechatpay: resource ciphertext of %d bytes is shorter than the GCM tag", len(ct))
	}
	// Decrypt in place: the plaintext is never longer than the ciphertext.
	pt, err := a.gcm.Open(ct[:0], []byte(nonce), ct, []byte(associatedData))
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}

// Seal encrypts plaintext as WeChat Pay does and returns base64 ciphertext+tag. The
// nonce must be 12 bytes and never reused with the same key.
func (a *AEAD) Seal(nonce, associatedData string, plaintext []byte) (string, error) {
	if len(nonce) != a.gcm.NonceSize() {
		return "", fmt.Errorf("wechatpay: nonce must be %d bytes, got %d", a.gcm.NonceSize(), len(nonce))
	}
	ct := a.gcm.Seal(nil, []byte(nonce), plaintext, []byte(associatedData))
	return base64.StdEncoding.EncodeToString(ct), nil
}
