package dst

import (
	"bytes"
	"context"
	"net/http"
	"time"

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

// forge sends one such notification to the bundle, as WeChat Pay would.
func (w *world) forge(ctx context.Context, op Op, tr *truth) {
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
	default:
		return
	}
	w.refundParty(&n) // platform.go
	n.RefundStatus = wechatpay.RefundStatusSuccess
	n.SuccessTime = wechatpay.FormatTime(w.clk.Now())
	n.UserReceivedAccount = "支付用户零钱"
	aead, err := wechatpay.NewAEAD(w.id.APIv3Key)
	if err != nil {
		return
	}
	_, body, err := wechatpay.SealNotification(aead, wechatpay.EventRefundSuccess, n, w.clk.Now())
	if err != nil {
		return
	}
	signer := wechatpay.PlatformSigner{Serial: w.id.PlatformSerial(), Key: w.id.PlatformKey, Now: time.Now}
	hdr, err := signer.Sign(body)
	if err != nil {
		return
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, notifyURL, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	hdr.Apply(req.Header)
	if resp, err := (toBundle{w}).RoundTrip(req); err == nil {
		resp.Body.Close()
	}
}
