package paysim

// E-commerce refunds (电商收付通 退款): /v3/ecommerce/refunds/apply, its two queries, the
// advance (垫付) and return-advance, with WeChat Pay's rules as recorded (with the docs)
// in shared/wechatpay/ecommerce_refund.go.
//
// An e-commerce refund is a refund like any other (state.refunds, by out_refund_no: the
// same space as the platform's other refunds, "商户系统内部唯一"), so that the driver's
// settle route, the trade bill and the refundable amount treat it like any refund; what
// it adds — the request as sent, who paid (the sub-merchant or the platform's advance),
// the return of the advance — is in state.EcommerceRefunds.
//
// The simulator plays a sub-merchant whose balance is short: a refund asking for
// REFUND_SOURCE_PARTNER_ADVANCE is advanced by the platform, in full. The return of the
// advance answers SUCCESS unless the driver route POST
// /sim/ecommerce/refunds/{refund_id}/return-advance chose PROCESSING or FAILED.

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/paysls/wxpay/shared/wechatpay"
)

// ecommerceRefund is what an e-commerce refund adds to its refund.
type ecommerceRefund struct {
	Request     wechatpay.EcommerceRefundRequest `json:"request"`
	Fingerprint string                           `json:"fingerprint"`
	// RefundAccount is who paid: the sub-merchant, or the platform's advance.
	RefundAccount string `json:"refund_account"`
	Advance       int64  `json:"advance,omitempty"`
	// ReturnOutcome is what the return of the advance comes to (driver); SUCCESS when
	// empty.
	ReturnOutcome string         `json:"return_outcome,omitempty"`
	Return        *returnAdvance `json:"return,omitempty"`
}

// returnAdvance is the return of an advance (垫付退款回补).
type returnAdvance struct {
	AdvanceReturnID string    `json:"advance_return_id"`
	Result          string    `json:"result"`
	CreatedAt       time.Time `json:"created_at"`
	SuccessTime     time.Time `json:"success_time,omitzero"`
}

func (s *Simulator) routesEcommerceRefunds(m *http.ServeMux) {
	m.Handle("POST /v3/ecommerce/refunds/apply", s.api(s.ecommerceRefundApply))
	// One pattern serves …/id/{refund_id}, …/out-refund-no/{out_refund_no} and
	// …/{refund_id}/return-advance: as three patterns they would overlap
	// (/id/return-advance) and ServeMux refuses that.
	m.Handle("GET /v3/ecommerce/refunds/{a}/{b}", s.api(s.ecommerceRefundGet))
	m.Handle("POST /v3/ecommerce/refunds/{refund_id}/return-advance", s.api(s.returnAdvanceApply))
	m.HandleFunc("POST /sim/ecommerce/refunds/{refund_id}/return-advance", s.simReturnAdvance)
}

// ecommerceRefundApply handles POST /v3/ecommerce/refunds/apply.
func (s *Simulator) ecommerceRefundApply(r *apiRequest) *reply {
	var req wechatpay.EcommerceRefundRequest
	if err := json.Unmarshal(r.Body, &req); err != nil {
		return errReply(http.StatusBadRequest, "PARAM_ERROR", "请求的JSON格式错误 (the body is not valid JSON for an e-commerce refund): "+err.Error())
	}
	if err := wechatpay.ValidateEcommerceRefund(&req, notifyURLOptions); err != nil {
		return validationReply(err, nil)
	}
	if req.SpAppID != s.id.AppID {
		return errReply(http.StatusBadRequest, "APPID_MCHID_NOT_MATCH", "appid和mch_id不匹配,请检查后再试: sp_appid "+req.SpAppID+" is not bound to platform "+s.id.MchID)
	}
	if !s.knownSubMch(req.SubMchID) {
		return errReply(http.StatusBadRequest, "INVALID_REQUEST", "受理关系不存在: sub_mchid "+req.SubMchID+" is not a sub-merchant of "+s.id.MchID)
	}
	fpb, _ := json.Marshal(req)
	fp := string(fpb)

	s.mu.Lock()
	defer s.mu.Unlock()
	var o *order
	if req.TransactionID != "" {
		o = s.st.byTransaction[req.TransactionID]
	} else {
		o = s.st.orders[orderKey(req.SubMchID, req.OutTradeNo)]
	}
	// An order is reached only under its own sub-merchant.
	if o == nil || !o.Partner || o.Request.SubMchID != req.SubMchID {
		return errReply(http.StatusNotFound, "RESOURCE_NOT_EXISTS", "订单不存在: sub-merchant "+req.SubMchID+" has no order with "+
			orderRef(wechatpay.RefundRequest{TransactionID: req.TransactionID, OutTradeNo: req.OutTradeNo}))
	}
	s.expire(o, s.now())
	if rf, ok := s.st.refunds[req.OutRefundNo]; ok {
		e := s.st.EcommerceRefunds[req.OutRefundNo]
		if e == nil || e.Fingerprint != fp {
			return errReply(http.StatusBadRequest, "INVALID_REQUEST", "订单金额或退款金额与之前请求不一致,请核实后再试: out_refund_no "+req.OutRefundNo+
				" was used for a refund with different content; a retry must repeat the request exactly, a new refund needs a new out_refund_no")
		}
		// The same application again is the same refund: "同一退款单号多次请求只退一笔".
		return jsonReply(http.StatusOK, s.ecommerceApplyView(rf, e))
	}
	if refused := s.refuseRefundOnce(o); refused != nil {
		return refused
	}
	if refused := s.refuseRefund(o, req.Amount); refused != nil {
		return refused
	}
	now := s.now()
	rf := &refund{
		Request: wechatpay.RefundRequest{SubMchID: req.SubMchID, TransactionID: req.TransactionID, OutTradeNo: req.OutTradeNo,
			OutRefundNo: req.OutRefundNo, Reason: req.Reason, NotifyURL: req.NotifyURL, FundsAccount: req.FundsAccount, Amount: req.Amount},
		fingerprint: "ecommerce|" + fp, OutTradeNo: o.Request.OutTradeNo, RefundID: s.ids.RefundID(now),
		Status: wechatpay.RefundStatusProcessing, CreatedAt: now,
	}
	e := &ecommerceRefund{Request: req, Fingerprint: fp, RefundAccount: wechatpay.RefundSourceSubMerchant}
	if req.RefundAccount == wechatpay.RefundSourcePartnerAdvance {
		e.RefundAccount, e.Advance = wechatpay.RefundSourcePartnerAdvance, req.Amount.Refund
	}
	s.st.refunds[req.OutRefundNo] = rf
	s.st.EcommerceRefunds[req.OutRefundNo] = e
	o.Refunds = append(o.Refunds, req.OutRefundNo)
	o.TradeState = wechatpay.TradeStateRefund
	s.log.Info("paysim: e-commerce refund accepted", "out_refund_no", req.OutRefundNo, "out_trade_no", o.Request.OutTradeNo,
		"refund", req.Amount.Refund, "refund_account", e.RefundAccount)
	return jsonReply(http.StatusOK, s.ecommerceApplyView(rf, e))
}

// ecommerceAmount is the amount block of an e-commerce refund answer. Called under s.mu.
func ecommerceAmount(rf *refund, e *ecommerceRefund) wechatpay.EcommerceRefundAmount {
	return wechatpay.EcommerceRefundAmount{Refund: rf.Request.Amount.Refund, PayerRefund: rf.Request.Amount.Refund,
		Advance: e.Advance, Currency: "CNY"}
}

// ecommerceApplyView is the apply's answer: accepted, no status yet. Called under s.mu.
func (s *Simulator) ecommerceApplyView(rf *refund, e *ecommerceRefund) wechatpay.EcommerceRefund {
	return wechatpay.EcommerceRefund{RefundID: rf.RefundID, OutRefundNo: rf.Request.OutRefundNo, CreateTime: rfc3339CST(rf.CreatedAt),
		Amount: ecommerceAmount(rf, e), RefundAccount: e.RefundAccount}
}

// ecommerceView is the queries' answer. Called under s.mu.
func (s *Simulator) ecommerceView(rf *refund, e *ecommerceRefund) wechatpay.EcommerceRefund {
	v := s.refundView(rf)
	return wechatpay.EcommerceRefund{RefundID: v.RefundID, OutRefundNo: v.OutRefundNo, TransactionID: v.TransactionID,
		OutTradeNo: v.OutTradeNo, Channel: v.Channel, UserReceivedAccount: v.UserReceivedAccount, SuccessTime: v.SuccessTime,
		CreateTime: v.CreateTime, Status: v.Status, Amount: ecommerceAmount(rf, e), RefundAccount: e.RefundAccount,
		FundsAccount: v.FundsAccount}
}

// refundNoticePayload is the resource of a refund's REFUND.* notification: an
// e-commerce refund's adds refund_account. Called under s.mu.
func (s *Simulator) refundNoticePayload(rf *refund, n wechatpay.RefundNotice) any {
	e, ok := s.st.EcommerceRefunds[rf.Request.OutRefundNo]
	if !ok {
		return n
	}
	return wechatpay.EcommerceRefundNotice{SpMchID: n.SpMchID, SubMchID: n.SubMchID, OutTradeNo: n.OutTradeNo,
		TransactionID: n.TransactionID, OutRefundNo: n.OutRefundNo, RefundID: n.RefundID, RefundStatus: n.RefundStatus,
		SuccessTime: n.SuccessTime, UserReceivedAccount: n.UserReceivedAccount, RefundAccount: e.RefundAccount,
		Amount: wechatpay.EcommerceRefundAmount{Total: n.Amount.Total, Refund: n.Amount.Refund, PayerTotal: n.Amount.PayerTotal,
			PayerRefund: n.Amount.PayerRefund}}
}

// ecommerceRefundByID finds an e-commerce refund by refund_id. Called under s.mu.
func (s *Simulator) ecommerceRefundByID(id string) (*refund, *ecommerceRefund) {
	for no, e := range s.st.EcommerceRefunds {
		if rf := s.st.refunds[no]; rf != nil && rf.RefundID == id {
			return rf, e
		}
	}
	return nil, nil
}

func refundNotExist(what string) *reply {
	return errReply(http.StatusNotFound, "RESOURCE_NOT_EXISTS", "退款单不存在: no e-commerce refund with "+what+
		" for this sub_mchid (an e-commerce refund is read with the sub_mchid of its order)")
}

// ecommerceRefundGet handles GET /v3/ecommerce/refunds/id/{refund_id},
// …/out-refund-no/{out_refund_no} and …/{refund_id}/return-advance, all ?sub_mchid=.
func (s *Simulator) ecommerceRefundGet(r *apiRequest) *reply {
	a, b := r.PathValue("a"), r.PathValue("b")
	sub := r.URL.Query().Get("sub_mchid")
	if sub == "" {
		return queryParamError("sub_mchid", "", "is required: the sub-merchant of the refunded order")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var rf *refund
	var e *ecommerceRefund
	switch {
	case a == "id":
		rf, e = s.ecommerceRefundByID(b)
	case a == "out-refund-no":
		rf, e = s.st.refunds[b], s.st.EcommerceRefunds[b]
	case b == "return-advance":
		rf, e = s.ecommerceRefundByID(a)
		if rf == nil || rf.Request.SubMchID != sub {
			return refundNotExist("refund_id " + a)
		}
		if e.Return == nil {
			return errReply(http.StatusNotFound, "RESOURCE_NOT_EXISTS", "垫付回补单不存在: no return-advance was asked for refund "+a)
		}
		return jsonReply(http.StatusOK, s.returnAdvanceView(rf, e))
	default:
		return errReply(http.StatusNotFound, "NOT_FOUND", "paysim does not simulate this API")
	}
	if rf == nil || e == nil || rf.Request.SubMchID != sub {
		return refundNotExist(a + " " + b)
	}
	return jsonReply(http.StatusOK, s.ecommerceView(rf, e))
}

// returnAdvanceApply handles POST /v3/ecommerce/refunds/{refund_id}/return-advance.
func (s *Simulator) returnAdvanceApply(r *apiRequest) *reply {
	var req wechatpay.ReturnAdvanceRequest
	if err := json.Unmarshal(r.Body, &req); err != nil {
		return errReply(http.StatusBadRequest, "PARAM_ERROR", "请求的JSON格式错误: the body is {\"sub_mchid\":\"…\"}: "+err.Error())
	}
	if req.SubMchID == "" {
		return paramError("sub_mchid", nil, "is required")
	}
	id := r.PathValue("refund_id")
	s.mu.Lock()
	defer s.mu.Unlock()
	rf, e := s.ecommerceRefundByID(id)
	if rf == nil || rf.Request.SubMchID != req.SubMchID {
		return refundNotExist("refund_id " + id)
	}
	if e.Advance == 0 {
		return errReply(http.StatusBadRequest, "INVALID_REQUEST", "必须是垫付退款的微信退款单: refund "+id+" was paid by the sub-merchant ("+e.RefundAccount+"), nothing to return")
	}
	if rf.Status == wechatpay.RefundStatusClosed {
		return errReply(http.StatusBadRequest, "INVALID_REQUEST", "退款已关闭: refund "+id+" is CLOSED, no money was advanced")
	}
	now := s.now()
	switch {
	case e.Return == nil:
		e.Return = &returnAdvance{AdvanceReturnID: s.ids.digits(28), Result: wechatpay.ReturnAdvanceProcessing, CreatedAt: now}
		s.settleReturnAdvance(e, now)
	case e.Return.Result == wechatpay.ReturnAdvanceFailed:
		// "回补结果将置为回补失败,系统不再重试,商户也无法重试" (垫付退款回补).
		return errReply(http.StatusBadRequest, "INVALID_REQUEST", "垫付回补已失败,不能再发起: the return of refund "+id+"'s advance FAILED (the sub-merchant's balance stayed short); it cannot be asked again")
	case e.Return.Result == wechatpay.ReturnAdvanceProcessing:
		// "此状态下商户可以重试": a retry sees the current result.
		s.settleReturnAdvance(e, now)
	}
	return jsonReply(http.StatusOK, s.returnAdvanceView(rf, e))
}

// settleReturnAdvance applies the driver's chosen outcome to a PROCESSING return. Called under
// s.mu.
func (s *Simulator) settleReturnAdvance(e *ecommerceRefund, now time.Time) {
	switch e.ReturnOutcome {
	case "", wechatpay.ReturnAdvanceSuccess:
		e.Return.Result, e.Return.SuccessTime = wechatpay.ReturnAdvanceSuccess, now
	case wechatpay.ReturnAdvanceFailed:
		e.Return.Result = wechatpay.ReturnAdvanceFailed
	}
}

// returnAdvanceView renders a return-advance: the sub-merchant pays the platform back
// from its basic account. Called under s.mu.
func (s *Simulator) returnAdvanceView(rf *refund, e *ecommerceRefund) wechatpay.ReturnAdvance {
	v := wechatpay.ReturnAdvance{RefundID: rf.RefundID, AdvanceReturnID: e.Return.AdvanceReturnID, ReturnAmount: e.Advance,
		PayerMchID: rf.Request.SubMchID, PayerAccount: "BASIC", PayeeMchID: s.id.MchID, PayeeAccount: "BASIC", Result: e.Return.Result}
	if !e.Return.SuccessTime.IsZero() {
		v.SuccessTime = rfc3339CST(e.Return.SuccessTime)
	}
	return v
}

// returnAdvanceOutcome is the body of POST /sim/ecommerce/refunds/{refund_id}/return-advance.
type returnAdvanceOutcome struct {
	// Result is what the return of this refund's advance comes to: SUCCESS (default),
	// PROCESSING (the sub-merchant's balance is short; WeChat Pay keeps retrying) or
	// FAILED. A PROCESSING return already asked for is settled at once by SUCCESS or
	// FAILED.
	Result string `json:"result,omitempty"`
}

func (s *Simulator) simReturnAdvance(w http.ResponseWriter, r *http.Request) {
	var p returnAdvanceOutcome
	if err := readSimBody(r, &p); err != nil {
		simError(w, simBodyStatus(err), "%v", err)
		return
	}
	switch p.Result {
	case "":
		p.Result = wechatpay.ReturnAdvanceSuccess
	case wechatpay.ReturnAdvanceSuccess, wechatpay.ReturnAdvanceProcessing, wechatpay.ReturnAdvanceFailed:
	default:
		simError(w, http.StatusBadRequest, "result %q: want SUCCESS, PROCESSING or FAILED", p.Result)
		return
	}
	id := r.PathValue("refund_id")
	s.mu.Lock()
	defer s.mu.Unlock()
	rf, e := s.ecommerceRefundByID(id)
	if rf == nil {
		simError(w, http.StatusNotFound, "no e-commerce refund with refund_id %q", id)
		return
	}
	if e.Advance == 0 {
		simError(w, http.StatusConflict, "refund %q was not advanced by the platform (refund_account %s): it has no return", id, e.RefundAccount)
		return
	}
	e.ReturnOutcome = p.Result
	if e.Return != nil && e.Return.Result == wechatpay.ReturnAdvanceProcessing {
		s.settleReturnAdvance(e, s.now())
	}
	out := map[string]any{"refund": s.ecommerceView(rf, e), "return_outcome": e.ReturnOutcome, "return_advance": nil}
	if e.Return != nil {
		out["return_advance"] = s.returnAdvanceView(rf, e)
	}
	simJSON(w, http.StatusOK, out)
}
