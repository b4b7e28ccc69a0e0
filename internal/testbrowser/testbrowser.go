// Package testbrowser opens a headless Chromium tab for the bundle's browser tests (the
// cashier page, the operator's console): Debian's chromium, found on PATH or named by
// WXPAY_CHROMIUM; a missing browser skips the test outside CI and fails it in CI
// (.ci/run installs it). Every CSP violation and uncaught script error the page causes
// fails the test at its end; screenshots go to $WXPAY_SCREENSHOTS/<test>, else to the
// test's artifact directory.
package testbrowser

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Options shape one tab.
type Options struct {
	// What names the tests, for the message when no browser is found ("the console's").
	What          string
	UserAgent     string // "": Chromium's own
	Width, Height int64
	Mobile        bool // a phone: mobile emulation at scale 2
	Timeout       time.Duration
	// Expected reports console errors the test causes on purpose (a 401 it asks for, a
	// favicon the page has none of); they are not problems. CSP violations always are.
	Expected func(text, url string) bool
}

// Tab is an open tab: Ctx runs chromedp actions in it, Dir is where screenshots go.
type Tab struct {
	Ctx context.Context
	Dir string

	mu       sync.Mutex
	problems []string
}

// Open starts Chromium with one tab shaped by o. Everything is closed when t ends.
func Open(t *testing.T, o Options) *Tab {
	t.Helper()
	exe := chromium(t, o.What)
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox,
		chromedp.WindowSize(int(o.Width), int(o.Height)), chromedp.Flag("disable-dev-shm-usage", true), chromedp.Flag("lang", "zh-CN"))
	if o.UserAgent != "" {
		opts = append(opts, chromedp.UserAgent(o.UserAgent))
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelA)
	tab := &Tab{}
	ctx, cancelC := chromedp.NewContext(actx, chromedp.WithListener(func(ev any) { tab.listen(ev, o.Expected) }))
	t.Cleanup(cancelC)
	ctx, cancelT := context.WithTimeout(ctx, o.Timeout)
	t.Cleanup(cancelT)
	tab.Ctx = ctx
	var vp []chromedp.EmulateViewportOption
	if o.Mobile {
		vp = append(vp, chromedp.EmulateMobile, chromedp.EmulateScale(2))
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(o.Width, o.Height, vp...)); err != nil {
		t.Fatalf("start Chromium (%s): %v", exe, err)
	}
	if tab.Dir = os.Getenv("WXPAY_SCREENSHOTS"); tab.Dir != "" {
		tab.Dir = filepath.Join(tab.Dir, t.Name())
		if err := os.MkdirAll(tab.Dir, 0o755); err != nil {
			t.Fatal(err)
		}
	} else {
		tab.Dir = t.ArtifactDir()
	}
	t.Cleanup(func() {
		tab.mu.Lock()
		defer tab.mu.Unlock()
		for _, p := range tab.problems {
			t.Errorf("browser: %s", p)
		}
	})
	return tab
}

// chromium finds the browser. Outside CI a missing browser skips the test; in CI
// (CI=true) it fails it.
func chromium(t *testing.T, what string) string {
	t.Helper()
	if p := os.Getenv("WXPAY_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
		t.Fatalf("CI is set and no Chromium is on PATH: %s browser tests must run in CI (.ci/run installs Debian's chromium; WXPAY_CHROMIUM names another binary)", what)
	}
	t.Skipf("%s browser tests need Chromium: apt-get install -y chromium (or set WXPAY_CHROMIUM); skipped because CI is not set", what)
	return ""
}

// listen records CSP violations and uncaught script errors. It runs on chromedp's event
// goroutine and must not block.
func (tab *Tab) listen(ev any, expected func(text, url string) bool) {
	var msg string
	switch e := ev.(type) {
	case *log.EventEntryAdded:
		if e.Entry == nil {
			return
		}
		csp := strings.Contains(e.Entry.Text, "Content Security Policy")
		if csp || e.Entry.Level == log.EntryLevelError && (expected == nil || !expected(e.Entry.Text, e.Entry.URL)) {
			msg = fmt.Sprintf("console %s: %s (%s)", e.Entry.Source, e.Entry.Text, e.Entry.URL)
		}
	case *runtime.EventExceptionThrown:
		if e.ExceptionDetails != nil {
			msg = "uncaught: " + e.ExceptionDetails.Text
			if e.ExceptionDetails.Exception != nil {
				msg += " " + e.ExceptionDetails.Exception.Description
			}
		}
	}
	if msg != "" {
		tab.mu.Lock()
		tab.problems = append(tab.problems, msg)
		tab.mu.Unlock()
	}
}
