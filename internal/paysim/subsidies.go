package paysim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/paysls/wxpay/shared/clock"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// Subsidies (补差) of 电商收付通, with the rules shared/wechatpay/subsidies.go cites:
// an order placed with a subsidy amount (the 补差标识, here set by the driver: POST
// /sim/subsidies/{transaction_id}/flag, since the combine order carrying
// settle_info.subsidy_amount is another branch's) is subsidised once, before any
// split, with exactly that amount (or less once refunded, naming the refund); it
// cannot be split until subsidised or cancelled; a cancel needs a refund; returns need
// a refund each and never exceed the subsidy.

// subsidy is an order's subsidy or its cancel.
type subsidy struct {
	SubMchID      string    `json:"sub_mchid"`
	TransactionID string    `json:"transaction_id"`
	SubsidyID     string    `json:"subsidy_id,omitempty"`
	OutSubsidyNo  string    `json:"out_subsidy_no,omitempty"`
	Amount        int64     `json:"amount"`
	Description   string    `json:"description"`
	RefundID      string    `json:"refund_id,omitempty"`
	Result        string    `json:"result,omitempty"`
	Cancelled     bool      `json:"cancelled,omitempty"`
	SuccessTime   time.Time `json:"success_time,omitzero"`
	Fingerprint   string    `json:"fingerprint,omitempty"`
}

// subsidyReturn is one subsidy return.
type subsidyReturn struct {
	SubMchID        string    `json:"sub_mchid"`
	OutOrderNo      string    `json:"out_order_no"`
	TransactionID   string    `json:"transaction_id"`
	SubsidyRefundID string    `json:"subsidy_refund_id"`
	RefundID        string    `json:"refund_id,omitempty"`
	Amount          int64     `json:"amount"`
	Description     string    `json:"description"`
	Result          string    `json:"result"`
	SuccessTime     time.Time `json:"success_time,omitzero"`
	Fingerprint     string    `json:"fingerprint"`
}

func (s *Simulator) routesSubsidies(m *http.ServeMux) {
	m.Handle("POST /v3/ecommerce/subsidies/create", s.api(s.createSubsidy))
	m.Handle("POST /v3/ecommerce/subsidies/return", s.api(s.returnSubsidy))
	m.Handle("POST /v3/ecommerce/subsidies/cancel", s.api(s.cancelSubsidy))
	m.HandleFunc("POST /sim/subsidies/{transaction_id}/flag", s.simFlagSubsidy)
	m.HandleFunc("GET /sim/subsidies/{transaction_id}", s.simSubsidy)
}

// subsidyReturnsOf lists a payment's subsidy returns, oldest first. Called under s.mu.
func (s *Simulator) subsidyReturnsOf(tx string) []*subsidyReturn {
	var out []*subsidyReturn
	for _, r := range s.st.Sharing.SubsidyReturns {
		if r.TransactionID == tx {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].SuccessTime.Equal(out[j].SuccessTime) {
			return out[i].SuccessTime.Before(out[j].SuccessTime)
		}
		return out[i].OutOrderNo < out[j].OutOrderNo
	})
	return out
}

// hasRefund reports whether refundID (or, when empty, any refund) is a live refund of
// o. Called under s.mu.
func (s *Simulator) hasRefund(o *order, refundID string) bool {
	for _, no := range o.Refunds {
		rf := s.st.refunds[no]
		if rf != nil && rf.Status != wechatpay.RefundStatusClosed && (refundID == "" || rf.RefundID == refundID) {
			return true
		}
	}
	return false
}

func (s *Simulator) subsidyOrder(subMchID, tx string) (*order, *reply) {
	o := s.st.byTransaction[tx]
	if o == nil || !o.Partner {
		return nil, errReply(http.StatusNotFound, "RESOURCE_NOT_EXISTS", "订单不存在: no paid order with transaction_id "+tx)
	}
	if o.Request.SubMchID != subMchID {
		return nil, paramError("sub_mchid", subMchID, "must be the sub-merchant of the order ("+o.Request.SubMchID+")")
	}
	return o, nil
}

// createSubsidy handles POST /v3/ecommerce/subsidies/create.
func (s *Simulator) createSubsidy(r *apiRequest) *reply {
	var req wechatpay.SubsidyRequest
	if err := json.Unmarshal(r.Body, &req); err != nil {
		return errReply(http.StatusBadRequest, "PARAM_ERROR", "请求的JSON格式错误: "+err.Error())
	}
	switch {
	case req.SubMchID == "":
		return paramError("sub_mchid", nil, "is required")
	case req.TransactionID == "":
		return paramError("transaction_id", nil, "is required")
	case req.Amount <= 0 || req.Amount > wechatpay.MaxSubsidyAmount:
		return paramError("amount", req.Amount, fmt.Sprintf("must be 1 to %d fen: 单笔订单最高补差金额为5000元", wechatpay.MaxSubsidyAmount))
	case req.Description == "" || len([]rune(req.Description)) > 80:
		return paramError("description", req.Description, "is required, at most 80 characters")
	}
	fpb, _ := json.Marshal(req)
	fp := string(fpb)
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	sh := s.st.Sharing
	o, rep := s.subsidyOrder(req.SubMchID, req.TransactionID)
	if rep != nil {
		return rep
	}
	if prev := sh.Subsidies[req.TransactionID]; prev != nil {
		if prev.Cancelled {
			return errReply(http.StatusBadRequest, "INVALID_REQUEST", "补差已取消: the subsidy of this order was cancelled")
		}
		if prev.Fingerprint != fp {
			// 一笔订单只能补差一笔; the same parameters are charged once (请求补差).
			return errReply(http.StatusBadRequest, "INVALID_REQUEST", "该订单已补差: one subsidy per order; a retry must repeat the request exactly")
		}
		return jsonReply(http.StatusOK, subsidyView(prev))
	}
	if o.TradeState != wechatpay.TradeStateSuccess && o.TradeState != wechatpay.TradeStateRefund {
		return errReply(http.StatusBadRequest, "INVALID_REQUEST", "订单未支付: subsidies follow the payment")
	}
	want, flagged := sh.SubsidyFlags[req.TransactionID]
	if !flagged || want <= 0 {
		return errReply(http.StatusBadRequest, "INVALID_REQUEST", "订单无补差标识: the order was placed without a subsidy amount (combine sub_orders[].settle_info.subsidy_amount)")
	}
	if p := sh.Payments[req.TransactionID]; p != nil && len(p.Splits) > 0 {
		return errReply(http.StatusBadRequest, "INVALID_REQUEST", "订单已分账,不能补差: subsidise before the split")
	}
	switch {
	case req.Amount > want:
		return errReply(http.StatusBadRequest, "INVALID_REQUEST", fmt.Sprintf("补差金额超过下单时的补差金额: %d fen asked, the order allows %d", req.Amount, want))
	case req.Amount < want && (req.RefundID == "" || !s.hasRefund(o, req.RefundID)):
		return errReply(http.StatusBadRequest, "INVALID_REQUEST", fmt.Sprintf("补差金额与下单时的补差金额不一致: %d fen asked, the order says %d; a smaller subsidy needs a refund of the order (refund_id)", req.Amount, want))
	}
	sub := &subsidy{SubMchID: req.SubMchID, TransactionID: req.TransactionID, SubsidyID: "30" + now.In(clock.CST).Format("20060102") + s.ids.digits(18),
		OutSubsidyNo: req.OutSubsidyNo, Amount: req.Amount, Description: req.Description, RefundID: req.RefundID,
		Result: wechatpay.SubsidySuccess, SuccessTime: now, Fingerprint: fp}
	sh.Subsidies[req.TransactionID] = sub
	s.log.Info("paysim: subsidy", "transaction_id", req.TransactionID, "amount", req.Amount)
	return jsonReply(http.StatusOK, subsidyView(sub))
}

func subsidyView(sub *subsidy) wechatpay.Subsidy {
	v := wechatpay.Subsidy{SubMchID: sub.SubMchID, TransactionID: sub.TransactionID, SubsidyID: sub.SubsidyID, OutSubsidyNo: sub.OutSubsidyNo,
		Description: sub.Description, Amount: sub.Amount, Result: sub.Result}
	if !sub.SuccessTime.IsZero() {
		v.SuccessTime = rfc3339CST(sub.SuccessTime)
	}
	return v
}

// returnSubsidy handles POST /v3/ecommerce/subsidies/return.
func (s *Simulator) returnSubsidy(r *apiRequest) *reply {
	var req wechatpay.SubsidyReturnRequest
	if err := json.Unmarshal(r.Body, &req); err != nil {
		return errReply(http.StatusBadRequest, "PARAM_ERROR", "请求的JSON格式错误: "+err.Error())
	}
	if req.SubMchID == "" || req.TransactionID == "" {
		return paramError("sub_mchid", nil, "sub_mchid and transaction_id are required")
	}
	if err := wechatpay.ValidateShareNo("out_order_no", req.OutOrderNo); err != nil {
		return validationReply(err, req.OutOrderNo)
	}
	if req.Amount <= 0 {
		return paramError("amount", req.Amount, "must be a positive whole number of fen")
	}
	if req.Description == "" || len([]rune(req.Description)) > 80 {
		return paramError("description", req.Description, "is required, at most 80 characters")
	}
	fpb, _ := json.Marshal(req)
	fp := string(fpb)
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	sh := s.st.Sharing
	key := req.SubMchID + "|" + req.OutOrderNo
	if prev := sh.SubsidyReturns[key]; prev != nil {
		if prev.Fingerprint != fp {
			return errReply(http.StatusBadRequest, "INVALID_REQUEST", "商户补差回退单号重复: out_order_no "+req.OutOrderNo+" was used for another subsidy return")
		}
		return jsonReply(http.StatusOK, subsidyReturnView(prev))
	}
	o, rep := s.subsidyOrder(req.SubMchID, req.TransactionID)
	if rep != nil {
		return rep
	}
	sub := sh.Subsidies[req.TransactionID]
	if sub == nil || sub.Result != wechatpay.SubsidySuccess {
		return errReply(http.StatusBadRequest, "INVALID_REQUEST", "补差单不存在: the order has no successful subsidy")
	}
	if req.SubsidyID != "" && req.SubsidyID != sub.SubsidyID {
		return paramError("subsidy_id", req.SubsidyID, "is not the order's subsidy ("+sub.SubsidyID+")")
	}
	// 补差回退的前置条件是订单发生退款; refund_id may be left out only when the refund
	// could not reach the payer's account, which the simulator does not model.
	if req.RefundID == "" || !s.hasRefund(o, req.RefundID) {
		return errReply(http.StatusBadRequest, "INVALID_REQUEST", "补差回退需要订单退款: refund_id must be a refund of this order")
	}
	var returned int64
	for _, prev := range s.subsidyReturnsOf(req.TransactionID) {
		if prev.RefundID == req.RefundID {
			return errReply(http.StatusBadRequest, "INVALID_REQUEST", "一笔微信退款单只允许补差回退一次: refund "+req.RefundID+" already has subsidy return "+prev.OutOrderNo)
		}
		if prev.Result == wechatpay.SubsidySuccess {
			returned += prev.Amount
		}
	}
	if req.Amount > sub.Amount-returned {
		return errReply(http.StatusBadRequest, "INVALID_REQUEST", fmt.Sprintf("补差回退金额超过补差金额: %d fen asked, %d of the %d fen subsidy left", req.Amount, sub.Amount-returned, sub.Amount))
	}
	ret := &subsidyReturn{SubMchID: req.SubMchID, OutOrderNo: req.OutOrderNo, TransactionID: req.TransactionID,
		SubsidyRefundID: "30" + now.In(clock.CST).Format("20060102") + s.ids.digits(18), RefundID: req.RefundID, Amount: req.Amount,
		Description: req.Description, Result: wechatpay.SubsidySuccess, SuccessTime: now, Fingerprint: fp}
	sh.SubsidyReturns[key] = ret
	return jsonReply(http.StatusOK, subsidyReturnView(ret))
}

func subsidyReturnView(r *subsidyReturn) wechatpay.SubsidyReturn {
	return wechatpay.SubsidyReturn{SubMchID: r.SubMchID, TargetOrderID: r.SubsidyRefundID, TransactionID: r.TransactionID,
		SubsidyRefundID: r.SubsidyRefundID, RefundID: r.RefundID, OutOrderNo: r.OutOrderNo, Amount: r.Amount,
		Description: r.Description, Result: r.Result, SuccessTime: rfc3339CST(r.SuccessTime)}
}

// cancelSubsidy handles POST /v3/ecommerce/subsidies/cancel.
func (s *Simulator) cancelSubsidy(r *apiRequest) *reply {
	var req wechatpay.SubsidyCancelRequest
	if err := json.Unmarshal(r.Body, &req); err != nil {
		return errReply(http.StatusBadRequest, "PARAM_ERROR", "请求的JSON格式错误: "+err.Error())
	}
	if req.SubMchID == "" || req.TransactionID == "" {
		return paramError("sub_mchid", nil, "sub_mchid and transaction_id are required")
	}
	if req.Description == "" || len([]rune(req.Description)) > 80 {
		return paramError("description", req.Description, "is required, at most 80 characters")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sh := s.st.Sharing
	o, rep := s.subsidyOrder(req.SubMchID, req.TransactionID)
	if rep != nil {
		return rep
	}
	ans := wechatpay.SubsidyCancel{SubMchID: req.SubMchID, TransactionID: req.TransactionID, Result: wechatpay.SubsidySuccess, Description: req.Description}
	switch prev := sh.Subsidies[req.TransactionID]; {
	case prev != nil && prev.Cancelled:
		return jsonReply(http.StatusOK, ans) // already cancelled: the same answer
	case prev != nil:
		return errReply(http.StatusBadRequest, "INVALID_REQUEST", "订单已补差,不能取消: the order was already subsidised; return the subsidy instead")
	}
	if want := sh.SubsidyFlags[req.TransactionID]; want <= 0 {
		return errReply(http.StatusBadRequest, "INVALID_REQUEST", "订单无补差标识: nothing to cancel")
	}
	if p := sh.Payments[req.TransactionID]; p != nil && len(p.Splits) > 0 {
		return errReply(http.StatusBadRequest, "INVALID_REQUEST", "订单已分账,不能取消补差: cancel before the split")
	}
	// 对订单补差取消的前置条件是订单发生退款 (取消补差).
	if !s.hasRefund(o, "") {
		return errReply(http.StatusBadRequest, "INVALID_REQUEST", "取消补差的前置条件是订单发生退款: refund the order first")
	}
	sh.Subsidies[req.TransactionID] = &subsidy{SubMchID: req.SubMchID, TransactionID: req.TransactionID, Description: req.Description, Cancelled: true}
	return jsonReply(http.StatusOK, ans)
}

// flagSubsidyRequest is the body of POST /sim/subsidies/{transaction_id}/flag.
type flagSubsidyRequest struct {
	Amount int64 `json:"amount"` // the subsidy amount the order was placed with, fen
}

// simFlagSubsidy marks a paid order as placed with a subsidy amount (补差标识).
func (s *Simulator) simFlagSubsidy(w http.ResponseWriter, r *http.Request) {
	var p flagSubsidyRequest
	if err := readSimBody(r, &p); err != nil {
		simError(w, simBodyStatus(err), "%v", err)
		return
	}
	tx := r.PathValue("transaction_id")
	if p.Amount <= 0 || p.Amount > wechatpay.MaxSubsidyAmount {
		simError(w, http.StatusBadRequest, "amount %d: want 1 to %d fen", p.Amount, wechatpay.MaxSubsidyAmount)
		return
	}
	s.mu.Lock()
	o := s.st.byTransaction[tx]
	if o != nil {
		s.st.Sharing.SubsidyFlags[tx] = p.Amount
	}
	s.mu.Unlock()
	if o == nil {
		simError(w, http.StatusNotFound, "no paid order with transaction_id %q", tx)
		return
	}
	simJSON(w, http.StatusOK, map[string]any{"transaction_id": tx, "subsidy_amount": p.Amount})
}

func (s *Simulator) simSubsidy(w http.ResponseWriter, r *http.Request) {
	tx := r.PathValue("transaction_id")
	s.mu.Lock()
	v := map[string]any{"transaction_id": tx, "subsidy_amount": s.st.Sharing.SubsidyFlags[tx],
		"subsidy": s.st.Sharing.Subsidies[tx], "returns": s.subsidyReturnsOf(tx)}
	s.mu.Unlock()
	simJSON(w, http.StatusOK, v)
}

// flagSubsidy records the subsidy amount a paid combine sub-order was placed with
// (settle_info.subsidy_amount, the 补差标识 请求补差 checks against). Called under s.mu.
func (s *Simulator) flagSubsidy(o *order) {
	var sub wechatpay.CombineSubOrder
	if o.Combine == "" || json.Unmarshal(o.RawRequest, &sub) != nil || sub.SettleInfo == nil || sub.SettleInfo.SubsidyAmount <= 0 {
		return
	}
	s.st.Sharing.SubsidyFlags[o.TransactionID] = sub.SettleInfo.SubsidyAmount
}
