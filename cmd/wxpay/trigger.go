package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/paysls/wxpay/cmd/wxpay/internal/trigger"
	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/keysdir"
	"github.com/paysls/wxpay/shared/orderapi"
	"github.com/paysls/wxpay/shared/wechatpay"
)

const triggerSynopsis = `--url URL --out-trade-no N --amount FEN [flags]

Plays WeChat Pay: builds a genuine notification (AEAD_AES_256_GCM-encrypted resource,
SHA256withRSA-signed with the simulator's platform key), POSTs it to URL and says whether
WeChat Pay would count the answer as an acknowledgement (only HTTP 200/204 within 5 s).
With --signtest the signature is a WECHATPAY/SIGNTEST/ probe that a correct endpoint
must refuse. Exit 1 when the verdict is bad.

With --v2 it sends an APIv2 XML notification instead, as WeChat Pay does for refunds
made by hand in the merchant platform: a payment result signed with the keys dir's
apiv2_key (--sign-type MD5 or HMAC-SHA256), or a refund result whose req_info is
AES-256-ECB encrypted with md5(apiv2_key) (--event REFUND.SUCCESS / REFUND.ABNORMAL =
CHANGE / REFUND.CLOSED = REFUNDCLOSE). It is acknowledged only by HTTP 200 with
<return_code>SUCCESS</return_code>; --signtest forges it with a random key.

Configure the endpoint under test with the same keys dir (apiv3_key, platform_cert.pem
or platform_public_key.pem + platform_public_key_id). Example:

  wxpay sim --keys-dir ./simkeys &
  wxpay trigger --keys-dir ./simkeys --url http://127.0.0.1:8080/notify \
      --out-trade-no T20240520001 --amount 100 --repeat 3`

func runTrigger(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("trigger", triggerSynopsis, stdout, stderr)
	var (
		ev      trigger.Event
		target  = fs.String("url", "", "notify endpoint `URL` to POST to (required; local http URLs are fine)")
		keysDir = fs.String("keys-dir", "", "keys `DIR` written by wxpay sim --keys-dir (default $"+config.EnvKeysDir+", else "+filepath.Join(".wxpay", "sim")+")")
		mode    = fs.String("mode", "", "Wechatpay-Serial to sign under: cert (platform certificate serial) or pubkey (PUB_KEY_ID_…); default cert when the dir has one")
		repeat  = fs.Int("repeat", 1, "deliver the same notification `N` times (duplicate-delivery test)")
		signTst = fs.Bool("signtest", false, "send a WECHATPAY/SIGNTEST/ probe: the endpoint must refuse it")
		timeout = fs.Duration("timeout", trigger.WeChatPayTimeout, "how long to wait for the answer; WeChat Pay waits 5s")
		asJSON  = fs.Bool("json", false, "print the report as JSON")
		v2      = fs.Bool("v2", false, "send an APIv2 XML notification (signed/encrypted with the keys dir's apiv2_key) instead of v3")
		v2Sign  = fs.String("sign-type", "MD5", "with --v2: sign type of payment results, MD5 or HMAC-SHA256")
	)
	fs.StringVar(&ev.Type, "event", wechatpay.EventTransactionSuccess, "event type: "+strings.Join(trigger.Events, ", "))
	fs.StringVar(&ev.OutTradeNo, "out-trade-no", "", "merchant order number (required)")
	fs.Int64Var(&ev.Amount, "amount", 0, "order amount in `FEN` (分), e.g. 100 = ¥1.00 (required)")
	fs.Int64Var(&ev.RefundAmount, "refund-amount", 0, "refund amount in fen for REFUND.* events (default: the whole --amount)")
	fs.StringVar(&ev.OutRefundNo, "out-refund-no", "", "merchant refund number (required for REFUND.* events)")
	fs.StringVar(&ev.TransactionID, "transaction-id", "", "WeChat Pay transaction id (default: a generated 28-digit 4200…)")
	fs.StringVar(&ev.OpenID, "openid", "", "payer openid (default: generated)")
	fs.StringVar(&ev.SubMchID, "sub-mchid", "", "the `SUB_MCHID` of a service provider's or platform's order: the notification carries sp_mchid and sub_mchid, as WeChat Pay sends it for partner and e-commerce orders")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *keysDir == "" {
		*keysDir = defaultSimKeysDir()
	}
	switch {
	case *target == "":
		return usagef("--url is required")
	case ev.OutTradeNo == "":
		return usagef("--out-trade-no is required")
	case ev.Amount <= 0:
		return usagef("--amount must be a positive number of fen (分)")
	case !slices.Contains(trigger.Events, ev.Type):
		return usagef("--event %q: want one of %s", ev.Type, strings.Join(trigger.Events, ", "))
	case strings.HasPrefix(ev.Type, "REFUND.") && ev.OutRefundNo == "":
		return usagef("--out-refund-no is required for %s", ev.Type)
	case *repeat < 1:
		return usagef("--repeat must be at least 1")
	case *v2 && *v2Sign != "MD5" && *v2Sign != "HMAC-SHA256":
		return usagef("--sign-type %q: want MD5 or HMAC-SHA256", *v2Sign)
	case *mode != "" && *mode != trigger.ModeCert && *mode != trigger.ModePubKey:
		return usagef("--mode %q: want cert or pubkey", *mode)
	}
	if err := trigger.ValidateTargetURL(*target); err != nil {
		return usagef("%v", err)
	}
	sender, err := loadSender(*keysDir, *mode)
	if err != nil {
		return err
	}
	sender.Client = trigger.NewClient(*timeout)
	// When the endpoint is a wxpay bundle's /notify, read the order before and after,
	// so the report says what the notification changed (a second payment for a paid
	// order puts it in REVIEW: that is never silent).
	probe := newOrderProbe(*target, *keysDir, ev.OutTradeNo, ev.SubMchID)
	effects := stdout
	if *asJSON {
		effects = stderr
	}
	before := probe.read(ctx)
	warnSecondPayment(effects, before, ev, *signTst)
	opts := trigger.Options{URL: *target, Event: ev, Repeat: *repeat, SignTest: *signTst}
	var report *trigger.Report
	if *v2 {
		report, err = sender.TriggerV2(ctx, trigger.V2Options{Options: opts, SignType: *v2Sign})
	} else {
		report, err = sender.Trigger(ctx, opts)
	}
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(report); err != nil {
			return fmt.Errorf("write report: %w", err)
		}
	} else {
		report.WriteText(stdout)
	}
	if before != nil {
		printEffect(effects, before, probe.read(ctx))
	}
	if !report.OK {
		return errCheckFailed
	}
	return nil
}

// defaultSimKeysDir is $WXPAY_KEYS_DIR, else the directory `wxpay sim` creates by
// default, so that `wxpay sim` followed by `wxpay trigger --url …` needs no flags.
func defaultSimKeysDir() string {
	if d := os.Getenv(config.EnvKeysDir); d != "" {
		return d
	}
	return filepath.Join(".wxpay", "sim")
}

// loadSender reads the simulator's identity and prepares to sign as WeChat Pay.
func loadSender(dir, mode string) (*trigger.Sender, error) {
	if _, err := os.Stat(filepath.Join(dir, keysdir.FileMchID)); errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("keys dir %s holds no identity: run `wxpay sim --keys-dir %s` once to create one, or pass --keys-dir", dir, dir)
	}
	id, err := keysdir.Load(dir)
	if err != nil {
		return nil, err // keysdir's errors name the file
	}
	s, err := trigger.NewSender(id, mode)
	if err != nil {
		return nil, err
	}
	s.Client = trigger.NewClient(trigger.WeChatPayTimeout)
	return s, nil
}

// orderProbe reads an order from the wxpay bundle whose /notify trigger posts to.
type orderProbe struct {
	api        *orderapi.Client
	outTradeNo string
	subMchID   string // the order's sub-merchant on a platform ("": the default)
}

// newOrderProbe is a probe of target's bundle, or nil when target is not a /notify
// path or the keys dir holds no API token (an endpoint of the user's own).
func newOrderProbe(target, keysDir, outTradeNo, subMchID string) *orderProbe {
	u, err := url.Parse(target)
	if err != nil || !strings.HasSuffix(u.Path, "/notify") {
		return nil
	}
	tok, err := apiToken("", keysDir)
	if err != nil {
		return nil
	}
	u.Path, u.RawQuery = strings.TrimSuffix(u.Path, "/notify"), ""
	return &orderProbe{api: orderapi.New(u.String(), tok, &http.Client{Timeout: 3 * time.Second}), outTradeNo: outTradeNo, subMchID: subMchID}
}

// read is the order's view, or nil when the bundle does not know it (or is not one).
// A re-priced attempt {order_id}_N is read under its order_id.
func (p *orderProbe) read(ctx context.Context) *orderapi.OrderView {
	if p == nil {
		return nil
	}
	ids := []string{p.outTradeNo}
	if i := strings.LastIndex(p.outTradeNo, "_"); i > 0 && strings.Trim(p.outTradeNo[i+1:], "0123456789") == "" {
		ids = append(ids, p.outTradeNo[:i])
	}
	for _, id := range ids {
		if v, err := p.api.Order(ctx, id, p.subMchID); err == nil && v.State != "" {
			return v
		}
	}
	return nil
}

// warnSecondPayment says, before sending, that a payment notification with another
// transaction id for a paid order is a second payment: the bundle keeps it and puts the
// order in REVIEW.
func warnSecondPayment(w io.Writer, before *orderapi.OrderView, ev trigger.Event, signTest bool) {
	if before == nil || signTest || ev.Type != wechatpay.EventTransactionSuccess {
		return
	}
	paid := before.TransactionID
	if before.State != wechatpay.TradeStateSuccess || paid == "" || paid == ev.TransactionID {
		return
	}
	fmt.Fprintf(w, "note: order %v is already paid (transaction %s); this notification carries another transaction id,\n"+
		"  so the bundle keeps it as a second payment and puts the order in REVIEW. To replay the\n"+
		"  original payment instead (a duplicate, which changes nothing): --transaction-id %s\n\n", before.OrderID, paid, paid)
}

// printEffect says what the notification changed on the order.
func printEffect(w io.Writer, before, after *orderapi.OrderView) {
	if after == nil {
		return
	}
	desc := func(v *orderapi.OrderView) string {
		s := v.State
		if v.TransactionID != "" {
			s += " (transaction " + v.TransactionID + ")"
		}
		if v.Refunded > 0 {
			s += fmt.Sprintf(", %d fen refunded", v.Refunded)
		}
		return s
	}
	b, a := desc(before), desc(after)
	if a == b {
		fmt.Fprintf(w, "effect on the bundle: order %v unchanged: %s\n", after.OrderID, a)
		return
	}
	fmt.Fprintf(w, "effect on the bundle: order %v %s → %s\n", after.OrderID, b, a)
	if reason := after.ReviewReason; reason != "" && after.State == "REVIEW" {
		fmt.Fprintf(w, "  REVIEW: %s — see README \"REVIEW: payments a person must resolve\"\n", reason)
	}
}
