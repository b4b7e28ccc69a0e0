package dst

import (
	"encoding/json"
	"sort"
	"strings"

	"github.com/paysls/wxpay/shared/wechatpay"
)

// truth is WeChat Pay's ledger as the simulator holds it: the checks' oracle.
type truth struct {
	orders  map[string]*simOrder // by out_trade_no
	refunds map[string]*simRefund
	trades  []string // out_trade_nos, sorted
}

type simOrder struct {
	outTradeNo string
	tag        string // the merchant order id it was placed for ("" when not the DST's)
	state      string
	txid       string
	amount     int64
	refunds    []string
}

// paid: WeChat Pay took the money (SUCCESS, or REFUND: paid, then refunded).
func (o *simOrder) paid() bool { return o.txid != "" && (o.state == "SUCCESS" || o.state == "REFUND") }

type simRefund struct {
	no, outTradeNo, status, refundID string
	amount                           int64
	manual                           bool
}

// manualReason is what the simulator writes on a refund made by hand in the merchant
// platform (v2notify.go).
const manualReason = "商户平台手动退款"

// truth reads the simulator's ledger, once per step: it changes only within steps.
func (w *world) truth() *truth {
	if w.tr != nil {
		return w.tr
	}
	t := &truth{orders: map[string]*simOrder{}, refunds: map[string]*simRefund{}}
	for _, v := range w.sim.Orders() {
		if v.Transaction.SubMchID == dstTwinSubMchID {
			continue // the twin's orders are not the model's (twin.go)
		}
		var req wechatpay.PrepayRequest
		_ = json.Unmarshal(v.Request, &req)
		o := &simOrder{outTradeNo: v.Transaction.OutTradeNo, state: v.Transaction.TradeState, txid: v.Transaction.TransactionID,
			refunds: v.Refunds}
		if tag, ok := strings.CutPrefix(req.Description, "dst "); ok {
			o.tag = tag
		}
		if v.Transaction.Amount != nil {
			o.amount = v.Transaction.Amount.Total
		}
		t.orders[o.outTradeNo] = o
		t.trades = append(t.trades, o.outTradeNo)
		for _, no := range v.Refunds {
			rf, req, _ := w.sim.Refund(no)
			t.refunds[no] = &simRefund{no: no, outTradeNo: rf.OutTradeNo, status: rf.Status, refundID: rf.RefundID,
				amount: rf.Amount.Refund, manual: req.Reason == manualReason}
		}
	}
	sort.Strings(t.trades)
	w.tr = t
	return t
}

// tagOf is the merchant order an out_trade_no was placed for at WeChat Pay, and
// whether WeChat Pay has it at all.
func (t *truth) tagOf(outTradeNo string) (string, bool) {
	o, ok := t.orders[outTradeNo]
	if !ok {
		return "", false
	}
	return o.tag, true
}

// settledRefunds sums the SUCCESS refunds of an out_trade_no.
func (t *truth) settledRefunds(outTradeNo string) int64 {
	var n int64
	if o := t.orders[outTradeNo]; o != nil {
		for _, no := range o.refunds {
			if r := t.refunds[no]; r != nil && r.status == wechatpay.RefundStatusSuccess {
				n += r.amount
			}
		}
	}
	return n
}
