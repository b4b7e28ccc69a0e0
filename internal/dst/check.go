package dst

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"

	"github.com/paysls/wxpay/shared/events"
	"github.com/paysls/wxpay/shared/orderapi"
	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// Violation is an invariant a history broke.
type Violation struct {
	Invariant string `json:"invariant"`
	Detail    string `json:"detail"`
}

// The invariants. WeChat Pay (the simulator's ledger) is the truth; the bundle is read
// through what it exposes — GET /orders, the merchant's webhook, the events API — and,
// where those do not show enough, the ledger's records (ledgerview.go).
const (
	// Isolation: an order shows only its own attempts and refunds (an out_trade_no is
	// an order's when WeChat Pay holds it for that order), and a refund read under an
	// order is that order's.
	InvIsolation = "isolation"
	// Accounted: every transaction and refund WeChat Pay holds for an order the bundle
	// created is on that order: as its payment, a refund, or a kept conflict; and
	// every genuine notification the bundle acknowledged is kept (forge.go).
	InvAccounted = "accounted"
	// Bounded: no order's settled refunds exceed its payment unless it is REVIEW.
	InvBounded = "bounded"
	// Agrees: each order's final state equals WeChat Pay's, or is REVIEW with a cause.
	InvAgrees = "agrees"
	// Asked: WeChat Pay holds no prepay and no refund the merchant did not ask for.
	InvAsked = "asked"
	// EventsOnce: every transition produced exactly one event, every event was
	// delivered (the outbox is empty once settled), an event id always carries one
	// content, and reaches the merchant once — again only after a crash or a store
	// fault could have kept its deliverer from recording the delivery.
	InvEventsOnce = "events-once"
	// EventsCausal: an order's events reach the merchant in causal order: nothing
	// about its refunds before order.paid, order.paid never last of a fully refunded
	// order, never paid after closed without a review.
	InvEventsCausal = "events-causal"
	// NoInternalError: the API never answers 500 INTERNAL (an unexpected error).
	InvNoInternalError = "internal-error"
	// CurrentOnly (InvCurrentOnly, scenes.go): only an order's current attempt can be
	// paid without review. ParkedLive (InvParkedLive, scenes.go): an attempt the
	// cashier page parked is not closed before its close is due (its expiry).
	// NoPanic: nothing panics; NotStuck: every step ends.
	InvNoPanic  = "panic"
	InvNotStuck = "stuck"
)

// Invariants lists every invariant name.
var Invariants = []string{InvIsolation, InvAccounted, InvBounded, InvAgrees, InvAsked, InvEventsOnce, InvEventsCausal, InvCurrentOnly, InvParkedLive, InvNoInternalError, InvNoPanic, InvNotStuck}

func (w *world) violate(inv, format string, a ...any) {
	w.violations = append(w.violations, Violation{Invariant: inv, Detail: fmt.Sprintf("step %d: ", w.step) + fmt.Sprintf(format, a...)})
}

// ownedBy: WeChat Pay holds out_trade_no t for order id, or does not hold it at all
// (an attempt never placed, whatever the ledger names its attempts).
func ownedBy(tr *truth, t, id string) bool {
	if tag, ok := tr.tagOf(t); ok {
		return tag == id
	}
	return true
}

// checkAnswers holds what the API answered in a step to isolation, as soon as the step
// ends: an answer is what the merchant acts on.
func (w *world) checkAnswers(answers []answer) {
	tr := w.truth()
	for _, a := range answers {
		op := a.op
		if a.status == 500 && a.code == "INTERNAL" {
			w.violate(InvNoInternalError, "%s answered 500 INTERNAL", op)
		}
		if a.status != 200 {
			continue
		}
		switch {
		case a.create != nil:
			if !ownedBy(tr, a.create.OutTradeNo, op.Order) {
				w.violate(InvIsolation, "POST /orders %s answered out_trade_no %s, which WeChat Pay holds for order %q", op.Order, a.create.OutTradeNo, tagOr(tr, a.create.OutTradeNo))
			}
		case a.view != nil:
			w.checkView(tr, op.Order, a.view, "GET /orders/"+op.Order)
		case a.refund != nil:
			path := "POST /orders/" + op.Order + "/refunds"
			if op.Op == "getrefund" {
				path = "GET /orders/" + op.Order + "/refunds/" + op.Refund
			}
			if !ownedBy(tr, a.refund.OutTradeNo, op.Order) {
				w.violate(InvIsolation, "%s answered a refund of out_trade_no %s (WeChat Pay's order %q)", path, a.refund.OutTradeNo, tagOr(tr, a.refund.OutTradeNo))
			} else if r := tr.refunds[a.refund.OutRefundNo]; r != nil && !ownedBy(tr, r.outTradeNo, op.Order) {
				w.violate(InvIsolation, "%s answered refund %s, which WeChat Pay holds for out_trade_no %s (order %q)", path, r.no, r.outTradeNo, tagOr(tr, r.outTradeNo))
			}
		}
	}
}

// paidAttempt is an attempt WeChat Pay holds paid, and whether the ledger held its
// payment (paid, or kept in REVIEW) too.
type paidAttempt struct {
	o             *simOrder
	known, parked bool
}

// paidAttempts is, for a step that creates orders, the attempts WeChat Pay holds paid
// before it runs, by merchant order id: what checkPayable holds the creates' answers to.
func (w *world) paidAttempts(st Step) map[string][]paidAttempt {
	if !slices.ContainsFunc(st.Ops, func(op Op) bool { return op.Op == "create" }) {
		return nil
	}
	w.tr = nil
	out := map[string][]paidAttempt{}
	for _, o := range w.truth().orders {
		if o.tag != "" && o.paid() {
			lr := w.ledgerOrder(o.outTradeNo)
			known := lr.found && lr.order != nil && (lr.order.Paid() || lr.order.InReview())
			parked := lr.found && lr.order != nil && lr.order.Parked()
			out[o.tag] = append(out[o.tag], paidAttempt{o, known, parked})
		}
	}
	return out
}

// checkPayable: POST /orders never places a payment for an order WeChat Pay already
// held paid, under another attempt, before the request — a late or lost notification
// is no excuse, the attempt being replaced is asked first — nor answers one live while
// the ledger holds such a payment (kept in REVIEW on an attempt the order replaced):
// the user would pay twice. Accepted: the replay of a live attempt while a payment of
// an attempt it replaced is still unknown here (its close, due within 5 minutes, finds
// it and keeps it in REVIEW), and a payment unknown here on an attempt the cashier page
// parked, before or by this request (payable by design while the user switches
// devices, kept in REVIEW).
func (w *world) checkPayable(answers []answer, paidBefore map[string][]paidAttempt) {
	for _, a := range answers {
		c := a.create
		if a.status != 200 || c == nil || len(c.Pay) == 0 || c.State != "NOTPAY" {
			continue
		}
		for _, p := range paidBefore[a.op.Order] {
			if p.o.outTradeNo == c.OutTradeNo {
				continue
			}
			if !p.known {
				if c.Replayed || p.parked {
					continue
				}
				// Left by this very switch of the cashier page: parked, not closed — and
				// still so when the payment on it was learnt meanwhile (a concurrent GET)
				// and the parked attempt went to REVIEW with its close owed by the scene.
				if lr := w.ledgerOrder(p.o.outTradeNo); lr.found && lr.order != nil && (lr.order.Parked() || lr.order.Close != nil && lr.order.Close.By == "scene") {
					continue
				}
			}
			w.violate(InvAgrees, "POST /orders %s answered attempt %s payable (NOTPAY, replayed %t) while WeChat Pay held attempt %s paid (%s) before the request (known here: %t)",
				a.op.Order, c.OutTradeNo, c.Replayed, p.o.outTradeNo, p.o.txid, p.known)
			break
		}
	}
}

func tagOr(tr *truth, t string) string {
	if tag, ok := tr.tagOf(t); ok {
		return tag
	}
	return "none: not at WeChat Pay"
}

// checkView holds one GET /orders answer to isolation.
func (w *world) checkView(tr *truth, id string, v *orderapi.OrderView, what string) {
	if v.OrderID != id {
		w.violate(InvIsolation, "%s answered order_id %q", what, v.OrderID)
	}
	if !ownedBy(tr, v.OutTradeNo, id) {
		w.violate(InvIsolation, "%s shows out_trade_no %s (state %s, transaction %s), which WeChat Pay holds for order %q", what, v.OutTradeNo, v.State, v.TransactionID, tagOr(tr, v.OutTradeNo))
	}
	for _, p := range v.Previous {
		if !ownedBy(tr, p.OutTradeNo, id) {
			w.violate(InvIsolation, "%s lists attempt %s, which WeChat Pay holds for order %q", what, p.OutTradeNo, tagOr(tr, p.OutTradeNo))
		}
	}
	for _, r := range v.Refunds {
		if !ownedBy(tr, r.OutTradeNo, id) {
			w.violate(InvIsolation, "%s lists refund %s of out_trade_no %s (order %q)", what, r.OutRefundNo, r.OutTradeNo, tagOr(tr, r.OutTradeNo))
		}
	}
}

// checkFinal checks the settled bundle against WeChat Pay.
func (w *world) checkFinal() {
	ctx := context.Background()
	tr := w.truth()
	views := map[string]*orderapi.OrderView{}
	for _, id := range w.model.ids {
		v, err := w.inc.api.Order(ctx, id, "")
		if err == nil {
			views[id] = v
			w.checkView(tr, id, v, "finally GET /orders/"+id)
		} else if !orderapi.IsCode(err, "ORDER_NOT_FOUND") && !orderapi.IsCode(err, "ORDER_ID_COLLISION") {
			w.violate(InvAgrees, "finally GET /orders/%s: %v", id, err)
		}
	}
	shown := func(id, t string) (state, txid string, ok bool) {
		v := views[id]
		if v == nil {
			return "", "", false
		}
		if v.OutTradeNo == t {
			return v.State, v.TransactionID, true
		}
		for _, p := range v.Previous {
			if p.OutTradeNo == t {
				return p.State, p.TransactionID, true
			}
		}
		return "", "", false
	}

	for _, t := range tr.trades {
		o := tr.orders[t]
		if o.tag == "" {
			continue
		}
		id := o.tag
		mo := w.model.orders[id]
		if mo == nil || !mo.amounts[o.amount] {
			w.violate(InvAsked, "WeChat Pay holds prepay %s of %d fen for order %s, which the merchant never asked for", t, o.amount, id)
		}
		lr := w.ledgerOrder(t)
		state, txid, isShown := shown(id, t)
		if o.paid() {
			if !isShown || (txid != o.txid && !lr.knows(o.txid)) {
				w.violate(InvAccounted, "WeChat Pay holds payment %s (%d fen) of %s for order %s; GET /orders/%s does not show it (shown: %t, transaction %q; the order shows %s)", o.txid, o.amount, t, id, id, isShown, txid, describe(views[id]))
			}
		}
		// Every day's trade bill was fetched: a payment WeChat Pay holds and the ledger
		// accepted was listed by its day's bill and noted by billfetch — else it was never
		// checked against the bill (shared orders: sharing.go).
		if lo := lr.order; o.paid() && lo != nil && lo.Payment != nil && lo.Payment.TransactionID == o.txid && !lo.InReview() &&
			lo.Sharing == nil && lo.Bill.Seen == "" && lo.Bill.Recheck == "" {
			w.violate(InvAccounted, "payment %s of %s (paid %s) was never checked against its day's trade bill (waiting in %q)", o.txid, t, lo.Payment.SuccessTime, lr.rec.Attrs[events.AttrSchedIndex])
		}
		// A payment WeChat Pay holds paid is never reviewed as one it does not hold
		// (payment_not_held): a refusal of its refund ("订单不存在", the step fault
		// "refund") is transient while its order query says it is paid.
		if lo := lr.order; o.paid() && lo != nil && slices.ContainsFunc(lo.Review.Causes, func(c payment.Cause) bool {
			return c.Kind == payment.CausePaymentNotHeld && c.TransactionID == o.txid
		}) {
			w.violate(InvAgrees, "order %s is in review as %s for payment %s of %s, which WeChat Pay holds %s", id, payment.CausePaymentNotHeld, o.txid, t, o.state)
		}
		v := views[id]
		if isShown && v != nil {
			w.checkAgrees(tr, o, v, state, lr)
		}
		// Refunds.
		for _, no := range o.refunds {
			r := tr.refunds[no]
			if r.manual {
				if !w.model.manual[no] {
					w.violate(InvAsked, "WeChat Pay holds refund %s of %s made by hand that the merchant never made", no, t)
				}
			} else if w.cfg.Bundle.RefundLatePayments && no == "LATE"+o.txid && r.amount == o.amount {
				// The deployment refunds payments made after their order closed.
			} else if !w.model.askedFor(id, no, r.amount) {
				w.violate(InvAsked, "WeChat Pay holds refund %s of %d fen of %s (order %s), which the merchant never asked for on that order%s", no, r.amount, t, id, w.model.askedDesc(no))
			}
			listed := false
			if v != nil {
				for _, rv := range v.Refunds {
					if rv.OutRefundNo == no {
						listed = true
						if rv.State != r.status && rv.State != reviewState {
							w.violate(InvAgrees, "order %s lists refund %s as %s; WeChat Pay has it %s", id, no, rv.State, r.status)
						}
					}
				}
			}
			if !listed && !lr.keepsRefund(no) {
				w.violate(InvAccounted, "WeChat Pay holds refund %s (%s, %d fen) of %s; order %s neither lists it nor keeps it", no, r.status, r.amount, t, id)
			}
			// Every day's trade bill was fetched: a refund WeChat Pay settled was listed
			// by its day's bill, and billfetch noted it whatever else it owed (an
			// advance's return, say) — else it was never checked against the bill.
			if rr, err := w.readLedger().Refund(context.Background(), w.owner(), no); err == nil && r.status == wechatpay.RefundStatusSuccess &&
				rr.State == wechatpay.RefundStatusSuccess && rr.OutTradeNo == t && !rr.InReview() && rr.Bill.Seen == "" && rr.Bill.Recheck == "" {
				w.violate(InvAccounted, "refund %s of %s (settled %s) was never checked against its day's trade bill (waiting in %q)", no, t, rr.SuccessTime, rr.Record().Attrs[events.AttrSchedIndex])
			}
		}
		// The ledger's own bound, whatever the API shows.
		if lr.found && lr.state != reviewState && lr.settled > lr.amount {
			w.violate(InvBounded, "record %s has %d fen of refunds settled on a payment of %d fen and is %s", lr.key, lr.settled, lr.amount, lr.state)
		}
	}
	for _, id := range w.model.ids {
		v := views[id]
		if v == nil || v.State == reviewState {
			continue
		}
		var sum int64
		for _, r := range v.Refunds {
			if r.State == wechatpay.RefundStatusSuccess {
				sum += r.Amount
			}
		}
		if v.Refunded > v.Amount || sum > v.Amount {
			w.violate(InvBounded, "order %s (%s) shows %d fen refunded (%d in its refund list) of %d fen paid", id, v.State, v.Refunded, sum, v.Amount)
		}
	}
	w.checkEvents(tr)
	w.checkCombines(tr)     // platform.go
	w.checkCombineReads(tr) // platform.go
	w.checkSharing(tr)      // sharing.go
	w.checkPaidCurrent(tr)  // scenes.go
	w.checkForged()         // forge.go
}

// checkAgrees compares attempt o as the bundle shows it with WeChat Pay.
func (w *world) checkAgrees(tr *truth, o *simOrder, v *orderapi.OrderView, state string, lr ledgerRecord) {
	id, t := o.tag, o.outTradeNo
	current := v.OutTradeNo == t
	if current && v.State == reviewState {
		if v.ReviewReason == "" {
			w.violate(InvAgrees, "order %s is REVIEW without a cause", id)
		}
		return
	}
	paidHere := state == wechatpay.TradeStateSuccess || state == wechatpay.TradeStateRefund
	switch {
	case o.paid() && !current && v.State != reviewState:
		w.violate(InvAgrees, "WeChat Pay holds payment %s on %s, a replaced attempt of order %s, which is %s (not REVIEW)", o.txid, t, id, v.State)
	case o.paid() && current && !paidHere:
		w.violate(InvAgrees, "order %s is %s; WeChat Pay has %s paid (%s)", id, state, t, o.state)
	case !o.paid() && paidHere && state != reviewState && !w.untold(t):
		w.violate(InvAgrees, "order %s shows %s %s; WeChat Pay has it %s", id, t, state, o.state)
	case o.state == wechatpay.TradeStateClosed && current && state != wechatpay.TradeStateClosed && !(paidHere && w.untold(t)):
		// Held paid only by a forged payment nothing has contradicted (the refund that
		// would have crashed before it was asked, say): the case above lets it be, and
		// WeChat Pay closing the unpaid order tells the ledger nothing either — a paid
		// order is not queried (seed7700040-agrees).
		w.violate(InvAgrees, "order %s is %s; WeChat Pay has %s CLOSED", id, state, t)
	case o.state == wechatpay.TradeStatePayError && current && (state == wechatpay.TradeStateNotPay || state == wechatpay.TradeStateUserPaying):
		// Once settled (past expiry, reconciled) a failed payment is final.
		w.violate(InvAgrees, "order %s is still %s; WeChat Pay has %s PAYERROR, never to be paid", id, state, t)
	}
	if current && o.paid() {
		settled := tr.settledRefunds(t)
		if v.Refunded != settled || (settled > 0) != (v.State == wechatpay.TradeStateRefund) {
			w.violate(InvAgrees, "order %s is %s with %d fen refunded; WeChat Pay has %d fen of refunds settled on %s", id, v.State, v.Refunded, settled, t)
		}
	}
}

func (m *model) askedFor(order, no string, amount int64) bool {
	for _, r := range m.asked {
		if r.no == no && r.order == order && r.amount == amount {
			return true
		}
	}
	return false
}

func (m *model) askedDesc(no string) string {
	var s []string
	for _, r := range m.asked {
		if r.no == no {
			s = append(s, fmt.Sprintf("%d fen on order %s", r.amount, r.order))
		}
	}
	if len(s) == 0 {
		return " (never asked)"
	}
	return " (asked: " + strings.Join(s, "; ") + ")"
}

// checkEvents holds the merchant's deliveries to the ledger's records and to causality.
func (w *world) checkEvents(tr *truth) {
	w.merchant.mu.Lock()
	received := append([]receipt(nil), w.merchant.received...)
	w.merchant.mu.Unlock()

	bodies := map[string]string{}
	last := map[string]receipt{} // the latest arrival of each id
	var order []receipt          // first arrival of each id
	for _, r := range received {
		if b, ok := bodies[r.ID]; ok {
			if b != r.Body {
				w.violate(InvEventsOnce, "event %s (%s) was delivered with two contents:\n  %s\n  %s", r.ID, r.Type, b, r.Body)
			}
			// A copy is sent again only when its deliverer could not record the
			// delivery (it crashed, or the store refused or lost the write) and the
			// claim's lease ran out. With nothing of the kind since the last copy, two
			// deliverers sent it at once: the claim failed.
			if prev := last[r.ID]; prev.Disruptions == r.Disruptions {
				w.violate(InvEventsOnce, "event %s (%s) of %s was delivered twice (steps %d and %d) with no crash or store fault between the copies", r.ID, r.Type, r.Key, prev.Step, r.Step)
			}
			last[r.ID] = r
			continue
		}
		bodies[r.ID] = r.Body
		last[r.ID] = r
		order = append(order, r)
	}

	// Every event the ledger recorded was delivered; nothing was delivered that it did
	// not record (on whichever record the ledger keeps it).
	keys := map[string]bool{}
	for _, r := range order {
		keys[r.Key] = true
	}
	for _, t := range tr.trades {
		keys[w.ledgerOrder(t).key] = true
	}
	for no := range tr.refunds {
		keys[w.ledgerRefund(no).key] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	for _, key := range sorted {
		lr := w.ledger(key)
		if !lr.found {
			continue
		}
		recorded := map[string]bool{}
		for _, e := range lr.events {
			recorded[e.ID] = true
		}
		for _, r := range order {
			if r.Key == key && !recorded[r.ID] {
				w.violate(InvEventsOnce, "the merchant received event %s (%s) of %s, which the record does not hold", r.ID, r.Type, key)
			}
		}
	}

	// Each transition produced one event: counted per order attempt and per refund
	// from what the merchant received (the event's data names them).
	count := map[string]int{} // entity + " " + type
	for _, r := range order {
		count[entityOf(r)+" "+r.Type]++
	}
	for k, n := range count {
		ent, typ, _ := strings.Cut(k, " ")
		if n > 1 && typ != events.OrderReview && typ != events.RefundFailed && !shareEvent(typ) { // sharing.go counts its own
			w.violate(InvEventsOnce, "the merchant received %d %s events for %s", n, typ, ent)
		}
	}
	for _, t := range tr.trades {
		lr := w.ledgerOrder(t)
		if !lr.found {
			continue
		}
		has := func(typ string) bool { return count["trade:"+t+" "+typ] > 0 }
		want := ""
		switch lr.state {
		case wechatpay.TradeStateSuccess, wechatpay.TradeStateRefund:
			want = events.OrderPaid
		case wechatpay.TradeStateClosed:
			want = events.OrderClosed
		case reviewState:
			want = events.OrderReview
		}
		if want != "" && !has(want) {
			w.violate(InvEventsOnce, "order %s is %s but the merchant received no %s for it", t, lr.state, want)
		}
		if lr.state != reviewState && lr.amount > 0 && lr.settled >= lr.amount && !has(events.OrderRefunded) {
			w.violate(InvEventsOnce, "order %s is fully refunded (%d of %d fen) but the merchant received no order.refunded", t, lr.settled, lr.amount)
		}
	}
	nos := make([]string, 0, len(tr.refunds))
	for no := range tr.refunds {
		nos = append(nos, no)
	}
	sort.Strings(nos)
	for _, no := range nos {
		if lr := w.ledgerRefund(no); lr.found && lr.state == wechatpay.RefundStatusSuccess && count["refund:"+no+" "+events.RefundSucceeded] == 0 && !w.keptAsExcess(no) {
			w.violate(InvEventsOnce, "refund %s is SUCCESS but the merchant received no refund.succeeded for it", no)
		}
	}

	// The outbox is empty once settled: the merchant's own view, GET /events?undelivered=1.
	req, _ := http.NewRequest(http.MethodGet, "http://bundle/events?undelivered=1&limit=1000", nil)
	req.Header.Set("Authorization", "Bearer "+apiToken)
	var owed events.Listing
	if resp := serve(w.inc.events, req); resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&owed) != nil {
		w.violate(InvEventsOnce, "GET /events?undelivered=1 answered %d", resp.StatusCode)
	}
	for _, e := range owed.Events {
		w.violate(InvEventsOnce, "event %s (%s) is still owed once settled (attempts %d, last error %q)", e.ID, e.Type, e.Delivery.Attempts, e.Delivery.LastError)
	}

	// Causal order, per attempt: its order.* events and the refund.* events naming it.
	// The twin's (twin.go) are grouped apart, as "{twin}/{out_trade_no}": it shares
	// numbers with the default sub-merchant.
	byTrade := map[string][]receipt{}
	for _, r := range order {
		scope := ""
		if ownerOfKey(r.Key) == dstTwinSubMchID {
			scope = dstTwinSubMchID + "/"
		}
		if t, ok := tradeOfKey(r.Key); ok {
			byTrade[scope+t] = append(byTrade[scope+t], r)
			continue
		}
		var ev struct {
			Data struct {
				OutTradeNo string `json:"out_trade_no"`
			} `json:"data"`
		}
		if json.Unmarshal([]byte(r.Body), &ev) == nil && ev.Data.OutTradeNo != "" {
			byTrade[scope+ev.Data.OutTradeNo] = append(byTrade[scope+ev.Data.OutTradeNo], r)
		}
	}
	trades := make([]string, 0, len(byTrade))
	for t := range byTrade {
		trades = append(trades, t)
	}
	sort.Strings(trades)
	for _, t := range trades {
		seq := byTrade[t]
		types := make([]string, len(seq))
		paidAt, closedAt, reviewAfterClose := -1, -1, false
		for i, r := range seq {
			types[i] = r.Type
			switch r.Type {
			case events.OrderPaid:
				if paidAt < 0 {
					paidAt = i
				}
			case events.OrderClosed:
				if closedAt < 0 {
					closedAt = i
				}
			case events.OrderReview:
				if closedAt >= 0 {
					reviewAfterClose = true
				}
			}
		}
		lr, twin := w.ledgerOrder(t), false
		if no, ok := strings.CutPrefix(t, dstTwinSubMchID+"/"); ok {
			lr, twin = w.ledgerOrderOf(dstTwinSubMchID, no), true
		}
		for i, r := range seq {
			if (r.Type == events.RefundSucceeded || r.Type == events.OrderRefunded) && (paidAt < 0 || paidAt > i) && (paidAt >= 0 || lr.state != reviewState) {
				w.violate(InvEventsCausal, "%s: %s reached the merchant before order.paid (events: %s)", t, r.Type, strings.Join(types, ", "))
				break
			}
		}
		fully := (lr.found && lr.amount > 0 && lr.settled >= lr.amount) || (!twin && tr.orders[t] != nil && tr.orders[t].paid() && tr.settledRefunds(t) >= tr.orders[t].amount)
		if fully && types[len(types)-1] == events.OrderPaid {
			w.violate(InvEventsCausal, "%s is fully refunded and its last event is order.paid (events: %s)", t, strings.Join(types, ", "))
		}
		if closedAt >= 0 && paidAt > closedAt && !reviewAfterClose {
			w.violate(InvEventsCausal, "%s: order.paid after order.closed without order.review (events: %s)", t, strings.Join(types, ", "))
		}
	}
}

// entityOf is what an event is about: "trade:<out_trade_no>" for order.* events,
// "refund:<out_refund_no>" for refund.* events (read from its data, else its record).
func entityOf(r receipt) string {
	if ownerOfKey(r.Key) == dstTwinSubMchID {
		return "twin-" + entityOf(receipt{ID: r.ID, Type: r.Type, Body: r.Body}) // its numbers are the default sub-merchant's too (twin.go)
	}
	var ev struct {
		Data struct {
			OutTradeNo  string `json:"out_trade_no"`
			OutRefundNo string `json:"out_refund_no"`
		} `json:"data"`
	}
	_ = json.Unmarshal([]byte(r.Body), &ev)
	if strings.HasPrefix(r.Type, "refund.") && ev.Data.OutRefundNo != "" {
		return "refund:" + ev.Data.OutRefundNo
	}
	if ev.Data.OutTradeNo != "" {
		return "trade:" + ev.Data.OutTradeNo
	}
	if t, ok := tradeOfKey(r.Key); ok {
		return "trade:" + t
	}
	return "key:" + r.Key
}

// describe summarises an order view for a message: its attempts and their states.
func describe(v *orderapi.OrderView) string {
	if v == nil {
		return "nothing (not found)"
	}
	s := fmt.Sprintf("%s %s", v.OutTradeNo, v.State)
	for _, p := range v.Previous {
		s += fmt.Sprintf(", previous %s %s", p.OutTradeNo, p.State)
	}
	return s
}

// keptAsExcess: refund no settled beyond what its order holds paid of the payment it
// names, so the ledger kept it as excess with cause refund_exceeds_paid rather than
// announcing it (refund.succeeded would tell the merchant the refund came out of a
// payment the order does not hold). The merchant hears of it through the order's
// review: order.review when this cause opens it, or the review already announced when
// another cause opened it first (a cause beside an open review is listed, not
// announced again) — e.g. a payment WeChat Pay never held (forge "unpaid") and then
// the real payment's refund made by hand (seed7400081-events-once).
func (w *world) keptAsExcess(no string) bool {
	r, err := w.readLedger().Refund(context.Background(), w.owner(), no)
	if err != nil {
		return false
	}
	o := w.ledgerOrder(r.OutTradeNo).order
	if o == nil {
		return false
	}
	l := o.Line(no)
	return l != nil && l.Excess && o.InReview() && slices.ContainsFunc(o.Review.Causes, func(c payment.Cause) bool {
		return c.Kind == payment.CauseRefundExceedsPaid && c.OutRefundNo == no
	})
}
