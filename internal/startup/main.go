// Command startup measures exec → ready of every function's binary beside a
// hello-world Go HTTP server built on the same machine, and prints the medians and
// their ratios (make startup). It is a measurement, not a test: it asserts nothing.
//
// Every main is measured: functions/<fn>/cmd/<build> for the builds lambda, scfweb,
// scfevent and, for HTTP functions, local (a local job runs once and exits: there is
// no ready to wait for). Ready means:
//   - hello-world, SCF web and local builds: the HTTP listener accepts a TCP connection;
//   - SCF event builds: the listener on _LAMBDA_SERVER_PORT accepts one;
//   - Lambda builds: the binary's first GET /2018-06-01/runtime/invocation/next
//     reaches a stand-in Runtime API.
//
// Each means the configuration was read, the store opened and the handler built.
// The two signals cost differently — a listener is found by dialling it in a loop, a
// Runtime API request arrives by itself — so hello-world is measured both ways (a
// listener, and a client of the stand-in Runtime API), and each build's ratio is to the
// hello-world with its own signal (on this machine polling adds about 0.5 ms).
// Binaries are built for this machine as the Makefile builds them (-tags lambda.norpc),
// so the numbers compare code paths, not CPUs. -extra "name build=path" adds another
// binary (e.g. one built from an older commit; build is lambda, scfweb, scfevent or
// local) to the same interleaved runs. -floor adds, for every build, its floor: the
// hello-world with the build's main's imports (blank-imported, so every package's
// init runs and none of main's work does), which says how much of a build's ratio
// is package initialisation (the AWS SDK's, encoding/gob's, …) rather than its start.
package main

import (
	"flag"
	"fmt"
	"go/parser"
	"go/token"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/paysls/wxpay/shared/keysdir"
)

const hello = `package main

import (
	"net/http"
	"os"
)

func main() {
	if api := os.Getenv("AWS_LAMBDA_RUNTIME_API"); api != "" { // ready as a Lambda runtime is
		http.Get("http://" + api + "/2018-06-01/runtime/invocation/next")
		select {}
	}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("hello")) })
	if err := http.ListenAndServe(os.Getenv("ADDR"), nil); err != nil {
		os.Exit(1)
	}
}
`

type subject struct {
	name, bin string
	build     string // lambda, scfweb, scfevent, local; "" for hello-world
	env       []string
}

type extraFlag []string

func (e *extraFlag) String() string     { return strings.Join(*e, ",") }
func (e *extraFlag) Set(v string) error { *e = append(*e, v); return nil }

func main() {
	runs := flag.Int("runs", 15, "runs per binary (the median is reported; at least 7)")
	var extra extraFlag
	flag.Var(&extra, "extra", "\"name build=path\" of another binary to measure (repeatable)")
	floor := flag.Bool("floor", false, "also measure each build's imports with hello-world's main (package init alone)")
	flag.Parse()
	if *runs < 7 {
		*runs = 7
	}
	if err := run(*runs, extra, *floor); err != nil {
		fmt.Fprintln(os.Stderr, "startup:", err)
		os.Exit(1)
	}
}

func run(runs int, extra []string, floor bool) error {
	tmp, err := os.MkdirTemp("", "wxpay-startup-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	if err := os.WriteFile(filepath.Join(tmp, "hello.go"), []byte(hello), 0o600); err != nil {
		return err
	}
	helloBin := filepath.Join(tmp, "hello")
	if err := gobuild(tmp, helloBin, "", "hello.go"); err != nil {
		return err
	}
	id, err := keysdir.Generate()
	if err != nil {
		return err
	}
	keys := filepath.Join(tmp, "keys")
	if err := id.Save(keys); err != nil {
		return err
	}
	mains, _ := filepath.Glob("functions/*/cmd/*/main.go")
	if len(mains) == 0 {
		return fmt.Errorf("no functions/*/cmd/*/main.go: run from the repository root")
	}
	// createorder checks its notify_url and needs the API token at start-up; the
	// deployed functions have a public URL (template.yaml and deploy/tencent set
	// WXPAY_PUBLIC_URL), without which the cashier logs a warning a deployed start
	// does not.
	base := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + tmp, "WXPAY_KEYS_DIR=" + keys, "BILLS_URL=file://" + tmp,
		"WXPAY_NOTIFY_URL=https://pay.example.com/wxpay/notify", "WXPAY_API_TOKEN=startup-token", "WXPAY_PUBLIC_URL=https://pay.example.com"}
	env := map[string][]string{
		"lambda": append(slices.Clone(base), "AWS_REGION=ap-east-1", "AWS_ACCESS_KEY_ID=x", "AWS_SECRET_ACCESS_KEY=x",
			"STORE_URL=dynamodb://wxpay?endpoint=http://127.0.0.1:9"), // Open contacts nothing
		// SCF's store is Redis, whose Open pings the server: a bbolt file keeps the
		// measurement to the binary.
		"scfweb":   append(slices.Clone(base), "STORE_URL=bolt://"+filepath.Join(tmp, "scfweb.db")),
		"scfevent": append(slices.Clone(base), "STORE_URL=bolt://"+filepath.Join(tmp, "scfevent.db")),
		"local":    append(slices.Clone(base), "STORE_URL=bolt://"+filepath.Join(tmp, "local.db")),
	}
	// The floors: hello-world ready as a listener, and as a Lambda runtime.
	subjects := []subject{{name: "hello-world", bin: helloBin}, {name: "hello-world lambda", bin: helloBin, build: "lambda"}}
	for _, m := range mains {
		dir := filepath.Dir(m)
		build, fn := filepath.Base(dir), filepath.Base(filepath.Dir(filepath.Dir(dir)))
		if _, known := env[build]; !known {
			continue
		}
		if src, _ := os.ReadFile(m); build == "local" && !strings.Contains(string(src), "host.ServeHTTP") {
			continue // a local job runs once and exits
		}
		bin := filepath.Join(tmp, fn+"-"+build)
		if err := gobuild(".", bin, "lambda.norpc", "./"+dir); err != nil {
			return err
		}
		subjects = append(subjects, subject{name: fn + " " + build, bin: bin, build: build, env: env[build]})
		if floor {
			s, err := floorOf(m, fn, build, tmp)
			if err != nil {
				return err
			}
			subjects = append(subjects, s)
		}
	}
	for _, e := range extra {
		name, path, ok := strings.Cut(e, "=")
		build := name[strings.LastIndexByte(name, ' ')+1:]
		if _, known := env[build]; !ok || !known {
			return fmt.Errorf("-extra %q: want \"name build=path\", build one of lambda, scfweb, scfevent, local", e)
		}
		// Copied as the other subjects are written (rewrite): a binary written in
		// 128 KiB pieces (cat) started 130-300 µs slower here than the same bytes
		// written at once, which a comparison with the subjects above would count.
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("-extra %q: %w", e, err)
		}
		bin := filepath.Join(tmp, fmt.Sprintf("extra-%d", len(subjects)))
		if err := os.WriteFile(bin, b, 0o755); err != nil {
			return err
		}
		subjects = append(subjects, subject{name: name, bin: bin, build: build, env: env[build]})
	}

	times := make([][]time.Duration, len(subjects))
	for i := 0; i < runs+1; i++ { // interleaved; the first round warms the page cache and is dropped
		for j, s := range subjects {
			d, err := measure(s)
			if err != nil {
				return fmt.Errorf("%s: %w", s.name, err)
			}
			if i > 0 {
				times[j] = append(times[j], d)
			}
		}
	}
	listening, lambda := median(times[0]), median(times[1])
	fmt.Printf("exec → ready, median of %d runs on this machine (hello-world: %s listening, %s as a Lambda runtime)\n", runs, listening, lambda)
	for j, s := range subjects {
		st, _ := os.Stat(s.bin)
		m, floor := median(times[j]), listening
		if s.build == "lambda" {
			floor = lambda
		}
		fmt.Printf("  %-28s %8.2f ms  %5.2f× hello-world  (binary %5.1f MB)\n", s.name, float64(m.Microseconds())/1000, float64(m)/float64(floor), float64(st.Size())/1e6)
	}
	return nil
}

// floorOf builds hello-world with the imports of the main at path blank-imported: the
// same package inits, none of main's work, hello-world's ready. Its source goes in a
// directory beside the main's (its imports resolve there, internal ones included),
// named with a dot so that ./... never sees it, and removed once built.
func floorOf(path, fn, build, tmp string) (subject, error) {
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
	if err != nil {
		return subject{}, err
	}
	var imports strings.Builder
	for _, im := range f.Imports {
		if p := strings.Trim(im.Path.Value, `"`); p != "net/http" && p != "os" { // hello-world's own
			fmt.Fprintf(&imports, "import _ %s\n", im.Path.Value)
		}
	}
	dir, err := os.MkdirTemp(filepath.Dir(filepath.Dir(path)), ".startup-floor-") // beside the main: cmd/internal imports resolve
	if err != nil {
		return subject{}, err
	}
	defer os.RemoveAll(dir)
	src := strings.Replace(hello, "func main() {", imports.String()+"\nfunc main() {", 1)
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o600); err != nil {
		return subject{}, err
	}
	bin := filepath.Join(tmp, fn+"-"+build+"-floor")
	if err := gobuild(".", bin, "lambda.norpc", "./"+dir); err != nil {
		return subject{}, err
	}
	s := subject{name: fn + " " + build + " floor", bin: bin}
	if build == "lambda" { // ready as hello-world is: a Lambda runtime, else a listener on ADDR
		s.build, s.env = "lambda", nil
	}
	return s, nil
}

func gobuild(dir, out, tags string, pkg string) error {
	args := []string{"build", "-trimpath", "-ldflags", "-s -w", "-o", out}
	if tags != "" {
		args = append(args, "-tags", tags)
	}
	cmd := exec.Command("go", append(args, pkg)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
	}
	return rewrite(out)
}

// rewrite writes the binary at path again with write(2), as a deployment's unzip
// writes it. The Go linker writes its output through a memory mapping; on this
// machine a binary written that way started 0.15-0.5 ms slower than the same bytes
// written by cp (paired starts: hello-world -158 µs, notify's Lambda build -222 µs;
// likely its page cache is in smaller folios, so exec takes more page faults), and a
// larger binary loses more. Every subject, hello-world too, is measured as a
// platform runs it; -extra binaries are copied the same way. How the file was
// written matters more than its source suggests: written in 128 KiB pieces (cat),
// createorder's Lambda build started 130-300 µs slower than the same bytes written
// at once (paired, 101 rounds, both orders).
func rewrite(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o755); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// measure starts s once and returns exec → ready.
func measure(s subject) (time.Duration, error) {
	env := slices.Clone(s.env)
	var args []string
	var ready func(deadline time.Time) (time.Time, error)
	switch s.build {
	case "lambda":
		got := make(chan time.Time, 1)
		api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case got <- time.Now():
			default:
			}
			<-r.Context().Done() // hold /next open: no invocation
		}))
		defer api.Close()
		env = append(env, "AWS_LAMBDA_RUNTIME_API="+strings.TrimPrefix(api.URL, "http://"))
		ready = func(deadline time.Time) (time.Time, error) {
			select {
			case t := <-got:
				return t, nil
			case <-time.After(time.Until(deadline)):
				return time.Time{}, fmt.Errorf("never asked the Runtime API for an invocation")
			}
		}
	default: // a listener: hello-world (ADDR), SCF web, SCF event, local (-addr)
		addr, err := freeAddr()
		if err != nil {
			return 0, err
		}
		switch s.build {
		case "":
			env = append(env, "ADDR="+addr)
		case "scfweb":
			env = append(env, "WXPAY_SCF_WEB_ADDR="+addr)
		case "scfevent":
			_, port, _ := net.SplitHostPort(addr)
			env = append(env, "_LAMBDA_SERVER_PORT="+port)
		case "local":
			args = []string{"-addr", addr}
		}
		ready = func(deadline time.Time) (time.Time, error) {
			for time.Now().Before(deadline) {
				if c, err := net.DialTimeout("tcp", addr, 50*time.Millisecond); err == nil {
					c.Close()
					return time.Now(), nil
				}
				time.Sleep(100 * time.Microsecond)
			}
			return time.Time{}, fmt.Errorf("never listened on %s", addr)
		}
	}
	cmd := exec.Command(s.bin, args...)
	cmd.Env = env
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	t, err := ready(start.Add(10 * time.Second))
	if err != nil {
		return 0, err
	}
	return t.Sub(start), nil
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
