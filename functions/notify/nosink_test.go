package notify_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paysls/wxpay/functions/notify"
	"github.com/paysls/wxpay/internal/keysdirtest"
	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/events"
	"github.com/paysls/wxpay/shared/store/boltstore"
)

type discardSink struct{}

func (discardSink) Send(context.Context, events.Event, []byte) error { return nil }

// Without a sink, notify says once that merchant events are recorded but not
// delivered — at its first request, not while it starts (the cold start's only log
// line on Lambda) — and with a sink it never says so.
func TestNoSinkIsSaidOnceAtTheFirstRequest(t *testing.T) {
	_, dir := keysdirtest.Dir(t)
	cfg, err := config.FromKeysDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	const notice = "merchant events are recorded but not delivered"
	for _, tc := range []struct {
		name string
		opts []notify.Option
		want int
	}{
		{"no sink", nil, 1},
		{"a sink", []notify.Option{notify.WithSink(discardSink{})}, 0},
	} {
		st, err := boltstore.Open(filepath.Join(t.TempDir(), "n.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		var logs bytes.Buffer
		h, err := notify.New(cfg, st, slog.New(slog.NewJSONHandler(&logs, nil)), tc.opts...)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(logs.String(), notice) {
			t.Errorf("%s: said at start: %s", tc.name, logs.String())
		}
		for range 2 {
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/notify", nil))
		}
		if got := strings.Count(logs.String(), notice); got != tc.want {
			t.Errorf("%s: said %d times after two requests, want %d:\n%s", tc.name, got, tc.want, logs.String())
		}
	}
}
