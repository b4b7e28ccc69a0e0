package paysim

import "github.com/paysls/wxpay/shared/wechatpay"

// Read access to WeChat Pay's ledger as the simulator holds it, without the driver
// API's HTTP and JSON: the deterministic simulation (internal/dst) reads it after every
// step as the truth its invariants are checked against.

// Orders lists every order as GET /sim/orders shows it, ordered by out_trade_no.
func (s *Simulator) Orders() []OrderView {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]OrderView, 0, len(s.st.orders))
	now := s.now()
	for _, o := range s.st.orders {
		s.expire(o, now)
		out = append(out, s.orderView(o))
	}
	sortByOutTradeNo(out)
	return out
}

// Refund is one refund as create and query answer it, with the request that made it
// (Reason 商户平台手动退款 for a refund made by hand in the merchant platform).
func (s *Simulator) Refund(outRefundNo string) (wechatpay.Refund, wechatpay.RefundRequest, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rf, ok := s.st.refunds[outRefundNo]
	if !ok {
		return wechatpay.Refund{}, wechatpay.RefundRequest{}, false
	}
	return s.refundView(rf), rf.Request, true
}
