// Command wxpay-soak is `make soak`: a bounded storm of genuine WeChat Pay notifications
// against a real `wxpay serve` process, on bbolt and on Redis, with the process killed
// (kill -9) and Redis restarted mid-storm. Everything runs on loopback, in a temporary
// directory, and stops by itself; it prints a summary and exits 1 if any check fails.
// The orders are created as a merchant creates them, through serve's POST /orders.
//
// Checks: every notification answered 2xx is in the store; every order transitioned
// exactly once (one order.paid, no conflict, never REVIEW); every merchant event reached
// the local webhook receiver (which refuses some first attempts), each id once — a
// second copy is counted and allowed only for an event whose delivery raced the kill.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/events"
	"github.com/paysls/wxpay/shared/keysdir"
	"github.com/paysls/wxpay/shared/orderapi"
	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/store/storeurl"
	"github.com/paysls/wxpay/shared/webhook"
	"github.com/paysls/wxpay/shared/wechatpay"
)

type options struct {
	orders, notifications, senders int
	raced                          float64 // share of deliveries sent at the same moment as another copy
	backends                       []string
	wxpay                          string
	keep                           bool
	timeout                        time.Duration
	failEvery                      int
	chaos                          bool
}

func main() {
	var o options
	var backends string
	flag.IntVar(&o.orders, "orders", 3000, "orders (each paid once)")
	flag.IntVar(&o.notifications, "notifications", 10000, "notification deliveries in all (the rest of the orders' count are redeliveries)")
	flag.Float64Var(&o.raced, "raced", 0.30, "share of all deliveries that are a copy sent concurrently with another copy (WeChat Pay's duplicate)")
	flag.IntVar(&o.senders, "senders", 64, "concurrent senders")
	flag.StringVar(&backends, "backends", "bolt,redis", "stores to soak: bolt, redis")
	flag.StringVar(&o.wxpay, "wxpay", "", "wxpay binary (default: built from ./cmd/wxpay into the temp dir)")
	flag.BoolVar(&o.keep, "keep", false, "keep the temp dir (logs, store)")
	flag.DurationVar(&o.timeout, "timeout", 10*time.Minute, "stop everything after this long")
	flag.IntVar(&o.failEvery, "fail-every", 7, "the webhook refuses the first attempt of every n-th event")
	flag.BoolVar(&o.chaos, "chaos", true, "kill -9 serve (and restart Redis) mid-storm")
	flag.Parse()
	o.backends = strings.Split(backends, ",")

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	os.Exit(run(ctx, o))
}

func run(ctx context.Context, o options) int {
	root, err := os.MkdirTemp("", "wxpay-soak-*")
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		return 1
	}
	if !o.keep {
		defer os.RemoveAll(root)
	}
	if o.wxpay == "" {
		o.wxpay = filepath.Join(root, "wxpay")
		fmt.Printf("building wxpay → %s\n", o.wxpay)
		cmd := exec.CommandContext(ctx, "go", "build", "-o", o.wxpay, "github.com/paysls/wxpay/cmd/wxpay")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "soak: build wxpay:", err)
			return 1
		}
	}
	failed := false
	for _, b := range o.backends {
		dir := filepath.Join(root, b)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			fmt.Fprintln(os.Stderr, "soak:", err)
			return 1
		}
		s := &soak{o: o, backend: b, dir: dir}
		sum, err := s.run(ctx)
		sum.print(os.Stdout)
		if err != nil {
			fmt.Printf("FAIL %s: %v\n   logs: %s (kept)\n\n", b, err, dir)
			o.keep, failed = true, true
			continue
		}
		fmt.Printf("PASS %s\n\n", b)
	}
	if failed {
		fmt.Printf("soak: logs kept in %s\n", root)
		return 1
	}
	return 0
}

// soak is one backend's run.
type soak struct {
	o         options
	backend   string
	dir       string
	keys      string
	id        *keysdir.Identity
	storeURL  string
	redis     *proc
	redisPort int
	serve     *proc
	addr      string
	recv      *receiver
	sum       summary
}

// summary is what a run measured.
type summary struct {
	Backend                       string
	Orders, Deliveries, Senders   int
	CreateTime                    time.Duration // creating and paying the orders through serve
	Raced, Redeliveries           int
	Sent, Resent                  int
	Status                        map[string]int
	Duration                      time.Duration
	P50, P99, Max                 time.Duration
	Kills                         []string
	EventsInStore, EventsReceived int
	ExtraCopies, WebhookRefusals  int
	EventsWait                    time.Duration
	Review, Lost, Wrong           int
}

// racedDeliverers is the extra copies two deliverers racing may send without any kill:
// none expected (the timer leaves young events to notify), one tolerated.
func (s summary) racedDeliverers() int { return 1 }

func (s summary) print(w io.Writer) {
	if s.Backend == "" {
		return
	}
	fmt.Fprintf(w, "== soak on %s\n", s.Backend)
	if s.CreateTime > 0 {
		fmt.Fprintf(w, "   %d orders created (POST /orders) and paid (simulator) in %v\n", s.Orders, s.CreateTime.Round(time.Millisecond))
	}
	fmt.Fprintf(w, "   %d deliveries for %d orders (%d raced copies, %d later redeliveries), %d senders\n", s.Deliveries, s.Orders, s.Raced, s.Redeliveries, s.Senders)
	if s.Duration > 0 {
		fmt.Fprintf(w, "   %d requests in %v: %.0f requests/s; latency p50 %v p99 %v max %v\n", s.Sent, s.Duration.Round(time.Millisecond),
			float64(s.Sent)/s.Duration.Seconds(), s.P50, s.P99, s.Max)
	}
	fmt.Fprintf(w, "   answers: %v; resent without a 2xx: %d\n", s.Status, s.Resent)
	for _, k := range s.Kills {
		fmt.Fprintf(w, "   chaos: %s\n", k)
	}
	fmt.Fprintf(w, "   events: %d recorded, %d delivered to the webhook (%d first attempts refused, %d extra copies), all delivered %v after the storm\n",
		s.EventsInStore, s.EventsReceived, s.WebhookRefusals, s.ExtraCopies, s.EventsWait.Round(time.Millisecond))
	fmt.Fprintf(w, "   losses: %d, wrong transitions: %d, REVIEW: %d\n", s.Lost, s.Wrong, s.Review)
}

func (s *soak) run(ctx context.Context) (summary, error) {
	s.sum = summary{Backend: s.backend, Orders: s.o.orders, Senders: s.o.senders, Status: map[string]int{}}
	defer s.stopAll()
	var err error
	s.keys = filepath.Join(s.dir, "keys")
	if s.id, err = keysdir.Generate(); err != nil {
		return s.sum, err
	}
	if err := s.id.Save(s.keys); err != nil {
		return s.sum, err
	}
	secret := "whsec_soak_" + strconv.FormatInt(rand.Int64(), 16)
	if err := os.WriteFile(filepath.Join(s.keys, config.FileWebhookSecret), []byte(secret+"\n"), 0o600); err != nil {
		return s.sum, err
	}
	switch s.backend {
	case "bolt":
		s.storeURL = "bolt://" + filepath.Join(s.dir, "wxpay.db")
	case "redis":
		if err := s.startRedis(ctx); err != nil {
			return s.sum, err
		}
		s.storeURL = fmt.Sprintf("redis://127.0.0.1:%d/0", s.redisPort)
	default:
		return s.sum, fmt.Errorf("unknown backend %q", s.backend)
	}
	s.recv, err = startReceiver([]byte(secret), s.o.failEvery)
	if err != nil {
		return s.sum, err
	}
	defer s.recv.close()

	if err := s.startServe(ctx); err != nil {
		return s.sum, err
	}
	token, err := os.ReadFile(filepath.Join(s.keys, config.FileAPIToken)) // written by serve
	if err != nil {
		return s.sum, fmt.Errorf("api token: %w", err)
	}
	fmt.Printf("[%s] creating %d orders through POST /orders\n", s.backend, s.o.orders)
	began := time.Now()
	txs, err := createOrders(ctx, "http://"+s.addr, strings.TrimSpace(string(token)), s.o.orders)
	if err != nil {
		return s.sum, fmt.Errorf("create orders: %w", err)
	}
	s.sum.CreateTime = time.Since(began)
	plan, err := s.plan(txs)
	if err != nil {
		return s.sum, err
	}
	fmt.Printf("[%s] storm: %d deliveries, %d senders\n", s.backend, len(plan), s.o.senders)
	acked, err := s.storm(ctx, plan)
	if err != nil {
		return s.sum, err
	}
	fmt.Printf("[%s] waiting for every event to reach the webhook\n", s.backend)
	if err := s.waitEvents(ctx); err != nil {
		return s.sum, err
	}
	if err := s.serve.stop(); err != nil {
		return s.sum, fmt.Errorf("stop serve: %w", err)
	}
	return s.sum, s.verify(ctx, txs, acked)
}

// createOrders makes n orders through the running serve's order API and pays each at
// its simulator, returning the genuine transactions whose notifications the storm
// delivers: POST {serve}/orders through the order API's client (orderapi, with
// <keys>/api_token; scene native) — the merchant's path, one conditional write and one
// prepay per order — then POST
// {serve}/sim/orders/{out_trade_no}/pay with the simulator's drop_all fault on, so its
// own notifications are lost and the soak's senders are the storm. (serve's reconcile
// may settle a few orders by query before the storm reaches them; their notifications
// are then duplicates, and each order still transitions once.)
func createOrders(ctx context.Context, base, token string, n int) ([]wechatpay.Transaction, error) {
	client := &http.Client{Timeout: 30 * time.Second}
	api := orderapi.New(base, token, client)
	// call is the simulator's driver API (/sim/…).
	call := func(method, path string, body any, out any) error {
		var rd io.Reader
		if body != nil {
			b, err := json.Marshal(body)
			if err != nil {
				return err
			}
			rd = bytes.NewReader(b)
		}
		req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		res, err := client.Do(req)
		if err != nil {
			return err
		}
		defer res.Body.Close()
		raw, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
		if err != nil {
			return err
		}
		if res.StatusCode/100 != 2 {
			return fmt.Errorf("%s %s: HTTP %d: %.300s", method, path, res.StatusCode, raw)
		}
		if out != nil {
			if err := json.Unmarshal(raw, out); err != nil {
				return fmt.Errorf("%s %s: %w", method, path, err)
			}
		}
		return nil
	}
	if err := call(http.MethodPost, "/sim/faults", map[string]bool{"drop_all": true}, nil); err != nil {
		return nil, fmt.Errorf("simulator fault drop_all: %w", err)
	}
	txs := make([]wechatpay.Transaction, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				id := fmt.Sprintf("SOAK%010d", i)
				amount := int64(1 + rand.IntN(100000))
				created, err := api.Create(ctx, orderapi.CreateRequest{OrderID: id, Amount: orderapi.Fen(amount), Description: "soak", Scene: orderapi.SceneNative})
				if err != nil {
					errc <- fmt.Errorf("create order %s: %w", id, err)
					return
				}
				if created.OutTradeNo != id || created.Amount != amount {
					errc <- fmt.Errorf("create order %s: answered out_trade_no %q amount %d", id, created.OutTradeNo, created.Amount)
					return
				}
				var paid struct {
					Transaction wechatpay.Transaction `json:"transaction"`
				}
				if err := call(http.MethodPost, "/sim/orders/"+id+"/pay", nil, &paid); err != nil {
					errc <- fmt.Errorf("pay %s: %w", id, err)
					return
				}
				if paid.Transaction.TransactionID == "" || paid.Transaction.Amount.Total != amount {
					errc <- fmt.Errorf("pay %s: transaction %+v", id, paid.Transaction)
					return
				}
				txs[i] = paid.Transaction
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errc:
		return nil, err
	default:
	}
	return txs, ctx.Err()
}

// delivery is one notification POST: the body and headers WeChat Pay would send.
type delivery struct {
	order int
	body  []byte
	h     wechatpay.SignatureHeaders
}

// plan lays out the storm: every order's notification once, o.raced of all deliveries
// as copies queued right beside their original (two senders race them), the rest as
// redeliveries at random places. All pre-signed, so the storm measures serve.
func (s *soak) plan(txs []wechatpay.Transaction) ([]delivery, error) {
	aead, err := wechatpay.NewAEAD(s.id.APIv3Key)
	if err != nil {
		return nil, err
	}
	signer := &wechatpay.PlatformSigner{Serial: s.id.PlatformSerial(), Key: s.id.PlatformKey}
	mk := func(i int) (delivery, error) {
		_, body, err := wechatpay.SealNotification(aead, wechatpay.EventTransactionSuccess, txs[i], time.Now())
		if err != nil {
			return delivery{}, err
		}
		h, err := signer.Sign(body)
		return delivery{order: i, body: body, h: h}, err
	}
	total := max(s.o.notifications, len(txs))
	raced := min(int(float64(total)*s.o.raced), len(txs), total-len(txs))
	redeliveries := total - len(txs) - raced
	s.sum.Deliveries, s.sum.Raced, s.sum.Redeliveries = total, raced, redeliveries
	var blocks [][]delivery
	for i := range txs {
		d, err := mk(i)
		if err != nil {
			return nil, err
		}
		b := []delivery{d}
		if i < raced {
			c, err := mk(i) // WeChat Pay's duplicate: a separately signed copy of the same result
			if err != nil {
				return nil, err
			}
			b = append(b, c)
		}
		blocks = append(blocks, b)
	}
	for range redeliveries {
		d, err := mk(rand.IntN(len(txs)))
		if err != nil {
			return nil, err
		}
		blocks = append(blocks, []delivery{d})
	}
	rand.Shuffle(len(blocks), func(i, j int) { blocks[i], blocks[j] = blocks[j], blocks[i] })
	var out []delivery
	for _, b := range blocks {
		out = append(out, b...)
	}
	return out, nil
}

// storm sends the plan with o.senders concurrent senders; every delivery without a 2xx
// is sent again until it gets one. Mid-storm serve is killed with SIGKILL (and, on
// Redis, Redis restarted). It returns, per order, whether a 2xx was received.
func (s *soak) storm(ctx context.Context, plan []delivery) ([]bool, error) {
	acked := make([]bool, s.o.orders)
	var ackMu sync.Mutex
	retry := make(chan delivery, len(plan))
	var next, done, sent, resent atomic.Int64
	var latMu sync.Mutex
	lat := make([]time.Duration, 0, len(plan)*2)
	status := map[string]int{}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: s.o.senders, MaxConnsPerHost: s.o.senders}}
	url := "http://" + s.addr + "/notify"
	total := int64(len(plan))

	chaosDone := make(chan error, 1)
	if s.o.chaos {
		go func() { chaosDone <- s.chaos(ctx, &done, total) }()
	} else {
		chaosDone <- nil
	}

	start := time.Now()
	var wg sync.WaitGroup
	for range s.o.senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for done.Load() < total && ctx.Err() == nil {
				var d delivery
				select {
				case d = <-retry:
				default:
					i := next.Add(1) - 1
					if i >= total {
						select {
						case d = <-retry:
						case <-time.After(20 * time.Millisecond):
							continue
						}
					} else {
						d = plan[i]
					}
				}
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(d.body))
				req.Header.Set("Content-Type", "application/json")
				d.h.Apply(req.Header)
				t0 := time.Now()
				res, err := client.Do(req)
				sent.Add(1)
				code := "conn-error"
				if err == nil {
					io.Copy(io.Discard, res.Body)
					res.Body.Close()
					code = strconv.Itoa(res.StatusCode)
					latMu.Lock()
					lat = append(lat, time.Since(t0))
					latMu.Unlock()
				}
				latMu.Lock()
				status[code]++
				latMu.Unlock()
				if err == nil && res.StatusCode/100 == 2 {
					ackMu.Lock()
					acked[d.order] = true
					ackMu.Unlock()
					done.Add(1)
					continue
				}
				resent.Add(1)
				time.Sleep(50 * time.Millisecond)
				retry <- d
			}
		}()
	}
	wg.Wait()
	s.sum.Duration = time.Since(start)
	if err := <-chaosDone; err != nil {
		return nil, err
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("storm stopped: %w (%d of %d deliveries acknowledged)", ctx.Err(), done.Load(), total)
	}
	s.sum.Sent, s.sum.Resent, s.sum.Status = int(sent.Load()), int(resent.Load()), status
	slices.Sort(lat)
	if len(lat) > 0 {
		s.sum.P50, s.sum.P99, s.sum.Max = lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1]
	}
	return acked, nil
}

// chaos kills serve (SIGKILL) at 35 % of the storm and restarts it; on Redis it also
// kills and restarts redis-server at 65 %.
func (s *soak) chaos(ctx context.Context, done *atomic.Int64, total int64) error {
	wait := func(frac float64) bool {
		for done.Load() < int64(float64(total)*frac) {
			if ctx.Err() != nil || done.Load() >= total {
				return false
			}
			time.Sleep(5 * time.Millisecond)
		}
		return true
	}
	if !wait(0.35) {
		return nil
	}
	at := done.Load()
	s.serve.kill()
	time.Sleep(300 * time.Millisecond)
	if err := s.startServe(ctx); err != nil {
		return fmt.Errorf("restart serve after kill -9: %w", err)
	}
	s.sum.Kills = append(s.sum.Kills, fmt.Sprintf("kill -9 of serve after %d acknowledged deliveries; restarted", at))
	if s.redis == nil || !wait(0.65) {
		return nil
	}
	at = done.Load()
	s.redis.kill()
	time.Sleep(500 * time.Millisecond)
	if err := s.startRedis(ctx); err != nil {
		return fmt.Errorf("restart redis: %w", err)
	}
	s.sum.Kills = append(s.sum.Kills, fmt.Sprintf("kill -9 of redis-server (appendonly yes, appendfsync always) after %d acknowledged deliveries; restarted on its AOF", at))
	return nil
}

// waitEvents waits until the outbox is empty (GET /events?undelivered=1) and the
// receiver has seen as many distinct events as there are paid orders.
func (s *soak) waitEvents(ctx context.Context) error {
	token, err := os.ReadFile(filepath.Join(s.keys, config.FileAPIToken))
	if err != nil {
		return err
	}
	start := time.Now()
	deadline := start.Add(3 * time.Minute)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.addr+"/events?undelivered=1&limit=1", nil)
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			var l events.Listing
			json.NewDecoder(res.Body).Decode(&l)
			res.Body.Close()
			if res.StatusCode == http.StatusOK && len(l.Events) == 0 && s.recv.distinct() >= s.o.orders {
				s.sum.EventsWait = time.Since(start)
				return nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("events not all delivered after %v: webhook saw %d distinct", time.Since(start), s.recv.distinct())
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// verify reads the store after serve stopped.
func (s *soak) verify(ctx context.Context, txs []wechatpay.Transaction, acked []bool) error {
	st, err := storeurl.Open(ctx, s.storeURL)
	if err != nil {
		return err
	}
	defer st.Close()
	var problems []string
	storeIDs := map[string]bool{}
	for i, tx := range txs {
		rec, err := st.Get(ctx, payment.OrderKey(s.id.MchID, tx.OutTradeNo))
		if err != nil {
			s.sum.Lost++
			problems = append(problems, fmt.Sprintf("%s: %v", tx.OutTradeNo, err))
			continue
		}
		o, err := payment.OrderOf(rec)
		if err != nil {
			s.sum.Lost++
			problems = append(problems, fmt.Sprintf("%s: %v", tx.OutTradeNo, err))
			continue
		}
		state, txid := o.Status(), ""
		if o.Payment != nil {
			txid = o.Payment.TransactionID
		}
		if state == payment.StateReview {
			s.sum.Review++
		}
		if acked[i] && (state != wechatpay.TradeStateSuccess || txid != tx.TransactionID) {
			s.sum.Lost++
			problems = append(problems, fmt.Sprintf("%s acknowledged but stored %s/%s", tx.OutTradeNo, state, txid))
		}
		if !acked[i] {
			s.sum.Lost++
			problems = append(problems, tx.OutTradeNo+" never acknowledged")
		}
		paid := 0
		for _, e := range events.Entries(rec) {
			storeIDs[e.ID] = true
			s.sum.EventsInStore++
			if e.Type == events.OrderPaid {
				paid++
			} else {
				s.sum.Wrong++
				problems = append(problems, fmt.Sprintf("%s: unexpected event %s", tx.OutTradeNo, e.Type))
			}
			if e.DeliveredAt.IsZero() {
				problems = append(problems, fmt.Sprintf("%s: event %s not marked delivered", tx.OutTradeNo, e.ID))
			}
		}
		if paid != 1 || len(o.Conflicts) != 0 {
			s.sum.Wrong++
			problems = append(problems, fmt.Sprintf("%s: %d order.paid events, %d conflicts", tx.OutTradeNo, paid, len(o.Conflicts)))
		}
	}
	got := s.recv.snapshot()
	s.sum.EventsReceived = len(got)
	s.sum.WebhookRefusals = s.recv.refused()
	for id, n := range got {
		if !storeIDs[id] {
			problems = append(problems, "webhook received an event the store does not have: "+id)
		}
		if n > 1 {
			s.sum.ExtraCopies += n - 1
		}
		if n > 2 {
			problems = append(problems, fmt.Sprintf("event %s delivered %d times", id, n))
		}
	}
	for id := range storeIDs {
		if got[id] == 0 {
			problems = append(problems, "event never delivered: "+id)
		}
	}
	// An extra copy is only excusable for an event whose send and mark a kill split: at
	// most one per sender in flight (notify's attempts) per kill.
	if s.sum.ExtraCopies > s.o.senders*len(s.sum.Kills)+s.sum.racedDeliverers() {
		problems = append(problems, fmt.Sprintf("%d extra copies: more than the kill -9 window explains", s.sum.ExtraCopies))
	}
	if bad := s.recv.badSignatures(); bad != 0 {
		problems = append(problems, fmt.Sprintf("%d deliveries failed Wxpay-Signature verification", bad))
	}
	if s.sum.Review != 0 {
		problems = append(problems, fmt.Sprintf("%d orders in REVIEW", s.sum.Review))
	}
	if len(problems) > 0 {
		if len(problems) > 10 {
			problems = append(problems[:10], fmt.Sprintf("… and %d more", len(problems)-10))
		}
		return errors.New(strings.Join(problems, "\n   "))
	}
	return nil
}

// --- processes ---

type proc struct {
	cmd    *exec.Cmd
	exited chan struct{}
	log    *os.File
}

func startProc(bin string, args []string, env []string, logPath string) (*proc, error) {
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr, cmd.Env = log, log, env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	p := &proc{cmd: cmd, exited: make(chan struct{}), log: log}
	go func() { cmd.Wait(); close(p.exited); log.Close() }()
	return p, nil
}

func (p *proc) kill() {
	if p == nil {
		return
	}
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.exited
}

func (p *proc) stop() error {
	if p == nil {
		return nil
	}
	syscall.Kill(p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.exited:
		return nil
	case <-time.After(15 * time.Second):
		p.kill()
		return errors.New("did not stop within 15 s of SIGTERM")
	}
}

func (s *soak) stopAll() {
	if s.serve != nil {
		s.serve.kill()
	}
	if s.redis != nil {
		s.redis.kill()
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func waitPort(ctx context.Context, addr string, p *proc, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("exited early (log %s)", p.log.Name())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not listening on %s after %v", addr, d)
		}
	}
}

func (s *soak) startRedis(ctx context.Context) error {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return fmt.Errorf("redis-server not installed (apt-get install redis-server): %w", err)
	}
	if s.redisPort == 0 {
		if s.redisPort, err = freePort(); err != nil {
			return err
		}
	}
	data := filepath.Join(s.dir, "redis")
	if err := os.MkdirAll(data, 0o700); err != nil {
		return err
	}
	args := []string{"--port", strconv.Itoa(s.redisPort), "--bind", "127.0.0.1", "--dir", data, "--appendonly", "yes",
		"--appendfsync", "always", "--save", "", "--daemonize", "no", "--protected-mode", "yes"}
	p, err := startProc(bin, args, os.Environ(), filepath.Join(s.dir, "redis.log"))
	if err != nil {
		return err
	}
	s.redis = p
	return waitPort(ctx, fmt.Sprintf("127.0.0.1:%d", s.redisPort), p, 20*time.Second)
}

func (s *soak) startServe(ctx context.Context) error {
	if s.addr == "" {
		port, err := freePort()
		if err != nil {
			return err
		}
		s.addr = fmt.Sprintf("127.0.0.1:%d", port)
	}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "WXPAY_") && !strings.HasPrefix(kv, "STORE_URL=") {
			env = append(env, kv)
		}
	}
	args := []string{"serve", "--addr", s.addr, "--keys-dir", s.keys, "--store", s.storeURL,
		"--webhook-url", s.recv.url, "--retry-scale", "0.01"}
	p, err := startProc(s.o.wxpay, args, env, filepath.Join(s.dir, "serve.log"))
	if err != nil {
		return err
	}
	s.serve = p
	if err := waitPort(ctx, s.addr, p, 30*time.Second); err != nil {
		return fmt.Errorf("wxpay serve: %w", err)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		res, err := http.Get("http://" + s.addr + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return errors.New("wxpay serve: /healthz never answered 200")
		}
	}
}

// --- the merchant's webhook ---

type receiver struct {
	srv       *http.Server
	url       string
	secret    []byte
	failEvery int
	mu        sync.Mutex
	firsts    int
	attempts  map[string]int
	got       map[string]int
	refusals  int
	badSig    int
}

func startReceiver(secret []byte, failEvery int) (*receiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &receiver{url: "http://" + ln.Addr().String() + "/hook", secret: secret, failEvery: failEvery,
		attempts: map[string]int{}, got: map[string]int{}}
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second}
	go r.srv.Serve(ln)
	return r, nil
}

func (r *receiver) close() { r.srv.Close() }

// ServeHTTP verifies Wxpay-Signature as a merchant would, refuses the first attempt
// of every failEvery-th event, and counts acknowledged deliveries per event id.
func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	id, ok := verify(r.secret, req.Header.Get(events.HeaderSignature), body)
	if !ok {
		r.badSig++
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	r.attempts[id]++
	if r.attempts[id] == 1 {
		r.firsts++
		if r.failEvery > 0 && r.firsts%r.failEvery == 0 {
			r.refusals++
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
	}
	r.got[id]++
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) distinct() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

func (r *receiver) refused() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.refusals
}

func (r *receiver) badSignatures() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.badSig
}

func (r *receiver) snapshot() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]int, len(r.got))
	for k, v := range r.got {
		out[k] = v
	}
	return out
}

// verify checks Wxpay-Signature as a merchant would (package webhook) and returns the
// signed event's id, the one to de-duplicate by.
func verify(secret []byte, header string, body []byte) (id string, ok bool) {
	ev, err := webhook.Verify(body, header, 5*time.Minute, secret)
	return ev.ID, err == nil
}
