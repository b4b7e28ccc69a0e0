package dst

// The cashier page's scene switches (issue #17) in the simulation. A cashier order —
// single, or a combine on a platform — is paid in the scene of the browser that opens
// its link: Native on a desktop, H5 in a phone browser, JSAPI inside WeChat. WeChat Pay
// binds an out_trade_no to one scene, so each scene has an attempt of its own; a
// switch parks the attempt it leaves (a payment on it goes to REVIEW) and a switch
// back resumes it (createorder/scene.go, payment/scene.go). The history opens cashier
// orders in different scenes one after the other and at once (two browsers racing,
// or one browser's retry racing itself), pays the attempt of a scene the page left
// (parked) or of the scene it is in (current), with the faults and crashes every step
// may carry. Desktop and phone loads go through the page itself (GET /pay/{id},
// GET /pay/{id}/h5); a load inside WeChat makes the page's call to the order API
// (POST /orders with the payer's openid: the page's OAuth is not simulated).
//
// One invariant more, checked after every step (checkCurrentOnly): of an order's
// attempts WeChat Pay holds unpaid, at most one is payable here without review — no
// close asked for, no parking, no review — and that one is the attempt the order's
// pointer names. For a combine the attempt is payable when any of its sub-orders is,
// and the pointer is the combine's. Finally (checkPaidCurrent), a payment accepted
// without review is on the order's current attempt.

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/paysls/wxpay/functions/createorder/cashier"
	"github.com/paysls/wxpay/internal/paysim"
	"github.com/paysls/wxpay/shared/orderapi"
	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// InvCurrentOnly: only an order's current attempt can be paid without review.
const InvCurrentOnly = "current-only"

// InvParkedLive: an attempt the cashier page left for another scene keeps its prepay
// until its close is due (its expiry) — the page may come back to it — unless a real
// close (re-price, the merchant's, the order paid) supersedes the parking.
const InvParkedLive = "parked-live"

// pageScenes are the scenes the cashier page places a payment in.
var pageScenes = []string{orderapi.SceneNative, orderapi.SceneH5, orderapi.SceneJSAPI}

// User agents of the three browsers.
const (
	uaDesktop = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"
	uaPhone   = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
	uaWeChat  = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.47"
)

// pageKey signs the history's cashier links, as createorder does (cashier.DeriveKey of
// the API token).
var pageKey = cashier.DeriveKey([]byte(apiToken))

// sceneOp makes an operation on a cashier order, or none: a new cashier order, a load
// of its page in a scene, or the user paying one of its attempts — one the page left
// for another scene, or the one it is on.
func (g *gen) sceneOp(w *world) Op {
	rate := 2
	if w.cfg.Bundle.Ecommerce() {
		rate = 4 // a platform's histories also run its other combine operations
	}
	if g.r.IntN(10) >= rate {
		return Op{}
	}
	ids := w.cashierIDs()
	if len(ids) == 0 || g.r.IntN(8) == 0 {
		return g.newCashier(w)
	}
	id := g.pick(ids)
	if combines := w.cashierCombines(ids); len(combines) > 0 && g.r.IntN(2) == 0 {
		id = g.pick(combines) // a combine's switches touch every sub-order: more to get wrong
	}
	if g.r.IntN(3) == 0 {
		if op := g.payScene(w, id); op.Op != "" {
			return op
		}
	}
	not := ""
	if w.isCombine(id) && g.r.IntN(3) != 0 {
		not = w.combineScene(id) // mostly a switch: the page opened elsewhere
	}
	return g.pageOp(id, not)
}

// combineScene is the scene of combine id's current attempt ("" when unknown).
func (w *world) combineScene(id string) string {
	h, err := w.readLedger().Combine(context.Background(), w.id.MchID, id)
	if err != nil {
		return ""
	}
	return h.Current.Scene
}

// pageKind is the "page" operation of a concurrent step: a load of a cashier order's
// page, or none when there is no cashier order yet.
func (g *gen) pageKind(w *world) Op {
	id := g.pick(w.cashierIDs())
	if id == "" {
		return Op{}
	}
	return g.pageOp(id, "")
}

// pageOp loads order id's page in a scene other than not ("": any): inside WeChat
// mostly as the one payer, sometimes as another (a second phone scanning the poster).
func (g *gen) pageOp(id, not string) Op {
	var choices []string
	for _, s := range pageScenes {
		if s != not {
			choices = append(choices, s)
		}
	}
	op := Op{Op: "page", Order: id, Scene: g.pick(choices)}
	if op.Scene == orderapi.SceneJSAPI && g.r.IntN(5) == 0 {
		op.Mode = "other"
	}
	return op
}

// sceneStep makes a step of concurrent operations that opens a cashier order's page
// often race another load of the same page in another scene.
func (g *gen) sceneStep(st *Step) {
	if len(st.Ops) > 1 && st.Ops[0].Op == "page" && g.r.IntN(2) == 0 {
		st.Ops[1] = g.pageOp(st.Ops[0].Order, st.Ops[0].Scene)
	}
}

// newCashier makes a new cashier order: a single order, or on a platform mostly a
// combine.
func (g *gen) newCashier(w *world) Op {
	amount := amounts[g.r.IntN(len(amounts))]
	g.orders++
	if w.cfg.Bundle.Ecommerce() && g.r.IntN(4) != 0 {
		return Op{Op: "combine", Order: "combine" + strconv.Itoa(g.orders), Scene: orderapi.SceneCashier, Amount: amount,
			Status: strconv.Itoa(2 + g.r.IntN(2))}
	}
	return Op{Op: "create", Order: "order" + strconv.Itoa(g.orders), Scene: orderapi.SceneCashier, Amount: amount}
}

// payScene makes the user pay an attempt of cashier order id that WeChat Pay holds
// unpaid: half the time one the page left for another scene (parked), else the
// current one.
func (g *gen) payScene(w *world, id string) Op {
	current, others := w.unpaidAttempts(id)
	trade := current
	if len(others) > 0 && (trade == "" || g.r.IntN(2) == 0) {
		trade = g.pick(others)
	}
	switch {
	case trade == "":
		return Op{}
	case w.isCombine(id):
		return Op{Op: "paycombine", Trade: trade, Status: wechatpay.TradeStateSuccess}
	}
	return Op{Op: "pay", Trade: trade, Status: wechatpay.TradeStateSuccess}
}

// cashierIDs are the merchant's cashier orders (those created with scene cashier), in
// the order the history first used them: single orders, then combines.
func (w *world) cashierIDs() []string {
	ctx := context.Background()
	l := w.readLedger()
	var out []string
	for _, id := range w.model.ids {
		if h, err := l.Order(ctx, w.owner(), id); err == nil && h.First.Combine == nil && h.First.Create.CashierFP != "" {
			out = append(out, id)
		}
	}
	for _, id := range w.model.platform.ids {
		if h, err := l.Combine(ctx, w.id.MchID, id); err == nil && h.First.Create.CashierFP != "" {
			out = append(out, id)
		}
	}
	return out
}

// cashierCombines are the combines among cashier orders ids.
func (w *world) cashierCombines(ids []string) []string {
	var out []string
	for _, id := range ids {
		if w.isCombine(id) {
			out = append(out, id)
		}
	}
	return out
}

func (w *world) isCombine(id string) bool { return w.model.platform.combines[id] != nil }

// attemptOf reads which attempt of order id an out_trade_no (or combine number) is: id
// itself is attempt 1, id_n attempt n.
func attemptOf(id, no string) (int, bool) {
	if no == id {
		return 1, true
	}
	rest, ok := strings.CutPrefix(no, id+"_")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(rest)
	return n, err == nil && n > 1
}

// placed lists the attempts of order id WeChat Pay holds, by attempt number, with
// whether WeChat Pay has them unpaid; for a combine (combines: GET /sim/combines), its
// combine numbers.
func (w *world) placed(id string, combines []paysim.CombineView) map[int]bool {
	out := map[int]bool{}
	unpaid := func(s string) bool { return s == wechatpay.TradeStateNotPay || s == wechatpay.TradeStateUserPaying }
	if w.isCombine(id) {
		for _, c := range combines {
			if n, ok := attemptOf(id, c.Transaction.CombineOutTradeNo); ok && len(c.Transaction.SubOrders) > 0 {
				out[n] = unpaid(c.Transaction.SubOrders[0].TradeState)
			}
		}
		return out
	}
	tr := w.truth()
	for _, no := range tr.trades {
		if o := tr.orders[no]; o.tag == id {
			if n, ok := attemptOf(id, no); ok {
				out[n] = unpaid(o.state)
			}
		}
	}
	return out
}

// pointer is the attempt order id's pointer names (0: no such order here).
func (w *world) pointer(id string) int {
	ctx := context.Background()
	if w.isCombine(id) {
		h, err := w.readLedger().Combine(ctx, w.id.MchID, id)
		if err != nil {
			return 0
		}
		return max(h.First.Current, 1)
	}
	h, err := w.readLedger().Order(ctx, w.owner(), id)
	if err != nil {
		return 0
	}
	return max(h.First.Current, 1)
}

// unpaidAttempts are the out_trade_nos (combine numbers) of order id WeChat Pay holds
// unpaid: the current attempt's ("" when it is not among them), and the others.
func (w *world) unpaidAttempts(id string) (string, []string) {
	cur := w.pointer(id)
	current, others := "", []string(nil)
	var combines []paysim.CombineView
	if w.isCombine(id) {
		combines = w.simCombines()
	}
	for n, unpaid := range sortedAttempts(w.placed(id, combines)) {
		switch {
		case !unpaid:
		case n == cur:
			current = payment.AttemptNo(id, n)
		default:
			others = append(others, payment.AttemptNo(id, n))
		}
	}
	return current, others
}

// execPage runs a load of the cashier page of op.Order in op.Scene.
func (w *world) execPage(op Op, a *answer) {
	inc := w.inc
	link, _ := url.Parse(cashier.Link(publicURL, op.Order, pageKey, w.clk.Now(), 72*time.Hour))
	var path, ua string
	switch op.Scene {
	case orderapi.SceneNative:
		path, ua = link.Path, uaDesktop
	case orderapi.SceneH5:
		path, ua = link.Path+"/h5", uaPhone
	default:
		w.pageJSAPI(op, a)
		return
	}
	req, _ := http.NewRequest(http.MethodGet, "http://bundle"+path+"?"+link.RawQuery, nil)
	req.Header.Set("User-Agent", ua)
	resp := serve(inc.co, req)
	resp.Body.Close()
	// The page answers with the order API's status when the API refused (an error page):
	// a 500 there is the API's INTERNAL.
	a.status = resp.StatusCode
	switch {
	case inc.dead.Load():
		a.status, a.code = 0, "CRASHED"
	case a.status < 400:
		a.status = 200
	case a.status == http.StatusInternalServerError:
		a.code = "INTERNAL"
	}
}

// pageJSAPI is the page's load inside WeChat once the payer's openid is known: it reads
// the order and, while it is payable, asks the order API for the JSAPI payment — the
// order's amount, description and expiry as read, the payer, the browser's user agent
// (cashier.place).
func (w *world) pageJSAPI(op Op, a *answer) {
	ctx := context.Background()
	inc := w.inc
	openid := "odst" + op.Order + "-payer"
	if op.Mode == "other" {
		openid = "odst" + op.Order + "-other"
	}
	st, err := inc.api.Order(ctx, op.Order, "")
	if err == nil && !st.ClosePending && (st.State == wechatpay.TradeStateNotPay || st.State == wechatpay.TradeStateUserPaying || st.State == "PARTIAL") {
		var c *orderapi.CreateAnswer
		c, err = inc.api.Create(ctx, orderapi.CreateRequest{OrderID: st.OrderID, Amount: orderapi.Fen(st.Amount), Description: st.Description,
			TimeExpire: st.ExpiresAt, Scene: orderapi.SceneJSAPI, Payer: &orderapi.Payer{OpenID: openid}, UserAgent: uaWeChat})
		if !w.isCombine(op.Order) {
			a.create = c
		}
	}
	var e *orderapi.Error
	switch {
	case inc.dead.Load():
		a.status, a.code, a.create = 0, "CRASHED", nil
	case err == nil:
		a.status = 200
	case errors.As(err, &e):
		a.status, a.code = e.Status, e.Code
	default:
		a.status, a.code = 599, "TRANSPORT"
	}
}

// open reports whether attempt o can be paid here without review: unpaid, no close
// asked for (nor a parking), not in review.
func open(o *payment.Order) bool {
	return o != nil && o.Unsettled() && o.Payment == nil && o.Close == nil && !o.InReview()
}

// checkCurrentOnly holds every order with more than one attempt at WeChat Pay to
// InvCurrentOnly: of its attempts WeChat Pay holds unpaid, only the current one is
// payable without review.
func (w *world) checkCurrentOnly() {
	ctx := context.Background()
	l := w.readLedger()
	var combines []paysim.CombineView
	if len(w.model.platform.ids) > 0 {
		combines = w.simCombines()
	}
	for _, id := range w.model.ids {
		p := w.placed(id, nil)
		if len(p) < 2 {
			continue
		}
		h, err := l.Order(ctx, w.owner(), id)
		if err != nil || h.First.Combine != nil {
			continue // a sub-order: checked with its combine
		}
		cur := max(h.First.Current, 1)
		w.noteBack(id, cur, h.First.NewestAttempt())
		for n, unpaid := range sortedAttempts(p) {
			if !unpaid || n == cur {
				continue
			}
			if o := w.ledgerOrder(payment.AttemptNo(id, n)).order; open(o) {
				w.violate(InvCurrentOnly, "order %s: attempt %s is unpaid at WeChat Pay and payable here without review, but the order's current attempt is %s",
					id, o.OutTradeNo, payment.AttemptNo(id, cur))
			}
		}
	}
	for _, id := range w.model.platform.ids {
		p := w.placed(id, combines)
		if len(p) < 2 {
			continue
		}
		h, err := l.Combine(ctx, w.id.MchID, id)
		if err != nil {
			continue
		}
		cur := max(h.First.Current, 1)
		w.noteBack(id, cur, h.First.NewestAttempt())
		for n, unpaid := range sortedAttempts(p) {
			if !unpaid || n == cur {
				continue
			}
			c, err := l.CombineAttempt(ctx, w.id.MchID, payment.AttemptNo(id, n))
			if err != nil {
				continue
			}
			for _, s := range c.SubOrders {
				if o := w.ledgerOrder(s.OutTradeNo).order; open(o) && w.truth().orders[s.OutTradeNo] != nil {
					w.violate(InvCurrentOnly, "combine %s: sub-order %s of attempt %s is payable here without review, but the combine's current attempt is %s",
						id, s.OutTradeNo, c.CombineNo, payment.AttemptNo(id, cur))
					break
				}
			}
		}
	}
}

// parkedNow lists the attempts of cashier orders (single and combine) the page has
// parked, by out_trade_no or combine number, with when their close is due.
func (w *world) parkedNow() map[string]time.Time {
	ctx := context.Background()
	l := w.readLedger()
	out := map[string]time.Time{}
	for _, id := range w.cashierIDs() {
		if w.isCombine(id) {
			h, err := l.Combine(ctx, w.id.MchID, id)
			if err != nil || l.CombinePrevious(ctx, h) != nil {
				continue
			}
			for _, c := range append(h.Previous, h.Current) {
				if c.Parked() {
					out[c.CombineNo] = c.Close.At
				}
			}
			continue
		}
		h, err := l.Order(ctx, w.owner(), id)
		if err != nil || l.Previous(ctx, h) != nil {
			continue
		}
		for _, o := range append(h.Previous, h.Current) {
			if o.Parked() {
				out[o.OutTradeNo] = o.Close.At
			}
		}
	}
	return out
}

// reconcileOnly reports whether a step runs reconcile and nothing else: nothing in it
// can supersede a parking, so an attempt parked before it is still parked after it.
func reconcileOnly(st Step) bool {
	for _, op := range st.Ops {
		if op.Op != "reconcile" {
			return false
		}
	}
	return len(st.Ops) > 0
}

// checkParkedLive holds a step of reconcile alone to InvParkedLive: no attempt parked
// before it (parked, from parkedNow) is closed at WeChat Pay after it while its close
// is not due yet.
func (w *world) checkParkedLive(parked map[string]time.Time) {
	if len(parked) == 0 {
		return
	}
	closed := map[string]bool{}
	for no, o := range w.truth().orders {
		closed[no] = o.state == wechatpay.TradeStateClosed
	}
	for _, c := range w.simCombines() {
		closed[c.Transaction.CombineOutTradeNo] = c.ClosedAt != ""
	}
	now := w.clk.Now()
	for _, no := range slices.Sorted(maps.Keys(parked)) {
		if closed[no] && now.Before(parked[no]) {
			w.violate(InvParkedLive, "%s was parked by a scene switch, its close due at %s, and reconcile closed it at WeChat Pay by %s",
				no, parked[no].Format(time.RFC3339), now.Format(time.RFC3339))
		}
	}
}

// sortedAttempts ranges over p in attempt order.
func sortedAttempts(p map[int]bool) func(func(int, bool) bool) {
	return func(yield func(int, bool) bool) {
		hi := 0
		for n := range p {
			hi = max(hi, n)
		}
		for n := 1; n <= hi; n++ {
			if v, ok := p[n]; ok && !yield(n, v) {
				return
			}
		}
	}
}

// checkPaidCurrent: once settled, a payment accepted here without review is on its
// order's current attempt (a sub-order's: its combine's current attempt).
func (w *world) checkPaidCurrent(tr *truth) {
	for _, t := range tr.trades {
		o := tr.orders[t]
		if o.tag == "" || !o.paid() {
			continue
		}
		lr := w.ledgerOrder(t)
		if lr.order == nil || lr.order.Payment == nil || lr.order.InReview() {
			continue
		}
		id, n := lr.order.OrderID, max(lr.order.Attempt, 1)
		cur := 0
		if ref := lr.order.Combine; ref != nil {
			if w.isCombine(ref.OrderID) {
				cur = w.pointer(ref.OrderID)
			}
		} else {
			cur = w.pointer(id)
		}
		if cur != 0 && cur != n {
			w.violate(InvCurrentOnly, "payment %s on %s (attempt %d of %s) was accepted without review, but the current attempt is %d",
				o.txid, t, n, id, cur)
		}
	}
}

// SceneCover counts what histories did with the cashier page's scenes, as the ledger
// holds it once a history settles: cashier orders placed in more than one scene, those
// whose pointer was seen after a step back on an attempt older than their newest (the
// page came back to a scene whose payment still lived), and attempts paid while parked (kept for
// review); for single orders and for combines. It shows the histories reach what
// InvCurrentOnly guards (TestSceneCoverage; `make dst` prints it).
type SceneCover struct {
	Switched, Back, ParkedPaid                      int
	CombineSwitched, CombineBack, CombineParkedPaid int
}

func (c *SceneCover) add(o SceneCover) {
	c.Switched += o.Switched
	c.Back += o.Back
	c.ParkedPaid += o.ParkedPaid
	c.CombineSwitched += o.CombineSwitched
	c.CombineBack += o.CombineBack
	c.CombineParkedPaid += o.CombineParkedPaid
}

// String is the line `make dst` prints before its last.
func (c SceneCover) String() string {
	return fmt.Sprintf("dst: cashier scenes — orders switched %d, back on an older attempt %d, paid while parked %d; combines switched %d, back %d, paid while parked %d",
		c.Switched, c.Back, c.ParkedPaid, c.CombineSwitched, c.CombineBack, c.CombineParkedPaid)
}

// paidParked reports whether attempt o was paid while the cashier page had left it:
// its payment kept for review with the cause a parking gives (payment/transaction.go).
func paidParked(o *payment.Order) bool {
	if o == nil {
		return false
	}
	for _, c := range o.Review.Causes {
		if c.Kind == payment.CausePaidAfterCloseRequested && strings.Contains(c.Detail, "another scene") {
			return true
		}
	}
	return false
}

// noteBack notes an order whose pointer names attempt cur, older than its newest.
func (w *world) noteBack(id string, cur, newest int) {
	if cur >= newest {
		return
	}
	if w.wentBack == nil {
		w.wentBack = map[string]bool{}
	}
	w.wentBack[id] = true
}

// sceneCover counts the history's cashier orders (SceneCover).
func (w *world) sceneCover() SceneCover {
	ctx := context.Background()
	l := w.readLedger()
	var c SceneCover
	var combines []paysim.CombineView
	if len(w.model.platform.ids) > 0 {
		combines = w.simCombines()
	}
	for _, id := range w.cashierIDs() {
		if w.isCombine(id) {
			h, err := l.Combine(ctx, w.id.MchID, id)
			if err != nil || len(w.placed(id, combines)) < 2 {
				continue
			}
			c.CombineSwitched++
			if w.wentBack[id] {
				c.CombineBack++
			}
			if err := l.CombinePrevious(ctx, h); err != nil {
				continue
			}
		paid:
			for _, a := range append(h.Previous, h.Current) {
				for _, s := range a.SubOrders {
					if paidParked(w.ledgerOrder(s.OutTradeNo).order) {
						c.CombineParkedPaid++
						break paid
					}
				}
			}
			continue
		}
		h, err := l.Order(ctx, w.owner(), id)
		if err != nil || len(w.placed(id, nil)) < 2 {
			continue
		}
		c.Switched++
		if w.wentBack[id] {
			c.Back++
		}
		if err := l.Previous(ctx, h); err != nil {
			continue
		}
		for _, a := range append(h.Previous, h.Current) {
			if paidParked(a) {
				c.ParkedPaid++
				break
			}
		}
	}
	return c
}
