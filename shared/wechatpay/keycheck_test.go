package wechatpay

import (
	"encoding/asn1"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
)

// CheckPrivateKey takes what ParsePrivateKey takes and refuses, with ParsePrivateKey's
// own error, what it refuses — every case a start-up sees: a wrong file, a damaged
// paste, another kind of key.
func TestCheckPrivateKeyAgreesWithParse(t *testing.T) {
	k := readFixture(t, "merchant_key.pem")
	truncated := []byte(strings.Replace(string(k), "\n", "", 12)) // base64 lines run together
	lines := strings.Split(strings.TrimSpace(string(k)), "\n")
	cut := []byte(strings.Join(append(lines[:len(lines)/2:len(lines)/2], lines[len(lines)-1]), "\n")) // half the body gone
	inputs := map[string][]byte{
		"PKCS#8":           k,
		"PKCS#1":           readFixture(t, "merchant_key_pkcs1.pem"),
		"joined lines":     truncated,
		"half cut":         cut,
		"certificate":      readFixture(t, "merchant_cert.pem"),
		"public key":       readFixture(t, "merchant_pub.pem"),
		"EC key":           readFixture(t, "ec_key.pem"),
		"not PEM":          []byte("MIIEv..."),
		"empty":            nil,
		"other block":      ecBlock,
		"corrupt PKCS#8":   pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{0, 0, 0}}),
		"corrupt PKCS#1":   pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: []byte{0x30, 0x03, 0x02, 0x01, 0x00}}),
		"PKCS#1 as PKCS#8": pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs1DER(t, nil)}),
		"zero modulus":     pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: pkcs1DER(t, func(k *pkcs1Numbers) { k.N = big.NewInt(0) })}),
		"trailing data":    pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: append(pkcs1DER(t, nil), 0)}),
		"multi-prime":      pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: pkcs1DER(t, func(k *pkcs1Numbers) { k.Version = 2 })}),
		"even exponent":    pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: pkcs1DER(t, func(k *pkcs1Numbers) { k.E = 65536 })}),
	}
	for name, in := range inputs {
		t.Run(name, func(t *testing.T) {
			_, perr := ParsePrivateKey(in)
			cerr := CheckPrivateKey(in)
			if (perr == nil) != (cerr == nil) || (perr != nil && perr.Error() != cerr.Error()) {
				t.Fatalf("CheckPrivateKey = %v, ParsePrivateKey = %v", cerr, perr)
			}
		})
	}
}

// A key whose numbers are well-formed but do not agree (a digit changed inside one)
// passes the check and fails where it is parsed: at the first signature.
func TestCheckPrivateKeyLeavesTheArithmeticToTheParse(t *testing.T) {
	bad := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: pkcs1DER(t, func(k *pkcs1Numbers) {
		k.D = new(big.Int).Add(k.D, big.NewInt(2))
	})})
	if err := CheckPrivateKey(bad); err != nil {
		t.Fatalf("CheckPrivateKey = %v, want nil (the arithmetic is the parse's)", err)
	}
	if _, err := ParsePrivateKey(bad); err == nil {
		t.Fatal("ParsePrivateKey took a key whose d does not match dP")
	}
}

type pkcs1Numbers struct {
	Version             int
	N                   *big.Int
	E                   int
	D, P, Q, Dp, Dq, Qi *big.Int
}

// pkcs1DER is the fixture merchant key as PKCS#1 DER, changed by edit.
func pkcs1DER(t *testing.T, edit func(*pkcs1Numbers)) []byte {
	t.Helper()
	block, _ := pem.Decode(readFixture(t, "merchant_key_pkcs1.pem"))
	var k pkcs1Numbers
	if _, err := asn1.Unmarshal(block.Bytes, &k); err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(&k)
	}
	der, err := asn1.Marshal(k)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func BenchmarkCheckPrivateKey(b *testing.B) {
	k := readFixture(b, "merchant_key.pem")
	for b.Loop() {
		if err := CheckPrivateKey(k); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParsePrivateKey(b *testing.B) {
	k := readFixture(b, "merchant_key.pem")
	for b.Loop() {
		if _, err := ParsePrivateKey(k); err != nil {
			b.Fatal(err)
		}
	}
}

// ecBlock is a PEM block of another key type, made here so that no key-shaped text sits
// in the source.
var ecBlock = pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: []byte{0, 0, 0}})
