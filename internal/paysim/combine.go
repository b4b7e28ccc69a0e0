package paysim

// Combine orders (合单支付): POST /v3/combine-transactions/{jsapi,app,h5,native}, the
// combine query and close, one TRANSACTION.SUCCESS notification carrying every
// sub-order, and the driver routes that pay a combine. The rules are WeChat Pay's, as
// recorded (with the docs) in shared/wechatpay/combine.go.
//
// A combine's sub-orders are orders like any other (state.orders, by out_trade_no) with
// order.Combine set, because a sub-order's out_trade_no lives in the same space as the
// platform's ordinary orders: an ordinary prepay reusing it is refused with
// OUT_TRADE_NO_USED, refunds find it by out_trade_no or transaction_id, and the trade
// bill lists it as a row of its own with its sub_mchid. The combine itself
// (state.Combines) is keyed by combine_out_trade_no, its own space: it may even equal one
// of its sub-orders' numbers.

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/paysls/wxpay/shared/wechatpay"
)

// combineExpiry is how long an unpaid combine lives without time_expire: "超过 7 天未支付
// 的订单,无法再支付" (合单下单-Native, pay.weixin.qq.com/docs/partner/apis/
// combine-payment-identity/orders/native-prepay.html).
const combineExpiry = 7 * 24 * time.Hour

// combineOrder is one combine as WeChat Pay holds it.
type combineOrder struct {
	Kind        string                         `json:"kind"` // jsapi, app, h5, native
	Request     wechatpay.CombinePrepayRequest `json:"request"`
	RawRequest  json.RawMessage                `json:"raw_request"`
	Fingerprint string                         `json:"fingerprint"`
	Response    wechatpay.PrepayResponse       `json:"response"`
	// PrepayID is the session behind Response (for H5 the one inside the current h5_url).
	PrepayID  string    `json:"prepay_id"`
	CreatedAt time.Time `json:"created_at"`
	ExpireAt  time.Time `json:"expire_at"`
	ClosedAt  time.Time `json:"closed_at,omitzero"`
	// openID is the payer under combine_appid, once paid.
	OpenID string `json:"openid,omitempty"`
}

// routesCombine adds the combine API, the e-commerce refund API, 异常退款 and their
// driver routes.
func (s *Simulator) routesCombine(m *http.ServeMux) {
	for _, kind := range []string{"jsapi", "app", "h5", "native"} {
		m.Handle("POST /v3/combine-transactions/"+kind, s.api(s.combinePrepay(kind)))
	}
	m.Handle("GET /v3/combine-transactions/out-trade-no/{combine_out_trade_no}", s.api(s.combineQuery))
	m.Handle("POST /v3/combine-transactions/out-trade-no/{combine_out_trade_no}/close", s.api(s.combineClose))
	m.HandleFunc("POST /sim/combines/{combine_out_trade_no}/pay", s.simPayCombine)
	m.HandleFunc("GET /sim/combines/{combine_out_trade_no}", s.simCombine)
	m.HandleFunc("GET /sim/combines", s.simCombines)
	s.routesEcommerceRefunds(m)
	s.routesAbnormalRefunds(m)
}

// combinePrepay handles POST /v3/combine-transactions/{kind}.
func (s *Simulator) combinePrepay(kind string) func(*apiRequest) *reply {
	return func(r *apiRequest) *reply {
		var req wechatpay.CombinePrepayRequest
		if err := json.Unmarshal(r.Body, &req); err != nil {
			return errReply(http.StatusBadRequest, "PARAM_ERROR", "请求的JSON格式错误 (the body is not valid JSON for a combine prepay): "+err.Error())
		}
		if rep := s.checkCombineMerchant(&req); rep != nil {
			return rep
		}
		partner := len(req.SubOrders) > 0 && req.SubOrders[0].SubMchID != ""
		if err := wechatpay.ValidateCombine(wechatpay.Scene(kind), &req, partner, notifyURLOptions); err != nil {
			return validationReply(err, nil)
		}
		for i, sub := range req.SubOrders {
			if partner && !s.knownSubMch(sub.SubMchID) {
				return errReply(http.StatusBadRequest, "INVALID_REQUEST", fmt.Sprintf("受理关系不存在: sub_orders[%d].sub_mchid %s is not a sub-merchant of %s", i, sub.SubMchID, s.id.MchID))
			}
		}
		expire := time.Time{}
		if req.TimeExpire != "" {
			t, _ := time.Parse(time.RFC3339, req.TimeExpire) // checked by ValidateCombine
			if !t.After(s.now()) {
				return paramError("time_expire", req.TimeExpire, "is already in the past")
			}
			expire = t
		}
		fpb, _ := json.Marshal(req)
		fp := kind + "|" + string(fpb)

		s.mu.Lock()
		defer s.mu.Unlock()
		now := s.now()
		if c, ok := s.st.Combines[req.CombineOutTradeNo]; ok {
			return s.repeatCombinePrepay(r, c, kind, fp, now)
		}
		// A sub-order's out_trade_no is an order number of its merchant like any other
		// (orderKey): unique under its sub_mchid (its mchid in direct mode).
		for i, sub := range req.SubOrders {
			if o, ok := s.st.orders[orderKey(sub.SubMchID, sub.OutTradeNo)]; ok {
				owner := "an order"
				if o.Combine != "" {
					owner = "a sub-order of combine " + o.Combine
				}
				return errReply(http.StatusForbidden, "OUT_TRADE_NO_USED", fmt.Sprintf("商户订单号重复: sub_orders[%d].out_trade_no %s is already %s of merchant %s; out_trade_no is unique under each merchant, so a sub-order needs a number of its own",
					i, sub.OutTradeNo, owner, cmp.Or(sub.SubMchID, s.id.MchID)))
			}
		}
		if expire.IsZero() {
			expire = now.Add(combineExpiry)
		}
		c := &combineOrder{Kind: kind, Request: req, RawRequest: json.RawMessage(bytes.Clone(r.Body)), Fingerprint: fp,
			CreatedAt: now, ExpireAt: expire, PrepayID: s.ids.PrepayID(now)}
		switch kind {
		case "h5":
			c.Response.H5URL = s.newCombineH5Link(r.Request, c, now)
		case "native":
			c.Response.CodeURL = "weixin://wxpay/bizpayurl?pr=" + s.ids.alnum(9)
		default:
			c.Response.PrepayID = c.PrepayID
		}
		for _, sub := range req.SubOrders {
			s.st.orders[orderKey(sub.SubMchID, sub.OutTradeNo)] = s.subOrder(c, sub, partner)
		}
		s.st.Combines[req.CombineOutTradeNo] = c
		s.log.Info("paysim: combine placed", "combine_out_trade_no", req.CombineOutTradeNo, "kind", kind, "sub_orders", len(req.SubOrders))
		return jsonReply(http.StatusOK, c.Response)
	}
}

// checkCombineMerchant: combine_mchid is the merchant that signs; combine_appid is bound
// to it.
func (s *Simulator) checkCombineMerchant(req *wechatpay.CombinePrepayRequest) *reply {
	if req.CombineMchID == "" {
		return paramError("combine_mchid", nil, "is required")
	}
	if req.CombineMchID != s.id.MchID {
		return paramError("combine_mchid", req.CombineMchID, "http header中的mchid与post payload中的combine_mchid不匹配: combine_mchid must be the merchant that signs the request ("+s.id.MchID+")")
	}
	if req.CombineAppID == "" {
		return paramError("combine_appid", nil, "is required")
	}
	if req.CombineAppID != s.id.AppID {
		return errReply(http.StatusBadRequest, "APPID_MCHID_NOT_MATCH", "appid和mch_id不匹配,请检查后再试: combine_appid "+req.CombineAppID+" is not bound to merchant "+s.id.MchID)
	}
	return nil
}

// repeatCombinePrepay answers a prepay for a combine_out_trade_no already placed: the
// same session for the same request, OUT_TRADE_NO_USED for a changed one. Called under
// s.mu.
func (s *Simulator) repeatCombinePrepay(r *apiRequest, c *combineOrder, kind, fp string, now time.Time) *reply {
	no := c.Request.CombineOutTradeNo
	switch s.combineState(c, now) {
	case wechatpay.TradeStateSuccess, wechatpay.TradeStateRefund:
		return errReply(http.StatusForbidden, "ORDERPAID", "订单已支付: combine_out_trade_no "+no+" is paid; a new payment needs a new combine_out_trade_no")
	case wechatpay.TradeStateClosed:
		return errReply(http.StatusBadRequest, "ORDER_CLOSED", "订单已关闭: combine_out_trade_no "+no+" is closed; place the combine again under a new combine_out_trade_no and new sub-order numbers")
	}
	if c.Fingerprint != fp {
		return errReply(http.StatusForbidden, "OUT_TRADE_NO_USED", "商户订单号重复: combine_out_trade_no "+no+" was placed with different content (scene "+c.Kind+" → "+kind+
			", or sub-orders, amounts, time_expire…): a re-priced combine needs a new combine_out_trade_no and new sub-order numbers; close the old one first")
	}
	if c.Kind == "h5" {
		if l := s.st.h5Links[c.PrepayID]; l == nil || now.After(l.created.Add(h5LinkLifetime)) {
			c.PrepayID = s.ids.PrepayID(now)
			c.Response.H5URL = s.newCombineH5Link(r.Request, c, now)
		}
	}
	return jsonReply(http.StatusOK, c.Response)
}

// newCombineH5Link registers c's h5_url under its current prepay_id. Called under s.mu.
func (s *Simulator) newCombineH5Link(r *http.Request, c *combineOrder, now time.Time) string {
	s.st.CombineLinks[c.PrepayID] = c.Request.CombineOutTradeNo
	return s.newH5Link(s.baseURL(r), c.PrepayID, c.Request.CombineOutTradeNo, now)
}

// subOrder makes the order behind one sub-order: a partner order (sp_* = combine_*,
// sub_mchid) or, in a direct merchant's combine, a direct order of the participant.
func (s *Simulator) subOrder(c *combineOrder, sub wechatpay.CombineSubOrder, partner bool) *order {
	req := c.Request
	p := wechatpay.PrepayRequest{
		Description: sub.Description, OutTradeNo: sub.OutTradeNo, TimeExpire: req.TimeExpire, Attach: sub.Attach,
		NotifyURL: req.NotifyURL, GoodsTag: sub.GoodsTag, Amount: wechatpay.Amount{Total: sub.Amount.TotalAmount, Currency: "CNY"},
	}
	if si := req.SceneInfo; si != nil {
		p.SceneInfo = &wechatpay.SceneInfo{PayerClientIP: si.PayerClientIP, DeviceID: si.DeviceID, H5Info: si.H5Info}
	}
	if si := sub.SettleInfo; si != nil {
		p.SettleInfo = &wechatpay.SettleInfo{ProfitSharing: si.ProfitSharing}
	}
	if partner {
		p.SpAppID, p.SpMchID, p.SubAppID, p.SubMchID = req.CombineAppID, sub.MchID, sub.SubAppID, sub.SubMchID
		if py := req.CombinePayerInfo; py != nil {
			p.Payer = &wechatpay.Payer{SpOpenID: py.OpenID}
			if sub.SubAppID != "" {
				p.Payer.SubOpenID = py.SubOpenID
			}
		}
	} else {
		p.AppID, p.MchID = req.CombineAppID, sub.MchID
		if py := req.CombinePayerInfo; py != nil {
			p.Payer = &wechatpay.Payer{OpenID: py.OpenID}
		}
	}
	raw, _ := json.Marshal(sub)
	return &order{Kind: c.Kind, Partner: partner, Request: p, RawRequest: raw, fingerprint: "combine|" + req.CombineOutTradeNo,
		TradeState: wechatpay.TradeStateNotPay, CreatedAt: c.CreatedAt, ExpireAt: c.ExpireAt, Combine: req.CombineOutTradeNo}
}

// subOrders are c's sub-orders in the order they were placed. Called under s.mu.
func (s *Simulator) subOrders(c *combineOrder) []*order {
	out := make([]*order, len(c.Request.SubOrders))
	for i, sub := range c.Request.SubOrders {
		out[i] = s.st.orders[orderKey(sub.SubMchID, sub.OutTradeNo)]
	}
	return out
}

// combineState is the state of the combine as a whole, applying expiry: NOTPAY or
// USERPAYING while every sub-order is, CLOSED when closed or expired, SUCCESS once paid
// (REFUND once any sub-order is refunded), PAYERROR when the payment failed. A combine
// has no trade_state of its own on the wire; this is the simulator's bookkeeping. Called
// under s.mu.
func (s *Simulator) combineState(c *combineOrder, now time.Time) string {
	state := wechatpay.TradeStateNotPay
	for _, o := range s.subOrders(c) {
		s.expire(o, now)
		switch o.TradeState {
		case wechatpay.TradeStateRefund:
			return wechatpay.TradeStateRefund
		case wechatpay.TradeStateSuccess, wechatpay.TradeStateClosed, wechatpay.TradeStatePayError, wechatpay.TradeStateUserPaying:
			if state != wechatpay.TradeStateSuccess {
				state = o.TradeState
			}
		}
	}
	return state
}

// combineTransaction renders c the way the combine query and notification show it.
// Called under s.mu.
func (s *Simulator) combineTransaction(c *combineOrder) wechatpay.CombineTransaction {
	req := c.Request
	t := wechatpay.CombineTransaction{CombineAppID: req.CombineAppID, CombineMchID: req.CombineMchID,
		CombineOutTradeNo: req.CombineOutTradeNo, SubOrders: make([]wechatpay.CombineSubTransaction, len(req.SubOrders))}
	if si := req.SceneInfo; si != nil && si.DeviceID != "" {
		t.SceneInfo = &wechatpay.CombineSceneInfo{DeviceID: si.DeviceID}
	}
	if c.OpenID != "" {
		t.CombinePayerInfo = &wechatpay.CombinePayerInfo{OpenID: c.OpenID}
	}
	for i, sub := range req.SubOrders {
		o := s.st.orders[orderKey(sub.SubMchID, sub.OutTradeNo)]
		st := wechatpay.CombineSubTransaction{MchID: sub.MchID, TradeState: o.TradeState, Attach: sub.Attach,
			OutTradeNo: sub.OutTradeNo, SubMchID: sub.SubMchID, SubAppID: sub.SubAppID,
			Amount: wechatpay.CombineAmount{TotalAmount: sub.Amount.TotalAmount, Currency: "CNY"}}
		if o.TransactionID != "" {
			st.TradeType, st.TransactionID, st.BankType = tradeType(o.Kind), o.TransactionID, o.BankType
			if py := o.Request.Payer; py != nil && py.SubOpenID != "" {
				st.SubOpenID = py.SubOpenID
			}
		}
		if !o.SuccessTime.IsZero() {
			st.SuccessTime = rfc3339CST(o.SuccessTime)
			st.Amount.PayerAmount, st.Amount.PayerCurrency = sub.Amount.TotalAmount, "CNY"
		}
		t.SubOrders[i] = st
	}
	return t
}

// combineQuery handles GET /v3/combine-transactions/out-trade-no/{combine_out_trade_no}.
func (s *Simulator) combineQuery(r *apiRequest) *reply {
	no := r.PathValue("combine_out_trade_no")
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.st.Combines[no]
	if !ok {
		return combineNotExist(no)
	}
	s.combineState(c, s.now())
	return jsonReply(http.StatusOK, s.combineTransaction(c))
}

func combineNotExist(no string) *reply {
	return errReply(http.StatusNotFound, "ORDER_NOT_EXIST", "订单不存在: no combine with combine_out_trade_no "+no+
		" (a combine is read with its combine_out_trade_no, not a sub-order's out_trade_no)")
}

// combineClose handles POST …/{combine_out_trade_no}/close: 204 on success.
func (s *Simulator) combineClose(r *apiRequest) *reply {
	var req wechatpay.CombineCloseRequest
	if err := json.Unmarshal(r.Body, &req); err != nil {
		return errReply(http.StatusBadRequest, "PARAM_ERROR", "请求的JSON格式错误: the close body is {\"combine_appid\":\"…\",\"sub_orders\":[{\"mchid\",\"out_trade_no\",\"sub_mchid\"}…]}: "+err.Error())
	}
	if req.CombineAppID == "" {
		return paramError("combine_appid", nil, "is required in the close body")
	}
	if len(req.SubOrders) == 0 {
		return paramError("sub_orders", nil, "is required: list every sub-order of the combine as it was placed")
	}
	no := r.PathValue("combine_out_trade_no")
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.st.Combines[no]
	if !ok {
		return combineNotExist(no)
	}
	if req.CombineAppID != c.Request.CombineAppID {
		return paramError("combine_appid", req.CombineAppID, "is not the combine_appid the combine was placed with ("+c.Request.CombineAppID+")")
	}
	if why := closeMismatch(c, req.SubOrders); why != "" {
		// 合单关闭订单: "关单的平台商户号、交易单订单号、商品单个数、商品单发起商户号、商品单订单号
		// 必须与下单时完全一致" (pay.weixin.qq.com/doc/v3/partner/4015973150); the
		// 2022-05 changelog added 400 INVALID_REQUEST to it.
		return errReply(http.StatusBadRequest, "INVALID_REQUEST", "合单关单的子单信息必须与下单时完全一致: "+why+"; a combine is closed whole, never some of its sub-orders")
	}
	now := s.now()
	switch s.combineState(c, now) {
	case wechatpay.TradeStateSuccess, wechatpay.TradeStateRefund:
		return errReply(http.StatusForbidden, "ORDERPAID", "订单已支付,不能关单: combine "+no+" is paid; refund its sub-orders instead")
	case wechatpay.TradeStateClosed:
		return &reply{status: http.StatusNoContent}
	}
	if age := now.Sub(c.CreatedAt); age < minCloseAge {
		return errReply(http.StatusForbidden, "RULELIMIT", fmt.Sprintf("订单生成后不能马上调用关单接口,最短调用时间间隔为5分钟: combine %s was placed %s ago; close it after %s",
			no, age.Round(time.Second), rfc3339CST(c.CreatedAt.Add(minCloseAge))))
	}
	c.ClosedAt = now
	for _, o := range s.subOrders(c) {
		if o.TradeState == wechatpay.TradeStateNotPay || o.TradeState == wechatpay.TradeStateUserPaying || o.TradeState == wechatpay.TradeStatePayError {
			o.TradeState, o.ClosedAt = wechatpay.TradeStateClosed, now
		}
	}
	return &reply{status: http.StatusNoContent}
}

// closeMismatch says how a close's sub_orders differ from what c placed, or "".
func closeMismatch(c *combineOrder, got []wechatpay.CombineCloseSubOrder) string {
	want := c.Request.SubOrders
	if len(got) != len(want) {
		return fmt.Sprintf("%d sub-orders sent, %d placed", len(got), len(want))
	}
	placed := make(map[string]wechatpay.CombineSubOrder, len(want))
	for _, w := range want {
		placed[w.OutTradeNo] = w
	}
	for i, g := range got {
		w, ok := placed[g.OutTradeNo]
		switch {
		case !ok:
			return fmt.Sprintf("sub_orders[%d].out_trade_no %s is not a sub-order of this combine", i, g.OutTradeNo)
		case g.MchID != w.MchID:
			return fmt.Sprintf("sub_orders[%d].mchid %s, placed with %s", i, g.MchID, w.MchID)
		case g.SubMchID != w.SubMchID:
			return fmt.Sprintf("sub_orders[%d].sub_mchid %q, placed with %q", i, g.SubMchID, w.SubMchID)
		}
		delete(placed, g.OutTradeNo)
	}
	return ""
}

// CombinePayRequest is the optional body of POST /sim/combines/{no}/pay.
type CombinePayRequest struct {
	// Result is SUCCESS (default: pay every sub-order and notify once), PAYERROR (the
	// payment fails, no notification) or USERPAYING.
	Result   string `json:"result,omitempty"`
	OpenID   string `json:"openid,omitempty"`
	BankType string `json:"bank_type,omitempty"`
	// FailSubOrders are sub-orders (out_trade_no) that fail (PAYERROR) while the others
	// are paid: the one notification carries both results.
	FailSubOrders []string `json:"fail_sub_orders,omitempty"`
}

// PayCombine settles a combine as its payer would and, when any sub-order is paid,
// queues the one TRANSACTION.SUCCESS notification carrying every sub-order. The
// combine_fail_sub_order fault fails the last sub-order of the next combines paid
// without an explicit FailSubOrders. status is the HTTP status the /sim API answers on
// error.
func (s *Simulator) PayCombine(combineOutTradeNo string, p CombinePayRequest) (tx wechatpay.CombineTransaction, notificationID string, status int, err error) {
	if p.Result == "" {
		p.Result = wechatpay.TradeStateSuccess
	}
	switch p.Result {
	case wechatpay.TradeStateSuccess, wechatpay.TradeStatePayError, wechatpay.TradeStateUserPaying:
	default:
		return tx, "", http.StatusBadRequest, fmt.Errorf("result %q: want SUCCESS, PAYERROR or USERPAYING", p.Result)
	}
	s.mu.Lock()
	c, ok := s.st.Combines[combineOutTradeNo]
	if !ok {
		s.mu.Unlock()
		return tx, "", http.StatusNotFound, fmt.Errorf("no combine %q: place it with a combine prepay call first", combineOutTradeNo)
	}
	now := s.now()
	if st := s.combineState(c, now); st != wechatpay.TradeStateNotPay && st != wechatpay.TradeStateUserPaying {
		s.mu.Unlock()
		return tx, "", http.StatusConflict, fmt.Errorf("combine %q is %s (%s) and can no longer be paid", combineOutTradeNo, st, tradeStateDesc(st))
	}
	fail := map[string]bool{}
	for _, no := range p.FailSubOrders {
		if !slices.ContainsFunc(c.Request.SubOrders, func(sub wechatpay.CombineSubOrder) bool { return sub.OutTradeNo == no }) {
			s.mu.Unlock()
			return tx, "", http.StatusBadRequest, fmt.Errorf("fail_sub_orders: %q is not a sub-order of combine %q", no, combineOutTradeNo)
		}
		fail[no] = true
	}
	subs := s.subOrders(c)
	if p.Result == wechatpay.TradeStateSuccess && len(fail) == 0 && s.faults.CombineFailSubOrder > 0 && len(subs) > 1 {
		s.faults.CombineFailSubOrder--
		fail[subs[len(subs)-1].Request.OutTradeNo] = true
	}
	if p.Result != wechatpay.TradeStateUserPaying {
		c.OpenID = cmp.Or(p.OpenID, payerOpenID(c.Request.CombinePayerInfo))
		if c.OpenID == "" {
			c.OpenID = "o" + s.ids.alnum(27)
		}
	}
	paid := 0
	for _, o := range subs {
		result := p.Result
		if fail[o.Request.OutTradeNo] {
			result = wechatpay.TradeStatePayError
		}
		o.TradeState = result
		if result == wechatpay.TradeStateUserPaying {
			continue
		}
		// Every sub-order is a transaction of its own, with its own transaction_id.
		o.TransactionID = s.ids.TransactionID(now)
		s.st.byTransaction[o.TransactionID] = o
		s.flagSubsidy(o) // subsidies.go: the sub-order's settle_info.subsidy_amount (补差标识)
		o.OpenID = c.OpenID
		o.BankType = cmp.Or(p.BankType, "OTHERS")
		if result == wechatpay.TradeStateSuccess {
			o.SuccessTime = now
			paid++
		}
	}
	tx = s.combineTransaction(c)
	notifyURL := c.Request.NotifyURL
	s.mu.Unlock()

	if paid == 0 {
		return tx, "", 0, nil
	}
	notificationID, err = s.notify(notifyURL, wechatpay.EventTransactionSuccess, tx)
	if err != nil {
		return tx, "", http.StatusInternalServerError, err
	}
	return tx, notificationID, 0, nil
}

func payerOpenID(p *wechatpay.CombinePayerInfo) string {
	if p == nil {
		return ""
	}
	return p.OpenID
}

func (s *Simulator) simPayCombine(w http.ResponseWriter, r *http.Request) {
	var p CombinePayRequest
	if err := readSimBody(r, &p); err != nil {
		simError(w, simBodyStatus(err), "%v", err)
		return
	}
	tx, id, status, err := s.PayCombine(r.PathValue("combine_out_trade_no"), p)
	if err != nil {
		simError(w, status, "%v", err)
		return
	}
	simJSON(w, http.StatusOK, map[string]any{"combine": tx, "notification_id": id})
}

// CombineView is a combine as GET /sim/combines/{no} shows it: the combine query's
// answer plus what WeChat Pay holds behind it.
type CombineView struct {
	Transaction wechatpay.CombineTransaction `json:"transaction"`
	Kind        string                       `json:"kind"`
	Request     json.RawMessage              `json:"prepay_request"`
	Response    wechatpay.PrepayResponse     `json:"prepay_response"`
	PrepayID    string                       `json:"prepay_id"`
	CreatedAt   string                       `json:"created_at"`
	ExpireAt    string                       `json:"expire_at"`
	ClosedAt    string                       `json:"closed_at,omitempty"`
}

// combineView renders c under s.mu.
func (s *Simulator) combineView(c *combineOrder) CombineView {
	s.combineState(c, s.now())
	v := CombineView{Transaction: s.combineTransaction(c), Kind: c.Kind, Request: c.RawRequest, Response: c.Response,
		PrepayID: c.PrepayID, CreatedAt: rfc3339CST(c.CreatedAt), ExpireAt: rfc3339CST(c.ExpireAt)}
	if !c.ClosedAt.IsZero() {
		v.ClosedAt = rfc3339CST(c.ClosedAt)
	}
	return v
}

func (s *Simulator) simCombine(w http.ResponseWriter, r *http.Request) {
	no := r.PathValue("combine_out_trade_no")
	s.mu.Lock()
	c, ok := s.st.Combines[no]
	var v CombineView
	if ok {
		v = s.combineView(c)
	}
	s.mu.Unlock()
	if !ok {
		simError(w, http.StatusNotFound, "no combine %q", no)
		return
	}
	simJSON(w, http.StatusOK, v)
}

func (s *Simulator) simCombines(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	out := make([]CombineView, 0, len(s.st.Combines))
	for _, c := range s.st.Combines {
		out = append(out, s.combineView(c))
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].CreatedAt != out[j].CreatedAt {
			return out[i].CreatedAt < out[j].CreatedAt
		}
		return out[i].Transaction.CombineOutTradeNo < out[j].Transaction.CombineOutTradeNo
	})
	simJSON(w, http.StatusOK, out)
}

// payCombineBy is the combine half of POST /sim/pay: a combine's code_url or prepay_id
// pays the combine. It reports whether it answered.
func (s *Simulator) payCombineBy(w http.ResponseWriter, p payByRequest) bool {
	if p.OutTradeNo != "" {
		return false
	}
	no := s.findCombine(p.CodeURL, strings.TrimPrefix(p.PrepayID, "prepay_id="))
	if no == "" {
		return false
	}
	tx, id, status, err := s.PayCombine(no, CombinePayRequest{Result: p.Result, OpenID: p.OpenID, BankType: p.BankType})
	if err != nil {
		simError(w, status, "%v", err)
		return true
	}
	simJSON(w, http.StatusOK, map[string]any{"combine": tx, "notification_id": id})
	return true
}

// findCombine returns the combine_out_trade_no of the combine with codeURL or prepayID.
func (s *Simulator) findCombine(codeURL, prepayID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if prepayID != "" {
		if no, ok := s.st.CombineLinks[prepayID]; ok {
			return no
		}
	}
	for no, c := range s.st.Combines {
		if (codeURL != "" && c.Response.CodeURL == codeURL) || (prepayID != "" && c.Response.PrepayID == prepayID) {
			return no
		}
	}
	return ""
}

// combineH5Page is the combine half of GET /sim/h5/{prepay_id}: the cashier of a combine
// shows its total and every sub-order. It reports whether it answered.
func (s *Simulator) combineH5Page(w http.ResponseWriter, t *h5Target) bool {
	s.mu.Lock()
	no, ok := s.st.CombineLinks[t.prepayID]
	if !ok {
		s.mu.Unlock()
		return false
	}
	c := s.st.Combines[no]
	now := s.now()
	state := s.combineState(c, now)
	var total int64
	var items []string
	for _, sub := range c.Request.SubOrders {
		total += sub.Amount.TotalAmount
		items = append(items, sub.Description+" ¥"+yuan(sub.Amount.TotalAmount))
	}
	s.mu.Unlock()
	switch state {
	case wechatpay.TradeStateNotPay, wechatpay.TradeStateUserPaying:
	case wechatpay.TradeStateSuccess, wechatpay.TradeStateRefund:
		simPage(w, http.StatusOK, "支付成功", "Paid", "合单 Combine "+no, t.redirect)
		return true
	default:
		simPage(w, http.StatusConflict, "订单"+tradeStateDesc(state), "The combine is "+state+" and cannot be paid", "合单 Combine "+no, t.redirect)
		return true
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", pageCSP)
	w.Header().Set("Cache-Control", "no-store")
	_ = payTmpl.Execute(w, map[string]string{
		"Merchant": fmt.Sprintf("合单 Combine · %d 笔 sub-orders", len(items)), "Description": strings.Join(items, " · "), "Yuan": yuan(total),
		"OutTradeNo": no, "PrepayID": t.prepayID, "Package": t.pkg, "RedirectURL": t.redirect,
		"ExpiresIn": t.link.created.Add(h5LinkLifetime).Sub(now).Round(time.Second).String(),
	})
	return true
}

// payCombineH5 is the combine half of POST /sim/h5/{prepay_id}/pay. It reports whether
// it answered.
func (s *Simulator) payCombineH5(w http.ResponseWriter, r *http.Request, t *h5Target, back string) bool {
	s.mu.Lock()
	no, ok := s.st.CombineLinks[t.prepayID]
	appID := ""
	if ok {
		appID = s.st.Combines[no].Request.CombineAppID
	}
	s.mu.Unlock()
	if !ok {
		return false
	}
	if _, _, status, err := s.PayCombine(no, CombinePayRequest{OpenID: openID(appID, defaultSimUser)}); err != nil {
		simPage(w, status, "支付失败", "Payment failed", err.Error(), t.redirect)
		return true
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
	return true
}
