package orderapi

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Profit sharing (分账) and subsidies (补差) of a platform or service provider.

// SharingRequest is profit_sharing of POST /orders (or of a sub-order) when it is an
// object: the split decided up front. Amounts stay raw so the API can name the field
// of a wrong one (receivers[2].amount).
type SharingRequest struct {
	Receivers []ReceiverRequest `json:"receivers"`
	// HoldUntil (RFC 3339) keeps the split back until then, unless the merchant settles
	// the order earlier (POST /orders/{id}/settle).
	HoldUntil string `json:"hold_until,omitempty"`
	// SubsidyAmount is the platform's subsidy of a combine's sub-order (补差, fen), sent
	// as settle_info.subsidy_amount and asked of WeChat Pay before the split.
	SubsidyAmount json.RawMessage `json:"subsidy_amount,omitempty"`
}

// ReceiverRequest is one receiver of a split: amount (fen) or rate (a fraction of what
// the order holds when it is split, e.g. 0.05), never both.
type ReceiverRequest struct {
	Type        string          `json:"type"`
	Account     string          `json:"account"`
	Amount      json.RawMessage `json:"amount,omitempty"`
	Rate        json.RawMessage `json:"rate,omitempty"`
	Description string          `json:"description,omitempty"`
}

// SettleRequest is the optional body of POST /orders/{order_id}/settle.
type SettleRequest struct {
	// Receivers give the split decided later, or replace one that failed. An empty
	// list splits nothing: the order is finished, everything released to the
	// sub-merchant.
	Receivers *[]ReceiverRequest `json:"receivers,omitempty"`
}

// SettleView answers POST /orders/{order_id}/settle (and the subsidy routes).
type SettleView struct {
	OrderID       string       `json:"order_id"`
	SubMchID      string       `json:"sub_mchid,omitempty"`
	State         string       `json:"state"`
	ProfitSharing *SharingView `json:"profit_sharing,omitempty"`
	// SubOrders answer the settle of a combine: each sub-order settled.
	SubOrders []SettleView `json:"sub_orders,omitempty"`
	Error     *ErrorBody   `json:"error,omitempty"`
}

// SubsidyRequest is the body of POST /orders/{order_id}/subsidy (and of /cancel).
type SubsidyRequest struct {
	// Amount is the subsidy in fen: the sub-order's subsidy_amount when left out (less
	// only after a refund, naming it with out_refund_no).
	Amount      json.RawMessage `json:"amount,omitempty"`
	Description string          `json:"description,omitempty"`
	OutRefundNo string          `json:"out_refund_no,omitempty"`
}

// SubsidyReturnRequest is the body of POST /orders/{order_id}/subsidy/returns.
type SubsidyReturnRequest struct {
	OutRefundNo string          `json:"out_refund_no"`
	Amount      json.RawMessage `json:"amount"`
}

// ReceiverAddRequest is the body of POST /profitsharing/receivers.
type ReceiverAddRequest struct {
	Type    string `json:"type"`
	Account string `json:"account"`
	// Name is a MERCHANT_ID receiver's full name (商户全称), required by WeChat Pay.
	Name string `json:"name,omitempty"`
	// RelationType is the receiver's relation to the platform (SUPPLIER, DISTRIBUTOR,
	// SERVICE_PROVIDER, PLATFORM, OTHERS; a service provider's list is longer).
	RelationType string `json:"relation_type"`
	// SubMchID: a service provider's receivers belong to one sub-merchant.
	SubMchID string `json:"sub_mchid,omitempty"`
}

// SharingView is an order's profit sharing as GET /orders/{order_id} shows it.
type SharingView struct {
	// State sums it up: waiting_for_receivers (decided later), held (until hold_until
	// or the merchant's settle), due, splitting, finishing, finished, returning (a
	// refund waits for returns), stopped (a person must act: see problem).
	State     string          `json:"state"`
	API       string          `json:"api"`
	Receivers []ShareReceiver `json:"receivers,omitempty"`
	HoldUntil string          `json:"hold_until,omitempty"`
	SettledAt string          `json:"settled_at,omitempty"`
	// SharedOut is what the shares to others hold now (after returns); Room is what the
	// order holds for them (paid + subsidy − refunds − subsidy returned): SharedOut ≤ Room.
	SharedOut int64 `json:"shared_out"`
	Room      int64 `json:"room"`
	Returned  int64 `json:"returned,omitempty"`
	// Released is what the finish released to the sub-merchant (-1: WeChat Pay did not say).
	Released      *int64       `json:"released,omitempty"`
	SubsidyAmount int64        `json:"subsidy_amount,omitempty"`
	Subsidy       *SubsidyView `json:"subsidy,omitempty"`
	Splits        []SplitView  `json:"splits,omitempty"`
	Returns       []ReturnView `json:"returns,omitempty"`
	Finish        *FinishView  `json:"finish,omitempty"`
	HeldRefunds   []HeldRefund `json:"held_refunds,omitempty"`
	NextStep      string       `json:"next_step,omitempty"`
	NextAt        string       `json:"next_at,omitempty"`
	Problem       string       `json:"problem,omitempty"`
	HoldProblem   string       `json:"hold_problem,omitempty"`
}

// ShareReceiver is a receiver of the order's split: amount (fen) or rate (a fraction of
// what the order holds, as asked for: 0.05 is 5 %).
type ShareReceiver struct {
	Type        string `json:"type"` // MERCHANT_ID, PERSONAL_OPENID, PERSONAL_SUB_OPENID (partner)
	Account     string `json:"account"`
	Amount      int64  `json:"amount,omitempty"`
	Rate        Ratio  `json:"rate,omitempty"`
	Description string `json:"description"`
}

// RatioUnit is what a Ratio of 1 (100 %) holds: rates are kept in 1/10000, WeChat Pay's
// finest (4 decimals).
const RatioUnit = 10000

// Ratio is a rate in 1/10000, written and read in JSON as the fraction a merchant sends
// (500 is 0.05): GET /orders/{order_id} showed the plan's 0.05 as "rate":500, which
// reads as fifty thousand per cent.
type Ratio int64

// MarshalJSON writes r as a decimal fraction with at most 4 decimals, exactly.
func (r Ratio) MarshalJSON() ([]byte, error) {
	n := int64(r)
	sign := ""
	if n < 0 {
		sign, n = "-", -n
	}
	s := fmt.Sprintf("%s%d", sign, n/RatioUnit)
	if frac := n % RatioUnit; frac != 0 {
		s += "." + strings.TrimRight(fmt.Sprintf("%04d", frac), "0")
	}
	return []byte(s), nil
}

// UnmarshalJSON reads a decimal fraction of at most 4 decimals (0.05, 1, 0.0005),
// exactly: no float rounding.
func (r *Ratio) UnmarshalJSON(b []byte) error {
	s := strings.TrimSpace(string(b))
	if s == "null" {
		return nil
	}
	neg := strings.HasPrefix(s, "-")
	whole, frac, _ := strings.Cut(strings.TrimPrefix(s, "-"), ".")
	if whole == "" || len(frac) > 4 || strings.Trim(whole+frac, "0123456789") != "" || len(whole) > 12 {
		return fmt.Errorf("orderapi: rate %.20s is not a fraction with at most 4 decimals", s)
	}
	var n int64
	for _, c := range whole {
		n = n*10 + int64(c-'0')
	}
	n *= RatioUnit
	scale := int64(RatioUnit / 10)
	for _, c := range frac {
		n += int64(c-'0') * scale
		scale /= 10
	}
	if neg {
		n = -n
	}
	*r = Ratio(n)
	return nil
}

// HeldRefund is a refund of a shared order waiting for its shares to come back.
type HeldRefund struct {
	OutRefundNo string    `json:"out_refund_no"`
	Amount      int64     `json:"amount"`
	At          time.Time `json:"at"`
}

// SplitView is one split.
type SplitView struct {
	OutOrderNo   string              `json:"out_order_no"`
	ShareOrderID string              `json:"share_order_id,omitempty"`
	State        string              `json:"state"`
	Amount       int64               `json:"amount"`
	Receivers    []SplitReceiverView `json:"receivers"`
	Reason       string              `json:"reason,omitempty"`
}

// SplitReceiverView is one receiver's share in a split.
type SplitReceiverView struct {
	Type       string `json:"type"`
	Account    string `json:"account"`
	Amount     int64  `json:"amount"`
	Result     string `json:"result"`
	FailReason string `json:"fail_reason,omitempty"`
	FinishTime string `json:"finish_time,omitempty"`
}

// ReturnView is one return (分账回退).
type ReturnView struct {
	OutReturnNo string `json:"out_return_no"`
	OutOrderNo  string `json:"out_order_no"`
	ReturnMchID string `json:"return_mchid"`
	Amount      int64  `json:"amount"`
	State       string `json:"state"`
	FailReason  string `json:"fail_reason,omitempty"`
	OutRefundNo string `json:"out_refund_no,omitempty"`
}

// FinishView is the finish (完结分账).
type FinishView struct {
	OutOrderNo string `json:"out_order_no"`
	State      string `json:"state"`
	Amount     int64  `json:"amount"`
	Reason     string `json:"reason,omitempty"`
}

// SubsidyView is the subsidy (补差) and its returns.
type SubsidyView struct {
	OutSubsidyNo string              `json:"out_subsidy_no"`
	Amount       int64               `json:"amount"`
	State        string              `json:"state"`
	SubsidyID    string              `json:"subsidy_id,omitempty"`
	Returns      []SubsidyReturnView `json:"returns,omitempty"`
}

// SubsidyReturnView is one subsidy return.
type SubsidyReturnView struct {
	OutOrderNo  string `json:"out_order_no"`
	OutRefundNo string `json:"out_refund_no"`
	Amount      int64  `json:"amount"`
	State       string `json:"state"`
}
