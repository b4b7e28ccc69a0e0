package paysim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"

	"github.com/paysls/wxpay/shared/wechatpay"
)

// createRefund handles POST /v3/refund/domestic/refunds.
func (s *Simulator) createRefund(r *apiRequest) *reply {
	var req wechatpay.RefundRequest
	if err := json.Unmarshal(r.Body, &req); err != nil {
		return errReply(http.StatusBadRequest, "PARAM_ERROR", "请求的JSON格式错误 (the body is not valid JSON for a refund request): "+err.Error())
	}
	if req.TransactionID == "" && req.OutTradeNo == "" {
		return paramError("transaction_id", nil, "transaction_id and out_trade_no are both empty: give one of them to name the order to refund")
	}
	if err := wechatpay.ValidateOutTradeNo("out_refund_no", req.OutRefundNo, 64); err != nil {
		return validationReply(err, req.OutRefundNo)
	}
	if req.NotifyURL != "" {
		if err := wechatpay.ValidateNotifyURL(req.NotifyURL, notifyURLOptions); err != nil {
			return validationReply(err, req.NotifyURL)
		}
	}
	if err := wechatpay.ValidateAmount("amount.refund", req.Amount.Refund); err != nil {
		return validationReply(err, req.Amount.Refund)
	}
	if err := wechatpay.ValidateAmount("amount.total", req.Amount.Total); err != nil {
		return validationReply(err, req.Amount.Total)
	}
	if c := req.Amount.Currency; c != "" && c != "CNY" {
		return paramError("amount.currency", c, "must be CNY")
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
	if o == nil || (req.TransactionID != "" && req.OutTradeNo != "" && o.Request.OutTradeNo != req.OutTradeNo) {
		return errReply(http.StatusNotFound, "RESOURCE_NOT_EXISTS", "订单不存在: no paid order with "+orderRef(req))
	}
	if o.Partner && req.SubMchID != o.Request.SubMchID {
		return paramError("sub_mchid", nonEmpty(req.SubMchID), "must be the sub-merchant of the order ("+o.Request.SubMchID+")")
	}
	s.expire(o, s.now())
	if existing, ok := s.st.refunds[req.OutRefundNo]; ok {
		if existing.fingerprint != fp {
			return errReply(http.StatusBadRequest, "INVALID_REQUEST", "订单金额或退款金额与之前请求不一致,请核实后再试: out_refund_no "+req.OutRefundNo+
				" was used for a refund with different content; a retry must repeat the request exactly, a new refund needs a new out_refund_no")
		}
		// Retrying the same application returns the same refund: exactly one refund.
		return jsonReply(http.StatusOK, s.refundView(existing))
	}
	if refused := s.refuseRefundOnce(o); refused != nil {
		return refused
	}
	if refused := s.refuseRefund(o, req.Amount); refused != nil {
		return refused
	}
	now := s.now()
	rf := &refund{
		Request: req, fingerprint: fp, OutTradeNo: o.Request.OutTradeNo, RefundID: s.ids.RefundID(now),
		Status: wechatpay.RefundStatusProcessing, CreatedAt: now,
	}
	s.st.refunds[req.OutRefundNo] = rf
	o.Refunds = append(o.Refunds, req.OutRefundNo)
	// WeChat Pay shows REFUND (转入退款) as soon as a refund is accepted.
	o.TradeState = wechatpay.TradeStateRefund
	s.log.Info("paysim: refund accepted", "out_refund_no", req.OutRefundNo, "out_trade_no", o.Request.OutTradeNo, "refund", req.Amount.Refund)
	return jsonReply(http.StatusOK, s.refundView(rf))
}

func orderRef(req wechatpay.RefundRequest) string {
	if req.TransactionID != "" {
		return "transaction_id " + req.TransactionID
	}
	return "out_trade_no " + req.OutTradeNo
}

// refuseRefund is WeChat Pay's refusal of a refund of o asking amount, or nil: only a
// paid order is refunded, amount.total must be the order's, and no more than what is
// left. Both refund APIs (direct/partner and e-commerce) judge alike. Called under s.mu.
//
// An order not paid (NOTPAY, CLOSED, REVOKED, PAYERROR, USERPAYING) is refused as one
// not found: 申请退款's 错误码 list 404 RESOURCE_NOT_EXISTS "订单不存在" with "请检查订单号
// 是否正确且是否已支付，未支付的订单不能发起退款" (pay.weixin.qq.com/wiki/doc/apiv3/apis/
// chapter3_2_9.shtml) — the refusal that says WeChat Pay holds no payment to refund.
func (s *Simulator) refuseRefund(o *order, amount wechatpay.RefundAmount) *reply {
	if o.TradeState != wechatpay.TradeStateSuccess && o.TradeState != wechatpay.TradeStateRefund {
		return errReply(http.StatusNotFound, "RESOURCE_NOT_EXISTS", fmt.Sprintf("订单不存在: order %s is %s (%s); 未支付的订单不能发起退款 (only paid orders can be refunded)",
			o.Request.OutTradeNo, o.TradeState, tradeStateDesc(o.TradeState)))
	}
	if amount.Total != o.Request.Amount.Total {
		return errReply(http.StatusBadRequest, "INVALID_REQUEST", fmt.Sprintf("订单金额或退款金额与之前请求不一致,请核实后再试: amount.total must be the order's total %d fen, got %d",
			o.Request.Amount.Total, amount.Total))
	}
	if rem := o.Request.Amount.Total - s.refunded(o); amount.Refund > rem {
		return errReply(http.StatusBadRequest, "INVALID_REQUEST", fmt.Sprintf("申请退款金额超过订单可退金额: refund %d fen, but only %d fen of the order's %d remain refundable",
			amount.Refund, rem, o.Request.Amount.Total))
	}
	return nil
}

// refunded sums the refunds of o that hold money: all but CLOSED ones. Called under s.mu.
func (s *Simulator) refunded(o *order) int64 {
	var n int64
	for _, no := range o.Refunds {
		if rf := s.st.refunds[no]; rf != nil && rf.Status != wechatpay.RefundStatusClosed {
			n += rf.Request.Amount.Refund
		}
	}
	return n
}

// refundView renders a refund as create and query answer it. Called under s.mu.
func (s *Simulator) refundView(rf *refund) wechatpay.Refund {
	o := s.st.orderOf(rf)
	v := wechatpay.Refund{
		RefundID: rf.RefundID, OutRefundNo: rf.Request.OutRefundNo, TransactionID: o.TransactionID,
		OutTradeNo: rf.OutTradeNo, Channel: "ORIGINAL", UserReceivedAccount: "支付用户零钱",
		CreateTime: rfc3339CST(rf.CreatedAt), Status: rf.Status, FundsAccount: "AVAILABLE",
		Amount: refundAmount(o, rf),
	}
	if !rf.SuccessTime.IsZero() {
		v.SuccessTime = rfc3339CST(rf.SuccessTime)
	}
	s.abnormalDestination(rf, &v) // 异常退款 re-routed it: abnormal_refunds.go
	return v
}

func refundAmount(o *order, rf *refund) wechatpay.RefundAmount {
	a := rf.Request.Amount
	return wechatpay.RefundAmount{
		Refund: a.Refund, Total: o.Request.Amount.Total, Currency: "CNY",
		PayerTotal: o.Request.Amount.Total, PayerRefund: a.Refund,
		SettlementRefund: a.Refund, SettlementTotal: o.Request.Amount.Total,
	}
}

// queryRefund handles GET /v3/refund/domestic/refunds/{out_refund_no}.
func (s *Simulator) queryRefund(r *apiRequest) *reply {
	no := r.PathValue("out_refund_no")
	s.mu.Lock()
	defer s.mu.Unlock()
	rf, ok := s.st.refunds[no]
	if !ok {
		return errReply(http.StatusNotFound, "RESOURCE_NOT_EXISTS", "退款单不存在: no refund with out_refund_no "+no)
	}
	if sub := r.URL.Query().Get("sub_mchid"); rf.Request.SubMchID != "" && sub != rf.Request.SubMchID {
		return queryParamError("sub_mchid", sub, "must be the refund's sub-merchant ("+rf.Request.SubMchID+")")
	}
	return jsonReply(http.StatusOK, s.refundView(rf))
}

// settleRequest is the optional body of POST /sim/refunds/{out_refund_no}/settle.
type settleRequest struct {
	Status string `json:"status,omitempty"` // SUCCESS (default), ABNORMAL or CLOSED
}

func (s *Simulator) simSettleRefund(w http.ResponseWriter, r *http.Request) {
	var p settleRequest
	if err := readSimBody(r, &p); err != nil {
		simError(w, simBodyStatus(err), "%v", err)
		return
	}
	view, id, status, err := s.SettleRefund(r.PathValue("out_refund_no"), p.Status)
	if err != nil {
		simError(w, status, "%v", err)
		return
	}
	simJSON(w, http.StatusOK, map[string]any{"refund": view, "notification_id": id})
}

// SettleRefund moves a PROCESSING refund to SUCCESS, ABNORMAL or CLOSED and queues the
// REFUND.* notification to the refund's notify_url (none without one: WeChat Pay would
// use the URL configured in the merchant platform, which the simulator does not have).
func (s *Simulator) SettleRefund(outRefundNo, status string) (view wechatpay.Refund, notificationID string, httpStatus int, err error) {
	if status == "" {
		status = wechatpay.RefundStatusSuccess
	}
	event := ""
	switch status {
	case wechatpay.RefundStatusSuccess:
		event = wechatpay.EventRefundSuccess
	case wechatpay.RefundStatusAbnormal:
		event = wechatpay.EventRefundAbnormal
	case wechatpay.RefundStatusClosed:
		event = wechatpay.EventRefundClosed
	default:
		return view, "", http.StatusBadRequest, fmt.Errorf("status %q: want SUCCESS, ABNORMAL or CLOSED", status)
	}
	s.mu.Lock()
	rf, ok := s.st.refunds[outRefundNo]
	if !ok {
		s.mu.Unlock()
		return view, "", http.StatusNotFound, fmt.Errorf("no refund %q", outRefundNo)
	}
	if rf.Status != wechatpay.RefundStatusProcessing {
		st := rf.Status
		s.mu.Unlock()
		return view, "", http.StatusConflict, fmt.Errorf("refund %q is already %s", outRefundNo, st)
	}
	now := s.now()
	rf.Status = status
	if status == wechatpay.RefundStatusSuccess {
		rf.SuccessTime = now
	}
	o := s.st.orderOf(rf)
	view = s.refundView(rf)
	notice := wechatpay.RefundNotice{
		OutTradeNo: rf.OutTradeNo, TransactionID: o.TransactionID, OutRefundNo: outRefundNo,
		RefundID: rf.RefundID, RefundStatus: status, SuccessTime: view.SuccessTime,
		UserReceivedAccount: view.UserReceivedAccount, Amount: view.Amount,
	}
	if o.Partner {
		notice.SpMchID, notice.SubMchID = o.Request.SpMchID, o.Request.SubMchID
	} else {
		notice.MchID = o.Request.MchID
	}
	url := rf.Request.NotifyURL
	payload := s.refundNoticePayload(rf, notice) // e-commerce refunds add refund_account: ecommerce_refunds.go
	s.mu.Unlock()

	if url == "" {
		s.log.Info("paysim: refund settled without notify_url: no notification", "out_refund_no", outRefundNo, "status", status)
		return view, "", 0, nil
	}
	notificationID, err = s.notify(url, event, payload)
	if err != nil {
		return view, "", http.StatusInternalServerError, err
	}
	return view, notificationID, 0, nil
}

func (s *Simulator) simRefund(w http.ResponseWriter, r *http.Request) {
	no := r.PathValue("out_refund_no")
	s.mu.Lock()
	rf, ok := s.st.refunds[no]
	var v any
	if ok {
		v = map[string]any{"refund": s.refundView(rf), "request": rf.Request}
	}
	s.mu.Unlock()
	if !ok {
		simError(w, http.StatusNotFound, "no refund %q", no)
		return
	}
	simJSON(w, http.StatusOK, v)
}

func sortViews(v []OrderView) {
	sort.Slice(v, func(i, j int) bool { return v[i].CreatedAt < v[j].CreatedAt })
}

func sortByOutTradeNo(v []OrderView) {
	sort.Slice(v, func(i, j int) bool { return v[i].Transaction.OutTradeNo < v[j].Transaction.OutTradeNo })
}
