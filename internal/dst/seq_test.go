package dst

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
)

// sequenceOf names which of issue #16's sequences a violation shows (0: none).
func sequenceOf(v Violation) int {
	d := v.Detail
	switch {
	case v.Invariant == InvIsolation && strings.Contains(d, "/refunds/") && strings.Contains(d, "answered a refund of"):
		return 2
	case v.Invariant == InvIsolation && (strings.Contains(d, "answered order_id") || strings.Contains(d, "shows out_trade_no")),
		v.Invariant == InvAsked && strings.Contains(d, "never asked for on that order"),
		v.Invariant == InvAccounted && strings.Contains(d, "shown: false"):
		return 1
	case v.Invariant == InvAgrees && strings.Contains(d, "is SUCCESS with"),
		v.Invariant == InvEventsCausal:
		return 3
	case v.Invariant == InvBounded:
		return 4
	}
	return 0
}

func TestFindSequences(t *testing.T) {
	if *debugSeed < 0 {
		t.Skip()
	}
	first := map[int]int64{}
	count := map[int]int{}
	n := 0
	Many(*debugSeed, 400, 0, Options{}, func(r Result) {
		n++
		seen := map[int]bool{}
		for _, v := range r.Violations {
			if s := sequenceOf(v); s > 0 && !seen[s] {
				seen[s] = true
				count[s]++
				if f, ok := first[s]; !ok || r.History.Seed < f {
					first[s] = r.History.Seed
				}
			}
		}
	})
	for s := 1; s <= 4; s++ {
		t.Logf("sequence %d: first at seed %d (history #%d), in %d of %d histories", s, first[s], first[s]-*debugSeed+1, count[s], n)
	}
}

var keepSeqs = flag.Bool("dst.keep-sequences", false, "shrink the first history showing each of issue #16's sequences into testdata")

var seqNames = map[int]string{
	1: "an order id equal to another order's re-priced attempt",
	2: "a refund read under the wrong order",
	3: "a refund before its payment",
	4: "refund results never judged against their order",
}

func TestKeepSequences(t *testing.T) {
	if !*keepSeqs {
		t.Skip("set -dst.keep-sequences")
	}
	for s := 1; s <= 4; s++ {
		shows := func(r Result) (Violation, bool) {
			for _, v := range r.Violations {
				if sequenceOf(v) == s {
					return v, true
				}
			}
			return Violation{}, false
		}
		for seed := int64(1); seed < 400; seed++ {
			r := Run(seed, Options{})
			if _, ok := shows(r); !ok {
				continue
			}
			h := ShrinkWhile(r.History, Options{}, 600, func(r Result) bool { _, ok := shows(r); return ok })
			v, _ := shows(Replay(h, Options{}))
			c := Case{Name: fmt.Sprintf("seq%d", s), Invariant: v.Invariant,
				Note: fmt.Sprintf("issue #16 sequence %d (%s): found by seed %d, the %s history of a run from seed 1; shrunk from %d steps to %d. %s",
					s, seqNames[s], seed, ordinal(int(seed)), len(r.History.Steps), len(h.Steps), v.Detail),
				History: h}
			if err := os.WriteFile(fmt.Sprintf("testdata/seq%d.json", s), c.Encode(), 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("sequence %d: seed %d, %d steps: %s", s, seed, len(h.Steps), v.Detail)
			break
		}
	}
}

func ordinal(n int) string {
	suffix := "th"
	switch {
	case n%100 >= 11 && n%100 <= 13:
	case n%10 == 1:
		suffix = "st"
	case n%10 == 2:
		suffix = "nd"
	case n%10 == 3:
		suffix = "rd"
	}
	return fmt.Sprintf("%d%s", n, suffix)
}
