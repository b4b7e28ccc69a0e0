package wechatpay

// BenchmarkEncryptedFundBill decrypts, authenticates, gunzips, hash-checks and parses
// a generated encrypted fund bill and, in the same run, gunzips and splits into lines
// the same plaintext: the floor any reader pays. It reports rows/s of both, their
// ratio (goal ≥ 0.5) and each pass's peak live heap (goal < 64 MB). 100,000 rows
// unless WECHATPAY_BENCH_ROWS asks for more:
//
//	WECHATPAY_BENCH_ROWS=1000000 go test -run '^$' -bench EncryptedFundBill -benchtime 5x ./shared/wechatpay/

import (
	"bufio"
	"compress/gzip"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paysls/wxpay/shared/clock"
)

const benchNonce = "a8607ef79034c49c"

var benchKey = []byte("0123456789abcdef0123456789abcdef")

// writeFundBill writes an n-line fund bill as WeChat Pay would serve it with
// tar_type=GZIP, encrypted, and returns the encrypted file, the gzip plaintext and
// the SHA1 of the uncompressed bill.
func writeFundBill(tb testing.TB, dir string, n int) (encPath, gzPath, sum string) {
	tb.Helper()
	gzPath = filepath.Join(dir, "fundbill.csv.gz")
	f, err := os.Create(gzPath)
	if err != nil {
		tb.Fatal(err)
	}
	zw := gzip.NewWriter(f)
	h := sha1.New()
	w := bufio.NewWriterSize(io.MultiWriter(zw, h), 256<<10)
	w.WriteString("记账时间,微信支付业务单号,资金流水单号,业务名称,业务类型,收支类型,收支金额（元）,账户结余（元）,资金变更提交申请人,备注,业务凭证号,二级商户号\r\n")
	var t FundBillTotals
	var bal int64
	rng := rand.New(rand.NewPCG(3, 4))
	day := time.Date(2026, 3, 10, 0, 0, 0, 0, clock.CST)
	for i := 0; i < n; i++ {
		at := day.Add(time.Duration(i) * 86400 * time.Second / time.Duration(n)).Format("2006-01-02 15:04:05")
		tx := fmt.Sprintf("4200002%03d%018d", i%1000, rng.Uint64()%1e18)
		flow := fmt.Sprintf("1900009231%018d", rng.Uint64()%1e18)
		voucher := fmt.Sprintf("ORD%017d", rng.Uint64()%1e17)
		amount := int64(100 + i%99901)
		name, kind, dir := "交易", "交易", FundIncome
		switch i % 5 {
		case 1:
			name, kind, dir, amount = "交易", "扣除交易手续费", FundExpense, (amount*6+500)/1000
		case 2:
			name, kind, dir, amount = "分账", "分账", FundExpense, amount/10
		case 3:
			name, kind, dir, amount = "退款", "退款", FundExpense, amount/3
		}
		if dir == FundIncome {
			t.InCount++
			t.In += amount
			bal += amount
		} else {
			t.OutCount++
			t.Out += amount
			bal -= amount
		}
		t.Count++
		fields := []string{at, tx, flow, name, kind, dir, yuanText(amount), yuanText(bal), "system", "", voucher, "190000" + strconv.Itoa(1000+i%7)}
		for j, v := range fields {
			if j > 0 {
				w.WriteByte(',')
			}
			w.WriteByte('`')
			w.WriteString(v)
		}
		w.WriteString("\r\n")
	}
	w.WriteString("资金流水总笔数,收入笔数,收入金额,支出笔数,支出金额\r\n")
	fmt.Fprintf(w, "`%d,`%d,`%s,`%d,`%s\r\n", t.Count, t.InCount, yuanText(t.In), t.OutCount, yuanText(t.Out))
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	f.Close()
	encPath = filepath.Join(dir, "fundbill.enc")
	src, _ := os.Open(gzPath)
	defer src.Close()
	dst, err := os.Create(encPath)
	if err != nil {
		tb.Fatal(err)
	}
	defer dst.Close()
	if _, err := SealBillPart(dst, bufio.NewReaderSize(src, 256<<10), benchKey, benchNonce); err != nil {
		tb.Fatal(err)
	}
	return encPath, gzPath, hex.EncodeToString(h.Sum(nil))
}

func yuanText(fen int64) string {
	sign := ""
	if fen < 0 {
		sign, fen = "-", -fen
	}
	return fmt.Sprintf("%s%d.%02d", sign, fen/100, fen%100)
}

// decryptParse is what FetchEncryptedBill and a reader of it do after the download:
// decrypt and authenticate into a spool, then gunzip, hash and parse from it.
func decryptParse(tb testing.TB, encPath, sum, tmp string) (rows int64) {
	src, err := os.Open(encPath)
	if err != nil {
		tb.Fatal(err)
	}
	defer src.Close()
	spool, err := os.CreateTemp(tmp, "spool-*")
	if err != nil {
		tb.Fatal(err)
	}
	os.Remove(spool.Name())
	size, err := openBillPart(spool, src, benchKey, benchNonce)
	if err != nil {
		tb.Fatal(err)
	}
	bill := &DecryptedBill{gzipped: true, parts: []*billPart{{seq: 1, f: spool, size: size, hash: sum}}}
	defer bill.Close()
	p, err := NewFundBillParser(bill.Open())
	if err != nil {
		tb.Fatal(err)
	}
	var row FundBillRow
	for {
		err := p.Next(&row)
		if err == io.EOF {
			break
		}
		if err != nil {
			tb.Fatal(err)
		}
		rows++
	}
	if p.Totals().Count != rows {
		tb.Fatalf("totals %d, rows %d", p.Totals().Count, rows)
	}
	return rows
}

func gunzipLines(tb testing.TB, path string) (lines int) {
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

// peakLiveHeap samples the live heap while fn runs and returns its peak above the
// baseline taken after a GC (the same method as billfetch's benchmark).
func peakLiveHeap(fn func()) uint64 {
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

func BenchmarkEncryptedFundBill(b *testing.B) {
	n := 100_000
	if v := os.Getenv("WECHATPAY_BENCH_ROWS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n <= 0 {
			b.Fatalf("WECHATPAY_BENCH_ROWS=%q", v)
		}
	}
	dir := b.TempDir()
	enc, gz, sum := writeFundBill(b, dir, n)
	st, _ := os.Stat(enc)
	b.Logf("%d rows, %.1f MB encrypted (gzip inside)", n, float64(st.Size())/1e6)
	var ours, floor []float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// Interleaved, so both see the same machine load; the heap sampler runs in
		// separate passes below.
		start := time.Now()
		if got := gunzipLines(b, gz); got != n+3 {
			b.Fatalf("lines = %d", got)
		}
		floor = append(floor, float64(n)/time.Since(start).Seconds())
		start = time.Now()
		if got := decryptParse(b, enc, sum, dir); got != int64(n) {
			b.Fatalf("rows = %d", got)
		}
		ours = append(ours, float64(n)/time.Since(start).Seconds())
	}
	floorPeak := peakLiveHeap(func() { gunzipLines(b, gz) })
	oursPeak := peakLiveHeap(func() { decryptParse(b, enc, sum, dir) })
	b.StopTimer()
	o, f := benchMedian(ours), benchMedian(floor)
	b.ReportMetric(o, "rows/s")
	b.ReportMetric(f, "split_rows/s")
	b.ReportMetric(o/f, "x_split")
	b.ReportMetric(float64(oursPeak)/(1<<20), "peak_MB")
	b.ReportMetric(float64(floorPeak)/(1<<20), "split_peak_MB")
	if oursPeak >= 64<<20 {
		b.Errorf("peak heap %d MB ≥ 64 MB", oursPeak>>20)
	}
}

func benchMedian(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// TestGeneratedFundBillRoundTrips keeps the benchmark's generator and path honest in
// the normal test run.
func TestGeneratedFundBillRoundTrips(t *testing.T) {
	dir := t.TempDir()
	enc, _, sum := writeFundBill(t, dir, 2000)
	if got := decryptParse(t, enc, sum, dir); got != 2000 {
		t.Fatalf("rows = %d", got)
	}
}
