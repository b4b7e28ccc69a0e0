package billfetch

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paysls/wxpay/functions/notify"
	"github.com/paysls/wxpay/internal/paysim"
	"github.com/paysls/wxpay/internal/s3test"
	"github.com/paysls/wxpay/internal/storetest"
	"github.com/paysls/wxpay/internal/testenv"
	"github.com/paysls/wxpay/shared/clock"
	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/events"
	"github.com/paysls/wxpay/shared/keysdir"
	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/store"
	"github.com/paysls/wxpay/shared/store/billstore"
	"github.com/paysls/wxpay/shared/wechatpay"
)

var (
	s3srv      *s3test.Server
	s3errStart error
	s3once     sync.Once
)

// s3server starts moto on first use (only the S3 test needs it).
func s3server(t *testing.T) *s3test.Server {
	t.Helper()
	s3once.Do(func() { s3srv, s3errStart = s3test.Start() })
	s3test.Need(t, s3errStart)
	return s3srv
}

func TestMain(m *testing.M) {
	code := m.Run()
	if s3srv != nil {
		s3srv.Kill()
	}
	os.Exit(code)
}

// day is the simulated business day whose bill the tests fetch.
var day = time.Date(2026, 3, 10, 0, 0, 0, 0, clock.CST)

const dayStr = "2026-03-10"

// env is a simulated WeChat Pay (real signatures, httptest), the notify function
// receiving its notifications into a bbolt store, and the job under test.
type env struct {
	t      *testing.T
	id     *keysdir.Identity
	cfg    config.Config
	clock  *testenv.Clock
	sim    *paysim.Simulator
	srv    *httptest.Server
	notify *httptest.Server
	// notified tells when notify has accepted a notification (applied it).
	notified *testenv.Notified
	st       *storetest.Counting
	bills    billstore.Store
	client   *wechatpay.Client // the merchant's, for placing orders and refunds
	owner    string            // the merchant owning the orders (sub_mchid in partner mode)
	metrics  *bytes.Buffer
	logs     *bytes.Buffer

	// tamper, when set, rewrites bill downloads; applications counts bill applications.
	tamper       func([]byte) []byte
	applications atomic.Int64
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, metrics: &bytes.Buffer{}, logs: &bytes.Buffer{}}
	w := testenv.New(t, testenv.Options{Start: day.Add(9 * time.Hour), WrapV3: func(sim http.Handler) http.Handler {
		return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) { e.serveSim(sim, rw, r) })
	}})
	e.id, e.owner, e.clock, e.sim, e.srv, e.cfg = w.ID, w.ID.MchID, w.Clock, w.Sim, w.Server, w.Config
	id, cfg, db := w.ID, w.Config, w.Store
	e.st = &storetest.Counting{Store: db}
	nh, err := notify.New(cfg, db, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	// One business clock for every function, as under `wxpay serve`.
	nh.Ledger.Now = e.clock.Now
	if nh.Deliverer != nil {
		nh.Deliverer.Now = e.clock.Now
	}
	e.notified = testenv.NotifiedBy(nh)
	e.notify = httptest.NewServer(e.notified)
	e.bills, err = billstore.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e.client = &wechatpay.Client{BaseURL: e.srv.URL, Signer: id.MerchantSigner(),
		Verifier: &wechatpay.Verifier{Keys: id.PlatformKeys()}, MchID: id.MchID, AppID: id.AppID,
		NotifyURLOptions: wechatpay.NotifyURLOptions{AllowLoopback: true}}
	t.Cleanup(e.notify.Close)
	return e
}

// serveSim stands in front of the simulator's /v3/: it counts bill applications and
// lets a test tamper with bill downloads.
func (e *env) serveSim(sim http.Handler, w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/v3/bill/tradebill", "/v3/bill/fundflowbill":
		e.applications.Add(1)
	case "/v3/billdownload/file":
		if e.tamper != nil {
			rec := httptest.NewRecorder()
			sim.ServeHTTP(rec, r)
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			body := rec.Body.Bytes()
			if rec.Code == http.StatusOK {
				body = e.tamper(body)
				w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			}
			w.WriteHeader(rec.Code)
			w.Write(body)
			return
		}
	}
	sim.ServeHTTP(w, r)
}

// partner switches the env to partner mode: the identity is the service provider,
// orders belong to sub-merchant sub.
func (e *env) partner(sub string) {
	e.owner = sub
	e.cfg.Bundle.Partner, e.cfg.Bundle.SubMchID = true, sub
	e.client = (&wechatpay.Client{BaseURL: e.srv.URL, Signer: e.id.MerchantSigner(),
		Verifier: &wechatpay.Verifier{Keys: e.id.PlatformKeys()}, SpMchID: e.id.MchID, SpAppID: e.id.AppID,
		NotifyURLOptions: wechatpay.NotifyURLOptions{AllowLoopback: true}}).ForSub(sub, "")
}

// job builds the job under test on the env's store and bill store.
func (e *env) job() *Job {
	e.t.Helper()
	j, err := New(e.cfg, e.st, Options{Now: e.clock.Now, Bills: e.bills, Metrics: e.metrics, TempDir: e.t.TempDir(),
		Logger: slog.New(slog.NewJSONHandler(e.logs, nil))})
	if err != nil {
		e.t.Fatal(err)
	}
	return j
}

// order writes "our" order as functions/createorder will, then places it at the
// simulated WeChat Pay.
func (e *env) order(no string, amount int64) {
	e.t.Helper()
	e.ourOrder(no, amount, nil)
	e.prepay(no, amount)
}

// ourOrder writes an order record as createorder would: NOTPAY, pending a query. It is
// written in the flat shape of records from before the typed ledger, which the ledger
// still reads, so a test can tamper with it (override) — tests only: no code outside
// the ledger writes an order.
func (e *env) ourOrder(no string, amount int64, override map[string]string) {
	e.t.Helper()
	attrs := map[string]string{
		"state": wechatpay.TradeStateNotPay, "amount": strconv.FormatInt(amount, 10),
		"mchid": e.owner, "appid": e.id.AppID, "out_trade_no": no,
	}
	for k, v := range override {
		attrs[k] = v
	}
	_, err := e.st.Put(context.Background(), store.Record{Key: payment.OrderKey(e.owner, no), Attrs: attrs,
		Pending: payment.PendingOrders, PendingSince: e.clock.Now().Add(5 * time.Minute)}, store.Condition{Absent: true})
	if err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) prepay(no string, amount int64) {
	e.t.Helper()
	_, err := e.client.Prepay(context.Background(), wechatpay.SceneNative, wechatpay.PrepayRequest{
		Description: "billfetch test", OutTradeNo: no, NotifyURL: e.notify.URL + "/notify",
		Amount: wechatpay.Amount{Total: amount, Currency: "CNY"}})
	if err != nil {
		e.t.Fatal(err)
	}
}

// pay pays at the simulator; unless dropped, it waits for notify to apply it.
func (e *env) pay(no string, dropped bool) {
	e.t.Helper()
	if dropped {
		if err := e.sim.SetFaults(paysim.Faults{DropNext: 1}); err != nil {
			e.t.Fatal(err)
		}
	}
	_, nid, _, err := e.sim.Pay(no, paysim.PayRequest{})
	if err != nil {
		e.t.Fatal(err)
	}
	if !dropped {
		e.notified.Wait(e.t, nid)
		if st := statusOf(e.t, e.get(payment.OrderKey(e.owner, no))); st == wechatpay.TradeStateNotPay {
			e.t.Fatalf("notify accepted the payment of %s but the order is %s", no, st)
		}
	}
	e.clock.Advance(time.Minute)
}

// refund applies for a refund and settles it at the simulator with status; unless
// dropped, it waits for notify to record the result.
func (e *env) refund(no, refundNo string, amount, total int64, status string, dropped bool) {
	e.t.Helper()
	_, err := e.client.CreateRefund(context.Background(), wechatpay.RefundRequest{OutTradeNo: no, OutRefundNo: refundNo,
		NotifyURL: e.notify.URL + "/notify", Amount: wechatpay.RefundAmount{Refund: amount, Total: total, Currency: "CNY"}})
	if err != nil {
		e.t.Fatal(err)
	}
	if dropped {
		if err := e.sim.SetFaults(paysim.Faults{DropNext: 1}); err != nil {
			e.t.Fatal(err)
		}
	}
	_, nid, _, err := e.sim.SettleRefund(refundNo, status)
	if err != nil {
		e.t.Fatal(err)
	}
	if !dropped {
		e.notified.Wait(e.t, nid)
		if st := statusOf(e.t, e.get(payment.RefundKey(e.owner, refundNo))); st == "" {
			e.t.Fatalf("notify accepted refund %s but did not record its result", refundNo)
		}
	}
	e.clock.Advance(time.Minute)
}

// placeOnBillDay does what the ledger does when a payment or refund succeeds (records
// written by hand in a test skip the ledger): it lists the record on the bill day of
// at, keeping its outbox placement.
func (e *env) placeOnBillDay(key string, at time.Time) {
	e.t.Helper()
	rec := e.get(key)
	owner := strings.Split(key, "/")[1]
	set := map[string]string{events.AttrSchedIndex: payment.BillDayIndex(owner, at), events.AttrSchedAt: at.UTC().Format(time.RFC3339Nano)}
	attrs := map[string]string{}
	for k, v := range rec.Attrs {
		attrs[k] = v
	}
	for k, v := range set {
		attrs[k] = v
	}
	idx, since := events.Placement(attrs, func(idx string) bool { return strings.HasPrefix(idx, payment.BillDayPrefix) })
	if _, err := e.st.Update(context.Background(), key, store.Change{Set: set, Pending: &idx, PendingSince: since}, store.Condition{Version: rec.Version}); err != nil {
		e.t.Fatal(err)
	}
}

// legacy replaces a record by one in the flat shape of records from before the typed
// ledger (which it still reads): a test's way to make the store disagree with WeChat
// Pay.
func (e *env) legacy(key string, attrs map[string]string) {
	e.t.Helper()
	if _, err := e.st.Put(context.Background(), store.Record{Key: key, Attrs: attrs}, store.Condition{}); err != nil {
		e.t.Fatal(err)
	}
}

// statusOf is a record's state as the API shows it.
func statusOf(t testing.TB, rec store.Record) string {
	t.Helper()
	if strings.HasPrefix(rec.Key, "refund/") {
		r, err := payment.RefundOf(rec)
		if err != nil {
			t.Fatal(err)
		}
		return r.Status()
	}
	o, err := payment.OrderOf(rec)
	if err != nil {
		t.Fatal(err)
	}
	return o.Status()
}

func orderOf(t testing.TB, rec store.Record) *payment.Order {
	t.Helper()
	o, err := payment.OrderOf(rec)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func (e *env) get(key string) store.Record {
	e.t.Helper()
	rec, err := e.st.Get(context.Background(), key)
	if err != nil {
		e.t.Fatalf("%s: %v", key, err)
	}
	return rec
}

// nextMorning moves the calendar to 10:30 the day after day.
func (e *env) nextMorning() { e.clock.Set(day.AddDate(0, 0, 1).Add(10*time.Hour + 30*time.Minute)) }

// bills splits a run's report into the trade and fund-flow bill reports.
func bills(t *testing.T, rep map[string]any) (trade, fund *BillReport) {
	t.Helper()
	for _, b := range rep["bills"].([]*BillReport) {
		switch b.Type {
		case TypeTrade:
			trade = b
		case TypeFundFlow:
			fund = b
		}
	}
	if trade == nil || fund == nil {
		t.Fatalf("report lacks a bill: %+v", rep)
	}
	return trade, fund
}

func dump(v any) string { b, _ := json.MarshalIndent(v, "", "  "); return string(b) }

var _ = io.Discard
