package paysim

import (
	"crypto/rand"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/paysls/wxpay/shared/clock"
)

// ids makes the identifiers WeChat Pay hands out, in its shapes: transaction_id,
// refund_id, prepay_id, code_url tokens, openids, notification ids. They come from one
// source: crypto/rand by default, or a seeded one (Config.IDs), so that a deterministic
// simulation (internal/dst) replays the same ids from the same seed. They are not
// secrets: WeChat Pay shows them to anyone holding the order.
type ids struct {
	mu sync.Mutex
	r  io.Reader
}

// NewIDs makes ids from r; crypto/rand when r is nil.
func NewIDs(r io.Reader) *ids {
	if r == nil {
		r = rand.Reader
	}
	return &ids{r: r}
}

const (
	digitSet = "0123456789"
	alnumSet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
)

// from draws n characters of set without bias (bytes past the last whole multiple of
// len(set) are drawn again).
func (g *ids) from(set string, n int) string {
	limit := 256 - 256%len(set)
	out := make([]byte, 0, n)
	var buf [64]byte
	g.mu.Lock()
	defer g.mu.Unlock()
	for len(out) < n {
		if _, err := io.ReadFull(g.r, buf[:]); err != nil {
			panic(fmt.Sprintf("paysim: id source failed: %v", err)) // crypto/rand failing: nothing safe can go on
		}
		for _, b := range buf {
			if int(b) < limit && len(out) < n {
				out = append(out, set[int(b)%len(set)])
			}
		}
	}
	return string(out)
}

// digits returns n decimal digits.
func (g *ids) digits(n int) string { return g.from(digitSet, n) }

// alnum returns n ASCII letters and digits.
func (g *ids) alnum(n int) string { return g.from(alnumSet, n) }

// uuid returns an RFC 4122 version-4 id, the shape of notification ids.
func (g *ids) uuid() string {
	var b [16]byte
	g.mu.Lock()
	_, err := io.ReadFull(g.r, b[:])
	g.mu.Unlock()
	if err != nil {
		panic(fmt.Sprintf("paysim: id source failed: %v", err))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// TransactionID looks like a WeChat Pay transaction_id: 28 digits, "4200…" and the
// Beijing date.
func (g *ids) TransactionID(t time.Time) string {
	return "4200" + g.digits(6) + t.In(clock.CST).Format("20060102") + g.digits(10)
}

// RefundID looks like a WeChat Pay refund_id: 29 digits starting "50".
func (g *ids) RefundID(t time.Time) string {
	return "50" + g.digits(9) + t.In(clock.CST).Format("20060102") + g.digits(10)
}

// PrepayID looks like wx + yyyyMMddHHmmss + 20 characters, 36 in all.
func (g *ids) PrepayID(t time.Time) string {
	return "wx" + t.In(clock.CST).Format("20060102150405") + g.alnum(20)
}

// openID looks like an openid: "o" and 27 characters.
func (g *ids) OpenID() string { return "o" + g.alnum(27) }
