package paysim

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/paysls/wxpay/shared/wechatpay"
)

// Order timing rules.
const (
	// defaultExpiry is how long an unpaid order lives without time_expire.
	defaultExpiry = 2 * time.Hour
	// minCloseAge: WeChat Pay asks merchants not to close an order in its first 5
	// minutes, so that a payment in flight is not raced by the close.
	minCloseAge = 5 * time.Minute
)

// notifyURLOptions: the simulator delivers to local endpoints, which WeChat Pay never
// would; every other notify_url rule is enforced exactly.
var notifyURLOptions = wechatpay.NotifyURLOptions{AllowLoopback: true}

// prepay handles POST /v3/pay/[partner/]transactions/{kind}.
func (s *Simulator) prepay(kind string, partner bool) func(*apiRequest) *reply {
	return func(r *apiRequest) *reply {
		var req wechatpay.PrepayRequest
		if err := json.Unmarshal(r.Body, &req); err != nil {
			return errReply(http.StatusBadRequest, "PARAM_ERROR", "请求的JSON格式错误 (the body is not valid JSON for a prepay request): "+err.Error())
		}
		if rep := s.checkMerchant(&req, partner); rep != nil {
			return rep
		}
		if rep := s.checkPrepay(kind, partner, &req); rep != nil {
			return rep
		}
		expire := time.Time{}
		if req.TimeExpire != "" {
			t, err := time.Parse(time.RFC3339, req.TimeExpire)
			if err != nil {
				return paramError("time_expire", req.TimeExpire, "must be RFC 3339 with a time zone, e.g. 2018-06-08T10:34:56+08:00")
			}
			if !t.After(s.now()) {
				return paramError("time_expire", req.TimeExpire, "is already in the past")
			}
			expire = t
		}
		fp := fingerprint(kind, partner, &req)

		s.mu.Lock()
		defer s.mu.Unlock()
		now := s.now()
		if o, ok := s.st.orders[orderKey(req.SubMchID, req.OutTradeNo)]; ok {
			s.expire(o, now)
			switch o.TradeState {
			case wechatpay.TradeStateSuccess, wechatpay.TradeStateRefund:
				return errReply(http.StatusForbidden, "ORDERPAID", "订单已支付: out_trade_no "+o.Request.OutTradeNo+" is paid; use a new out_trade_no for a new payment")
			case wechatpay.TradeStateClosed:
				return errReply(http.StatusBadRequest, "ORDER_CLOSED", "订单已关闭: out_trade_no "+o.Request.OutTradeNo+" is closed; place the order again under a new out_trade_no")
			}
			if o.fingerprint != fp {
				return errReply(http.StatusForbidden, "OUT_TRADE_NO_USED", "商户订单号重复: out_trade_no "+o.Request.OutTradeNo+
					" was used for an order with different content ("+diffSummary(o, kind, &req)+"). A re-priced or changed order needs a new out_trade_no; close the old one first")
			}
			// The same request again (a retry, or the user reopening the payment page):
			// WeChat Pay answers with the same prepay session. An h5_url lives only 5
			// minutes, so an H5 order whose link has lapsed gets a fresh one.
			if o.Kind == "h5" {
				if l := s.st.h5Links[o.prepayID]; l == nil || now.After(l.created.Add(h5LinkLifetime)) {
					o.prepayID = s.ids.PrepayID(now)
					o.Response.H5URL = s.newH5Link(s.baseURL(r.Request), o.prepayID, o.key(), now)
				}
			}
			return jsonReply(http.StatusOK, o.Response)
		}
		if expire.IsZero() {
			expire = now.Add(defaultExpiry)
		}
		o := &order{
			Kind: kind, Partner: partner, Request: req, RawRequest: json.RawMessage(bytes.Clone(r.Body)),
			fingerprint: fp, TradeState: wechatpay.TradeStateNotPay, CreatedAt: now, ExpireAt: expire,
		}
		prepayID := s.ids.PrepayID(now)
		switch kind {
		case "h5":
			// WeChat's is https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb?prepay_id=…&package=…;
			// the simulator's page is its own (h5.go), so a browser can pay there.
			o.prepayID = prepayID
			o.Response.H5URL = s.newH5Link(s.baseURL(r.Request), prepayID, o.key(), now)
		case "native":
			o.Response.CodeURL = "weixin://wxpay/bizpayurl?pr=" + s.ids.alnum(9)
		default:
			o.Response.PrepayID = prepayID
		}
		s.st.orders[o.key()] = o
		s.log.Info("paysim: order placed", "out_trade_no", req.OutTradeNo, "kind", kind, "total", req.Amount.Total)
		return jsonReply(http.StatusOK, o.Response)
	}
}

// checkMerchant applies the merchant-identity rules of a prepay body.
func (s *Simulator) checkMerchant(req *wechatpay.PrepayRequest, partner bool) *reply {
	if !partner {
		if req.AppID == "" {
			return paramError("appid", nil, "is required")
		}
		if req.MchID == "" {
			return paramError("mchid", nil, "is required")
		}
		if req.MchID != s.id.MchID {
			return paramError("mchid", req.MchID, "http header中的mchid与post payload中的mchid不匹配: the body's mchid must be the merchant that signs the request ("+s.id.MchID+")")
		}
		if req.AppID != s.id.AppID {
			return errReply(http.StatusBadRequest, "APPID_MCHID_NOT_MATCH", "appid和mch_id不匹配,请检查后再试: appid "+req.AppID+" is not bound to merchant "+s.id.MchID+" (bound: "+s.id.AppID+"); JSAPI needs the official account's appid, mini-programs their own appid, APP the open-platform appid")
		}
		return nil
	}
	if req.SpAppID == "" {
		return paramError("sp_appid", nil, "is required")
	}
	if req.SpMchID == "" {
		return paramError("sp_mchid", nil, "is required")
	}
	if req.SubMchID == "" {
		return paramError("sub_mchid", nil, "is required")
	}
	if req.SpMchID != s.id.MchID {
		return paramError("sp_mchid", req.SpMchID, "http header中的mchid与post payload中的sp_mchid不匹配: sp_mchid must be the service provider that signs the request ("+s.id.MchID+")")
	}
	if req.SpAppID != s.id.AppID {
		return errReply(http.StatusBadRequest, "APPID_MCHID_NOT_MATCH", "appid和mch_id不匹配,请检查后再试: sp_appid "+req.SpAppID+" is not bound to service provider "+s.id.MchID)
	}
	if !s.knownSubMch(req.SubMchID) {
		return errReply(http.StatusBadRequest, "INVALID_REQUEST", "受理关系不存在: sub_mchid "+req.SubMchID+" is not a sub-merchant of "+s.id.MchID)
	}
	return nil
}

func (s *Simulator) knownSubMch(id string) bool {
	return len(s.cfg.SubMchIDs) == 0 || slices.Contains(s.cfg.SubMchIDs, id)
}

// checkPrepay applies the field rules of a prepay body, in WeChat Pay's PARAM_ERROR form.
func (s *Simulator) checkPrepay(kind string, partner bool, req *wechatpay.PrepayRequest) *reply {
	if err := wechatpay.ValidateDescription(req.Description); err != nil {
		return validationReply(err, req.Description)
	}
	if err := wechatpay.ValidateOutTradeNo("out_trade_no", req.OutTradeNo, 32); err != nil {
		return validationReply(err, req.OutTradeNo)
	}
	if err := wechatpay.ValidateNotifyURL(req.NotifyURL, notifyURLOptions); err != nil {
		return validationReply(err, req.NotifyURL)
	}
	if err := wechatpay.ValidateAmount("amount.total", req.Amount.Total); err != nil {
		return validationReply(err, req.Amount.Total)
	}
	if c := req.Amount.Currency; c != "" && c != "CNY" {
		return paramError("amount.currency", c, "must be CNY")
	}
	if len(req.Attach) > 128 {
		return paramError("attach", req.Attach, fmt.Sprintf("is %d bytes; at most 128", len(req.Attach)))
	}
	switch kind {
	case "jsapi":
		if partner {
			if req.Payer == nil || (req.Payer.SpOpenID == "" && req.Payer.SubOpenID == "") {
				return paramError("payer.sp_openid", nil, "JSAPI needs payer.sp_openid or payer.sub_openid: the openid of the paying user under sp_appid or sub_appid")
			}
			if req.Payer.SubOpenID != "" && req.SubAppID == "" {
				return paramError("sub_appid", nil, "is required when payer.sub_openid is given")
			}
		} else if req.Payer == nil || req.Payer.OpenID == "" {
			return paramError("payer.openid", nil, "JSAPI needs payer.openid: the openid of the paying user under this appid (from wx.login / OAuth)")
		}
	case "h5":
		if req.SceneInfo == nil || req.SceneInfo.PayerClientIP == "" {
			return paramError("scene_info.payer_client_ip", nil, "H5 needs scene_info.payer_client_ip: the user's real IP (the first address of X-Forwarded-For behind trusted proxies, not the proxy's)")
		}
		if net.ParseIP(req.SceneInfo.PayerClientIP) == nil {
			return paramError("scene_info.payer_client_ip", req.SceneInfo.PayerClientIP, "is not an IPv4 or IPv6 address")
		}
		if req.SceneInfo.H5Info == nil || req.SceneInfo.H5Info.Type == "" {
			return paramError("scene_info.h5_info.type", nil, "H5 needs scene_info.h5_info with type Wap, iOS or Android")
		}
		switch req.SceneInfo.H5Info.Type {
		case "Wap", "iOS", "Android":
		default:
			return paramError("scene_info.h5_info.type", req.SceneInfo.H5Info.Type, "must be Wap, iOS or Android")
		}
	}
	return nil
}

// fingerprint is the canonical content of a prepay request: WeChat Pay answers a
// repeated identical request with the same prepay session, and a changed one with
// OUT_TRADE_NO_USED.
func fingerprint(kind string, partner bool, req *wechatpay.PrepayRequest) string {
	b, _ := json.Marshal(req)
	return fmt.Sprintf("%s|%t|%s", kind, partner, b)
}

// diffSummary names the first few fields that differ from the held order.
func diffSummary(o *order, kind string, req *wechatpay.PrepayRequest) string {
	var d []string
	if o.Kind != kind {
		d = append(d, "payment scene "+o.Kind+" → "+kind)
	}
	if o.Request.Amount.Total != req.Amount.Total {
		d = append(d, fmt.Sprintf("amount.total %d → %d", o.Request.Amount.Total, req.Amount.Total))
	}
	if o.Request.Description != req.Description {
		d = append(d, "description")
	}
	if o.Request.NotifyURL != req.NotifyURL {
		d = append(d, "notify_url")
	}
	if o.Request.Attach != req.Attach {
		d = append(d, "attach")
	}
	if o.Request.TimeExpire != req.TimeExpire {
		d = append(d, "time_expire")
	}
	if len(d) == 0 {
		d = append(d, "other fields")
	}
	return strings.Join(d, ", ")
}

// expire closes an unpaid order whose time_expire has passed. Called under s.mu
// whenever an order is looked at, so expiry needs no timer.
func (s *Simulator) expire(o *order, now time.Time) {
	switch o.TradeState {
	case wechatpay.TradeStateNotPay, wechatpay.TradeStateUserPaying:
		if now.After(o.ExpireAt) {
			o.TradeState = wechatpay.TradeStateClosed
			o.ClosedAt = o.ExpireAt
		}
	}
}

// transaction renders an order the way query and notifications show it.
func (s *Simulator) transaction(o *order) wechatpay.Transaction {
	req := o.Request
	t := wechatpay.Transaction{
		OutTradeNo: req.OutTradeNo, TradeState: o.TradeState, TradeStateDesc: tradeStateDesc(o.TradeState),
		Attach: req.Attach,
		Amount: &wechatpay.Amount{Total: req.Amount.Total, Currency: "CNY", PayerCurrency: "CNY"},
	}
	if o.Partner {
		t.SpAppID, t.SpMchID, t.SubAppID, t.SubMchID = req.SpAppID, req.SpMchID, req.SubAppID, req.SubMchID
	} else {
		t.AppID, t.MchID = req.AppID, req.MchID
	}
	if o.TradeState != wechatpay.TradeStateNotPay && o.TradeState != wechatpay.TradeStateClosed || o.TransactionID != "" {
		t.TradeType = tradeType(o.Kind)
	}
	if o.TransactionID != "" {
		t.TransactionID = o.TransactionID
		t.BankType = o.BankType
		if o.Partner {
			// The payer under sp_appid, and under sub_appid when the order named one.
			t.Payer = &wechatpay.Payer{SpOpenID: o.OpenID}
			if py := req.Payer; py != nil && py.SubOpenID != "" {
				t.Payer = &wechatpay.Payer{SpOpenID: py.SpOpenID, SubOpenID: py.SubOpenID}
			}
		} else {
			t.Payer = &wechatpay.Payer{OpenID: o.OpenID}
		}
	}
	if !o.SuccessTime.IsZero() {
		t.SuccessTime = rfc3339CST(o.SuccessTime)
		t.Amount.PayerTotal = req.Amount.Total
	}
	if req.SceneInfo != nil && req.SceneInfo.DeviceID != "" {
		t.SceneInfo = &wechatpay.SceneInfo{DeviceID: req.SceneInfo.DeviceID}
	}
	return t
}

// merchantQuery checks the mchid (direct) or sp_mchid+sub_mchid (partner) query
// parameters every query endpoint requires.
func (s *Simulator) merchantQuery(r *apiRequest, partner bool) *reply {
	q := r.URL.Query()
	if !partner {
		m := q.Get("mchid")
		if m == "" {
			return queryParamError("mchid", "", "is required: add ?mchid=<your merchant id> to the query URL")
		}
		if m != s.id.MchID {
			return queryParamError("mchid", m, "is not the merchant that signs the request ("+s.id.MchID+")")
		}
		return nil
	}
	if m := q.Get("sp_mchid"); m != s.id.MchID {
		return queryParamError("sp_mchid", m, "must be the service provider that signs the request ("+s.id.MchID+")")
	}
	if q.Get("sub_mchid") == "" {
		return queryParamError("sub_mchid", "", "is required")
	}
	return nil
}

func queryParamError(field, value, issue string) *reply {
	return jsonReply(http.StatusBadRequest, wechatpay.ErrorBody{
		Code: "PARAM_ERROR", Message: "参数错误: " + field + " " + issue,
		Detail: &wechatpay.ErrorDetail{Field: field, Value: nonEmpty(value), Issue: issue, Location: "query"},
	})
}

func orderNotExist(what string) *reply {
	return errReply(http.StatusNotFound, "ORDER_NOT_EXIST", "订单不存在: no order with "+what+" (was it placed with this merchant and sub_mchid, on this endpoint? a combine's sub-order is read with the combine query)")
}

// lookup finds an order under s.mu, applying expiry; partner must match the endpoint.
// An out_trade_no is unique per merchant (orderKey): a partner order is reached only under
// its own sub_mchid; a combine's sub-order only through the combine APIs ("请勿使用非合单支付的
// 查单接口查询合单订单", pay.weixin.qq.com/doc/v3/merchant/4012557006).
func (s *Simulator) lookupOrder(outTradeNo string, partner bool, subMchID string) *order {
	key := outTradeNo
	if partner {
		key = orderKey(subMchID, outTradeNo)
	}
	o, ok := s.st.orders[key]
	if !ok || o.Partner != partner || o.Combine != "" || (partner && o.Request.SubMchID != subMchID) {
		return nil
	}
	s.expire(o, s.now())
	return o
}

func (s *Simulator) queryByOutTradeNo(partner bool) func(*apiRequest) *reply {
	return func(r *apiRequest) *reply {
		if rep := s.merchantQuery(r, partner); rep != nil {
			return rep
		}
		no := r.PathValue("out_trade_no")
		s.mu.Lock()
		defer s.mu.Unlock()
		o := s.lookupOrder(no, partner, r.URL.Query().Get("sub_mchid"))
		if o == nil {
			return orderNotExist("out_trade_no " + no)
		}
		return jsonReply(http.StatusOK, s.transaction(o))
	}
}

func (s *Simulator) queryByID(partner bool) func(*apiRequest) *reply {
	return func(r *apiRequest) *reply {
		if rep := s.merchantQuery(r, partner); rep != nil {
			return rep
		}
		id := r.PathValue("transaction_id")
		s.mu.Lock()
		defer s.mu.Unlock()
		o, ok := s.st.byTransaction[id]
		if !ok || o.Partner != partner || o.Combine != "" || (partner && o.Request.SubMchID != r.URL.Query().Get("sub_mchid")) {
			return orderNotExist("transaction_id " + id + " (an unpaid order has no transaction_id yet: query it by out_trade_no)")
		}
		s.expire(o, s.now())
		return jsonReply(http.StatusOK, s.transaction(o))
	}
}

// closeOrder handles POST …/out-trade-no/{out_trade_no}/close: 204 on success.
func (s *Simulator) closeOrder(partner bool) func(*apiRequest) *reply {
	return func(r *apiRequest) *reply {
		var req wechatpay.CloseRequest
		if err := json.Unmarshal(r.Body, &req); err != nil {
			return errReply(http.StatusBadRequest, "PARAM_ERROR", "请求的JSON格式错误: the close body must be {\"mchid\":\"…\"}: "+err.Error())
		}
		if !partner {
			if req.MchID == "" {
				return paramError("mchid", nil, "is required in the close body")
			}
			if req.MchID != s.id.MchID {
				return paramError("mchid", req.MchID, "is not the merchant that signs the request ("+s.id.MchID+")")
			}
		} else {
			if req.SpMchID != s.id.MchID {
				return paramError("sp_mchid", nonEmpty(req.SpMchID), "must be the service provider that signs the request ("+s.id.MchID+")")
			}
			if req.SubMchID == "" {
				return paramError("sub_mchid", nil, "is required in the close body")
			}
		}
		no := r.PathValue("out_trade_no")
		s.mu.Lock()
		defer s.mu.Unlock()
		o := s.lookupOrder(no, partner, req.SubMchID)
		if o == nil {
			return orderNotExist("out_trade_no " + no)
		}
		now := s.now()
		switch o.TradeState {
		case wechatpay.TradeStateSuccess, wechatpay.TradeStateRefund:
			return errReply(http.StatusForbidden, "ORDERPAID", "订单已支付,不能关单: out_trade_no "+no+" is paid; refund it instead")
		case wechatpay.TradeStateClosed:
			return &reply{status: http.StatusNoContent}
		}
		if age := now.Sub(o.CreatedAt); age < minCloseAge {
			return errReply(http.StatusForbidden, "RULELIMIT", fmt.Sprintf("订单生成后不能马上调用关单接口,最短调用时间间隔为5分钟: out_trade_no %s was placed %s ago; close it after %s",
				no, age.Round(time.Second), rfc3339CST(o.CreatedAt.Add(minCloseAge))))
		}
		o.TradeState = wechatpay.TradeStateClosed
		o.ClosedAt = now
		return &reply{status: http.StatusNoContent}
	}
}

// PayRequest is the optional body of POST /sim/orders/{out_trade_no}/pay.
type PayRequest struct {
	// Result is SUCCESS (default: pay and notify), PAYERROR (the payment fails, no
	// notification) or USERPAYING (the user is entering the password).
	Result   string `json:"result,omitempty"`
	OpenID   string `json:"openid,omitempty"`
	BankType string `json:"bank_type,omitempty"`
}

// simOrderRef is the order a /sim/orders/{out_trade_no} route names: the number, or
// sub_mchid/number when ?sub_mchid= says whose (two sub-merchants may share a number).
func simOrderRef(r *http.Request) string {
	return orderKey(r.URL.Query().Get("sub_mchid"), r.PathValue("out_trade_no"))
}

// simPay plays the payer: it settles the order and, on success, notifies.
func (s *Simulator) simPay(w http.ResponseWriter, r *http.Request) {
	var p PayRequest
	if err := readSimBody(r, &p); err != nil {
		simError(w, simBodyStatus(err), "%v", err)
		return
	}
	if p.Result == "" {
		p.Result = wechatpay.TradeStateSuccess
	}
	tx, notificationID, status, err := s.Pay(simOrderRef(r), p)
	if err != nil {
		simError(w, status, "%v", err)
		return
	}
	simJSON(w, http.StatusOK, map[string]any{"transaction": tx, "notification_id": notificationID})
}

// Pay settles an order as the payer would (see PayRequest) and, on SUCCESS, queues
// the TRANSACTION.SUCCESS notification. It returns the resulting transaction and the
// notification id; status is the HTTP status the /sim API answers on error.
func (s *Simulator) Pay(outTradeNo string, p PayRequest) (tx wechatpay.Transaction, notificationID string, status int, err error) {
	if p.Result == "" {
		p.Result = wechatpay.TradeStateSuccess
	}
	switch p.Result {
	case wechatpay.TradeStateSuccess, wechatpay.TradeStatePayError, wechatpay.TradeStateUserPaying:
	default:
		return tx, "", http.StatusBadRequest, fmt.Errorf("result %q: want SUCCESS, PAYERROR or USERPAYING", p.Result)
	}
	s.mu.Lock()
	o, err := s.st.findOrder(outTradeNo)
	if err != nil {
		s.mu.Unlock()
		return tx, "", http.StatusConflict, err
	}
	if o == nil {
		s.mu.Unlock()
		return tx, "", http.StatusNotFound, fmt.Errorf("no order %q: place it with a prepay call first", outTradeNo)
	}
	if o.Combine != "" {
		s.mu.Unlock()
		return tx, "", http.StatusConflict, fmt.Errorf("order %q is a sub-order of combine %q: pay the combine (POST /sim/combines/%s/pay)", outTradeNo, o.Combine, o.Combine)
	}
	now := s.now()
	s.expire(o, now)
	if o.TradeState != wechatpay.TradeStateNotPay && o.TradeState != wechatpay.TradeStateUserPaying {
		st := o.TradeState
		s.mu.Unlock()
		return tx, "", http.StatusConflict, fmt.Errorf("order %q is %s (%s) and can no longer be paid", outTradeNo, st, tradeStateDesc(st))
	}
	o.TradeState = p.Result
	if p.Result != wechatpay.TradeStateUserPaying {
		o.TransactionID = s.ids.TransactionID(now)
		s.st.byTransaction[o.TransactionID] = o
		o.OpenID = p.OpenID
		if py := o.Request.Payer; o.OpenID == "" && py != nil {
			o.OpenID = cmp.Or(py.OpenID, py.SpOpenID, py.SubOpenID)
		}
		if o.OpenID == "" {
			o.OpenID = s.ids.OpenID()
		}
		o.BankType = p.BankType
		if o.BankType == "" {
			o.BankType = "OTHERS"
		}
	}
	if p.Result == wechatpay.TradeStateSuccess {
		o.SuccessTime = now
	}
	tx = s.transaction(o)
	notifyURL := o.Request.NotifyURL
	s.mu.Unlock()

	if p.Result != wechatpay.TradeStateSuccess {
		return tx, "", 0, nil
	}
	// WeChat Pay notifies only successful payments.
	notificationID, err = s.notify(notifyURL, wechatpay.EventTransactionSuccess, tx)
	if err != nil {
		return tx, "", http.StatusInternalServerError, err
	}
	return tx, notificationID, 0, nil
}

// OrderView is an order as GET /sim/orders/{out_trade_no} shows it: the transaction
// WeChat Pay would answer plus what it holds behind it.
type OrderView struct {
	Transaction wechatpay.Transaction    `json:"transaction"`
	Kind        string                   `json:"kind"`
	Partner     bool                     `json:"partner"`
	Request     json.RawMessage          `json:"prepay_request"`
	Response    wechatpay.PrepayResponse `json:"prepay_response"`
	CreatedAt   string                   `json:"created_at"`
	ExpireAt    string                   `json:"expire_at"`
	ClosedAt    string                   `json:"closed_at,omitempty"`
	Refunds     []string                 `json:"refunds,omitempty"`
}

func (s *Simulator) orderView(o *order) OrderView {
	v := OrderView{
		Transaction: s.transaction(o), Kind: o.Kind, Partner: o.Partner, Request: o.RawRequest,
		Response: o.Response, CreatedAt: rfc3339CST(o.CreatedAt), ExpireAt: rfc3339CST(o.ExpireAt),
		Refunds: o.Refunds,
	}
	if !o.ClosedAt.IsZero() {
		v.ClosedAt = rfc3339CST(o.ClosedAt)
	}
	return v
}

func (s *Simulator) simOrder(w http.ResponseWriter, r *http.Request) {
	no := simOrderRef(r)
	s.mu.Lock()
	o, err := s.st.findOrder(no)
	ok := o != nil
	var v OrderView
	if ok {
		s.expire(o, s.now())
		v = s.orderView(o)
	}
	s.mu.Unlock()
	if err != nil {
		simError(w, http.StatusConflict, "%v", err)
		return
	}
	if !ok {
		simError(w, http.StatusNotFound, "no order %q", no)
		return
	}
	simJSON(w, http.StatusOK, v)
}

func (s *Simulator) simOrders(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	out := make([]OrderView, 0, len(s.st.orders))
	for _, o := range s.st.orders {
		s.expire(o, s.now())
		out = append(out, s.orderView(o))
	}
	s.mu.Unlock()
	sortViews(out)
	simJSON(w, http.StatusOK, out)
}
