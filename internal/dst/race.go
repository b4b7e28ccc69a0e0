package dst

import (
	"fmt"
	"strings"
)

// raceStep is, now and then, a step where WeChat Pay's notifications about one order
// arrive while a reconcile run handles that order: reconcile delivers the events its
// own transitions record in the same run, and notify delivers the events owed on the
// record its notification wrote, so both may find the same event owed at once. Only
// the claim (events.Deliverer.claim) keeps the merchant from receiving it twice, and
// InvEventsOnce says when it did.
//
// The notifications chosen are mostly refund results: a refund's notification writes
// its refund.* event on the order's record, after the order.paid (or the other
// refund's event) reconcile records there when it settles a payment (or refund) whose
// notification was lost — notify then finds reconcile's event owed beside its own.
func (g *gen) raceStep(w *world) (Step, bool) {
	if g.r.IntN(8) != 0 {
		return Step{}, false
	}
	type waiting struct {
		op    Op
		trade string
	}
	var refunds, pays []waiting
	for _, q := range w.sim.Queued() {
		if q.Acknowledged || q.SubMchID == dstTwinSubMchID {
			continue
		}
		switch {
		case strings.HasPrefix(q.Event, "REFUND."):
			refunds = append(refunds, waiting{Op{Op: "deliver", Event: "refund", Refund: q.OutRefundNo}, q.OutTradeNo})
		case matches(q, Op{Event: "pay", Trade: q.OutTradeNo}):
			pays = append(pays, waiting{Op{Op: "deliver", Event: "pay", Trade: q.OutTradeNo}, q.OutTradeNo})
		}
	}
	// A refund made by hand in the merchant platform, notified in v2 XML, of a paid
	// order that has refunds at WeChat Pay: reconcile may be settling one of those (its
	// notification lost) while notify records the manual one's event on the order.
	var manual []waiting
	if !w.cfg.Bundle.Partner {
		t := w.truth()
		for _, no := range t.trades {
			if o := t.orders[no]; o.paid() && len(o.refunds) > 0 {
				manual = append(manual, waiting{Op{Op: "v2refund", Trade: no, Status: "SUCCESS", Amount: 100}, no})
			}
		}
	}
	var first waiting
	switch k := g.r.IntN(8); {
	case len(manual) > 0 && k < 3:
		first = manual[g.r.IntN(len(manual))]
		g.refund++
		first.op.Refund = fmt.Sprintf("manual%d", g.refund)
	case len(refunds) > 0 && (len(pays) == 0 || k < 6):
		first = refunds[g.r.IntN(len(refunds))]
	case len(pays) > 0:
		first = pays[g.r.IntN(len(pays))]
	default:
		return Step{}, false
	}
	st := Step{Ops: []Op{{Op: "reconcile"}, first.op}}
	// Sometimes every waiting notification about the same order at once (at most 3 ops).
	if g.r.IntN(2) == 0 {
		for _, o := range append(pays, refunds...) {
			if o.trade == first.trade && o.op != first.op && len(st.Ops) < 3 {
				st.Ops = append(st.Ops, o.op)
			}
		}
	}
	return st, true
}
