package dst

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/paysls/wxpay/internal/paysim"
	"github.com/paysls/wxpay/shared/orderapi"
	"github.com/paysls/wxpay/shared/wechatpay"
	"github.com/paysls/wxpay/shared/wxv2"
)

// History is what a seed generates and what a replay runs: steps, each one or more
// operations run concurrently under the cooperative scheduler, with the faults of the
// step. Operations name their targets (order ids, out_trade_nos, out_refund_nos), not
// positions, so a history stays meaningful when the shrinker removes steps from it.
type History struct {
	Seed    int64  `json:"seed"`
	Backend string `json:"backend,omitempty"`
	Steps   []Step `json:"steps"`
}

// Step is one step of a history.
type Step struct {
	Ops []Op `json:"ops"`
	// Sched seeds the interleaving of the step's operations (when there are several).
	Sched  uint64  `json:"sched,omitempty"`
	Faults []Fault `json:"faults,omitempty"`
}

// Op is one operation. By Op:
//
//	create     POST /orders {order_id: Order, amount: Amount, scene: Scene}
//	get        GET /orders/{Order}
//	refund     POST /orders/{Order}/refunds {out_refund_no: Refund, amount: Amount}
//	getrefund  GET /orders/{Order}/refunds/{Refund}
//	close      POST /orders/{Order}/close
//	pay        the user pays out_trade_no Trade at WeChat Pay (Status SUCCESS, PAYERROR, USERPAYING)
//	deliver    WeChat Pay delivers the queued v3 notification about Trade (Event pay) or
//	           Refund (Event refund); Mode "" the first not yet acknowledged, "again"
//	           one acknowledged already (a duplicate), "drop" loses it for good
//	v2pay      WeChat Pay pays Trade and sends the v2 XML payment notification
//	v2refund   a refund made by hand in the merchant platform (new Refund, Amount fen,
//	           0: what is left) or the re-sent result of Refund, notified in v2 XML
//	           (Status SUCCESS, CHANGE, REFUNDCLOSE; Mode "lost": never arrives)
//	settle     WeChat Pay settles refund Refund (Status SUCCESS, ABNORMAL, CLOSED)
//	forge      a refund result WeChat Pay's ledger contradicts (forge.go): Mode "over"
//	           (refund Refund of Amount fen on Trade) or "repoint" (refund Refund
//	           reported on Trade); or a genuine notification the ledger must keep for
//	           review: Mode "foreign" (a refund Refund of Amount fen for another
//	           merchant) or "share" (a split of shared order Trade never asked, or
//	           reported Amount fen above what was asked); or Mode "unpaid": a payment
//	           of order Order's unpaid attempt Trade, then its refund Refund of Amount fen
//	outside    a refund of shared sub-order Trade made outside the bundle (by hand in the
//	           platform, sharing.go): new Refund of Amount fen, settled SUCCESS at once
//	returnoutcome  WeChat Pay answers the return of refund Refund's advance (垫付回补)
//	           with Status (PROCESSING, SUCCESS, FAILED) from now on (sharing.go)
//	advance    the clock moves forward by Advance
//	reconcile  one reconcile run;  billfetch  the bills of yesterday
//	restart    the process restarts (nothing in flight)
//	page       the cashier page of Order loaded in Scene (native: a desktop, h5: a phone
//	           browser, jsapi: inside WeChat; Mode "other": another payer) (scenes.go)
type Op struct {
	Op      string `json:"op"`
	Order   string `json:"order,omitempty"`
	Trade   string `json:"trade,omitempty"`
	Refund  string `json:"refund,omitempty"`
	Amount  int64  `json:"amount,omitempty"`
	Scene   string `json:"scene,omitempty"`
	Event   string `json:"event,omitempty"`
	Status  string `json:"status,omitempty"`
	Mode    string `json:"mode,omitempty"`
	Advance string `json:"advance,omitempty"`
	// Subsidy is a shared combine's subsidy (补差) per sub-order, fen (sharing.go).
	Subsidy int64 `json:"subsidy,omitempty"`
}

func (o Op) String() string {
	var b strings.Builder
	b.WriteString(o.Op)
	for _, f := range [][2]string{{"order", o.Order}, {"trade", o.Trade}, {"refund", o.Refund}, {"scene", o.Scene},
		{"event", o.Event}, {"status", o.Status}, {"mode", o.Mode}, {"advance", o.Advance}} {
		if f[1] != "" {
			fmt.Fprintf(&b, " %s=%s", f[0], f[1])
		}
	}
	if o.Amount != 0 {
		fmt.Fprintf(&b, " amount=%d", o.Amount)
	}
	if o.Subsidy != 0 {
		fmt.Fprintf(&b, " subsidy=%d", o.Subsidy)
	}
	return b.String()
}

// description tags every order with its merchant order id: WeChat Pay keeps it with
// the prepay, which is how the checks know which merchant order an out_trade_no was
// placed for.
func description(orderID string) string { return "dst " + orderID }

// answer is what an operation saw, for the checks made right after its step.
type answer struct {
	op     Op
	status int    // the API's HTTP status (0: no API call)
	code   string // the API's error code
	create *orderapi.CreateAnswer
	view   *orderapi.OrderView
	refund *orderapi.RefundView
}

// exec runs one operation in its thread and returns what it saw.
func (w *world) exec(op Op) answer {
	ctx := context.Background()
	a := answer{op: op}
	inc := w.inc
	api := inc.api
	apiErr := func(err error) {
		var e *orderapi.Error
		switch {
		case inc.dead.Load():
			// The process died before it answered: the caller sees the connection drop.
			a.status, a.code = 0, "CRASHED"
			a.create, a.view, a.refund = nil, nil, nil
		case err == nil:
			a.status = 200
		case errors.As(err, &e):
			a.status, a.code = e.Status, e.Code
		default:
			a.status, a.code = 599, "TRANSPORT"
		}
	}
	switch op.Op {
	case "create":
		w.model.created(op.Order, op.Amount, op.Scene)
		req := orderapi.CreateRequest{OrderID: op.Order, Amount: orderapi.Fen(op.Amount), Description: description(op.Order), Scene: op.Scene}
		switch op.Scene {
		case orderapi.SceneJSAPI, orderapi.SceneMiniProgram:
			req.Payer = &orderapi.Payer{OpenID: "odst" + op.Order}
		case orderapi.SceneAuto:
			req.UserAgent = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148"
		}
		c, err := api.Create(ctx, req)
		a.create = c
		apiErr(err)
	case "get":
		v, err := api.Order(ctx, op.Order, "")
		a.view = v
		apiErr(err)
	case "refund":
		w.model.refundAsked(op.Order, op.Refund, op.Amount)
		r, err := api.Refund(ctx, op.Order, "", orderapi.RefundRequest{OutRefundNo: op.Refund, Amount: orderapi.Fen(op.Amount), Reason: "dst"})
		a.refund = r
		apiErr(err)
	case "getrefund":
		r, err := api.RefundStatus(ctx, op.Order, "", op.Refund)
		a.refund = r
		apiErr(err)
	case "close":
		_, err := api.Close(ctx, op.Order, "")
		apiErr(err)
	case "pay":
		_, _, _, _ = w.sim.Pay(w.tradeRef(op.Trade), paysim.PayRequest{Result: op.Status})
	case "deliver":
		w.deliver(ctx, op)
	case "v2pay":
		_, _, _ = w.sim.NotifyV2(ctx, paysim.V2NotifyRequest{Kind: wxv2.KindPayment, OutTradeNo: op.Trade})
	case "v2refund":
		req := paysim.V2NotifyRequest{Kind: wxv2.KindRefund, OutTradeNo: op.Trade, OutRefundNo: op.Refund, RefundFee: op.Amount, RefundStatus: op.Status}
		if op.Mode == "lost" {
			req.URL = lostURL
		}
		if op.Refund != "" && !w.model.isAsked(op.Refund) {
			w.model.manual[op.Refund] = true
			w.model.noteRefund(op.Refund)
		}
		_, _, _ = w.sim.NotifyV2(ctx, req)
	case "settle":
		_, _, _, _ = w.sim.SettleRefund(op.Refund, op.Status)
	case "forge":
		w.forge(ctx, op, w.truth())
	case "outside":
		w.refundOutside(ctx, op) // sharing.go
	case "returnoutcome":
		w.returnOutcome(op) // sharing.go
	case "advance":
		d, _ := time.ParseDuration(op.Advance)
		w.clk.Advance(d)
	case "reconcile":
		_, _ = w.inc.rec.Pass(ctx, w.clk.Now())
	case "billfetch":
		_, _ = w.inc.bill.RunDate(ctx, yesterday(w.clk.Now()))
	case "billfetch-date": // settle: the bills of one day (Status)
		_, _ = w.inc.bill.RunDate(ctx, op.Status)
	case "restart":
		w.crash(w.inc)
	case "combine", "paycombine":
		w.execPlatform(op, &a) // platform.go
	case "sharecombine", "settleshare":
		w.execSharing(op, &a) // sharing.go
	case "page":
		w.execPage(op, &a) // scenes.go
	case "twin":
		w.execTwin(ctx, op) // twin.go
	default:
		panic("dst: unknown op " + op.Op)
	}
	return a
}

func contextBackground() context.Context { return context.Background() }

func yesterday(now time.Time) string {
	return now.In(start.Location()).AddDate(0, 0, -1).Format(time.DateOnly)
}

// deliver plays WeChat Pay's queue for one notification.
func (w *world) deliver(ctx context.Context, op Op) {
	for _, q := range w.sim.Queued() {
		if !matches(q, op) {
			continue
		}
		switch op.Mode {
		case "":
			if q.Acknowledged {
				continue
			}
			_, _ = w.sim.DeliverQueued(ctx, q.ID)
		case "again":
			if !q.Acknowledged {
				continue
			}
			_, _ = w.sim.DeliverQueued(ctx, q.ID)
		case "drop":
			if q.Acknowledged {
				continue
			}
			w.sim.DropQueued(q.ID)
		}
		return
	}
}

func matches(q paysim.QueuedNotification, op Op) bool {
	if q.SubMchID == dstTwinSubMchID {
		return false // the twin delivers its own (twin.go)
	}
	if op.Event == "refund" {
		return strings.HasPrefix(q.Event, "REFUND.") && q.OutRefundNo == op.Refund
	}
	return q.Event == wechatpay.EventTransactionSuccess && q.OutTradeNo == op.Trade
}

// model is what the merchant asked for: the checks hold WeChat Pay to it.
type model struct {
	orders  map[string]*mOrder
	ids     []string // order ids in the order they were first used
	asked   []mRefund
	manual  map[string]bool // out_refund_no of refunds made by hand at WeChat Pay
	refunds []string        // every out_refund_no used, in order
	// platform is what the merchant asked of combines (platform.go).
	platform platformModel
}

type mOrder struct {
	id      string
	amounts map[int64]bool
	last    int64
	scene   string
}

type mRefund struct {
	order, no string
	amount    int64
}

func (m *model) init() {
	m.orders, m.manual = map[string]*mOrder{}, map[string]bool{}
}

func (m *model) created(id string, amount int64, scene string) {
	o := m.orders[id]
	if o == nil {
		o = &mOrder{id: id, amounts: map[int64]bool{}}
		m.orders[id] = o
		m.ids = append(m.ids, id)
	}
	o.amounts[amount], o.last, o.scene = true, amount, scene
}

func (m *model) refundAsked(order, no string, amount int64) {
	m.asked = append(m.asked, mRefund{order: order, no: no, amount: amount})
	m.noteRefund(no)
}

func (m *model) noteRefund(no string) {
	for _, r := range m.refunds {
		if r == no {
			return
		}
	}
	m.refunds = append(m.refunds, no)
}

func (m *model) isAsked(no string) bool {
	for _, r := range m.asked {
		if r.no == no {
			return true
		}
	}
	return false
}
