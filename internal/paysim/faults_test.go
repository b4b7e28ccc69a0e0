package paysim

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paysls/wxpay/shared/wechatpay"
)

// payOrder places and pays an order, returning the notification id.
func (e *env) payOrder(no, notifyURL string) string {
	e.t.Helper()
	e.placeNative(no, 100, notifyURL)
	var out struct {
		NotificationID string `json:"notification_id"`
	}
	if st := e.simCall("POST", "/sim/orders/"+no+"/pay", nil, &out); st != 200 {
		e.t.Fatalf("pay %s: %d", no, st)
	}
	return out.NotificationID
}

func outTradeNo(t *testing.T, e *env, r received) string {
	t.Helper()
	var tx wechatpay.Transaction
	e.open(t, r, &tx)
	return tx.OutTradeNo
}

func TestRetriesFollowScaledScheduleAndStopOn2xx(t *testing.T) {
	// Fail three times, then accept: 4 attempts spaced 15s,15s,30s × 0.01.
	rc := newReceiver(t, func(n int) int {
		if n <= 3 {
			return http.StatusInternalServerError
		}
		return http.StatusNoContent
	})
	e := newEnv(t, Config{RetryScale: 0.01})
	id := e.payOrder("RETRY0000001", rc.url())
	var at []time.Time
	for i := 0; i < 4; i++ {
		r := rc.next(t)
		at = append(at, r.at)
		if i > 0 && r.header.Get(wechatpay.HeaderNonce) == "" {
			t.Fatal("retries are signed afresh")
		}
	}
	rc.none(t, 500*time.Millisecond)
	// The schedule is judged by what the simulator decided (each delivery's
	// next_retry_after) and by a lower bound on the real gaps: a retry never comes
	// early. No upper bound: on a loaded machine a timer fires late (1.46 s for a
	// 300 ms gap was seen under the full suite), which says nothing of the schedule.
	want := []time.Duration{150 * time.Millisecond, 150 * time.Millisecond, 300 * time.Millisecond}
	d := e.sim.Deliveries()
	for i, w := range want {
		if got := at[i+1].Sub(at[i]); got < w-20*time.Millisecond {
			t.Errorf("gap %d: %v, want at least %v", i+1, got, w)
		}
		if i < len(d) && d[i].NextRetryAfter != w.String() {
			t.Errorf("delivery %d: next_retry_after %q, want %v", i+1, d[i].NextRetryAfter, w)
		}
	}
	if len(d) != 4 || d[3].Attempt != 4 || d[3].Status != 204 || d[0].Status != 500 || d[0].NextRetryAfter != "150ms" || d[0].ID != id || d[3].ID != id {
		t.Fatalf("deliveries %+v", d)
	}
	if !strings.Contains(d[0].ResponseBody, "FAIL") {
		t.Fatalf("response body not recorded: %+v", d[0])
	}
}

func TestDeliveryHeaders(t *testing.T) {
	rc := newReceiver(t, nil)
	e := newEnv(t, Config{Mode: ModePubKey})
	e.payOrder("HEADER000001", rc.url())
	r := rc.next(t)
	if r.header.Get("Content-Type") != "application/json" || r.header.Get("User-Agent") != notifyUserAgent ||
		r.header.Get(wechatpay.HeaderSerial) != e.id.PlatformPublicKeyID {
		t.Fatalf("headers %v", r.header)
	}
	var tx wechatpay.Transaction
	n := e.open(t, r, &tx)
	if n.ResourceType != "encrypt-resource" || len(n.Resource.Nonce) != 12 || n.Resource.AssociatedData != "transaction" ||
		!strings.HasSuffix(n.CreateTime, "+08:00") || len(n.ID) != 36 || tx.TradeState != "SUCCESS" {
		t.Fatalf("envelope %+v %+v", n, tx)
	}
}

func TestFaultDropNextAndAll(t *testing.T) {
	rc := newReceiver(t, nil)
	e := newEnv(t, Config{Faults: Faults{DropNext: 1}})
	e.payOrder("DROP00000001", rc.url())
	e.payOrder("DROP00000002", rc.url())
	if no := outTradeNo(t, e, rc.next(t)); no != "DROP00000002" {
		t.Fatalf("first notification should be dropped, got %s", no)
	}
	if err := e.sim.SetFaults(Faults{DropAll: true}); err != nil {
		t.Fatal(err)
	}
	e.payOrder("DROP00000003", rc.url())
	rc.none(t, 200*time.Millisecond)
	// Deliveries are listed as attempts finish, so a slow delivery of #2 may come after
	// the drop of #3: count kinds rather than rely on positions.
	d := e.sim.Deliveries()
	kinds := map[string]int{}
	for _, x := range d {
		switch {
		case strings.Contains(x.Error, "drop_next"):
			kinds["drop_next"]++
		case strings.Contains(x.Error, "drop_all"):
			kinds["drop_all"]++
		case x.Status == 200:
			kinds["delivered"]++
		}
	}
	if len(d) != 3 || kinds["drop_next"] != 1 || kinds["drop_all"] != 1 || kinds["delivered"] != 1 {
		t.Fatalf("deliveries %+v", d)
	}
}

func TestFaultDuplicate(t *testing.T) {
	rc := newReceiver(t, nil)
	e := newEnv(t, Config{})
	if st := e.simCall("POST", "/sim/faults", Faults{Duplicate: true}, nil); st != 200 {
		t.Fatal(st)
	}
	e.payOrder("DUP000000001", rc.url())
	a, b := rc.next(t), rc.next(t)
	if string(a.body) != string(b.body) {
		t.Fatal("a duplicate carries the same notification")
	}
	rc.none(t, 100*time.Millisecond)
}

func TestFaultOutOfOrder(t *testing.T) {
	rc := newReceiver(t, nil)
	e := newEnv(t, Config{Faults: Faults{OutOfOrder: true}})
	e.payOrder("ORDERA000001", rc.url())
	rc.none(t, 100*time.Millisecond) // held back
	e.payOrder("ORDERB000001", rc.url())
	if first, second := outTradeNo(t, e, rc.next(t)), outTradeNo(t, e, rc.next(t)); first != "ORDERB000001" || second != "ORDERA000001" {
		t.Fatalf("got %s then %s", first, second)
	}
}

func TestFaultDelay(t *testing.T) {
	rc := newReceiver(t, nil)
	e := newEnv(t, Config{Faults: Faults{Delay: Duration(300 * time.Millisecond)}})
	start := time.Now()
	e.payOrder("DELAY0000001", rc.url())
	if got := rc.next(t).at.Sub(start); got < 300*time.Millisecond {
		t.Fatalf("delivered after %v", got)
	}
}

func TestFaultSkewClock(t *testing.T) {
	rc := newReceiver(t, nil)
	e := newEnv(t, Config{Faults: Faults{SkewClock: Duration(10 * time.Minute)}})
	if r := e.call("POST", "/v3/pay/transactions/native", e.nativeOrder("SKEW00000001", 100, rc.url())); r.status != 200 {
		t.Fatal(r.status)
	}
	e.simCall("POST", "/sim/orders/SKEW00000001/pay", nil, nil)
	r := rc.next(t)
	v := &wechatpay.Verifier{Keys: e.sim.resolver()}
	if err := v.Verify(context.Background(), wechatpay.HeadersFrom(r.header), r.body); !errors.Is(err, wechatpay.ErrTimestampSkew) {
		t.Fatalf("want a skewed timestamp, got %v", err)
	}
	// Responses are skewed too.
	resp := e.call("GET", "/v3/certificates", nil)
	if !errors.Is(resp.sigErr, wechatpay.ErrTimestampSkew) {
		t.Fatalf("response: %v", resp.sigErr)
	}
}

func TestFaultSignTestProbe(t *testing.T) {
	// The receiver verifies like a merchant should: the probe must be rejected.
	e := newEnv(t, Config{Faults: Faults{SignTestProbe: true}})
	v := &wechatpay.Verifier{Keys: e.sim.resolver()}
	var probes atomic.Int32
	rc := newReceiver(t, nil)
	rc.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if err := v.Verify(r.Context(), wechatpay.HeadersFrom(r.Header), b); err != nil {
			if errors.Is(err, wechatpay.ErrSignatureProbe) {
				probes.Add(1)
			}
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusOK)
		rc.ch <- received{header: r.Header, body: b, at: time.Now()}
	})
	e.payOrder("PROBE0000001", rc.url())
	rc.next(t)
	d := e.waitDeliveries(2)
	if probes.Load() != 1 || len(d) != 2 || !d[0].Probe || !strings.HasPrefix(d[0].Verdict, "ok") || d[1].Probe || d[1].Status != 200 {
		t.Fatalf("probes %d deliveries %+v", probes.Load(), d)
	}
	// A receiver that does not verify accepts the probe, and the verdict says so.
	lax := newReceiver(t, nil)
	e.payOrder("PROBE0000002", lax.url())
	lax.next(t)
	lax.next(t)
	d = e.waitDeliveries(4)
	lax.mu.Lock()
	probeSig := lax.got[0].header.Get(wechatpay.HeaderSignature)
	lax.mu.Unlock()
	if !strings.HasPrefix(d[2].Verdict, "FAIL") || !strings.HasPrefix(probeSig, wechatpay.SignTestPrefix) {
		t.Fatalf("deliveries %+v", d[2])
	}
}

func TestFaultEndpointFailAndHang(t *testing.T) {
	e := newEnv(t, Config{})
	if err := e.sim.SetFaults(Faults{Endpoints: []EndpointFault{
		{Pattern: "POST /v3/pay/transactions/*", Status: 503, Times: 1},
		{Pattern: "/v3/refund/*", Hang: true},
	}}); err != nil {
		t.Fatal(err)
	}
	r := e.call("POST", "/v3/pay/transactions/native", e.nativeOrder("FAIL00000001", 100, "https://merchant.example.com/n"))
	if r.status != 503 || r.sigErr != nil || r.errorBody(t).Code != "SYSTEM_ERROR" {
		t.Fatalf("%d %s %v", r.status, r.body, r.sigErr)
	}
	// Times: 1 — the next one goes through.
	e.placeNative("FAIL00000001", 100, "https://merchant.example.com/n")

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL+"/v3/refund/domestic/refunds/X12345678", nil)
	start := time.Now()
	_, err := http.DefaultClient.Do(req)
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) < 200*time.Millisecond {
		t.Fatalf("want the client's deadline, got %v after %v", err, time.Since(start))
	}
	var view struct {
		Endpoints []EndpointFault `json:"endpoints"`
	}
	e.simCall("GET", "/sim/faults", nil, &view)
	if len(view.Endpoints) != 1 || !view.Endpoints[0].Hang {
		t.Fatalf("faults %+v", view)
	}
}

func TestFaultRotateCertificate(t *testing.T) {
	e := newEnv(t, Config{})
	old := e.sim.PlatformKeys()[0].Serial
	if st := e.simCall("POST", "/sim/faults", map[string]bool{"rotate_certificate": true}, nil); st != 200 {
		t.Fatal(st)
	}
	r := e.call("GET", "/v3/certificates", nil)
	var certs wechatpay.PlatformCertificates
	_ = json.Unmarshal(r.body, &certs)
	serial := r.header.Get(wechatpay.HeaderSerial)
	if len(certs.Data) != 2 || certs.Data[0].SerialNo != old || certs.Data[1].SerialNo != serial || serial == old || r.sigErr != nil {
		t.Fatalf("after rotation: serial %s, %s", serial, r.body)
	}
	// The old key alone no longer verifies responses.
	oldOnly := &wechatpay.Verifier{Keys: wechatpay.StaticKeys{old: e.sim.PlatformKeys()[0].PublicKey}}
	if err := oldOnly.Verify(context.Background(), wechatpay.HeadersFrom(r.header), r.body); !errors.Is(err, wechatpay.ErrUnknownSerial) {
		t.Fatalf("old key: %v", err)
	}
	var view struct {
		Rotations int `json:"rotations"`
	}
	e.simCall("GET", "/sim/faults", nil, &view)
	if view.Rotations != 1 {
		t.Fatalf("%+v", view)
	}
}

func TestCloseStopsScheduler(t *testing.T) {
	rc := newReceiver(t, func(int) int { return 500 })
	e := newEnv(t, Config{RetryScale: 1})
	e.payOrder("CLOSE0000009", rc.url())
	rc.next(t)
	done := make(chan struct{})
	go func() { _ = e.sim.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Close did not stop the scheduler")
	}
	rc.none(t, 100*time.Millisecond)
}

// waitDeliveries waits until n attempts are recorded: a receiver sees a request
// before the simulator has recorded its answer.
func (e *env) waitDeliveries(n int) []Delivery {
	e.t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		d := e.sim.Deliveries()
		if len(d) >= n || time.Now().After(deadline) {
			return d
		}
		time.Sleep(5 * time.Millisecond)
	}
}
