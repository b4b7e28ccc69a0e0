package config

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paysls/wxpay/internal/keysdirtest"
	"github.com/paysls/wxpay/shared/keysdir"
)

func savedDir(t *testing.T) (*keysdir.Identity, string) { return keysdirtest.Dir(t) }

// clearEnv unsets every WXPAY_* variable for the test (t.Setenv restores them).
func clearEnv(t *testing.T) {
	for _, k := range []string{EnvKeysDir, EnvMchID, EnvAppID, EnvMerchantSerial, EnvPrivateKey, EnvPrivateKeyFile, EnvMerchantCertFile,
		EnvAPIv3Key, EnvPlatformCert, EnvPlatformCertFile, EnvPlatformPubKey, EnvPlatformPubKeyFile, EnvPlatformPublicKeyID, EnvNotifyURL, EnvAPIBase} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
}

func TestFromEnvWithFiles(t *testing.T) {
	clearEnv(t)
	id, dir := savedDir(t)
	t.Setenv(EnvMchID, id.MchID)
	t.Setenv(EnvAppID, id.AppID)
	t.Setenv(EnvMerchantSerial, id.MerchantSerial)
	t.Setenv(EnvPrivateKeyFile, filepath.Join(dir, keysdir.FileMerchantKey))
	t.Setenv(EnvMerchantCertFile, filepath.Join(dir, keysdir.FileMerchantCert))
	t.Setenv(EnvAPIv3Key, string(id.APIv3Key.Bytes()))
	t.Setenv(EnvPlatformCertFile, filepath.Join(dir, keysdir.FilePlatformCert))
	t.Setenv(EnvPlatformPubKeyFile, filepath.Join(dir, keysdir.FilePlatformPublicKey))
	t.Setenv(EnvPlatformPublicKeyID, id.PlatformPublicKeyID)
	t.Setenv(EnvNotifyURL, "https://pay.example.com/wxpay/notify")
	c, err := FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	k, err := c.MerchantKey()
	if err != nil || !k.Equal(id.MerchantKey) {
		t.Fatalf("merchant key: %v", err)
	}
	v3, err := c.V3Key()
	if err != nil || v3 != id.APIv3Key {
		t.Fatalf("APIv3 key: %v", err)
	}
	keys, err := c.PlatformKeys()
	if err != nil {
		t.Fatal(err)
	}
	for _, serial := range []string{id.PlatformSerial(), id.PlatformPublicKeyID} {
		if k, err := keys.PublicKey(context.Background(), serial); err != nil || k == nil {
			t.Fatalf("platform key %s: %v", serial, err)
		}
	}
	if cert, err := c.MerchantCertificate(); err != nil || cert == nil {
		t.Fatalf("merchant cert: %v", err)
	}
	if c.MchID != id.MchID || c.NotifyURL != "https://pay.example.com/wxpay/notify" || c.APIBase != DefaultAPIBase {
		t.Errorf("config %v", c)
	}
	if !strings.HasPrefix(c.Source("PrivateKey"), EnvPrivateKeyFile+" ") || c.Source("APIv2Key") != "not set" {
		t.Errorf("sources %v", c.Sources)
	}
}

func TestFromEnvInlinePEM(t *testing.T) {
	clearEnv(t)
	id, dir := savedDir(t)
	b, err := os.ReadFile(filepath.Join(dir, keysdir.FileMerchantKey))
	if err != nil {
		t.Fatal(err)
	}
	pem := string(b)
	for name, v := range map[string]string{
		"real newlines":    pem,
		"escaped newlines": strings.ReplaceAll(strings.TrimSpace(pem), "\n", `\n`), // a Lambda console value
	} {
		t.Run(name, func(t *testing.T) {
			t.Setenv(EnvPrivateKey, v)
			c, err := FromEnv()
			if err != nil {
				t.Fatal(err)
			}
			k, err := c.MerchantKey()
			if err != nil || !k.Equal(id.MerchantKey) {
				t.Fatalf("inline key: %v", err)
			}
			if c.Source("PrivateKey") != EnvPrivateKey {
				t.Errorf("source %q", c.Source("PrivateKey"))
			}
		})
	}
}

// Lambda and SCF pass the platform public key as an environment value, not a file.
func TestFromEnvInlinePlatformKeys(t *testing.T) {
	clearEnv(t)
	id, dir := savedDir(t)
	pub, err := os.ReadFile(filepath.Join(dir, keysdir.FilePlatformPublicKey))
	if err != nil {
		t.Fatal(err)
	}
	cert, err := os.ReadFile(filepath.Join(dir, keysdir.FilePlatformCert))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvPlatformPubKey, strings.ReplaceAll(strings.TrimSpace(string(pub)), "\n", `\n`))
	t.Setenv(EnvPlatformPublicKeyID, id.PlatformPublicKeyID)
	t.Setenv(EnvPlatformCert, string(cert))
	c, err := FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	keys, err := c.PlatformKeys()
	if err != nil {
		t.Fatal(err)
	}
	k, err := keys.PublicKey(context.Background(), id.PlatformPublicKeyID)
	if err != nil || !k.Equal(id.PlatformPublicKey) {
		t.Fatalf("public key: %v", err)
	}
	if k, err := keys.PublicKey(context.Background(), id.PlatformSerial()); err != nil || !k.Equal(id.PlatformCert.PublicKey) {
		t.Fatalf("certificate's key: %v", err)
	}
	t.Setenv(EnvPlatformPubKeyFile, filepath.Join(dir, keysdir.FilePlatformPublicKey))
	if _, err := FromEnv(); err == nil || !strings.Contains(err.Error(), "set only one") {
		t.Fatalf("inline and file together: %v", err)
	}
}

func TestFromEnvErrors(t *testing.T) {
	clearEnv(t)
	t.Setenv(EnvMchID, "1900000109")
	t.Setenv(EnvPrivateKey, string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1}})))
	t.Setenv(EnvPrivateKeyFile, "/nonexistent/apiclient_key.pem")
	t.Setenv(EnvPlatformCertFile, "/nonexistent/platform.pem")
	c, err := FromEnv()
	if err == nil || !strings.Contains(err.Error(), "set only one") || !strings.Contains(err.Error(), EnvPlatformCertFile) {
		t.Fatalf("err = %v", err)
	}
	if c.MchID != "1900000109" {
		t.Error("a partial config must still carry what could be read")
	}
}

func TestFromEnvKeysDirOverriddenByEnv(t *testing.T) {
	clearEnv(t)
	id, dir := savedDir(t)
	t.Setenv(EnvKeysDir, dir)
	t.Setenv(EnvMchID, "1900000109")
	c, err := FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if c.MchID != "1900000109" || c.AppID != id.AppID || c.Source("MchID") != EnvMchID {
		t.Errorf("config %v, sources %v", c, c.Sources)
	}
	if k, err := c.V3Key(); err != nil || k != id.APIv3Key {
		t.Errorf("APIv3 key from the dir: %v", err)
	}
	if string(c.APIv2Key.Reveal()) != id.APIv2Key {
		t.Error("APIv2 key not read from the dir")
	}
}

func TestFromKeysDirMissing(t *testing.T) {
	if _, err := FromKeysDir(filepath.Join(t.TempDir(), "nope")); err == nil {
		t.Fatal("missing dir accepted")
	}
}

// TestSecretsNeverPrinted formats the config every way a careless caller might.
func TestSecretsNeverPrinted(t *testing.T) {
	clearEnv(t)
	id, dir := savedDir(t)
	t.Setenv(EnvKeysDir, dir)
	c, err := FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	v3 := string(id.APIv3Key.Bytes())
	pemLine := strings.Split(string(c.PrivateKey.Reveal()), "\n")[1] // a line of key material
	var outs []string
	for _, f := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
		outs = append(outs, fmt.Sprintf(f, c), fmt.Sprintf(f, &c), fmt.Sprintf(f, c.APIv3Key), fmt.Sprintf(f, c.PrivateKey),
			fmt.Sprintf(f, struct{ K Secret }{c.APIv3Key}), fmt.Sprintf(f, struct{ k Secret }{c.PrivateKey}))
	}
	var logs bytes.Buffer
	l := slog.New(slog.NewJSONHandler(&logs, nil))
	l.Info("loaded", "cfg", c, "key", c.APIv3Key, "nested", struct{ K Secret }{c.APIv3Key})
	l.Info("text", slog.Any("cfg", c))
	slog.New(slog.NewTextHandler(&logs, nil)).Info("loaded", "cfg", c, "key", c.PrivateKey)
	js, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	outs = append(outs, logs.String(), string(js))
	for _, o := range outs {
		if strings.Contains(o, v3) || strings.Contains(o, pemLine) || strings.Contains(o, fmt.Sprintf("%x", v3)) {
			t.Fatalf("secret leaked: %s", o)
		}
	}
	if !strings.Contains(logs.String(), "REDACTED") || !strings.Contains(string(js), `"APIv3Key":"REDACTED"`) {
		t.Errorf("redaction marker missing: %s %s", logs.String(), js)
	}
	if Secret.String(Secret{}) != "(unset)" {
		t.Error("an unset secret should say so")
	}
}
