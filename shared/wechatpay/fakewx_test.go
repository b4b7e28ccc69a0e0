package wechatpay

import (
	"context"
	"crypto/rsa"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// reply is what the fake WeChat Pay answers to one request.
type reply struct {
	status   int
	body     string
	unsigned bool          // no Wechatpay-* headers
	badSig   bool          // signed, but over other bytes
	delay    time.Duration // before answering (respects the request context)
	header   http.Header
}

type seenRequest struct {
	method, target string
	body           []byte
	header         http.Header
}

// fakeWX plays WeChat Pay: it checks every request's merchant signature (answering
// 401 SIGN_ERROR like the real one when it fails) and signs answers with the platform
// key.
type fakeWX struct {
	t      testing.TB
	srv    *httptest.Server
	signer *PlatformSigner
	mchPub *rsa.PublicKey

	mu    sync.Mutex
	route func(r *http.Request, body []byte) reply
	seen  []seenRequest
}

func newFakeWX(t testing.TB, route func(r *http.Request, body []byte) reply) *fakeWX {
	t.Helper()
	f := &fakeWX{t: t, route: route, mchPub: &merchantKey(t).PublicKey,
		signer: &PlatformSigner{Serial: fixturePlatformSer, Key: platformKey(t)}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeWX) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.seen = append(f.seen, seenRequest{method: r.Method, target: r.URL.RequestURI(), body: body, header: r.Header.Clone()})
	route := f.route
	f.mu.Unlock()

	a, err := ParseAuthorization(r.Header.Get("Authorization"))
	if err == nil {
		err = VerifyMessage(f.mchPub, RequestMessage(r.Method, r.URL.RequestURI(), a.Timestamp, a.Nonce, body), a.Signature)
	}
	rp := reply{status: 401, body: `{"code":"SIGN_ERROR","message":"签名错误"}`}
	if err == nil {
		rp = route(r, body)
	}
	if rp.delay > 0 {
		select {
		case <-time.After(rp.delay):
		case <-r.Context().Done():
			return
		}
	}
	for k, v := range rp.header {
		w.Header()[k] = v
	}
	w.Header().Set(HeaderRequestID, "REQ-"+r.URL.Path)
	if !rp.unsigned {
		signed := []byte(rp.body)
		if rp.badSig {
			signed = append(signed, ' ')
		}
		h, err := f.signer.Sign(signed)
		if err != nil {
			f.t.Error(err)
		}
		h.Apply(w.Header())
	}
	if rp.body != "" {
		w.Header().Set("Content-Type", "application/json")
	}
	if rp.status == 0 {
		rp.status = 200
	}
	w.WriteHeader(rp.status)
	io.WriteString(w, rp.body)
}

func (f *fakeWX) requests() []seenRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seenRequest(nil), f.seen...)
}

func (f *fakeWX) setRoute(route func(r *http.Request, body []byte) reply) {
	f.mu.Lock()
	f.route = route
	f.mu.Unlock()
}

// client returns a direct-mode client of the fake, verifying with the fixture
// platform key and recording back-off sleeps instead of sleeping.
func (f *fakeWX) client() (*Client, *[]time.Duration) {
	var mu sync.Mutex
	sleeps := new([]time.Duration)
	c := &Client{
		BaseURL:  f.srv.URL,
		Signer:   &Signer{MchID: fixtureMchID, Serial: fixtureMerchantSer, Key: merchantKey(f.t)},
		Verifier: &Verifier{Keys: StaticKeys{fixturePlatformSer: &platformKey(f.t).PublicKey}},
		MchID:    fixtureMchID,
		AppID:    "wxd678efh567hg6787",
		Sleep: func(ctx context.Context, d time.Duration) error {
			mu.Lock()
			*sleeps = append(*sleeps, d)
			mu.Unlock()
			return ctx.Err()
		},
		NotifyURLOptions: NotifyURLOptions{AllowLoopback: true},
	}
	return c, sleeps
}
