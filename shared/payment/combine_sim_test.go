package payment

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paysls/wxpay/shared/events"

	"github.com/paysls/wxpay/shared/store"
	"github.com/paysls/wxpay/shared/store/boltstore"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// crashing fails every write from the armed one on, as a process that died there: the
// write it fails may or may not have happened (Before: not written; else written, then
// the answer lost).
type crashing struct {
	store.Store
	at     atomic.Int64 // the write number that crashes (0: none)
	n      atomic.Int64
	after  bool // the crashing write is made before the crash
	downed atomic.Bool
}

var errDown = store.Unavailable("write", errors.New("the process crashed"))

func (c *crashing) write(do func() error) error {
	if c.downed.Load() {
		return errDown
	}
	if n := c.n.Add(1); c.at.Load() != 0 && n == c.at.Load() {
		c.downed.Store(true)
		if c.after {
			_ = do()
		}
		return errDown
	}
	return do()
}

func (c *crashing) Put(ctx context.Context, rec store.Record, cond store.Condition) (out store.Record, err error) {
	err = c.write(func() error { out, err = c.Store.Put(ctx, rec, cond); return err })
	return out, err
}

func (c *crashing) Update(ctx context.Context, key string, ch store.Change, cond store.Condition) (out store.Record, err error) {
	err = c.write(func() error { out, err = c.Store.Update(ctx, key, ch, cond); return err })
	return out, err
}

func (c *crashing) Delete(ctx context.Context, key string, cond store.Condition) error {
	return c.write(func() error { return c.Store.Delete(ctx, key, cond) })
}

// restart is the next process: a working store, maybe crashing at a later write.
func (c *crashing) restart(r *rand.Rand) {
	c.downed.Store(false)
	c.n.Store(0)
	c.at.Store(0)
	if r.IntN(3) == 0 {
		c.at.Store(int64(1 + r.IntN(6)))
		c.after = r.IntN(2) == 0
	}
}

// combineTruth is WeChat Pay's side of one combine in a history.
type combineTruth struct {
	c      *Combine
	paid   bool
	failed int // the sub-order whose payment failed (-1: none)
	// refunds are the refunds WeChat Pay accepted, by sub-order.
	refunds map[int][]refundTruth
}

type refundTruth struct {
	no     string
	amount int64
	status string // PROCESSING until settled
}

func (ct *combineTruth) notification() *wechatpay.CombineTransaction {
	n := combinePaid(ct.c)
	if ct.failed >= 0 {
		s := &n.SubOrders[ct.failed]
		s.TradeState, s.TransactionID, s.SuccessTime = wechatpay.TradeStatePayError, "", ""
	}
	return n
}

func (ct *combineTruth) refunded(i int) int64 {
	var n int64
	for _, r := range ct.refunds[i] {
		if r.status != wechatpay.RefundStatusClosed {
			n += r.amount
		}
	}
	return n
}

// TestCombineHistoriesKeepMoney runs seeded histories of combines against the ledger —
// notifications delivered late, twice, in another order, or cut by a crash at any
// write; sub-orders settled alone by a query or a bill; e-commerce refunds of
// sub-orders asked for concurrently with the payments, over the remainder, settled or
// closed in any order — then lets them settle and checks the money: every sub-order
// WeChat Pay paid is paid here by its transaction, once, with one order.paid;
// combine.paid once exactly when every sub-order is paid; a refund's result on its
// sub-order once, and never more refunded than paid. COMBINE_SEEDS=n runs more.
func TestCombineHistoriesKeepMoney(t *testing.T) {
	seeds := 60
	if s := os.Getenv("COMBINE_SEEDS"); s != "" {
		fmt.Sscan(s, &seeds)
	}
	dir := t.TempDir()
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		if d, err := os.MkdirTemp("/dev/shm", "combine-sim"); err == nil {
			dir = d
			defer os.RemoveAll(d)
		}
	}
	for seed := range seeds {
		if err := combineHistory(dir, uint64(seed)); err != nil {
			t.Fatalf("seed %d: %v (COMBINE_SEEDS=%d replays it with the others)", seed, err, seed+1)
		}
	}
}

func combineHistory(dir string, seed uint64) error {
	r := rand.New(rand.NewPCG(seed, 0xc0b1))
	bolt, err := boltstore.Open(filepath.Join(dir, fmt.Sprintf("h%d.db", seed)))
	if err != nil {
		return err
	}
	defer bolt.Close()
	defer SetSubOrderParallel(1 + r.IntN(3))()
	cs := &crashing{Store: bolt}
	clock := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	l := &Ledger{Store: cs, Now: func() time.Time { return clock }, Merchants: []string{mch}}
	ctx := context.Background()

	var world []*combineTruth
	for k := range 1 + r.IntN(3) {
		c := combineOf(nilT{}, &Ledger{Store: bolt, Now: l.Now}, fmt.Sprintf("H%dC%d", seed, k), 2+r.IntN(4))
		ct := &combineTruth{c: c, failed: -1, refunds: map[int][]refundTruth{}}
		if r.IntN(5) == 0 {
			ct.failed = r.IntN(len(c.SubOrders))
		}
		world = append(world, ct)
	}
	refundNo := 0
	for range 10 + r.IntN(20) {
		clock = clock.Add(time.Second)
		ct := world[r.IntN(len(world))]
		switch op := r.IntN(10); {
		case op < 2: // the user pays
			ct.paid = true
		case op < 5 && ct.paid: // a notification, or the combine query's answer
			_, _ = l.ApplyCombine(ctx, ct.notification(), []string{"notify", "query"}[r.IntN(2)])
		case op < 6 && ct.paid: // one sub-order settled alone (a bill row)
			i := r.IntN(len(ct.c.SubOrders))
			if i != ct.failed {
				txs := ct.notification().Transactions()
				_, _ = l.ApplyTransaction(ctx, &txs[i], "bill")
			}
		case op < 8 && ct.paid: // an e-commerce refund of a sub-order asked for
			i := r.IntN(len(ct.c.SubOrders))
			o, err := l.Attempt(ctx, ct.c.SubOrders[i].SubMchID, ct.c.SubOrders[i].OutTradeNo)
			if err != nil || i == ct.failed {
				break
			}
			refundNo++
			amount := int64(1 + r.IntN(int(ct.c.SubOrders[i].Amount)))
			no := fmt.Sprintf("H%dR%d", seed, refundNo)
			rf, err := l.RequestRefund(ctx, o, RefundRequest{OutRefundNo: no, Amount: amount, Advance: r.IntN(2) == 0})
			// WeChat Pay accepts what it can: never more than its own remainder.
			if err == nil && rf != nil && ct.refunded(i)+amount <= ct.c.SubOrders[i].Amount {
				ct.refunds[i] = append(ct.refunds[i], refundTruth{no: no, amount: amount, status: wechatpay.RefundStatusProcessing})
			} else if err == nil && rf != nil {
				// Refused there: the bundle closes its reservation (createorder does).
				_, _ = l.ApplyRefund(ctx, refundNotice(ct, i, refundTruth{no: no, amount: amount, status: wechatpay.RefundStatusClosed}), "refund_api")
			}
		case op < 10: // a refund's result, settled at WeChat Pay and notified (maybe again)
			for i, rs := range ct.refunds {
				if len(rs) == 0 {
					continue
				}
				j := r.IntN(len(rs))
				if rs[j].status == wechatpay.RefundStatusProcessing {
					rs[j].status = []string{wechatpay.RefundStatusSuccess, wechatpay.RefundStatusSuccess, wechatpay.RefundStatusClosed}[r.IntN(3)]
				}
				_, _ = l.ApplyRefund(ctx, refundNotice(ct, i, rs[j]), "notify")
				break
			}
		}
		if cs.downed.Load() || r.IntN(8) == 0 {
			cs.restart(r)
		}
	}
	// Settle: a working process; WeChat Pay settles every refund, redelivers every
	// notification; reconcile finishes what a crash left.
	cs.restart(rand.New(rand.NewPCG(0, 0)))
	cs.at.Store(0)
	for _, ct := range world {
		if ct.paid {
			if _, err := l.ApplyCombine(ctx, ct.notification(), "notify"); err != nil {
				return fmt.Errorf("settle %s: %w", ct.c.CombineNo, err)
			}
		}
		for i, rs := range ct.refunds {
			for j := range rs {
				if rs[j].status == wechatpay.RefundStatusProcessing {
					rs[j].status = wechatpay.RefundStatusSuccess
				}
				if _, err := l.ApplyRefund(ctx, refundNotice(ct, i, rs[j]), "notify"); err != nil {
					return fmt.Errorf("settle refund %s: %w", rs[j].no, err)
				}
			}
		}
	}
	page, err := bolt.ListPending(ctx, PendingRefunds, store.ListOptions{Limit: 1000})
	if err != nil {
		return err
	}
	for _, rec := range page.Records {
		rf, err := RefundOf(rec)
		if err != nil {
			return err
		}
		if _, err := l.SyncRefund(ctx, rf); err != nil {
			return err
		}
	}
	return checkCombineWorld(ctx, l, world)
}

func refundNotice(ct *combineTruth, i int, rt refundTruth) *wechatpay.RefundNotice {
	s := ct.c.SubOrders[i]
	return &wechatpay.RefundNotice{SpMchID: mch, SubMchID: s.SubMchID, OutTradeNo: s.OutTradeNo,
		TransactionID: fmt.Sprintf("42%026d", i+1), OutRefundNo: rt.no, RefundID: "50" + rt.no, RefundStatus: rt.status,
		Amount: wechatpay.RefundAmount{Refund: rt.amount, Total: s.Amount}}
}

func checkCombineWorld(ctx context.Context, l *Ledger, world []*combineTruth) error {
	for _, ct := range world {
		subs, err := l.SubOrders(ctx, ct.c)
		if err != nil {
			return err
		}
		all := ct.paid && ct.failed < 0
		announced := 0
		for i, o := range subs {
			if o == nil {
				return fmt.Errorf("%s: sub-order %d missing", ct.c.CombineNo, i)
			}
			kinds := map[string]int{}
			for _, e := range events.Entries(o.Record()) {
				kinds[e.Type]++
			}
			announced += kinds[EventCombinePaid]
			wantPaid := ct.paid && i != ct.failed
			switch {
			case o.InReview():
				return fmt.Errorf("%s: sub-order %s in REVIEW: %s", ct.c.CombineNo, o.OutTradeNo, o.Review.Reason())
			case wantPaid != o.Paid():
				return fmt.Errorf("%s: sub-order %s paid %v here, %v at WeChat Pay", ct.c.CombineNo, o.OutTradeNo, o.Paid(), wantPaid)
			case wantPaid && (kinds[events.OrderPaid] != 1 || o.Payment.TransactionID != fmt.Sprintf("42%026d", i+1)):
				return fmt.Errorf("%s: sub-order %s: %d order.paid, transaction %s", ct.c.CombineNo, o.OutTradeNo, kinds[events.OrderPaid], o.Payment.TransactionID)
			case !wantPaid && kinds[events.OrderPaid] != 0:
				return fmt.Errorf("%s: unpaid sub-order %s has order.paid", ct.c.CombineNo, o.OutTradeNo)
			}
			var want int64
			succeeded := 0
			for _, rt := range ct.refunds[i] {
				if rt.status == wechatpay.RefundStatusSuccess {
					want += rt.amount
					succeeded++
				}
			}
			if o.Refunded() != want || o.Refunded() > o.paidTotal() {
				return fmt.Errorf("%s: sub-order %s refunded %d here, %d at WeChat Pay (paid %d)", ct.c.CombineNo, o.OutTradeNo, o.Refunded(), want, o.paidTotal())
			}
			if kinds[events.RefundSucceeded] != succeeded {
				return fmt.Errorf("%s: sub-order %s: %d refund.succeeded for %d refunds", ct.c.CombineNo, o.OutTradeNo, kinds[events.RefundSucceeded], succeeded)
			}
		}
		if (all && announced != 1) || (!all && announced != 0) {
			return fmt.Errorf("%s: %d combine.paid (every sub-order paid: %v)", ct.c.CombineNo, announced, all)
		}
	}
	return nil
}

// nilT lets combineOf run outside a test's goroutine (it fails with a panic).
type nilT struct{ testing.TB }

func (nilT) Helper()                   {}
func (nilT) Fatal(args ...any)         { panic(fmt.Sprint(args...)) }
func (nilT) Fatalf(f string, a ...any) { panic(fmt.Sprintf(f, a...)) }
