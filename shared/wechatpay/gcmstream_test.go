package wechatpay

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"testing"
)

// The streaming GCM must agree byte for byte with the standard library's, for every
// length around the chunk and block edges and for 12- and 16-byte nonces.
func TestGCMStreamMatchesStandardLibrary(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 9))
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(rng.Uint32())
	}
	block, _ := aes.NewCipher(key)
	sizes := []int{0, 1, 15, 16, 17, 4095, gcmChunk - 1, gcmChunk, gcmChunk + 1, gcmChunk + 16, 2*gcmChunk + 7, 3*gcmChunk - 16, 300_001}
	for _, nonce := range []string{"a8607ef79034c49c", "0123456789ab", "x", "a nonce longer than one block"} {
		std, err := cipher.NewGCMWithNonceSize(block, len(nonce))
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range sizes {
			plain := make([]byte, n)
			for i := range plain {
				plain[i] = byte(rng.Uint32())
			}
			want := std.Seal(nil, []byte(nonce), plain, nil)
			var sealed bytes.Buffer
			if _, err := SealBillPart(&sealed, bytes.NewReader(plain), key, nonce); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(sealed.Bytes(), want) {
				t.Fatalf("nonce %q, %d bytes: SealBillPart differs from cipher.GCM", nonce, n)
			}
			var opened bytes.Buffer
			if _, err := openBillPart(&opened, bytes.NewReader(want), key, nonce); err != nil {
				t.Fatalf("nonce %q, %d bytes: %v", nonce, n, err)
			}
			if !bytes.Equal(opened.Bytes(), plain) {
				t.Fatalf("nonce %q, %d bytes: OpenBillPart plaintext differs", nonce, n)
			}
		}
	}
}

func TestOpenBillPartRejectsTampering(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	plain := bytes.Repeat([]byte("`2026-03-10 10:00:00,`交易,`收入,`1.00\r\n"), 5000)
	var sealed bytes.Buffer
	if _, err := SealBillPart(&sealed, bytes.NewReader(plain), key, "a8607ef79034c49c"); err != nil {
		t.Fatal(err)
	}
	ct := sealed.Bytes()
	cases := map[string]func() ([]byte, []byte, string){
		"flipped byte": func() ([]byte, []byte, string) {
			c := bytes.Clone(ct)
			c[gcmChunk+3] ^= 1
			return c, key, "a8607ef79034c49c"
		},
		"flipped tag": func() ([]byte, []byte, string) {
			c := bytes.Clone(ct)
			c[len(c)-1] ^= 1
			return c, key, "a8607ef79034c49c"
		},
		"truncated":        func() ([]byte, []byte, string) { return ct[:len(ct)-100], key, "a8607ef79034c49c" },
		"wrong nonce":      func() ([]byte, []byte, string) { return ct, key, "a8607ef79034c49d" },
		"wrong key":        func() ([]byte, []byte, string) { return ct, bytes.Repeat([]byte{8}, 32), "a8607ef79034c49c" },
		"shorter than tag": func() ([]byte, []byte, string) { return ct[:10], key, "a8607ef79034c49c" },
	}
	for name, mk := range cases {
		c, k, n := mk()
		_, err := openBillPart(&bytes.Buffer{}, bytes.NewReader(c), k, n)
		if !errors.Is(err, ErrBillDecrypt) {
			t.Errorf("%s: err = %v, want ErrBillDecrypt", name, err)
		}
	}
	if _, err := openBillPart(&bytes.Buffer{}, bytes.NewReader(ct), key[:16], "n"); err == nil || errors.Is(err, ErrBillDecrypt) {
		t.Errorf("a 16-byte key must be refused as a key error, got %v", err)
	}
}

// ctr32 must wrap its last 32 bits alone, as GCM's inc32 does; compared with a
// block-by-block reference from a counter just before the wrap.
func TestCTR32WrapsLike_inc32(t *testing.T) {
	key := bytes.Repeat([]byte{3}, 32)
	block, _ := aes.NewCipher(key)
	var j0 [16]byte
	copy(j0[:], "twelve bytes")
	binary.BigEndian.PutUint32(j0[12:], 0xfffffffc) // the first counter is …fd: three blocks before the wrap
	src := make([]byte, 16*7+5)
	var c ctr32
	c.init(block, j0)
	got := make([]byte, len(src))
	c.xor(got[:20], src[:20]) // split across a block edge to exercise the buffered keystream
	c.xor(got[20:], src[20:])
	want := make([]byte, len(src))
	ctrBlock := j0
	for i := 0; i < len(src); i += 16 {
		binary.BigEndian.PutUint32(ctrBlock[12:], binary.BigEndian.Uint32(ctrBlock[12:])+1)
		var ks [16]byte
		block.Encrypt(ks[:], ctrBlock[:])
		for k := 0; k < 16 && i+k < len(src); k++ {
			want[i+k] = src[i+k] ^ ks[k]
		}
	}
	if !bytes.Equal(got, want) {
		t.Fatal("ctr32 does not wrap like inc32")
	}
}
