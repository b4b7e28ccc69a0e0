package paysim

import (
	"net/http"
	"strings"
)

// payByRequest is the body of POST /sim/pay: the order is named by whatever the payer's
// side holds — the Native code_url a user scans, the prepay_id a JSAPI/APP page or an
// h5_url carries, or the out_trade_no — plus the PayRequest options.
type payByRequest struct {
	CodeURL    string `json:"code_url,omitempty"`
	PrepayID   string `json:"prepay_id,omitempty"`
	OutTradeNo string `json:"out_trade_no,omitempty"`
	Result     string `json:"result,omitempty"`
	OpenID     string `json:"openid,omitempty"`
	BankType   string `json:"bank_type,omitempty"`
}

// simPayBy handles POST /sim/pay: "scan" a weixin://wxpay/bizpayurl code, or confirm a
// JSAPI/APP payment by its prepay_id (a JS bridge stub does that), then pay as
// /sim/orders/{out_trade_no}/pay does.
func (s *Simulator) simPayBy(w http.ResponseWriter, r *http.Request) {
	var p payByRequest
	if err := readSimBody(r, &p); err != nil {
		simError(w, simBodyStatus(err), "%v", err)
		return
	}
	n := 0
	for _, v := range []string{p.CodeURL, p.PrepayID, p.OutTradeNo} {
		if v != "" {
			n++
		}
	}
	if n != 1 {
		simError(w, http.StatusBadRequest, "name the order by exactly one of code_url, prepay_id or out_trade_no")
		return
	}
	if s.payCombineBy(w, p) {
		return
	}
	no := p.OutTradeNo
	if no == "" {
		no = s.findOrder(p.CodeURL, strings.TrimPrefix(p.PrepayID, "prepay_id="))
		if no == "" {
			simError(w, http.StatusNotFound, "no order has this code_url or prepay_id: use it exactly as the prepay call returned it")
			return
		}
	}
	tx, id, status, err := s.Pay(no, PayRequest{Result: p.Result, OpenID: p.OpenID, BankType: p.BankType})
	if err != nil {
		simError(w, status, "%v", err)
		return
	}
	simJSON(w, http.StatusOK, map[string]any{"transaction": tx, "notification_id": id})
}

// findOrder returns the out_trade_no of the order with codeURL or prepayID.
func (s *Simulator) findOrder(codeURL, prepayID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if prepayID != "" {
		if l := s.st.h5Links[prepayID]; l != nil {
			return l.outTradeNo
		}
	}
	for no, o := range s.st.orders {
		if (codeURL != "" && o.Response.CodeURL == codeURL) || (prepayID != "" && o.Response.PrepayID == prepayID) {
			return no
		}
	}
	return ""
}
