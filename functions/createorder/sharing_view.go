package createorder

import (
	"time"

	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/platform"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// SharingView is an order's profit sharing as GET /orders/{order_id} shows it.
type SharingView struct {
	// State sums it up: waiting_for_receivers (decided later), held (until hold_until
	// or the merchant's settle), due, splitting, finishing, finished, returning (a
	// refund waits for returns), stopped (a person must act: see problem).
	State     string                  `json:"state"`
	API       string                  `json:"api"`
	Receivers []payment.ShareReceiver `json:"receivers,omitempty"`
	HoldUntil string                  `json:"hold_until,omitempty"`
	SettledAt string                  `json:"settled_at,omitempty"`
	// SharedOut is what the shares to others hold now (after returns); Room is what the
	// order holds for them (paid + subsidy − refunds − subsidy returned): SharedOut ≤ Room.
	SharedOut int64 `json:"shared_out"`
	Room      int64 `json:"room"`
	Returned  int64 `json:"returned,omitempty"`
	// Released is what the finish released to the sub-merchant (-1: WeChat Pay did not say).
	Released      *int64               `json:"released,omitempty"`
	SubsidyAmount int64                `json:"subsidy_amount,omitempty"`
	Subsidy       *SubsidyView         `json:"subsidy,omitempty"`
	Splits        []SplitView          `json:"splits,omitempty"`
	Returns       []ReturnView         `json:"returns,omitempty"`
	Finish        *FinishView          `json:"finish,omitempty"`
	HeldRefunds   []payment.HeldRefund `json:"held_refunds,omitempty"`
	NextStep      string               `json:"next_step,omitempty"`
	NextAt        string               `json:"next_at,omitempty"`
	Problem       string               `json:"problem,omitempty"`
	HoldProblem   string               `json:"hold_problem,omitempty"`
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

// sharingView is o's sharing as the API shows it (nil when the order is not shared).
func sharingView(o *payment.Order, now time.Time) *SharingView {
	s := o.Sharing
	if s == nil {
		return nil
	}
	v := &SharingView{API: s.API, Receivers: s.Receivers, SharedOut: o.SharedOut(), Room: o.ShareRoom(), Returned: s.Returned(),
		SubsidyAmount: s.SubsidyAmount, HeldRefunds: s.Held, Problem: s.Problem, HoldProblem: s.HoldProblem}
	if !s.HoldUntil.IsZero() {
		v.HoldUntil = wechatpay.FormatTime(s.HoldUntil)
	}
	if !s.SettledAt.IsZero() {
		v.SettledAt = wechatpay.FormatTime(s.SettledAt)
	}
	for _, sp := range s.Splits {
		sv := SplitView{OutOrderNo: sp.OutOrderNo, ShareOrderID: sp.OrderID, State: sp.State, Reason: sp.Reason}
		for _, r := range sp.Receivers {
			sv.Amount += r.Amount
			sv.Receivers = append(sv.Receivers, SplitReceiverView{Type: r.Type, Account: r.Account, Amount: r.Amount, Result: r.Result, FailReason: r.FailReason, FinishTime: r.FinishTime})
		}
		v.Splits = append(v.Splits, sv)
	}
	for _, r := range s.Returns {
		v.Returns = append(v.Returns, ReturnView{OutReturnNo: r.OutReturnNo, OutOrderNo: r.OutOrderNo, ReturnMchID: r.ReturnMchID, Amount: r.Amount,
			State: r.State, FailReason: r.FailReason, OutRefundNo: r.Refund})
	}
	if f := s.Finish; f != nil {
		v.Finish = &FinishView{OutOrderNo: f.OutOrderNo, State: f.State, Amount: f.Amount, Reason: f.Reason}
		if f.State == wechatpay.ShareFinished {
			v.Released = &f.Amount
		}
	}
	if sub := s.Subsidy; sub != nil {
		sv := &SubsidyView{OutSubsidyNo: sub.OutSubsidyNo, Amount: sub.Amount, State: sub.State, SubsidyID: sub.SubsidyID}
		if sub.Cancel && sub.State == payment.SharePending {
			sv.State = "CANCEL_PENDING"
		}
		for _, r := range sub.Returns {
			sv.Returns = append(sv.Returns, SubsidyReturnView{OutOrderNo: r.OutOrderNo, OutRefundNo: r.OutRefundNo, Amount: r.Amount, State: r.State})
		}
		v.Subsidy = sv
	}
	act, at := o.NextShare(now)
	if act != payment.ActNone {
		v.NextStep = string(act)
		if !at.IsZero() {
			v.NextAt = wechatpay.FormatTime(at)
		}
	}
	v.State = sharingState(o, act, at, now)
	return v
}

func sharingState(o *payment.Order, act payment.ShareAction, at, now time.Time) string {
	s := o.Sharing
	switch {
	case len(s.Held) > 0:
		return "returning"
	case s.Finish != nil && s.Finish.State == wechatpay.ShareFinished:
		return "finished"
	case s.Problem != "":
		return "stopped"
	case act == payment.ActQuerySplit:
		return "splitting"
	case act == payment.ActQueryFinish || act == payment.ActFinish:
		return "finishing"
	case !s.Planned:
		return "waiting_for_receivers"
	case act != payment.ActNone && at.After(now) && !s.HoldUntil.IsZero() && s.SettledAt.IsZero():
		return "held"
	case act != payment.ActNone:
		return "due"
	case !o.Paid():
		return "waiting_for_payment"
	}
	return "idle"
}

// platformReceiver is a receiver for shared/platform's receivers API.
func platformReceiver(scope, typ, account, name, relation string) platform.ReceiverInput {
	in := platform.ReceiverInput{Type: typ, Account: account, Name: name, RelationType: relation}
	if scope != payment.ShareAPIEcommerce {
		in.SubMchID = scope
	}
	return in
}
