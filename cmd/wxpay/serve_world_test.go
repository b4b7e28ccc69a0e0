package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paysls/wxpay/internal/keysdirtest"
	"github.com/paysls/wxpay/shared/events"
	"github.com/paysls/wxpay/shared/keysdir"
)

// call is one request to a running serve with its API token; it decodes the JSON answer.
func (s *runningServe) call(t *testing.T, method, path, body string, hdr ...string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, s.base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return resp.StatusCode, m
}

// eventHook is a merchant's webhook that refuses until accept is set, then records the
// events it acknowledges.
type eventHook struct {
	accept atomic.Bool
	mu     sync.Mutex
	got    map[string]events.Event
}

func (h *eventHook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.accept.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	var ev events.Event
	_ = json.NewDecoder(r.Body).Decode(&ev)
	h.mu.Lock()
	h.got[ev.ID] = ev
	h.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func (h *eventHook) delivered(orderID, typ string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, ev := range h.got {
		if ev.Type == typ && strings.Contains(string(ev.Data), `"`+orderID+`"`) {
			return true
		}
	}
	return false
}

func waitFor(t *testing.T, what string, d time.Duration, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !ok(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, d)
		}
	}
}

// A local world survives a restart of serve: an order created before is paid after,
// and an event stamped on the advanced virtual clock before the restart (its webhook
// was down) is delivered after it, the clock having resumed where it was.
func TestServeRestartResumesTheWorld(t *testing.T) {
	hook := &eventHook{got: map[string]events.Event{}}
	hs := httptest.NewServer(hook)
	defer hs.Close()
	keys := filepath.Join(t.TempDir(), "sim")
	flags := []string{"--webhook-url", hs.URL + "/hook", "--retry-scale", "0.001"}

	a := startRunServeAt(t, keys, flags...)
	if st, m := a.call(t, "POST", "/sim/clock", `{"advance":"90m"}`); st != 200 {
		t.Fatalf("advance: %d %v", st, m)
	}
	for _, id := range []string{"WORLD00001", "WORLD00002"} {
		if st, m := a.call(t, "POST", "/orders", `{"order_id":"`+id+`","amount":100,"description":"x","scene":"native"}`); st != 201 {
			t.Fatalf("create %s: %d %v", id, st, m)
		}
	}
	// WORLD00002 is paid now; its order.paid event cannot be delivered yet.
	if st, m := a.call(t, "POST", "/sim/orders/WORLD00002/pay", ""); st != 200 {
		t.Fatalf("pay: %d %v", st, m)
	}
	waitFor(t, "WORLD00002 paid", 10*time.Second, func() bool {
		_, m := a.call(t, "GET", "/orders/WORLD00002", "")
		return m["state"] == "SUCCESS"
	})
	if err := a.stop(); err != nil {
		t.Fatal(err)
	}

	hook.accept.Store(true)
	b := startRunServeAt(t, keys, flags...)
	defer b.stop()
	if !strings.Contains(b.out.String(), "resumed the simulator's world") || !strings.Contains(b.out.String(), "+1h30m0s") {
		t.Errorf("the banner does not say the world resumed:\n%s", b.out.String())
	}
	if st, m := b.call(t, "POST", "/sim/orders/WORLD00001/pay", ""); st != 200 {
		t.Fatalf("pay an order created before the restart: %d %v", st, m)
	}
	waitFor(t, "WORLD00001 SUCCESS after the restart", 10*time.Second, func() bool {
		_, m := b.call(t, "GET", "/orders/WORLD00001", "")
		return m["state"] == "SUCCESS"
	})
	waitFor(t, "the event stamped before the restart delivered", 20*time.Second, func() bool {
		return hook.delivered("WORLD00002", "order.paid")
	})
	if _, m := b.call(t, "GET", "/sim/clock", ""); m["offset"] != "1h30m0s" {
		t.Errorf("clock after restart: %v", m)
	}
}

// --reset starts the store and the simulator afresh together; the keys and the token stay.
func TestServeReset(t *testing.T) {
	keys := filepath.Join(t.TempDir(), "sim")
	a := startRunServeAt(t, keys)
	if st, _ := a.call(t, "POST", "/orders", `{"order_id":"RESET00001","amount":100,"description":"x","scene":"native"}`); st != 201 {
		t.Fatal(st)
	}
	tok := a.token
	if err := a.stop(); err != nil {
		t.Fatal(err)
	}
	b := startRunServeAt(t, keys, "--reset")
	defer b.stop()
	if b.token != tok {
		t.Error("--reset replaced the API token")
	}
	if !strings.Contains(b.out.String(), "reset: removed") {
		t.Errorf("banner: %s", b.out.String())
	}
	if st, m := b.call(t, "GET", "/orders/RESET00001", ""); st != 404 {
		t.Errorf("order after --reset: %d %v", st, m)
	}
	if st, _ := b.call(t, "GET", "/sim/orders/RESET00001", ""); st != 404 {
		t.Errorf("the simulator kept the order after --reset: %d", st)
	}
}

// The store kept without the simulator's world (deleted, or from before it was kept)
// is said at start, with the way out.
func TestServeWarnsWhenTheWorldsDiffer(t *testing.T) {
	keys := filepath.Join(t.TempDir(), "sim")
	a := startRunServeAt(t, keys)
	_ = a.stop()
	if err := os.Remove(filepath.Join(filepath.Dir(keys), "paysim.json")); err != nil {
		t.Fatal(err)
	}
	b := startRunServeAt(t, keys)
	defer b.stop()
	if !strings.Contains(b.out.String(), "orders created before cannot be paid here; `wxpay serve --reset` starts both afresh") {
		t.Errorf("no warning:\n%s", b.out.String())
	}
}

// One configuration in every mode: settings from the environment are honoured under
// serve with the simulator, and the banner says where each came from. An H5 order
// behind a trusted proxy sends the user's address (X-Forwarded-For), not the proxy's.
func TestServeHonoursEnvironmentSettings(t *testing.T) {
	t.Setenv("TRUSTED_PROXIES", "127.0.0.1/32")
	t.Setenv("WXPAY_ORDER_TTL", "30m")
	t.Setenv("WXPAY_REFUND_LATE_PAYMENTS", "1")
	t.Setenv("WXPAY_WEBHOOK_URL", "http://127.0.0.1:9/hook")
	t.Setenv("WXPAY_MERCHANT_NAME", "Coffee Shop")
	s := startRunServe(t)
	defer s.stop()
	banner := s.out.String()
	for _, want := range []string{
		"TRUSTED_PROXIES             127.0.0.1/32",
		"WXPAY_ORDER_TTL             30m0s",
		"WXPAY_REFUND_LATE_PAYMENTS  on",
		"WXPAY_WEBHOOK_URL           http://127.0.0.1:9/hook",
		"WXPAY_PARTNER               off                            default",
	} {
		if !strings.Contains(banner, want) {
			t.Errorf("banner lacks %q:\n%s", want, banner)
		}
	}
	for _, name := range []string{"TRUSTED_PROXIES", "WXPAY_ORDER_TTL", "WXPAY_REFUND_LATE_PAYMENTS", "WXPAY_WEBHOOK_URL", "WXPAY_MERCHANT_NAME"} {
		line := lineWith(banner, "  "+name+" ")
		if !strings.HasSuffix(strings.TrimSpace(line), "environment") {
			t.Errorf("%s: source not the environment: %q", name, line)
		}
	}
	st, m := s.call(t, "POST", "/orders", `{"order_id":"H5PROXY001","amount":100,"description":"x","scene":"h5"}`, "X-Forwarded-For", "203.0.113.7")
	if st != 201 {
		t.Fatalf("h5 create: %d %v", st, m)
	}
	resp, err := http.Get(s.base + "/sim/orders/H5PROXY001")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v struct {
		Request struct {
			SceneInfo struct {
				PayerClientIP string `json:"payer_client_ip"`
			} `json:"scene_info"`
		} `json:"prepay_request"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatal(err)
	}
	if got := v.Request.SceneInfo.PayerClientIP; got != "203.0.113.7" {
		t.Errorf("payer_client_ip sent to WeChat Pay = %q, want the user's 203.0.113.7 (TRUSTED_PROXIES honoured)", got)
	}
	// WXPAY_ORDER_TTL: an order expires 30 minutes after it was made.
	st, m = s.call(t, "POST", "/orders", `{"order_id":"TTLORDER01","amount":100,"description":"x","scene":"native"}`)
	if st != 201 {
		t.Fatalf("create: %d %v", st, m)
	}
	exp, _ := time.Parse(time.RFC3339, m["expires_at"].(string))
	if d := time.Until(exp); d > 31*time.Minute || d < 29*time.Minute {
		t.Errorf("expires_at %v is %v away, want 30m (WXPAY_ORDER_TTL)", exp, d)
	}
}

// A malformed setting stops serve with the variable named, instead of being ignored.
func TestServeRefusesMalformedSettings(t *testing.T) {
	t.Setenv("WXPAY_MCHID", "")
	t.Setenv("WXPAY_KEYS_DIR", "")
	t.Setenv("TRUSTED_PROXIES", "10.0.0.0/33")
	var out, errOut syncBuffer
	err := runServe(context.Background(), []string{"--addr", "127.0.0.1:0", "--keys-dir", filepath.Join(t.TempDir(), "sim")}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "TRUSTED_PROXIES") {
		t.Fatalf("runServe = %v", err)
	}
}

func lineWith(text, substr string) string {
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, substr) {
			return l
		}
	}
	return ""
}

// The job commands reach the same bundle as make run: with serve running on the keys
// dir they are run by it (it holds the bbolt store); without it a simulator's keys dir
// says to start it rather than calling the production API.
func TestJobCommandsUseTheRunningBundle(t *testing.T) {
	keys := filepath.Join(t.TempDir(), "sim")
	s := startRunServeAt(t, keys)
	for _, args := range [][]string{
		{"reconcile", "--keys-dir", keys},
		{"billfetch", "--keys-dir", keys, "--quiet"},
	} {
		code, out, errOut := runCmd(t, args...)
		if code != 0 || !strings.Contains(errOut, "run by the wxpay serve at "+s.base) {
			t.Errorf("%v: exit %d\nstdout %s\nstderr %s", args, code, out, errOut)
		}
		if args[0] == "reconcile" && !strings.Contains(out, `"examined"`) {
			t.Errorf("reconcile report: %s", out)
		}
		if args[0] == "billfetch" && !strings.Contains(out, `"bills":[`) {
			t.Errorf("billfetch report: %s", out)
		}
	}
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCmd(t, "reconcile", "--keys-dir", keys)
	if code != 1 || !strings.Contains(errOut, "no wxpay serve runs for it") {
		t.Errorf("reconcile without serve: exit %d %s", code, errOut)
	}
}

// The mode follows the keys dir: a simulator's (or an empty one) runs the simulator, a
// merchant's own files (no platform private key) or WXPAY_MCHID run live; --keys-dir
// wins over WXPAY_KEYS_DIR, which wins over the default.
func TestServeModeFollowsTheKeysDir(t *testing.T) {
	t.Setenv("WXPAY_MCHID", "")
	t.Setenv("WXPAY_KEYS_DIR", "")
	_, sim := keysdirtest.Dir(t)
	merchant := t.TempDir()
	entries, _ := os.ReadDir(sim)
	for _, e := range entries {
		if e.Name() != keysdir.FilePlatformKey {
			b, _ := os.ReadFile(filepath.Join(sim, e.Name()))
			_ = os.WriteFile(filepath.Join(merchant, e.Name()), b, 0o600)
		}
	}
	for _, c := range []struct {
		name      string
		flag, env string
		mchid     string
		live      bool
		keys, lkd string
	}{
		{"default", "", "", "", false, defaultKeysDir, ""},
		{"empty dir", filepath.Join(t.TempDir(), "new"), "", "", false, "", ""},
		{"simulator dir", sim, "", "", false, sim, ""},
		{"merchant dir", merchant, "", "", true, merchant, merchant},
		{"merchant dir from the environment", "", merchant, "", true, merchant, merchant},
		{"flag over environment", sim, merchant, "", false, sim, ""},
		{"WXPAY_MCHID alone", "", "", "1900000109", true, defaultKeysDir, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("WXPAY_KEYS_DIR", c.env)
			t.Setenv("WXPAY_MCHID", c.mchid)
			o := serveOptions{keysDir: c.flag}
			resolveServeMode(&o, c.flag != "")
			if o.live != c.live || (c.keys != "" && o.keysDir != c.keys) || o.liveKeysDir != c.lkd {
				t.Errorf("live=%v keys=%q liveKeysDir=%q", o.live, o.keysDir, o.liveKeysDir)
			}
		})
	}
}
