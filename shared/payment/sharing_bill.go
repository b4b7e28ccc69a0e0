package payment

// The sub-merchants' fund bills against the ledger (billfetch's fund bill pass). Every
// money movement of an order's sharing is a line of WeChat Pay's fund bill of the day
// it happened (二级商户资金账单: 分账/分账, 分账/分账回退, 补差/补差, 补差/补差回退), except the
// release of a finish, which moves money inside the sub-merchant's account and writes
// no line. So: each line the bill lists is noted on its movement here (NoteFundLine);
// what is left unnoted of a day is missing from the bill; the release is checked by
// arithmetic — WeChat Pay releases the payment less its fee (the bill's 扣除交易手续费
// line, noted too), plus the subsidy, less what was shared, refunded and subsidy-returned
// when the finish was asked (finishSnapshot). Without scanning: an order with unnoted
// movements waits in the passive listing FundBillDayIndex of its first unnoted day.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/paysls/wxpay/shared/clock"
	"github.com/paysls/wxpay/shared/store"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// FundBillDayIndex is the passive listing of the orders whose sharing moved money on
// day (UTC+8) under platform mchid and whose fund bill has not listed it yet.
func FundBillDayIndex(mchid string, day time.Time) string {
	return BillDayPrefix + "fund_" + strings.ToLower(mchid) + "_" + day.In(clock.CST).Format("20060102")
}

// Fund movement kinds, as the bill's 业务类型 names them.
const (
	FundShare         = "share"          // 分账/分账: a share out to another receiver
	FundReturn        = "return"         // 分账/分账回退: a return in
	FundSubsidy       = "subsidy"        // 补差/补差
	FundSubsidyReturn = "subsidy_return" // 补差/补差回退
	FundFee           = "fee"            // 交易/扣除交易手续费 (noted for the release check)
	fundRelease       = "release"        // a finish: no line
)

// fundMovement is one movement of an order's sharing, for the fund bill.
type fundMovement struct {
	Kind   string    `json:"kind"`
	No     string    `json:"no"`     // the merchant number: split, return, subsidy, subsidy return, finish
	Amount int64     `json:"amount"` // fen, signed as the bill books it for the sub-merchant
	At     time.Time `json:"at"`
	Bill   string    `json:"bill,omitempty"`
}

func wxTime(s string, fallback time.Time) time.Time {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC()
	}
	return fallback
}

// fundMovements lists the order's movements a fund bill books, oldest first.
func (o *Order) fundMovements() []fundMovement {
	s := o.Sharing
	if s == nil {
		return nil
	}
	var out []fundMovement
	for _, sp := range s.Splits {
		for _, r := range sp.Receivers {
			if r.Result == wechatpay.ShareResultSuccess && r.Account != o.Owner {
				out = append(out, fundMovement{Kind: FundShare, No: sp.OutOrderNo, Amount: -r.Amount, At: wxTime(r.FinishTime, sp.At), Bill: r.Bill})
			}
		}
	}
	for _, r := range s.Returns {
		if r.State == wechatpay.ReturnSuccess {
			out = append(out, fundMovement{Kind: FundReturn, No: r.OutReturnNo, Amount: r.Amount, At: wxTime(r.FinishTime, r.At), Bill: r.Bill})
		}
	}
	if sub := s.Subsidy; sub != nil && sub.State == wechatpay.SubsidySuccess {
		out = append(out, fundMovement{Kind: FundSubsidy, No: sub.OutSubsidyNo, Amount: sub.Amount, At: wxTime(sub.SuccessTime, sub.At), Bill: sub.Bill})
		for _, r := range sub.Returns {
			if r.State == wechatpay.SubsidySuccess {
				out = append(out, fundMovement{Kind: FundSubsidyReturn, No: r.OutOrderNo, Amount: -r.Amount, At: wxTime(r.SuccessTime, r.At), Bill: r.Bill})
			}
		}
	}
	if f := s.Finish; f != nil && f.State == wechatpay.ShareFinished {
		out = append(out, fundMovement{Kind: fundRelease, No: f.OutOrderNo, Amount: f.Amount, At: f.FinishedAt, Bill: f.Checked})
	}
	return out
}

// fundUnseen reports whether an e-commerce order has a movement no fund bill listed.
func (o *Order) fundUnseen() bool {
	if o.Sharing == nil || o.Sharing.API != ShareAPIEcommerce || o.Payment == nil {
		return false
	}
	for _, m := range o.fundMovements() {
		if m.Bill == "" {
			return true
		}
	}
	return false
}

func (o *Order) fundSchedule() (string, time.Time) {
	var first time.Time
	for _, m := range o.fundMovements() {
		if m.Bill == "" && (first.IsZero() || m.At.Before(first)) {
			first = m.At
		}
	}
	return FundBillDayIndex(o.Payment.MchID, first), first
}

// FundLine is one line of a sub-merchant fund bill, as billfetch read it.
type FundLine struct {
	Kind   string // FundShare, FundReturn, FundSubsidy, FundSubsidyReturn, FundFee
	Owner  string // the sub-merchant (二级商户号)
	No     string // 业务凭证号: the merchant number (out_trade_no for the fee)
	Amount int64  // fen, as the line books it (unsigned)
	Date   string // the bill date, YYYY-MM-DD
	Note   string // 备注: a share's description
}

// fundVerdict is how a fund bill line compares with the ledger.
type fundVerdict string

// Verdicts.
const (
	FundMatched    fundVerdict = "matched"       // noted (or noted before: a re-run)
	FundUnknown    fundVerdict = "unknown"       // no such order or number here
	FundAmount     fundVerdict = "amount"        // the number is known with another amount
	FundState      fundVerdict = "state"         // known, but not a success here (or every such line already noted)
	FundIrrelevant fundVerdict = "not_sharing"   // a fee line of an order without sharing
	FundNoted      fundVerdict = "noted_earlier" // the line was noted on another bill date
)

// NoteFundLine compares one fund bill line with its order and notes it on the movement
// (or, for the fee, on the order): the verdict says how it compared; ours is the
// ledger's side for a report. One read, and one write when something is noted.
func (l *Ledger) NoteFundLine(ctx context.Context, ln FundLine) (fundVerdict, string, error) {
	tradeNo, kind := ln.No, ""
	if ln.Kind != FundFee {
		var ok bool
		if tradeNo, kind, ok = ParseShareNo(ln.No); !ok {
			return FundUnknown, "", nil
		}
	}
	want := map[string]string{FundShare: NoSplit, FundReturn: noReturn, FundSubsidy: noSubsidy, FundSubsidyReturn: noSubsidyReturn, FundFee: ""}[ln.Kind]
	if kind != want {
		return FundUnknown, "", nil
	}
	rec, err := l.Store.Get(ctx, OrderKey(ln.Owner, tradeNo))
	if errors.Is(err, store.ErrNotFound) {
		return FundUnknown, "", nil
	}
	if err != nil {
		return "", "", fmt.Errorf("payment: read %s: %w", OrderKey(ln.Owner, tradeNo), err)
	}
	o, err := OrderOf(rec)
	if err != nil {
		return "", "", err
	}
	if o.Sharing == nil {
		if ln.Kind == FundFee {
			return FundIrrelevant, "", nil
		}
		return FundUnknown, "", nil
	}
	var verdict fundVerdict
	var ours string
	_, err = l.onShare(ctx, o, func(o *Order, s *Sharing, now time.Time) (step, error) {
		verdict, ours = noteFund(o, s, ln)
		if verdict != FundMatched || ours == "noted" {
			return step{outcome: Duplicate}, nil
		}
		return step{outcome: Applied}, nil
	})
	if ours == "noted" {
		ours = ""
	}
	return verdict, ours, err
}

// noteFund notes ln on s; ours "noted" means it was noted before (no write).
func noteFund(o *Order, s *Sharing, ln FundLine) (fundVerdict, string) {
	mark := func(bill *string, amount int64, state string, ok bool) (fundVerdict, string) {
		switch {
		case !ok:
			return FundState, state
		case amount != ln.Amount:
			return FundAmount, fmt.Sprintf("%s %d fen", state, amount)
		case *bill == ln.Date:
			return FundMatched, "noted"
		case *bill != "":
			return FundNoted, "listed on " + *bill
		}
		*bill = ln.Date
		return FundMatched, ""
	}
	switch ln.Kind {
	case FundFee:
		if s.FeeSeen {
			if s.Fee != ln.Amount {
				return FundAmount, fmt.Sprintf("fee %d fen noted before", s.Fee)
			}
			return FundMatched, "noted"
		}
		s.Fee, s.FeeSeen = ln.Amount, true
		return FundMatched, ""
	case FundShare:
		sp := s.splitLine(ln.No)
		if sp == nil {
			return FundUnknown, ""
		}
		// One line per receiver: an unlisted success of that amount (its description,
		// the line's 备注, first), else one listed on this date already (a re-run).
		var free, noted, other *SplitReceiver
		for i := range sp.Receivers {
			r := &sp.Receivers[i]
			switch {
			case r.Account == o.Owner || r.Result != wechatpay.ShareResultSuccess:
			case r.Amount == ln.Amount && r.Bill == "" && (free == nil || r.Description == ln.Note && free.Description != ln.Note):
				free = r
			case r.Amount == ln.Amount && r.Bill == ln.Date:
				noted = r
			case r.Bill == "" && other == nil:
				other = r
			}
		}
		switch {
		case free != nil:
			free.Bill = ln.Date
			return FundMatched, ""
		case noted != nil:
			return FundMatched, "noted"
		case other != nil:
			return FundAmount, fmt.Sprintf("share to %s of %d fen", other.Account, other.Amount)
		}
		return FundState, "split " + sp.State + ", no success of that amount left to list"
	case FundReturn:
		r := s.returnLine(ln.No)
		if r == nil {
			return FundUnknown, ""
		}
		return mark(&r.Bill, r.Amount, "return "+r.State, r.State == wechatpay.ReturnSuccess)
	case FundSubsidy:
		sub := s.Subsidy
		if sub == nil || sub.OutSubsidyNo != ln.No {
			return FundUnknown, ""
		}
		return mark(&sub.Bill, sub.Amount, "subsidy "+sub.State, sub.State == wechatpay.SubsidySuccess)
	case FundSubsidyReturn:
		r := s.subsidyReturn(ln.No)
		if r == nil {
			return FundUnknown, ""
		}
		return mark(&r.Bill, r.Amount, "subsidy return "+r.State, r.State == wechatpay.SubsidySuccess)
	}
	return FundUnknown, ""
}

// fundDayCheck is what the end of a day's fund bill found on one listed order.
type fundDayCheck struct {
	Order *Order
	// Missing are the day's movements the bill did not list.
	Missing []fundMovement
	// Release: the finish of the day, with what the ledger expected it to release
	// (Expected, -1 when WeChat Pay's fee is unknown: the payment's fund bill was not
	// read) and what WeChat Pay said it released (Released, -1 when not said).
	Release            bool
	Expected, Released int64
}

// CheckFundDay checks an order the day's listing held after its fund bill was read:
// the day's movements still unnoted are missing from the bill; the day's release is
// checked by arithmetic and, when it agrees, noted (a release that disagrees, or
// cannot be checked, stays listed and is reported again by a re-run).
func (l *Ledger) CheckFundDay(ctx context.Context, rec store.Record, date string) (fundDayCheck, error) {
	o, err := OrderOf(rec)
	if err != nil || o.Sharing == nil {
		return fundDayCheck{}, err
	}
	day, err := time.ParseInLocation(time.DateOnly, date, clock.CST)
	if err != nil {
		return fundDayCheck{}, invalid("date %q", date)
	}
	end := day.AddDate(0, 0, 1)
	in := func(t time.Time) bool { return !t.Before(day) && t.Before(end) }
	out := fundDayCheck{Order: o}
	for _, m := range o.fundMovements() {
		if m.Bill != "" || !in(m.At) {
			continue
		}
		if m.Kind != fundRelease {
			out.Missing = append(out.Missing, m)
			continue
		}
		f := o.Sharing.Finish
		out.Release, out.Released, out.Expected = true, f.Amount, -1
		if o.Sharing.FeeSeen {
			sn := f.Snapshot
			out.Expected = max(0, sn.Paid-o.Sharing.Fee+sn.Subsidy-sn.Shared-sn.Refunded-sn.SubsidyReturned)
		}
	}
	if !out.Release || out.Expected < 0 || out.Expected != out.Released {
		return out, nil
	}
	res, err := l.onShare(ctx, o, func(o *Order, s *Sharing, now time.Time) (step, error) {
		if s.Finish == nil || s.Finish.Checked != "" {
			return step{outcome: Duplicate}, nil
		}
		s.Finish.Checked = date
		return step{outcome: Applied}, nil
	})
	if err == nil && res.Order != nil {
		out.Order = res.Order
	}
	return out, err
}
