package paysim

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/paysls/wxpay/internal/keysdirtest"
	"github.com/paysls/wxpay/internal/testenv/testclock"
	"github.com/paysls/wxpay/shared/keysdir"
	"github.com/paysls/wxpay/shared/wechatpay"
)

func testIdentity(t *testing.T) *keysdir.Identity { return keysdirtest.Identity(t) }

// newClock is the tests' business clock (internal/testenv/testclock), standing at t.
func newClock(t time.Time) *testclock.Clock { return testclock.New(t) }

// env is a running simulator behind an httptest server, with a merchant client.
type env struct {
	t     *testing.T
	id    *keysdir.Identity
	sim   *Simulator
	srv   *httptest.Server
	clock *testclock.Clock
}

func newEnv(t *testing.T, cfg Config) *env {
	t.Helper()
	if cfg.Identity == nil {
		cfg.Identity = testIdentity(t)
	}
	clock := newClock(time.Now())
	if cfg.Now == nil {
		cfg.Now = clock.Now
	}
	if cfg.RetryScale == 0 {
		cfg.RetryScale = 0.001
	}
	sim, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	t.Cleanup(func() {
		srv.Close()
		_ = sim.Close()
	})
	return &env{t: t, id: cfg.Identity, sim: sim, srv: srv, clock: clock}
}

// response is a /v3 answer whose signature has been checked.
type response struct {
	status int
	header http.Header
	body   []byte
	sigErr error // the result of verifying the Wechatpay-* signature
}

func (r response) errorBody(t *testing.T) wechatpay.ErrorBody {
	t.Helper()
	var e wechatpay.ErrorBody
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("error body %q: %v", r.body, err)
	}
	return e
}

// call sends a request signed by the merchant and verifies the answer's signature.
func (e *env) call(method, target string, body any) response {
	e.t.Helper()
	return e.callWith(e.id.MerchantSigner(), method, target, body, nil)
}

func (e *env) callWith(signer *wechatpay.Signer, method, target string, body any, mutate func(*http.Request)) response {
	e.t.Helper()
	var raw []byte
	switch b := body.(type) {
	case nil:
	case []byte:
		raw = b
	default:
		var err error
		if raw, err = json.Marshal(b); err != nil {
			e.t.Fatal(err)
		}
	}
	req, err := http.NewRequest(method, e.srv.URL+target, bytes.NewReader(raw))
	if err != nil {
		e.t.Fatal(err)
	}
	auth, err := signer.Authorization(method, req.URL.RequestURI(), raw)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", auth)
	req.Header.Set("Accept", "application/json")
	if raw != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if mutate != nil {
		mutate(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	v := &wechatpay.Verifier{Keys: e.sim.resolver()}
	return response{status: resp.StatusCode, header: resp.Header, body: b,
		sigErr: v.Verify(context.Background(), wechatpay.HeadersFrom(resp.Header), b)}
}

// sim calls the /sim driver API.
func (e *env) simCall(method, path string, body any, out any) int {
	e.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, e.srv.URL+path, r)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			e.t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
	if resp.StatusCode >= 300 {
		e.t.Logf("%s %s → %d %s", method, path, resp.StatusCode, b)
	}
	return resp.StatusCode
}

// received is one notification a receiver got.
type received struct {
	header http.Header
	body   []byte
	at     time.Time
}

// receiver is a notify endpoint that records every request and answers with the
// status statusFor returns (200 when nil).
type receiver struct {
	srv       *httptest.Server
	mu        sync.Mutex
	got       []received
	ch        chan received
	statusFor func(n int) int // n = 1 for the first request
}

func newReceiver(t *testing.T, statusFor func(n int) int) *receiver {
	rc := &receiver{ch: make(chan received, 64), statusFor: statusFor}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rec := received{header: r.Header.Clone(), body: b, at: time.Now()}
		rc.mu.Lock()
		rc.got = append(rc.got, rec)
		n := len(rc.got)
		rc.mu.Unlock()
		st := http.StatusOK
		if rc.statusFor != nil {
			st = rc.statusFor(n)
		}
		w.WriteHeader(st)
		if st >= 300 {
			_, _ = w.Write([]byte(`{"code":"FAIL","message":"test receiver says no"}`))
		}
		rc.ch <- rec
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) url() string { return rc.srv.URL + "/pay/notify" }

// next waits for the next notification.
func (rc *receiver) next(t *testing.T) received {
	t.Helper()
	select {
	case r := <-rc.ch:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("no notification arrived within 5s")
	}
	return received{}
}

// none asserts that nothing arrives within d.
func (rc *receiver) none(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case r := <-rc.ch:
		t.Fatalf("unexpected notification: %s", r.body)
	case <-time.After(d):
	}
}

// open verifies and decrypts a received notification with the package's own
// wechatpay code (the SDK does the same in the acceptance test).
func (e *env) open(t *testing.T, r received, into any) wechatpay.Notification {
	t.Helper()
	v := &wechatpay.Verifier{Keys: e.sim.resolver()}
	if err := v.Verify(context.Background(), wechatpay.HeadersFrom(r.header), r.body); err != nil {
		t.Fatalf("notification signature: %v", err)
	}
	var n wechatpay.Notification
	if err := json.Unmarshal(r.body, &n); err != nil {
		t.Fatal(err)
	}
	aead, err := wechatpay.NewAEAD(e.id.APIv3Key)
	if err != nil {
		t.Fatal(err)
	}
	pt, err := aead.Open(n.Resource.Nonce, n.Resource.AssociatedData, n.Resource.Ciphertext)
	if err != nil {
		t.Fatal(err)
	}
	if into != nil {
		if err := json.Unmarshal(pt, into); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

// nativeOrder is a valid direct Native prepay body.
func (e *env) nativeOrder(no string, total int64, notifyURL string) wechatpay.PrepayRequest {
	return wechatpay.PrepayRequest{
		AppID: e.id.AppID, MchID: e.id.MchID, Description: "测试商品", OutTradeNo: no,
		NotifyURL: notifyURL, Amount: wechatpay.Amount{Total: total, Currency: "CNY"},
	}
}

// placeNative places a Native order and fails the test unless it is accepted.
func (e *env) placeNative(no string, total int64, notifyURL string) wechatpay.PrepayResponse {
	e.t.Helper()
	r := e.call("POST", "/v3/pay/transactions/native", e.nativeOrder(no, total, notifyURL))
	if r.status != 200 || r.sigErr != nil {
		e.t.Fatalf("prepay %s: %d %s (signature: %v)", no, r.status, r.body, r.sigErr)
	}
	var p wechatpay.PrepayResponse
	_ = json.Unmarshal(r.body, &p)
	return p
}
