package dst

// Profit sharing (issue #19) in the simulation: in platform histories (platform.go)
// some combines are placed for profit sharing — every sub-order pays the platform a
// commission (a rate), some held until the merchant settles them — and the history may
// settle them (POST /orders/{combine}/settle). Payments, refunds of their sub-orders
// (which take the shares back first), notifications, crashes and store faults come
// from the ordinary operations; reconcile's sharing phase splits, follows, finishes and
// returns. Checked at the end, once settled:
//
//   - bounded: no order's shares to others exceed what it holds at WeChat Pay (payment
//     and subsidy less the refunds asked of WeChat Pay and the subsidy returned) — but
//     for one a refund made outside the bundle broke (outside), kept in REVIEW;
//   - accounted: WeChat Pay's money is conserved (the simulator's balances: paid − fees
//     + subsidies − refunds = frozen + available + receivers' balances), and every
//     split, return and finish WeChat Pay holds for an order is on the order, in the same
//     state; no refund is still held once everything settled;
//   - events-once: each split, return and finish the ledger judged was announced once.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/paysls/wxpay/internal/paysim"
	"github.com/paysls/wxpay/shared/events"
	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// shareEvent reports whether typ is a profit-sharing or subsidy event: one per split,
// return or finish, so an order may have several of a type (checked per item here).
func shareEvent(typ string) bool {
	return strings.HasPrefix(typ, "profitsharing.") || strings.HasPrefix(typ, "subsidy.")
}

// sharingOp makes a profit-sharing operation of a platform history, or none.
func (g *gen) sharingOp(w *world) Op {
	if !w.cfg.Bundle.Ecommerce() || g.r.IntN(10) >= 2 {
		return Op{}
	}
	pm := &w.model.platform
	if w.cfg.Bundle.RefundAdvance && g.r.IntN(2) == 0 {
		// An advance's return that takes days (or fails): the refund waits for it.
		t := w.truth()
		if no := g.pick(refundNos(&w.model, t)); no != "" && t.refunds[no] != nil && t.refunds[no].refundID != "" {
			return Op{Op: "returnoutcome", Refund: no, Status: g.weighted([]string{"PROCESSING", "SUCCESS", "FAILED"}, []int{4, 1, 1})}
		}
	}
	if len(pm.shared) > 0 && g.r.IntN(3) == 0 {
		if g.r.IntN(4) == 0 {
			// A split notification the ledger cannot account for (forge.go): mostly of an
			// order whose subsidy (补差) is asked, its answer unknown here — REVIEW must
			// not leave it so.
			if paid := g.sharedPaid(w, w.truth()); len(paid) > 0 {
				var asked []string
				for _, no := range paid {
					if o := w.ledgerOrder(no).order; o != nil && o.Sharing != nil && o.Sharing.Subsidy != nil && o.Sharing.Subsidy.State == payment.SharePending {
						asked = append(asked, no)
					}
				}
				if len(asked) > 0 && g.r.IntN(4) > 0 {
					paid = asked
				}
				return Op{Op: "forge", Mode: "share", Trade: g.pick(paid), Amount: 1 + int64(g.r.IntN(100))}
			}
		}
		if op := g.outsideOp(w); op.Op != "" {
			return op
		}
	}
	if g.r.IntN(3) > 0 || len(pm.shared) == 0 {
		g.orders++
		op := Op{Op: "sharecombine", Order: fmt.Sprintf("share%d", g.orders), Scene: "native",
			Amount: amounts[g.r.IntN(len(amounts))], Status: strconv.Itoa(2 + g.r.IntN(2)), Refund: strconv.Itoa(100 * (1 + g.r.IntN(30)))}
		if g.r.IntN(2) == 0 {
			op.Mode = "hold"
		}
		if g.r.IntN(3) == 0 {
			op.Subsidy = 50 * int64(1+g.r.IntN(2)) // the platform subsidises each sub-order (补差)
		}
		return op
	}
	return Op{Op: "settleshare", Order: g.pick(pm.shared)}
}

// sharedPaid lists the paid sub-orders of combines placed for profit sharing.
func (g *gen) sharedPaid(w *world, t *truth) []string {
	var paid []string
	for _, no := range t.trades {
		o := t.orders[no]
		if !o.paid() {
			continue
		}
		for _, c := range w.model.platform.shared {
			if strings.HasPrefix(o.tag, c+"-") {
				paid = append(paid, no)
				break
			}
		}
	}
	return paid
}

// outsideOp makes a refund of a paid shared sub-order made outside the bundle — by hand
// in the merchant platform, or by another system of the platform — for what is left of
// it (sometimes half): WeChat Pay takes it whatever the shares paid out to others, and
// the ledger must keep it and put the order in REVIEW when the shares exceed what the
// order then holds.
func (g *gen) outsideOp(w *world) Op {
	t := w.truth()
	paid := g.sharedPaid(w, t)
	// Mostly one WeChat Pay has split already: the refund then takes money the shares
	// to others need.
	var split []string
	for _, no := range paid {
		var view struct {
			Splits []struct{ Kind string } `json:"splits"`
		}
		req, _ := http.NewRequest(http.MethodGet, "http://sim/sim/profitsharing/payments/"+t.orders[no].txid, nil)
		if resp := serve(w.sim, req); resp.StatusCode == http.StatusOK {
			_ = json.NewDecoder(resp.Body).Decode(&view)
		}
		if slices.ContainsFunc(view.Splits, func(sp struct{ Kind string }) bool { return sp.Kind == "split" }) {
			split = append(split, no)
		}
	}
	if len(split) > 0 && g.r.IntN(4) > 0 {
		paid = split
	}
	trade := g.pick(paid)
	if trade == "" {
		return Op{}
	}
	left := t.orders[trade].amount
	for _, no := range t.orders[trade].refunds {
		if r := t.refunds[no]; r != nil && r.status != wechatpay.RefundStatusClosed {
			left -= r.amount
		}
	}
	if left <= 0 {
		return Op{}
	}
	if left > 1 && g.r.IntN(4) == 0 {
		left /= 2
	}
	g.refund++
	return Op{Op: "outside", Trade: trade, Refund: fmt.Sprintf("outside%d", g.refund), Amount: left}
}

// refundOutside applies for the refund at WeChat Pay as the platform, outside the
// bundle (no fault: the bundle is not involved), with the bundle's notify_url, and
// settles it: its REFUND.SUCCESS waits for a deliver like any notification. Its
// reason marks it made by hand (truth.go), so the checks do not take it for one the
// merchant never made.
func (w *world) refundOutside(ctx context.Context, op Op) {
	t := w.truth().orders[op.Trade]
	if t == nil {
		return
	}
	w.model.manual[op.Refund] = true
	w.model.noteRefund(op.Refund)
	c := &wechatpay.Client{BaseURL: wechatPayBase, HTTP: &http.Client{Transport: direct{w.sim}}, Signer: w.id.MerchantSigner(),
		Verifier: &wechatpay.Verifier{Keys: w.id.PlatformKeys()}, MchID: w.id.MchID, SpMchID: w.id.MchID, SpAppID: w.id.AppID,
		SubMchID: w.owner(), NotifyURLOptions: wechatpay.NotifyURLOptions{AllowLoopback: true}, MaxAttempts: 1}
	_, err := c.CreateEcommerceRefund(ctx, wechatpay.EcommerceRefundRequest{OutTradeNo: op.Trade, OutRefundNo: op.Refund, Reason: manualReason,
		Amount: wechatpay.RefundAmount{Refund: op.Amount, Total: t.amount}, NotifyURL: notifyURL})
	if err == nil {
		// Made by hand it settles at once, like the merchant platform's (v2refund).
		_, _, _, err = w.sim.SettleRefund(op.Refund, wechatpay.RefundStatusSuccess)
	}
	w.note("outside refund %s of %s: refused %t", op.Refund, op.Trade, err != nil)
}

// returnOutcome sets how WeChat Pay answers the return of a refund's advance.
func (w *world) returnOutcome(op Op) {
	r := w.truth().refunds[op.Refund]
	if r == nil || r.refundID == "" {
		return
	}
	req, _ := http.NewRequest(http.MethodPost, "http://sim/sim/ecommerce/refunds/"+r.refundID+"/return-advance",
		strings.NewReader(`{"result":"`+op.Status+`"}`))
	resp := serve(w.sim, req)
	w.note("return outcome of %s: %s (%d)", op.Refund, op.Status, resp.StatusCode)
}

// direct serves WeChat Pay calls made outside the bundle: no scheduling, no faults.
type direct struct{ h http.Handler }

func (d direct) RoundTrip(req *http.Request) (*http.Response, error) { return serve(d.h, req), nil }

// execSharing runs a profit-sharing operation in its thread.
func (w *world) execSharing(op Op, a *answer) {
	pm := &w.model.platform
	var path string
	var body map[string]any
	switch op.Op {
	case "sharecombine":
		n, _ := strconv.Atoi(op.Status)
		if pm.combines == nil {
			pm.combines = map[string]*mCombine{}
		}
		if pm.combines[op.Order] == nil {
			pm.ids = append(pm.ids, op.Order)
			pm.shared = append(pm.shared, op.Order)
		}
		pm.combines[op.Order] = &mCombine{id: op.Order, n: n, amount: op.Amount, scene: op.Scene}
		rate, _ := strconv.Atoi(op.Refund) // the commission, in ten-thousandths
		plan := map[string]any{"receivers": []any{map[string]any{"type": wechatpay.ReceiverMerchant, "account": w.id.MchID,
			"rate": float64(rate) / payment.RatioUnit, "description": "平台佣金"}}}
		if op.Mode == "hold" {
			plan["hold_until"] = w.clk.Now().Add(72 * 3600e9).Format("2006-01-02T15:04:05Z07:00")
		}
		if op.Subsidy > 0 {
			plan["subsidy_amount"] = op.Subsidy
		}
		subs := make([]map[string]any, n)
		for i := range subs {
			id, amount := subOrderID(op.Order, i), op.Amount+100*int64(i)
			w.model.created(id, amount, op.Scene)
			subs[i] = map[string]any{"order_id": id, "sub_mchid": dstSubMchID, "amount": amount, "description": description(id), "profit_sharing": plan}
		}
		path, body = "/orders", map[string]any{"order_id": op.Order, "scene": op.Scene, "sub_orders": subs}
	case "settleshare":
		path, body = "/orders/"+op.Order+"/settle", map[string]any{}
	}
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, "http://bundle"+path, strings.NewReader(string(raw)))
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
}

// checkSharing checks the shared orders once the history settled.
func (w *world) checkSharing(tr *truth) {
	if !w.cfg.Bundle.Ecommerce() {
		return
	}
	if b := w.sim.SharingBalances(); !b.Conserved {
		w.violate(InvAccounted, "WeChat Pay's profit-sharing money is not conserved: in %d, out %d", b.In, b.Out)
	}
	for _, t := range tr.trades {
		lr := w.ledgerOrder(t)
		o := lr.order
		if !lr.found || o == nil || o.Sharing == nil || o.Payment == nil {
			continue
		}
		s := o.Sharing
		// A refund made outside the bundle (by hand in the merchant platform, refundOutside)
		// can take money the shares need: the ledger cannot refuse what WeChat Pay did,
		// only keep it for a person (refund_exceeds_paid on the order's review).
		if o.SharedOut() > 0 && o.SharedOut() > o.Holds() && !slices.ContainsFunc(o.Review.Causes, func(c payment.Cause) bool { return c.Kind == payment.CauseRefundExceedsPaid }) {
			w.violate(InvBounded, "order %s shares %d fen to others, above the %d fen it holds at WeChat Pay", t, o.SharedOut(), o.Holds())
		}
		if len(s.Held) > 0 && !o.InReview() {
			w.violate(InvAccounted, "order %s still holds refund %s once settled (%s)", t, s.Held[0].OutRefundNo, s.HoldProblem)
		}
		// Every day's trade bill was fetched: a payment WeChat Pay holds was listed by
		// its day's bill, and billfetch noted it whatever its sharing had due — one it
		// did not note was never checked against the bill (a payment missing from the
		// bill would have gone unseen).
		if tt := tr.orders[t]; tt.paid() && tt.txid == o.Payment.TransactionID && !o.InReview() && o.Bill.Seen == "" && o.Bill.Recheck == "" {
			w.violate(InvAccounted, "order %s (paid %s by %s, waiting in %q) was never checked against its day's trade bill", t, o.Payment.SuccessTime, o.Payment.TransactionID, lr.rec.Attrs[events.AttrSchedIndex])
		}
		w.checkSubsidy(t, o)
		var view paysim.SharePaymentView
		req, _ := http.NewRequest(http.MethodGet, "http://sim/sim/profitsharing/payments/"+o.Payment.TransactionID, nil)
		if resp := serve(w.sim, req); resp.StatusCode == http.StatusOK {
			_ = json.NewDecoder(resp.Body).Decode(&view)
		}
		theirs := map[string]string{}
		for _, sp := range view.Splits {
			theirs[sp.OutOrderNo] = sp.Status
		}
		for _, r := range view.Returns {
			theirs[r.OutReturnNo] = r.Result
		}
		judged := map[string]int{}
		for _, e := range lr.events {
			if !shareEvent(e.Type) {
				continue
			}
			var d payment.ShareEvent
			_ = json.Unmarshal(e.Data, &d)
			no := d.OutOrderNo
			if d.OutReturnNo != "" {
				no = d.OutReturnNo
			}
			judged[no]++
		}
		for _, sp := range s.Splits {
			// A split WeChat Pay answered twice with the same final result contradicting
			// the ask is no longer followed (payment.Contradiction): it stays in flight
			// here, the answers kept on the order in REVIEW, for a person to reconcile.
			if got := theirs[sp.OutOrderNo]; sp.State != payment.ShareFailed && got != sp.State && !(sp.Confirmed && o.InReview()) {
				w.violate(InvAccounted, "order %s: split %s is %s here, %q at WeChat Pay", t, sp.OutOrderNo, sp.State, got)
			}
			if (sp.State == wechatpay.ShareFinished || sp.State == payment.ShareFailed) && judged[sp.OutOrderNo] != 1 {
				w.violate(InvEventsOnce, "order %s: split %s (%s) announced %d times", t, sp.OutOrderNo, sp.State, judged[sp.OutOrderNo])
			}
		}
		for _, rl := range s.Returns {
			final := rl.State == wechatpay.ReturnSuccess || rl.State == payment.ShareFailed
			if got := theirs[rl.OutReturnNo]; rl.State == wechatpay.ReturnSuccess && got != wechatpay.ReturnSuccess {
				w.violate(InvAccounted, "order %s: return %s succeeded here, %q at WeChat Pay", t, rl.OutReturnNo, got)
			}
			if final && judged[rl.OutReturnNo] != 1 {
				w.violate(InvEventsOnce, "order %s: return %s (%s) announced %d times", t, rl.OutReturnNo, rl.State, judged[rl.OutReturnNo])
			}
		}
		if f := s.Finish; f != nil && f.State == wechatpay.ShareFinished {
			if !view.Money.Finished || judged[f.OutOrderNo] != 1 {
				w.violate(InvAccounted, "order %s: finished here (announced %d times); at WeChat Pay finished: %t", t, judged[f.OutOrderNo], view.Money.Finished)
			}
		} else if view.Money.Finished {
			w.violate(InvAccounted, "order %s: finished at WeChat Pay only", t)
		}
	}
}

// checkSubsidy holds the order's subsidy (补差) to WeChat Pay's once settled: the one
// WeChat Pay charged is on the order, SUCCESS with its amount, and announced once; none
// is still PENDING here (asked, its answer never learnt — also while the order is in
// REVIEW: what was asked is still followed); none succeeded here that WeChat Pay does
// not hold.
func (w *world) checkSubsidy(t string, o *payment.Order) {
	var view struct {
		Subsidy *struct {
			Amount    int64  `json:"amount"`
			Result    string `json:"result"`
			Cancelled bool   `json:"cancelled"`
		} `json:"subsidy"`
	}
	req, _ := http.NewRequest(http.MethodGet, "http://sim/sim/subsidies/"+o.Payment.TransactionID, nil)
	if resp := serve(w.sim, req); resp.StatusCode == http.StatusOK {
		_ = json.NewDecoder(resp.Body).Decode(&view)
	}
	theirs := int64(0)
	if v := view.Subsidy; v != nil && !v.Cancelled && v.Result == wechatpay.SubsidySuccess {
		theirs = v.Amount
	}
	sub := o.Sharing.Subsidy
	ours := int64(0)
	switch {
	case sub != nil && sub.State == payment.SharePending:
		w.violate(InvAccounted, "order %s: subsidy %s of %d fen is still PENDING here once settled (in review %t); WeChat Pay holds %d fen", t, sub.OutSubsidyNo, sub.Amount, o.InReview(), theirs)
		return
	case sub != nil && sub.State == wechatpay.SubsidySuccess:
		ours = sub.Amount
	}
	if ours != theirs {
		w.violate(InvAccounted, "order %s: subsidised %d fen here, %d fen at WeChat Pay", t, ours, theirs)
	}
}
