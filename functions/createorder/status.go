package createorder

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/paysls/wxpay/shared/apiauth"
	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/store"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// OrderView is the answer of GET /orders/{order_id}.
type OrderView struct {
	OrderID       string `json:"order_id"`
	OutTradeNo    string `json:"out_trade_no"`
	Scene         string `json:"scene"`
	State         string `json:"state"` // WeChat Pay's trade_state words, plus REVIEW
	Amount        int64  `json:"amount"`
	Description   string `json:"description"`
	TransactionID string `json:"transaction_id,omitempty"`
	PaidAt        string `json:"paid_at,omitempty"`
	ExpiresAt     string `json:"expires_at,omitempty"`
	// ClosePending: a close was asked for and WeChat Pay's 5-minute rule defers it.
	ClosePending bool         `json:"close_pending,omitempty"`
	Refunded     int64        `json:"refunded,omitempty"`
	Attempts     int          `json:"attempts"`
	ReviewReason string       `json:"review_reason,omitempty"`
	Refunds      []RefundView `json:"refunds"`
	// Previous lists the replaced attempts of a re-priced order. One of them paid (a
	// payment that raced its close) makes the order REVIEW.
	Previous []AttemptView `json:"previous,omitempty"`
}

// AttemptView is a replaced attempt of a re-priced order.
type AttemptView struct {
	OutTradeNo    string `json:"out_trade_no"`
	State         string `json:"state"`
	Amount        int64  `json:"amount"`
	TransactionID string `json:"transaction_id,omitempty"`
}

// owner is the merchant owning an order named in a URL: the configured merchant, or in
// partner mode ?sub_mchid= (default WXPAY_SUB_MCHID).
func (h *Handler) owner(r *http.Request) (string, *apiError) {
	q := r.URL.Query().Get("sub_mchid")
	if !h.partner {
		if q != "" {
			return "", badRequest(wechatpay.CodeParamError, "sub_mchid is a partner-mode parameter; this deployment is a direct merchant")
		}
		return h.cfg.MchID, nil
	}
	if s := or(q, h.cfg.Bundle.SubMchID); s != "" {
		return s, nil
	}
	return "", badRequest(wechatpay.CodeParamError, "sub_mchid is required in partner mode: add ?sub_mchid=… (or set WXPAY_SUB_MCHID)")
}

// lookup finds an order's current attempt, or answers 404.
func (h *Handler) lookup(ctx context.Context, r *http.Request) (first, cur store.Record, err error) {
	orderID := r.PathValue("order_id")
	if e := ValidateOrderID(orderID); e != nil {
		return first, cur, e
	}
	owner, e := h.owner(r)
	if e != nil {
		return first, cur, e
	}
	f, c, err := h.current(ctx, owner, orderID)
	if err != nil {
		return first, cur, err
	}
	if f == nil {
		return first, cur, fail(http.StatusNotFound, "ORDER_NOT_FOUND", "no order "+orderID,
			"create it with POST /orders; in partner mode check ?sub_mchid=")
	}
	if c == nil {
		// Re-priced to an attempt not written yet: in a moment it will be; if its creator
		// died, the newest attempt that exists is the order until the next create.
		n, _ := strconv.Atoi(f.Attrs[attrCurrent])
		if time.Since(payment.ParseStamp(f.Attrs[attrCurrentAt])) <= h.lease {
			return first, cur, fail(http.StatusConflict, "CREATE_IN_PROGRESS", "order "+orderID+" is being re-priced right now",
				"read it again in a moment")
		}
		for i := n - 1; i >= 1 && c == nil; i-- {
			rec, err := h.st.Get(ctx, payment.OrderKey(owner, attemptNo(orderID, i)))
			if err == nil {
				c = &rec
			} else if !errors.Is(err, store.ErrNotFound) {
				return first, cur, fmt.Errorf("createorder: read attempt %d of %s: %w", i, orderID, err)
			}
		}
		if c == nil {
			c = f
		}
	}
	return *f, *c, nil
}

func (h *Handler) getOrder(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	_, cur, err := h.lookup(ctx, r)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	// Not settled and not looked at just now: ask WeChat Pay, so a page polling after
	// the user returns learns the truth even when the notification is late or lost.
	if st := cur.Attrs[payment.AttrState]; unsettled(st) && hasAnswer(cur) && !h.recentlyChecked(cur.Key) {
		if rec, err := h.settle(ctx, cur); err != nil {
			if !wechatpay.IsCode(err, wechatpay.CodeOrderNotExist) {
				h.log.Warn("order status: query failed; answering from the store", "key", cur.Key, "error", err.Error())
			}
		} else if rec.Key == cur.Key {
			cur = rec
		} else if fresh, err := h.st.Get(ctx, cur.Key); err == nil {
			cur = fresh
		}
	}
	view, err := h.view(ctx, cur)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	apiauth.WriteJSON(w, http.StatusOK, view)
}

func unsettled(state string) bool {
	switch state {
	case wechatpay.TradeStateNotPay, wechatpay.TradeStateUserPaying, wechatpay.TradeStatePayError:
		return true
	}
	return false
}

func (h *Handler) view(ctx context.Context, rec store.Record) (*OrderView, error) {
	v := &OrderView{
		OrderID: rec.Attrs[payment.AttrOrderID], OutTradeNo: rec.Attrs[payment.AttrOutTradeNo], Scene: rec.Attrs[payment.AttrScene],
		State: rec.Attrs[payment.AttrState], Amount: payment.Fen(rec, payment.AttrAmount), Description: rec.Attrs[attrDesc],
		TransactionID: rec.Attrs[payment.AttrTransactionID], PaidAt: rec.Attrs[payment.AttrSuccessTime],
		ClosePending: rec.Attrs[payment.AttrCloseOwed] != "" && unsettled(rec.Attrs[payment.AttrState]),
		Refunded:     payment.Fen(rec, payment.AttrRefundSettled), Attempts: attemptOf(rec),
		ReviewReason: rec.Attrs[payment.AttrReason], Refunds: []RefundView{},
	}
	if exp := payment.ParseStamp(rec.Attrs[payment.AttrExpiresAt]); !exp.IsZero() {
		v.ExpiresAt = wechatpay.FormatTime(exp)
	}
	prev, err := h.previous(ctx, rec)
	if err != nil {
		return nil, err
	}
	for _, p := range prev {
		st := p.Attrs[payment.AttrState]
		v.Previous = append(v.Previous, AttemptView{OutTradeNo: p.Attrs[payment.AttrOutTradeNo], State: st,
			Amount: payment.Fen(p, payment.AttrAmount), TransactionID: p.Attrs[payment.AttrTransactionID]})
		if (isPaid(st) || st == payment.StateReview) && v.State != payment.StateReview {
			v.State = payment.StateReview
			v.ReviewReason = "attempt " + p.Attrs[payment.AttrOutTradeNo] + " was paid after it was replaced (" + or(p.Attrs[payment.AttrReason], st) + ")"
		}
	}
	var nos []string
	for k, no := range rec.Attrs {
		if strings.HasPrefix(k, attrRefundPrefix) {
			nos = append(nos, no)
		}
	}
	sort.Strings(nos)
	for _, no := range nos {
		rf, err := h.st.Get(ctx, payment.RefundKey(rec.Attrs[payment.AttrMchID], no))
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("createorder: read refund %s: %w", no, err)
		}
		v.Refunds = append(v.Refunds, refundView(rf))
	}
	return v, nil
}

// CloseAnswer is the answer of POST /orders/{order_id}/close.
type CloseAnswer struct {
	OrderID    string `json:"order_id"`
	OutTradeNo string `json:"out_trade_no"`
	State      string `json:"state"`
	// Close is "done" (closed at WeChat Pay) or "scheduled" (WeChat Pay refuses a close
	// in an order's first 5 minutes: it is recorded and carried out by reconcile at
	// close_at; a payment arriving before is kept for review).
	Close   string `json:"close"`
	CloseAt string `json:"close_at,omitempty"`
	Message string `json:"message"`
}

func (h *Handler) closeOrder(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	_, cur, err := h.lookup(ctx, r)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	ans := CloseAnswer{OrderID: cur.Attrs[payment.AttrOrderID], OutTradeNo: cur.Attrs[payment.AttrOutTradeNo]}
	created := payment.ParseStamp(cur.Attrs[payment.AttrCreatedAt])
	st := cur.Attrs[payment.AttrState]
	switch {
	case isPaid(st):
		h.writeError(w, r, paidError(cur))
		return
	case st == payment.StateReview:
		h.writeError(w, r, fail(http.StatusConflict, "ORDER_IN_REVIEW", "order "+ans.OrderID+" is under review and cannot be closed", "look at it by hand"))
		return
	case isClosed(cur):
		ans.State, ans.Close, ans.Message = st, "done", "the order is closed"
		apiauth.WriteJSON(w, http.StatusOK, ans)
		return
	case cur.Attrs[payment.AttrCloseOwed] != "" || h.now().Sub(created) < closeAfter:
		at := created.Add(closeAfter)
		if err := h.deferClose(ctx, cur, at); err != nil {
			if errors.Is(err, errPaid) {
				h.writeError(w, r, paidError(cur))
				return
			}
			h.writeError(w, r, err)
			return
		}
		ans.State, ans.Close, ans.CloseAt = st, "scheduled", wechatpay.FormatTime(at)
		ans.Message = "WeChat Pay does not close an order in its first 5 minutes (订单生成后5分钟内不能关单): the close is recorded and carried out at close_at; a payment made before then is kept for review, never lost"
		apiauth.WriteJSON(w, http.StatusAccepted, ans)
		return
	}
	rec, err := h.closeNow(ctx, cur)
	if errors.Is(err, errPaid) {
		if fresh, gerr := h.st.Get(ctx, cur.Key); gerr == nil {
			rec = fresh
		}
		h.writeError(w, r, paidError(rec))
		return
	}
	if errors.Is(err, errDeferred) {
		ans.State, ans.Close = rec.Attrs[payment.AttrState], "scheduled"
		ans.Message = "WeChat Pay refused the close for now (订单生成后5分钟内不能关单): it is recorded and carried out later by reconcile"
		apiauth.WriteJSON(w, http.StatusAccepted, ans)
		return
	}
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	ans.State, ans.Close, ans.Message = rec.Attrs[payment.AttrState], "done", "closed at WeChat Pay"
	apiauth.WriteJSON(w, http.StatusOK, ans)
}

func paidError(rec store.Record) *apiError {
	return fail(http.StatusConflict, wechatpay.CodeOrderPaid,
		fmt.Sprintf("order %s is paid (state %s, out_trade_no %s) and cannot be closed", rec.Attrs[payment.AttrOrderID], rec.Attrs[payment.AttrState], rec.Attrs[payment.AttrOutTradeNo]),
		"refund it instead: POST /orders/{order_id}/refunds · 订单已支付，请走退款")
}
