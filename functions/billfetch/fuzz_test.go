package billfetch

import (
	"io"
	"math/big"
	"regexp"
	"strings"
	"testing"
)

// FuzzYuanToFen holds the integer conversion to exact rational arithmetic.
func FuzzYuanToFen(f *testing.F) {
	for _, s := range []string{"0", "1.00", "-0.01", "12.3", "0.00000", "1.005", "abc", "+7.10", "99999999999999.99"} {
		f.Add(s)
	}
	plain := regexp.MustCompile(`^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$`)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := yuanToFen([]byte(s))
		if s == "" {
			return
		}
		if !plain.MatchString(s) || len(s) > 30 {
			if err == nil && !plain.MatchString(s) {
				t.Fatalf("yuanToFen(%q) = %d, want an error", s, got)
			}
			return
		}
		r, ok := new(big.Rat).SetString(strings.TrimPrefix(s, "+"))
		if !ok {
			return
		}
		r.Mul(r, big.NewRat(100, 1))
		if !r.IsInt() {
			if err == nil {
				t.Fatalf("yuanToFen(%q) = %d, but it is not a whole number of fen", s, got)
			}
			return
		}
		if err != nil {
			if r.Num().IsInt64() && r.Num().Int64() < 1<<62/10 && r.Num().Int64() > -(1<<62/10) {
				t.Fatalf("yuanToFen(%q): %v", s, err)
			}
			return
		}
		if r.Num().Int64() != got {
			t.Fatalf("yuanToFen(%q) = %d, want %s", s, got, r.Num())
		}
	})
}

// FuzzTradeParser: any input ends in rows and a verified totals block, or an error;
// never a panic.
func FuzzTradeParser(f *testing.F) {
	row := "`2026-11-25 10:00:00,`wxapp,`1900000001,`0,`,`4200000001,`ORDER0001,`o,`JSAPI,`SUCCESS,`OTHERS,`CNY,`1.00,`0.00,`0,`0,`0.00,`0.00,`,`,`x,`,`0.01,`0.60%,`1.00,`0.00,`"
	f.Add(allHeader + "\r\n" + row + "\r\n" + allTotals + "\r\n`1,`1.00,`0.00,`0.00,`0.01,`1.00,`0.00\r\n")
	f.Add(allHeader + "\n\"`a\"\"b\",`1\n")
	f.Fuzz(func(t *testing.T, bill string) {
		p, err := NewTradeParser(strings.NewReader(bill))
		if err != nil {
			return
		}
		var r TradeRow
		for i := 0; i < 1e5; i++ {
			if err := p.Next(&r); err != nil {
				tot, sum := p.Totals(), p.sums
				if err == io.EOF && (tot.Count != sum.Count || tot.Settle != sum.Settle || tot.Refund != sum.Refund || tot.Fee != sum.Fee) {
					t.Fatalf("accepted totals %+v for rows %+v", p.Totals(), p.sums)
				}
				return
			}
		}
	})
}
