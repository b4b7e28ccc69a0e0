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

// A temp file left behind by an interrupted Save (or created by someone else) with
// mode 0644 must not lend its mode to the secrets written next.
func TestSaveIgnoresStaleTempFiles(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{keysdir.FileAPIv3Key, keysdir.FileMerchantKey, keysdir.FilePlatformKey} {
		if err := os.WriteFile(filepath.Join(dir, "."+name+".tmp"), []byte("stale"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	id, err := keysdir.Generate()
	if err != nil {
		t.Fatal(err)
	}
	if err := id.Save(dir); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{keysdir.FileAPIv3Key, keysdir.FileMerchantKey, keysdir.FilePlatformKey, keysdir.FileAPIv2Key} {
		fi, err := os.Lstat(filepath.Join(dir, name))
		if err != nil || fi.Mode() != 0o600 {
			t.Errorf("%s: mode %v, %v; want a regular 0600 file", name, fi.Mode(), err)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, keysdir.FileMchID)); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("mchid: %v %v; non-secret files stay 0644", fi.Mode(), err)
	}
	if _, err := keysdir.Load(dir); err != nil {
		t.Fatal(err)
	}
}

// A symlink planted where a temp file would go (old fixed name, or any name) must not
// be followed: the target keeps its content, the secret lands in the directory.
func TestSaveDoesNotFollowPlantedSymlinks(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, []byte("untouched"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{keysdir.FileAPIv3Key, keysdir.FileMerchantKey} {
		if err := os.Symlink(victim, filepath.Join(dir, "."+name+".tmp")); err != nil {
			t.Fatal(err)
		}
	}
	// A link at the final name is replaced, not written through.
	if err := os.Symlink(victim, filepath.Join(dir, keysdir.FileAPIv2Key)); err != nil {
		t.Fatal(err)
	}
	id, err := keysdir.Generate()
	if err != nil {
		t.Fatal(err)
	}
	if err := id.Save(dir); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "untouched" {
		t.Fatalf("the symlink's target was written: %q", b)
	}
	for _, name := range []string{keysdir.FileAPIv3Key, keysdir.FileMerchantKey, keysdir.FileAPIv2Key} {
		fi, err := os.Lstat(filepath.Join(dir, name))
		if err != nil || fi.Mode() != 0o600 {
			t.Errorf("%s: mode %v, %v; want a regular 0600 file", name, fi.Mode(), err)
		}
	}
	back, err := keysdir.Load(dir)
	if err != nil || back.APIv2Key != id.APIv2Key {
		t.Fatalf("load after save: %v", err)
	}
}

// A merchant's files keep the names the merchant platform gave them.
func TestMerchantPlatformFileNames(t *testing.T) {
	dir := t.TempDir()
	id, err := keysdir.Generate()
	if err != nil {
		t.Fatal(err)
	}
	if err := id.Save(dir); err != nil {
		t.Fatal(err)
	}
	for canonical, alias := range map[string]string{keysdir.FileMerchantKey: "apiclient_key.pem", keysdir.FileMerchantCert: "apiclient_cert.pem"} {
		if err := os.Rename(filepath.Join(dir, canonical), filepath.Join(dir, alias)); err != nil {
			t.Fatal(err)
		}
	}
	back, err := keysdir.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !back.MerchantKey.Equal(id.MerchantKey) || back.MerchantCert == nil {
		t.Fatal("apiclient_key.pem / apiclient_cert.pem not read")
	}
	if p, err := keysdir.Find(dir, keysdir.FileMerchantKey); err != nil || filepath.Base(p) != "apiclient_key.pem" {
		t.Fatalf("Find = %s, %v", p, err)
	}
	// Both names present: ambiguous, say so.
	if err := os.WriteFile(filepath.Join(dir, keysdir.FileMerchantKey), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := keysdir.Load(dir); err == nil || !strings.Contains(err.Error(), "both merchant_private_key.pem and apiclient_key.pem") {
		t.Fatalf("Load with both names: %v", err)
	}
}
