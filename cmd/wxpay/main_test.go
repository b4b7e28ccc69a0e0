package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// runCmd runs the CLI in-process and returns exit code, stdout and stderr.
func runCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestDispatchAndExitCodes(t *testing.T) {
	for _, tc := range []struct {
		args        []string
		code        int
		out, errOut string
	}{
		{nil, 2, "", "Usage: wxpay <command>"},
		{[]string{"nope"}, 2, "", `unknown command "nope"`},
		{[]string{"-h"}, 0, "trigger", ""},
		{[]string{"help"}, 0, "doctor", ""},
		{[]string{"help", "trigger"}, 0, "--out-trade-no", ""},
		{[]string{"help", "nope"}, 2, "", `unknown command "nope"`},
		{[]string{"version"}, 0, "wxpay ", ""},
		{[]string{"--version"}, 0, "wxpay ", ""},
		{[]string{"help", "--help"}, 0, "Usage: wxpay help", ""},
		{[]string{"version", "extra"}, 2, "", "unexpected arguments"},
		{[]string{"trigger", "-h"}, 0, "Usage: wxpay trigger", ""},
		{[]string{"doctor", "-h"}, 0, "WXPAY_PRIVATE_KEY_FILE", ""},
		{[]string{"order", "create", "--help"}, 0, "Usage: wxpay order create --amount FEN", ""},
		{[]string{"order", "create", "--amount", "0"}, 2, "", "WeChat Pay takes no zero amounts"},
		{[]string{"order", "create"}, 2, "", "--amount is required"},
		{[]string{"order", "refund", "ORDER10001", "--amount", "-1"}, 2, "", "positive number of fen"},
		{[]string{"order", "create", "--bogus"}, 2, "", "Usage: wxpay order create"},
		{[]string{"trigger", "--bogus"}, 2, "", "flag provided but not defined"},
		{[]string{"trigger", "--out-trade-no", "T20240520001", "--amount", "1"}, 2, "", "--url is required"},
		{[]string{"trigger", "--url", "http://127.0.0.1:1/n", "--out-trade-no", "T20240520001"}, 2, "", "--amount"},
		{[]string{"trigger", "--url", "http://127.0.0.1:1/n", "--out-trade-no", "T20240520001", "--amount", "1", "--event", "REFUND.SUCCESS"}, 2, "", "--out-refund-no is required"},
		{[]string{"trigger", "--url", "http://127.0.0.1:1/n", "--out-trade-no", "T20240520001", "--amount", "1", "--mode", "x"}, 2, "", "--mode"},
		{[]string{"serve", "--bogus"}, 2, "", "flag provided but not defined"},
		{[]string{"serve", "extra"}, 2, "", "unexpected arguments"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			t.Setenv("WXPAY_KEYS_DIR", "")
			code, out, errOut := runCmd(t, tc.args...)
			if code != tc.code || !strings.Contains(out, tc.out) || !strings.Contains(errOut, tc.errOut) {
				t.Errorf("exit %d (want %d)\nstdout: %s\nstderr: %s", code, tc.code, out, errOut)
			}
		})
	}
}
