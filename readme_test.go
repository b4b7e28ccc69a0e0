package wxpay_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
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

// The newcomer path, run as written: the README's quick-start block (README.md and
// README.zh-CN.md; their blocks are identical, TestReadmesHaveTheSameSectionsAndCommands
// holds them so) is given to bash in a fresh copy of the repository — the files git
// tracks or would add, no build output, no .wxpay — as a newcomer pastes it:
//
//  1. cold: an empty Go build cache and no wxpay installed; make start must show the
//     build's progress and return only once the bundle answers;
//  2. warm, in another fresh copy (the zh-CN block);
//  3. warm again in the first copy, whose world make stop kept: it resumes.
//
// Each run must print the three answers: the order with its Native code_url, the
// simulator's payment, the order SUCCESS with that transaction. The only change to the
// text is the address: 127.0.0.1:8080 may be taken on the machine running the tests,
// so a free port is used, in the curl lines and as make's ADDR.
func TestReadmeQuickStartRunsAsWritten(t *testing.T) {
	if testing.Short() {
		t.Skip("builds wxpay from an empty cache and runs the bundle")
	}
	for _, tool := range []string{"curl", "make", "bash", "git"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is needed to run the README's commands (.ci/run installs curl)", tool)
			}
			t.Skipf("%s not installed", tool)
		}
	}
	en, zh := newcomerBlock(t, "README.md"), newcomerBlock(t, "README.zh-CN.md")
	if strings.Join(en, "\n") != strings.Join(zh, "\n") {
		t.Fatalf("the quick-start blocks of README.md and README.zh-CN.md differ")
	}
	if en[0] != "make start" {
		t.Fatalf("the quick start must begin with `make start` (it returns once the bundle answers), got %q", en[0])
	}
	cache, gobin := t.TempDir(), t.TempDir()
	addr := freeAddr(t)
	runs := []struct {
		name   string
		block  []string
		dir    string
		gobin  string
		checks func(t *testing.T, out string)
	}{
		{"cold EN", en, freshCopy(t), gobin, func(t *testing.T, out string) {
			for _, want := range []string{"building wxpay: compiling", "25 compiled…", "wxpay installed: " + filepath.Join(gobin, "wxpay"), "wxpay serve is up: http://" + addr} {
				if !strings.Contains(out, want) {
					t.Errorf("a cold make start does not show %q", want)
				}
			}
		}},
		{"warm zh-CN", zh, freshCopy(t), t.TempDir(), func(t *testing.T, out string) {
			if strings.Contains(out, "building wxpay: compiling") {
				t.Errorf("with a warm build cache, a fresh copy compiled packages again")
			}
		}},
	}
	runs = append(runs, runs[0])
	runs[2].name, runs[2].checks = "warm EN again, the world kept", func(t *testing.T, out string) {
		if strings.Contains(out, "building wxpay: compiling") {
			t.Errorf("a warm make start compiled packages again")
		}
		if !strings.Contains(out, "resumed the simulator's world") {
			t.Errorf("the second start did not resume the world make stop kept")
		}
	}
	for i, r := range runs {
		ok := t.Run(r.name, func(t *testing.T) {
			env := newcomerEnv(cache, r.gobin, addr)
			stop := func() string {
				cmd := exec.Command("make", "stop")
				cmd.Dir, cmd.Env = r.dir, env
				out, _ := cmd.CombinedOutput()
				return string(out)
			}
			defer stop()
			if i == 2 {
				time.Sleep(time.Second) // ORDER is new every second
			}
			script := strings.ReplaceAll(strings.Join(r.block, "\n"), "127.0.0.1:8080", addr) + "\n"
			cmd := exec.Command("bash", "-c", script)
			cmd.Dir, cmd.Env = r.dir, env
			var stdout, stderr strings.Builder
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			start := time.Now()
			err := cmd.Run()
			out := stdout.String()
			t.Logf("%s: %s", r.name, time.Since(start).Round(time.Second))
			if err != nil {
				t.Fatalf("the quick start failed: %v\nstdout:\n%s\nstderr:\n%s\nserve.log:\n%s", err, out, stderr.String(), readFile(filepath.Join(r.dir, ".wxpay", "serve.log")))
			}
			checkQuickStartAnswers(t, out)
			if r.checks != nil {
				r.checks(t, out+stderr.String())
			}
			if got := stop(); !strings.Contains(got, "wxpay serve stopped") {
				t.Errorf("make stop: %s", got)
			}
		})
		if !ok {
			break
		}
	}
}

// checkQuickStartAnswers finds the three JSON answers after make start's output.
func checkQuickStartAnswers(t *testing.T, out string) {
	t.Helper()
	i := strings.Index(out, "\n{")
	if i < 0 {
		t.Fatalf("no JSON answer in the output:\n%s", out)
	}
	dec := json.NewDecoder(strings.NewReader(out[i:]))
	var answers []map[string]any
	for {
		var v map[string]any
		if err := dec.Decode(&v); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("answer %d is not JSON (%v):\n%s", len(answers)+1, err, out[i:])
		}
		answers = append(answers, v)
	}
	if len(answers) != 3 {
		t.Fatalf("want 3 answers, got %d:\n%s", len(answers), out[i:])
	}
	created, paid, read := answers[0], answers[1], answers[2]
	pay, _ := created["pay"].(map[string]any)
	code, _ := pay["code_url"].(string)
	png, _ := pay["qr_png"].(string)
	id, _ := created["order_id"].(string)
	if !strings.HasPrefix(id, "COFFEE") || created["state"] != "NOTPAY" || !strings.HasPrefix(code, "weixin://wxpay/bizpayurl?pr=") || !strings.HasPrefix(png, "data:image/png;base64,") {
		t.Errorf("create answer: %v", created)
	}
	tx, _ := paid["transaction"].(map[string]any)
	if tx["trade_state"] != "SUCCESS" || tx["out_trade_no"] != id {
		t.Errorf("pay answer: %v", paid)
	}
	if read["order_id"] != id || read["state"] != "SUCCESS" || read["transaction_id"] == nil || read["transaction_id"] != tx["transaction_id"] {
		t.Errorf("read answer: %v (paid %v)", read, tx["transaction_id"])
	}
}

// freshCopy copies the repository as a clone would have it, with what is about to be
// committed: the files git tracks and the new ones it does not ignore.
func freshCopy(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	dst := t.TempDir()
	for _, f := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		fi, err := os.Lstat(f)
		if err != nil || !fi.Mode().IsRegular() {
			continue // deleted in the work tree, or a link
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dst, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, fi.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// newcomerEnv is a newcomer's environment: none of this project's settings, the given
// Go build cache and install directory (wxpay not on PATH), make's ADDR on a free port.
func newcomerEnv(cache, gobin, addr string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "WXPAY_") || k == "STORE_URL" || k == "BILLS_URL" || k == "TRUSTED_PROXIES" ||
			k == "GOCACHE" || k == "GOBIN" || k == "GOFLAGS" || k == "MAKEFLAGS" || k == "MAKELEVEL" || k == "ADDR" || k == "KEYS_DIR" {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "GOCACHE="+cache, "GOBIN="+gobin, "ADDR="+addr)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func readFile(p string) string {
	b, _ := os.ReadFile(p)
	return string(b)
}

// troubleshootingQuotes are words the troubleshooting tables of both READMEs quote as
// what the bundle says. Each must still be in the code (a non-test .go file), so a
// reworded message fails here until the tables say what a merchant will read.
var troubleshootingQuotes = []string{
	"APIv3 key is not set (设置APIv3密钥 in 商户平台 → 账户中心 → API安全); v3 notifications cannot be decrypted without it",
	"contains an empty segment (//); WeChat Pay posts to exactly this path",
	"notify_url must not carry a port — serve it on 443 behind your domain",
	"uses the IP address",
	"uses http; WeChat Pay requires https://",
	"has a query string",
	"notification signature rejected",
	"is too far from local time (more than 5 minutes: check the server clock, or this is a replay)",
	"AEAD_AES_256_GCM decryption failed: the APIv3 key configured here is not the one set in 商户平台 → API安全, or the resource was altered",
	"the APIv3 key must be exactly 32 bytes",
	"signature is a WECHATPAY/SIGNTEST/ probe and must be rejected",
	"the notification could not be recorded in time; it was not applied — retry",
	"temporary failure recording the notification; it was not applied — retry",
	"refund still PROCESSING after",
	"退款处理中超过8天，请登录商户平台核查",
	"该商户暂不支持通过外部拉起微信完成支付", "JSAPI payment runs only inside the WeChat client, and user_agent is not WeChat's",
	"请在微信外打开订单，进行支付", "H5 payment cannot be opened inside the WeChat client",
	"needs payer.openid: the paying user's openid under appid",
	"the user is inside WeChat, where only JSAPI can pay, and JSAPI needs the user's openid (payer.openid)",
	"40163 code been used",
	"40029 invalid code",
	"WeChat Pay does not close an order in its first 5 minutes (订单生成后5分钟内不能关单): the close is recorded and carried out at close_at",
	"payment put in REVIEW",
}

func TestTroubleshootingQuotesWhatTheCodeSays(t *testing.T) {
	var code strings.Builder
	err := filepath.WalkDir(".", func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && p != "." || d.Name() == "testdata" || d.Name() == "build") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(p, ".go") && !strings.HasSuffix(p, "_test.go") {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			code.Write(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, readme := range []string{"README.md", "README.zh-CN.md"} {
		b, err := os.ReadFile(readme)
		if err != nil {
			t.Fatal(err)
		}
		_, table, ok := strings.Cut(string(b), "Troubleshooting")
		if !ok {
			t.Fatalf("%s has no troubleshooting section", readme)
		}
		for _, q := range troubleshootingQuotes {
			if !strings.Contains(table, q) {
				t.Errorf("%s's troubleshooting no longer quotes %q: drop it from troubleshootingQuotes or quote it again", readme, q)
			}
		}
	}
	for _, q := range troubleshootingQuotes {
		if !strings.Contains(code.String(), q) {
			t.Errorf("the READMEs quote %q, which no code says any more: quote what it says now", q)
		}
	}
}
