package doctor

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/paysls/wxpay/cmd/wxpay/internal/trigger"
	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/keysdir"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// fakeResolver answers from a map; unknown hosts fail like a missing DNS record.
type fakeResolver map[string][]string

func (f fakeResolver) LookupHost(_ context.Context, host string) ([]string, error) {
	if a, ok := f[host]; ok {
		return a, nil
	}
	return nil, errors.New("lookup " + host + ": no such host")
}

// dateServer answers with a Date header offset from the real clock.
func dateServer(t *testing.T, offset time.Duration) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Date", time.Now().Add(offset).UTC().Format(http.TimeFormat))
		w.WriteHeader(http.StatusUnauthorized) // what an unsigned request to the real API gets
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// goodDoctor is a doctor for a healthy configuration: the simulator's keys dir, a valid
// notify_url that resolves publicly, and an API server whose clock agrees.
func goodDoctor(t *testing.T) *Doctor {
	t.Helper()
	dir := t.TempDir()
	if err := identity(t).Save(dir); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.FromKeysDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg.NotifyURL = "https://pay.example.com/wxpay/notify"
	cfg.APIBase = dateServer(t, 0)
	return &Doctor{Config: cfg, Source: "keys dir " + dir, KeysDir: dir, Resolver: fakeResolver{"pay.example.com": {"203.0.113.7"}},
		StoreURL: "bolt://" + filepath.Join(t.TempDir(), "wxpay.db")}
}

func find(t *testing.T, r *Report, name string) Check {
	t.Helper()
	for _, c := range r.Checks {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no check %q in %+v", name, r.Checks)
	return Check{}
}

func TestDoctorGoodConfigPasses(t *testing.T) {
	r := goodDoctor(t).Run(context.Background())
	if !r.OK || r.Failed != 0 {
		var b strings.Builder
		r.WriteText(&b)
		t.Fatalf("good config failed:\n%s", b.String())
	}
	for _, name := range []string{"mchid", "merchant private key", "merchant serial", "merchant certificate", "APIv3 key",
		"platform certificate", "platform public key", "notify_url", "notify_url DNS", "clock"} {
		if c := find(t, r, name); c.Status != StatusOK {
			t.Errorf("%s: %+v", name, c)
		}
	}
}

func selfSigned(t *testing.T, id *keysdir.Identity, notBefore, notAfter time.Time) []byte {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(0x5157F09E), Subject: pkix.Name{CommonName: "Tenpay"}, NotBefore: notBefore, NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &id.PlatformKey.PublicKey, id.PlatformKey)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return wechatpay.EncodeCertificatePEM(c)
}

func TestDoctorBrokenConfigs(t *testing.T) {
	other, err := keysdir.Generate()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, tc := range []struct {
		name   string
		breakf func(d *Doctor)
		check  string
		want   []string
	}{
		{"31-byte APIv3 key", func(d *Doctor) { d.Config.APIv3Key = config.NewSecret([]byte(strings.Repeat("k", 31))) },
			"APIv3 key", []string{"31 bytes", "exactly 32"}},
		{"APIv3 key is the APIv2 key", func(d *Doctor) { d.Config.APIv3Key = d.Config.APIv2Key },
			"APIv3 key", []string{"APIv2 key"}},
		{"APIv3 key is a serial", func(d *Doctor) { d.Config.APIv3Key = config.NewSecret([]byte(strings.Repeat("A1", 20))) },
			"APIv3 key", []string{"certificate serial"}},
		{"no APIv3 key", func(d *Doctor) { d.Config.APIv3Key = config.Secret{} },
			"APIv3 key", []string{"not set"}},
		{"key from another merchant", func(d *Doctor) {
			d.Config.PrivateKey = config.NewSecret(wechatpay.EncodePrivateKeyPEM(other.MerchantKey))
		},
			"merchant certificate", []string{"does not belong"}},
		{"certificate instead of key", func(d *Doctor) { d.Config.PrivateKey = config.NewSecret(d.Config.MerchantCert) },
			"merchant private key", []string{"CERTIFICATE"}},
		{"serial of another certificate", func(d *Doctor) { d.Config.MerchantSerial = other.MerchantSerial },
			"merchant serial", []string{"is not the merchant certificate's serial"}},
		{"serial not hex", func(d *Doctor) { d.Config.MerchantSerial = "5157F09E:FDC0" },
			"merchant serial", []string{"not hexadecimal"}},
		{"short serial without certificate", func(d *Doctor) { d.Config.MerchantCert = nil; d.Config.MerchantSerial = "5157F09E" },
			"merchant serial", []string{"8 hex digits", "40"}},
		{"mchid not digits", func(d *Doctor) { d.Config.MchID = "wx1234" },
			"mchid", []string{"not all digits"}},
		{"http notify_url with port and query", func(d *Doctor) { d.Config.NotifyURL = "http://pay.example.com:8080/notify?order=1" },
			"notify_url", []string{"uses http", "port 8080", "query string"}},
		{"notify_url with //", func(d *Doctor) { d.Config.NotifyURL = "https://pay.example.com/weixin/pay//callback" },
			"notify_url", []string{"empty segment"}},
		{"notify_url unset", func(d *Doctor) { d.Config.NotifyURL = "" },
			"notify_url", []string{"notify_url does not exist", "no callback address"}},
		{"notify host does not resolve", func(d *Doctor) { d.Resolver = fakeResolver{dnsControlHost: {"203.0.113.1"}} },
			"notify_url DNS", []string{"does not resolve", "no such host"}},
		{"notify host is private", func(d *Doctor) { d.Resolver = fakeResolver{"pay.example.com": {"192.168.1.20"}} },
			"notify_url DNS", []string{"private addresses"}},
		{"expired platform certificate", func(d *Doctor) {
			d.Config.PlatformCert = selfSigned(t, identity(t), now.Add(-400*24*time.Hour), now.Add(-24*time.Hour))
		}, "platform certificate", []string{"expired"}},
		{"platform certificate expiring in 10 days", func(d *Doctor) {
			d.Config.PlatformCert = selfSigned(t, identity(t), now.Add(-24*time.Hour), now.Add(10*24*time.Hour+time.Hour))
		}, "platform certificate", []string{"expires in 10 days"}},
		{"merchant certificate as platform certificate", func(d *Doctor) { d.Config.PlatformCert = d.Config.MerchantCert },
			"platform certificate", []string{"merchant certificate"}},
		{"no platform key, and the API refuses the download", func(d *Doctor) {
			d.Config.PlatformCert, d.Config.PlatformPublicKey, d.Config.PlatformPublicKeyID = nil, nil, ""
		}, "platform certificates", []string{"/v3/certificates was refused", "401"}},
		{"bad PUB_KEY_ID", func(d *Doctor) { d.Config.PlatformPublicKeyID = "0123456789" },
			"platform public key", []string{"PUB_KEY_ID_"}},
		{"clock 10 minutes slow", func(d *Doctor) { d.Config.APIBase = dateServer(t, 10*time.Minute) },
			"clock", []string{"-10m0s off", "5-minute"}},
		{"configuration error no check explains", func(d *Doctor) { d.ConfigErr = errors.New("config: WXPAY_ORDER_TTL: open /nope: bad duration") },
			"configuration", []string{"/nope"}},
		{"store unreachable", func(d *Doctor) { d.StoreURL = "redis://127.0.0.1:1/0" },
			"store", []string{"redis://127.0.0.1:1/0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := goodDoctor(t)
			tc.breakf(d)
			r := d.Run(context.Background())
			c := find(t, r, tc.check)
			if r.OK || c.Status != StatusFail {
				t.Fatalf("want %s to fail, got %+v", tc.check, c)
			}
			for _, w := range tc.want {
				if !strings.Contains(c.Detail, w) {
					t.Errorf("detail %q lacks %q", c.Detail, w)
				}
			}
			if c.FixZH == "" || c.FixEN == "" {
				t.Errorf("failure without a fix in both languages: %+v", c)
			}
			if r.Failed != 1 {
				t.Errorf("one breakage should fail one check, got %d: %+v", r.Failed, r.Checks)
			}
		})
	}
}

func TestDoctorWarningsDoNotFail(t *testing.T) {
	d := goodDoctor(t)
	d.Resolver = fakeResolver{} // no DNS at all here: notify_url's host is not judged
	d.Config.APIv3Key = config.NewSecret(append(append([]byte{}, identity(t).APIv3Key.Bytes()...), ' ', '\n'))
	d.Config.APIBase = "http://127.0.0.1:1" // unreachable: the clock is not checked
	r := d.Run(context.Background())
	if !r.OK || r.Warnings != 3 {
		t.Fatalf("want OK with 3 warnings, got %+v", r)
	}
	if c := find(t, r, "notify_url DNS"); c.Status != StatusWarn || !strings.Contains(c.Detail, "no working DNS") {
		t.Errorf("notify_url DNS: %+v", c)
	}
	if c := find(t, r, "APIv3 key"); c.Status != StatusWarn || !strings.Contains(c.Detail, "whitespace") {
		t.Errorf("APIv3 key: %+v", c)
	}
	if c := find(t, r, "clock"); c.Status != StatusWarn || !strings.Contains(c.Detail, "not checked") {
		t.Errorf("clock: %+v", c)
	}
}

func TestDoctorProbe(t *testing.T) {
	t.Run("verifying endpoint", func(t *testing.T) {
		srv := newEndpoint(t)
		d := goodDoctor(t)
		d.Config.NotifyURL = srv.URL + "/notify"
		d.Probe, d.ProbeSender = true, sender(t, "")
		r := d.Run(context.Background())
		for _, name := range []string{"probe: signed notification", "probe: forged signature"} {
			if c := find(t, r, name); c.Status != StatusOK {
				t.Errorf("%s: %+v", name, c)
			}
		}
	})
	t.Run("endpoint acknowledging everything", func(t *testing.T) {
		d := goodDoctor(t)
		d.Config.NotifyURL = fixed(t, 200, "").URL
		d.Probe, d.ProbeSender = true, sender(t, "")
		r := d.Run(context.Background())
		if c := find(t, r, "probe: signed notification"); c.Status != StatusOK {
			t.Errorf("signed: %+v", c)
		}
		if c := find(t, r, "probe: forged signature"); c.Status != StatusFail || !strings.Contains(c.Detail, "DANGER") {
			t.Errorf("forged: %+v", c)
		}
	})
	t.Run("no platform key", func(t *testing.T) {
		d := goodDoctor(t)
		d.Probe, d.ProbeErr = true, trigger.ErrNoPlatformKey
		c := find(t, d.Run(context.Background()), "probe")
		if c.Status != StatusFail || !strings.Contains(c.Detail, "/v3/security/echo") {
			t.Errorf("probe: %+v", c)
		}
	})
}

func TestDoctorOutputHasNoSecrets(t *testing.T) {
	d := goodDoctor(t)
	d.Config.APIv3Key = config.NewSecret([]byte(string(identity(t).APIv3Key.Bytes()) + "X")) // 33 bytes: a failing line
	r := d.Run(context.Background())
	var text, js strings.Builder
	r.WriteText(&text)
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal([]byte(js.String()), &back); err != nil || len(back.Checks) != len(r.Checks) || back.OK {
		t.Fatalf("JSON round trip: %v %+v", err, back)
	}
	pemBody := strings.Split(string(d.Config.PrivateKey.Reveal()), "\n")[1]
	for _, out := range []string{text.String(), js.String()} {
		if strings.Contains(out, string(identity(t).APIv3Key.Bytes())) || strings.Contains(out, pemBody) {
			t.Fatalf("secret in output:\n%s", out)
		}
	}
	if !strings.Contains(text.String(), "✘ APIv3 key") || !strings.Contains(text.String(), "修复:") || !strings.Contains(text.String(), "fix:") {
		t.Errorf("text output:\n%s", text.String())
	}
}
