package createorder

import (
	"regexp"
	"strings"
	"testing"
)

// validOrderID is the loop of the regexp it replaced (compiled at package init, in
// every cold start): both agree on every string of the alphabet and its neighbours.
func TestValidOrderIDIsItsRegexp(t *testing.T) {
	re := regexp.MustCompile(`^[0-9A-Za-z_*|-]{6,29}$`)
	alphabet := "09AZaz_*|-" + " +/.\x00\x7fé中"
	cases := []string{"", "SHOP20240001", "abcde", "abcdef", strings.Repeat("a", 29), strings.Repeat("a", 30), "a_b-c*d|e", "ab cdef", "abcdé1", "订单编号123456"}
	for _, c := range alphabet {
		cases = append(cases, "ABCDE"+string(c), string(c)+"ABCDE", strings.Repeat(string(c), 6), strings.Repeat(string(c), 29))
	}
	for _, id := range cases {
		if got, want := validOrderID(id), re.MatchString(id); got != want {
			t.Errorf("validOrderID(%q) = %v, the regexp says %v", id, got, want)
		}
	}
}
