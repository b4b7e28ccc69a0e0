package paysim

import (
	"math/rand/v2"
	"regexp"
	"testing"
	"time"
)

func TestIDShapes(t *testing.T) {
	g := NewIDs(nil)
	at := time.Date(2026, 11, 23, 20, 0, 0, 0, time.UTC) // 2026-11-24 in Beijing
	cases := []struct {
		got string
		re  string
	}{
		{g.digits(7), `^[0-9]{7}$`},
		{g.alnum(12), `^[A-Za-z0-9]{12}$`},
		{g.uuid(), `^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`},
		{g.TransactionID(at), `^4200[0-9]{6}20261124[0-9]{10}$`},
		{g.RefundID(at), `^50[0-9]{9}20261124[0-9]{10}$`},
		{g.PrepayID(at), `^wx20261124040000[A-Za-z0-9]{20}$`},
		{g.OpenID(), `^o[A-Za-z0-9]{27}$`},
	}
	for _, c := range cases {
		if !regexp.MustCompile(c.re).MatchString(c.got) {
			t.Errorf("%q does not match %s", c.got, c.re)
		}
	}
	if g.uuid() == g.uuid() || g.alnum(16) == g.alnum(16) {
		t.Fatal("ids repeat")
	}
}

// TestIDsSeeded: the same seeded source gives the same ids, another seed others.
func TestIDsSeeded(t *testing.T) {
	seq := func(seed uint64) string {
		g := NewIDs(rand.NewChaCha8([32]byte{byte(seed)}))
		at := time.Unix(1_700_000_000, 0)
		return g.TransactionID(at) + g.RefundID(at) + g.uuid() + g.alnum(40)
	}
	if seq(1) != seq(1) {
		t.Fatal("the same seed gave different ids")
	}
	if seq(1) == seq(2) {
		t.Fatal("different seeds gave the same ids")
	}
}
