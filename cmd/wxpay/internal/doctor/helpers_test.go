package doctor

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/paysls/wxpay/cmd/wxpay/internal/trigger"
	"github.com/paysls/wxpay/internal/keysdirtest"
	"github.com/paysls/wxpay/shared/keysdir"
	"github.com/paysls/wxpay/shared/wechatpay"
)

func identity(t *testing.T) *keysdir.Identity { return keysdirtest.Identity(t) }

func sender(t *testing.T, mode string) *trigger.Sender {
	t.Helper()
	s, err := trigger.NewSender(identity(t), mode)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// newEndpoint is a merchant notify handler that verifies the signature over the raw
// body, as a correct one does, and acknowledges with 204.
func newEndpoint(t *testing.T) *httptest.Server {
	t.Helper()
	v := wechatpay.Verifier{Keys: identity(t).PlatformKeys()}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := v.Verify(context.Background(), wechatpay.HeadersFrom(r.Header), body); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	return srv
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
