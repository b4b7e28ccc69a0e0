package wechatpay

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParsePrivateKeyForms(t *testing.T) {
	p8, err := ParsePrivateKey(readFixture(t, "merchant_key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	p1, err := ParsePrivateKey(readFixture(t, "merchant_key_pkcs1.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if !p8.Equal(p1) {
		t.Fatal("PKCS#8 and PKCS#1 forms of the same key differ")
	}
	// Round trip through our encoder.
	again, err := ParsePrivateKey(EncodePrivateKeyPEM(p8))
	if err != nil || !again.Equal(p8) {
		t.Fatalf("re-encode: %v", err)
	}
	cert, err := ParseCertificate(readFixture(t, "merchant_cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if got := CertificateSerial(cert); got != fixtureMerchantSer {
		t.Fatalf("serial %s", got)
	}
	if !KeyMatchesCertificate(p8, cert) {
		t.Fatal("key should match its certificate")
	}
	if KeyMatchesCertificate(platformKey(t), cert) {
		t.Fatal("platform key must not match the merchant certificate")
	}
	pub, err := ParsePublicKey(readFixture(t, "merchant_pub.pem"))
	if err != nil || !pub.Equal(&p8.PublicKey) {
		t.Fatalf("public key: %v", err)
	}
	fromCert, err := ParsePublicKey(readFixture(t, "merchant_cert.pem"))
	if err != nil || !fromCert.Equal(&p8.PublicKey) {
		t.Fatalf("public key from cert: %v", err)
	}
	if pk, err := ParsePublicKey(EncodePublicKeyPEM(&p8.PublicKey)); err != nil || !pk.Equal(&p8.PublicKey) {
		t.Fatalf("re-encode public: %v", err)
	}
	if c, err := ParseCertificate(EncodeCertificatePEM(cert)); err != nil || !c.Equal(cert) {
		t.Fatalf("re-encode cert: %v", err)
	}
}

func TestParseKeyWrongTypes(t *testing.T) {
	cases := []struct {
		name    string
		parse   func([]byte) error
		input   []byte
		wantMsg string
	}{
		{"private: certificate given", func(b []byte) error { _, err := ParsePrivateKey(b); return err }, readFixture(t, "merchant_cert.pem"), "apiclient_key.pem"},
		{"private: public key given", func(b []byte) error { _, err := ParsePrivateKey(b); return err }, readFixture(t, "merchant_pub.pem"), "PUBLIC KEY"},
		{"private: EC key", func(b []byte) error { _, err := ParsePrivateKey(b); return err }, readFixture(t, "ec_key.pem"), "RSA"},
		{"private: not PEM", func(b []byte) error { _, err := ParsePrivateKey(b); return err }, []byte("MIIEv..."), "no PEM block"},
		{"private: other block", func(b []byte) error { _, err := ParsePrivateKey(b); return err }, ecBlock, "unsupported PEM block"},
		{"private: corrupt PKCS#8", func(b []byte) error { _, err := ParsePrivateKey(b); return err }, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{0, 0, 0}}), "malformed PKCS#8"},
		{"cert: key given", func(b []byte) error { _, err := ParseCertificate(b); return err }, readFixture(t, "merchant_key.pem"), "want CERTIFICATE"},
		{"cert: not PEM", func(b []byte) error { _, err := ParseCertificate(b); return err }, nil, "no PEM block"},
		{"public: private key given", func(b []byte) error { _, err := ParsePublicKey(b); return err }, readFixture(t, "merchant_key.pem"), "unsupported PEM block"},
		{"public: not PEM", func(b []byte) error { _, err := ParsePublicKey(b); return err }, []byte("x"), "no PEM block"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.parse(c.input)
			if err == nil || !strings.Contains(err.Error(), c.wantMsg) {
				t.Fatalf("err = %v, want mention of %q", err, c.wantMsg)
			}
			// Errors never quote key material.
			if strings.Contains(err.Error(), "MII") {
				t.Fatalf("error quotes PEM content: %v", err)
			}
		})
	}
}

func TestLoadPrivateKeyFile(t *testing.T) {
	if _, err := loadPrivateKeyFile(filepath.Join("testdata", "merchant_key.pem")); err != nil {
		t.Fatal(err)
	}
	_, err := loadPrivateKeyFile(filepath.Join("testdata", "merchant_cert.pem"))
	if err == nil || !strings.Contains(err.Error(), "merchant_cert.pem") {
		t.Fatalf("error should name the file: %v", err)
	}
	if _, err := loadPrivateKeyFile(filepath.Join(t.TempDir(), "missing.pem")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

// An empty key is a key never set (收不到回调 情况一): it says so, not "got 0 bytes".
func TestNewAPIv3KeyNotSet(t *testing.T) {
	for _, in := range []string{"", "   \n"} {
		_, err := NewAPIv3Key(in)
		if !errors.Is(err, errAPIv3KeyNotSet) || errors.Is(err, errAPIv3KeyLength) {
			t.Fatalf("NewAPIv3Key(%q) = %v, want ErrAPIv3KeyNotSet", in, err)
		}
	}
}

func TestNewAPIv3Key(t *testing.T) {
	k32 := fixtureAPIv3KeyText
	for _, c := range []struct {
		name string
		in   string
		ok   bool
	}{
		{"32 bytes", k32, true},
		{"trailing newline from a file", k32 + "\n", true},
		{"CRLF and spaces", "  " + k32 + "\r\n", true},
		{"31 bytes", k32[:31], false},
		{"33 bytes", k32 + "x", false},
		{"the 32-char hex of a 16-byte key is fine", strings.Repeat("ab", 16), true},
	} {
		t.Run(c.name, func(t *testing.T) {
			k, err := NewAPIv3Key(c.in)
			if c.ok {
				if err != nil {
					t.Fatal(err)
				}
				if string(k.Bytes()) != strings.TrimSpace(c.in) || k.IsZero() {
					t.Fatal("wrong key bytes")
				}
				return
			}
			if !errors.Is(err, errAPIv3KeyLength) {
				t.Fatalf("err = %v", err)
			}
			if want := fmt.Sprintf("got %d bytes", len(strings.TrimSpace(c.in))); !strings.Contains(err.Error(), want) {
				t.Fatalf("error %q should say %q", err, want)
			}
			if len(strings.TrimSpace(c.in)) > 4 && strings.Contains(err.Error(), strings.TrimSpace(c.in)) {
				t.Fatal("error quotes the key")
			}
		})
	}
	var zero APIv3Key
	if !zero.IsZero() {
		t.Fatal("zero key")
	}
	if _, err := NewAEAD(zero); err == nil {
		t.Fatal("NewAEAD must refuse an unset key")
	}
}

func TestSecretsAreRedacted(t *testing.T) {
	k, _ := NewAPIv3Key(fixtureAPIv3KeyText)
	mk := merchantKey(t)
	s := &Signer{MchID: fixtureMchID, Serial: fixtureMerchantSer, Key: mk}
	ps := &PlatformSigner{Serial: fixturePlatformSer, Key: mk}
	type config struct {
		Key      APIv3Key
		Signer   Signer // by value: pointer-receiver String would not be found
		SignerP  *Signer
		Platform PlatformSigner
	}
	cfg := config{Key: k, Signer: *s, SignerP: s, Platform: *ps}
	secretD := mk.D.String()
	secretDHex := mk.D.Text(16)
	check := func(name, out string) {
		t.Helper()
		if strings.Contains(out, fixtureAPIv3KeyText) || strings.Contains(out, secretD) || strings.Contains(out, secretDHex) ||
			strings.Contains(out, mk.Primes[0].String()) {
			t.Fatalf("%s leaks a secret: %s", name, out)
		}
		if !strings.Contains(out, "REDACTED") {
			t.Fatalf("%s: expected a REDACTED marker in %s", name, out)
		}
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		check("APIv3Key "+verb, fmt.Sprintf(verb, k))
		check("*Signer "+verb, fmt.Sprintf(verb, s))
		check("Signer "+verb, fmt.Sprintf(verb, *s))
		check("config "+verb, fmt.Sprintf(verb, cfg))
		check("PlatformSigner "+verb, fmt.Sprintf(verb, ps))
	}
	var buf bytes.Buffer
	for _, h := range []slog.Handler{slog.NewJSONHandler(&buf, nil), slog.NewTextHandler(&buf, nil)} {
		buf.Reset()
		slog.New(h).Info("config", "key", k, "signer", s, "signerValue", *s, "platform", ps, "cfg", cfg)
		check(fmt.Sprintf("slog %T", h), buf.String())
	}
	j, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	check("encoding/json", string(j))
}
