package billfetch

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/store"
	"github.com/paysls/wxpay/shared/store/boltstore"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// TestReconcileThroughput measures the reconciliation pass alone (every row a store
// read and a marker tick) against bbolt, on a generated bill whose rows all match the
// store, and checks every row matched. Filling the store is slow (one fsync per
// record), so by default it runs a small bill (a check, never skipped); the README's
// rows/s come from a large one:
//
//	BILLFETCH_MEASURE_ROWS=200000 go test -run ReconcileThroughput -v ./functions/billfetch/
func TestReconcileThroughput(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("BILLFETCH_MEASURE_ROWS"))
	if n <= 0 {
		n = 300
	}
	dir := t.TempDir()
	st, err := boltstore.Open(filepath.Join(dir, "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	path := filepath.Join(dir, "b.csv.gz")
	writeBill(t, path, n)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// Our side: every payment row as a paid order.
	start := time.Now()
	_, err = scanTrade(f, func(r *TradeRow) error {
		if r.TradeState != "SUCCESS" {
			_, err := st.Put(context.Background(), store.Record{Key: payment.RefundKey(r.Owner(), r.OutRefundNo), Attrs: map[string]string{
				"state": "SUCCESS", "amount": strconv.FormatInt(r.ApplyRefund, 10), "mchid": r.Owner()}}, store.Condition{})
			return err
		}
		_, err := st.Put(context.Background(), store.Record{Key: payment.OrderKey(r.Owner(), r.OutTradeNo), Attrs: map[string]string{
			"state": wechatpay.TradeStateSuccess, "amount": strconv.FormatInt(r.Order, 10), "mchid": r.Owner(),
			"transaction_id": r.TransactionID}}, store.Condition{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("prefill %v", time.Since(start))
	j := &Job{st: st, log: slog.New(slog.DiscardHandler), now: time.Now, workers: 16, ledger: &payment.Ledger{Store: st, Now: time.Now}}
	rep := &BillReport{}
	rc := &reconciler{j: j, m: merchant{mchid: "1900000109"}, date: "2026-03-10", day: day, rep: rep}
	start = time.Now()
	if err := rc.rows(context.Background(), f, 16); err != nil {
		t.Fatal(err)
	}
	d := time.Since(start)
	if rep.Matched != int64(n) {
		t.Fatalf("matched %d of %d: %v", rep.Matched, n, rep.Counts)
	}
	t.Logf("%d rows reconciled in %v: %.0f rows/s; matched %d, counts %v", n, d, float64(n)/d.Seconds(), rep.Matched, rep.Counts)
}
