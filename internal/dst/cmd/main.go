// Command dst runs the deterministic simulation of the bundle (package internal/dst):
//
//	go run ./internal/dst/cmd -seeds 1000     1000 histories from a fresh random seed
//	go run ./internal/dst/cmd -seed 42        replay seed 42, shrink it if it fails
//
// `make dst` runs it (SEEDS=n, SEED=n). It ends with one line:
// dst: N histories, F failed, R histories/min. Failing histories are findings, reported
// above that line; the exit status is 0 unless the harness itself could not run (2).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/paysls/wxpay/internal/dst"
	"github.com/paysls/wxpay/internal/judgment"
	"github.com/paysls/wxpay/internal/testserver"
)

func main() {
	seed := flag.Int64("seed", -1, "replay the history of this seed (and shrink it when it fails)")
	seeds := flag.Int("seeds", 100, "run this many histories from a fresh random seed")
	from := flag.Int64("from", -1, "first seed of -seeds (default: random)")
	steps := flag.Int("steps", dst.DefaultSteps, "steps per history")
	backend := flag.String("backend", dst.Bolt, "store: bolt, redis (starts redis-server) or dynamodb (starts moto_server)")
	parallel := flag.Int("parallel", 0, "histories at once (default: the number of CPUs)")
	shrink := flag.Int("shrink", 400, "replays the shrinker may spend on a failing -seed (0: no shrinking)")
	keep := flag.String("keep", "", "write each shrunk failure to this directory (e.g. internal/dst/testdata)")
	trace := flag.Bool("trace", false, "with -seed: print the trace")
	replay := flag.String("replay", "", "replay the history of a kept case (testdata/*.json)")
	issue16 := flag.Bool("issue16", false, "with -seeds: say which of issue #16's four sequences the histories show, and (with -keep) keep the first of each, shrunk")
	off := flag.String("off", "", "turn this judgment off (e.g. event-claim): show that the histories catch its absence")
	flag.Parse()
	if *off != "" {
		found := false
		for _, sw := range judgment.All() {
			if sw.Name() == *off {
				sw.Set(false)
				found = true
			}
		}
		if !found {
			fmt.Fprintf(os.Stderr, "dst: -off %q names no judgment\n", *off)
			os.Exit(2)
		}
	}

	opts := dst.Options{Backend: *backend, Steps: *steps, Trace: *trace}
	stop, err := servers(&opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "dst:", err)
		os.Exit(2)
	}
	defer stop()

	if *seed >= 0 || *replay != "" {
		var r dst.Result
		if *replay != "" {
			b, err := os.ReadFile(*replay)
			if err != nil {
				fmt.Fprintln(os.Stderr, "dst:", err)
				os.Exit(2)
			}
			var c dst.Case
			if err := json.Unmarshal(b, &c); err != nil {
				fmt.Fprintln(os.Stderr, "dst:", *replay+":", err)
				os.Exit(2)
			}
			r = dst.Replay(c.History, opts)
		} else {
			r = dst.Run(*seed, opts)
		}
		for _, line := range r.Trace {
			fmt.Println(line)
		}
		report(r)
		st := dst.Stats{Histories: 1, Elapsed: r.Duration}
		if r.Failed() {
			st.Failed = 1
			if *shrink > 0 {
				shrunk(r, opts, *shrink, *keep)
			}
		}
		fmt.Println(st)
		if r.Err != nil {
			stop()
			os.Exit(2)
		}
		return
	}
	first := *from
	if first < 0 {
		first = time.Now().UnixNano() % 1_000_000_000
	}
	fmt.Printf("dst: seeds %d … %d on %s\n", first, first+int64(*seeds)-1, opts.Backend)
	seq := newSequences()
	st := dst.Many(first, *seeds, *parallel, opts, func(r dst.Result) {
		if *issue16 {
			seq.note(r)
			return
		}
		if r.Failed() || r.Err != nil {
			report(r)
		}
	})
	if *issue16 {
		seq.print(first, opts, *shrink, *keep)
	}
	fmt.Println(st.Scenes)
	fmt.Println(st)
	if st.Errors > 0 {
		stop()
		os.Exit(2)
	}
}

func report(r dst.Result) {
	fmt.Println(r.Summary(), "— replay: make dst SEED="+fmt.Sprint(r.History.Seed))
	for _, v := range r.Violations {
		fmt.Printf("  %s: %s\n", v.Invariant, v.Detail)
	}
}

// shrunk shrinks a failure for each invariant it broke and prints (or keeps) the result.
func shrunk(r dst.Result, opts dst.Options, budget int, keep string) {
	opts.Trace = false
	for _, inv := range r.Broke() {
		h := dst.Shrink(r.History, inv, opts, budget)
		b := dst.Case{Name: fmt.Sprintf("seed%d-%s", r.History.Seed, inv), Invariant: inv, History: h}.Encode()
		fmt.Printf("shrunk (%s): %d steps\n%s", inv, len(h.Steps), b)
		if keep != "" {
			p := filepath.Join(keep, fmt.Sprintf("seed%d-%s.json", r.History.Seed, strings.ReplaceAll(inv, "/", "-")))
			if err := os.WriteFile(p, b, 0o644); err != nil {
				fmt.Fprintln(os.Stderr, "dst:", err)
			} else {
				fmt.Println("kept", p)
			}
		}
	}
}

// servers starts the server a backend needs.
func servers(opts *dst.Options) (func(), error) {
	switch opts.Backend {
	case dst.Redis:
		s, err := testserver.Start("redis-server", 10*time.Second, func(port int) []string {
			return []string{"--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"}
		})
		if err != nil {
			return func() {}, err
		}
		opts.RedisAddr = s.Addr()
		return s.Kill, nil
	case dst.Dynamo:
		s, err := testserver.Start("moto_server", 60*time.Second, func(port int) []string {
			return []string{"-H", "127.0.0.1", "-p", fmt.Sprint(port)}
		})
		if err != nil {
			return func() {}, err
		}
		opts.DynamoEndpoint = "http://" + s.Addr()
		return s.Kill, nil
	}
	return func() {}, nil
}

// sequences tallies issue #16's sequences over a batch.
type sequences struct {
	first map[int]dst.Result
	count map[int]int
}

func newSequences() *sequences {
	return &sequences{first: map[int]dst.Result{}, count: map[int]int{}}
}

func (s *sequences) note(r dst.Result) {
	for n := 1; n <= 4; n++ {
		if _, ok := r.ShowsSequence(n); ok {
			s.count[n]++
			if f, ok := s.first[n]; !ok || r.History.Seed < f.History.Seed {
				s.first[n] = r
			}
		}
	}
}

func (s *sequences) print(from int64, opts dst.Options, budget int, keep string) {
	for n := 1; n <= 4; n++ {
		r, ok := s.first[n]
		if !ok {
			fmt.Printf("sequence %d (%s): not found\n", n, dst.SequenceNames[n])
			continue
		}
		fmt.Printf("sequence %d (%s): in %d histories, first seed %d (history #%d)\n", n, dst.SequenceNames[n], s.count[n], r.History.Seed, r.History.Seed-from+1)
		if budget <= 0 {
			continue
		}
		h := dst.ShrinkWhile(r.History, opts, budget, func(r dst.Result) bool { _, ok := r.ShowsSequence(n); return ok })
		v, _ := dst.Replay(h, opts).ShowsSequence(n)
		c := dst.Case{Name: fmt.Sprintf("seq%d", n), Invariant: v.Invariant, History: h,
			Note: fmt.Sprintf("issue #16 sequence %d (%s): found by seed %d, history #%d of a run from seed %d; shrunk from %d steps to %d. %s",
				n, dst.SequenceNames[n], r.History.Seed, r.History.Seed-from+1, from, len(r.History.Steps), len(h.Steps), v.Detail)}
		b := c.Encode()
		fmt.Printf("%s", b)
		if keep != "" {
			p := filepath.Join(keep, fmt.Sprintf("seq%d.json", n))
			if err := os.WriteFile(p, b, 0o644); err != nil {
				fmt.Fprintln(os.Stderr, "dst:", err)
			} else {
				fmt.Println("kept", p)
			}
		}
	}
}
