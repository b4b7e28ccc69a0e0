package main

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current help texts")

// TestHelpGolden holds every command's help text to testdata/help_<command>.golden, so
// a change to a flag or a synopsis shows up in review. Regenerate with
// go test ./cmd/wxpay -run TestHelpGolden -update.
func TestHelpGolden(t *testing.T) {
	for _, k := range []string{"WXPAY_KEYS_DIR", "STORE_URL", "WXPAY_NOTIFY_URL", "WXPAY_API_BASE", "BILLS_URL", "WXPAY_WEBHOOK_URL"} {
		t.Setenv(k, "") // help must not depend on (or show) the environment
	}
	cases := map[string][]string{"wxpay": {"--help"}}
	for _, c := range commands() {
		cases[c.name] = []string{c.name, "-h"}
	}
	for sub := range orderSubSynopsis {
		cases["order_"+sub] = []string{"order", sub, "--help"}
	}
	for name, args := range cases {
		t.Run(name, func(t *testing.T) {
			code, out, errOut := runCmd(t, args...)
			if code != 0 {
				t.Fatalf("%v: exit %d\n%s%s", args, code, out, errOut)
			}
			// Help asked for is the answer: stdout, so `wxpay serve -h | less` works.
			if errOut != "" {
				t.Errorf("%v printed on stderr:\n%s", args, errOut)
			}
			got := out
			// The command's name once: "wxpay order create --amount …", never "create create|…".
			if first, _, _ := strings.Cut(got, "\n"); len(args) > 2 && strings.Count(first, " "+args[1]+" ") > 1 {
				t.Errorf("usage line names %q twice: %s", args[1], first)
			}
			// No flag's placeholder may come from a backticked phrase of its usage
			// ("-keys-dir wxpay sim"): placeholders are single upper-case words.
			for _, line := range strings.Split(got, "\n") {
				if f, ok := strings.CutPrefix(line, "  -"); ok {
					if _, ph, found := strings.Cut(f, " "); found && strings.Contains(ph, " ") {
						t.Errorf("flag line %q: placeholder %q", line, ph)
					}
				}
			}
			for _, entry := range strings.Split(got, "\n  -")[1:] {
				if strings.Count(entry, "(default") > 1 {
					t.Errorf("flag -%s states its default twice", entry)
				}
			}
			path := filepath.Join("testdata", "help_"+name+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("%s differs from %s (run with -update if the change is intended):\n--- got\n%s\n--- want\n%s", strings.Join(args, " "), path, got, want)
			}
		})
	}
}

func TestVersionFlagAndHelpHelp(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"-version"}, {"version"}} {
		code, out, errOut := runCmd(t, args...)
		if code != 0 || !strings.HasPrefix(out, "wxpay ") || !strings.Contains(out, "go1.") || errOut != "" {
			t.Errorf("%v: exit %d %q %q", args, code, out, errOut)
		}
	}
	for _, args := range [][]string{{"help", "--help"}, {"help", "-h"}, {"help", "help"}} {
		if code, out, errOut := runCmd(t, args...); code != 0 || !strings.Contains(out+errOut, "Usage: wxpay help") {
			t.Errorf("%v: exit %d\n%s%s", args, code, out, errOut)
		}
	}
}
