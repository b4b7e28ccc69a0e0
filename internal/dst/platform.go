package dst

// The platform mode (issue #18) in the simulation: a quarter of the histories run a
// deployment that is an e-commerce platform (WXPAY_MODE=ecommerce, 电商收付通). Its
// single orders are partner orders of one sub-merchant (the default WXPAY_SUB_MCHID),
// its refunds go through the e-commerce refund API, and the history adds combine
// orders (合单): created (replayed, re-priced) through POST /orders with sub_orders, paid
// whole at WeChat Pay (sometimes with one sub-order failing), their one notification
// delivered late, twice or never like any other. Each sub-order is an order of the
// model (its order_id tags it at WeChat Pay), so every invariant of the single orders
// holds for it — refunds of sub-orders included — and one more is checked: a combine
// announces combine.paid once exactly when every sub-order's payment was accepted as
// its payment, never otherwise.
//
// The sub-orders of a combine all belong to the default sub-merchant, so that the
// checks find every order under one owner.

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/paysls/wxpay/internal/paysim"
	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/orderapi"
	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// The scheduler runs one store call per operation at a time (sched.go): the ledger's
// sub-order reads and writes of one combine go one after the other.
func init() { payment.SetSubOrderParallel(1) }

// dstSubMchID is the platform's sub-merchant (二级商户) in platform histories.
const dstSubMchID = "1900000109"

// platformWorld reports whether the history of seed runs an e-commerce platform.
func platformWorld(seed int64) bool { return seed%4 == 3 }

// platformConfig makes the deployment of a platform history an e-commerce platform.
func (w *world) platformConfig(seed int64) {
	if !platformWorld(seed) {
		return
	}
	b := &w.cfg.Bundle
	b.Partner, b.Mode, b.SubMchID = true, config.ModeEcommerce, dstSubMchID
	// Half of them have the platform advance every refund (垫付): reconcile then takes
	// each advance back once its refund has succeeded.
	b.RefundAdvance = seed%8 == 7
}

// owner is the merchant owning the history's orders and refunds in the ledger: the
// sub-merchant on a platform.
func (w *world) owner() string {
	if w.cfg.Bundle.Partner {
		return w.cfg.Bundle.SubMchID
	}
	return w.id.MchID
}

// refundParty names the merchant of a refund result as WeChat Pay does in the mode.
func (w *world) refundParty(n *wechatpay.RefundNotice) {
	if w.cfg.Bundle.Partner {
		n.MchID, n.SpMchID, n.SubMchID = "", w.id.MchID, w.owner()
		return
	}
	n.MchID = w.id.MchID
}

// platformModel is what the merchant asked of combines.
type platformModel struct {
	combines map[string]*mCombine
	ids      []string
	shared   []string // combines placed for profit sharing (sharing.go)
}

type mCombine struct {
	id     string
	n      int
	amount int64 // the first sub-order's; sub-order i pays amount + 100·i
	scene  string
}

func subOrderID(combine string, i int) string { return fmt.Sprintf("%s-%d", combine, i+1) }

// platformOp makes an operation of the platform, or none (then the generator makes an
// ordinary one): combine creates, replays and re-prices; paying a combine; delivering
// its notification, again or never.
func (g *gen) platformOp(w *world) Op {
	if !w.cfg.Bundle.Ecommerce() || g.r.IntN(10) >= 3 {
		return Op{}
	}
	pm := &w.model.platform
	switch k := g.r.IntN(10); {
	case k < 4 || len(pm.ids) == 0:
		return g.combineOp(w, false)
	case k < 7:
		var unpaid []string
		for _, c := range w.simCombines() {
			if st := c.Transaction.SubOrders; len(st) > 0 && (st[0].TradeState == wechatpay.TradeStateNotPay || st[0].TradeState == wechatpay.TradeStateUserPaying) {
				unpaid = append(unpaid, c.Transaction.CombineOutTradeNo)
			}
		}
		if no := g.pick(unpaid); no != "" {
			return Op{Op: "paycombine", Trade: no, Status: g.weighted([]string{"SUCCESS", "FAILONE", "PAYERROR"}, []int{16, 3, 1})}
		}
	default:
		var queued []string
		for _, c := range w.simCombines() {
			queued = append(queued, c.Transaction.CombineOutTradeNo)
		}
		if no := g.pick(queued); no != "" {
			return Op{Op: "deliver", Trade: no, Event: "pay", Mode: g.weighted([]string{"", "again", "drop"}, []int{6, 3, 1})}
		}
	}
	return Op{}
}

// combineOp makes a combine create: a new combine, the same request again, or a
// re-price of an existing one (new amounts, maybe another scene). In a step of
// concurrent operations (concurrently) it is mostly a re-price, which the step often
// doubles (a client's retry racing itself): two identical re-prices at once, one of
// them taking over the other's reservation when its claim has lapsed — at once under
// the short lease, after a wait on the business clock under the real one.
func (g *gen) combineOp(w *world, concurrently bool) Op {
	pm := &w.model.platform
	op := Op{Op: "combine", Scene: g.pick(scenes), Amount: amounts[g.r.IntN(len(amounts))], Status: strconv.Itoa(2 + g.r.IntN(3))}
	fresh, replay := 2, 1 // of 4: a new combine, the same request again, else a re-price
	if concurrently {
		fresh, replay = 1, 1
	}
	switch k := g.r.IntN(4); {
	case len(pm.ids) == 0 || k < fresh:
		g.orders++
		op.Order = fmt.Sprintf("combine%d", g.orders)
	case k < fresh+replay: // the same request again
		c := pm.combines[g.pick(pm.ids)]
		op.Order, op.Amount, op.Scene, op.Status = c.id, c.amount, c.scene, strconv.Itoa(c.n)
	default: // re-priced
		c := pm.combines[g.pick(pm.ids)]
		op.Order, op.Status = c.id, strconv.Itoa(c.n)
	}
	return op
}

// simCombines lists the combines WeChat Pay holds (GET /sim/combines).
func (w *world) simCombines() []paysim.CombineView {
	req, _ := http.NewRequest(http.MethodGet, "http://sim/sim/combines", nil)
	resp := serve(w.sim, req)
	var out []paysim.CombineView
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return out
}

// execPlatform runs a platform operation in its thread.
func (w *world) execPlatform(op Op, a *answer) {
	switch op.Op {
	case "combine":
		n, _ := strconv.Atoi(op.Status)
		pm := &w.model.platform
		if pm.combines == nil {
			pm.combines = map[string]*mCombine{}
		}
		if pm.combines[op.Order] == nil {
			pm.ids = append(pm.ids, op.Order)
		}
		pm.combines[op.Order] = &mCombine{id: op.Order, n: n, amount: op.Amount, scene: op.Scene}
		subs := make([]map[string]any, n)
		for i := range subs {
			id, amount := subOrderID(op.Order, i), op.Amount+100*int64(i)
			w.model.created(id, amount, op.Scene)
			subs[i] = map[string]any{"order_id": id, "sub_mchid": dstSubMchID, "amount": amount, "description": description(id)}
		}
		body := map[string]any{"order_id": op.Order, "scene": op.Scene, "sub_orders": subs}
		switch op.Scene {
		case "jsapi", "miniprogram":
			body["payer"] = map[string]string{"openid": "odst" + op.Order}
		case "auto":
			body["user_agent"] = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148"
		}
		raw, _ := json.Marshal(body)
		req, _ := http.NewRequest(http.MethodPost, "http://bundle/orders", strings.NewReader(string(raw)))
		req.Header.Set("Authorization", "Bearer "+apiToken)
		req.Header.Set("Content-Type", "application/json")
		inc := w.inc
		resp := serve(inc.co, req)
		b, _ := io.ReadAll(resp.Body)
		var e struct{ Code string }
		_ = json.Unmarshal(b, &e)
		a.status, a.code = resp.StatusCode, e.Code
		if a.status/100 == 2 {
			a.status = 200
		}
		if inc.dead.Load() {
			a.status, a.code = 0, "CRASHED"
		}
	case "paycombine":
		p := paysim.CombinePayRequest{Result: op.Status}
		if op.Status == "FAILONE" {
			p.Result = wechatpay.TradeStateSuccess
			for _, c := range w.simCombines() {
				if c.Transaction.CombineOutTradeNo == op.Trade && len(c.Transaction.SubOrders) > 1 {
					p.FailSubOrders = []string{c.Transaction.SubOrders[0].OutTradeNo}
				}
			}
		}
		_, _, _, _ = w.sim.PayCombine(op.Trade, p)
	}
}

// checkCombines: combine.paid is announced once exactly when every sub-order of a
// combine is paid at WeChat Pay and that payment was accepted here, never otherwise.
func (w *world) checkCombines(tr *truth) {
	if !w.cfg.Bundle.Ecommerce() {
		return
	}
	w.merchant.mu.Lock()
	seen := map[string]bool{}
	announced := map[string]int{}
	for _, r := range w.merchant.received {
		if r.Type != payment.EventCombinePaid || seen[r.ID] {
			continue
		}
		seen[r.ID] = true
		var ev struct {
			Data payment.CombineEvent `json:"data"`
		}
		if json.Unmarshal([]byte(r.Body), &ev) == nil {
			announced[ev.Data.CombineOutTradeNo]++
		}
	}
	w.merchant.mu.Unlock()
	for _, c := range w.simCombines() {
		no := c.Transaction.CombineOutTradeNo
		all := true
		for _, s := range c.Transaction.SubOrders {
			// Paid: WeChat Pay's payment is the sub-order's accepted payment here (one
			// kept as a conflict — paid after the combine's close was asked for — is not;
			// a REVIEW about refunds later does not undo it).
			o := tr.orders[s.OutTradeNo]
			lr := w.ledgerOrder(s.OutTradeNo)
			if o == nil || !o.paid() || lr.order == nil || lr.order.Payment == nil || lr.order.Payment.TransactionID != o.txid {
				all = false
			}
		}
		switch n := announced[no]; {
		case all && n != 1:
			w.violate(InvEventsOnce, "combine %s: every sub-order is paid, the merchant received %d combine.paid", no, n)
		case !all && n != 0:
			w.violate(InvEventsOnce, "combine %s: not every sub-order was paid here, yet the merchant received %d combine.paid", no, n)
		}
	}
}

// checkCombineReads: whatever WeChat Pay holds paid for a combine is reachable from the
// combine's own read. GET /orders/{combine id} counts the attempts its pointer reaches
// (a paid combine number beyond them is a payment the combine cannot show), and when
// the paid number is its current attempt, each paid sub-order shows its transaction
// (or REVIEW, when the payment is kept as a conflict). A paid replaced attempt is kept
// on its sub-orders, which GET /orders/{sub order id} lists (checkFinal).
func (w *world) checkCombineReads(tr *truth) {
	if !w.cfg.Bundle.Ecommerce() {
		return
	}
	pm := &w.model.platform
	for _, c := range w.simCombines() {
		no := c.Transaction.CombineOutTradeNo
		id, k := no, 1
		if pm.combines[no] == nil {
			i := strings.LastIndexByte(no, '_')
			n, err := strconv.Atoi(no[i+1:])
			if i < 0 || err != nil || pm.combines[no[:i]] == nil {
				continue // not a combine of the merchant's (InvAsked checks its sub-orders)
			}
			id, k = no[:i], n
		}
		var paid []wechatpay.CombineSubTransaction
		for _, s := range c.Transaction.SubOrders {
			o := tr.orders[s.OutTradeNo]
			if o == nil {
				continue
			}
			// Each sub-order's record holds what was placed for it: a payment of exactly
			// that is its payment, never a mismatch for a person to settle.
			if lr := w.ledgerOrder(s.OutTradeNo); lr.found && lr.amount != o.amount {
				w.violate(InvAgrees, "sub-order %s of combine %s is %d fen here; WeChat Pay was asked for %d fen", s.OutTradeNo, no, lr.amount, o.amount)
			}
			if o.paid() {
				paid = append(paid, s)
			}
		}
		if len(paid) == 0 {
			continue
		}
		v, err := w.combineView(id)
		if err != nil {
			w.violate(InvAgrees, "finally GET /orders/%s: %v", id, err)
			continue
		}
		if k > v.Attempts {
			w.violate(InvAccounted, "WeChat Pay holds combine %s (attempt %d) with %d paid sub-orders; GET /orders/%s reaches %d attempts (current %s)", no, k, len(paid), id, v.Attempts, v.CombineOutTradeNo)
			continue
		}
		if k < v.Attempts || v.CombineOutTradeNo != no {
			continue
		}
		for _, s := range paid {
			o := tr.orders[s.OutTradeNo]
			shown := false
			for _, sv := range v.SubOrders {
				shown = shown || sv.OutTradeNo == s.OutTradeNo && (sv.TransactionID == o.txid || sv.State == reviewState)
			}
			if !shown {
				w.violate(InvAccounted, "WeChat Pay holds payment %s of sub-order %s of combine %s; GET /orders/%s does not show it", o.txid, s.OutTradeNo, no, id)
			}
		}
	}
}

// checkFailedSubOrders: a combine sub-order whose payment failed at WeChat Pay
// (PAYERROR) reads PAYERROR once the notification carrying it was accepted, never
// NOTPAY (payable to the merchant's eyes) until a reconcile run closes it. It runs when
// every notification was delivered and before reconcile (settle).
func (w *world) checkFailedSubOrders() {
	if !w.cfg.Bundle.Ecommerce() {
		return
	}
	acked := map[string]bool{}
	for _, q := range w.sim.Queued() {
		acked[q.OutTradeNo] = acked[q.OutTradeNo] || q.Acknowledged
	}
	for _, c := range w.simCombines() {
		if !acked[c.Transaction.CombineOutTradeNo] {
			continue
		}
		for _, s := range c.Transaction.SubOrders {
			if s.TradeState != wechatpay.TradeStatePayError {
				continue
			}
			switch lr := w.ledgerOrder(s.OutTradeNo); {
			case !lr.found, lr.state == wechatpay.TradeStatePayError, lr.state == wechatpay.TradeStateClosed, lr.state == reviewState:
			default:
				w.violate(InvAgrees, "sub-order %s of combine %s failed at WeChat Pay (PAYERROR) and its notification was accepted; it reads %s", s.OutTradeNo, c.Transaction.CombineOutTradeNo, lr.state)
			}
		}
	}
}

// combineView is GET /orders/{id} of a combine.
func (w *world) combineView(id string) (*orderapi.CombineView, error) {
	req, _ := http.NewRequest(http.MethodGet, "http://bundle/orders/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+apiToken)
	resp := serve(w.inc.co, req)
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%d %s", resp.StatusCode, b)
	}
	var v orderapi.CombineView
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, err
	}
	return &v, nil
}
