package createorder

import (
	"time"

	"github.com/paysls/wxpay/shared/orderapi"
	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/platform"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// The view's rates are the ledger's, in the same unit (a negative constant does not
// convert to uint: this fails to compile if the two ever differ).
const _ = uint(payment.RatioUnit-orderapi.RatioUnit) + uint(orderapi.RatioUnit-payment.RatioUnit)

// sharingView is o's sharing as the API shows it (nil when the order is not shared).
func sharingView(o *payment.Order, now time.Time) *orderapi.SharingView {
	s := o.Sharing
	if s == nil {
		return nil
	}
	v := &orderapi.SharingView{API: s.API, SharedOut: o.SharedOut(), Room: o.ShareRoom(), Returned: s.Returned(),
		SubsidyAmount: s.SubsidyAmount, Problem: s.Problem, HoldProblem: s.HoldProblem}
	for _, r := range s.Receivers {
		v.Receivers = append(v.Receivers, orderapi.ShareReceiver{Type: r.Type, Account: r.Account, Amount: r.Amount, Rate: orderapi.Ratio(r.Rate), Description: r.Description})
	}
	for _, hr := range s.Held {
		v.HeldRefunds = append(v.HeldRefunds, orderapi.HeldRefund(hr))
	}
	if !s.HoldUntil.IsZero() {
		v.HoldUntil = wechatpay.FormatTime(s.HoldUntil)
	}
	if !s.SettledAt.IsZero() {
		v.SettledAt = wechatpay.FormatTime(s.SettledAt)
	}
	for _, sp := range s.Splits {
		sv := orderapi.SplitView{OutOrderNo: sp.OutOrderNo, ShareOrderID: sp.OrderID, State: sp.State, Reason: sp.Reason}
		for _, r := range sp.Receivers {
			sv.Amount += r.Amount
			sv.Receivers = append(sv.Receivers, orderapi.SplitReceiverView{Type: r.Type, Account: r.Account, Amount: r.Amount, Result: r.Result, FailReason: r.FailReason, FinishTime: r.FinishTime})
		}
		v.Splits = append(v.Splits, sv)
	}
	for _, r := range s.Returns {
		v.Returns = append(v.Returns, orderapi.ReturnView{OutReturnNo: r.OutReturnNo, OutOrderNo: r.OutOrderNo, ReturnMchID: r.ReturnMchID, Amount: r.Amount,
			State: r.State, FailReason: r.FailReason, OutRefundNo: r.Refund})
	}
	if f := s.Finish; f != nil {
		v.Finish = &orderapi.FinishView{OutOrderNo: f.OutOrderNo, State: f.State, Amount: f.Amount, Reason: f.Reason}
		if f.State == wechatpay.ShareFinished {
			v.Released = &f.Amount
		}
	}
	if sub := s.Subsidy; sub != nil {
		sv := &orderapi.SubsidyView{OutSubsidyNo: sub.OutSubsidyNo, Amount: sub.Amount, State: sub.State, SubsidyID: sub.SubsidyID}
		if sub.Cancel && sub.State == payment.SharePending {
			sv.State = "CANCEL_PENDING"
		}
		for _, r := range sub.Returns {
			sv.Returns = append(sv.Returns, orderapi.SubsidyReturnView{OutOrderNo: r.OutOrderNo, OutRefundNo: r.OutRefundNo, Amount: r.Amount, State: r.State})
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
