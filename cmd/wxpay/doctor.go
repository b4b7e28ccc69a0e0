package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/paysls/wxpay/cmd/wxpay/internal/doctor"
	"github.com/paysls/wxpay/shared/config"
)

const doctorSynopsis = `[--keys-dir DIR] [--notify-url URL] [--api-base URL] [--probe] [--json]

Checks a merchant configuration before it costs money, doing what the functions will
do: private key, merchant serial and certificate, APIv3 key; the platform certificate /
public key, or, with neither configured, downloading the platform certificates from the
API base and verifying them; notify_url (every WeChat Pay rule, plus DNS); the local
clock against the API server; the store (STORE_URL: reachable, DynamoDB table and
index); the webhook (WXPAY_WEBHOOK_URL answers 2xx to a signed ping event). With --probe
it also POSTs a signed notification and a forged-signature probe to notify_url (needs
the simulator's keys dir). Exit 1 when any check fails; an unreachable API server is a
warning (not checked), so offline runs say what they could not check.

Configuration comes from --keys-dir DIR (files mchid, appid, merchant_serial,
merchant_private_key.pem or apiclient_key.pem, merchant_cert.pem or apiclient_cert.pem,
apiv3_key, platform_cert.pem, platform_public_key.pem + platform_public_key_id,
notify_url), or from the environment:
  WXPAY_KEYS_DIR, WXPAY_MCHID, WXPAY_APPID, WXPAY_MERCHANT_SERIAL,
  WXPAY_PRIVATE_KEY (PEM text) or WXPAY_PRIVATE_KEY_FILE, WXPAY_MERCHANT_CERT_FILE,
  WXPAY_APIV3_KEY, WXPAY_PLATFORM_CERT_FILE, WXPAY_PLATFORM_PUBLIC_KEY_FILE,
  WXPAY_PLATFORM_PUBLIC_KEY_ID, WXPAY_NOTIFY_URL, WXPAY_API_BASE,
  STORE_URL, WXPAY_WEBHOOK_URL, WXPAY_WEBHOOK_SECRET
With --keys-dir, STORE_URL, WXPAY_NOTIFY_URL, WXPAY_API_BASE and WXPAY_WEBHOOK_* from
the environment still apply.`

// doctorResolver resolves the notify_url host; nil means net.DefaultResolver. Tests
// replace it because CI machines (and this sandbox) often have no DNS.
var doctorResolver doctor.Resolver

func runDoctor(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("doctor", doctorSynopsis, stdout, stderr)
	keysDir := fs.String("keys-dir", "", "read the configuration from keys `DIR` instead of the environment")
	notifyURL := fs.String("notify-url", "", "notify_url `URL` to check (default $"+config.EnvNotifyURL+")")
	apiBase := fs.String("api-base", "", "API server `URL` whose Date header the clock is compared with (default $"+config.EnvAPIBase+" or "+config.DefaultAPIBase+")")
	probe := fs.Bool("probe", false, "POST a signed test notification and a SIGNTEST probe to notify_url")
	mode := fs.String("mode", "", "with --probe: sign under the certificate serial (cert) or PUB_KEY_ID (pubkey)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, source, cfgErr := loadConfig(*keysDir)
	if *notifyURL != "" {
		cfg.NotifyURL = *notifyURL
	}
	if *apiBase != "" {
		cfg.APIBase = *apiBase
	}
	d := &doctor.Doctor{Config: cfg, ConfigErr: cfgErr, Source: source, Probe: *probe, Resolver: doctorResolver,
		KeysDir: *keysDir, StoreURL: os.Getenv(doctor.EnvStoreURL)}
	if *keysDir == "" {
		d.Env = os.LookupEnv
		d.KeysDir = os.Getenv(config.EnvKeysDir)
	}
	if *probe {
		dir := *keysDir
		if dir == "" {
			dir = os.Getenv(config.EnvKeysDir)
		}
		if dir == "" {
			d.ProbeErr = fmt.Errorf("the configuration comes from the environment, which has no platform private key")
		} else {
			d.ProbeSender, d.ProbeErr = loadSender(dir, *mode)
		}
	}
	report := d.Run(ctx)
	if *asJSON {
		if err := report.WriteJSON(stdout); err != nil {
			return fmt.Errorf("write report: %w", err)
		}
	} else {
		report.WriteText(stdout)
	}
	if !report.OK {
		return errCheckFailed
	}
	return nil
}

// loadConfig is the one loader (config.Load) as doctor uses it: an explicit keys dir
// supplies the identity and secrets and the environment the settings (notify_url, API
// base, webhook, …); without one, WXPAY_KEYS_DIR and WXPAY_* as the functions read them.
func loadConfig(keysDir string) (config.Config, string, error) {
	if keysDir == "" {
		cfg, err := config.FromEnv()
		src := "environment (WXPAY_*)"
		if dir := os.Getenv(config.EnvKeysDir); dir != "" {
			src = "keys dir " + dir + " (" + config.EnvKeysDir + ") overridden by WXPAY_* variables"
		}
		return cfg, src, err
	}
	cfg, err := config.LoadKeysDir(keysDir)
	return cfg, "keys dir " + keysDir, err
}
