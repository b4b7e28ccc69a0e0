package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/wechatpay"
)

func (f *serveFixture) token(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(f.keys, apiTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// The scheduled functions through `wxpay serve`: a payment whose notification the
// simulator dropped is settled by POST /jobs/reconcile once the virtual clock has moved
// past its first check; an unpaid order expires on the virtual clock and is closed;
// the jobs API refuses strangers and says what is wrong with bad input.
func TestServeJobsFollowTheVirtualClock(t *testing.T) {
	f := startServe(t, "")
	tok := f.token(t)
	ledger := &payment.Ledger{Store: f.b.store, Now: f.b.clock()}
	ctx := context.Background()
	if code, body := f.do(t, http.MethodPost, "/sim/faults", "", map[string]any{"drop_all": true}); code != http.StatusOK {
		t.Fatalf("faults: %d %s", code, body)
	}
	place := func(no string, life time.Duration) string {
		exp := f.b.clock()().Add(life)
		if _, err := ledger.CreateOrder(ctx, payment.NewOrder{MchID: f.b.id.MchID, AppID: f.b.id.AppID, OutTradeNo: no, OrderID: no, Amount: 100, Scene: "native", ExpiresAt: exp}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.client.Prepay(ctx, wechatpay.SceneNative, wechatpay.PrepayRequest{Description: "jobs", OutTradeNo: no, NotifyURL: f.srv.URL + "/notify",
			TimeExpire: wechatpay.FormatTime(exp), Amount: wechatpay.Amount{Total: 100, Currency: "CNY"}}); err != nil {
			t.Fatal(err)
		}
		return payment.OrderKey(f.b.id.MchID, no)
	}
	paid := place("JOBPAID00001", 2*time.Hour)
	unpaid := place("JOBEXPIRE001", 30*time.Minute)
	if code, body := f.do(t, http.MethodPost, "/sim/orders/JOBPAID00001/pay", "", nil); code != http.StatusOK {
		t.Fatalf("pay: %d %s", code, body)
	}
	if code, _ := f.do(t, http.MethodPost, "/jobs/reconcile", "", nil); code != http.StatusUnauthorized {
		t.Fatalf("jobs without a token: %d", code)
	}
	if code, body := f.do(t, http.MethodPost, "/jobs/nope", tok, nil); code != http.StatusNotFound || !strings.Contains(string(body), "reconcile") {
		t.Fatalf("unknown job: %d %s", code, body)
	}
	if code, body := f.do(t, http.MethodPost, "/jobs/billfetch?date=yesterday", tok, nil); code != http.StatusBadRequest {
		t.Fatalf("bad date: %d %s", code, body)
	}
	run := func() map[string]any {
		code, body := f.do(t, http.MethodPost, "/jobs/reconcile", tok, nil)
		var rep map[string]any
		if code != http.StatusOK || json.Unmarshal(body, &rep) != nil {
			t.Fatalf("reconcile: %d %s", code, body)
		}
		return rep
	}
	if rep := run(); rep["examined"] != float64(0) {
		t.Fatalf("nothing is due yet, report %v", rep)
	}
	if code, body := f.do(t, http.MethodPost, "/sim/clock", "", map[string]string{"advance": "2m"}); code != http.StatusOK {
		t.Fatalf("clock: %d %s", code, body)
	}
	if rep := run(); rep["settled"] != float64(1) {
		t.Fatalf("report %v", rep)
	}
	state := func(key string) string {
		rec, err := f.b.store.Get(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		return stateOf(rec)
	}
	if state(paid) != wechatpay.TradeStateSuccess {
		t.Fatalf("paid order is %s", state(paid))
	}
	if code, body := f.do(t, http.MethodPost, "/sim/clock", "", map[string]string{"advance": "40m"}); code != http.StatusOK {
		t.Fatalf("clock: %d %s", code, body)
	}
	if rep := run(); rep["closed"] != float64(1) || state(unpaid) != wechatpay.TradeStateClosed {
		t.Fatalf("report %v, unpaid order %s", rep, state(unpaid))
	}
	code, body := f.do(t, http.MethodPost, "/jobs/billfetch", tok, nil)
	if code != http.StatusOK || !strings.Contains(string(body), "trade") {
		t.Fatalf("billfetch: %d %s", code, body)
	}
}
