package wechatpay

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Fixture keys live in testdata/ (see testdata/README.md).
const (
	fixtureMchID        = "1900000001"
	fixtureMerchantSer  = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
	fixturePlatformSer  = "3A8A4D1F0C2B6E9D7F1E2A3B4C5D6E7F80912AB3"
	fixturePublicKeyID  = "PUB_KEY_ID_0119000000012024010100000000000001"
	fixtureAPIv3KeyText = "0123456789abcdefABCDEF0123456789"
)

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func merchantKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	k, err := ParsePrivateKey(readFixture(t, "merchant_key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func platformKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	k, err := ParsePrivateKey(readFixture(t, "platform_key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func testAEAD(t testing.TB) *AEAD {
	t.Helper()
	k, err := NewAPIv3Key(fixtureAPIv3KeyText)
	if err != nil {
		t.Fatal(err)
	}
	a, err := NewAEAD(k)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

var (
	genOnce sync.Once
	genKeys [2]*rsa.PrivateKey
)

// generatedKeys returns two freshly generated 2048-bit keys, made once per test binary
// (key generation is slow on a shared machine).
func generatedKeys(t testing.TB) (*rsa.PrivateKey, *rsa.PrivateKey) {
	t.Helper()
	genOnce.Do(func() {
		for i := range genKeys {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			genKeys[i] = k
		}
	})
	return genKeys[0], genKeys[1]
}

// makeCert self-signs a certificate for k with the given hex serial and validity.
func makeCert(t testing.TB, k *rsa.PrivateKey, serialHex string, notBefore, notAfter time.Time) *x509.Certificate {
	t.Helper()
	sn, ok := new(big.Int).SetString(serialHex, 16)
	if !ok {
		t.Fatalf("bad serial %q", serialHex)
	}
	tpl := &x509.Certificate{SerialNumber: sn, Subject: pkix.Name{CommonName: "test platform certificate"},
		NotBefore: notBefore, NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// zeroReader makes newNonce deterministic.
type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
