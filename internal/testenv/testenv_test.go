package testenv_test

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paysls/wxpay/internal/paysim"
	"github.com/paysls/wxpay/internal/testenv"
	"github.com/paysls/wxpay/shared/clock"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// The World's simulator is on the World's clock, its configuration reaches it with
// real signatures, WrapV3 sees WeChat Pay's API, and Notified tells accepted
// notifications from refused ones.
func TestWorld(t *testing.T) {
	start := time.Date(2026, 3, 10, 9, 0, 0, 0, clock.CST)
	var v3 atomic.Int64
	w := testenv.New(t, testenv.Options{Start: start, WrapV3: func(sim http.Handler) http.Handler {
		return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) { v3.Add(1); sim.ServeHTTP(rw, r) })
	}})
	refuse := atomic.Bool{}
	refused := make(chan struct{}, 100)
	nt := testenv.NotifiedBy(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if refuse.Load() {
			rw.WriteHeader(http.StatusInternalServerError)
			refused <- struct{}{}
			return
		}
		rw.WriteHeader(http.StatusNoContent)
	}))
	w.Mux.Handle("/notify", nt)

	cfg := w.Config
	c := &wechatpay.Client{BaseURL: cfg.APIBase, Signer: w.ID.MerchantSigner(), Verifier: &wechatpay.Verifier{Keys: w.ID.PlatformKeys()},
		MchID: w.ID.MchID, AppID: w.ID.AppID, NotifyURLOptions: wechatpay.NotifyURLOptions{AllowLoopback: true}}
	ctx := context.Background()
	place := func(no string) {
		t.Helper()
		if _, err := c.Prepay(ctx, wechatpay.SceneNative, wechatpay.PrepayRequest{Description: "testenv", OutTradeNo: no,
			NotifyURL: w.Server.URL + "/notify", Amount: wechatpay.Amount{Total: 100, Currency: "CNY"}}); err != nil {
			t.Fatal(err)
		}
	}
	place("WORLD00001")
	if v3.Load() != 1 {
		t.Fatalf("WrapV3 saw %d calls, want 1", v3.Load())
	}
	w.Clock.Advance(90 * time.Second)
	tx, nid, _, err := w.Sim.Pay("WORLD00001", paysim.PayRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if want := wechatpay.FormatTime(start.Add(90 * time.Second)); tx.SuccessTime != want {
		t.Fatalf("paid at %s, want %s: the simulator is not on the World's clock", tx.SuccessTime, want)
	}
	nt.Wait(t, nid)

	// Refused: never accepted, and the simulator keeps retrying.
	refuse.Store(true)
	place("WORLD00002")
	_, nid2, _, err := w.Sim.Pay("WORLD00002", paysim.PayRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 { // the first attempt and a retry, both refused
		select {
		case <-refused:
		case <-time.After(10 * time.Second):
			t.Fatalf("%d attempts of a refused notification, want a retry", i)
		}
	}
	if nt.Accepted(nid2) {
		t.Fatal("a notification answered 500 counts as accepted")
	}
	refuse.Store(false)
	nt.Wait(t, nid2) // a retry is accepted
}
