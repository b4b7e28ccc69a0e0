package trigger

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/paysls/wxpay/internal/keysdirtest"
	"github.com/paysls/wxpay/shared/keysdir"
	"github.com/paysls/wxpay/shared/wechatpay"
)

func identity(t *testing.T) *keysdir.Identity { return keysdirtest.Identity(t) }

func sender(t *testing.T, mode string) *Sender {
	t.Helper()
	s, err := NewSender(identity(t), mode)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// received is one notification as a correct merchant endpoint saw it.
type received struct {
	Headers   wechatpay.SignatureHeaders
	Body      []byte
	Envelope  wechatpay.Notification
	Plaintext []byte
}

// endpoint is a merchant notify handler built only from the wechatpay package, the
// way the real one is: verify the raw body, then decrypt. It acknowledges with 204.
type endpoint struct {
	id  *keysdir.Identity
	mu  sync.Mutex
	got []received
	// answer overrides the status for the n-th (1-based) verified delivery.
	answer func(n int) int
}

func (e *endpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h := wechatpay.HeadersFrom(r.Header)
	v := wechatpay.Verifier{Keys: e.id.PlatformKeys()}
	if err := v.Verify(context.Background(), h, body); err != nil {
		refuse(w, http.StatusUnauthorized, err.Error())
		return
	}
	var n wechatpay.Notification
	if err := json.Unmarshal(body, &n); err != nil {
		refuse(w, http.StatusBadRequest, err.Error())
		return
	}
	aead, err := wechatpay.NewAEAD(e.id.APIv3Key)
	if err != nil {
		refuse(w, http.StatusInternalServerError, err.Error())
		return
	}
	pt, err := aead.Open(n.Resource.Nonce, n.Resource.AssociatedData, n.Resource.Ciphertext)
	if err != nil {
		refuse(w, http.StatusBadRequest, err.Error())
		return
	}
	e.mu.Lock()
	e.got = append(e.got, received{Headers: h, Body: body, Envelope: n, Plaintext: pt})
	count := len(e.got)
	e.mu.Unlock()
	status := http.StatusNoContent
	if e.answer != nil {
		status = e.answer(count)
	}
	w.WriteHeader(status)
}

func refuse(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(wechatpay.NotifyAck{Code: "FAIL", Message: msg})
}

func (e *endpoint) received() []received {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]received(nil), e.got...)
}

func newEndpoint(t *testing.T) (*endpoint, *httptest.Server) {
	t.Helper()
	e := &endpoint{id: identity(t)}
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return e, srv
}

// fixed answers every request with status and body, verifying nothing.
func fixed(t *testing.T, status int, body string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}
