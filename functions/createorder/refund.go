package createorder

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"unicode/utf8"

	"github.com/paysls/wxpay/shared/apiauth"
	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/store"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// attrRefundPrefix names an order's refunds on it (co_rf_<hash> = out_refund_no), so
// GET /orders/{order_id} can list them.
const attrRefundPrefix = "co_rf_"

func refundMarker(outRefundNo string) string {
	s := sha256.Sum256([]byte(outRefundNo))
	return attrRefundPrefix + hex.EncodeToString(s[:8])
}

// RefundRequest is the body of POST /orders/{order_id}/refunds.
type RefundRequest struct {
	// OutRefundNo makes the call safe to repeat; one is generated when empty (then a
	// retry is a second refund, still bounded by what is left to refund).
	OutRefundNo string          `json:"out_refund_no,omitempty"`
	Amount      json.RawMessage `json:"amount"`
	Reason      string          `json:"reason,omitempty"`
}

// RefundView is a refund as the API shows it.
type RefundView struct {
	OutRefundNo string `json:"out_refund_no"`
	OutTradeNo  string `json:"out_trade_no"`
	OrderID     string `json:"order_id,omitempty"`
	State       string `json:"state"` // PROCESSING, SUCCESS, ABNORMAL, CLOSED (or REVIEW)
	Amount      int64  `json:"amount"`
	RefundID    string `json:"refund_id,omitempty"`
	SuccessTime string `json:"success_time,omitempty"`
}

func refundView(rec store.Record) RefundView {
	return RefundView{
		OutRefundNo: rec.Attrs[payment.AttrOutRefundNo], OutTradeNo: rec.Attrs[payment.AttrOutTradeNo],
		OrderID: rec.Attrs[payment.AttrOrderID], State: rec.Attrs[payment.AttrState], Amount: payment.Fen(rec, payment.AttrAmount),
		RefundID: rec.Attrs[payment.AttrRefundID], SuccessTime: rec.Attrs[payment.AttrSuccessTime],
	}
}

func (h *Handler) createRefund(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var req RefundRequest
	if e := decodeBody(r, &req); e != nil {
		h.writeError(w, r, e)
		return
	}
	amount, e := parseAmount(req.Amount)
	if e != nil {
		h.writeError(w, r, e)
		return
	}
	if req.OutRefundNo == "" {
		req.OutRefundNo = "RF" + rand.Text() // 28 characters of A-Z2-7
	}
	if err := wechatpay.ValidateOutTradeNo("out_refund_no", req.OutRefundNo, 64); err != nil {
		h.writeError(w, r, err)
		return
	}
	if n := utf8.RuneCountInString(req.Reason); n > 80 {
		h.writeError(w, r, badRequest(wechatpay.CodeParamError, "reason is %d characters; WeChat Pay accepts at most 80", n))
		return
	}
	_, cur, err := h.lookup(ctx, r)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	rec, err := h.refund(ctx, cur, req.OutRefundNo, amount, req.Reason)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	apiauth.WriteJSON(w, http.StatusOK, refundView(rec))
}

// refund asks for a refund of a paid attempt: the amount is reserved on the order first
// (atomically against every other refund), the PROCESSING refund is recorded, then
// WeChat Pay is asked; an immediate final result is applied at once, a later one
// arrives by notification or reconcile.
func (h *Handler) refund(ctx context.Context, order store.Record, outRefundNo string, amount int64, reason string) (store.Record, error) {
	owner := order.Attrs[payment.AttrMchID]
	rkey := payment.RefundKey(owner, outRefundNo)
	if ex, err := h.st.Get(ctx, rkey); err == nil {
		if ex.Attrs[payment.AttrOutTradeNo] != order.Attrs[payment.AttrOutTradeNo] || payment.Fen(ex, payment.AttrAmount) != amount {
			return store.Record{}, fail(http.StatusConflict, "OUT_REFUND_NO_USED",
				fmt.Sprintf("out_refund_no %s is already a refund of %d fen of out_trade_no %s", outRefundNo, payment.Fen(ex, payment.AttrAmount), ex.Attrs[payment.AttrOutTradeNo]),
				"a retry must repeat the request exactly; a new refund needs a new out_refund_no")
		}
		if ex.Attrs[payment.AttrState] != wechatpay.RefundStatusProcessing {
			return ex, nil // settled: the same answer
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		return store.Record{}, fmt.Errorf("createorder: read refund %s: %w", outRefundNo, err)
	}
	if _, err := h.ledger.ReserveRefund(ctx, order.Key, outRefundNo, amount); err != nil {
		switch {
		case errors.Is(err, payment.ErrOverRefund):
			return store.Record{}, fail(http.StatusConflict, "REFUND_EXCEEDS_REMAINDER", err.Error(),
				"ask for at most what is left (GET /orders/{order_id} shows the refunds) · 申请退款金额超过订单可退金额")
		case errors.Is(err, payment.ErrNotRefundable):
			return store.Record{}, fail(http.StatusConflict, "ORDER_NOT_PAID", err.Error(), "only a paid order can be refunded · 订单未支付，不能退款")
		case errors.Is(err, payment.ErrRefundConflict):
			return store.Record{}, fail(http.StatusConflict, "OUT_REFUND_NO_USED", err.Error(), "a new refund needs a new out_refund_no")
		case errors.Is(err, payment.ErrInvalid):
			return store.Record{}, badRequest(wechatpay.CodeParamError, "%v", err)
		}
		return store.Record{}, err
	}
	if m := refundMarker(outRefundNo); order.Attrs[m] == "" {
		if _, err := h.st.Update(ctx, order.Key, store.Change{Set: map[string]string{m: outRefundNo}}, store.Condition{Exists: true}); err != nil {
			h.log.Warn("refund not listed on its order", "key", order.Key, "out_refund_no", outRefundNo, "error", err.Error())
		}
	}
	_, err := h.ledger.RecordRefundRequest(ctx, payment.RefundRequest{MchID: owner, OutRefundNo: outRefundNo,
		OutTradeNo: order.Attrs[payment.AttrOutTradeNo], OrderID: order.Attrs[payment.AttrOrderID], Amount: amount, Reason: reason})
	if err != nil && !errors.Is(err, store.ErrConditionFailed) {
		return store.Record{}, err
	}
	cl := h.clientFor(owner, order.Attrs[attrSubAppID])
	rf, err := cl.CreateRefund(ctx, wechatpay.RefundRequest{
		OutTradeNo: order.Attrs[payment.AttrOutTradeNo], OutRefundNo: outRefundNo, Reason: reason, NotifyURL: h.notifyURL,
		Amount: wechatpay.RefundAmount{Refund: amount, Total: payment.Fen(order, payment.AttrAmount), Currency: "CNY"},
	})
	if err != nil {
		var we *wechatpay.APIError
		var ve *wechatpay.ValidationError
		if (errors.As(err, &we) && we.StatusCode < 500 && !we.Retryable() && we.Code != wechatpay.CodeNotEnough) || errors.As(err, &ve) {
			// WeChat Pay refused it for good: the refund never existed; release the
			// reservation by closing it.
			n := h.notice(owner, order, outRefundNo, amount)
			n.RefundStatus = wechatpay.RefundStatusClosed
			if _, aerr := h.ledger.ApplyRefund(ctx, n, source); aerr != nil {
				h.log.Error("refused refund not released; reconcile will", "out_refund_no", outRefundNo, "error", aerr.Error())
			}
		}
		return store.Record{}, err
	}
	if rf.Status != wechatpay.RefundStatusProcessing {
		if err := h.applyRefund(ctx, owner, order, rf); err != nil {
			return store.Record{}, err
		}
	}
	return h.st.Get(ctx, payment.RefundKey(owner, outRefundNo))
}

func (h *Handler) notice(owner string, order store.Record, outRefundNo string, amount int64) *wechatpay.RefundNotice {
	n := &wechatpay.RefundNotice{OutTradeNo: order.Attrs[payment.AttrOutTradeNo], TransactionID: order.Attrs[payment.AttrTransactionID],
		OutRefundNo: outRefundNo, Amount: wechatpay.RefundAmount{Refund: amount, Total: payment.Fen(order, payment.AttrAmount), Currency: "CNY"}}
	if h.partner {
		n.SpMchID, n.SubMchID = h.cfg.MchID, owner
	} else {
		n.MchID = owner
	}
	return n
}

// applyRefund applies a final refund result from a create or query answer.
func (h *Handler) applyRefund(ctx context.Context, owner string, order store.Record, rf *wechatpay.Refund) error {
	n := h.notice(owner, order, rf.OutRefundNo, rf.Amount.Refund)
	n.RefundID, n.RefundStatus, n.SuccessTime, n.UserReceivedAccount = rf.RefundID, rf.Status, rf.SuccessTime, rf.UserReceivedAccount
	if rf.TransactionID != "" {
		n.TransactionID = rf.TransactionID
	}
	if rf.Amount.Total > 0 {
		n.Amount.Total = rf.Amount.Total
	}
	_, err := h.ledger.ApplyRefund(ctx, n, "refund_api")
	return err
}

func (h *Handler) getRefund(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	_, cur, err := h.lookup(ctx, r)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	no := r.PathValue("out_refund_no")
	owner := cur.Attrs[payment.AttrMchID]
	rec, err := h.st.Get(ctx, payment.RefundKey(owner, no))
	if errors.Is(err, store.ErrNotFound) || (err == nil && rec.Attrs[payment.AttrOrderID] != "" && rec.Attrs[payment.AttrOrderID] != cur.Attrs[payment.AttrOrderID]) {
		h.writeError(w, r, fail(http.StatusNotFound, "REFUND_NOT_FOUND", "order "+cur.Attrs[payment.AttrOrderID]+" has no refund "+no, ""))
		return
	}
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	if rec.Attrs[payment.AttrState] == wechatpay.RefundStatusProcessing && !h.recentlyChecked(rec.Key) {
		qctx, cancel := context.WithTimeout(ctx, 5e9)
		rf, qerr := h.clientFor(owner, cur.Attrs[attrSubAppID]).QueryRefund(qctx, no)
		cancel()
		switch {
		case qerr != nil:
			h.log.Warn("refund status: query failed; answering from the store", "key", rec.Key, "error", qerr.Error())
		case rf.Status != wechatpay.RefundStatusProcessing:
			if err := h.applyRefund(ctx, owner, cur, rf); err != nil {
				h.log.Warn("refund status: result not applied", "key", rec.Key, "error", err.Error())
			} else if fresh, err := h.st.Get(ctx, rec.Key); err == nil {
				rec = fresh
			}
		}
	}
	apiauth.WriteJSON(w, http.StatusOK, refundView(rec))
}
