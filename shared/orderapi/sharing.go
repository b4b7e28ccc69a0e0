package orderapi

import "encoding/json"

// SharingView is an order's profit sharing (分账) and subsidy (补差) as GET
// /orders/{order_id} shows it (createorder.SharingView): its state (waiting_for_receivers,
// held, due, splitting, finishing, finished, returning, stopped), what the shares to
// others hold against what the order holds (SharedOut ≤ Room), and every split, return,
// finish and subsidy line, kept raw here.
type SharingView struct {
	State         string          `json:"state"`
	API           string          `json:"api"`
	Receivers     json.RawMessage `json:"receivers,omitempty"`
	HoldUntil     string          `json:"hold_until,omitempty"`
	SettledAt     string          `json:"settled_at,omitempty"`
	SharedOut     int64           `json:"shared_out"`
	Room          int64           `json:"room"`
	Returned      int64           `json:"returned,omitempty"`
	Released      *int64          `json:"released,omitempty"`
	SubsidyAmount int64           `json:"subsidy_amount,omitempty"`
	Subsidy       json.RawMessage `json:"subsidy,omitempty"`
	Splits        json.RawMessage `json:"splits,omitempty"`
	Returns       json.RawMessage `json:"returns,omitempty"`
	Finish        json.RawMessage `json:"finish,omitempty"`
	HeldRefunds   json.RawMessage `json:"held_refunds,omitempty"`
	NextStep      string          `json:"next_step,omitempty"`
	NextAt        string          `json:"next_at,omitempty"`
	Problem       string          `json:"problem,omitempty"`
	HoldProblem   string          `json:"hold_problem,omitempty"`
}
