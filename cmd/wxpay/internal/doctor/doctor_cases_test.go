package doctor

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/paysls/wxpay/cmd/wxpay/internal/trigger"
	"github.com/paysls/wxpay/internal/paysim"
	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/keysdir"
)

// These tests drive each case of issue 12's "doctor never says something false" and
// assert the verdicts.

// simulatorBase serves the WeChat Pay simulator for id over httptest: the API base a
// merchant configuration downloads its platform certificates from.
func simulatorBase(t *testing.T, id *keysdir.Identity) string {
	t.Helper()
	sim, err := paysim.New(paysim.Config{Identity: id})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	t.Cleanup(func() { srv.Close(); sim.Close() })
	return srv.URL
}

// merchantDir is a keys dir holding only what a real merchant has: mchid, serial,
// apiclient_key.pem, apiclient_cert.pem, apiv3_key — no platform certificate or key.
func merchantDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := identity(t).Save(dir); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{keysdir.FilePlatformCert, keysdir.FilePlatformPublicKey, keysdir.FilePlatformPublicKeyID, keysdir.FilePlatformKey, keysdir.FileAPIv2Key} {
		if err := os.Remove(filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	rename(t, dir, keysdir.FileMerchantKey, "apiclient_key.pem")
	rename(t, dir, keysdir.FileMerchantCert, "apiclient_cert.pem")
	return dir
}

func rename(t *testing.T, dir, from, to string) {
	t.Helper()
	if err := os.Rename(filepath.Join(dir, from), filepath.Join(dir, to)); err != nil {
		t.Fatal(err)
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// keysDirDoctor is `wxpay doctor --keys-dir dir`.
func keysDirDoctor(t *testing.T, dir, apiBase string) *Doctor {
	t.Helper()
	cfg, err := config.FromKeysDir(dir)
	if apiBase != "" {
		cfg.APIBase = apiBase
	}
	return &Doctor{Config: cfg, ConfigErr: err, KeysDir: dir, Source: "keys dir " + dir,
		Resolver: fakeResolver{"pay.example.com": {"203.0.113.7"}}, skipStore: true}
}

// envVars are every variable the environment doctor reads; envDoctor clears them all.
var envVars = []string{config.EnvKeysDir, config.EnvMchID, config.EnvAppID, config.EnvMerchantSerial, config.EnvPrivateKey,
	config.EnvPrivateKeyFile, config.EnvMerchantCertFile, config.EnvAPIv3Key, config.EnvPlatformCert, config.EnvPlatformCertFile,
	config.EnvPlatformPubKey, config.EnvPlatformPubKeyFile, config.EnvPlatformPublicKeyID, config.EnvNotifyURL, config.EnvAPIBase,
	config.EnvWebhookURL, config.EnvWebhookSecret, config.EnvEventBus}

// envDoctor is `wxpay doctor` with exactly env set.
func envDoctor(t *testing.T, env map[string]string) *Doctor {
	t.Helper()
	for _, k := range envVars {
		t.Setenv(k, "")
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	cfg, err := config.FromEnv()
	return &Doctor{Config: cfg, ConfigErr: err, Env: os.LookupEnv, KeysDir: env[config.EnvKeysDir], Source: "environment",
		Resolver: fakeResolver{"pay.example.com": {"203.0.113.7"}}, skipStore: true}
}

// merchantEnv is a real merchant's environment: credentials only, certificates lazily.
func merchantEnv(t *testing.T, apiBase string) map[string]string {
	id := identity(t)
	dir := merchantDir(t)
	return map[string]string{
		config.EnvMchID: id.MchID, config.EnvMerchantSerial: id.MerchantSerial,
		config.EnvPrivateKeyFile:   filepath.Join(dir, "apiclient_key.pem"),
		config.EnvMerchantCertFile: filepath.Join(dir, "apiclient_cert.pem"),
		config.EnvAPIv3Key:         string(id.APIv3Key.Bytes()),
		config.EnvNotifyURL:        "https://pay.example.com/wxpay/notify",
		config.EnvAPIBase:          apiBase,
	}
}

func report(r *Report) string {
	var b strings.Builder
	r.WriteText(&b)
	return b.String()
}

func wantStatus(t *testing.T, r *Report, name string, st Status, detail ...string) Check {
	t.Helper()
	c := find(t, r, name)
	if c.Status != st {
		t.Errorf("%s: status %s, want %s: %s\n%s", name, c.Status, st, c.Detail, report(r))
	}
	for _, w := range detail {
		if !strings.Contains(c.Detail, w) {
			t.Errorf("%s: detail %q lacks %q", name, c.Detail, w)
		}
	}
	return c
}

func TestDoctorDownloadsPlatformCertificatesLikeNotify(t *testing.T) {
	base := simulatorBase(t, identity(t))
	t.Run("environment, credentials only", func(t *testing.T) {
		r := envDoctor(t, merchantEnv(t, base)).Run(context.Background())
		if !r.OK {
			t.Fatalf("a configuration notify verifies with fails doctor:\n%s", report(r))
		}
		wantStatus(t, r, "platform certificates", StatusOK, "downloaded from "+base+"/v3/certificates", "signature verified", identity(t).PlatformSerial())
		if strings.Contains(report(r), "cannot be verified") {
			t.Errorf("report still claims notifications cannot be verified:\n%s", report(r))
		}
	})
	t.Run("keys dir with apiclient_*.pem and notify_url", func(t *testing.T) {
		dir := merchantDir(t)
		write(t, filepath.Join(dir, config.FileNotifyURL), "https://pay.example.com/wxpay/notify\n")
		r := keysDirDoctor(t, dir, base).Run(context.Background())
		if !r.OK {
			t.Fatalf("merchant keys dir fails:\n%s", report(r))
		}
		wantStatus(t, r, "merchant private key", StatusOK, "apiclient_key.pem")
		wantStatus(t, r, "merchant certificate", StatusOK, "matches the private key")
		wantStatus(t, r, "notify_url", StatusOK, "https://pay.example.com/wxpay/notify")
		wantStatus(t, r, "platform certificates", StatusOK)
	})
	t.Run("wrong APIv3 key", func(t *testing.T) {
		env := merchantEnv(t, base)
		env[config.EnvAPIv3Key] = strings.Repeat("x", 32)
		r := envDoctor(t, env).Run(context.Background())
		c := wantStatus(t, r, "platform certificates", StatusFail, "APIv3 key does not decrypt")
		if !strings.Contains(c.FixZH, trigger.APIv3KeyConsolePath) {
			t.Errorf("fix %q lacks the console path", c.FixZH)
		}
	})
	t.Run("another merchant's key: refused", func(t *testing.T) {
		other, err := keysdir.Generate()
		if err != nil {
			t.Fatal(err)
		}
		r := envDoctor(t, merchantEnv(t, simulatorBase(t, other))).Run(context.Background())
		wantStatus(t, r, "platform certificates", StatusFail, "refused")
	})
	t.Run("API unreachable: not checked, said so", func(t *testing.T) {
		r := envDoctor(t, merchantEnv(t, "http://127.0.0.1:1")).Run(context.Background())
		wantStatus(t, r, "platform certificates", StatusWarn, "could not reach", "not checked")
		if !r.OK {
			t.Errorf("offline is a warning, not a failure:\n%s", report(r))
		}
	})
}

func TestDoctorNoTickAfterAFailedLoad(t *testing.T) {
	base := simulatorBase(t, identity(t))
	env := merchantEnv(t, base)
	env[config.EnvPrivateKeyFile] = env[config.EnvMerchantCertFile] // the certificate given as the key
	r := envDoctor(t, env).Run(context.Background())
	wantStatus(t, r, "merchant private key", StatusFail, "CERTIFICATE")
	wantStatus(t, r, "merchant certificate", StatusSkip, "did not load")
	wantStatus(t, r, "platform certificates", StatusSkip, "failed above")
	out := report(r)
	if strings.Contains(out, "✔ merchant certificate") || strings.Contains(out, "matches the private key") {
		t.Errorf("a ✔ follows from a key that failed to load:\n%s", out)
	}
	if r.Failed != 1 {
		t.Errorf("one cause, %d failures:\n%s", r.Failed, out)
	}
}

func TestDoctorSaysWhyAKeyIsMissing(t *testing.T) {
	base := simulatorBase(t, identity(t))
	t.Run("key file missing", func(t *testing.T) {
		env := merchantEnv(t, base)
		env[config.EnvPrivateKeyFile] = "/nonexistent/apiclient_key.pem"
		r := envDoctor(t, env).Run(context.Background())
		c := wantStatus(t, r, "merchant private key", StatusFail, "WXPAY_PRIVATE_KEY_FILE=/nonexistent/apiclient_key.pem", "does not exist")
		if strings.Contains(c.Detail, "not set") || !strings.Contains(c.FixEN, "point WXPAY_PRIVATE_KEY_FILE at a file that exists") {
			t.Errorf("missing file reported as %+v", c)
		}
		if r.Failed != 1 {
			t.Errorf("one cause, %d failures:\n%s", r.Failed, report(r))
		}
	})
	t.Run("key file missing, keys dir underneath", func(t *testing.T) {
		// The dir's key would load, but the functions refuse to start on the broken
		// variable: no ✔ for the key.
		r := envDoctor(t, map[string]string{config.EnvKeysDir: merchantDir(t), config.EnvPrivateKeyFile: "/nonexistent.pem",
			config.EnvNotifyURL: "https://pay.example.com/wxpay/notify", config.EnvAPIBase: base}).Run(context.Background())
		wantStatus(t, r, "merchant private key", StatusFail, "WXPAY_PRIVATE_KEY_FILE=/nonexistent.pem", "does not exist")
		if r.Failed != 1 {
			t.Errorf("one cause, %d failures:\n%s", r.Failed, report(r))
		}
	})
	t.Run("both variables", func(t *testing.T) {
		env := merchantEnv(t, base)
		pem, err := os.ReadFile(env[config.EnvPrivateKeyFile])
		if err != nil {
			t.Fatal(err)
		}
		env[config.EnvPrivateKey] = string(pem)
		r := envDoctor(t, env).Run(context.Background())
		c := wantStatus(t, r, "merchant private key", StatusFail, "both WXPAY_PRIVATE_KEY and WXPAY_PRIVATE_KEY_FILE are set")
		if strings.Contains(c.Detail, "not set") || !strings.Contains(c.FixEN, "keep one") {
			t.Errorf("both variables reported as %+v", c)
		}
		if r.Failed != 1 {
			t.Errorf("one cause, %d failures:\n%s", r.Failed, report(r))
		}
	})
	t.Run("really not set", func(t *testing.T) {
		env := merchantEnv(t, base)
		delete(env, config.EnvPrivateKeyFile)
		r := envDoctor(t, env).Run(context.Background())
		c := wantStatus(t, r, "merchant private key", StatusFail, "not set")
		if !strings.Contains(c.FixEN, "set WXPAY_PRIVATE_KEY_FILE") {
			t.Errorf("fix: %q", c.FixEN)
		}
	})
}

func TestDoctorKeysDirFixesNameFiles(t *testing.T) {
	dir := merchantDir(t)
	if err := os.Remove(filepath.Join(dir, keysdir.FileAPIv3Key)); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, keysdir.FileMchID)); err != nil {
		t.Fatal(err)
	}
	r := keysDirDoctor(t, dir, "http://127.0.0.1:1").Run(context.Background())
	for name, file := range map[string]string{"APIv3 key": keysdir.FileAPIv3Key, "mchid": keysdir.FileMchID, "notify_url": config.FileNotifyURL} {
		c := wantStatus(t, r, name, StatusFail)
		if !strings.Contains(c.FixEN, filepath.Join(dir, file)) || strings.Contains(c.FixEN, "WXPAY_") {
			t.Errorf("%s: the fix should name %s, not a variable: %q", name, filepath.Join(dir, file), c.FixEN)
		}
	}
}

func TestDoctorMissingKeysDirIsOneFailure(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "keys")
	for _, d := range []*Doctor{
		keysDirDoctor(t, missing, ""),
		envDoctor(t, map[string]string{config.EnvKeysDir: missing}),
	} {
		r := d.Run(context.Background())
		if r.Failed != 1 || len(r.Checks) != 1 {
			t.Fatalf("want exactly one failure, got:\n%s", report(r))
		}
		c := wantStatus(t, r, "keys dir", StatusFail, missing+" does not exist")
		if !strings.Contains(c.FixEN, "wxpay sim --keys-dir "+missing) {
			t.Errorf("fix: %q", c.FixEN)
		}
	}
}

func TestDoctorStore(t *testing.T) {
	d := goodDoctor(t)
	r := d.Run(context.Background())
	wantStatus(t, r, "store", StatusOK, "reachable", "pending index")

	d.StoreURL = "redis://:hunter2@127.0.0.1:1/0"
	r = d.Run(context.Background())
	c := wantStatus(t, r, "store", StatusFail, "127.0.0.1:1")
	if strings.Contains(report(r), "hunter2") {
		t.Errorf("password in the report:\n%s", report(r))
	}
	if c.FixEN == "" {
		t.Error("no fix")
	}

	d.StoreURL = "dynamodb://wxpay?endpoint=http://127.0.0.1:1&region=us-east-1"
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	wantStatus(t, d.Run(context.Background()), "store", StatusFail, "not reachable")

	d.StoreURL = ""
	wantStatus(t, d.Run(context.Background()), "store", StatusWarn, "STORE_URL not set")
}

func TestDoctorWebhook(t *testing.T) {
	secret := "whsec_test_0123456789"
	var got struct {
		sig, id, body string
	}
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got.sig, got.id, got.body = r.Header.Get("Wxpay-Signature"), r.Header.Get("Wxpay-Event-Id"), string(body)
		// Verify as a merchant would: t=<unix>,v1=<hex HMAC-SHA256(secret, t.body)>.
		var ts, v1 string
		for _, part := range strings.Split(got.sig, ",") {
			k, v, _ := strings.Cut(part, "=")
			switch k {
			case "t":
				ts = v
			case "v1":
				v1 = v
			}
		}
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write([]byte(ts + "." + string(body)))
		sec, _ := strconv.ParseInt(ts, 10, 64)
		if !hmac.Equal([]byte(v1), []byte(hex.EncodeToString(mac.Sum(nil)))) || time.Since(time.Unix(sec, 0)).Abs() > time.Minute {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(receiver.Close)

	d := goodDoctor(t)
	d.Config.Bundle.WebhookURL = receiver.URL + "/events"
	d.Config.Bundle.WebhookSecret = config.NewSecret([]byte(secret))
	wantStatus(t, d.Run(context.Background()), "webhook", StatusOK, "acknowledged a signed ping event (HTTP 204)")
	if !strings.HasPrefix(got.id, "evt_") || !strings.Contains(got.body, `"type":"ping"`) || !strings.Contains(got.body, `"id":"`+got.id+`"`) {
		t.Errorf("event: id %q body %s", got.id, got.body)
	}

	d.Config.Bundle.WebhookSecret = config.NewSecret([]byte("another secret"))
	wantStatus(t, d.Run(context.Background()), "webhook", StatusFail, "HTTP 401")

	d.Config.Bundle.WebhookSecret = config.Secret{}
	wantStatus(t, d.Run(context.Background()), "webhook", StatusFail, "WXPAY_WEBHOOK_SECRET is not")

	d.Config.Bundle.WebhookSecret = config.NewSecret([]byte(secret))
	d.Config.Bundle.WebhookURL = "http://127.0.0.1:1/events"
	wantStatus(t, d.Run(context.Background()), "webhook", StatusFail, "not reachable")

	d.Config.Bundle.WebhookURL = ""
	wantStatus(t, d.Run(context.Background()), "webhook", StatusSkip, "not set")
}
