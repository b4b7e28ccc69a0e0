package dst

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/paysls/wxpay/shared/orderapi"
	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// A byzantine WeChat Pay. An honest simulator never reports a refund its ledger does
// not hold, so the ledger's judgment of refund results against their order (issue #16,
// sequence 4) is exercised by notifications signed with the platform key that
// contradict WeChat Pay's own ledger in a way a correct ledger must refuse to take as
// money — never in a way it could not tell from the truth:
//
//	over     a REFUND.SUCCESS of a refund WeChat Pay does not hold, for more than the
//	         order was paid: the order must not show it as refunded (REVIEW, kept)
//	repoint  the result of a refund the bundle has already recorded (from WeChat Pay's
//	         truth) naming another order: the refund must stay its first order's
//	         (the other kept, for REVIEW). A refund the bundle has not seen yet is
//	         never forged: its first report fixes its order, and a lie there could not
//	         be told from the truth.
//	foreign  a REFUND.SUCCESS for a merchant this deployment does not serve (another
//	         mchid / sp_mchid): acknowledged, it must be kept for review (foreign/…)
//	unpaid   a TRANSACTION.SUCCESS of the current attempt of an order WeChat Pay holds
//	         unpaid (a lie the ledger cannot tell from the truth, so it holds the order
//	         paid), then the merchant's refund of it: WeChat Pay refuses it, holding no
//	         paid order to refund (RESOURCE_NOT_EXISTS), and the ledger must put the
//	         order in REVIEW (payment_not_held) as it closes the refund — a refund
//	         closed for good while the order stays PAID here hides the contradiction.
//	         Until a refund of it is recorded, the order's PAID state is exempt from
//	         agrees (untold): nothing has told the ledger otherwise.
//	share    a PROFITSHARING.SUCCESS of a shared order the ledger cannot account for —
//	         a split never asked (the order held, or its plan not split yet) or, once
//	         its splits are done, split 1 reported with another amount: acknowledged, it
//	         must be kept on the order, in REVIEW. Forged only while nothing of the
//	         order's sharing is in flight: REVIEW stops the order's sharing, and a
//	         split left in flight at WeChat Pay would no longer be followed.
//
// And answers: under the step fault "share-answer" (faults.go) WeChat Pay answers a
// split asked, or its query, with another amount than asked (lieAboutSplit): the order
// must keep the answer for review (share_result_contradicts), never pass it over.
//
// What the bundle acknowledged (2xx) is checked at the end (checkForged): kept.

// foreignMchID is the merchant of forged foreign refunds: never a deployment's (their
// mchid is 1900…).
const foreignMchID = "2999999999"

// forged is a forged notification the bundle acknowledged, to find kept at the end.
type forged struct {
	mode        string // foreign, share
	trade       string // share: the order's out_trade_no
	key         string // foreign: where it must be kept
	outRefundNo string
	amount      int64
	status      int // the bundle's answer: 2xx acknowledged; a 4xx is never retried
}

// forge sends one such notification to the bundle, as WeChat Pay would.
func (w *world) forge(ctx context.Context, op Op, tr *truth) {
	switch op.Mode {
	case "share":
		w.forgeShare(ctx, op)
		return
	case "unpaid":
		w.forgeUnpaid(ctx, op, tr)
		return
	}
	var n wechatpay.RefundNotice
	switch op.Mode {
	case "over":
		o := tr.orders[op.Trade]
		if o == nil || !o.paid() {
			return
		}
		n = wechatpay.RefundNotice{MchID: w.id.MchID, OutTradeNo: o.outTradeNo, TransactionID: o.txid, OutRefundNo: op.Refund,
			RefundID: "50000000000" + w.clk.Now().In(start.Location()).Format("20060102") + "0000000001",
			Amount:   wechatpay.RefundAmount{Refund: op.Amount, Total: o.amount, Currency: "CNY", PayerRefund: op.Amount, PayerTotal: o.amount}}
	case "repoint":
		r, o := tr.refunds[op.Refund], tr.orders[op.Trade]
		if r == nil || o == nil || !o.paid() || r.outTradeNo == o.outTradeNo || !w.ledgerRefund(r.no).found {
			return
		}
		n = wechatpay.RefundNotice{MchID: w.id.MchID, OutTradeNo: o.outTradeNo, TransactionID: o.txid, OutRefundNo: r.no,
			RefundID: r.refundID, Amount: wechatpay.RefundAmount{Refund: r.amount, Total: o.amount, Currency: "CNY", PayerRefund: r.amount, PayerTotal: o.amount}}
	case "foreign":
		// Another merchant's refund of another merchant's payment: nothing of ours.
		n = wechatpay.RefundNotice{OutTradeNo: "F" + op.Refund, TransactionID: "4200000000F" + op.Refund, OutRefundNo: op.Refund,
			RefundID: "50300000000F" + op.Refund, Amount: wechatpay.RefundAmount{Refund: op.Amount, Total: op.Amount, Currency: "CNY", PayerRefund: op.Amount, PayerTotal: op.Amount}}
	default:
		return
	}
	w.refundParty(&n) // platform.go
	if op.Mode == "foreign" {
		if n.SpMchID != "" {
			n.SpMchID = foreignMchID
		} else {
			n.MchID = foreignMchID
		}
	}
	n.RefundStatus = wechatpay.RefundStatusSuccess
	n.SuccessTime = wechatpay.FormatTime(w.clk.Now())
	n.UserReceivedAccount = "支付用户零钱"
	if code := w.sendForged(ctx, wechatpay.EventRefundSuccess, n); op.Mode == "foreign" && code/100 != 5 && code != 0 {
		w.keepForged(forged{mode: op.Mode, key: payment.ForeignRefundKey(foreignMchID, &n), outRefundNo: n.OutRefundNo, amount: op.Amount, status: code})
	}
}

// forgeShare reports a split of shared order op.Trade that the ledger cannot account
// for (see above), when nothing of its sharing is in flight.
func (w *world) forgeShare(ctx context.Context, op Op) {
	lr := w.ledgerOrder(op.Trade)
	o := lr.order
	if o == nil || o.Sharing == nil || o.Payment == nil {
		return
	}
	s := o.Sharing
	inFlight := func(state string) bool { return state == payment.SharePending || state == wechatpay.ShareProcessing }
	for _, sp := range s.Splits {
		if inFlight(sp.State) {
			return
		}
	}
	for _, r := range s.Returns {
		if inFlight(r.State) {
			return
		}
	}
	if s.Finish != nil && inFlight(s.Finish.State) {
		return
	}
	no, amount := payment.ShareNo(op.Trade, payment.NoSplit, len(s.Splits)+1), op.Amount // a split never asked
	if len(s.Splits) > 0 && len(s.Splits[0].Receivers) > 0 {
		no, amount = s.Splits[0].OutOrderNo, s.Splits[0].Receivers[0].Amount+op.Amount // asked, reported otherwise
	}
	n := wechatpay.ProfitSharingNotice{SpMchID: w.id.MchID, SubMchID: o.Owner, TransactionID: o.Payment.TransactionID,
		OrderID: "3008000000F" + op.Trade, OutOrderNo: no, SuccessTime: wechatpay.FormatTime(w.clk.Now())}
	n.Receiver.Type, n.Receiver.Account, n.Receiver.Amount, n.Receiver.Description = wechatpay.ReceiverMerchant, w.id.MchID, amount, "平台佣金"
	if code := w.sendForged(ctx, wechatpay.EventProfitSharingSuccess, n); code/100 != 5 && code != 0 {
		w.keepForged(forged{mode: op.Mode, trade: op.Trade, amount: amount, status: code})
	}
}

// lieAboutSplit is WeChat Pay's answer about a split (resp, honest) made to contradict
// it: the first receiver 1 fen more than asked, signed with the platform key as WeChat
// Pay signs answers. A split answered so is noted (mode "shareanswer"): the order must
// keep the answer for review (share_result_contradicts); the next honest answer then
// settles the split as WeChat Pay holds it.
func (w *world) lieAboutSplit(req *http.Request, resp *http.Response) *http.Response {
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	honest := response(req, resp.StatusCode, resp.Header, body)
	var m map[string]any
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &m) != nil {
		return honest
	}
	no, _ := m["out_order_no"].(string)
	trade, kind, ok := payment.ParseShareNo(no)
	rs, _ := m["receivers"].([]any)
	if !ok || kind != payment.NoSplit || len(rs) == 0 {
		return honest
	}
	r0, _ := rs[0].(map[string]any)
	amount, _ := r0["amount"].(float64)
	if r0 == nil || amount <= 0 {
		return honest
	}
	r0["amount"] = amount + 1
	lie, err := json.Marshal(m)
	if err != nil {
		return honest
	}
	signer := wechatpay.PlatformSigner{Serial: w.id.PlatformSerial(), Key: w.id.PlatformKey, Now: time.Now}
	hdr, err := signer.Sign(lie)
	if err != nil {
		return honest
	}
	h := resp.Header.Clone()
	hdr.Apply(h)
	w.keepForged(forged{mode: "shareanswer", trade: trade, outRefundNo: no, amount: int64(amount) + 1, status: http.StatusOK})
	w.note("lied about split %s of %s: %v fen to the first receiver", no, trade, amount+1)
	return response(req, http.StatusOK, h, lie)
}

// forgedTxid is the transaction of a forged payment of out_trade_no t: never one WeChat
// Pay makes (theirs are digits).
func forgedTxid(t string) string { return "42000000FG" + t }

// forgeUnpaid reports a payment of order op.Order's current attempt op.Trade, which
// WeChat Pay holds unpaid, then asks for refund op.Refund of op.Amount fen of it, as
// the merchant would once told it is paid (see above). Direct histories only (a
// platform's payment notification is another shape); never an order placed for
// sharing or a combine's sub-order (their money is the platform checks').
func (w *world) forgeUnpaid(ctx context.Context, op Op, tr *truth) {
	o := tr.orders[op.Trade]
	if w.cfg.Bundle.Partner || o == nil || o.paid() || o.tag != op.Order {
		return
	}
	api := w.inc.api
	v, err := api.Order(ctx, op.Order, "")
	if err != nil || v.OutTradeNo != op.Trade || v.State != wechatpay.TradeStateNotPay {
		return
	}
	lo := w.ledgerOrder(op.Trade).order
	if lo == nil || lo.Sharing != nil || lo.Combine != nil || !lo.Unsettled() || lo.InReview() {
		return
	}
	tx := wechatpay.Transaction{AppID: lo.AppID, MchID: w.id.MchID, OutTradeNo: op.Trade, TransactionID: forgedTxid(op.Trade), TradeType: "NATIVE",
		TradeState: wechatpay.TradeStateSuccess, TradeStateDesc: "支付成功", BankType: "OTHERS", SuccessTime: wechatpay.FormatTime(w.clk.Now()),
		Payer: &wechatpay.Payer{OpenID: "odstforged"}, Amount: &wechatpay.Amount{Total: lo.Amount, PayerTotal: lo.Amount, Currency: "CNY", PayerCurrency: "CNY"}}
	code := w.sendForged(ctx, wechatpay.EventTransactionSuccess, tx)
	w.keepForged(forged{mode: op.Mode, trade: op.Trade, outRefundNo: op.Refund, amount: lo.Amount, status: code})
	w.model.refundAsked(op.Order, op.Refund, op.Amount)
	_, err = api.Refund(ctx, op.Order, "", orderapi.RefundRequest{OutRefundNo: op.Refund, Amount: orderapi.Fen(op.Amount), Reason: "dst"})
	w.note("forged payment of unpaid %s (answered %d), refund %s: %v", op.Trade, code, op.Refund, err)
}

// untold reports whether attempt t is held paid here only by a forged payment (forge
// "unpaid") that no refund has yet contradicted: the ledger cannot tell that payment
// from the truth until WeChat Pay refuses a refund of it.
func (w *world) untold(t string) bool {
	w.forgedMu.Lock()
	defer w.forgedMu.Unlock()
	for _, f := range w.forged {
		if f.mode == "unpaid" && f.trade == t && !w.ledgerRefund(f.outRefundNo).found {
			return true
		}
	}
	return false
}

// sendForged sends a notification signed with the platform key to the bundle, as
// WeChat Pay would, and answers the bundle's status (0: no answer, a crash). A 5xx
// would be retried by WeChat Pay; the forged notification is not (it proves nothing).
func (w *world) sendForged(ctx context.Context, event string, resource any) int {
	inc := w.inc
	aead, err := wechatpay.NewAEAD(w.id.APIv3Key)
	if err != nil {
		return 0
	}
	_, body, err := wechatpay.SealNotification(aead, event, resource, w.clk.Now())
	if err != nil {
		return 0
	}
	signer := wechatpay.PlatformSigner{Serial: w.id.PlatformSerial(), Key: w.id.PlatformKey, Now: time.Now}
	hdr, err := signer.Sign(body)
	if err != nil {
		return 0
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, notifyURL, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	hdr.Apply(req.Header)
	resp, err := (toBundle{w}).RoundTrip(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	w.noteFrom(inc, "forged %s: answered %d", event, resp.StatusCode)
	return resp.StatusCode
}

func orderState(o *payment.Order) string {
	if o == nil {
		return "not held"
	}
	return o.Status()
}

func (w *world) keepForged(f forged) {
	w.forgedMu.Lock()
	defer w.forgedMu.Unlock()
	w.forged = append(w.forged, f)
}

// checkForged: every forged notification the bundle answered without a 5xx was
// acknowledged (a 4xx is never retried: it would be lost) and is kept, in review
// (causes are never removed, so a resolution would not hide it).
func (w *world) checkForged() {
	w.forgedMu.Lock()
	all := append([]forged(nil), w.forged...)
	w.forgedMu.Unlock()
	for _, f := range all {
		if f.status/100 != 2 && f.mode != "unpaid" { // a lie about a payment, not a notification to keep
			w.violate(InvAccounted, "a genuine %s notification (%s%s, %d fen) was answered %d: WeChat Pay does not retry it, and it is lost",
				f.mode, f.trade, f.outRefundNo, f.amount, f.status)
			continue
		}
		switch f.mode {
		case "foreign":
			rec, err := w.inc.raw.Get(context.Background(), f.key)
			var o *payment.Order
			if err == nil {
				o, err = payment.OrderOf(rec)
			}
			if err != nil || !slices.ContainsFunc(o.Review.Causes, func(c payment.Cause) bool {
				return c.Kind == payment.CauseForeignMerchant && c.OutRefundNo == f.outRefundNo && c.Amount == f.amount
			}) {
				w.violate(InvAccounted, "a foreign merchant's refund %s (%d fen) was acknowledged but is not kept for review at %s (%v)", f.outRefundNo, f.amount, f.key, err)
			}
		case "unpaid":
			// The refund of a payment WeChat Pay does not hold was refused: closed here
			// (WeChat Pay holds no such refund), and the order must say why.
			rr, err := w.readLedger().Refund(context.Background(), w.owner(), f.outRefundNo)
			if err != nil || rr.State != wechatpay.RefundStatusClosed || w.truth().refunds[f.outRefundNo] != nil {
				continue
			}
			o := w.ledgerOrder(f.trade).order
			if o == nil || !slices.ContainsFunc(o.Review.Causes, func(c payment.Cause) bool {
				return c.Kind == payment.CausePaymentNotHeld && c.OutRefundNo == f.outRefundNo
			}) {
				w.violate(InvAgrees, "refund %s of %s, which WeChat Pay holds unpaid while the ledger holds it paid (transaction %s), was refused and closed; the order is %s without cause %s",
					f.outRefundNo, f.trade, forgedTxid(f.trade), orderState(o), payment.CausePaymentNotHeld)
			}
		case "shareanswer":
			o := w.ledgerOrder(f.trade).order
			if o == nil || !slices.ContainsFunc(o.Review.Causes, func(c payment.Cause) bool {
				return c.Kind == payment.CauseShareContradicts && strings.Contains(c.Detail, f.outRefundNo)
			}) {
				w.violate(InvAccounted, "WeChat Pay answered split %s of %s with %d fen to a receiver, not what was asked; the order did not keep it for review", f.outRefundNo, f.trade, f.amount)
			}
		case "share":
			o := w.ledgerOrder(f.trade).order
			if o == nil || !slices.ContainsFunc(o.Review.Causes, func(c payment.Cause) bool {
				return (c.Kind == payment.CauseShareNotAsked || c.Kind == payment.CauseShareContradicts) && c.Amount == f.amount
			}) {
				w.violate(InvAccounted, "a split of %d fen of order %s the ledger cannot account for was acknowledged but is not kept for review", f.amount, f.trade)
			}
		}
	}
}
