package dst

// Numbers two sub-merchants share. WeChat Pay keys out_trade_no per merchant (the
// partner docs: "且在同一个商户号下唯一", reached with sp_mchid and sub_mchid together),
// so on a platform two sub-merchants may each have an order "order3" and WeChat Pay
// holds two orders, two transactions and two notifications under the one number. In
// platform histories a second sub-merchant, the twin, now and then places the same
// order_id as one of the model's orders (hence the same out_trade_no), pays it, reads
// it and refunds it under an out_refund_no the model used or will use next. Its
// orders stay out of the truth (truth.go) and out of the deliver and pay operations
// (matches, tradeRef), so every invariant of the model's orders holds as before: no
// answer, event or ledger record of the default sub-merchant may show the twin's
// money. The twin's own answers are held to the same rule here.

import (
	"context"
	"errors"
	"fmt"

	"github.com/paysls/wxpay/internal/paysim"
	"github.com/paysls/wxpay/shared/orderapi"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// dstTwinSubMchID is the second sub-merchant of platform histories.
const dstTwinSubMchID = "1900000110"

// twinAmount is what the twin's orders cost: no model amount, so that an answer
// showing it under the default sub-merchant is the twin's money.
const twinAmount = 777

// twinOp makes a twin operation, or none: one in twelve operations of a platform
// history. Only platform histories draw for it, so the others stay as they were.
func (g *gen) twinOp(w *world) Op {
	if !w.cfg.Bundle.Ecommerce() || g.r.IntN(12) != 0 {
		return Op{}
	}
	m := &w.model
	id := g.pick(m.ids)
	if id == "" {
		return Op{}
	}
	// A refund number the model used, or the one its next new refund will take.
	no := g.pick(m.refunds)
	if no == "" || g.r.IntN(2) == 0 {
		no = fmt.Sprintf("refund%d", g.refund+1)
	}
	return Op{Op: "twin", Order: id, Refund: no, Amount: twinAmount}
}

// tradeRef is how a pay operation names out_trade_no trade at the simulator: under
// the default sub-merchant on a platform (a bare number the twin shares is ambiguous).
func (w *world) tradeRef(trade string) string {
	if w.cfg.Bundle.Partner {
		return w.owner() + "/" + trade
	}
	return trade
}

// execTwin runs a twin operation: create, pay, notify, read, refund, settle, notify,
// read — all under the twin's sub_mchid. Twin operations run alone in their step.
func (w *world) execTwin(ctx context.Context, op Op) {
	inc := w.inc
	api := inc.api
	c, err := api.Create(ctx, orderapi.CreateRequest{OrderID: op.Order, Amount: orderapi.Fen(op.Amount), Description: "twin " + op.Order,
		Scene: orderapi.SceneNative, SubMchID: dstTwinSubMchID})
	if err != nil {
		w.noteFrom(inc, "twin: create %s: %s", op.Order, apiCode(err))
		return // e.g. the twin's earlier order with this id is paid: WeChat Pay's answer stands
	}
	tx, _, _, err := w.sim.Pay(dstTwinSubMchID+"/"+c.OutTradeNo, paysim.PayRequest{})
	if err != nil {
		w.noteFrom(inc, "twin: pay %s: %v", c.OutTradeNo, err)
		return
	}
	w.noteFrom(inc, "twin: paid %s as %s", c.OutTradeNo, tx.TransactionID)
	w.deliverTwin(ctx, wechatpay.EventTransactionSuccess, c.OutTradeNo, "")
	what := fmt.Sprintf("GET /orders/%s?sub_mchid=%s", op.Order, dstTwinSubMchID)
	if v, err := api.Order(ctx, op.Order, dstTwinSubMchID); err == nil && v.TransactionID != "" && v.OutTradeNo == c.OutTradeNo &&
		(v.TransactionID != tx.TransactionID || v.Amount != op.Amount) {
		w.violate(InvIsolation, "%s shows transaction %s of %d fen; the twin's is %s of %d fen", what, v.TransactionID, v.Amount, tx.TransactionID, op.Amount)
	}
	r, err := api.Refund(ctx, op.Order, dstTwinSubMchID, orderapi.RefundRequest{OutRefundNo: op.Refund, Amount: 100, Reason: "dst twin"})
	if err != nil {
		w.noteFrom(inc, "twin: refund %s: %s", op.Refund, apiCode(err))
		return // the number is the default sub-merchant's already (out_refund_no is the platform's)
	}
	w.noteFrom(inc, "twin: refund %s %s", op.Refund, r.State)
	if r.OutTradeNo != c.OutTradeNo || r.Amount != 100 {
		w.violate(InvIsolation, "POST /orders/%s/refunds?sub_mchid=%s answered a refund of %s for %d fen; asked 100 fen of %s", op.Order, dstTwinSubMchID, r.OutTradeNo, r.Amount, c.OutTradeNo)
	}
	if rf, _, _ := w.sim.Refund(op.Refund); rf.Status == wechatpay.RefundStatusProcessing && rf.OutTradeNo == c.OutTradeNo {
		_, _, _, _ = w.sim.SettleRefund(op.Refund, wechatpay.RefundStatusSuccess)
		w.deliverTwin(ctx, "REFUND.", c.OutTradeNo, op.Refund)
	}
}

// deliverTwin delivers the twin's queued notifications of an event (a prefix) about
// outTradeNo (and outRefundNo).
func (w *world) deliverTwin(ctx context.Context, event, outTradeNo, outRefundNo string) {
	for _, q := range w.sim.Queued() {
		if q.SubMchID == dstTwinSubMchID && !q.Acknowledged && q.OutTradeNo == outTradeNo && q.OutRefundNo == outRefundNo &&
			len(q.Event) >= len(event) && q.Event[:len(event)] == event {
			_, _ = w.sim.DeliverQueued(ctx, q.ID)
		}
	}
}

// apiCode is an API error as the trace keeps it: its status and code (the message
// carries request ids, which differ from run to run).
func apiCode(err error) string {
	var e *orderapi.Error
	if errors.As(err, &e) {
		return fmt.Sprintf("%d %s", e.Status, e.Code)
	}
	return "transport error"
}
