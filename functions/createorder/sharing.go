package createorder

// Profit sharing (分账) and subsidies (补差) through the order API, for a platform
// (WXPAY_MODE=ecommerce) or a service provider (partner). An order — or a combine's
// sub-order — is created with profit_sharing: true (the split decided later) or
// {receivers, hold_until?, subsidy_amount?} (decided up front); its payment is then
// placed with settle_info.profit_sharing=true and stays frozen at WeChat Pay until the
// sharing job (reconcile's phase, functions/reconcile/sharing.go) splits it and finishes
// it. The merchant confirms an order (e.g. delivered) with POST /orders/{id}/settle,
// which ends its hold and may give (or replace a failed) plan. The ledger keeps it all
// on the order (shared/payment/sharing.go); GET /orders/{id} shows it.
//
// Receivers are added and removed through WeChat Pay's receivers API with POST
// /profitsharing/receivers and DELETE /profitsharing/receivers/{account}; a plan naming
// a receiver never added (other than the platform itself and the paying sub-merchant)
// is refused before anything is sent.

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/paysls/wxpay/shared/apiauth"
	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/orderapi"
	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// defaultShareDescription is a share's description when none is given (required by
// WeChat Pay, at most 80 characters, shown to the receiver).
const defaultShareDescription = "分账"

// shareHint names the shape of profit_sharing.
const shareHint = `profit_sharing is true (receivers decided later, at POST /orders/{id}/settle) or {"receivers":[{"type":"MERCHANT_ID","account":"<mchid>","rate":0.05}],"hold_until":"<RFC 3339>"} · 分账接收方金额(amount,分)与比例(rate)二选一`

// parseSharing reads profit_sharing (field names the place in the request) for an
// order of owner and amount fen: nil when absent or false. combine allows
// subsidy_amount (WeChat Pay takes it with a combine's sub-orders only).
func (h *Handler) parseSharing(ctx context.Context, raw json.RawMessage, field, owner string, amount int64, combine bool) (*payment.Sharing, *apiError) {
	v := strings.TrimSpace(string(raw))
	switch v {
	case "", "null", "false":
		return nil, nil
	}
	api := h.api.ShareAPI()
	if api == "" {
		return nil, badRequest("SHARING_NOT_AVAILABLE", "%s: profit sharing (分账) is a platform's or service provider's; this deployment is a direct merchant", field).
			withHint("set " + config.EnvMode + "=ecommerce (电商收付通) or partner")
	}
	s := &payment.Sharing{API: api}
	if v == "true" {
		return s, nil
	}
	var req orderapi.SharingRequest
	dec := json.NewDecoder(strings.NewReader(v))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return nil, sharingShapeError(field, err, &req)
	}
	if req.HoldUntil != "" {
		t, err := time.Parse(time.RFC3339, req.HoldUntil)
		if err != nil {
			return nil, badRequest(wechatpay.CodeParamError, "%s.hold_until %s is not an RFC 3339 time", field, apiauth.Echo(req.HoldUntil)).withHint("e.g. 2026-03-17T12:00:00+08:00")
		}
		if t.After(h.now().Add(wechatpay.EcommerceFreeze)) {
			return nil, badRequest(wechatpay.CodeParamError, "%s.hold_until is beyond WeChat Pay's freeze of %d days: the funds are released by WeChat Pay then, unsplit", field, int(wechatpay.EcommerceFreeze.Hours()/24))
		}
		s.HoldUntil = t.UTC()
	}
	if sa := strings.TrimSpace(string(req.SubsidyAmount)); sa != "" && sa != "null" && sa != "0" {
		if !combine {
			return nil, badRequest(wechatpay.CodeParamError, "%s.subsidy_amount: WeChat Pay takes a subsidy (补差) with a combine's sub-orders only (合单 settle_info.subsidy_amount)", field).
				withHint("place the order as a combine sub-order, or leave subsidy_amount out")
		}
		n, e := parseAmount(string(req.SubsidyAmount))
		if e != nil {
			e.message = field + ".subsidy_amount: " + e.message
			return nil, e
		}
		if n > wechatpay.MaxSubsidyAmount || n > amount {
			return nil, badRequest(wechatpay.CodeParamError, "%s.subsidy_amount %d fen: at most the sub-order's %d fen and WeChat Pay's 5000 yuan (%d fen)", field, n, amount, wechatpay.MaxSubsidyAmount)
		}
		s.SubsidyAmount = n
	}
	rs, e := h.parseReceivers(ctx, req.Receivers, field+".receivers", owner, amount+s.SubsidyAmount)
	if e != nil {
		return nil, e
	}
	s.Receivers, s.Planned = rs, true
	if err := payment.ValidatePlan(api, rs, amount, s.SubsidyAmount); err != nil {
		return nil, badRequest(wechatpay.CodeParamError, "%s: %s", field, message(err)).withHint(shareHint)
	}
	return s, nil
}

// parseReceivers reads receivers (field names them) and checks each was added here
// (POST /profitsharing/receivers), or is the platform or the paying sub-merchant.
func (h *Handler) parseReceivers(ctx context.Context, in []orderapi.ReceiverRequest, field, owner string, holds int64) ([]payment.ShareReceiver, *apiError) {
	out := make([]payment.ShareReceiver, 0, len(in))
	for i, r := range in {
		f := fmt.Sprintf("%s[%d]", field, i)
		rc := payment.ShareReceiver{Type: r.Type, Account: strings.TrimSpace(r.Account), Description: cmp.Or(r.Description, defaultShareDescription)}
		amt, rate := strings.TrimSpace(string(r.Amount)), strings.TrimSpace(string(r.Rate))
		hasAmt, hasRate := amt != "" && amt != "null", rate != "" && rate != "null"
		switch {
		case hasAmt && hasRate:
			return nil, badRequest(wechatpay.CodeParamError, "%s gives both amount and rate: a share is one or the other", f).withHint(shareHint)
		case hasAmt:
			n, e := parseAmount(string(r.Amount))
			if e != nil {
				e.message = f + ".amount: " + e.message
				return nil, e
			}
			rc.Amount = n
		case hasRate:
			n, ok := parseRate(rate)
			if !ok {
				return nil, badRequest(wechatpay.CodeParamError, "%s.rate %s is not a fraction above 0 and at most 1 with at most 4 decimals (0.05 is 5%%)", f, rate).withHint(shareHint)
			}
			rc.Rate = n
		default:
			return nil, badRequest(wechatpay.CodeParamError, "%s needs amount (fen) or rate", f).withHint(shareHint)
		}
		switch rc.Type {
		case wechatpay.ReceiverMerchant, wechatpay.ReceiverPersonalOpenID, wechatpay.ReceiverPersonalSubOpenID:
		default:
			return nil, badRequest(wechatpay.CodeParamError, "%s.type %s is not a receiver type: MERCHANT_ID, PERSONAL_OPENID (or PERSONAL_SUB_OPENID for a service provider)", f, apiauth.Echo(r.Type)).
				withHint("分账接收方类型: MERCHANT_ID 商户号, PERSONAL_OPENID 个人openid")
		}
		if rc.Account == "" {
			return nil, badRequest(wechatpay.CodeParamError, "%s.account is required: the receiver's mchid or openid", f)
		}
		// The paying sub-merchant needs no adding, and an e-commerce platform is a receiver
		// of its splits from the start; a service provider adds itself for each
		// sub-merchant like any receiver (WeChat Pay refuses its split otherwise:
		// 分账接收方关系不存在).
		platformSelf := rc.Account == h.cfg.MchID && h.api.ShareAPI() == payment.ShareAPIEcommerce
		if !(rc.Type == wechatpay.ReceiverMerchant && (platformSelf || rc.Account == owner)) {
			scope := h.receiverScope(owner)
			if got, err := h.ledger.Receiver(ctx, scope, rc.Type, rc.Account); errors.Is(err, payment.ErrNotFound) || err == nil && !got.Added {
				// A service provider's receivers are each sub-merchant's own: one added for
				// another sub-merchant is not this one's, and the answer must say whose.
				whose, body := "here", `{"type","account","name","relation_type"}`
				if scope != payment.ShareAPIEcommerce {
					whose, body = "for sub-merchant "+scope, `{"type","account","name","relation_type","sub_mchid":"`+scope+`"}`
				}
				return nil, fail(http.StatusBadRequest, "RECEIVER_NOT_ADDED", fmt.Sprintf("%s: %s %s was never added as a receiver %s", f, rc.Type, rc.Account, whose),
					"add it first: POST /profitsharing/receivers "+body+" · 分账接收方须先添加")
			} else if err != nil {
				return nil, fail(http.StatusServiceUnavailable, "STORE_UNAVAILABLE", "the store could not be reached", "retry the same request")
			}
		}
		out = append(out, rc)
	}
	return out, nil
}

// parseRate reads a rate: a decimal fraction in (0, 1] with at most 4 decimals, as
// ten-thousandths (exactly: never through a float).
func parseRate(s string) (int64, bool) {
	whole, frac, _ := strings.Cut(s, ".")
	if (whole != "0" && whole != "1") || len(frac) > 4 || strings.Trim(frac, "0123456789") != "" {
		return 0, false
	}
	n := int64(0)
	if whole == "1" {
		n = payment.RatioUnit
	}
	scale := int64(payment.RatioUnit / 10)
	for _, c := range frac {
		n += int64(c-'0') * scale
		scale /= 10
	}
	return n, n > 0 && n <= payment.RatioUnit
}

// receiverScope is where a receiver is noted: the platform's own list, or a service
// provider's sub-merchant's.
func (h *Handler) receiverScope(owner string) string {
	if h.api.ShareAPI() == payment.ShareAPIEcommerce {
		return payment.ShareAPIEcommerce
	}
	return owner
}

// settleOrder serves POST /orders/{order_id}/settle: the merchant confirms the order
// (e.g. delivered) and its split may go ahead. For a combine every sub-order is
// settled with the same body.
func (h *Handler) settleOrder(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var req orderapi.SettleRequest
	if r.ContentLength != 0 {
		if e := decodeBody(r, &req); e != nil {
			h.writeError(w, r, e)
			return
		}
	}
	if c, err := h.combineIn(r); err != nil || c != nil {
		h.combineRoute(w, r, c, err, func(w http.ResponseWriter, r *http.Request, c *payment.CombineHistory) {
			subs, err := h.ledger.SubOrders(ctx, c.Current)
			if err != nil {
				h.writeError(w, r, err)
				return
			}
			v := orderapi.SettleView{OrderID: c.First.OrderID, State: "settled"}
			var refused *apiError // the first sub-order's refusal, one not "not shared" preferred
			took := 0
			for i, o := range subs {
				sv := orderapi.SettleView{OrderID: c.Current.SubOrders[i].OrderID, SubMchID: c.Current.SubOrders[i].SubMchID}
				if o == nil {
					sv.Error = &orderapi.ErrorBody{Code: "ORDER_NOT_FOUND", Message: "the sub-order was never placed"}
					v.State = "partial"
				} else if got, err := h.settleShares(ctx, o, req); err != nil {
					ae := h.apiErr(err)
					if ae == nil {
						h.writeError(w, r, err)
						return
					}
					sv.Error, v.State = &orderapi.ErrorBody{Code: ae.code, Message: ae.message, Hint: ae.hint}, "partial"
					sv.State = o.Status()
					if refused == nil || refused.code == "ORDER_NOT_SHARED" && ae.code != "ORDER_NOT_SHARED" {
						refused = fail(ae.status, ae.code, "no sub-order of combine "+c.First.OrderID+" was settled: sub-order "+sv.OrderID+": "+ae.message, ae.hint)
					}
				} else {
					sv.State, sv.ProfitSharing = got.Status(), sharingView(got, h.now())
					took++
				}
				v.SubOrders = append(v.SubOrders, sv)
			}
			// Nothing settled is a refusal, answered as a single order's is (ORDER_NOT_PAID,
			// PARAM_ERROR, …): a 200 "partial" would read as settled to a client checking
			// the status. "partial" is for a settle some sub-orders took.
			if took == 0 && refused != nil {
				h.writeError(w, r, refused)
				return
			}
			apiauth.WriteJSON(w, http.StatusOK, v)
		})
		return
	}
	hist, err := h.lookup(ctx, r)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	o, err := h.settleShares(ctx, hist.Current, req)
	if err != nil {
		h.writeError(w, r, h.orErr(err))
		return
	}
	apiauth.WriteJSON(w, http.StatusOK, orderapi.SettleView{OrderID: hist.First.OrderID, SubMchID: subOf(h, o), State: o.Status(), ProfitSharing: sharingView(o, h.now())})
}

func subOf(h *Handler, o *payment.Order) string {
	if h.partner {
		return o.Owner
	}
	return ""
}

// settleShares settles one order through the ledger.
func (h *Handler) settleShares(ctx context.Context, o *payment.Order, req orderapi.SettleRequest) (*payment.Order, error) {
	sr := payment.SettleRequest{}
	if req.Receivers != nil {
		var holds int64 = o.Amount
		rs, e := h.parseReceivers(ctx, *req.Receivers, "receivers", o.Owner, holds)
		if e != nil {
			return nil, e
		}
		sr.Plan, sr.Receivers = true, rs
	}
	if o.Sharing == nil {
		return nil, fail(http.StatusConflict, "ORDER_NOT_SHARED", "order "+o.OrderID+" was not placed for profit sharing",
			"create orders with profit_sharing (settle_info.profit_sharing=true) to split them; this one is settled to its merchant already")
	}
	res, err := h.ledger.Settle(ctx, o, sr)
	if err != nil {
		return nil, err
	}
	return res.Order, nil
}

// apiErr is err as the API answers it.
func (h *Handler) apiErr(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	m := message(err)
	switch {
	case errors.Is(err, payment.ErrOrderClosed):
		return fail(http.StatusConflict, "ORDER_CLOSED", m, "a closed order holds no money to share · 订单已关闭")
	case errors.Is(err, payment.ErrInReview):
		return fail(http.StatusConflict, "ORDER_IN_REVIEW", m, "a person must settle the review first (GET /orders/{order_id}) · 订单待人工核查")
	case errors.Is(err, payment.ErrNotPaid):
		return fail(http.StatusConflict, "ORDER_NOT_PAID", m, "profit sharing follows the payment · 订单未支付，不能分账")
	case errors.Is(err, payment.ErrNotShared):
		return fail(http.StatusConflict, "ORDER_NOT_SHARED", m, "create the order with profit_sharing to split it")
	case errors.Is(err, payment.ErrShareBusy):
		return fail(http.StatusConflict, "SPLIT_IN_PROGRESS", m, "wait for the split's result (GET /orders/{order_id})")
	case errors.Is(err, payment.ErrShareFinished):
		return fail(http.StatusConflict, "SHARING_FINISHED", m, "the order was finished (完结分账): its rest is the sub-merchant's")
	case errors.Is(err, payment.ErrShareStarted):
		return fail(http.StatusConflict, "ALREADY_SPLIT", m, "")
	case errors.Is(err, payment.ErrNoPlan):
		return fail(http.StatusBadRequest, "RECEIVERS_REQUIRED", m, `send {"receivers":[…]} — or {"receivers":[]} to release everything to the sub-merchant`)
	case errors.Is(err, payment.ErrSubsidy):
		return fail(http.StatusConflict, "SUBSIDY_REFUSED", m, "")
	case errors.Is(err, payment.ErrInvalid):
		return badRequest(wechatpay.CodeParamError, "%s", m).withHint(shareHint)
	}
	return nil
}

// subsidyOrder serves POST /orders/{order_id}/subsidy, …/subsidy/cancel and
// …/subsidy/returns: the ledger records the request, WeChat Pay is asked at once and
// its answer recorded (reconcile asks again after a crash: the numbers make it safe).
func (h *Handler) subsidyOrder(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	hist, err := h.lookup(ctx, r)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	o := hist.Current
	if o.Sharing == nil {
		h.writeError(w, r, fail(http.StatusConflict, "ORDER_NOT_SHARED", "order "+o.OrderID+" was not placed for profit sharing", "subsidies (补差) go with combine sub-orders placed with profit_sharing.subsidy_amount"))
		return
	}
	if h.api.ShareAPI() != payment.ShareAPIEcommerce {
		h.writeError(w, r, badRequest("SUBSIDY_NOT_AVAILABLE", "subsidies (补差) are an e-commerce platform's").withHint("set "+config.EnvMode+"=ecommerce"))
		return
	}
	txid := ""
	if o.Payment != nil {
		txid = o.Payment.TransactionID
	}
	var next *payment.Order
	switch {
	case strings.HasSuffix(r.URL.Path, "/returns"):
		var req orderapi.SubsidyReturnRequest
		if e := decodeBody(r, &req); e != nil {
			h.writeError(w, r, e)
			return
		}
		amt, e := parseAmount(string(req.Amount))
		if e != nil {
			h.writeError(w, r, e)
			return
		}
		if req.OutRefundNo == "" {
			h.writeError(w, r, badRequest(wechatpay.CodeParamError, "out_refund_no is required: the refund of order %s whose subsidy part is given back", o.OrderID).
				withHint(`send {"out_refund_no":"<the refund's>","amount":<fen>} · 补差回退须指明对应的退款单号`))
			return
		}
		rf, err := h.ledger.Refund(ctx, o.Owner, req.OutRefundNo)
		if err != nil || !o.Knows(rf.TransactionID) && rf.OutTradeNo != o.OutTradeNo {
			h.writeError(w, r, fail(http.StatusNotFound, "REFUND_NOT_FOUND", "order "+o.OrderID+" has no refund "+req.OutRefundNo, "a subsidy return follows a refund of the order (补差回退需要订单退款)"))
			return
		}
		o2, sr, err := h.ledger.RequestSubsidyReturn(ctx, o, req.OutRefundNo, rf.RefundID, amt)
		if err != nil {
			h.writeError(w, r, h.subsidyErr(err))
			return
		}
		next = o2
		if sr.State == payment.SharePending {
			a, err := h.api.ReturnSubsidy(ctx, o.Owner, txid, *sr, o2.Sharing.Subsidy.SubsidyID)
			if next, err = h.subsidyAnswer(ctx, o2, sr.OutOrderNo, a, err); err != nil {
				h.writeError(w, r, err)
				return
			}
		}
	default:
		var req orderapi.SubsidyRequest
		if r.ContentLength != 0 {
			if e := decodeBody(r, &req); e != nil {
				h.writeError(w, r, e)
				return
			}
		}
		var err error
		var line *payment.SubsidyLine
		if strings.HasSuffix(r.URL.Path, "/cancel") {
			next, err = h.ledger.RequestSubsidyCancel(ctx, o, req.Description)
			if err == nil {
				line = next.Sharing.Subsidy
			}
		} else {
			amt := o.Sharing.SubsidyAmount
			if a := strings.TrimSpace(string(req.Amount)); a != "" && a != "null" {
				var e *apiError
				if amt, e = parseAmount(string(req.Amount)); e != nil {
					h.writeError(w, r, e)
					return
				}
			}
			refundID := ""
			if req.OutRefundNo != "" {
				if rf, err := h.ledger.Refund(ctx, o.Owner, req.OutRefundNo); err == nil && rf.OutTradeNo == o.OutTradeNo {
					refundID = rf.RefundID
				}
				if refundID == "" {
					// A refund this order does not have (or not yet known to WeChat Pay) was
					// left out of the request, which WeChat Pay then refused as a subsidy
					// below the order's: a failed subsidy recorded and announced for a typo.
					h.writeError(w, r, fail(http.StatusNotFound, "REFUND_NOT_FOUND", "order "+o.OrderID+" has no refund "+apiauth.Echo(req.OutRefundNo)+" WeChat Pay has accepted",
						"name a refund of this order (GET /orders/{order_id} lists them) · 补差须对应本订单的退款"))
					return
				}
			}
			if placed := o.Sharing.SubsidyAmount; placed > 0 && (amt > placed || refundID == "" && amt != placed) {
				// WeChat Pay takes the subsidy the order was placed with, or less after a
				// refund (refund_id), never more: anything else is refused there, after a FAILED
				// subsidy was recorded here and announced. Nothing is sent or recorded.
				h.writeError(w, r, badRequest(wechatpay.CodeParamError, "amount %d fen differs from the %d fen subsidy order %s was placed with", amt, o.Sharing.SubsidyAmount, o.OrderID).
					withHint("leave amount out to ask for the subsidy placed; ask for less only after a refund, naming its out_refund_no · 补差金额须与下单时一致，减少补差须先退款并指明退款单号"))
				return
			}
			next, line, err = h.ledger.RequestSubsidy(ctx, o, amt, req.Description, refundID)
		}
		if err != nil {
			h.writeError(w, r, h.subsidyErr(err))
			return
		}
		if line != nil && line.State == payment.SharePending {
			a, err := h.api.Subsidy(ctx, o.Owner, txid, *line)
			if next, err = h.subsidyAnswer(ctx, next, "", a, err); err != nil {
				h.writeError(w, r, err)
				return
			}
		}
	}
	apiauth.WriteJSON(w, http.StatusOK, orderapi.SettleView{OrderID: hist.First.OrderID, SubMchID: subOf(h, next), State: next.Status(), ProfitSharing: sharingView(next, h.now())})
}

// subsidyAnswer records WeChat Pay's answer (or refusal) to a subsidy call.
func (h *Handler) subsidyAnswer(ctx context.Context, o *payment.Order, no string, a payment.SubsidyAnswer, callErr error) (*payment.Order, error) {
	if callErr == nil {
		return h.ledger.ApplySubsidy(ctx, o, no, a)
	}
	var we *wechatpay.APIError
	var ve *wechatpay.ValidationError
	if errors.As(callErr, &ve) || errors.As(callErr, &we) && we.StatusCode < 500 && !we.Retryable() {
		if no == "" {
			no = o.Sharing.Subsidy.OutSubsidyNo
		}
		if _, err := h.ledger.RefuseShare(ctx, o, no, refusalReason(callErr), time.Time{}); err != nil {
			h.log.Error("subsidy refusal not recorded; reconcile asks again", "out_trade_no", o.OutTradeNo, "error", err.Error())
		}
	}
	return nil, callErr // a transient failure stays PENDING: reconcile asks again
}

// refusalReason is what a merchant reads of WeChat Pay's refusal of a sharing call
// (subsidy.failed, the order's problem in GET /orders): WeChat Pay's code and message,
// as reconcile records its refusals — never our error chain ("wechatpay: " prefixes,
// the call's wrapping with the transaction_id, our hint, the Request-ID). A parameter
// refused before the call is its field and issue.
func refusalReason(err error) string {
	var we *wechatpay.APIError
	var ve *wechatpay.ValidationError
	switch {
	case errors.As(err, &we):
		return strings.TrimSpace(we.Code + " " + we.Message)
	case errors.As(err, &ve):
		return ve.Error()
	}
	return "refused by WeChat Pay"
}

// subsidyErr is a subsidy call's refusal as the API answers it: an amount the ledger
// finds invalid is explained as a subsidy's, not with the receivers' hint of a plan.
func (h *Handler) subsidyErr(err error) error {
	if errors.Is(err, payment.ErrInvalid) {
		return badRequest(wechatpay.CodeParamError, "%s", strings.TrimPrefix(message(err), "invalid result: ")).
			withHint("a subsidy (补差) is 1 fen to 5000 yuan, at most what the order was placed with; a return (补差回退) at most what is left of it, one per refund (GET /orders/{order_id} shows profit_sharing.subsidy) · 补差及补差回退金额须在补差范围内")
	}
	return h.orErr(err)
}

func (h *Handler) orErr(err error) error {
	if ae := h.apiErr(err); ae != nil {
		return ae
	}
	return err
}

// receivers serves POST /profitsharing/receivers (add) and DELETE
// /profitsharing/receivers/{account} (remove, ?type=, ?sub_mchid=): WeChat Pay's
// receivers API first, then the ledger's note. Both are safe to repeat.
func (h *Handler) receivers(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if h.api.ShareAPI() == "" {
		h.writeError(w, r, badRequest("SHARING_NOT_AVAILABLE", "profit-sharing receivers are a platform's or service provider's; this deployment is a direct merchant").
			withHint("set "+config.EnvMode+"=ecommerce (电商收付通) or partner"))
		return
	}
	var req orderapi.ReceiverAddRequest
	add := r.Method == http.MethodPost
	if add {
		if e := decodeBody(r, &req); e != nil {
			h.writeError(w, r, e)
			return
		}
	} else {
		q := r.URL.Query()
		for _, name := range []string{"sub_mchid", "type"} {
			if n := len(q[name]); n > 1 {
				// Whose receiver is removed must not depend on which copy is read.
				h.writeError(w, r, badRequest(wechatpay.CodeParamError, "%s is given %d times in the query; send it once", name, n).
					withHint("e.g. DELETE /profitsharing/receivers/1900000200?type=MERCHANT_ID&sub_mchid=1900000109"))
				return
			}
		}
		req = orderapi.ReceiverAddRequest{Type: cmp.Or(q.Get("type"), wechatpay.ReceiverMerchant), Account: r.PathValue("account"), SubMchID: q.Get("sub_mchid")}
	}
	switch req.Type {
	case wechatpay.ReceiverMerchant, wechatpay.ReceiverPersonalOpenID, wechatpay.ReceiverPersonalSubOpenID:
	default:
		h.writeError(w, r, badRequest(wechatpay.CodeParamError, "type %s is not a receiver type: MERCHANT_ID, PERSONAL_OPENID (or PERSONAL_SUB_OPENID for a service provider)", apiauth.Echo(req.Type)))
		return
	}
	if req.Account == "" {
		h.writeError(w, r, badRequest(wechatpay.CodeParamError, "account is required: the receiver's mchid or openid"))
		return
	}
	// What no mchid or openid looks like is refused here: it would reach the store's
	// key (refused there when not UTF-8 or too long: a 500) after WeChat Pay.
	if !receiverAccountShape(req.Type, req.Account) {
		h.writeError(w, r, badRequest(wechatpay.CodeParamError, "account %s is not a %s: a merchant number is digits, an openid up to 64 letters, digits, _ and -", apiauth.Echo(req.Account), req.Type))
		return
	}
	if req.SubMchID != "" && (len(req.SubMchID) > 32 || !digits(req.SubMchID)) {
		h.writeError(w, r, badRequest(wechatpay.CodeParamError, "sub_mchid %s is not a merchant number: a sub_mchid is up to 32 digits, e.g. 1900000109", apiauth.Echo(req.SubMchID)))
		return
	}
	scope := payment.ShareAPIEcommerce
	if h.api.ShareAPI() == payment.ShareAPIPartner {
		scope = cmp.Or(req.SubMchID, h.cfg.Bundle.SubMchID)
		if scope == "" {
			h.writeError(w, r, badRequest(wechatpay.CodeParamError, "sub_mchid is required: a service provider's receivers belong to one sub-merchant"))
			return
		}
	}
	in := struct {
		typ, account, name, rel string
	}{req.Type, req.Account, req.Name, cmp.Or(req.RelationType, "OTHERS")}
	var err error
	pin := platformReceiver(scope, in.typ, in.account, in.name, in.rel)
	if add && in.name != "" && h.api.ShareAPI() == payment.ShareAPIPartner {
		// The partner API takes the name encrypted (WeChat Pay's public key, else the
		// platform certificate): the same key 异常退款's card fields use.
		key, err := h.encryptionKey(ctx)
		if err != nil {
			h.writeError(w, r, fmt.Errorf("createorder: the receiver's name cannot be encrypted for WeChat Pay: %w", err))
			return
		}
		pin.Key = key
	}
	if add {
		err = h.api.AddReceiver(ctx, pin)
	} else if err = h.api.DeleteReceiver(ctx, pin); wechatpay.IsCode(err, wechatpay.CodeResourceNotExists) {
		// Not a receiver at WeChat Pay (分账接收方不存在): what a delete asks for. A repeat
		// after a lost answer, or after the note below failed, ends here too.
		err = nil
	}
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	rec := payment.ShareReceiverRecord{Scope: scope, Type: in.typ, Account: in.account, Name: in.name, RelationType: in.rel, Added: add}
	if err := h.ledger.NoteReceiver(ctx, rec); err != nil {
		h.writeError(w, r, err)
		return
	}
	apiauth.WriteJSON(w, http.StatusOK, map[string]any{"type": in.typ, "account": in.account, "added": add, "scope": scope})
}

// routesSharing adds the profit-sharing and subsidy routes.
func (h *Handler) routesSharing(mux *http.ServeMux) {
	mux.HandleFunc("POST /orders/{order_id}/settle", h.settleOrder)
	mux.HandleFunc("POST /orders/{order_id}/subsidy", h.subsidyOrder)
	mux.HandleFunc("POST /orders/{order_id}/subsidy/cancel", h.subsidyOrder)
	mux.HandleFunc("POST /orders/{order_id}/subsidy/returns", h.subsidyOrder)
	mux.HandleFunc("POST /profitsharing/receivers", h.receivers)
	mux.HandleFunc("DELETE /profitsharing/receivers/{account}", h.receivers)
}

// receiverAccountShape tells whether account could be a receiver of type typ: a
// MERCHANT_ID is up to 32 digits, an openid up to 64 letters, digits, _ and -.
func receiverAccountShape(typ, account string) bool {
	if typ == wechatpay.ReceiverMerchant {
		return len(account) <= 32 && digits(account)
	}
	if account == "" || len(account) > 64 {
		return false
	}
	for i := 0; i < len(account); i++ {
		c := account[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// sharingShapeError words profit_sharing's decoding error as the body's are worded
// (errors.go): "profit_sharing must be true or an object …, got string", not Go's
// "cannot unmarshal string into Go value of type orderapi.SharingRequest".
func sharingShapeError(field string, err error, req *orderapi.SharingRequest) *apiError {
	names := bodyShape(req).names
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &typ) && typ.Field == "":
		return badRequest(wechatpay.CodeParamError, "%s must be true or an object (%s), got %s", field, names, typ.Value).withHint(shareHint)
	case errors.As(err, &typ):
		return badRequest(wechatpay.CodeParamError, "%s.%s must be a JSON %s, got %s", field, typ.Field, jsonKind(typ.Type), typ.Value).withHint(shareHint)
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return badRequest(wechatpay.CodeParamError, "%s has an unknown field %s: its fields are %s", field, echoJSONName(name), names).withHint(shareHint)
	}
	return badRequest(wechatpay.CodeParamError, "%s is not true or the expected object: %s", field, strings.TrimPrefix(err.Error(), "json: ")).withHint(shareHint)
}
