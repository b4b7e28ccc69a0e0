package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/paysls/wxpay/functions/notify"
	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/events"
)

// Merchant events under `wxpay serve`: where they go (WXPAY_WEBHOOK_URL, signed with
// the keys dir's webhook_secret in simulator mode), and a timer that delivers whatever
// notify's own attempt did not.

// deliverEvery is how often serve's timer delivers due events.
const deliverEvery = 2 * time.Second

// deliverGrace leaves an event to notify's own attempt (at most notify.DefaultBudget
// after its write) before the timer sends it: a timer racing that attempt would send
// an extra copy.
const deliverGrace = notify.DefaultBudget + time.Second

// configureServeEvents completes cfg for the events before notify is built: the
// webhook URL from --webhook-url (over WXPAY_WEBHOOK_URL, which the loader read); in
// simulator mode the webhook secret from the keys dir (generated there, 0600, on first
// use unless WXPAY_WEBHOOK_SECRET is set) and WeChat Pay's API base = this very server
// (platform certificates are downloaded from the simulator, never from
// api.mch.weixin.qq.com).
func configureServeEvents(cfg *config.Config, o serveOptions, b *bundle) error {
	if cfg.Sources == nil {
		cfg.Sources = map[string]string{}
	}
	if o.webhookURL != "" {
		cfg.Bundle.WebhookURL = o.webhookURL
		cfg.Sources["WebhookURL"] = "--webhook-url"
	}
	if o.live {
		return nil
	}
	if o.apiBase != "" {
		cfg.APIBase = o.apiBase
	} else if host, port, err := net.SplitHostPort(o.addr); err == nil && port != "0" {
		if host == "" || host == "0.0.0.0" || host == "::" {
			host = "127.0.0.1"
		}
		cfg.APIBase = "http://" + net.JoinHostPort(host, port)
	}
	cfg.Sources["APIBase"] = sourceSimulator
	if cfg.Bundle.APIToken.IsZero() && b.token != "" {
		cfg.Bundle.APIToken = config.NewSecret([]byte(b.token))
	}
	if !cfg.Bundle.WebhookSecret.IsZero() {
		return nil // WXPAY_WEBHOOK_SECRET, or the keys dir's webhook_secret
	}
	path := filepath.Join(o.keysDir, config.FileWebhookSecret)
	secret, err := loadOrCreateSecret(path, "whsec_")
	if err != nil {
		return err
	}
	cfg.Bundle.WebhookSecret = config.NewSecret([]byte(secret))
	cfg.Sources["WebhookSecret"] = "keys dir " + path
	return nil
}

// sourceSimulator is the source of a setting serve points at its own simulator.
const sourceSimulator = "simulator (this server)"

// loadOrCreateSecret reads a secret file (the API token, the webhook secret), or writes
// a fresh random one, prefix + 64 hex digits, with mode 0600.
func loadOrCreateSecret(path, prefix string) (string, error) {
	data, err := os.ReadFile(path)
	if err == nil && strings.TrimSpace(string(data)) != "" {
		return strings.TrimSpace(string(data)), nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("new secret: %w", err)
	}
	s := prefix + hex.EncodeToString(raw[:])
	if err := os.WriteFile(path, []byte(s+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return s, nil
}

// scaleEventBackoff makes event retries follow the simulator's --retry-scale, as WeChat
// Pay's notification retries do: tests and the soak need not wait 30 s for a retry.
func scaleEventBackoff(nh *notify.Handler, o serveOptions) {
	if o.live || o.retryScale <= 0 || o.retryScale == 1 || nh.Deliverer == nil {
		return
	}
	scale := o.retryScale
	nh.Deliverer.Backoff = func(n int) time.Duration { return time.Duration(float64(events.Backoff(n)) * scale) }
}

// startEventTimer delivers due events every deliverEvery until the returned stop is
// called (bundle.Close). Runs never overlap; each is bounded.
func startEventTimer(nh *notify.Handler, log *slog.Logger) (stop func()) {
	if nh.Deliverer == nil || nh.Deliverer.Sink == nil {
		return func() {}
	}
	d := *nh.Deliverer
	d.Grace = deliverGrace
	d.Log = log
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(deliverEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			rctx, rcancel := context.WithTimeout(ctx, time.Minute)
			res, err := d.DeliverDue(rctx)
			rcancel()
			if err != nil && ctx.Err() == nil {
				log.Warn("event delivery run failed", "error", err.Error())
			}
			if res.Delivered+res.Failed+res.Abandoned > 0 {
				log.Info("event delivery run", "delivered", res.Delivered, "failed", res.Failed, "abandoned", res.Abandoned)
			}
		}
	}()
	return func() { cancel(); <-done }
}

// printEventsBanner tells where merchant events go and how to see them.
func printEventsBanner(w io.Writer, o serveOptions, cfg config.Config, base string) {
	fmt.Fprintf(w, "  GET  %s/events?undelivered=1   merchant events still owed (bearer token); POST /events/{id}/resend\n", base)
	switch hook := cfg.Bundle.WebhookURL; {
	case hook != "":
		fmt.Fprintf(w, "  events: POSTed to %s (%s), signed (Wxpay-Signature) with the webhook secret from %s\n", hook, cfg.Source("WebhookURL"), cfg.Source("WebhookSecret"))
	case cfg.Bundle.EventBus != "":
		fmt.Fprintf(w, "  events: put on EventBridge bus %s\n", cfg.Bundle.EventBus)
	case !o.live:
		fmt.Fprintf(w, "  events: recorded, not delivered: pass --webhook-url (make run WEBHOOK_URL=…) or set %s\n", config.EnvWebhookURL)
	}
}
