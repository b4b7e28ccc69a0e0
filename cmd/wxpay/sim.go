package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/paysls/wxpay/internal/paysim"
	"github.com/paysls/wxpay/shared/keysdir"
)

// multiFlag collects a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// runSim serves the WeChat Pay simulator until ctx ends (Ctrl-C, SIGTERM).
func runSim(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("sim", "[--addr 127.0.0.1:8091] [--keys-dir DIR] [--mode cert|pubkey] [fault flags]", stdout, stderr)
	addr := fs.String("addr", "127.0.0.1:8091", "listen address; keep it on loopback: the /sim driver API has no authentication")
	keysDir := fs.String("keys-dir", filepath.Join(".wxpay", "sim"), "identity directory: created with fresh test keys when empty, reused otherwise")
	mode := fs.String("mode", paysim.ModeCert, "sign responses and notifications under the platform certificate serial (cert) or the PUB_KEY_ID (pubkey)")
	retryScale := fs.Float64("retry-scale", 1, "multiply WeChat Pay's notification retry schedule (15s,15s,30s,3m,…,6h) by this, e.g. 0.01")
	subMch := fs.String("sub-mchids", "", "comma-separated sub_mchid values accepted on partner endpoints (empty: any)")
	publicURL := fs.String("public-url", "", "base URL a browser reaches the simulator at, for h5_url (default: the Host each prepay request used)")
	var f paysim.Faults
	fs.IntVar(&f.DropNext, "drop-next", 0, "fault: drop the next N notifications")
	fs.BoolVar(&f.DropAll, "drop-all", false, "fault: drop every notification")
	fs.BoolVar(&f.Duplicate, "duplicate", false, "fault: deliver every notification twice")
	fs.BoolVar(&f.OutOfOrder, "out-of-order", false, "fault: hold a notification back and deliver it after the next one")
	delay := fs.Duration("delay", 0, "fault: delay every notification's first attempt by this")
	skew := fs.Duration("skew", 0, "fault: shift signature timestamps by this (beyond 5m receivers must reject)")
	fs.BoolVar(&f.SignTestProbe, "signtest-probe", false, "fault: precede every notification with a WECHATPAY/SIGNTEST/ probe the receiver must reject")
	fs.BoolVar(&f.RotateCertificate, "rotate-cert", false, "fault: start with a rotated platform key (new certificate and PUB_KEY_ID, both listed by /v3/certificates)")
	freqRate := fs.Float64("frequency-limited", 0, "fault: answer this share (0 < rate ≤ 1) of /v3 requests with 429 FREQUENCY_LIMITED, e.g. 0.5")
	var failEP, hangEP multiFlag
	fs.Var(&failEP, "fail-endpoint", "fault: answer matching requests with a 5xx (or 429 FREQUENCY_LIMITED), as '[METHOD ]/v3/path/*[=STATUS]' (repeatable)")
	fs.Var(&hangEP, "hang-endpoint", "fault: hold matching requests open until the client times out, as '[METHOD ]/v3/path/*' (repeatable)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	f.Delay, f.SkewClock = paysim.Duration(*delay), paysim.Duration(*skew)
	for _, v := range failEP {
		pattern, status := v, 500
		if i := strings.LastIndex(v, "="); i > 0 {
			n, err := strconv.Atoi(v[i+1:])
			if err != nil {
				return usagef("--fail-endpoint %q: status after = must be a number", v)
			}
			pattern, status = v[:i], n
		}
		f.Endpoints = append(f.Endpoints, paysim.EndpointFault{Pattern: pattern, Status: status})
	}
	for _, v := range hangEP {
		f.Endpoints = append(f.Endpoints, paysim.EndpointFault{Pattern: v, Hang: true})
	}
	if *freqRate != 0 {
		f.FrequencyLimited = &paysim.FrequencyLimit{Rate: *freqRate}
	}
	if *mode != paysim.ModeCert && *mode != paysim.ModePubKey {
		return usagef("--mode %q: want cert or pubkey", *mode)
	}

	log := slog.New(slog.NewJSONHandler(stderr, nil))
	id, created, err := keysdir.LoadOrCreate(*keysDir)
	if err != nil {
		return fmt.Errorf("keys dir %s: %w", *keysDir, err)
	}
	var subs []string
	if *subMch != "" {
		subs = strings.Split(*subMch, ",")
	}
	sim, err := paysim.New(paysim.Config{
		Identity: id, Mode: *mode, RetryScale: *retryScale, Logger: log, Faults: f, SubMchIDs: subs, PublicURL: *publicURL,
	})
	if err != nil {
		return err
	}
	defer sim.Close()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *addr, err)
	}
	base := "http://" + ln.Addr().String()
	printSimBanner(stdout, *keysDir, created, id, sim, *mode, base)

	if err := serveUntilDone(ctx, ln, sim, func() { _ = sim.Close() }); err != nil {
		return err
	}
	log.Info("wxpay sim: stopped")
	return nil
}

// printSimBanner tells the user where the keys are and how to point a client here.
// It prints ids and serials only: the keys themselves stay in their files.
func printSimBanner(w io.Writer, dir string, created bool, id *keysdir.Identity, sim *paysim.Simulator, mode, base string) {
	verb := "loaded"
	if created {
		verb = "created"
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		abs = dir
	}
	keys := sim.PlatformKeys()
	cur := keys[len(keys)-1]
	fmt.Fprintf(w, "wxpay sim: WeChat Pay APIv3 simulator (%s mode)\n\n", mode)
	fmt.Fprintf(w, "Identity %s in %s:\n", verb, abs)
	fmt.Fprintf(w, "  mchid                %s  (%s)\n", id.MchID, keysdir.FileMchID)
	fmt.Fprintf(w, "  appid                %s  (%s)\n", id.AppID, keysdir.FileAppID)
	fmt.Fprintf(w, "  merchant serial      %s  (%s, key in %s)\n", id.MerchantSerial, keysdir.FileMerchantSerial, keysdir.FileMerchantKey)
	fmt.Fprintf(w, "  platform cert serial %s  (%s)\n", cur.Serial, keysdir.FilePlatformCert)
	fmt.Fprintf(w, "  platform key id      %s  (%s, key in %s)\n", cur.PublicKeyID, keysdir.FilePlatformPublicKeyID, keysdir.FilePlatformPublicKey)
	fmt.Fprintf(w, "  APIv3 key            in %s (not printed)\n", keysdir.FileAPIv3Key)
	fmt.Fprintf(w, "  AppSecret (OAuth)    in %s (not printed)\n\n", keysdir.FileAppSecret)
	fmt.Fprintf(w, "Base URL: %s\n", base)
	fmt.Fprintf(w, "  Point your client's WeChat Pay base URL (https://api.mch.weixin.qq.com) at it and\n")
	fmt.Fprintf(w, "  configure it from the keys dir above. notify_url may be http://127.0.0.1:PORT/… here.\n")
	fmt.Fprintf(w, "  WeChat OAuth (snsapi_base) for JSAPI openids is served here too: set WXPAY_OAUTH_BASE and\n")
	fmt.Fprintf(w, "  WXPAY_OAUTH_AUTHORIZE_BASE to %s and WXPAY_APP_SECRET from %s.\n\n", base, keysdir.FileAppSecret)
	fmt.Fprintf(w, "Driver API (no authentication; keep --addr on loopback):\n")
	fmt.Fprintf(w, "  curl -X POST %s/sim/orders/OUT_TRADE_NO/pay            # pay, send TRANSACTION.SUCCESS\n", base)
	fmt.Fprintf(w, "  curl -X POST %s/sim/refunds/OUT_REFUND_NO/settle       # settle, send REFUND.SUCCESS\n", base)
	fmt.Fprintf(w, "  curl %s/sim/orders/OUT_TRADE_NO                         # the order as held\n", base)
	fmt.Fprintf(w, "  curl %s/sim/deliveries                                  # every notification attempt\n", base)
	fmt.Fprintf(w, "  curl -X POST %s/sim/faults -d '{\"duplicate\":true}'     # faults ({} clears)\n", base)
	fmt.Fprintf(w, "  curl -X POST %s/sim/clock -d '{\"advance\":\"2h\"}'        # move the simulated calendar\n", base)
	fmt.Fprintf(w, "  curl %s/sim/platform                                    # platform certificates and keys\n", base)
	fmt.Fprintf(w, "  Every route and fault: internal/paysim/README.md\n\n")
	fmt.Fprintf(w, "Serving until Ctrl-C. Logs (JSON) go to stderr.\n")
}
