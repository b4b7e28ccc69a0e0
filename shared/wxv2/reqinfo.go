package wxv2

import (
	"crypto/aes"
	"crypto/md5"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
)

// errDecrypt: req_info does not decrypt under the configured APIv2 key. Refund
// notifications carry no sign — req_info's encryption is their only authentication —
// so this means the notification is forged, or the key configured is not this
// merchant's APIv2 key.
var errDecrypt = errors.New("wxv2: req_info does not decrypt with the configured APIv2 key")

// reqInfoKey is the AES-256 key of req_info: the lower-case hex MD5 of the APIv2 key,
// used as 32 ASCII bytes (解密方式 step 2, "对商户key做md5，得到32位小写key*").
// https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=9_16&index=10
func reqInfoKey(apiv2Key string) []byte {
	sum := md5.Sum([]byte(apiv2Key))
	return []byte(hex.EncodeToString(sum[:]))
}

// decryptReqInfo decodes req_info: base64, then AES-256-ECB with reqInfoKey, then
// PKCS#7 unpadding (解密方式 steps 1–3). The padding is checked in full, so a wrong key
// is reported as errDecrypt with overwhelming probability.
func decryptReqInfo(reqInfo, apiv2Key string) ([]byte, error) {
	if apiv2Key == "" {
		return nil, ErrNoKey
	}
	ct, err := base64.StdEncoding.DecodeString(reqInfo)
	if err != nil {
		return nil, formatErr("req_info is not base64: %v", err)
	}
	if len(ct) == 0 || len(ct)%aes.BlockSize != 0 {
		return nil, formatErr("req_info is %d bytes, not a positive multiple of the AES block size", len(ct))
	}
	if len(ct) > MaxBody {
		return nil, formatErr("req_info larger than %d bytes", MaxBody)
	}
	block, err := aes.NewCipher(reqInfoKey(apiv2Key))
	if err != nil {
		return nil, fmt.Errorf("wxv2: %w", err)
	}
	pt := make([]byte, len(ct))
	for i := 0; i < len(ct); i += aes.BlockSize {
		block.Decrypt(pt[i:i+aes.BlockSize], ct[i:i+aes.BlockSize])
	}
	n := int(pt[len(pt)-1])
	if n == 0 || n > aes.BlockSize {
		return nil, errDecrypt
	}
	pad := pt[len(pt)-n:]
	want := make([]byte, n)
	for i := range want {
		want[i] = byte(n)
	}
	if subtle.ConstantTimeCompare(pad, want) != 1 {
		return nil, errDecrypt
	}
	return pt[:len(pt)-n], nil
}

// encryptReqInfo is the inverse of decryptReqInfo, for the simulator, trigger and tests.
func encryptReqInfo(plaintext []byte, apiv2Key string) (string, error) {
	if apiv2Key == "" {
		return "", ErrNoKey
	}
	block, err := aes.NewCipher(reqInfoKey(apiv2Key))
	if err != nil {
		return "", fmt.Errorf("wxv2: %w", err)
	}
	n := aes.BlockSize - len(plaintext)%aes.BlockSize
	buf := make([]byte, len(plaintext)+n)
	copy(buf, plaintext)
	for i := len(plaintext); i < len(buf); i++ {
		buf[i] = byte(n)
	}
	for i := 0; i < len(buf); i += aes.BlockSize {
		block.Encrypt(buf[i:i+aes.BlockSize], buf[i:i+aes.BlockSize])
	}
	return base64.StdEncoding.EncodeToString(buf), nil
}
