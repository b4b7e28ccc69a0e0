// Package randid makes the random identifiers the simulator, `wxpay trigger` and test
// identities need, in the shapes WeChat Pay uses. Everything comes from crypto/rand:
// ids such as notification ids and nonces must not be predictable.
package randid

import (
	"crypto/rand"
	"fmt"
	"math/big"
	"time"
)

const (
	digitSet = "0123456789"
	alnumSet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
)

var beijing = time.FixedZone("CST", 8*3600)

func from(set string, n int) string {
	b := make([]byte, n)
	max := big.NewInt(int64(len(set)))
	for i := range b {
		v, err := rand.Int(rand.Reader, max)
		if err != nil {
			panic(fmt.Sprintf("randid: crypto/rand failed: %v", err)) // the OS has no entropy: nothing safe can go on
		}
		b[i] = set[v.Int64()]
	}
	return string(b)
}

// Digits returns n random decimal digits.
func Digits(n int) string { return from(digitSet, n) }

// Alnum returns n random ASCII letters and digits (e.g. a 12-character AEAD nonce).
func Alnum(n int) string { return from(alnumSet, n) }

// UUID returns a random RFC 4122 version-4 id, the shape of notification ids.
func UUID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("randid: crypto/rand failed: %v", err))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// TransactionID looks like a WeChat Pay transaction_id: 28 digits, "4200…" and the
// Beijing date.
func TransactionID(t time.Time) string {
	return "4200" + Digits(6) + t.In(beijing).Format("20060102") + Digits(10)
}

// RefundID looks like a WeChat Pay refund_id: 29 digits starting "50".
func RefundID(t time.Time) string {
	return "50" + Digits(9) + t.In(beijing).Format("20060102") + Digits(10)
}
