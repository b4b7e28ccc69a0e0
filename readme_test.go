package wxpay_test

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The READMEs are part of the product: a newcomer follows them before reading any code.
// These tests keep the Chinese README in step with the English one, and run the
// newcomer path exactly as written.

// readmeShape is what must match between README.md and README.zh-CN.md: the heading
// levels in order, and every fenced code block, verbatim (the commands are the same
// in both languages).
type readmeShape struct {
	headings []string // "##", "###"… in order
	blocks   []string
}

var fence = regexp.MustCompile("(?s)```[a-z]*\\n(.*?)```")

func shapeOf(t *testing.T, path string) readmeShape {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var s readmeShape
	text := string(b)
	for _, m := range fence.FindAllStringSubmatch(text, -1) {
		s.blocks = append(s.blocks, m[1])
	}
	outside := fence.ReplaceAllString(text, "")
	sc := bufio.NewScanner(strings.NewReader(outside))
	for sc.Scan() {
		if l := sc.Text(); strings.HasPrefix(l, "## ") || strings.HasPrefix(l, "### ") {
			s.headings = append(s.headings, strings.Fields(l)[0])
		}
	}
	return s
}

func TestReadmesHaveTheSameSectionsAndCommands(t *testing.T) {
	en, zh := shapeOf(t, "README.md"), shapeOf(t, "README.zh-CN.md")
	if strings.Join(en.headings, " ") != strings.Join(zh.headings, " ") {
		t.Fatalf("sections differ:\n  README.md       %v\n  README.zh-CN.md %v", en.headings, zh.headings)
	}
	if len(en.blocks) != len(zh.blocks) {
		t.Fatalf("README.md has %d code blocks, README.zh-CN.md %d", len(en.blocks), len(zh.blocks))
	}
	for i := range en.blocks {
		if en.blocks[i] != zh.blocks[i] {
			t.Errorf("code block %d differs:\n--- README.md\n%s--- README.zh-CN.md\n%s", i+1, en.blocks[i], zh.blocks[i])
		}
	}
	if len(en.headings) < 10 {
		t.Fatalf("README.md has only %d sections", len(en.headings))
	}
}

// newcomerBlock is the quick-start block of a README: the lines between the
// newcomer markers' code fence.
func newcomerBlock(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)<!-- newcomer:begin -->\\s*```sh\\n(.*?)```\\s*<!-- newcomer:end -->").FindSubmatch(b)
	if m == nil {
		t.Fatalf("%s has no newcomer block (<!-- newcomer:begin --> … <!-- newcomer:end -->)", path)
	}
	return strings.Split(strings.TrimSpace(string(m[1])), "\n")
}

// The newcomer path, run as written: `make run` (checked to be `wxpay serve` on
// 127.0.0.1:8080 with .wxpay/sim — here the built binary on a free port, in a fresh
// directory), then the README's own lines through bash; the order must end SUCCESS.
func TestReadmeNewcomerPathRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs wxpay serve")
	}
	if _, err := exec.LookPath("curl"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("curl is needed to run the README's commands (.ci/run installs it)")
		}
		t.Skip("curl not installed")
	}
	lines := newcomerBlock(t, "README.md")
	if lines[0] != "make run &" {
		t.Fatalf("the newcomer block must start with `make run &`, got %q", lines[0])
	}
	mk, err := os.ReadFile("Makefile")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ADDR        ?= 127.0.0.1:8080", "KEYS_DIR    ?= .wxpay/sim", "serve --addr $(ADDR) --keys-dir $(KEYS_DIR)"} {
		if !strings.Contains(string(mk), want) {
			t.Fatalf("Makefile's run target no longer matches the README (%q missing)", want)
		}
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "wxpay")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/wxpay").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	serve := exec.CommandContext(ctx, bin, "serve", "--addr", addr, "--keys-dir", ".wxpay/sim")
	serve.Dir = dir
	var logs strings.Builder
	serve.Stderr = &logs
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); _ = serve.Wait() }()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if r, err := http.Get("http://" + addr + "/healthz"); err == nil {
			r.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("wxpay serve did not come up:\n%s", logs.String())
		}
	}
	script := "set -e\n" + strings.ReplaceAll(strings.Join(lines[1:], "\n"), "127.0.0.1:8080", addr) + "\n"
	cmd := exec.Command("bash", "-c", script)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the README's commands failed: %v\n%s\nserve log:\n%s", err, out, logs.String())
	}
	answers := strings.Split(strings.TrimSpace(string(out)), "\n")
	last := answers[len(answers)-1]
	if !strings.Contains(last, `"state":"SUCCESS"`) || !strings.Contains(last, `"order_id":"COFFEE0001"`) {
		t.Fatalf("after the README's commands the order is not paid; output:\n%s\nserve log:\n%s", out, logs.String())
	}
	if !strings.Contains(answers[0], `"code_url":"weixin://wxpay/bizpayurl?pr=`) {
		t.Fatalf("the create answer has no code_url: %s", answers[0])
	}
}
