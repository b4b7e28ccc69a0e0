package paysim

// Returns (分账回退) of both API families.

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/paysls/wxpay/shared/clock"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// returnShare handles POST /v3/ecommerce/profitsharing/returnorders and
// /v3/profitsharing/return-orders.
func (s *Simulator) returnShare(mode string) func(*apiRequest) *reply {
	return func(r *apiRequest) *reply {
		var req wechatpay.ReturnRequest
		if err := json.Unmarshal(r.Body, &req); err != nil {
			return errReply(http.StatusBadRequest, "PARAM_ERROR", "请求的JSON格式错误: "+err.Error())
		}
		if req.SubMchID == "" {
			return paramError("sub_mchid", nil, "is required")
		}
		if req.OrderID == "" && req.OutOrderNo == "" {
			return paramError("out_order_no", nil, "order_id or out_order_no must name the split")
		}
		if err := wechatpay.ValidateShareNo("out_return_no", req.OutReturnNo); err != nil {
			return validationReply(err, req.OutReturnNo)
		}
		if req.ReturnMchID == "" {
			return paramError("return_mchid", nil, "is required")
		}
		if req.Amount <= 0 {
			return paramError("amount", req.Amount, "must be a positive whole number of fen")
		}
		if req.Description == "" || len([]rune(req.Description)) > 80 {
			return paramError("description", req.Description, "is required, at most 80 characters")
		}
		fpb, _ := json.Marshal(req)
		ret, notes, rep := s.createReturn(mode, req, string(fpb))
		s.sendNotes(notes)
		if rep != nil {
			return rep
		}
		return jsonReply(http.StatusOK, returnView(ret))
	}
}

func (s *Simulator) createReturn(mode string, req wechatpay.ReturnRequest, fp string) (*shareReturn, []sharingNote, *reply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	notes := s.sharingTick(now)
	sh := s.st.Sharing
	rk := returnKey(mode, req.SubMchID, req.OutReturnNo)
	if ret := sh.Returns[rk]; ret != nil {
		if ret.Fingerprint != fp {
			return nil, notes, errReply(http.StatusBadRequest, "INVALID_REQUEST", "商户回退单号重复: out_return_no "+req.OutReturnNo+" was used for another return")
		}
		v := *ret
		return &v, notes, nil
	}
	var sp *split
	var key string
	for k, cand := range sh.Splits {
		if cand.Mode == mode && cand.SubMchID == req.SubMchID && cand.Kind == "split" &&
			(req.OrderID != "" && cand.OrderID == req.OrderID || req.OrderID == "" && cand.OutOrderNo == req.OutOrderNo) {
			sp, key = cand, k
		}
	}
	if sp == nil {
		return nil, notes, errReply(http.StatusNotFound, "RESOURCE_NOT_EXISTS", "分账单不存在: no split "+cmp.Or(req.OrderID, req.OutOrderNo)+" of sub_mchid "+req.SubMchID)
	}
	if sp.Status != wechatpay.ShareFinished {
		return nil, notes, errReply(http.StatusBadRequest, "INVALID_REQUEST", "分账单处理中,不能回退: only a FINISHED split is returned")
	}
	var rc *splitReceiver
	for i := range sp.Receivers {
		if sp.Receivers[i].Type == wechatpay.ReceiverMerchant && sp.Receivers[i].Account == req.ReturnMchID && sp.Receivers[i].Result == wechatpay.ShareResultSuccess {
			rc = &sp.Receivers[i]
		}
	}
	if rc == nil {
		return nil, notes, errReply(http.StatusBadRequest, "INVALID_REQUEST", "只能对原分账请求中成功分给商户接收方进行回退: "+req.ReturnMchID+" received nothing from this split as a MERCHANT_ID (returns from people are not possible)")
	}
	if now.Sub(sp.CreatedAt) > wechatpay.ReturnWindow {
		return nil, notes, errReply(http.StatusBadRequest, "INVALID_REQUEST", "超过分账回退时限: returns are possible for 180 days after the split")
	}
	var taken int64
	count := 0
	for _, ret := range s.returnsOf(key) {
		count++
		if ret.ReturnMchID == req.ReturnMchID && !isFailedReturn(ret.Result) {
			taken += ret.Amount
		}
	}
	if count >= wechatpay.MaxReturnsPerShare {
		return nil, notes, errReply(http.StatusBadRequest, "INVALID_REQUEST", fmt.Sprintf("分账回退次数超过上限: at most %d returns per split", wechatpay.MaxReturnsPerShare))
	}
	if req.Amount > rc.Amount-taken {
		return nil, notes, errReply(http.StatusBadRequest, "INVALID_REQUEST", fmt.Sprintf("剩余可回退的金额不足: %s received %d fen from this split and already returned %d", req.ReturnMchID, rc.Amount, taken))
	}
	ret := &shareReturn{Mode: mode, SplitKey: key, SubMchID: req.SubMchID, OrderID: sp.OrderID, OutOrderNo: sp.OutOrderNo, OutReturnNo: req.OutReturnNo,
		ReturnMchID: req.ReturnMchID, Amount: req.Amount, Description: req.Description, ReturnID: "9" + now.In(clock.CST).Format("20060102") + s.ids.digits(19),
		Result: wechatpay.ReturnProcessing, CreatedAt: now, Fingerprint: fp}
	sh.Returns[rk] = ret
	if !sh.Config.ReturnPending {
		notes = append(notes, s.settleReturn(ret, now, "", "")...)
	}
	v := *ret
	return &v, notes, nil
}

func isFailedReturn(result string) bool {
	return result == wechatpay.ReturnFail || result == wechatpay.ReturnFailed
}

// settleReturn ends a PROCESSING return: it fails if the receiver's account is
// invalid or its balance cannot cover it, else it succeeds. Called under s.mu.
func (s *Simulator) settleReturn(ret *shareReturn, now time.Time, force, reason string) []sharingNote {
	if ret.Result != wechatpay.ReturnProcessing {
		return nil
	}
	sh := s.st.Sharing
	ret.FinishTime = now
	switch {
	case force == "FAIL":
		ret.Result, ret.FailReason = returnFailed(ret.Mode), cmp.Or(reason, wechatpay.ReturnFailAccountAbnormal)
	case sh.Invalid[ret.ReturnMchID] != "":
		ret.Result, ret.FailReason = returnFailed(ret.Mode), wechatpay.ReturnFailAccountAbnormal
	case s.receiverBalance(ret.ReturnMchID) < ret.Amount:
		ret.Result, ret.FailReason = returnFailed(ret.Mode), wechatpay.ReturnFailBalanceNotEnough
	default:
		ret.Result = wechatpay.ReturnSuccess
		n := wechatpay.ProfitSharingNotice{SpMchID: s.id.MchID, SubMchID: ret.SubMchID, OrderID: ret.ReturnID, OutOrderNo: ret.OutReturnNo,
			SuccessTime: rfc3339CST(now)}
		if sp := sh.Splits[ret.SplitKey]; sp != nil {
			n.TransactionID = sp.TransactionID
		}
		n.Receiver.Type, n.Receiver.Account, n.Receiver.Amount, n.Receiver.Description = wechatpay.ReceiverMerchant, ret.ReturnMchID, ret.Amount, ret.Description
		return []sharingNote{{url: s.notifyURLFor(ret.ReturnMchID), event: wechatpay.EventProfitSharingReturn, resource: n}}
	}
	return nil
}

// receiverBalance is what an account received from splits, less its successful
// returns and withdrawals. Called under s.mu.
func (s *Simulator) receiverBalance(account string) int64 {
	sh := s.st.Sharing
	var n int64
	for _, sp := range sh.Splits {
		for _, r := range sp.Receivers {
			if r.Account == account && r.Result == wechatpay.ShareResultSuccess {
				n += r.Amount
			}
		}
	}
	for _, ret := range sh.Returns {
		if ret.ReturnMchID == account && (ret.Result == wechatpay.ReturnSuccess) {
			n -= ret.Amount
		}
	}
	return n - sh.Withdrawn[account]
}

func returnView(ret *shareReturn) wechatpay.ReturnOrder {
	v := wechatpay.ReturnOrder{SubMchID: ret.SubMchID, OrderID: ret.OrderID, OutOrderNo: ret.OutOrderNo, OutReturnNo: ret.OutReturnNo,
		ReturnMchID: ret.ReturnMchID, Amount: ret.Amount, Result: ret.Result, FailReason: ret.FailReason,
		CreateTime: rfc3339CST(ret.CreatedAt), Description: ret.Description}
	if ret.Mode == modeEcommerce {
		v.ReturnNo = ret.ReturnID
	} else {
		v.ReturnID = ret.ReturnID
	}
	if !ret.FinishTime.IsZero() {
		v.FinishTime = rfc3339CST(ret.FinishTime)
	}
	return v
}

// queryReturn handles GET /v3/ecommerce/profitsharing/returnorders and
// /v3/profitsharing/return-orders/{out_return_no}.
func (s *Simulator) queryReturn(mode string) func(*apiRequest) *reply {
	return func(r *apiRequest) *reply {
		q := r.URL.Query()
		sub, no := q.Get("sub_mchid"), q.Get("out_return_no")
		if mode == modePartner {
			no = r.PathValue("out_return_no")
		}
		if sub == "" {
			return queryParamError("sub_mchid", "", "is required")
		}
		if no == "" {
			return queryParamError("out_return_no", "", "is required")
		}
		if q.Get("order_id") == "" && q.Get("out_order_no") == "" {
			return queryParamError("out_order_no", "", "order_id or out_order_no must name the split")
		}
		s.mu.Lock()
		notes := s.sharingTick(s.now())
		ret := s.st.Sharing.Returns[returnKey(mode, sub, no)]
		var v wechatpay.ReturnOrder
		ok := ret != nil && (q.Get("order_id") == "" || q.Get("order_id") == ret.OrderID) && (q.Get("out_order_no") == "" || q.Get("out_order_no") == ret.OutOrderNo)
		if ok {
			v = returnView(ret)
		}
		s.mu.Unlock()
		s.sendNotes(notes)
		if !ok {
			return errReply(http.StatusNotFound, "RESOURCE_NOT_EXISTS", "记录不存在: no return "+no+" of that split for sub_mchid "+sub)
		}
		return jsonReply(http.StatusOK, v)
	}
}
