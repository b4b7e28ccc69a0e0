package paysim

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/paysls/wxpay/shared/wechatpay"
	"github.com/paysls/wxpay/shared/wxv2"
)

// APIv2 XML notifications, as WeChat Pay still sends them to APIv3 merchants for
// refunds made by hand in the merchant platform (商户平台手动退款) and for APIv2 orders.
//
//	POST /sim/v2/notify {"kind":"payment","out_trade_no":"…"}
//	POST /sim/v2/notify {"kind":"refund","out_trade_no":"…","out_refund_no":"…","refund_fee":50}
//
// payment: pays the order if it is unpaid (without the v3 notification) and sends the
// v2 payment result; for a paid order it sends it again, as WeChat Pay's retries do.
// refund: settles the refund out_refund_no if it is processing, re-sends its result if
// it is settled, or — the manual-refund case — creates it (refund_request_source
// VENDOR_PLATFORM, refund_fee defaulting to what is left of the order) and settles it.
// refund_status is SUCCESS (default), CHANGE (退款异常) or REFUNDCLOSE (退款关闭).
// sign_type MD5 (default) or HMAC-SHA256 signs payments; forge:true signs (payment) or
// encrypts req_info (refund) with a random key instead of the APIv2 key, which a
// verifying receiver must refuse. url overrides the order's notify_url.
//
// Unlike v3 notifications, one v2 notification is one synchronous POST: the answer —
// the receiver's status and body and whether WeChat Pay would count it as acknowledged
// (HTTP 200 with return_code SUCCESS) — comes back in the response, and the attempt is
// listed in GET /sim/deliveries (event v2.payment / v2.refund). Faults and the retry
// schedule do not apply to them; send again to play a retry.

// V2NotifyRequest is the body of POST /sim/v2/notify.
type V2NotifyRequest struct {
	Kind         string `json:"kind"` // payment or refund
	OutTradeNo   string `json:"out_trade_no"`
	OutRefundNo  string `json:"out_refund_no,omitempty"` // refund; generated when empty
	RefundFee    int64  `json:"refund_fee,omitempty"`    // new manual refund, fen; default what is left
	RefundStatus string `json:"refund_status,omitempty"` // SUCCESS, CHANGE or REFUNDCLOSE
	SignType     string `json:"sign_type,omitempty"`     // MD5 or HMAC-SHA256 (payments)
	Forge        bool   `json:"forge,omitempty"`         // sign / encrypt with a wrong key
	URL          string `json:"url,omitempty"`           // default: the order's notify_url
}

// V2NotifyResult is the answer of POST /sim/v2/notify.
type V2NotifyResult struct {
	Kind         string            `json:"kind"`
	URL          string            `json:"url"`
	Forged       bool              `json:"forged,omitempty"`
	Body         string            `json:"body"`             // the XML sent
	Fields       map[string]string `json:"fields,omitempty"` // refunds: req_info decrypted
	Status       int               `json:"status,omitempty"` // the receiver's answer
	ResponseBody string            `json:"response_body,omitempty"`
	Acknowledged bool              `json:"acknowledged"`
	Verdict      string            `json:"verdict"`
	Error        string            `json:"error,omitempty"`
}

func (s *Simulator) simV2Notify(w http.ResponseWriter, r *http.Request) {
	var req V2NotifyRequest
	if err := readSimBody(r, &req); err != nil {
		simError(w, http.StatusBadRequest, "%v", err)
		return
	}
	res, status, err := s.NotifyV2(r.Context(), req)
	if err != nil {
		simError(w, status, "%v", err)
		return
	}
	simJSON(w, http.StatusOK, res)
}

// NotifyV2 builds and delivers one v2 notification (see POST /sim/v2/notify); status
// is the HTTP status the /sim API answers on error.
func (s *Simulator) NotifyV2(ctx context.Context, req V2NotifyRequest) (res V2NotifyResult, status int, err error) {
	key := s.id.APIv2Key
	if key == "" {
		return res, http.StatusConflict, fmt.Errorf("the simulator's identity has no APIv2 key (keys dir file apiv2_key): it cannot sign v2 notifications")
	}
	switch req.SignType {
	case "", wxv2.SignTypeMD5, wxv2.SignTypeHMACSHA256:
	default:
		return res, http.StatusBadRequest, fmt.Errorf("sign_type %q: want MD5 or HMAC-SHA256", req.SignType)
	}
	if req.Forge {
		key = wxv2.ForgeryKey()
	}
	var body []byte
	switch req.Kind {
	case wxv2.KindPayment:
		body, res.URL, status, err = s.v2Payment(req, key)
	case wxv2.KindRefund:
		body, res.URL, res.Fields, status, err = s.v2Refund(req, key)
	default:
		return res, http.StatusBadRequest, fmt.Errorf("kind %q: want payment or refund", req.Kind)
	}
	if err != nil {
		return res, status, err
	}
	if req.URL != "" {
		res.URL = req.URL
	}
	if res.URL == "" {
		return res, http.StatusBadRequest, fmt.Errorf("the order has no notify_url: pass url")
	}
	res.Kind, res.Forged, res.Body = req.Kind, req.Forge, string(body)
	d := Delivery{ID: "v2-" + s.ids.alnum(16), URL: res.URL, Event: "v2." + req.Kind, Attempt: 1, Time: time.Now(), Probe: req.Forge}
	st, answer, perr := s.postV2(ctx, res.URL, body)
	res.Status, res.ResponseBody = st, truncate(string(answer), 2048)
	res.Acknowledged = perr == nil && wxv2.Acknowledged(st, answer)
	switch {
	case perr != nil:
		res.Error = perr.Error()
		res.Verdict = "not delivered: WeChat Pay would retry (15s/15s/30s/3m/…, about 24 hours)"
	case req.Forge && res.Acknowledged:
		res.Verdict = "FAIL: the receiver acknowledged a v2 notification that was not signed/encrypted with the APIv2 key; it must verify and answer FAIL"
	case req.Forge:
		res.Verdict = "ok: the receiver refused the forged v2 notification"
	case res.Acknowledged:
		res.Verdict = "acknowledged: HTTP 200 with return_code SUCCESS"
	default:
		res.Verdict = "NOT acknowledged (v2 needs HTTP 200 and <return_code>SUCCESS</return_code>): WeChat Pay would retry for about 24 hours"
	}
	d.Status, d.ResponseBody, d.Error, d.Verdict = res.Status, res.ResponseBody, res.Error, res.Verdict
	s.mu.Lock()
	s.record(d)
	s.mu.Unlock()
	s.log.Info("paysim: v2 notification", "kind", req.Kind, "url", res.URL, "forged", req.Forge, "status", st, "acknowledged", res.Acknowledged)
	return res, 0, nil
}

// v2Payment pays the order if needed and builds its signed payment result.
func (s *Simulator) v2Payment(req V2NotifyRequest, key string) ([]byte, string, int, error) {
	s.mu.Lock()
	o, err := s.st.findOrder(req.OutTradeNo)
	if err != nil {
		s.mu.Unlock()
		return nil, "", http.StatusConflict, err
	}
	if o == nil {
		s.mu.Unlock()
		return nil, "", http.StatusNotFound, fmt.Errorf("no order %q: place it with a prepay call first", req.OutTradeNo)
	}
	now := s.now()
	s.expire(o, now)
	switch o.TradeState {
	case wechatpay.TradeStateNotPay, wechatpay.TradeStateUserPaying:
		o.TradeState = wechatpay.TradeStateSuccess
		o.TransactionID = s.ids.TransactionID(now)
		s.st.byTransaction[o.TransactionID] = o
		if py := o.Request.Payer; py != nil {
			o.OpenID = cmp.Or(py.OpenID, py.SpOpenID, py.SubOpenID)
		}
		if o.OpenID == "" {
			o.OpenID = s.ids.OpenID()
		}
		o.BankType = "OTHERS"
		o.SuccessTime = now
	case wechatpay.TradeStateSuccess, wechatpay.TradeStateRefund:
		// Paid already: send the result again, as WeChat Pay's retries do.
	default:
		st := o.TradeState
		s.mu.Unlock()
		return nil, "", http.StatusConflict, fmt.Errorf("order %q is %s (%s): WeChat Pay notifies only paid orders", req.OutTradeNo, st, tradeStateDesc(st))
	}
	tx := s.transaction(o)
	tx.TradeState = wechatpay.TradeStateSuccess
	url := o.Request.NotifyURL
	s.mu.Unlock()

	p, err := wxv2.PaymentParams(&tx)
	if err != nil {
		return nil, "", http.StatusInternalServerError, err
	}
	if err := wxv2.SignParams(p, req.SignType, key); err != nil {
		return nil, "", http.StatusInternalServerError, err
	}
	return p.EncodeXML(), url, 0, nil
}

// v2Refund settles (or creates, for a manual refund) the refund and builds its
// encrypted result.
func (s *Simulator) v2Refund(req V2NotifyRequest, key string) ([]byte, string, map[string]string, int, error) {
	status := wechatpay.RefundStatusSuccess
	switch req.RefundStatus {
	case "", wxv2.RefundStatusSuccess:
	case wxv2.RefundStatusChange:
		status = wechatpay.RefundStatusAbnormal
	case wxv2.RefundStatusClose:
		status = wechatpay.RefundStatusClosed
	default:
		return nil, "", nil, http.StatusBadRequest, fmt.Errorf("refund_status %q: want SUCCESS, CHANGE or REFUNDCLOSE", req.RefundStatus)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	rf, ok := s.st.refunds[req.OutRefundNo]
	source := "API"
	switch {
	case ok && req.OutTradeNo != "" && rf.OutTradeNo != req.OutTradeNo:
		return nil, "", nil, http.StatusConflict, fmt.Errorf("refund %q belongs to order %q, not %q", req.OutRefundNo, rf.OutTradeNo, req.OutTradeNo)
	case ok && rf.Status == wechatpay.RefundStatusProcessing:
		rf.Status = status
		if status == wechatpay.RefundStatusSuccess {
			rf.SuccessTime = now
		}
	case ok && rf.Status != status:
		return nil, "", nil, http.StatusConflict, fmt.Errorf("refund %q is already %s", req.OutRefundNo, rf.Status)
	case ok:
		// Settled already: send the result again.
	default:
		o, err := s.st.findOrder(req.OutTradeNo)
		if err != nil {
			return nil, "", nil, http.StatusConflict, err
		}
		if o == nil {
			return nil, "", nil, http.StatusNotFound, fmt.Errorf("no order %q", req.OutTradeNo)
		}
		if o.TradeState != wechatpay.TradeStateSuccess && o.TradeState != wechatpay.TradeStateRefund {
			return nil, "", nil, http.StatusConflict, fmt.Errorf("order %q is %s: only paid orders can be refunded", req.OutTradeNo, o.TradeState)
		}
		left := o.Request.Amount.Total - s.refunded(o)
		fee := req.RefundFee
		if fee == 0 {
			fee = left
		}
		if fee <= 0 || fee > left {
			return nil, "", nil, http.StatusConflict, fmt.Errorf("refund_fee %d fen: %d of the order's %d fen are left to refund", fee, left, o.Request.Amount.Total)
		}
		no := req.OutRefundNo
		if no == "" {
			no = "MANUAL" + s.ids.digits(16)
		}
		rf = &refund{
			Request: wechatpay.RefundRequest{
				SubMchID: o.Request.SubMchID, OutTradeNo: o.Request.OutTradeNo, OutRefundNo: no,
				Reason: "商户平台手动退款", Amount: wechatpay.RefundAmount{Refund: fee, Total: o.Request.Amount.Total, Currency: "CNY"},
			},
			OutTradeNo: o.Request.OutTradeNo, RefundID: s.ids.RefundID(now), Status: status, CreatedAt: now,
		}
		if status == wechatpay.RefundStatusSuccess {
			rf.SuccessTime = now
		}
		s.st.refunds[no] = rf
		o.Refunds = append(o.Refunds, no)
		o.TradeState = wechatpay.TradeStateRefund
		source = "VENDOR_PLATFORM"
	}
	o := s.st.orderOf(rf)
	view := s.refundView(rf)
	notice := wechatpay.RefundNotice{
		OutTradeNo: rf.OutTradeNo, TransactionID: o.TransactionID, OutRefundNo: rf.Request.OutRefundNo,
		RefundID: rf.RefundID, RefundStatus: rf.Status, SuccessTime: view.SuccessTime,
		UserReceivedAccount: view.UserReceivedAccount, Amount: view.Amount,
	}
	appid := o.Request.AppID
	if o.Partner {
		notice.SpMchID, notice.SubMchID, appid = o.Request.SpMchID, o.Request.SubMchID, o.Request.SpAppID
	} else {
		notice.MchID = o.Request.MchID
	}
	url := cmp.Or(rf.Request.NotifyURL, o.Request.NotifyURL)
	outer, inner, err := wxv2.RefundParams(&notice, wxv2.RefundOptions{AppID: appid, RequestSource: source, RefundAccount: "REFUND_SOURCE_UNSETTLED_FUNDS"})
	if err != nil {
		return nil, "", nil, http.StatusInternalServerError, err
	}
	body, err := wxv2.SealRefund(outer, inner, key)
	if err != nil {
		return nil, "", nil, http.StatusInternalServerError, err
	}
	return body, url, inner, 0, nil
}

// postV2 POSTs a v2 notification: XML, no Wechatpay-* headers (v2 signs inside the body).
func (s *Simulator) postV2(ctx context.Context, url string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, fmt.Errorf("paysim: v2 notification request: %w", err)
	}
	req.Header.Set("Content-Type", "text/xml")
	req.Header.Set("User-Agent", notifyUserAgent)
	req.Header.Set("Accept", "*/*")
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("paysim: POST %s: %w", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, b, nil
}
