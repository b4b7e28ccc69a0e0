package keysdir_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paysls/wxpay/shared/keysdir"
	"github.com/paysls/wxpay/shared/wechatpay"
)

func TestSaveLoadRoundTrip(t *testing.T) {
	dir := t.TempDir()
	id, created, err := keysdir.LoadOrCreate(dir)
	if err != nil || !created {
		t.Fatalf("LoadOrCreate on empty dir = %v, created %v", err, created)
	}
	back, created, err := keysdir.LoadOrCreate(dir)
	if err != nil || created {
		t.Fatalf("second LoadOrCreate = %v, created %v", err, created)
	}
	if back.MchID != id.MchID || back.AppID != id.AppID || back.MerchantSerial != id.MerchantSerial ||
		back.PlatformSerial() != id.PlatformSerial() || back.PlatformPublicKeyID != id.PlatformPublicKeyID ||
		back.APIv2Key != id.APIv2Key || string(back.APIv3Key.Bytes()) != string(id.APIv3Key.Bytes()) {
		t.Fatalf("round trip changed the identity:\n%v\n%v", id, back)
	}
	if !back.MerchantKey.Equal(id.MerchantKey) || !back.PlatformKey.Equal(id.PlatformKey) || !back.PlatformPublicKey.Equal(id.PlatformPublicKey) {
		t.Fatal("keys differ after round trip")
	}
	for _, serial := range []string{back.MerchantSerial, back.PlatformSerial()} {
		if len(serial) != 40 {
			t.Errorf("serial %s has %d hex digits, WeChat Pay serials have 40", serial, len(serial))
		}
	}
	if !wechatpay.KeyMatchesCertificate(back.MerchantKey, back.MerchantCert) || wechatpay.CertificateSerial(back.MerchantCert) != back.MerchantSerial {
		t.Fatal("merchant key, certificate and serial must belong together")
	}
	for _, name := range []string{keysdir.FileMerchantKey, keysdir.FileAPIv3Key, keysdir.FileAPIv2Key, keysdir.FilePlatformKey} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, %v; secrets must be 0600", name, fi.Mode().Perm(), err)
		}
	}
	// Both verification modes resolve.
	keys := back.PlatformKeys()
	if keys[back.PlatformSerial()] == nil || keys[back.PlatformPublicKeyID] == nil {
		t.Fatalf("PlatformKeys = %v", keys)
	}
}

func TestFormattingNeverShowsSecrets(t *testing.T) {
	id, err := keysdir.Generate()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{fmt.Sprint(id), fmt.Sprintf("%+v", id), fmt.Sprintf("%#v", id), fmt.Sprint(id.MerchantSigner())} {
		if strings.Contains(s, string(id.APIv3Key.Bytes())) || strings.Contains(s, id.APIv2Key) || strings.Contains(s, "PRIVATE") || strings.Contains(s, id.MerchantKey.D.String()) {
			t.Fatalf("secret in %q", s)
		}
	}
}

func TestLoadErrorsNameTheFile(t *testing.T) {
	id, err := keysdir.Generate()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, file, content, want string
	}{
		{"short APIv3 key", keysdir.FileAPIv3Key, strings.Repeat("a", 31), "32 bytes"},
		{"cert instead of key", keysdir.FileMerchantKey, "", "CERTIFICATE"},
		{"bad public key id", keysdir.FilePlatformPublicKeyID, "12345", "PUB_KEY_ID_"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := id.Save(dir); err != nil {
				t.Fatal(err)
			}
			content := c.content
			if content == "" {
				content = string(wechatpay.EncodeCertificatePEM(id.MerchantCert))
			}
			if err := os.WriteFile(filepath.Join(dir, c.file), []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := keysdir.Load(dir)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Load = %v, want an error mentioning %q", err, c.want)
			}
		})
	}
	dir := t.TempDir()
	if err := id.Save(dir); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, keysdir.FilePlatformCert))
	os.Remove(filepath.Join(dir, keysdir.FilePlatformPublicKey))
	if _, err := keysdir.Load(dir); err == nil || !strings.Contains(err.Error(), "neither") {
		t.Fatalf("Load without platform keys = %v", err)
	}
}
