package createorder

import "testing"

// A rate is read exactly, in ten-thousandths: (0, 1], at most 4 decimals.
func TestParseRate(t *testing.T) {
	for in, want := range map[string]int64{"0.05": 500, "1": 10000, "1.0": 10000, "0.0001": 1, "0.3": 3000,
		"1.5": -1, "0": -1, "0.00001": -1, "-0.1": -1, "0.5e1": -1, ".5": -1, "2": -1} {
		n, ok := parseRate(in)
		if (want < 0 && ok) || (want >= 0 && (!ok || n != want)) {
			t.Errorf("%s: %d %v", in, n, ok)
		}
	}
}
