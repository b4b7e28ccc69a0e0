package orderapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/paysls/wxpay/functions/createorder"
	"github.com/paysls/wxpay/functions/notify"
	"github.com/paysls/wxpay/internal/keysdirtest"
	"github.com/paysls/wxpay/internal/paysim"
	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/orderapi"
	"github.com/paysls/wxpay/shared/store/boltstore"
	"github.com/paysls/wxpay/shared/wechatpay"
)

const token = "orderapi-test-token-0123456789abcdef"

// bundle is createorder and notify on one test server, with the simulator as WeChat Pay.
type bundle struct {
	sim *paysim.Simulator
	srv *httptest.Server
	h   *createorder.Handler
}

func newBundle(t *testing.T) *bundle {
	t.Helper()
	id, dir := keysdirtest.Dir(t)
	cfg, err := config.FromKeysDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "wxpay.db"))
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.NewJSONHandler(io.Discard, nil))
	sim, err := paysim.New(paysim.Config{Identity: id, RetryScale: 0.001, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(func() { sim.Close(); srv.Close(); st.Close() })
	mux.Handle("/v3/", sim)
	cfg.APIBase = srv.URL
	cfg.NotifyURL = srv.URL + "/notify"
	cfg.Bundle.APIToken = config.NewSecret([]byte(token))
	nh, err := notify.New(cfg, st, quiet)
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("/notify", nh)
	h, err := createorder.New(cfg, st, createorder.Options{Logger: quiet, Simulator: true, Now: sim.Clock().Now})
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("/orders", h)
	mux.Handle("/orders/", h)
	return &bundle{sim: sim, srv: srv, h: h}
}

// TestClient drives an order's life through the typed client, in process and over
// HTTP: create, replay, pay, read, refund, and the API's errors.
func TestClient(t *testing.T) {
	b := newBundle(t)
	for _, tc := range []struct {
		name string
		c    *orderapi.Client
	}{
		{"in-process", orderapi.InProcess(b.h, token)},
		{"http", orderapi.New(b.srv.URL+"/", token, nil)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			c := tc.c
			id := "oa" + strings.ReplaceAll(tc.name, "-", "") + "0001"
			req := orderapi.CreateRequest{OrderID: id, Amount: 800, Description: "orderapi test", Scene: orderapi.SceneNative}
			a, err := c.Create(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			var np orderapi.NativePay
			if err := a.DecodePay(&np); err != nil {
				t.Fatal(err)
			}
			if a.Replayed || a.OutTradeNo != id || a.State != "NOTPAY" || a.Amount != 800 || !strings.HasPrefix(np.CodeURL, "weixin://wxpay/bizpayurl?pr=") || !strings.HasPrefix(np.QRPNG, "data:image/png;base64,") {
				t.Fatalf("create answered %+v (pay %+v)", a, np)
			}
			again, err := c.Create(ctx, req)
			if err != nil || !again.Replayed || again.OutTradeNo != id {
				t.Fatalf("replay: %+v, %v", again, err)
			}

			if _, _, _, err := b.sim.Pay(id, paysim.PayRequest{}); err != nil {
				t.Fatal(err)
			}
			var v *orderapi.OrderView
			for range 100 { // the notification arrives in milliseconds (RetryScale)
				if v, err = c.Order(ctx, id, ""); err != nil {
					t.Fatal(err)
				}
				if v.State == wechatpay.TradeStateSuccess {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			if v.State != wechatpay.TradeStateSuccess || v.TransactionID == "" || v.Amount != 800 || v.Attempts != 1 {
				t.Fatalf("order after payment: %+v", v)
			}

			rf, err := c.Refund(ctx, id, "", orderapi.RefundRequest{OutRefundNo: id + "R1", Amount: 300, Reason: "test"})
			if err != nil {
				t.Fatal(err)
			}
			if rf.OutRefundNo != id+"R1" || rf.OutTradeNo != id || rf.Amount != 300 || rf.State != wechatpay.RefundStatusProcessing {
				t.Fatalf("refund answered %+v", rf)
			}
			if got, err := c.RefundStatus(ctx, id, "", id+"R1"); err != nil || got.Amount != 300 {
				t.Fatalf("refund status: %+v, %v", got, err)
			}

			_, err = c.Refund(ctx, id, "", orderapi.RefundRequest{OutRefundNo: id + "R2", Amount: 600})
			var e *orderapi.Error
			if !errors.As(err, &e) || e.Status != http.StatusConflict || e.Code != "REFUND_EXCEEDS_REMAINDER" || e.Hint == "" {
				t.Fatalf("over-refund: %v", err)
			}
			if _, err := c.Close(ctx, id, ""); !orderapi.IsCode(err, wechatpay.CodeOrderPaid) {
				t.Fatalf("close of a paid order: %v", err)
			}
			if _, err := c.Order(ctx, "no-such-order", ""); !orderapi.IsCode(err, "ORDER_NOT_FOUND") {
				t.Fatalf("unknown order: %v", err)
			}
		})
	}
	_, err := orderapi.InProcess(b.h, "wrong-token").Order(context.Background(), "whatever1", "")
	var e *orderapi.Error
	if !errors.As(err, &e) || e.Status != http.StatusUnauthorized || e.Code != "UNAUTHORIZED" {
		t.Fatalf("wrong token: %v", err)
	}
}

// TestCloseScheduled: a young order's close is deferred (202) and says when; the
// close of an order over 5 minutes old is done at once.
func TestCloseScheduled(t *testing.T) {
	b := newBundle(t)
	c := orderapi.InProcess(b.h, token)
	ctx := context.Background()
	if _, err := c.Create(ctx, orderapi.CreateRequest{OrderID: "oaclose0001", Amount: 100, Description: "close", Scene: orderapi.SceneH5}); err != nil {
		t.Fatal(err)
	}
	a, err := c.Close(ctx, "oaclose0001", "")
	if err != nil || a.Close != "scheduled" || a.CloseAt == "" || a.OutTradeNo != "oaclose0001" {
		t.Fatalf("close: %+v, %v", a, err)
	}
	if _, err := c.Create(ctx, orderapi.CreateRequest{OrderID: "oaclose0002", Amount: 100, Description: "close", Scene: orderapi.SceneApp}); err != nil {
		t.Fatal(err)
	}
	b.sim.Clock().Advance(6 * time.Minute)
	a, err = c.Close(ctx, "oaclose0002", "")
	if err != nil || a.Close != "done" || a.State != wechatpay.TradeStateClosed {
		t.Fatalf("close after 6 minutes: %+v, %v", a, err)
	}
}

// TestNotJSONError: an error page that is not the API's JSON keeps its status.
func TestNotJSONError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "<html>bad gateway</html>", http.StatusBadGateway)
	}))
	defer srv.Close()
	_, err := orderapi.New(srv.URL, token, nil).Order(context.Background(), "oa000001", "")
	var e *orderapi.Error
	if !errors.As(err, &e) || e.Status != http.StatusBadGateway || e.Code != "HTTP_502" || !strings.Contains(e.Message, "bad gateway") {
		t.Fatalf("got %v", err)
	}
}

func TestFenStrict(t *testing.T) {
	for _, ok := range []string{"100", " 1 ", "-5"} {
		var f orderapi.Fen
		if err := json.Unmarshal([]byte(ok), &f); err != nil {
			t.Errorf("%s refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"1.5", "1e2", `"100"`, "null", "99999999999999999999"} {
		var r orderapi.RefundRequest
		err := json.Unmarshal([]byte(`{"amount":`+bad+`}`), &r)
		var ae *orderapi.AmountError
		if !errors.As(err, &ae) {
			t.Errorf("%s: got %v, want an *AmountError", bad, err)
		}
	}
}

// TestOnBehalfOf: an in-process call made for a user's request is seen by the API as
// coming from that user's peer (RemoteAddr and X-Forwarded-For, for its client-IP rule);
// without it, from 127.0.0.1 with no forwarding header, whatever the caller's context
// held before.
func TestOnBehalfOf(t *testing.T) {
	var seen *http.Request
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = r
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"order_id":"oa00000001","state":"NOTPAY","refunds":[]}`)
	})
	c := orderapi.InProcess(h, token)
	user := httptest.NewRequest(http.MethodGet, "/pay/oa00000001", nil)
	user.RemoteAddr = "10.0.0.7:4431"
	user.Header.Add("X-Forwarded-For", "203.0.113.9, 10.0.0.3")
	if _, err := c.Order(orderapi.OnBehalfOf(context.Background(), user), "oa00000001", ""); err != nil {
		t.Fatal(err)
	}
	if seen.RemoteAddr != "10.0.0.7:4431" || seen.Header.Get("X-Forwarded-For") != "203.0.113.9, 10.0.0.3" || seen.Header.Get("Authorization") != "Bearer "+token {
		t.Fatalf("on behalf of the user the API saw %s, XFF %q", seen.RemoteAddr, seen.Header.Get("X-Forwarded-For"))
	}
	if _, err := c.Order(context.Background(), "oa00000001", ""); err != nil {
		t.Fatal(err)
	}
	if seen.RemoteAddr != "127.0.0.1:1" || len(seen.Header.Values("X-Forwarded-For")) != 0 {
		t.Fatalf("a plain in-process call came from %s, XFF %q", seen.RemoteAddr, seen.Header.Values("X-Forwarded-For"))
	}
}

// A rate reads and writes as the fraction a merchant sends, exactly, whatever its
// decimals: the view of a plan shows 0.05, not the ledger's 500.
func TestRatioIsAFractionInJSON(t *testing.T) {
	for _, c := range []struct {
		r    orderapi.Ratio
		json string
	}{{500, "0.05"}, {10000, "1"}, {3000, "0.3"}, {1, "0.0001"}, {1234, "0.1234"}, {0, "0"}} {
		b, err := json.Marshal(c.r)
		if err != nil || string(b) != c.json {
			t.Errorf("Marshal(%d) = %s %v, want %s", c.r, b, err, c.json)
		}
		var back orderapi.Ratio
		if err := json.Unmarshal(b, &back); err != nil || back != c.r {
			t.Errorf("Unmarshal(%s) = %d %v, want %d", b, back, err, c.r)
		}
	}
	for _, bad := range []string{`0.00001`, `"0.05"`, `1e-2`, `.5`} {
		var r orderapi.Ratio
		if err := json.Unmarshal([]byte(bad), &r); err == nil {
			t.Errorf("Unmarshal(%s) = %d, want an error", bad, r)
		}
	}
}
