package billfetch

// BenchmarkTradeBillParse, run by `make bench`, parses a generated gzip trade bill and,
// in the same run, gunzips and splits the same file into lines: the floor any parser
// pays. It reports rows/s of both, their ratio (goal ≥ 0.5) and the peak live heap of
// each pass (goal < 64 MB). The bill has 100,000 rows unless BILLFETCH_BENCH_ROWS asks
// for more:
//
//	BILLFETCH_BENCH_ROWS=1000000 go test -run '^$' -bench TradeBillParse -benchtime 1x ./functions/billfetch/

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paysls/wxpay/shared/clock"
)

// writeBill writes an n-row ALL trade bill, every tenth row a refund, gzip-compressed
// as WeChat Pay serves it with tar_type=GZIP.
func writeBill(tb testing.TB, path string, n int) {
	tb.Helper()
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	zw := gzip.NewWriter(f)
	w := bufio.NewWriterSize(zw, 256<<10)
	w.WriteString(strings.Join(strings.Split(allHeader, ","), ",") + "\r\n")
	var t TradeTotals
	yuan := func(fen int64) string {
		s := ""
		if fen < 0 {
			s, fen = "-", -fen
		}
		return fmt.Sprintf("%s%d.%02d", s, fen/100, fen%100)
	}
	base := time.Date(2026, 3, 10, 0, 0, 0, 0, clock.CST)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < n; i++ {
		at := base.Add(time.Duration(i) * 86400 * time.Second / time.Duration(n)).Format("2006-01-02 15:04:05")
		// Identifiers as random as real ones, so the file compresses like a real bill.
		otn := fmt.Sprintf("ORD%017d", rng.Uint64()%1e17)
		tx := fmt.Sprintf("4200002%03d%018d", i%1000, rng.Uint64()%1e18)
		openid := fmt.Sprintf("oUpF8u%022x", rng.Uint64())[:28]
		amount := int64(100 + i%99901)
		var settle, refund, fe, order, apply int64
		state, rid, orn, rstate := "SUCCESS", "0", "0", ""
		if i%10 == 9 {
			state, rid, orn, rstate = "REFUND", fmt.Sprintf("50300%023d", rng.Uint64()%1e18), "R"+otn, "SUCCESS"
			refund, apply, fe = amount/2, amount/2, -fee(amount/2)
		} else {
			settle, order, fe = amount, amount, fee(amount)
		}
		t.Count++
		t.Settle += settle
		t.Refund += refund
		t.Fee += fe
		t.Order += order
		t.ApplyRefund += apply
		fields := []string{at, "wx8888888888888888", "1900000109", "0", "", tx, otn, openid, "JSAPI", state,
			"OTHERS", "CNY", yuan(settle), "0.00", rid, orn, yuan(refund), "0.00", "ORIGINAL", rstate, "咖啡 大杯, 加浓", "attach-" + strconv.Itoa(i%7),
			yuan(fe), "0.60%", yuan(order), yuan(apply), ""}
		for j, v := range fields {
			if j > 0 {
				w.WriteByte(',')
			}
			w.WriteByte('`')
			w.WriteString(v)
		}
		w.WriteString("\r\n")
	}
	w.WriteString(allTotals + "\r\n")
	fmt.Fprintf(w, "`%d,`%s,`%s,`0.00,`%s,`%s,`%s\r\n", t.Count, yuan(t.Settle), yuan(t.Refund), yuan(t.Fee), yuan(t.Order), yuan(t.ApplyRefund))
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
}

// peakHeap samples the live heap while fn runs and returns its peak above the
// baseline taken after a GC.
func peakHeap(fn func()) (peak uint64) {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() uint64 { metrics.Read(sample); return sample[0].Value.Uint64() }
	base := read()
	var max atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			if v := read(); v > max.Load() {
				max.Store(v)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	fn()
	close(stop)
	wg.Wait()
	if v := read(); v > max.Load() {
		max.Store(v)
	}
	if m := max.Load(); m > base {
		return m - base
	}
	return 0
}

func gunzipSplit(tb testing.TB, path string) (lines int) {
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		tb.Fatal(err)
	}
	br := bufio.NewReaderSize(zr, 64<<10)
	for {
		_, err := br.ReadSlice('\n')
		if err == io.EOF {
			return lines
		}
		if err != nil {
			tb.Fatal(err)
		}
		lines++
	}
}

func parseFile(tb testing.TB, path string) (rows int64) {
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	t, err := scanTrade(f, func(*TradeRow) error { rows++; return nil })
	if err != nil {
		tb.Fatal(err)
	}
	if t.Count != rows {
		tb.Fatalf("totals count %d, rows %d", t.Count, rows)
	}
	return rows
}

func BenchmarkTradeBillParse(b *testing.B) {
	n := 100_000
	if v := os.Getenv("BILLFETCH_BENCH_ROWS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n <= 0 {
			b.Fatalf("BILLFETCH_BENCH_ROWS=%q", v)
		}
	}
	path := filepath.Join(b.TempDir(), "tradebill.csv.gz")
	writeBill(b, path, n)
	st, _ := os.Stat(path)
	b.Logf("%d rows, %.1f MB gzip", n, float64(st.Size())/1e6)
	var ours, floor []float64
	var oursPeak, floorPeak uint64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// Interleaved, so both see the same machine load; timed without the heap
		// sampler, which runs in separate passes below.
		start := time.Now()
		if got := gunzipSplit(b, path); got != n+3 {
			b.Fatalf("lines = %d", got)
		}
		floor = append(floor, float64(n)/time.Since(start).Seconds())
		start = time.Now()
		if got := parseFile(b, path); got != int64(n) {
			b.Fatalf("rows = %d", got)
		}
		ours = append(ours, float64(n)/time.Since(start).Seconds())
	}
	floorPeak = peakHeap(func() { gunzipSplit(b, path) })
	oursPeak = peakHeap(func() { parseFile(b, path) })
	b.StopTimer()
	o, f := median(ours), median(floor)
	b.ReportMetric(o, "rows/s")
	b.ReportMetric(f, "split_rows/s")
	b.ReportMetric(o/f, "x_split")
	b.ReportMetric(float64(oursPeak)/(1<<20), "peak_MB")
	b.ReportMetric(float64(floorPeak)/(1<<20), "split_peak_MB")
	if oursPeak >= 64<<20 {
		b.Errorf("peak heap %d MB ≥ 64 MB", oursPeak>>20)
	}
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// TestGeneratedBillParses keeps the benchmark's generator honest in the normal test run.
func TestGeneratedBillParses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "b.csv.gz")
	writeBill(t, path, 1000)
	if got := parseFile(t, path); got != 1000 {
		t.Fatalf("rows = %d", got)
	}
}
