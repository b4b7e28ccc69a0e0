package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// `wxpay up` and `wxpay down`: the bundle in the background, for a terminal that goes
// on to use it (the README's quick start). A running serve says where it is in
// <state dir>/serve.json, which up waits for, down stops, and the other commands use
// to reach the same bundle (the bbolt store admits one process).

// serveInfoFile is written by serve beside its store while it runs.
const serveInfoFile = "serve.json"

// serveInfo is what a running wxpay serve publishes about itself.
type serveInfo struct {
	PID     int       `json:"pid"`
	URL     string    `json:"url"`
	Mode    string    `json:"mode"` // "simulator" or "live"
	KeysDir string    `json:"keys_dir"`
	Store   string    `json:"store"` // password redacted
	World   string    `json:"world,omitempty"`
	Started time.Time `json:"started"`
	Notes   []string  `json:"notes,omitempty"`
}

// publishServe writes serve.json and returns the function that removes it (unless a
// newer serve replaced it meanwhile).
func publishServe(o serveOptions, b *bundle, url string) (remove func()) {
	info := serveInfo{PID: os.Getpid(), URL: url, Mode: "live", KeysDir: o.keysDir, Store: redactURL(b.dbURL),
		Started: time.Now().UTC().Truncate(time.Second), Notes: b.notes}
	if b.sim != nil {
		info.Mode, info.World = "simulator", o.simStateFile()
	}
	path := filepath.Join(o.stateDir(), serveInfoFile)
	data, _ := json.MarshalIndent(info, "", "  ")
	if err := os.MkdirAll(o.stateDir(), 0o700); err != nil {
		return func() {}
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o600); err != nil {
		return func() {}
	}
	return func() {
		if cur, err := readServeInfo(o.stateDir()); err == nil && cur.PID == info.PID {
			_ = os.Remove(path)
		}
	}
}

func readServeInfo(stateDir string) (*serveInfo, error) {
	b, err := os.ReadFile(filepath.Join(stateDir, serveInfoFile))
	if err != nil {
		return nil, err
	}
	var info serveInfo
	if err := json.Unmarshal(b, &info); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(stateDir, serveInfoFile), err)
	}
	return &info, nil
}

// liveServe is the serve running for stateDir: its process is alive and it answers
// /healthz as wxpay. A file left by a serve that was killed is ignored.
func liveServe(stateDir string) (*serveInfo, bool) {
	info, err := readServeInfo(stateDir)
	if err != nil || info.PID <= 0 || !processAlive(info.PID) {
		return nil, false
	}
	return info, answersAsWxpay(info.URL)
}

// answersAsWxpay reports whether base answers GET /healthz as a wxpay bundle.
func answersAsWxpay(base string) bool {
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(strings.TrimRight(base, "/") + "/healthz")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var h map[string]string
	_ = json.NewDecoder(io.LimitReader(resp.Body, 4096)).Decode(&h)
	return h["service"] == "wxpay"
}

const upSynopsis = `[serve's flags] [--wait 2m] [--log FILE]

Starts wxpay serve in the background and returns once it answers, so the same terminal
can go on to use it (make start runs it after installing wxpay). Its output — the
banner with the settings in force, then the JSON log — goes to --log. When a serve is
already running for this keys dir, up says where and leaves it running.
'wxpay down' (make stop) stops it. The flags are serve's ('wxpay serve -h').`

// runUp is `wxpay up`.
func runUp(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("up", upSynopsis, stdout, stderr)
	var o serveOptions
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8080", "listen address")
	fs.StringVar(&o.keysDir, "keys-dir", "", "keys `DIR`, as serve takes it (default $"+"WXPAY_KEYS_DIR, else "+defaultKeysDir+")")
	fs.StringVar(&o.storeURL, "store", "", "store `URL`, as serve takes it")
	fs.StringVar(&o.webhookURL, "webhook-url", "", "`URL` merchant events are POSTed to, as serve takes it")
	fs.BoolVar(&o.reset, "reset", false, "start the simulated world afresh, as serve --reset")
	fs.StringVar(&o.mode, "mode", "", "simulator signing mode, as serve takes it (cert or pubkey)")
	fs.Float64Var(&o.retryScale, "retry-scale", 0, "simulator retry schedule scale, as serve takes it")
	wait := fs.Duration("wait", 2*time.Minute, "how long to wait for serve to answer")
	logPath := fs.String("log", "", "`FILE` serve's output is appended to (default serve.log beside the store)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	resolveServeMode(&o, flagSet(fs, "keys-dir"))
	if info, ok := liveServe(o.stateDir()); ok {
		if o.reset {
			return fmt.Errorf("a wxpay serve is running at %s (pid %d): stop it first (wxpay down), then start afresh with --reset", info.URL, info.PID)
		}
		fmt.Fprintf(stdout, "wxpay serve is already running: %s (%s, pid %d, since %s)\n", info.URL, info.Mode, info.PID, info.Started.Local().Format(time.DateTime))
		fmt.Fprintf(stdout, "  it runs the binary it was started with: wxpay down, then wxpay up, to restart it\n")
		return nil
	}
	if *logPath == "" {
		*logPath = filepath.Join(o.stateDir(), "serve.log")
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("cannot find the wxpay binary to run: %w", err)
	}
	serveArgs := []string{"serve"}
	fs.Visit(func(f *flag.Flag) {
		if f.Name != "wait" && f.Name != "log" {
			serveArgs = append(serveArgs, "--"+f.Name+"="+f.Value.String())
		}
	})
	if err := os.MkdirAll(filepath.Dir(*logPath), 0o700); err != nil {
		return err
	}
	logf, err := os.OpenFile(*logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("serve's log: %w", err)
	}
	defer logf.Close()
	logStart, _ := logf.Seek(0, io.SeekEnd)
	cmd := exec.Command(exe, serveArgs...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = detached() // not stopped by the terminal's Ctrl-C or its closing
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start wxpay serve: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	fmt.Fprintf(stderr, "starting wxpay serve (pid %d, log %s)…\n", cmd.Process.Pid, *logPath)
	deadline := time.NewTimer(*wait)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-exited:
			fmt.Fprintf(stderr, "wxpay serve stopped at start (%v); its output:\n", err)
			printLogFrom(stderr, *logPath, logStart)
			return errCheckFailed
		case <-deadline.C:
			_ = cmd.Process.Signal(os.Interrupt)
			fmt.Fprintf(stderr, "wxpay serve did not answer within %s; its output:\n", *wait)
			printLogFrom(stderr, *logPath, logStart)
			return errCheckFailed
		case <-ctx.Done():
			_ = cmd.Process.Signal(os.Interrupt)
			return ctx.Err()
		case <-tick.C:
		}
		info, err := readServeInfo(o.stateDir())
		if err != nil || info.PID != cmd.Process.Pid || !answersAsWxpay(info.URL) {
			continue
		}
		printUp(stdout, info, *logPath)
		_ = cmd.Process.Release()
		return nil
	}
}

// printUp says where the bundle is and what to do next.
func printUp(w io.Writer, info *serveInfo, logPath string) {
	fmt.Fprintf(w, "wxpay serve is up: %s (%s mode, pid %d)\n", info.URL, info.Mode, info.PID)
	fmt.Fprintf(w, "  store %s", info.Store)
	if info.World != "" {
		fmt.Fprintf(w, ", simulator's world %s", info.World)
	}
	fmt.Fprintf(w, "; API token in %s\n", filepath.Join(info.KeysDir, apiTokenFile))
	for _, n := range info.Notes {
		fmt.Fprintf(w, "  %s\n", n)
	}
	stop := "wxpay down (make stop)"
	if kd := filepath.Clean(info.KeysDir); info.KeysDir != "" && kd != filepath.Clean(defaultKeysDir) {
		stop = fmt.Sprintf("wxpay down --keys-dir %s (make stop KEYS_DIR=%s)", kd, kd)
	}
	fmt.Fprintf(w, "  banner, settings in force and logs: %s · stop it: %s\n", logPath, stop)
}

// printLogFrom copies what serve wrote to its log since from.
func printLogFrom(w io.Writer, path string, from int64) {
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	if _, err := f.Seek(from, io.SeekStart); err != nil {
		return
	}
	sc := bufio.NewScanner(io.LimitReader(f, 64<<10))
	for sc.Scan() {
		fmt.Fprintf(w, "  | %s\n", sc.Text())
	}
}

const downSynopsis = `[--keys-dir DIR] [--wait 15s]

Stops the wxpay serve running for the keys dir (started by wxpay up, make start or
make run), as Ctrl-C would: it finishes what it is doing, saves the simulator's world
and closes the store.`

// runDown is `wxpay down`.
func runDown(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("down", downSynopsis, stdout, stderr)
	var o serveOptions
	fs.StringVar(&o.keysDir, "keys-dir", "", "keys `DIR` of the serve to stop (default $WXPAY_KEYS_DIR, else "+defaultKeysDir+")")
	wait := fs.Duration("wait", 15*time.Second, "how long to wait for it to stop")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	resolveServeMode(&o, flagSet(fs, "keys-dir"))
	info, err := readServeInfo(o.stateDir())
	if errors.Is(err, os.ErrNotExist) || (err == nil && !processAlive(info.PID)) {
		if err == nil {
			_ = os.Remove(filepath.Join(o.stateDir(), serveInfoFile)) // left by a serve that was killed
		}
		fmt.Fprintf(stdout, "no wxpay serve is running for %s\n", o.keysDir)
		return nil
	}
	if err != nil {
		return err
	}
	if err := stopProcess(info.PID); err != nil {
		return fmt.Errorf("stop wxpay serve (pid %d): %w", info.PID, err)
	}
	deadline := time.Now().Add(*wait)
	for processAlive(info.PID) {
		if time.Now().After(deadline) {
			return fmt.Errorf("wxpay serve (pid %d) is still running after %s", info.PID, *wait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	fmt.Fprintf(stdout, "wxpay serve stopped (%s, pid %d)\n", info.URL, info.PID)
	return nil
}
