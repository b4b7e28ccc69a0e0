package paysim

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/paysls/wxpay/shared/clock"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// TestClockMovesTheCalendar: POST /sim/clock moves order expiry, the 5-minute close
// rule and the bill download link's lifetime, while signatures stay on real time.
func TestClockMovesTheCalendar(t *testing.T) {
	e := newEnv(t, Config{})
	if v := e.advance("0s"); v.Offset != "0s" || v.OffsetSeconds != 0 {
		t.Fatalf("fresh clock: %+v", v)
	}
	e.placeNative("CLOCK0000001", 100, "https://merchant.example.com/pay/notify")
	p := e.nativeOrder("CLOCK0000002", 100, "https://merchant.example.com/pay/notify")
	p.TimeExpire = rfc3339CST(e.sim.now().Add(10 * time.Minute))
	if r := e.call("POST", "/v3/pay/transactions/native", p); r.status != 200 {
		t.Fatal(r.status, string(r.body))
	}
	closeBody := map[string]string{"mchid": e.id.MchID}
	if r := e.call("POST", "/v3/pay/transactions/out-trade-no/CLOCK0000001/close", closeBody); r.status != http.StatusForbidden || r.errorBody(t).Code != "RULELIMIT" {
		t.Fatalf("close at once: %d %s", r.status, r.body)
	}

	v := e.advance("5m1s")
	if v.Offset != "5m1s" || v.OffsetSeconds != 301 {
		t.Fatalf("after advance: %+v", v)
	}
	r := e.call("POST", "/v3/pay/transactions/out-trade-no/CLOCK0000001/close", closeBody)
	if r.status != http.StatusNoContent || r.sigErr != nil {
		t.Fatalf("close after 5 minutes of virtual time: %d %s %v", r.status, r.body, r.sigErr)
	}
	state := func(no string) string {
		var tx wechatpay.Transaction
		r := e.call("GET", "/v3/pay/transactions/out-trade-no/"+no+"?mchid="+e.id.MchID, nil)
		if r.sigErr != nil {
			t.Fatalf("signatures stay on the real clock: %v", r.sigErr)
		}
		_ = json.Unmarshal(r.body, &tx)
		return tx.TradeState
	}
	if s := state("CLOCK0000002"); s != "NOTPAY" {
		t.Fatalf("before time_expire: %s", s)
	}
	v = e.advance("5m")
	if s := state("CLOCK0000002"); s != "CLOSED" {
		t.Fatalf("after time_expire on the virtual clock: %s", s)
	}
	var got clockView
	if e.simCall("GET", "/sim/clock", nil, &got) != 200 || got.Offset != "10m1s" {
		t.Fatalf("GET /sim/clock: %+v", got)
	}
	now, err := time.Parse(time.RFC3339, got.Now)
	if err != nil || !strings.HasSuffix(got.Now, "+08:00") || now.Sub(e.clock.Now().Add(10*time.Minute+time.Second)).Abs() > 2*time.Second {
		t.Fatalf("now %q (%v), want the base clock + 10m1s", got.Now, err)
	}

	// Bills: yesterday's bill becomes available by moving the clock a day, and its
	// download link expires after 30 s of virtual time.
	rc := newReceiver(t, nil)
	e.placeNative("CLOCK0000003", 100, rc.url())
	e.simCall("POST", "/sim/orders/CLOCK0000003/pay", nil, nil)
	day := e.sim.now().In(clock.CST).Format("2006-01-02")
	if r := e.call("GET", "/v3/bill/tradebill?bill_date="+day, nil); r.errorBody(t).Code != "STATEMENT_CREATING" {
		t.Fatalf("same-day bill: %s", r.body)
	}
	e.advance("48h")
	r = e.call("GET", "/v3/bill/tradebill?bill_date="+day, nil)
	var br wechatpay.BillResponse
	if r.status != 200 || json.Unmarshal(r.body, &br) != nil {
		t.Fatalf("bill after two virtual days: %d %s", r.status, r.body)
	}
	u, _ := url.Parse(br.DownloadURL)
	e.advance("31s")
	if r := e.call("GET", u.RequestURI(), nil); r.status != 400 || !strings.Contains(r.errorBody(t).Message, "下载地址已过期") {
		t.Fatalf("download after 31 virtual seconds: %d %s", r.status, r.body)
	}
}

func TestClockRefusals(t *testing.T) {
	e := newEnv(t, Config{})
	cases := []struct{ body, want string }{
		{`{"advance":"-1h"}`, "negative"},
		{`{"advance":"2 hours"}`, "not a Go duration"},
		{`{"advance":"1d"}`, `"48h" for two days`},
		{`{}`, "advance is required"},
		{``, "advance is required"},
		{`{"advance":"1h","by":"2h"}`, `unknown field "by"`},
		{`{"advance":"1h"} {"advance":"1h"}`, "more after its JSON object"},
		{`{"advance":"100000h"}`, "ahead"},
	}
	for _, c := range cases {
		st, b := e.simRaw("POST", "/sim/clock", []byte(c.body))
		if st != http.StatusBadRequest || !strings.Contains(simErrorOf(t, b), c.want) {
			t.Errorf("%s: %d %s, want 400 mentioning %q", c.body, st, b, c.want)
		}
	}
	if off := e.sim.Clock().Offset(); off != 0 {
		t.Fatalf("a refused advance moved the clock by %v", off)
	}
}

// TestClockShared: with no base clock configured, Simulator.Clock().Now is exactly the
// simulated calendar, so `wxpay serve` can hand it to the functions; a clock given in
// Config is the one advanced.
func TestClockShared(t *testing.T) {
	vc := &clock.Virtual{}
	sim, err := New(Config{Identity: testIdentity(t), Clock: vc})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	if sim.Clock() != vc {
		t.Fatal("Clock() must return the configured clock")
	}
	if _, err := sim.advanceClock("2h"); err != nil {
		t.Fatal(err)
	}
	if vc.Offset() != 2*time.Hour {
		t.Fatalf("offset %v", vc.Offset())
	}
	if d := sim.now().Sub(vc.Now()).Abs(); d > time.Second {
		t.Fatalf("simulator calendar and shared clock differ by %v", d)
	}
	if d := sim.now().Sub(time.Now().Add(2 * time.Hour)).Abs(); d > time.Second {
		t.Fatalf("calendar is not the wall clock + 2h: off by %v", d)
	}
}
