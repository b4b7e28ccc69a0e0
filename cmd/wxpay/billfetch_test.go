package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paysls/wxpay/functions/billfetch"
	"github.com/paysls/wxpay/internal/keysdirtest"
	"github.com/paysls/wxpay/internal/paysim"
	"github.com/paysls/wxpay/shared/clock"
	"github.com/paysls/wxpay/shared/wechatpay"
)

type simClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *simClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *simClock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// wxpay billfetch against the simulator: yesterday (real calendar) holds one payment
// whose notification never arrived; the backfill settles it.
func TestBillfetchCommandBackfills(t *testing.T) {
	id, keys := keysdirtest.Dir(t)
	now := time.Now().In(clock.CST)
	yesterday := time.Date(now.Year(), now.Month(), now.Day()-1, 10, 0, 0, 0, clock.CST)
	clock := &simClock{t: yesterday}
	sim, err := paysim.New(paysim.Config{Identity: id, Now: clock.Now, RetryScale: 0.001, Faults: paysim.Faults{DropAll: true}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	t.Cleanup(func() { srv.Close(); sim.Close() })
	client := &wechatpay.Client{BaseURL: srv.URL, Signer: id.MerchantSigner(), Verifier: &wechatpay.Verifier{Keys: id.PlatformKeys()},
		MchID: id.MchID, AppID: id.AppID, NotifyURLOptions: wechatpay.NotifyURLOptions{AllowLoopback: true}}
	if _, err := client.Prepay(context.Background(), wechatpay.SceneNative, wechatpay.PrepayRequest{Description: "cli", OutTradeNo: "CLI0000001",
		NotifyURL: "http://127.0.0.1:9/notify", Amount: wechatpay.Amount{Total: 321, Currency: "CNY"}}); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := sim.Pay("CLI0000001", paysim.PayRequest{}); err != nil {
		t.Fatal(err)
	}
	clock.Set(yesterday.Add(24*time.Hour + 30*time.Minute)) // today 10:30: the bill exists
	dir := t.TempDir()
	base := []string{"billfetch", "--keys-dir", keys, "--api-base", srv.URL,
		"--store", "bolt://" + filepath.Join(dir, "wxpay.db"), "--bills", "file://" + filepath.Join(dir, "bills")}
	first := yesterday.AddDate(0, 0, -1).Format(time.DateOnly)
	last := yesterday.Format(time.DateOnly)

	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), append(base, "--date", first, "--to", last, "--quiet"), &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", code, &stdout, &stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("want one JSON line per day, got %q", lines)
	}
	var day struct {
		Date  string                 `json:"date"`
		Bills []billfetch.BillReport `json:"bills"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &day); err != nil || day.Date != first || day.Bills[0].Status != billfetch.StatusNoStatement {
		t.Fatalf("first day %s: %+v %v", lines[0], day, err)
	}
	if err := json.Unmarshal([]byte(lines[1]), &day); err != nil || day.Date != last || day.Bills[0].Status != billfetch.StatusReconciled ||
		day.Bills[0].Settled != 1 || day.Bills[0].Rows != 1 {
		t.Fatalf("second day %s: %+v %v", lines[1], day, err)
	}

	// With the progress bar: a summary table; the re-run lists the settlement again.
	stdout.Reset()
	stderr.Reset()
	if code := run(context.Background(), append(base, "--date", last), &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, &stdout, &stderr)
	}
	if out := stdout.String(); !strings.Contains(out, "DATE") || !strings.Contains(out, last) || !strings.Contains(out, "reconciled") {
		t.Fatalf("table:\n%s", out)
	}
}

func TestBillfetchCommandUsage(t *testing.T) {
	now := time.Now()
	today := now.In(clock.CST).Format(time.DateOnly)
	for _, args := range [][]string{
		{"billfetch", "--date", "2026-13-01"},
		{"billfetch", "--date", "2026-03-10", "--to", "2026-03-09"},
		{"billfetch", "--to", "2026-03-09"},
		{"billfetch", "--date", today},
		{"billfetch", "--date", "2025-01-01", "--to", "2025-12-31"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), args, &stdout, &stderr); code != 2 {
			t.Errorf("%q: exit %d, want 2 (usage)\n%s", args, code, &stderr)
		}
	}
}
