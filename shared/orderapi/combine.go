package orderapi

// Combine orders (合单) and e-commerce refunds of a platform (WXPAY_MODE=ecommerce):
// the shapes of functions/createorder/combine.go.

// SubOrder is one sub_orders[] entry of a combine create.
type SubOrder struct {
	OrderID       string `json:"order_id"`
	SubMchID      string `json:"sub_mchid"`
	SubAppID      string `json:"sub_appid,omitempty"`
	Amount        Fen    `json:"amount"`
	Description   string `json:"description"`
	Attach        string `json:"attach,omitempty"`
	ProfitSharing bool   `json:"profit_sharing,omitempty"`
}

// CombineView is a combine as its create and GET /orders/{order_id} answer it.
type CombineView struct {
	OrderID           string         `json:"order_id"`
	CombineOutTradeNo string         `json:"combine_out_trade_no"`
	Combine           bool           `json:"combine"`
	Scene             string         `json:"scene"`
	State             string         `json:"state"`
	Amount            Fen            `json:"amount"`
	Description       string         `json:"description"`
	ExpiresAt         string         `json:"expires_at,omitempty"`
	ClosePending      bool           `json:"close_pending,omitempty"`
	Attempts          int            `json:"attempts"`
	Pay               any            `json:"pay,omitempty"`
	SubOrders         []SubOrderView `json:"sub_orders"`
}

// SubOrderView is a sub-order in a CombineView.
type SubOrderView struct {
	OrderID       string `json:"order_id"`
	OutTradeNo    string `json:"out_trade_no"`
	SubMchID      string `json:"sub_mchid"`
	SubAppID      string `json:"sub_appid,omitempty"`
	Amount        Fen    `json:"amount"`
	Description   string `json:"description"`
	State         string `json:"state"`
	TransactionID string `json:"transaction_id,omitempty"`
	PaidAt        string `json:"paid_at,omitempty"`
	Refunded      Fen    `json:"refunded,omitempty"`
	ReviewReason  string `json:"review_reason,omitempty"`
	// ProfitSharing is the sub-order's profit sharing.
	ProfitSharing *SharingView `json:"profit_sharing,omitempty"`
}

// Advance is a refund's advance by the platform (垫付) and its return.
type Advance struct {
	State           string `json:"state"`
	ReturnAmount    Fen    `json:"return_amount,omitempty"`
	AdvanceReturnID string `json:"advance_return_id,omitempty"`
	SuccessTime     string `json:"success_time,omitempty"`
}
