package config

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paysls/wxpay/shared/keysdir"
)

// FromKeysDir opens each file by name instead of listing the directory first; it
// still takes the merchant platform's names (apiclient_key.pem, apiclient_cert.pem),
// refuses a directory holding a file under both names, leaves an absent file unset
// without an error, and refuses a keys dir that is not a directory.
func TestFromKeysDirNamesAliasesAndAbsentFiles(t *testing.T) {
	id, dir := savedDir(t)
	key, err := os.ReadFile(filepath.Join(dir, keysdir.FileMerchantKey))
	if err != nil {
		t.Fatal(err)
	}
	// The merchant platform's names instead of ours; no notify_url, api_token, … files.
	for from, to := range map[string]string{keysdir.FileMerchantKey: "apiclient_key.pem", keysdir.FileMerchantCert: "apiclient_cert.pem"} {
		if err := os.Rename(filepath.Join(dir, from), filepath.Join(dir, to)); err != nil {
			t.Fatal(err)
		}
	}
	c, err := FromKeysDir(dir)
	if err != nil {
		t.Fatalf("keys dir with the merchant platform's names: %v", err)
	}
	if !bytes.Equal(c.PrivateKey.Reveal(), key) || c.Source("PrivateKey") != "keys dir "+filepath.Join(dir, "apiclient_key.pem") || len(c.MerchantCert) == 0 {
		t.Errorf("apiclient_key.pem / apiclient_cert.pem not read as the merchant key and certificate: source %q, cert %d bytes", c.Source("PrivateKey"), len(c.MerchantCert))
	}
	if c.MchID != id.MchID || c.NotifyURL != "" || !c.Bundle.APIToken.IsZero() || c.Source("NotifyURL") != "not set" {
		t.Errorf("mchid %q, notify_url %q (%s), api token set %t", c.MchID, c.NotifyURL, c.Source("NotifyURL"), !c.Bundle.APIToken.IsZero())
	}

	// Both names: which one is meant is not ours to guess.
	if err := os.WriteFile(filepath.Join(dir, keysdir.FileMerchantKey), key, 0o600); err != nil {
		t.Fatal(err)
	}
	c, err = FromKeysDir(dir)
	if err == nil || !strings.Contains(err.Error(), "both merchant_private_key.pem and apiclient_key.pem exist in "+dir+": keep one") {
		t.Errorf("both merchant_private_key.pem and apiclient_key.pem: error %v", err)
	}
	if !c.PrivateKey.IsZero() || c.MchID != id.MchID {
		t.Errorf("ambiguous key taken (%t) or the other files dropped (mchid %q)", !c.PrivateKey.IsZero(), c.MchID)
	}

	for _, bad := range []string{filepath.Join(dir, "missing"), filepath.Join(dir, keysdir.FileMchID)} {
		if _, err := FromKeysDir(bad); err == nil || !strings.Contains(err.Error(), "keys dir "+bad+" is not a readable directory") {
			t.Errorf("FromKeysDir(%s): %v", bad, err)
		}
	}
}

// The files are opened relative to the keys dir, a relative keys dir included; a
// file that cannot be read is refused under its whole path, the others still read.
func TestFromKeysDirRelativeAndUnreadable(t *testing.T) {
	id, dir := savedDir(t)
	t.Chdir(filepath.Dir(dir))
	rel := filepath.Base(dir)
	c, err := FromKeysDir(rel)
	if err != nil || c.MchID != id.MchID || c.Source("MchID") != "keys dir "+filepath.Join(rel, keysdir.FileMchID) {
		t.Fatalf("relative keys dir %s: mchid %q from %q, %v", rel, c.MchID, c.Source("MchID"), err)
	}
	p := filepath.Join(dir, keysdir.FileAppID)
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(p, 0o700); err != nil { // opens, cannot be read
		t.Fatal(err)
	}
	c, err = FromKeysDir(dir)
	if err == nil || !strings.Contains(err.Error(), "config: keys dir: read "+p+": ") {
		t.Errorf("appid a directory: error %v, want the read refused under %s", err, p)
	}
	if c.AppID != "" || c.MchID != id.MchID || c.PrivateKey.IsZero() {
		t.Errorf("appid %q taken, or the other files dropped (mchid %q, key set %t)", c.AppID, c.MchID, !c.PrivateKey.IsZero())
	}
}

// Every file is read into one buffer and copied into its field: each field holds its
// own file's bytes after the later files were read, a file larger than the buffer
// included.
func TestFromKeysDirFieldsKeepTheirOwnBytes(t *testing.T) {
	_, dir := savedDir(t)
	files := map[string][]byte{}
	write := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
		files[name] = b
	}
	for _, name := range []string{keysdir.FileMerchantKey, keysdir.FilePlatformCert, keysdir.FilePlatformPublicKey} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		files[name] = b
	}
	// Text before a PEM block is allowed; 5000 bytes outgrow the 2048-byte buffer.
	cert, err := os.ReadFile(filepath.Join(dir, keysdir.FileMerchantCert))
	if err != nil {
		t.Fatal(err)
	}
	write(keysdir.FileMerchantCert, append(bytes.Repeat([]byte("# merchant certificate\n"), 220), cert...))
	write(keysdir.FileAPIv3Key, []byte("0123456789abcdef0123456789abcdef\r\n"))
	write(keysdir.FileAPIv2Key, []byte("  v2key-v2key-v2key-v2key-v2key-v2\n"))
	write(FileAPIToken, []byte("token-token\n"))
	write(FileWebhookSecret, []byte("\twebhook-secret \n"))
	write(FileConsoleUsers, []byte("alice:$2a$10$xyz\n"))

	c, err := FromKeysDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct {
		name string
		got  []byte
		want []byte
	}{
		{keysdir.FileMerchantKey, c.PrivateKey.Reveal(), files[keysdir.FileMerchantKey]},
		{keysdir.FileMerchantCert, c.MerchantCert, files[keysdir.FileMerchantCert]},
		{keysdir.FilePlatformCert, c.PlatformCert, files[keysdir.FilePlatformCert]},
		{keysdir.FilePlatformPublicKey, c.PlatformPublicKey, files[keysdir.FilePlatformPublicKey]},
		{keysdir.FileAPIv3Key, c.APIv3Key.Reveal(), []byte("0123456789abcdef0123456789abcdef")},
		{keysdir.FileAPIv2Key, c.APIv2Key.Reveal(), []byte("v2key-v2key-v2key-v2key-v2key-v2")},
		{FileAPIToken, c.Bundle.APIToken.Reveal(), []byte("token-token")},
		{FileWebhookSecret, c.Bundle.WebhookSecret.Reveal(), []byte("webhook-secret")},
		{FileConsoleUsers, c.Bundle.ConsoleUsers.Reveal(), []byte("alice:$2a$10$xyz")},
	} {
		if !bytes.Equal(f.got, f.want) {
			t.Errorf("%s: got %d bytes %.40q…, want %d bytes %.40q…", f.name, len(f.got), f.got, len(f.want), f.want)
		}
	}
}
