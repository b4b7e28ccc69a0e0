package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paysls/wxpay/shared/wechatpay"
)

// BenchmarkServeCreateOrder is the closing measurement of the order API: POST /orders
// (JSAPI, so the answer carries a pay-sign) through `wxpay serve`'s own mux — bearer
// check, validation, claim+attempt write, prepay signed to the in-process simulator
// (which verifies it and signs its answer, which we verify), the answer write, the
// pay-sign — at concurrency 1 and 8, beside the bare RSA-2048 sign + verify floor
// measured in the same run.
//
//	go test -run '^$' -bench BenchmarkServeCreateOrder -benchtime 300x ./cmd/wxpay/
func BenchmarkServeCreateOrder(b *testing.B) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	msg := []byte("POST\n/v3/pay/transactions/jsapi\n1700000000\nNONCE\n{}\n")
	floor := medianDur(300, func() {
		sig, _ := wechatpay.SignMessage(key, msg)
		if err := wechatpay.VerifyMessage(&key.PublicKey, msg, sig); err != nil {
			b.Fatal(err)
		}
	})
	srv := httptest.NewUnstartedServer(nil)
	bd, err := newBundle(context.Background(), serveOptions{keysDir: filepath.Join(b.TempDir(), "sim"), mode: "cert", retryScale: 0.001,
		apiBase: "http://" + srv.Listener.Addr().String()}, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	srv.Config.Handler = bd.handler
	srv.Start()
	b.Cleanup(func() { bd.Close(); srv.Close() })
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	var seq atomic.Int64
	create := func() (time.Duration, error) {
		body := fmt.Sprintf(`{"order_id":"SRVB%012d","amount":100,"description":"bench","scene":"jsapi","payer":{"openid":"oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}}`, seq.Add(1))
		req, _ := http.NewRequest("POST", srv.URL+"/orders", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+bd.token)
		t0 := time.Now()
		res, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusCreated {
			return 0, fmt.Errorf("status %d", res.StatusCode)
		}
		return time.Since(t0), nil
	}
	for _, conc := range []int{1, 8} {
		b.Run(fmt.Sprintf("c%d", conc), func(b *testing.B) {
			var mu sync.Mutex
			var lat []time.Duration
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			for range conc {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for next.Add(1) <= int64(b.N) {
						d, err := create()
						if err != nil {
							b.Error(err)
							return
						}
						mu.Lock()
						lat = append(lat, d)
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			med := medianDur(0, nil, lat...)
			b.ReportMetric(float64(med.Microseconds())/1000, "median-ms")
			b.ReportMetric(float64(floor.Microseconds())/1000, "floor-ms")
			b.ReportMetric(float64(med)/float64(floor), "x-floor")
		})
	}
}

// medianDur times f n times (or takes the given durations) and returns the median.
func medianDur(n int, f func(), given ...time.Duration) time.Duration {
	d := slices.Clone(given)
	for range n {
		t0 := time.Now()
		f()
		d = append(d, time.Since(t0))
	}
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return d[len(d)/2]
}
