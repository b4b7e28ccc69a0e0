package wechatpay

import (
	"errors"
	"strings"
	"testing"
)

func TestAEADRoundTripAndErrors(t *testing.T) {
	a := testAEAD(t)
	ct, err := a.Seal("0123456789ab", "transaction", []byte(`{"out_trade_no":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	pt, err := a.Open("0123456789ab", "transaction", ct)
	if err != nil || string(pt) != `{"out_trade_no":"x"}` {
		t.Fatalf("open: %q %v", pt, err)
	}
	// Empty associated data is allowed.
	ct2, _ := a.Seal("0123456789ab", "", []byte("hi"))
	if pt, err := a.Open("0123456789ab", "", ct2); err != nil || string(pt) != "hi" {
		t.Fatalf("empty AD: %v", err)
	}
	other, _ := NewAPIv3Key(strings.Repeat("z", 32))
	wrong, _ := NewAEAD(other)
	for name, open := range map[string]func() error{
		"wrong key":    func() error { _, err := wrong.Open("0123456789ab", "transaction", ct); return err },
		"wrong AD":     func() error { _, err := a.Open("0123456789ab", "refund", ct); return err },
		"wrong nonce":  func() error { _, err := a.Open("0123456789ac", "transaction", ct); return err },
		"flipped byte": func() error { _, err := a.Open("0123456789ab", "transaction", flipB64(ct)); return err },
	} {
		if err := open(); !errors.Is(err, ErrDecrypt) {
			t.Errorf("%s: err = %v, want ErrDecrypt", name, err)
		}
	}
	if !strings.Contains(ErrDecrypt.Error(), "APIv3 key") {
		t.Fatal("a wrong APIv3 key must be obvious from the message")
	}
	for name, open := range map[string]func() error{
		"short nonce": func() error { _, err := a.Open("short", "", ct); return err },
		"bad base64":  func() error { _, err := a.Open("0123456789ab", "", "%%%"); return err },
		"too short":   func() error { _, err := a.Open("0123456789ab", "", "AAAA"); return err },
	} {
		err := open()
		if err == nil || errors.Is(err, ErrDecrypt) {
			t.Errorf("%s: err = %v, want a format error distinct from ErrDecrypt", name, err)
		}
	}
	if _, err := a.Seal("short", "", nil); err == nil {
		t.Fatal("Seal must check the nonce length")
	}
}

// flipB64 changes the first base64 character, altering the ciphertext.
func flipB64(s string) string {
	c := byte('A')
	if s[0] == 'A' {
		c = 'B'
	}
	return string(c) + s[1:]
}

func TestOAEPRoundTrip(t *testing.T) {
	k := merchantKey(t)
	ct, err := EncryptOAEP(&k.PublicKey, []byte("张三"))
	if err != nil {
		t.Fatal(err)
	}
	pt, err := DecryptOAEP(k, ct)
	if err != nil || string(pt) != "张三" {
		t.Fatalf("%q %v", pt, err)
	}
	if _, err := DecryptOAEP(platformKey(t), ct); err == nil {
		t.Fatal("decrypted with the wrong key")
	}
	if _, err := DecryptOAEP(k, "!!"); err == nil {
		t.Fatal("bad base64 accepted")
	}
}
