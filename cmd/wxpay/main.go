// Command wxpay is the local toolbox of the WeChat Pay backend: run everything locally
// (serve), play WeChat Pay (sim), send notifications to an endpoint (trigger) and check
// a configuration before it costs money (doctor).
//
// Exit codes: 0 success, 1 a check failed or the command failed, 2 usage error.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"time"
)

// runFunc is the shape of every command: flags in args, output to stdout, diagnostics
// to stderr, cancellation through ctx (Ctrl-C, SIGTERM).
type runFunc func(ctx context.Context, args []string, stdout, stderr io.Writer) error

type command struct {
	name    string
	summary string
	run     runFunc
}

// commands is a function, not a variable, so that the list can name runSim and
// runServe, which live in files owned by other people, without an init cycle.
func commands() []command {
	return []command{
		{"serve", "run every function locally on one HTTP server", runServe},
		{"up", "start wxpay serve in the background and return once it answers", runUp},
		{"down", "stop the wxpay serve started by up (or make start / make run)", runDown},
		{"sim", "run the WeChat Pay simulator", runSim},
		{"trigger", "send a signed WeChat Pay notification to an endpoint and judge the answer", runTrigger},
		{"doctor", "check a merchant configuration (keys, certificates, notify_url, clock, store, webhook)", runDoctor},
		{"order", "create, read, pay (simulator), refund or close an order through the bundle's order API", runOrder},
		{"reconcile", "run one reconcile pass now: settle missed payments, close expired orders, deliver events", runReconcile},
		{"billfetch", "fetch, verify, keep and reconcile daily bills (--date D [--to D2] backfills)", runBillfetch},
		{"console", "print the console_users line of an operator of the operations console (passwd NAME)", runConsole},
		{"version", "print the module version and VCS commit", runVersion},
		{"help", "show help for a command", runHelp},
	}
}

// errCheckFailed makes the exit code 1 after a command printed its own report.
var errCheckFailed = errors.New("check failed")

// usageError exits 2. When printed is true, the flag package already told the user.
type usageError struct {
	msg     string
	printed bool
}

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{msg: fmt.Sprintf(format, a...)} }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run dispatches and maps errors to exit codes; it is main without os.Exit, for tests.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		printUsage(stderr)
		return 2
	}
	name := args[0]
	switch name {
	case "-h", "--help", "-help":
		printUsage(stdout)
		return 0
	case "--version", "-version":
		name = "version"
	}
	for _, c := range commands() {
		if c.name == name {
			return exitCode(c.run(ctx, args[1:], stdout, stderr), name, stderr)
		}
	}
	fmt.Fprintf(stderr, "wxpay: unknown command %q\n\n", name)
	printUsage(stderr)
	return 2
}

func exitCode(err error, name string, stderr io.Writer) int {
	var ue *usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		if !ue.printed {
			fmt.Fprintf(stderr, "wxpay %s: %s\nRun 'wxpay %s -h' for usage.\n", name, ue.msg, name)
		}
		return 2
	case errors.Is(err, errCheckFailed):
		return 1
	default:
		fmt.Fprintf(stderr, "wxpay %s: %v\n", name, err)
		return 1
	}
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "Usage: wxpay <command> [flags]")
	fmt.Fprintln(w, "\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'wxpay <command> -h' for a command's flags.")
	fmt.Fprintln(w, "Exit codes: 0 ok, 1 check failed or error, 2 usage.")
}

func runHelp(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("help", "[command]\n\nShows the commands, or one command's flags.", stdout, stderr)
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	switch fs.NArg() {
	case 0:
		printUsage(stdout)
		return nil
	case 1:
	default:
		return usagef("help takes one command, got %q", fs.Args())
	}
	for _, c := range commands() {
		if c.name == fs.Arg(0) {
			return c.run(ctx, []string{"-h"}, stdout, stderr)
		}
	}
	return usagef("unknown command %q", fs.Arg(0))
}

// newFlagSet makes a flag set whose parse errors become usage errors (exit 2). Its
// usage goes to stdout when asked for (-h, --help: it is the answer) and to stderr
// after a parse error (it explains the error); parseFlags and parseArgs route it.
func newFlagSet(name, synopsis string, stdout, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("wxpay "+name, flag.ContinueOnError)
	fs.SetOutput(&usageOutput{stdout: stdout, stderr: stderr})
	fs.Usage = func() {
		sep := " "
		if strings.HasPrefix(synopsis, "\n") {
			sep = ""
		}
		fmt.Fprintf(fs.Output(), "Usage: wxpay %s%s%s\n", name, sep, synopsis)
		hasFlags := false
		fs.VisitAll(func(*flag.Flag) { hasFlags = true })
		if hasFlags {
			fmt.Fprintf(fs.Output(), "\nFlags:\n")
			fs.PrintDefaults()
		}
	}
	return fs
}

// usageOutput holds what the flag package prints while parsing until parseArgs knows
// whether it answers -h (stdout) or explains an error (stderr).
type usageOutput struct {
	buf            bytes.Buffer
	stdout, stderr io.Writer
}

func (u *usageOutput) Write(p []byte) (int, error) { return u.buf.Write(p) }

func (u *usageOutput) flush(help bool) {
	w := u.stderr
	if help {
		w = u.stdout
	}
	_, _ = w.Write(u.buf.Bytes())
	u.buf.Reset()
}

// parseArgs parses and classifies: -h is flag.ErrHelp (exit 0, usage on stdout),
// anything else that fails is a usage error already printed on stderr. Arguments after
// the flags are left to the caller.
func parseArgs(fs *flag.FlagSet, args []string) error {
	err := fs.Parse(args)
	if u, ok := fs.Output().(*usageOutput); ok {
		u.flush(errors.Is(err, flag.ErrHelp))
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, flag.ErrHelp):
		return err
	default:
		return &usageError{msg: err.Error(), printed: true}
	}
}

// parseFlags is parseArgs for commands that take no arguments after their flags.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected arguments %q", fs.Args())
	}
	return nil
}

// flagSet reports whether the flag name was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// nowFunc is the wall clock; tests replace it.
var nowFunc = time.Now

// version can be set at build time (go build -ldflags "-X main.version=v1.2.3");
// otherwise versionString reads what the go command embedded.
var version = ""

// versionString is the module version and VCS revision the go command embeds in the
// binary (debug.ReadBuildInfo): "v1.2.3", or a pseudo-version for a build from a
// checkout, plus the commit and whether the tree had local changes. `go run` and
// `go test` builds carry neither, and say so.
func versionString() string {
	v, rev, modified := version, "", false
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	if v == "" {
		v = "(devel)"
	}
	out := "wxpay " + v
	switch short := rev[:min(12, len(rev))]; {
	case rev != "" && !strings.Contains(v, short): // a pseudo-version already names it
		out += " commit " + short
		if modified {
			out += " with local changes"
		}
	case rev == "" && v == "(devel)":
		out += ", no VCS information (go run and go test builds carry none; go build -buildvcs=true in a checkout embeds it)"
	}
	return out
}

func runVersion(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("version", "\n\nPrints the module version, the VCS commit it was built from, and the Go toolchain.", stdout, stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s (%s %s/%s)\n", versionString(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}
