// Command wxpay is the local toolbox of the WeChat Pay backend: run everything locally
// (serve), play WeChat Pay (sim), send notifications to an endpoint (trigger) and check
// a configuration before it costs money (doctor).
//
// Exit codes: 0 success, 1 a check failed or the command failed, 2 usage error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"
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
		{"sim", "run the WeChat Pay simulator", runSim},
		{"trigger", "send a signed WeChat Pay notification to an endpoint and judge the answer", runTrigger},
		{"doctor", "check a merchant configuration (keys, serials, notify_url, clock)", runDoctor},
		{"billfetch", "fetch, verify, keep and reconcile daily bills (--date D [--to D2] backfills)", runBillfetch},
		{"version", "print the version", runVersion},
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
	if name == "-h" || name == "--help" || name == "-help" {
		printUsage(stdout)
		return 0
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
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'wxpay <command> -h' for a command's flags.")
	fmt.Fprintln(w, "Exit codes: 0 ok, 1 check failed or error, 2 usage.")
}

func runHelp(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		printUsage(stdout)
		return nil
	}
	for _, c := range commands() {
		if c.name == args[0] && c.name != "help" {
			return c.run(ctx, []string{"-h"}, stdout, stderr)
		}
	}
	return usagef("unknown command %q", args[0])
}

// newFlagSet makes a flag set whose parse errors become usage errors (exit 2).
func newFlagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("wxpay "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: wxpay %s %s\n\nFlags:\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses and classifies: -h is flag.ErrHelp (exit 0), anything else that
// fails is a usage error the flag package has already printed.
func parseFlags(fs *flag.FlagSet, args []string) error {
	err := fs.Parse(args)
	switch {
	case err == nil:
		if fs.NArg() > 0 {
			return usagef("unexpected arguments %q", fs.Args())
		}
		return nil
	case errors.Is(err, flag.ErrHelp):
		return err
	default:
		return &usageError{msg: err.Error(), printed: true}
	}
}

// version is set at build time: go build -ldflags "-X main.version=v1.2.3".
var version = "dev"

func runVersion(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("version", "", stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	rev := ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				rev = " " + s.Value[:12]
			}
		}
	}
	fmt.Fprintf(stdout, "wxpay %s%s (%s %s/%s)\n", version, rev, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}
