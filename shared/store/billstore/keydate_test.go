package billstore

import (
	"regexp"
	"testing"
)

// keyDate is the loop of the regexp it replaced (compiled at package init).
func TestKeyDateIsItsRegexp(t *testing.T) {
	re := regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
	for _, s := range []string{"2024-01-02", "2024-1-02", "2024-01-2", "20240-01-02", "2024-01-020", "2024/01/02", "2024-01-0a", "2024_01-02",
		"202a-01-02", "2024--1-02", "", "----------", "0000-00-00", "２０２４-01-02", "2024-01-02\n", " 2024-01-02"} {
		if got, want := keyDate(s), re.MatchString(s); got != want {
			t.Errorf("keyDate(%q) = %v, the regexp says %v", s, got, want)
		}
	}
}
