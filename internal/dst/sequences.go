package dst

import "strings"

// Issue #16 names four sequences that lost or misstated money before its fixes. The
// DST finds each of them by itself; Sequence recognises them in its violations so that
// `go run ./internal/dst/cmd -issue16` can say which it finds, how soon, and keep a
// shrunk history of each (testdata/seq*.json).
var SequenceNames = map[int]string{
	1: "an order id equal to another order's re-priced attempt",
	2: "a refund read under the wrong order",
	3: "a refund before its payment",
	4: "refund results never judged against their order",
}

// Sequence is the issue #16 sequence a violation shows (0: none of them).
func Sequence(v Violation) int {
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

// ShowsSequence returns the first violation of r that shows sequence s.
func (r Result) ShowsSequence(s int) (Violation, bool) {
	for _, v := range r.Violations {
		if Sequence(v) == s {
			return v, true
		}
	}
	return Violation{}, false
}
