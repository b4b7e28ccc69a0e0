package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/events"
	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/store"
	"github.com/paysls/wxpay/shared/webhook"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// verifySignature checks Wxpay-Signature as a merchant would (package webhook) and
// returns the signed event's id, the one to de-duplicate by.
func verifySignature(secret []byte, header string, body []byte) (id string, ok bool) {
	ev, err := webhook.Verify(body, header, 5*time.Minute, secret)
	return ev.ID, err == nil
}

// hookReceiver is a merchant's webhook: it refuses the first attempt of every
// failEvery-th event, checks every signature, and counts deliveries per event id.
type hookReceiver struct {
	t         *testing.T
	secret    func() []byte
	failEvery int
	mu        sync.Mutex
	seen      int
	attempts  map[string]int
	delivered map[string]int
	bodies    map[string]events.Event
	badSig    int
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	defer h.mu.Unlock()
	id, ok := verifySignature(h.secret(), r.Header.Get(events.HeaderSignature), body)
	if !ok {
		h.badSig++
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	h.attempts[id]++
	if h.attempts[id] == 1 {
		h.seen++
		if h.failEvery > 0 && h.seen%h.failEvery == 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
	}
	var ev events.Event
	if err := json.Unmarshal(body, &ev); err != nil || r.Header.Get(events.HeaderEventID) != id {
		h.t.Errorf("body %s does not carry event %s", body, id)
	}
	h.delivered[id]++
	h.bodies[id] = ev
	w.WriteHeader(http.StatusOK)
}

func (h *hookReceiver) snapshot() (delivered map[string]int, badSig int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[string]int, len(h.delivered))
	for k, v := range h.delivered {
		out[k] = v
	}
	return out, h.badSig
}

type serveFixture struct {
	b      *bundle
	srv    *httptest.Server
	keys   string
	client *wechatpay.Client
}

// startServe is `wxpay serve`'s mux on a loopback port, the simulator's API base being
// that port, as runServe sets it.
func startServe(t *testing.T, webhookURL string) *serveFixture {
	t.Helper()
	keys := filepath.Join(t.TempDir(), "sim")
	srv := httptest.NewUnstartedServer(nil)
	b, err := newBundle(context.Background(), serveOptions{keysDir: keys, mode: "cert", retryScale: 0.001,
		webhookURL: webhookURL, apiBase: "http://" + srv.Listener.Addr().String()}, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = b.handler
	srv.Start()
	t.Cleanup(func() { srv.Close(); b.Close() })
	client := &wechatpay.Client{BaseURL: srv.URL, Signer: b.id.MerchantSigner(),
		Verifier: &wechatpay.Verifier{Keys: b.id.PlatformKeys()}, MchID: b.id.MchID, AppID: b.id.AppID,
		NotifyURLOptions: wechatpay.NotifyURLOptions{AllowLoopback: true}}
	return &serveFixture{b: b, srv: srv, keys: keys, client: client}
}

func (f *serveFixture) do(t *testing.T, method, path, token string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, f.srv.URL+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	return res.StatusCode, out
}

func (f *serveFixture) order(t *testing.T, no string, amount int64) {
	t.Helper()
	if _, err := f.client.Prepay(context.Background(), wechatpay.SceneNative, wechatpay.PrepayRequest{
		Description: "events e2e", OutTradeNo: no, NotifyURL: f.srv.URL + "/notify",
		Amount: wechatpay.Amount{Total: amount, Currency: "CNY"}}); err != nil {
		t.Fatal(err)
	}
	if code, body := f.do(t, http.MethodPost, "/sim/orders/"+no+"/pay", "", nil); code != http.StatusOK {
		t.Fatalf("pay %s: %d %s", no, code, body)
	}
}

// Merchant events end to end through `wxpay serve`: the simulator delivers every
// payment twice and out of order, the merchant's webhook refuses some first attempts;
// every order.paid event reaches the webhook exactly once per id, signed with the keys
// dir's webhook_secret, and GET /events?undelivered=1 ends empty. Resend and the API's
// errors too.
func TestServeDeliversEventsExactlyOnce(t *testing.T) {
	rcv := &hookReceiver{t: t, failEvery: 3, attempts: map[string]int{}, delivered: map[string]int{}, bodies: map[string]events.Event{}}
	hook := httptest.NewServer(rcv)
	defer hook.Close()
	f := startServe(t, hook.URL)
	secretPath := filepath.Join(f.keys, config.FileWebhookSecret)
	st, err := os.Stat(secretPath)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("webhook_secret: %v, %v", st, err)
	}
	secret, _ := os.ReadFile(secretPath)
	rcv.secret = func() []byte { return bytes.TrimSpace(secret) }

	if code, body := f.do(t, http.MethodPost, "/sim/faults", "", map[string]any{"duplicate": true, "out_of_order": true}); code != http.StatusOK {
		t.Fatalf("faults: %d %s", code, body)
	}
	const n = 12
	for i := range n {
		f.order(t, fmt.Sprintf("EVT%07d", i), int64(100+i))
	}
	ctx := context.Background()
	deadline := time.Now().Add(30 * time.Second)
	var delivered map[string]int
	for {
		delivered, _ = rcv.snapshot()
		paid := 0
		for i := range n {
			if rec, err := f.b.store.Get(ctx, payment.OrderKey(f.b.id.MchID, fmt.Sprintf("EVT%07d", i))); err == nil && stateOf(rec) == wechatpay.TradeStateSuccess {
				paid++
			}
		}
		if paid == n && len(delivered) == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 30 s: %d of %d orders paid, %d events delivered", paid, n, len(delivered))
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(deliverEvery + 500*time.Millisecond) // one more timer run: it must send nothing again
	delivered, badSig := rcv.snapshot()
	if badSig != 0 {
		t.Fatalf("%d deliveries failed signature verification", badSig)
	}
	outTradeNos := map[string]bool{}
	for id, c := range delivered {
		if c != 1 {
			t.Errorf("event %s delivered %d times", id, c)
		}
		ev := rcv.bodies[id]
		var data payment.OrderEvent
		json.Unmarshal(ev.Data, &data)
		if ev.Type != events.OrderPaid || data.State != wechatpay.TradeStateSuccess {
			t.Errorf("event %s: %s %+v", id, ev.Type, data)
		}
		outTradeNos[data.OutTradeNo] = true
	}
	if len(outTradeNos) != n {
		t.Fatalf("events cover %d orders, want %d", len(outTradeNos), n)
	}
	rcv.mu.Lock()
	retried := 0
	for _, a := range rcv.attempts {
		if a > 1 {
			retried++
		}
	}
	rcv.mu.Unlock()
	if retried == 0 {
		t.Fatal("the webhook refused no first attempt: the retry path was not exercised")
	}

	// The events API: bearer token, undelivered listing, one event, resend, errors.
	token := f.b.token
	if code, _ := f.do(t, http.MethodGet, "/events?undelivered=1", "", nil); code != http.StatusUnauthorized {
		t.Fatalf("GET /events without token: %d", code)
	}
	code, body := f.do(t, http.MethodGet, "/events?undelivered=1", token, nil)
	var listing events.Listing
	if code != http.StatusOK || json.Unmarshal(body, &listing) != nil || len(listing.Events) != 0 {
		t.Fatalf("undelivered after delivery: %d %s", code, body)
	}
	var anyID string
	for id := range delivered {
		anyID = id
		break
	}
	code, body = f.do(t, http.MethodGet, "/events/"+anyID, token, nil)
	var view events.EventView
	if code != http.StatusOK || json.Unmarshal(body, &view) != nil || view.Delivery.State != "delivered" || view.ID != anyID {
		t.Fatalf("GET /events/{id}: %d %s", code, body)
	}
	code, body = f.do(t, http.MethodPost, "/events/"+anyID+"/resend", token, nil)
	if code != http.StatusAccepted {
		t.Fatalf("resend: %d %s", code, body)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if d, _ := rcv.snapshot(); d[anyID] == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a resent event did not reach the webhook again")
		}
	}
	key, _, _ := events.Locate(anyID)
	unknown := strings.Replace(anyID, anyID[4:8], "zzzz", 1)
	if _, _, err := events.Locate(unknown); err != nil || key == "" {
		t.Fatalf("test id %q: %v", unknown, err)
	}
	if code, body := f.do(t, http.MethodPost, "/events/"+unknown+"/resend", token, nil); code != http.StatusNotFound {
		t.Fatalf("resend of an unknown id: %d %s", code, body)
	}
	if code, body := f.do(t, http.MethodPost, "/events/not-an-event/resend", token, nil); code != http.StatusBadRequest {
		t.Fatalf("resend of a malformed id: %d %s", code, body)
	}
	if code, _ := f.do(t, http.MethodGet, "/events", token, nil); code != http.StatusBadRequest {
		t.Fatalf("GET /events without undelivered=1: %d", code)
	}
}

// Undelivered events are listed page by page with a cursor, with their delivery state,
// while the webhook is down.
func TestServeListsUndeliveredEventsWithACursor(t *testing.T) {
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusBadGateway) }))
	defer down.Close()
	f := startServe(t, down.URL)
	const n = 5
	for i := range n {
		f.order(t, fmt.Sprintf("UND%07d", i), 100)
	}
	ctx := context.Background()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		page, err := f.b.store.ListPending(ctx, events.IndexOutbox, store.ListOptions{Limit: 100})
		if err == nil && len(page.Records) == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("outbox never held %d records", n)
		}
	}
	seen := map[string]bool{}
	cursor := ""
	for pages := 0; ; pages++ {
		code, body := f.do(t, http.MethodGet, "/events?undelivered=1&limit=2&cursor="+cursor, f.b.token, nil)
		var l events.Listing
		if code != http.StatusOK || json.Unmarshal(body, &l) != nil {
			t.Fatalf("page %d: %d %s", pages, code, body)
		}
		for _, e := range l.Events {
			if e.Delivery.State != "pending" || e.Type != events.OrderPaid {
				t.Fatalf("listed event %+v", e)
			}
			seen[e.ID] = true
		}
		if l.NextCursor == "" {
			break
		}
		if pages > n {
			t.Fatal("the cursor never ends")
		}
		cursor = l.NextCursor
	}
	if len(seen) != n {
		t.Fatalf("listed %d distinct undelivered events, want %d", len(seen), n)
	}
}

// Defect 5: under `wxpay serve` the platform certificates come from the simulator on
// the same port. A rotated platform certificate is downloaded from it and the
// notification applied; a serial nobody knows is refused with a 401 that speaks of the
// notification, never of addresses, DNS or api.mch.weixin.qq.com.
func TestServeDownloadsCertificatesFromTheSimulator(t *testing.T) {
	f := startServe(t, "")
	if _, err := f.client.Prepay(context.Background(), wechatpay.SceneNative, wechatpay.PrepayRequest{
		Description: "rotation", OutTradeNo: "ROTATED0001", NotifyURL: f.srv.URL + "/notify",
		Amount: wechatpay.Amount{Total: 100, Currency: "CNY"}}); err != nil {
		t.Fatal(err)
	}
	if code, body := f.do(t, http.MethodPost, "/sim/faults", "", map[string]any{"rotate_certificate": true}); code != http.StatusOK {
		t.Fatalf("rotate: %d %s", code, body)
	}
	if code, body := f.do(t, http.MethodPost, "/sim/orders/ROTATED0001/pay", "", nil); code != http.StatusOK {
		t.Fatalf("pay: %d %s", code, body)
	}
	ctx := context.Background()
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		rec, err := f.b.store.Get(ctx, payment.OrderKey(f.b.id.MchID, "ROTATED0001"))
		if err == nil && stateOf(rec) == wechatpay.TradeStateSuccess {
			break
		}
		if time.Now().After(deadline) {
			_, d := f.do(t, http.MethodGet, "/sim/deliveries", "", nil)
			t.Fatalf("a notification signed by the rotated certificate was never applied: %s", d)
		}
	}

	aead, err := wechatpay.NewAEAD(f.b.id.APIv3Key)
	if err != nil {
		t.Fatal(err)
	}
	tx := wechatpay.Transaction{MchID: f.b.id.MchID, AppID: f.b.id.AppID, OutTradeNo: "UNKNOWNSER1", TransactionID: "4200000000700001",
		TradeState: wechatpay.TradeStateSuccess, Amount: &wechatpay.Amount{Total: 1}}
	_, body, err := wechatpay.SealNotification(aead, wechatpay.EventTransactionSuccess, tx, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	signer := &wechatpay.PlatformSigner{Serial: "5157F09EFDC096DE15EBE81A47057A7232F1B8E1", Key: f.b.id.PlatformKey}
	h, err := signer.Sign(body)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/notify", bytes.NewReader(body))
	h.Apply(req.Header)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized || !strings.Contains(string(answer), "Wechatpay-Serial") {
		t.Fatalf("unknown serial: %d %s", res.StatusCode, answer)
	}
	for _, leak := range []string{"weixin.qq.com", "lookup", "dial", "127.0.0.1", "no such host", "http://"} {
		if strings.Contains(string(answer), leak) {
			t.Fatalf("the refusal leaks %q: %s", leak, answer)
		}
	}
}
