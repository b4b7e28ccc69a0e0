package orderapi

import "encoding/json"

// Combine orders (合单) and e-commerce refunds of a platform (WXPAY_MODE=ecommerce).

// MinCombineSubOrders is the fewest sub-orders a combine takes: a single one is an
// ordinary order (send amount instead).
const MinCombineSubOrders = 2

// SubOrder is one sub_orders[] entry of a combine create (CreateRequest.SubOrders).
type SubOrder struct {
	OrderID     string `json:"order_id"`
	SubMchID    string `json:"sub_mchid"`
	SubAppID    string `json:"sub_appid,omitempty"`
	Amount      Fen    `json:"amount"`
	Description string `json:"description"`
	// Attach comes back in the notification and the bill; the sub-order's order_id when
	// empty (WeChat Pay requires one per sub-order).
	Attach string `json:"attach,omitempty"`
	// ProfitSharing places the sub-order for profit sharing: true (receivers decided
	// later, at POST /orders/{id}/settle) or a SharingRequest object.
	ProfitSharing json.RawMessage `json:"profit_sharing,omitempty"`
}

// CombineView is a combine as POST /orders (its create) and GET /orders/{order_id}
// answer it. State is the combine's as a whole: NOTPAY (or USERPAYING) until paid;
// SUCCESS when every sub-order is paid; PARTIAL when some are and others failed (each
// sub-order's state says which); REFUND once paid and a sub-order refunded; CLOSED;
// REVIEW when a sub-order needs a person — of this attempt, or of one the combine
// replaced (Previous: a re-priced one, or one the cashier page left for another scene).
type CombineView struct {
	OrderID           string `json:"order_id"`
	CombineOutTradeNo string `json:"combine_out_trade_no"`
	Combine           bool   `json:"combine"`
	Scene             string `json:"scene"`
	State             string `json:"state"`
	Amount            int64  `json:"amount"`
	Description       string `json:"description"`
	ExpiresAt         string `json:"expires_at,omitempty"`
	ClosePending      bool   `json:"close_pending,omitempty"`
	Attempts          int    `json:"attempts"`
	// Pay is the combine's pay parameters, as for a single order of its scene (POST
	// /orders only; absent once paid): JSAPIPay, APPPay, H5Pay, NativePay or CashierPay.
	Pay          json.RawMessage `json:"pay,omitempty"`
	SubOrders    []SubOrderView  `json:"sub_orders"`
	ReviewReason string          `json:"review_reason,omitempty"`
	// ReviewCauses (GET) are typed: earlier_attempt_paid for each sub-order paid (or in
	// review) on an attempt the combine left.
	ReviewCauses []Cause `json:"review_causes,omitempty"`
	// Previous are the combine's other attempts (GET only), oldest first.
	Previous []CombineAttempt `json:"previous,omitempty"`
}

// CombineAttempt is an attempt of a combine other than its current one: re-priced, or
// left by the cashier page for another scene (WeChat Pay binds a combine_out_trade_no
// to one scene). A payment on it shows here, and puts the combine in REVIEW.
type CombineAttempt struct {
	CombineOutTradeNo string         `json:"combine_out_trade_no"`
	Scene             string         `json:"scene"`
	State             string         `json:"state"`
	Amount            int64          `json:"amount"`
	SubOrders         []SubOrderView `json:"sub_orders"`
}

// SubOrderView is a sub-order as the combine's answers show it.
type SubOrderView struct {
	OrderID       string `json:"order_id"`
	OutTradeNo    string `json:"out_trade_no"`
	SubMchID      string `json:"sub_mchid"`
	SubAppID      string `json:"sub_appid,omitempty"`
	Amount        int64  `json:"amount"`
	Description   string `json:"description"`
	State         string `json:"state"`
	TransactionID string `json:"transaction_id,omitempty"`
	PaidAt        string `json:"paid_at,omitempty"`
	Refunded      int64  `json:"refunded,omitempty"`
	ReviewReason  string `json:"review_reason,omitempty"`
	// ProfitSharing is the sub-order's profit sharing.
	ProfitSharing *SharingView `json:"profit_sharing,omitempty"`
}

// Advance is a refund's advance by the platform (垫付, WXPAY_REFUND_ADVANCE=1): state
// OWED until the return is asked for (once the refund has succeeded), then WeChat Pay's
// return result (PROCESSING, SUCCESS, FAILED), or NONE when WeChat Pay did not advance
// it.
type Advance struct {
	State           string `json:"state"`
	ReturnAmount    int64  `json:"return_amount,omitempty"`
	AdvanceReturnID string `json:"advance_return_id,omitempty"`
	SuccessTime     string `json:"success_time,omitempty"`
}
