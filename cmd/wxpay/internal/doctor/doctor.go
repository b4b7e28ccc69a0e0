// Package doctor checks a merchant configuration before it costs money, doing what the
// functions will do (keys, platform certificates, notify_url, clock, store, webhook) and
// saying for each failure how to fix it. `wxpay doctor` wraps it.
package doctor

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/paysls/wxpay/cmd/wxpay/internal/trigger"
	"github.com/paysls/wxpay/shared/config"
)

// Status of one doctor check.
type Status string

// Check statuses. Only StatusFail makes doctor exit non-zero.
const (
	StatusOK   Status = "ok"
	StatusFail Status = "fail"
	StatusWarn Status = "warn"
	StatusSkip Status = "skip"
)

// Check is one line of the checklist. Failures carry a fix in Chinese and English:
// the users are Chinese backend engineers, the logs they paste into issues are not
// always read by one.
type Check struct {
	Name   string `json:"name"`
	Status Status `json:"status"`
	Detail string `json:"detail"`
	FixZH  string `json:"fix_zh,omitempty"`
	FixEN  string `json:"fix_en,omitempty"`
}

// Resolver is the part of *net.Resolver doctor uses; tests inject their own because
// the sandbox (and many CI runners) have no DNS.
type Resolver interface {
	LookupHost(ctx context.Context, host string) ([]string, error)
}

// Doctor checks a configuration. Zero values of the injectable fields use the real
// network and clock.
type Doctor struct {
	Config    config.Config
	ConfigErr error  // problems met while loading (unreadable files…)
	Source    string // where the configuration came from, for the header line
	// KeysDir is the keys directory the configuration was read from (--keys-dir or
	// WXPAY_KEYS_DIR), "" for none. Env looks up the environment when the
	// configuration came from it; nil when it came from --keys-dir alone. Together they
	// let a failure name what to fix: a variable or a file of the directory.
	KeysDir string
	Env     func(string) (string, bool)

	// StoreURL is STORE_URL as the functions read it. The store check is skipped when
	// skipStore is set (tests without a store).
	StoreURL  string
	skipStore bool

	Resolver Resolver // default net.DefaultResolver

	// Probe asks for real deliveries to notify_url. ProbeSender plays WeChat Pay; when
	// it is nil, ProbeErr says why (usually: no platform private key).
	Probe       bool
	ProbeSender *trigger.Sender
	ProbeErr    error

	// What the checks found usable, for the checks that build on it (no ✔ may follow
	// from a value that failed to load). Reset by Run.
	key                   *rsa.PrivateKey
	mchOK, serialOK, v3OK bool
	explained             map[string]bool // fields whose loading problem a check reported
}

// Report is the checklist's outcome.
type Report struct {
	Source   string  `json:"source"`
	Checks   []Check `json:"checks"`
	Failed   int     `json:"failed"`
	Warnings int     `json:"warnings"`
	OK       bool    `json:"ok"`
}

// now is the wall clock: doctor compares it with the API server's (signatures carry
// wall-clock timestamps) and judges certificate expiry by it.
func (d *Doctor) now() time.Time { return time.Now() }

// Run performs every check, in the order a user should fix them.
func (d *Doctor) Run(ctx context.Context) *Report {
	r := &Report{Source: d.Source}
	d.key, d.mchOK, d.serialOK, d.v3OK, d.explained = nil, false, false, false, nil
	add := func(cs ...Check) { r.Checks = append(r.Checks, cs...) }
	if c := d.checkKeysDir(); c != nil {
		add(*c) // one cause, one failure: everything else would fail for it
	} else {
		add(d.checkMchID(), d.checkAppID())
		add(d.checkPrivateKey()...)
		add(d.checkAPIv3Key())
		add(d.checkPlatform(ctx)...)
		add(d.checkNotifyURL(ctx)...)
		add(d.checkClock(ctx))
		if !d.skipStore {
			add(d.checkStore(ctx)...)
		}
		add(d.checkWebhook(ctx))
		if d.Probe {
			add(d.checkProbe(ctx)...)
		}
		// Loading errors a field check reported itself (missing file, both variables
		// set) are not repeated; the rest lead the list.
		if errs := d.unexplained(d.ConfigErr); len(errs) > 0 {
			r.Checks = append([]Check{fail("configuration", "could not read everything: "+errors.Join(errs...).Error(),
				"检查文件路径和读取权限（Lambda/SCF 中文件需随代码包部署或改用环境变量）",
				"check the file paths and permissions (on Lambda/SCF the files must ship with the package, or use the env variables)")}, r.Checks...)
		}
	}
	for _, c := range r.Checks {
		switch c.Status {
		case StatusFail:
			r.Failed++
		case StatusWarn:
			r.Warnings++
		}
	}
	r.OK = r.Failed == 0
	return r
}

func ok(name, detail string) Check   { return Check{Name: name, Status: StatusOK, Detail: detail} }
func warn(name, detail string) Check { return Check{Name: name, Status: StatusWarn, Detail: detail} }
func skip(name, detail string) Check { return Check{Name: name, Status: StatusSkip, Detail: detail} }
func fail(name, detail, zh, en string) Check {
	return Check{Name: name, Status: StatusFail, Detail: detail, FixZH: zh, FixEN: en}
}

func (d *Doctor) resolver() Resolver {
	if d.Resolver != nil {
		return d.Resolver
	}
	return net.DefaultResolver
}

func (d *Doctor) apiBase() string {
	if d.Config.APIBase != "" {
		return strings.TrimRight(d.Config.APIBase, "/")
	}
	return config.DefaultAPIBase
}

func (d *Doctor) httpClient() *http.Client { return &http.Client{Timeout: 5 * time.Second} }

// WriteText prints the checklist for a terminal.
func (r *Report) WriteText(w io.Writer) {
	if r.Source != "" {
		fmt.Fprintf(w, "wxpay doctor — configuration from %s\n", r.Source)
	}
	width := 0
	for _, c := range r.Checks {
		width = max(width, len([]rune(c.Name)))
	}
	for _, c := range r.Checks {
		mark := map[Status]string{StatusOK: "✔", StatusFail: "✘", StatusWarn: "⚠", StatusSkip: "–"}[c.Status]
		pad := strings.Repeat(" ", width-len([]rune(c.Name)))
		fmt.Fprintf(w, "  %s %s%s  %s\n", mark, c.Name, pad, c.Detail)
		if c.FixZH != "" {
			fmt.Fprintf(w, "      修复: %s\n", c.FixZH)
		}
		if c.FixEN != "" {
			fmt.Fprintf(w, "      fix:  %s\n", c.FixEN)
		}
	}
	switch {
	case r.Failed > 0:
		fmt.Fprintf(w, "✘ %d failed, %d warning(s): fix the failures before taking real payments\n", r.Failed, r.Warnings)
	case r.Warnings > 0:
		fmt.Fprintf(w, "✔ all checks passed, %d warning(s)\n", r.Warnings)
	default:
		fmt.Fprintln(w, "✔ all checks passed")
	}
}

// WriteJSON prints the report for machines.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(r)
}
