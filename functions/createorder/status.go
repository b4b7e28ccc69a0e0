package createorder

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/paysls/wxpay/shared/apiauth"
	"github.com/paysls/wxpay/shared/orderapi"
	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// causeViews are a record's review causes as the API shows them (kind:
// second_payment, amount_mismatch, refund_exceeds_paid, earlier_attempt_paid, …).
func causeViews(cs []payment.Cause) []orderapi.Cause {
	var out []orderapi.Cause
	for _, c := range cs {
		out = append(out, orderapi.Cause{Kind: string(c.Kind), Detail: c.Detail, TransactionID: c.TransactionID, OutRefundNo: c.OutRefundNo,
			Amount: c.Amount, At: wechatpay.FormatTime(c.At)})
	}
	return out
}

// owner is the merchant owning an order named in a URL: the configured merchant, or in
// partner mode ?sub_mchid= (default WXPAY_SUB_MCHID).
func (h *Handler) owner(r *http.Request) (string, *apiError) {
	vs := r.URL.Query()["sub_mchid"]
	if len(vs) > 1 {
		// Which one counts would be up to each reader (this API read the first): a
		// refund or close must not act on a sub-merchant the caller did not mean.
		return "", badRequest(wechatpay.CodeParamError, "sub_mchid is given %d times in the query; send it once", len(vs)).
			withHint("name the order's sub-merchant once: ?sub_mchid=1900000109 · sub_mchid 只能出现一次")
	}
	q := r.URL.Query().Get("sub_mchid")
	if !h.partner {
		if q != "" {
			return "", badRequest(wechatpay.CodeParamError, "sub_mchid is a partner-mode parameter; this deployment is a direct merchant")
		}
		return h.cfg.MchID, nil
	}
	if q != "" && (len(q) > 32 || !digits(q)) {
		// Checked as POST /orders checks it: a value no sub-merchant has would otherwise
		// reach the store, which refuses a key that is not UTF-8 or too long (a 500).
		return "", badRequest(wechatpay.CodeParamError, "sub_mchid %s is not a merchant number: a sub_mchid is up to 32 digits, e.g. 1900000109", apiauth.Echo(q))
	}
	if s := cmp.Or(q, h.cfg.Bundle.SubMchID); s != "" {
		return s, nil
	}
	return "", badRequest(wechatpay.CodeParamError, "sub_mchid is required in partner and ecommerce mode: add ?sub_mchid=… (or set WXPAY_SUB_MCHID)")
}

// lookup finds an order named in the URL, or answers 404: also for an order_id that
// is another order's attempt (it is not an order).
func (h *Handler) lookup(ctx context.Context, r *http.Request) (*payment.History, error) {
	orderID := r.PathValue("order_id")
	if e := ValidateOrderID(orderID); e != nil {
		return nil, e
	}
	owner, e := h.owner(r)
	if e != nil {
		return nil, e
	}
	hist, err := h.ledger.Order(ctx, owner, orderID)
	var other *payment.OtherOrderError
	switch {
	case errors.As(err, &other) && other.Holder == "":
		// Money arrived under this number (an order.paid without order_id announced
		// it) and POST /orders refuses the id: "create it" would only lead there.
		return nil, fail(http.StatusNotFound, "ORDER_NOT_FOUND", "no order "+orderID+": "+other.Error()+"; what WeChat Pay reported for it is kept",
			"it is not an order of this API and cannot be created or refunded here: look it up in the console (查找 · Find), or by its transaction_id in the merchant platform")
	case errors.Is(err, payment.ErrNotFound):
		if e := h.combineNamed(ctx, r, orderID, owner); e != nil {
			return nil, e
		}
		return nil, fail(http.StatusNotFound, "ORDER_NOT_FOUND", "no order "+orderID,
			"create it with POST /orders; in partner mode check ?sub_mchid=")
	case err != nil:
		return nil, fmt.Errorf("createorder: read order %s: %w", orderID, err)
	}
	return h.followCombine(ctx, hist) // combine.go: a sub-order follows its re-priced combine
}

// combineNamed is the answer to a sub-merchant's order_id that is none of its orders but
// a combine (合单): a combine is the platform's, asked for without sub_mchid, and "no
// order" would send the merchant looking for an order that exists. nil when orderID is
// no combine either.
func (h *Handler) combineNamed(ctx context.Context, r *http.Request, orderID, owner string) error {
	if !h.partner {
		return nil
	}
	hist, err := h.ledger.Combine(ctx, h.cfg.MchID, orderID)
	if err != nil {
		return nil // not a combine (or unreadable): the order's own answer stands
	}
	subs := hist.Current.SubOrders
	if !r.URL.Query().Has("sub_mchid") {
		// No sub_mchid was sent (the default's was looked in) on a route that has no
		// combine form — a refund's read, a subsidy: "a combine takes no sub_mchid"
		// answered a request that gave none. It is the sub-orders' route.
		tail := strings.TrimPrefix(r.URL.Path, "/orders/"+orderID)
		var each []string
		for _, s := range subs[:min(len(subs), 3)] {
			each = append(each, r.Method+" /orders/"+s.OrderID+tail+"?sub_mchid="+s.SubMchID)
		}
		return fail(http.StatusBadRequest, "ORDER_IS_COMBINE",
			fmt.Sprintf("order %s is a combine (合单) of %d sub-orders: %s %s is asked of each sub-order, under its sub_mchid", orderID, len(subs), r.Method, apiauth.Clip(r.URL.Path)),
			"e.g. "+strings.Join(each, "; ")+" · 合单请按子单操作")
	}
	example := ""
	for _, s := range subs {
		if s.SubMchID == owner {
			example = s.OrderID
			break
		}
	}
	hint := "ask for the combine without sub_mchid: GET /orders/" + orderID + "; a sub-order by its own order_id with its sub_mchid"
	if example != "" {
		hint += ", e.g. GET /orders/" + example + "?sub_mchid=" + owner
	}
	return fail(http.StatusBadRequest, "ORDER_IS_COMBINE",
		fmt.Sprintf("order %s is a combine (合单) of %d sub-orders, not an order of sub-merchant %s: a combine takes no sub_mchid", orderID, len(subs), owner), hint)
}

func (h *Handler) getOrder(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if c, err := h.combineIn(r); err != nil || c != nil { // combine.go
		h.combineRoute(w, r, c, err, h.getCombine)
		return
	}
	hist, err := h.lookup(ctx, r)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	cur := hist.Current
	if cur.Combine != nil && cur.Unsettled() && !cur.InReview() && !h.recentlyChecked(cur.Key()) {
		hist.Current = h.settleSubOrder(ctx, cur) // a sub-order is queried through its combine
		if hist.Current.Key() == hist.First.Key() {
			hist.First = hist.Current
		}
	}
	// Not settled and not looked at just now: ask WeChat Pay, so a page polling after
	// the user returns learns the truth even when the notification is late or lost.
	if cur.Unsettled() && !cur.InReview() && cur.Claim.Answer.Any() && !h.recentlyChecked(cur.Key()) {
		if rec, err := h.settle(ctx, cur); err != nil {
			if !wechatpay.IsCode(err, wechatpay.CodeOrderNotExist) {
				h.log.Warn("order status: query failed; answering from the store", "key", cur.Key(), "error", err.Error())
			}
		} else {
			hist.Current = rec
			if rec.Key() == hist.First.Key() {
				hist.First = rec
			}
		}
	}
	view, err := h.view(ctx, hist)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	if cur := hist.Current; !cur.Unsettled() || cur.InReview() {
		// Paid, closed or in review: the cashier page's other scenes are not wanted.
		h.retireParked(ctx, hist.Previous)
	}
	apiauth.WriteJSON(w, http.StatusOK, view)
}

func (h *Handler) view(ctx context.Context, hist *payment.History) (*orderapi.OrderView, error) {
	rec := hist.Current
	v := &orderapi.OrderView{
		OrderID: hist.First.OrderID, OutTradeNo: rec.OutTradeNo, Scene: rec.Scene,
		State: rec.Status(), Amount: rec.Amount, Description: rec.Create.Description,
		ClosePending: rec.Close != nil && rec.Unsettled() && !rec.Parked(),
		Refunded:     rec.Refunded(), Attempts: max(rec.Attempt, hist.First.NewestAttempt()),
		ReviewReason: rec.Review.Reason(), ReviewCauses: causeViews(rec.Review.Pending()), Refunds: []orderapi.RefundView{},
	}
	if rec.Payment != nil {
		v.TransactionID, v.PaidAt = rec.Payment.TransactionID, rec.Payment.SuccessTime
	}
	if !rec.ExpiresAt.IsZero() {
		v.ExpiresAt = wechatpay.FormatTime(rec.ExpiresAt)
	}
	if rec.Combine != nil {
		v.CombineOrderID = rec.Combine.OrderID
	}
	v.ProfitSharing = sharingView(rec, h.now())
	if err := h.ledger.Previous(ctx, hist); err != nil {
		return nil, err
	}
	attempts := append(append([]*payment.Order{}, hist.Previous...), rec)
	for _, p := range hist.Previous {
		pv := orderapi.AttemptView{OutTradeNo: p.OutTradeNo, State: p.Status(), Amount: p.Amount}
		if p.Payment != nil {
			pv.TransactionID = p.Payment.TransactionID
		} else {
			// A payment of a replaced attempt is not its Payment but the cause that put
			// it in REVIEW: the person resolving it refunds that transaction, so show it.
			for _, c := range p.Review.Causes {
				if c.TransactionID != "" {
					pv.TransactionID = c.TransactionID
					break
				}
			}
		}
		v.Previous = append(v.Previous, pv)
		if p.Paid() || p.InReview() {
			// The order is paid, or needs a person, through an attempt it replaced.
			detail := "attempt " + p.OutTradeNo + " was paid after it was replaced"
			if r := p.Review.Reason(); r != "" {
				detail += " (" + r + ")"
			}
			if !rec.InReview() && v.State != payment.StateReview {
				v.State, v.ReviewReason = payment.StateReview, detail
			}
			v.ReviewCauses = append(v.ReviewCauses, orderapi.Cause{Kind: string(payment.CauseEarlierAttemptPaid), Detail: detail,
				TransactionID: pv.TransactionID, Amount: p.Amount})
		}
	}
	for _, a := range attempts {
		refunds, err := h.ledger.RefundsOf(ctx, a)
		if err != nil {
			return nil, err
		}
		for _, rf := range refunds {
			v.Refunds = append(v.Refunds, refundView(rf))
		}
	}
	return v, nil
}

func (h *Handler) closeOrder(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if e := noFields(r); e != nil {
		h.writeError(w, r, e)
		return
	}
	if c, err := h.combineIn(r); err != nil || c != nil { // combine.go
		h.combineRoute(w, r, c, err, h.closeCombine)
		return
	}
	hist, err := h.lookup(ctx, r)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	cur := hist.Current
	ans := orderapi.CloseAnswer{OrderID: hist.First.OrderID, OutTradeNo: cur.OutTradeNo}
	if hist.First.NewestAttempt() > 1 {
		// The cashier page's other scenes close with the order.
		if err := h.ledger.Previous(ctx, hist); err == nil {
			h.retireParked(ctx, hist.Previous)
		}
	}
	switch {
	case cur.Combine != nil:
		h.writeError(w, r, fail(http.StatusConflict, "ORDER_IS_SUB_ORDER", "order "+ans.OrderID+" is a sub-order of combine "+cur.Combine.OrderID+": it is closed with its combine",
			"POST /orders/"+cur.Combine.OrderID+"/close closes the combine and every sub-order · 合单子单须通过合单关单"))
		return
	case cur.InReview():
		h.writeError(w, r, fail(http.StatusConflict, "ORDER_IN_REVIEW", "order "+ans.OrderID+" is under review and cannot be closed", "look at it by hand"))
		return
	case cur.Paid():
		h.writeError(w, r, paidError(ans.OrderID, cur))
		return
	case cur.Closed():
		ans.State, ans.Close, ans.Message = cur.State, "done", "the order is closed"
		apiauth.WriteJSON(w, http.StatusOK, ans)
		return
	case cur.Close != nil || h.now().Sub(cur.CreatedAt) < closeAfter:
		at := cur.CreatedAt.Add(closeAfter)
		if cur.Close != nil && !cur.Parked() {
			at = cur.Close.At
		}
		if cur.Close == nil && mayBePlaced(cur) {
			// A close only recorded asks WeChat Pay nothing: an order paid whose
			// notification is late or lost is queried first (as a re-price does, retire),
			// so that it is answered paid, as an older order's close is, not scheduled
			// and found paid later in REVIEW. A failed query leaves it as before.
			if rec, err := h.settle(ctx, cur); err == nil && (rec.Paid() || rec.InReview()) {
				h.writeError(w, r, paidError(ans.OrderID, rec))
				return
			}
		}
		if _, err := h.deferClose(ctx, cur, at, "merchant"); err != nil {
			if errors.Is(err, errPaid) {
				h.writeError(w, r, paidError(ans.OrderID, cur))
				return
			}
			h.writeError(w, r, err)
			return
		}
		ans.State, ans.Close, ans.CloseAt = cur.Status(), "scheduled", wechatpay.FormatTime(at)
		ans.Message = "WeChat Pay does not close an order in its first 5 minutes (订单生成后5分钟内不能关单): the close is recorded and carried out at close_at; a payment made before then is kept for review, never lost"
		apiauth.WriteJSON(w, http.StatusAccepted, ans)
		return
	}
	rec, err := h.closeNow(ctx, cur)
	if errors.Is(err, errPaid) {
		if fresh, gerr := h.ledger.Attempt(ctx, cur.Owner, cur.OutTradeNo); gerr == nil {
			rec = fresh
		}
		h.writeError(w, r, paidError(ans.OrderID, rec))
		return
	}
	if errors.Is(err, errDeferred) {
		ans.State, ans.Close = rec.Status(), "scheduled"
		ans.Message = "WeChat Pay refused the close for now (订单生成后5分钟内不能关单): it is recorded and carried out later by reconcile"
		apiauth.WriteJSON(w, http.StatusAccepted, ans)
		return
	}
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	ans.State, ans.Close, ans.Message = rec.Status(), "done", "closed at WeChat Pay"
	apiauth.WriteJSON(w, http.StatusOK, ans)
}

func paidError(orderID string, rec *payment.Order) *apiError {
	return fail(http.StatusConflict, wechatpay.CodeOrderPaid,
		fmt.Sprintf("order %s is paid (state %s, out_trade_no %s) and cannot be closed", orderID, rec.Status(), rec.OutTradeNo),
		"refund it instead: POST /orders/{order_id}/refunds · 订单已支付，请走退款")
}

// noFields refuses a body with fields on a route that takes none (close): it was
// ignored, so {"sub_mchid":"B"} closed the default sub-merchant's order of that number
// — someone else's — instead of B's. An empty body, {} or null is fine.
func noFields(r *http.Request) *apiError {
	if r.Body == nil {
		return nil
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return badRequest("INVALID_REQUEST", "could not read the request body: %v", err)
	}
	t := bytes.TrimSpace(b)
	if len(t) == 0 || string(t) == "null" {
		return nil
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(t, &fields) == nil && len(fields) == 0 {
		return nil
	}
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, apiauth.Echo(k))
	}
	slices.Sort(names)
	what := "a body"
	if len(names) > 0 {
		what = "fields " + strings.Join(names, ", ")
	}
	return badRequest(wechatpay.CodeParamError, "%s %s takes no body; it was sent %s", r.Method, apiauth.Clip(r.URL.Path), what).
		withHint("send no body (or {}); a platform names the order's sub-merchant with ?sub_mchid= · 关单无需请求体，子商户号请放在 ?sub_mchid=")
}
