package createorder_test

import (
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paysls/wxpay/shared/wechatpay"
)

// BenchmarkCreate measures POST /orders end to end — bearer check, validation, the
// ledger's read, the claim+attempt write, a signed prepay to the in-process simulator
// (which verifies our signature and signs its answer, which we verify), the answer
// write and the JSAPI pay-sign — at concurrency 1 and 8, beside the crypto floor
// measured in the same run: the bare RSA-2048 sign + verify, and the 3 signs + 2
// verifies one JSAPI create costs with the simulator in-process (our request, its
// answer, our pay-sign). On a shared machine the load moves under a run, so at c=1 the
// in-process crypto is measured again right before every create and the ratio is the
// median of those pairs (x-inproc-crypto); medians of each side are reported too.
// Reported: median latency, the ratios, and store writes and reads per create;
// "replay" is the same order_id again (no prepay, no write).
//
//	go test -run '^$' -bench BenchmarkCreate -benchtime 200x ./functions/createorder/
func BenchmarkCreate(b *testing.B) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	msg := []byte("POST\n/v3/pay/transactions/jsapi\n1700000000\nNONCE\n{\"amount\":{\"total\":100}}\n")
	signVerify := func() {
		sig, err := wechatpay.SignMessage(key, msg)
		if err != nil {
			b.Fatal(err)
		}
		if err := wechatpay.VerifyMessage(&key.PublicKey, msg, sig); err != nil {
			b.Fatal(err)
		}
	}
	floor := medianOf(300, signVerify)
	inprocCrypto := func() {
		signVerify()
		signVerify()
		if _, err := wechatpay.SignMessage(key, msg); err != nil {
			b.Fatal(err)
		}
	}
	inproc := medianOf(200, inprocCrypto)
	var seq atomic.Int64
	body := func(id string) map[string]any {
		return map[string]any{"order_id": id, "amount": 100, "description": "bench", "scene": "jsapi", "payer": map[string]string{"openid": openID}}
	}
	run := func(b *testing.B, conc int, replay bool) {
		e := newEnv(b, envOptions{})
		if replay {
			if s, a := e.call(b, "POST", "/orders", body("BENCHREPLAY")); s != 201 {
				b.Fatalf("%d %v", s, a)
			}
		}
		w0, r0, p0 := e.st.Writes.Load(), e.st.Reads.Load(), e.prepays.Load()
		var mu sync.Mutex
		lat := make([]time.Duration, 0, b.N)
		var base, ratios []float64 // c=1: the in-process crypto right before each create
		var next atomic.Int64
		b.ResetTimer()
		var wg sync.WaitGroup
		for range conc {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for next.Add(1) <= int64(b.N) {
					id := "BENCHREPLAY"
					if !replay {
						id = fmt.Sprintf("BENCH%012d", seq.Add(1))
					}
					var c time.Duration
					if conc == 1 {
						c = medianOf(1, inprocCrypto)
					}
					t0 := time.Now()
					s, a := e.call(b, "POST", "/orders", body(id))
					d := time.Since(t0)
					if s/100 != 2 {
						b.Errorf("%d %v", s, a)
						return
					}
					mu.Lock()
					lat = append(lat, d)
					if conc == 1 {
						base = append(base, float64(c))
						ratios = append(ratios, float64(d)/float64(c))
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		b.StopTimer()
		med := median(lat)
		n := float64(len(lat))
		b.ReportMetric(float64(med.Microseconds())/1000, "median-ms")
		b.ReportMetric(float64(floor.Microseconds())/1000, "floor-ms")
		b.ReportMetric(float64(med)/float64(floor), "x-signverify")
		if len(ratios) > 0 {
			b.ReportMetric(medianF(ratios), "x-inproc-crypto")
			b.ReportMetric(medianF(base)/1e6, "inproc-ms")
		} else {
			b.ReportMetric(float64(med)/float64(inproc), "x-inproc-crypto")
			b.ReportMetric(float64(inproc.Microseconds())/1000, "inproc-ms")
		}
		b.ReportMetric(float64(e.st.Writes.Load()-w0)/n, "writes/op")
		b.ReportMetric(float64(e.st.Reads.Load()-r0)/n, "reads/op")
		b.ReportMetric(float64(e.prepays.Load()-p0)/n, "prepays/op")
	}
	b.Run("floor-sign+verify", func(b *testing.B) {
		for b.Loop() {
			signVerify()
		}
	})
	b.Run("c1", func(b *testing.B) { run(b, 1, false) })
	b.Run("c8", func(b *testing.B) { run(b, 8, false) })
	b.Run("replay-c1", func(b *testing.B) { run(b, 1, true) })
	b.Run("replay-c8", func(b *testing.B) { run(b, 8, true) })
}

func medianOf(n int, f func()) time.Duration {
	d := make([]time.Duration, n)
	for i := range d {
		t0 := time.Now()
		f()
		d[i] = time.Since(t0)
	}
	return median(d)
}

func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func medianF(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
