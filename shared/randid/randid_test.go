package randid

import (
	"regexp"
	"testing"
	"time"
)

func TestShapes(t *testing.T) {
	at := time.Date(2026, 11, 23, 20, 0, 0, 0, time.UTC) // 2026-11-24 in Beijing
	cases := []struct {
		got string
		re  string
	}{
		{Digits(7), `^[0-9]{7}$`},
		{Alnum(12), `^[A-Za-z0-9]{12}$`},
		{UUID(), `^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`},
		{TransactionID(at), `^4200[0-9]{6}20261124[0-9]{10}$`},
		{RefundID(at), `^50[0-9]{9}20261124[0-9]{10}$`},
	}
	for _, c := range cases {
		if !regexp.MustCompile(c.re).MatchString(c.got) {
			t.Errorf("%q does not match %s", c.got, c.re)
		}
	}
	if UUID() == UUID() || Alnum(16) == Alnum(16) {
		t.Fatal("ids repeat")
	}
}
