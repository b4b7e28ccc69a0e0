package dst

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/paysls/wxpay/shared/orderapi"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// gen makes a history's steps from its seed, one at a time, looking at what the
// merchant has done (model) and what WeChat Pay holds (truth) so that operations hit
// targets that exist: orders to replay and re-price, payments to notify late, twice
// or never, refunds to settle, refunds of one order read under another.
type gen struct {
	r      *rand.Rand
	orders int // order names handed out
	refund int // refund names handed out
}

func newGen(seed int64) *gen {
	return &gen{r: rand.New(rand.NewPCG(uint64(seed), 0x5eed))}
}

var (
	scenes  = []string{orderapi.SceneNative, orderapi.SceneH5, orderapi.SceneApp, orderapi.SceneJSAPI, orderapi.SceneMiniProgram, orderapi.SceneAuto, orderapi.SceneCashier}
	amounts = []int64{100, 300, 500, 800}
)

// weighted picks a key by weight.
func (g *gen) weighted(choices []string, weights []int) string {
	total := 0
	for _, w := range weights {
		total += w
	}
	n := g.r.IntN(total)
	for i, w := range weights {
		if n < w {
			return choices[i]
		}
		n -= w
	}
	return choices[len(choices)-1]
}

func (g *gen) pick(list []string) string {
	if len(list) == 0 {
		return ""
	}
	return list[g.r.IntN(len(list))]
}

// concurrent are the operations a step may run side by side.
var concurrent = []string{"create", "refund", "get", "getrefund", "close", "deliver", "pay", "settle", "v2refund", "reconcile", "page"}

// concurrentPlatform are those of a platform history: combine creates besides.
var concurrentPlatform = append(slices.Clone(concurrent), "combine")

func (g *gen) step(w *world) Step {
	t := w.truth()
	st := Step{Sched: g.r.Uint64()}
	if race, ok := g.raceStep(w); ok { // race.go
		race.Sched = st.Sched
		return race
	}
	n := 1
	if g.r.IntN(4) == 0 {
		n = 2 + g.r.IntN(2)
	}
	for len(st.Ops) < n {
		var op Op
		switch {
		case n == 1:
			op = g.op(w, t, "")
		case w.cfg.Bundle.Ecommerce():
			op = g.op(w, t, g.pick(concurrentPlatform)) // platform.go
		default:
			op = g.op(w, t, g.pick(concurrent))
		}
		if op.Op == "" {
			continue
		}
		st.Ops = append(st.Ops, op)
		if n > 1 && g.r.IntN(3) == 0 {
			st.Ops = append(st.Ops, op) // the same request twice at once: a client's retry racing itself
		}
	}
	if len(st.Ops) > 3 {
		st.Ops = st.Ops[:3]
	}
	g.sceneStep(&st) // scenes.go
	// Two refunds of one order at once, each for what is left: together they ask for
	// more than the order was paid.
	if n > 1 && st.Ops[0].Op == "refund" && g.r.IntN(2) == 0 {
		g.refund++
		sib := st.Ops[0]
		sib.Refund = fmt.Sprintf("refund%d", g.refund)
		st.Ops[1] = sib
	}
	if g.r.IntN(5) == 0 {
		st.Faults = []Fault{g.fault()}
		// Half the WeChat Pay faults of a step that asks for a refund become the
		// transient refusal of that refund (faults.go); one more draw only for such
		// steps, so that other histories stay as they were.
		if st.Faults[0].On == onWeChatPay && slices.ContainsFunc(st.Ops, func(op Op) bool { return op.Op == "refund" }) && g.r.IntN(2) == 0 {
			st.Faults[0] = Fault{On: onRefund, At: 1, Kind: refundRefused}
		}
	}
	// A platform's reconcile may lose every answer of WeChat Pay's subsidy API (补差):
	// the subsidy stays asked, its result unknown here (sharing.go). One more draw only
	// for such steps, so that other histories stay as they were.
	if w.cfg.Bundle.Ecommerce() && slices.ContainsFunc(st.Ops, func(op Op) bool { return op.Op == "reconcile" }) && g.r.IntN(6) == 0 {
		st.Faults = append(st.Faults, Fault{On: onSubsidy, Kind: lostAnswer})
		// Or WeChat Pay's answers about splits contradict what was asked (forge.go) — in a
		// step without other faults, so that the answer reaches the ledger.
		if len(st.Faults) == 1 && g.r.IntN(2) == 0 {
			st.Faults[0] = Fault{On: onShareAnswer, Kind: shareLie}
		}
	}
	return st
}

func (g *gen) fault() Fault {
	f := Fault{At: 1 + g.r.IntN(6)}
	switch k := g.r.IntN(20); {
	case k < 8:
		f.On, f.Kind = onWrite, g.pick([]string{crashBefore, crashAfter})
	case k < 13:
		f.On, f.Kind = onWrite, g.pick([]string{unavailable, timeout})
	case k < 15:
		f.On, f.Kind = onRead, unavailable
	case k < 17:
		f.On, f.Kind = onWeChatPay, g.pick([]string{fault5xx, lostAnswer})
	default:
		f.On, f.Kind, f.At = onWebhook, webhookDown, 1+g.r.IntN(2)
	}
	return f
}

// op makes one operation of kind (any kind when "").
func (g *gen) op(w *world, t *truth, kind string) Op {
	if kind == "" {
		if op := g.platformOp(w); op.Op != "" { // platform.go
			return op
		}
		if op := g.twinOp(w); op.Op != "" { // twin.go
			return op
		}
		if op := g.sharingOp(w); op.Op != "" { // sharing.go
			return op
		}
		if op := g.sceneOp(w); op.Op != "" { // scenes.go
			return op
		}
		kind = g.weighted(
			[]string{"create", "pay", "deliver", "refund", "getrefund", "get", "close", "settle", "v2refund", "v2pay", "advance", "reconcile", "billfetch", "restart", "forge"},
			[]int{18, 12, 16, 10, 5, 7, 5, 6, 5, 2, 8, 5, 2, 2, 1})
	}
	if w.cfg.Bundle.Partner && (kind == "v2pay" || kind == "v2refund") {
		return Op{} // v2 XML notifications of a platform's sub-merchants are not simulated
	}
	m := &w.model
	switch kind {
	case "combine":
		return g.combineOp(w, true) // platform.go
	case "page":
		return g.pageKind(w) // scenes.go
	case "create":
		return g.create(m)
	case "get", "close":
		if id := g.pick(m.ids); id != "" {
			return Op{Op: kind, Order: id}
		}
	case "refund":
		return g.refundOp(m, t)
	case "getrefund":
		// Any refund, of any order: the merchant learns refund numbers from events and
		// listings, and may read one under the wrong order.
		if id, no := g.pick(m.ids), g.pick(refundNos(m, t)); id != "" && no != "" {
			return Op{Op: kind, Order: id, Refund: no}
		}
	case "pay":
		var unpaid []string
		for _, no := range t.trades {
			if o := t.orders[no]; o.state == wechatpay.TradeStateNotPay || o.state == wechatpay.TradeStateUserPaying {
				unpaid = append(unpaid, no)
			}
		}
		trade := g.pick(unpaid)
		if trade == "" || g.r.IntN(10) == 0 {
			trade = g.pick(t.trades)
		}
		if trade != "" {
			return Op{Op: kind, Trade: trade, Status: g.weighted([]string{"SUCCESS", "PAYERROR", "USERPAYING"}, []int{18, 1, 1})}
		}
	case "v2pay":
		if trade := g.pick(t.trades); trade != "" {
			return Op{Op: kind, Trade: trade}
		}
	case "deliver":
		return g.deliverOp(w)
	case "settle":
		var processing []string
		for _, no := range refundNos(m, t) {
			if r := t.refunds[no]; r != nil && r.status == wechatpay.RefundStatusProcessing {
				processing = append(processing, no)
			}
		}
		if no := g.pick(processing); no != "" {
			return Op{Op: kind, Refund: no, Status: g.weighted([]string{"SUCCESS", "ABNORMAL", "CLOSED"}, []int{14, 3, 3})}
		}
	case "v2refund":
		return g.v2refund(m, t)
	case "forge":
		var paid []string
		for _, no := range t.trades {
			if t.orders[no].paid() {
				paid = append(paid, no)
			}
		}
		trade := g.pick(paid)
		if trade == "" {
			return Op{}
		}
		if rs := refundNos(m, t); len(rs) > 0 && g.r.IntN(2) == 0 {
			return Op{Op: kind, Mode: "repoint", Trade: trade, Refund: g.pick(rs)}
		}
		g.refund++
		amount := t.orders[trade].amount + 100
		// One draw, as before the foreign and share modes were added (forge.go), so
		// that the histories of other operations stay as they were.
		switch g.r.IntN(4) {
		case 0:
			amount = 99_999_999
		case 1:
			// A payment of an unpaid current attempt WeChat Pay does not hold, then its
			// refund (forge.go); one more draw only here, so that other histories stay.
			if unpaid := g.unpaidCurrent(w, t); len(unpaid) > 0 && g.r.IntN(2) == 0 {
				no := g.pick(unpaid)
				return Op{Op: kind, Mode: "unpaid", Trade: no, Order: t.orders[no].tag, Refund: fmt.Sprintf("unpaid%d", g.refund), Amount: min(100, t.orders[no].amount)}
			}
		case 2:
			return Op{Op: kind, Mode: "foreign", Trade: trade, Refund: fmt.Sprintf("foreign%d", g.refund), Amount: t.orders[trade].amount}
		case 3:
			if shared := g.sharedPaid(w, t); len(shared) > 0 {
				return Op{Op: kind, Mode: "share", Trade: g.pick(shared), Amount: 1 + t.orders[trade].amount/10}
			}
		}
		return Op{Op: kind, Mode: "over", Trade: trade, Refund: fmt.Sprintf("forged%d", g.refund), Amount: amount}
	case "advance":
		return Op{Op: kind, Advance: g.weighted([]string{"30s", "3m", "6m", "20m", "2h10m", "23h"}, []int{4, 4, 4, 3, 2, 1})}
	case "reconcile", "billfetch", "restart":
		return Op{Op: kind}
	}
	return Op{}
}

// unpaidCurrent lists the attempts WeChat Pay holds unpaid (NOTPAY) for orders of the
// merchant's, in a direct history: targets of a forged payment (forge.go "unpaid").
func (g *gen) unpaidCurrent(w *world, t *truth) []string {
	if w.cfg.Bundle.Partner {
		return nil
	}
	var out []string
	for _, no := range t.trades {
		if o := t.orders[no]; o.tag != "" && o.state == wechatpay.TradeStateNotPay && w.model.orders[o.tag] != nil {
			out = append(out, no)
		}
	}
	return out
}

func (g *gen) newOrderID() string {
	g.orders++
	return fmt.Sprintf("order%d", g.orders)
}

func (g *gen) create(m *model) Op {
	op := Op{Op: "create", Scene: g.pick(scenes), Amount: amounts[g.r.IntN(len(amounts))]}
	switch k := g.r.IntN(10); {
	case len(m.ids) == 0 || k < 4:
		op.Order = g.newOrderID()
	case k < 7: // a replay: the same request again
		o := m.orders[g.pick(m.ids)]
		op.Order, op.Amount, op.Scene = o.id, o.last, o.scene
	case k < 9: // a re-price (or a scene change) of an existing order
		op.Order = g.pick(m.ids)
	default: // an order id equal to another order's re-priced attempt
		base := g.pick(m.ids)
		if i := strings.LastIndexByte(base, '_'); i > 0 {
			base = base[:i]
		}
		op.Order = fmt.Sprintf("%s_%d", base, 2+g.r.IntN(2))
	}
	return op
}

func (g *gen) refundOp(m *model, t *truth) Op {
	if len(m.ids) == 0 {
		return Op{}
	}
	// Mostly orders WeChat Pay holds paid.
	var paid []string
	for _, no := range t.trades {
		if o := t.orders[no]; o.paid() && o.tag != "" {
			paid = append(paid, o.tag)
		}
	}
	id := g.pick(paid)
	if id == "" || g.r.IntN(5) == 0 {
		id = g.pick(m.ids)
	}
	if len(m.asked) > 0 && g.r.IntN(5) == 0 { // a retry of an earlier refund (or its number reused)
		r := m.asked[g.r.IntN(len(m.asked))]
		if g.r.IntN(3) > 0 {
			return Op{Op: "refund", Order: r.order, Refund: r.no, Amount: r.amount}
		}
		return Op{Op: "refund", Order: id, Refund: r.no, Amount: r.amount}
	}
	g.refund++
	op := Op{Op: "refund", Order: id, Refund: fmt.Sprintf("refund%d", g.refund)}
	left := int64(0)
	for _, no := range t.trades {
		if o := t.orders[no]; o.tag == id && o.paid() {
			left = o.amount
			for _, rn := range o.refunds {
				if r := t.refunds[rn]; r != nil && r.status != wechatpay.RefundStatusClosed {
					left -= r.amount
				}
			}
		}
	}
	switch k := g.r.IntN(10); {
	case k < 4 && left > 0:
		op.Amount = left // the remainder
	case k < 5:
		op.Amount = left + 100 // over it
	default:
		op.Amount = []int64{100, 200, 300}[g.r.IntN(3)]
	}
	return op
}

func (g *gen) deliverOp(w *world) Op {
	q := w.sim.Queued()
	if len(q) == 0 {
		return Op{}
	}
	var waiting, acked []int
	for i, n := range q {
		if n.Acknowledged {
			acked = append(acked, i)
		} else {
			waiting = append(waiting, i)
		}
	}
	mode := ""
	var i int
	switch k := g.r.IntN(20); {
	case len(waiting) > 0 && k < 16:
		// Any waiting one, not the oldest: WeChat Pay's queues promise no order.
		i = waiting[g.r.IntN(len(waiting))]
	case len(waiting) > 0 && k < 18:
		i, mode = waiting[g.r.IntN(len(waiting))], "drop"
	case len(acked) > 0:
		i, mode = acked[g.r.IntN(len(acked))], "again"
	case len(waiting) > 0:
		i = waiting[0]
	default:
		return Op{}
	}
	n := q[i]
	if strings.HasPrefix(n.Event, "REFUND.") {
		return Op{Op: "deliver", Event: "refund", Refund: n.OutRefundNo, Mode: mode}
	}
	return Op{Op: "deliver", Event: "pay", Trade: n.OutTradeNo, Mode: mode}
}

func (g *gen) v2refund(m *model, t *truth) Op {
	var paid []string
	for _, no := range t.trades {
		if o := t.orders[no]; o.paid() {
			paid = append(paid, no)
		}
	}
	trade := g.pick(paid)
	if trade == "" {
		return Op{}
	}
	op := Op{Op: "v2refund", Trade: trade, Status: g.weighted([]string{"SUCCESS", "CHANGE", "REFUNDCLOSE"}, []int{16, 2, 2})}
	if g.r.IntN(5) == 0 {
		op.Mode = "lost"
	}
	// Mostly a new refund made by hand; sometimes the result of an existing one re-sent.
	if rs := t.orders[trade].refunds; len(rs) > 0 && g.r.IntN(4) == 0 {
		op.Refund = rs[g.r.IntN(len(rs))]
		op.Status = ""
		if r := t.refunds[op.Refund]; r != nil {
			op.Status = map[string]string{"SUCCESS": "SUCCESS", "ABNORMAL": "CHANGE", "CLOSED": "REFUNDCLOSE"}[r.status]
		}
		return op
	}
	g.refund++
	op.Refund = fmt.Sprintf("manual%d", g.refund)
	if g.r.IntN(2) == 0 {
		op.Amount = []int64{100, 200, 300}[g.r.IntN(3)]
	}
	return op
}

// refundNos are the refunds the merchant asked for or made by hand, and those WeChat
// Pay holds besides (e.g. the automatic refunds of late payments), in a stable order.
func refundNos(m *model, t *truth) []string {
	out := slices.Clone(m.refunds)
	var more []string
	for no := range t.refunds {
		if !slices.Contains(out, no) {
			more = append(more, no)
		}
	}
	slices.Sort(more)
	return append(out, more...)
}
