package payment

// The transitions of an order's profit sharing and subsidy (sharing.go has the model):
// each is one read (or the record the caller holds), a pure decision over the typed
// order, and one write conditioned on the version read, carrying its merchant event;
// a lost race decides again on the record the failed write handed back, and a repeat
// of something known writes nothing.

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/paysls/wxpay/shared/events"
	"github.com/paysls/wxpay/shared/store"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// Errors of the sharing transitions (the order API turns them into {code,message,hint}).
var (
	ErrNotShared     = errors.New("payment: the order was not placed for profit sharing")
	ErrNotPaid       = errors.New("payment: the order is not paid")
	ErrOrderClosed   = errors.New("payment: the order is closed")
	ErrShareBusy     = errors.New("payment: a split of the order is in progress")
	ErrShareFinished = errors.New("payment: the order's profit sharing is finished")
	ErrNoPlan        = errors.New("payment: the order's receivers are to be decided: give them with the settle")
	ErrShareStarted  = errors.New("payment: the order was already split")
	ErrSubsidy       = errors.New("payment: the subsidy cannot be changed so")
)

// followUp is when something in flight at WeChat Pay is queried next: at once the
// first time (WeChat Pay settles most splits within seconds: the same run asks), then
// less and less often.
func followUp(now time.Time, tries int) time.Time {
	steps := []time.Duration{0, time.Minute, 2 * time.Minute, 5 * time.Minute, 15 * time.Minute, time.Hour}
	if tries < len(steps) {
		return now.Add(steps[tries])
	}
	return now.Add(6 * time.Hour)
}

// backoff is when a step that failed (a return refused for the receiver's balance, a
// transient error) is tried again: an hour, doubling to a day.
func backoff(now time.Time, tries int) time.Time {
	d := time.Hour << min(tries, 5)
	return now.Add(min(d, 24*time.Hour))
}

// onShare runs a sharing transition on o (re-read and re-decided on a lost race).
func (l *Ledger) onShare(ctx context.Context, o *Order, decide func(o *Order, s *Sharing, now time.Time) (step, error)) (Result, error) {
	raw := o.raw
	var have = &raw
	if raw.Key == "" {
		have = nil
	}
	now := l.now()
	return onOrder(l, ctx, o.Key(), have, func(cur *Order, exists bool) (step, error) {
		if !exists {
			return step{}, fmt.Errorf("payment: order %s: %w", o.OutTradeNo, ErrNotFound)
		}
		if cur.Sharing == nil {
			return step{}, ErrNotShared
		}
		return decide(cur, cur.Sharing, now)
	})
}

// SettleRequest is the merchant confirming an order for profit sharing (POST
// /orders/{id}/settle): the hold ends; Plan, when set, gives the receivers decided
// later (or replaces a plan that failed).
type SettleRequest struct {
	Plan      bool
	Receivers []ShareReceiver
}

// Settle ends o's hold and, with a plan, sets its receivers. Refused (typed errors)
// for an order not placed for sharing, closed, unpaid or in review, one whose split is
// in progress or done, and a plan that differs from the one set (unless that one
// failed). Settling again as before writes nothing.
func (l *Ledger) Settle(ctx context.Context, o *Order, req SettleRequest) (Result, error) {
	return l.onShare(ctx, o, func(o *Order, s *Sharing, now time.Time) (step, error) {
		switch {
		case o.Closed():
			return step{}, fmt.Errorf("%w (state %s): a closed order holds no money to share", ErrOrderClosed, o.State)
		case o.InReview():
			return step{}, fmt.Errorf("%w (%s)", ErrInReview, o.Review.Reason())
		case !o.Paid():
			return step{}, fmt.Errorf("%w (state %s): it can be settled once paid", ErrNotPaid, o.Status())
		case s.finished() || s.Finish != nil:
			if !req.Plan {
				return step{outcome: Duplicate}, nil // nothing is left to hold back
			}
			return step{}, ErrShareFinished
		case s.splitInFlight() != nil:
			return step{}, ErrShareBusy
		}
		if req.Plan {
			if err := ValidatePlan(s.API, req.Receivers, o.Payment.Amount, s.SubsidyAmount); err != nil {
				return step{}, err
			}
			_, closed := s.splitOutcome()
			failed := closed || s.Problem != "" || len(s.Splits) > 0 && s.Splits[len(s.Splits)-1].State == ShareFailed
			switch {
			case s.Planned && slices.Equal(s.Receivers, req.Receivers) && !s.SettledAt.IsZero() && !failed:
				return step{outcome: Duplicate}, nil
			case len(s.Splits) > s.PlanFrom && !failed: // the current plan was split already
				return step{}, ErrShareStarted
			}
			s.Receivers, s.Planned, s.PlanFrom = req.Receivers, true, len(s.Splits)
		} else {
			switch {
			case !s.Planned:
				return step{}, ErrNoPlan
			case !s.SettledAt.IsZero() && s.Problem == "":
				return step{outcome: Duplicate}, nil
			}
		}
		if s.SettledAt.IsZero() {
			s.SettledAt = now
		}
		s.Problem, s.RetryAt, s.Tries = "", time.Time{}, 0
		return step{outcome: Applied}, nil
	})
}

// Retry reschedules o's sharing after a transient failure (a network error, WeChat
// Pay's SYSTEM_ERROR or FREQUENCY_LIMITED): at at, counting the try; problem, when
// set, is shown meanwhile.
func (l *Ledger) RetryShare(ctx context.Context, o *Order, at time.Time, problem string) (*Order, error) {
	res, err := l.onShare(ctx, o, func(o *Order, s *Sharing, now time.Time) (step, error) {
		s.RetryAt, s.Tries = at, s.Tries+1
		if problem != "" {
			s.Problem = problem
		}
		return step{outcome: Applied}, nil
	})
	return res.Order, err
}

// ReserveSplit records the planned split before WeChat Pay is asked: its receivers'
// amounts from the plan and what the order holds now, PENDING under the next
// out_order_no. A split that would take the shares above what the order holds, or a
// 51st split, is recorded FAILED instead (profitsharing.failed) and never sent. The
// answer is the order and the split line (nil when nothing was to be split).
func (l *Ledger) ReserveSplit(ctx context.Context, o *Order) (*Order, *SplitLine, error) {
	var line *SplitLine
	res, err := l.onShare(ctx, o, func(o *Order, s *Sharing, now time.Time) (step, error) {
		line = nil
		if act, _ := o.NextShare(now); act != ActSplit {
			if cur := s.splitInFlight(); cur != nil {
				c := *cur
				line = &c
			}
			return step{outcome: Duplicate}, nil
		}
		room := o.ShareRoom()
		rs := s.planned(room)
		no := ShareNo(o.OutTradeNo, NoSplit, len(s.Splits)+1)
		sp := SplitLine{OutOrderNo: no, State: SharePending, Receivers: rs, At: now}
		var others int64
		for _, r := range rs {
			if r.Account != o.Owner {
				others += r.Amount
			}
		}
		switch {
		case len(s.Splits) >= wechatpay.MaxSharesPerOrder:
			sp.State, sp.Reason = ShareFailed, fmt.Sprintf("an order takes at most %d splits (分账请求次数超过上限)", wechatpay.MaxSharesPerOrder)
		case o.SharedOut()+others > room || sumReceivers(rs) > room:
			sp.State, sp.Reason = ShareFailed, fmt.Sprintf("the shares (%d fen, %d to others, %d shared before) exceed the %d fen the order holds after its refunds: nothing was sent",
				sumReceivers(rs), others, o.SharedOut(), room)
		}
		s.Splits = append(s.Splits, sp)
		s.RetryAt, s.Tries = time.Time{}, 0
		c := sp
		line = &c
		if sp.State == ShareFailed {
			s.Problem = sp.Reason
			s.Splits[len(s.Splits)-1].Judged = ShareFailed
			ev := o.shareEvent(ShareFailed, sumReceivers(rs))
			ev.OutOrderNo, ev.Receivers, ev.Reason = no, rs, sp.Reason
			return step{outcome: Applied, events: []pendingEvent{{EventShareFailed, ev}}}, nil
		}
		return step{outcome: Applied}, nil
	})
	if err != nil {
		return nil, nil, err
	}
	return res.Order, line, nil
}

// ShareResult is WeChat Pay's answer about a split or a finish, in either API's shape
// (shared/platform turns the answers into it).
type ShareResult struct {
	OrderID      string          `json:"order_id,omitempty"` // WeChat Pay's number of the split
	State        string          `json:"state,omitempty"`    // PROCESSING, FINISHED (CLOSED: an older e-commerce answer, every share closed)
	Receivers    []SplitReceiver `json:"receivers,omitempty"`
	FinishAmount int64           `json:"finish_amount"` // a finish: what was released (-1: not said)
}

// ApplySplit records WeChat Pay's answer (create or query) about split outOrderNo of
// the order at key: each receiver's result; once the split is FINISHED, one event —
// profitsharing.succeeded when every share succeeded, profitsharing.failed when one
// was closed (the order then waits for a new plan: POST /orders/{id}/settle).
func (l *Ledger) ApplySplit(ctx context.Context, o *Order, outOrderNo string, res ShareResult) (*Order, Outcome, error) {
	r, err := l.onShare(ctx, o, func(o *Order, s *Sharing, now time.Time) (step, error) {
		if sp := s.splitLine(outOrderNo); sp != nil && (sp.State == SharePending || sp.State == wechatpay.ShareProcessing) {
			if kind, detail, amount := splitAnswerConflict(o, sp, res); kind != "" { // sharing_notice.go
				causes := len(o.Review.Causes)
				st, err := o.keepShareAnswer(kind, detail, shareAnswer{Kind: "split", OutOrderNo: outOrderNo, Split: &res}, amount, now)
				if err == nil {
					sp.note(o, causes, res.State == wechatpay.ShareFinished || res.State == wechatpay.ShareClosed)
				}
				return st, err
			}
		}
		return decideSplit(o, s, outOrderNo, res, now), nil
	})
	return r.Order, r.Outcome, err
}

func decideSplit(o *Order, s *Sharing, outOrderNo string, res ShareResult, now time.Time) step {
	sp := s.splitLine(outOrderNo)
	if sp == nil || sp.State == ShareFailed || sp.State == wechatpay.ShareFinished {
		return step{outcome: Duplicate, reason: "split " + outOrderNo + " is not in flight here"}
	}
	changed := false
	if res.OrderID != "" && sp.OrderID != res.OrderID {
		sp.OrderID, changed = res.OrderID, true
	}
	for _, got := range res.Receivers {
		i := slices.IndexFunc(sp.Receivers, func(r SplitReceiver) bool {
			return r.Account == got.Account && r.Amount == got.Amount && (r.Result == SharePending || r.Result == wechatpay.ShareResultPending || r.Result == got.Result)
		})
		if i < 0 {
			continue
		}
		r := &sp.Receivers[i]
		if got.Result != "" && got.Result != r.Result && r.Result != wechatpay.ShareResultSuccess && r.Result != wechatpay.ShareResultClosed {
			r.Result, changed = got.Result, true
		}
		r.FailReason, r.DetailID = cmp.Or(got.FailReason, r.FailReason), cmp.Or(got.DetailID, r.DetailID)
		if got.FinishTime != "" && r.FinishTime != got.FinishTime {
			r.FinishTime, changed = got.FinishTime, true
		}
	}
	state := res.State
	if state == wechatpay.ShareClosed {
		state = wechatpay.ShareFinished
		for i := range sp.Receivers {
			if sp.Receivers[i].Result != wechatpay.ShareResultSuccess {
				sp.Receivers[i].Result, sp.Receivers[i].FailReason = wechatpay.ShareResultClosed, cmp.Or(sp.Receivers[i].FailReason, wechatpay.ShareCloseReasonNoAuth)
			}
		}
	}
	final := true
	for _, r := range sp.Receivers {
		if r.Result != wechatpay.ShareResultSuccess && r.Result != wechatpay.ShareResultClosed {
			final = false
		}
	}
	if state == wechatpay.ShareFinished && !final {
		// FINISHED with a receiver still pending cannot be: ask again.
		state = wechatpay.ShareProcessing
	}
	if state == "" && final {
		state = wechatpay.ShareFinished // every receiver has its result (notifications)
	}
	switch state {
	case wechatpay.ShareFinished:
		sp.State, s.RetryAt, s.Tries = wechatpay.ShareFinished, time.Time{}, 0
		ev := o.shareEvent(wechatpay.ShareFinished, sumReceivers(sp.Receivers))
		ev.OutOrderNo, ev.ShareOrderID, ev.Receivers = sp.OutOrderNo, sp.OrderID, sp.Receivers
		typ := EventShareSucceeded
		for _, r := range sp.Receivers {
			if r.Result == wechatpay.ShareResultClosed {
				typ = EventShareFailed
				ev.Reason = fmt.Sprintf("the share to %s %s was closed (%s); settle the order again with a new plan to split what is left", r.Type, r.Account, r.FailReason)
				s.Problem = ev.Reason
				break
			}
		}
		sp.Judged = wechatpay.ShareFinished
		return step{outcome: Applied, events: []pendingEvent{{typ, ev}}}
	default: // PROCESSING (or a PENDING answer without a state): follow it
		if sp.State == SharePending {
			sp.State, changed = wechatpay.ShareProcessing, true
		}
		if res.State == "" { // a notification: the follow-up schedule is the job's
			if !changed {
				return step{outcome: Duplicate}
			}
			return step{outcome: Applied}
		}
		s.RetryAt = followUp(now, s.Tries)
		s.Tries++
		return step{outcome: Applied}
	}
}

// RefuseShare records that WeChat Pay refused the request of item no (a split, return,
// finish, subsidy or subsidy return) for good: the item is FAILED with reason, its
// event recorded, and the order waits for a person (Problem). A transient refusal
// (retryAt set: "订单处理中,暂时无法分账" a minute after payment, a system error) keeps
// the item PENDING, to be asked again at retryAt.
func (l *Ledger) RefuseShare(ctx context.Context, o *Order, no, reason string, retryAt time.Time) (*Order, error) {
	res, err := l.onShare(ctx, o, func(o *Order, s *Sharing, now time.Time) (step, error) {
		_, kind, ok := ParseShareNo(no)
		if !ok {
			return step{}, invalid("%s is not a sharing number of this bundle", no)
		}
		if !retryAt.IsZero() {
			s.RetryAt, s.Tries = retryAt, s.Tries+1
			return step{outcome: Applied}, nil
		}
		return failItem(o, s, no, kind, "refused", reason, now), nil
	})
	return res.Order, err
}

// WithdrawShare records that item no (a split, return or finish reserved here) of an
// order in REVIEW never reached WeChat Pay — its query answered that no such record
// exists — and is not sent now: nothing new is asked of WeChat Pay until a person
// resolved the review. The item is FAILED as a refusal is, with its event, so that it
// no longer holds shares or keeps the order on the sharing schedule; a split withdrawn
// waits for the merchant's settle, a return is reserved again once the review is
// resolved. Outside REVIEW (or once the item is answered) it writes nothing: the job
// then asks WeChat Pay again, the number making that idempotent.
func (l *Ledger) WithdrawShare(ctx context.Context, o *Order, no string) (*Order, error) {
	res, err := l.onShare(ctx, o, func(o *Order, s *Sharing, now time.Time) (step, error) {
		_, kind, ok := ParseShareNo(no)
		if !ok {
			return step{}, invalid("%s is not a sharing number of this bundle", no)
		}
		if !o.InReview() {
			return step{outcome: Duplicate, reason: "the order is not in review: " + no + " is asked again"}, nil
		}
		return failItem(o, s, no, kind, "withdrawn", "WeChat Pay never received it, and nothing is sent while the order is in REVIEW ("+o.Review.Reason()+")", now), nil
	})
	return res.Order, err
}

// failItem marks PENDING item no FAILED (how says "refused" or "withdrawn", for people)
// with its event; an item not PENDING is left as it is.
func failItem(o *Order, s *Sharing, no, kind, how, reason string, now time.Time) step {
	ev := o.shareEvent(ShareFailed, 0)
	ev.Reason = reason
	var typ string
	switch kind {
	case NoSplit:
		sp := s.splitLine(no)
		if sp == nil || sp.State != SharePending {
			return step{outcome: Duplicate}
		}
		sp.State, sp.Reason, sp.Judged = ShareFailed, reason, ShareFailed
		ev.OutOrderNo, ev.Receivers, ev.Amount, typ = no, sp.Receivers, sumReceivers(sp.Receivers), EventShareFailed
		s.Problem = "split " + no + " " + how + ": " + reason
	case noFinish:
		if s.Finish == nil || s.Finish.State != SharePending {
			return step{outcome: Duplicate}
		}
		s.Finish.State, s.Finish.Reason, s.Finish.Judged = ShareFailed, reason, ShareFailed
		ev.OutOrderNo, typ = no, eventShareFinishFail
		s.Problem = "finish " + no + " " + how + ": " + reason
	case noReturn:
		r := s.returnLine(no)
		if r == nil || r.State != SharePending {
			return step{outcome: Duplicate}
		}
		r.State, r.FailReason, r.Judged = ShareFailed, reason, ShareFailed
		ev.OutOrderNo, ev.OutReturnNo, ev.ReturnMchID, ev.Amount, ev.OutRefundNo, typ = r.OutOrderNo, no, r.ReturnMchID, r.Amount, r.Refund, EventShareReturnFail
		s.HoldProblem = "return " + no + " " + how + ": " + reason + "; the refund waits"
		s.RetryAt = backoff(now, s.Tries)
		s.Tries++
	case noSubsidy:
		sub := s.Subsidy
		if sub == nil || sub.State != SharePending {
			return step{outcome: Duplicate}
		}
		sub.State, sub.Reason, sub.Judged = ShareFailed, reason, ShareFailed
		ev.OutOrderNo, ev.Amount, typ = no, sub.Amount, eventSubsidyFailed
		if sub.Cancel {
			ev.Reason = "cancel " + how + ": " + reason
		}
		s.Problem = "subsidy " + no + " " + how + ": " + reason
	case noSubsidyReturn:
		sr := s.subsidyReturn(no)
		if sr == nil || sr.State != SharePending {
			return step{outcome: Duplicate}
		}
		sr.State, sr.Reason, sr.Judged = ShareFailed, reason, ShareFailed
		ev.OutOrderNo, ev.Amount, ev.OutRefundNo, typ = no, sr.Amount, sr.OutRefundNo, eventSubsidyFailed
		ev.Reason = "subsidy return " + how + ": " + reason
	default:
		return step{outcome: Duplicate}
	}
	return step{outcome: Applied, events: []pendingEvent{{typ, ev}}}
}

// ReserveFinish records the finish (完结分账, or a partner's unfreeze) before WeChat Pay
// is asked, with the ledger's side of the release (finishSnapshot).
func (l *Ledger) ReserveFinish(ctx context.Context, o *Order) (*Order, *FinishLine, error) {
	var line *FinishLine
	res, err := l.onShare(ctx, o, func(o *Order, s *Sharing, now time.Time) (step, error) {
		if f := s.Finish; f != nil {
			c := *f
			line = &c
			return step{outcome: Duplicate}, nil
		}
		if act, _ := o.NextShare(now); act != ActFinish {
			return step{outcome: Duplicate}, nil
		}
		_, paid := o.sharedPayment()
		_, asked := o.refundsAsked()
		in, back := s.subsidy()
		s.Finish = &FinishLine{OutOrderNo: ShareNo(o.OutTradeNo, noFinish, 0), State: SharePending, Amount: -1, At: now,
			Snapshot: finishSnapshot{Paid: paid, Subsidy: in, Shared: s.sharedAll(), Refunded: asked, SubsidyReturned: back}}
		s.RetryAt, s.Tries = time.Time{}, 0
		c := *s.Finish
		line = &c
		return step{outcome: Applied}, nil
	})
	if err != nil {
		return nil, nil, err
	}
	return res.Order, line, nil
}

// ApplyFinish records WeChat Pay's answer about the finish: PROCESSING is followed;
// FINISHED records what was released, with profitsharing.finished.
func (l *Ledger) ApplyFinish(ctx context.Context, o *Order, res ShareResult) (*Order, Outcome, error) {
	r, err := l.onShare(ctx, o, func(o *Order, s *Sharing, now time.Time) (step, error) {
		f := s.Finish
		if f == nil || f.State == wechatpay.ShareFinished || f.State == ShareFailed {
			return step{outcome: Duplicate}, nil
		}
		if res.State != wechatpay.ShareFinished {
			f.State = wechatpay.ShareProcessing
			s.RetryAt = followUp(now, s.Tries)
			s.Tries++
			return step{outcome: Applied}, nil
		}
		f.State, f.Amount, f.FinishedAt, f.Judged = wechatpay.ShareFinished, res.FinishAmount, now, wechatpay.ShareFinished
		s.RetryAt, s.Tries, s.Problem = time.Time{}, 0, ""
		ev := o.shareEvent(wechatpay.ShareFinished, max(res.FinishAmount, 0))
		ev.OutOrderNo, ev.ShareOrderID = f.OutOrderNo, res.OrderID
		return step{outcome: Applied, events: []pendingEvent{{EventShareFinished, ev}}}, nil
	})
	return r.Order, r.Outcome, err
}

// holdForShares is RequestRefund's part of sharing (refund.go): a refund of a shared
// order that would leave its shares to others above what it holds — or that arrives
// while a split is reserved or in flight, whose result decides it — is held, to be
// asked of WeChat Pay once returns (分账回退) made room. It reports whether it held it.
func holdForShares(o *Order, outRefundNo string, amount int64, now time.Time) bool {
	s := o.Sharing
	if s == nil || s.holds(outRefundNo) {
		return s.holds(outRefundNo)
	}
	if s.splitInFlight() == nil && o.returnsOwed() <= 0 && len(s.Held) == 0 {
		return false
	}
	s.Held = append(s.Held, heldRefund{OutRefundNo: outRefundNo, Amount: amount, At: now})
	s.RetryAt, s.Tries = time.Time{}, 0
	return true
}

// heldReason says why a held refund waits, for the order API.
func heldReason(o *Order) string {
	s := o.Sharing
	if s == nil {
		return ""
	}
	need := o.returnsOwed()
	msg := fmt.Sprintf("profit-sharing returns (分账回退) of %d fen before the refund is asked of WeChat Pay", max(need, 0))
	if s.splitInFlight() != nil {
		msg = "the split in progress to finish, then " + msg
	}
	if s.HoldProblem != "" {
		msg += "; " + s.HoldProblem
	}
	return msg
}

// ReserveReturns records the returns (分账回退) the held refunds need, before WeChat Pay
// is asked: what the shares to others hold beyond what the order holds, taken from the
// MERCHANT_ID receivers of FINISHED splits, newest split first, each receiver at most
// what it got less what it returned, at most 50 returns per split. What cannot be
// returned that way (shares to people, splits still in flight) is named in Problem and
// tried again later.
func (l *Ledger) ReserveReturns(ctx context.Context, o *Order) (*Order, []ReturnLine, error) {
	var out []ReturnLine
	res, err := l.onShare(ctx, o, func(o *Order, s *Sharing, now time.Time) (step, error) {
		out = nil
		need := o.returnsOwed()
		if len(s.Held) == 0 || need <= 0 || s.returnInFlight() != nil || s.splitInFlight() != nil {
			return step{outcome: Duplicate}, nil
		}
		if o.InReview() {
			// A return reserved now would be sent: nothing new is asked of WeChat Pay
			// while a person has the order (the held refunds wait for the resolution).
			return step{outcome: Duplicate, reason: "the order is in review"}, nil
		}
		refund := s.Held[0].OutRefundNo
		for i := len(s.Splits) - 1; i >= 0 && need > 0; i-- {
			sp := s.Splits[i]
			if sp.State != wechatpay.ShareFinished {
				continue
			}
			count := 0
			for _, r := range s.Returns {
				if r.OutOrderNo == sp.OutOrderNo {
					count++
				}
			}
			for _, rc := range sp.Receivers {
				if need <= 0 || count >= wechatpay.MaxReturnsPerShare {
					break
				}
				if rc.Type != wechatpay.ReceiverMerchant || rc.Account == o.Owner || rc.Result != wechatpay.ShareResultSuccess {
					continue
				}
				left := rc.Amount
				for _, r := range s.Returns {
					if r.OutOrderNo == sp.OutOrderNo && r.ReturnMchID == rc.Account && r.State != ShareFailed {
						left -= r.Amount
					}
				}
				take := min(left, need)
				if take <= 0 {
					continue
				}
				rl := ReturnLine{OutReturnNo: ShareNo(o.OutTradeNo, noReturn, len(s.Returns)+1), OutOrderNo: sp.OutOrderNo, SplitID: sp.OrderID,
					ReturnMchID: rc.Account, Amount: take, State: SharePending, Refund: refund, At: now}
				s.Returns = append(s.Returns, rl)
				out = append(out, rl)
				need -= take
				count++
			}
		}
		if need > 0 {
			s.HoldProblem = fmt.Sprintf("%d fen of the shares cannot be returned now (only MERCHANT_ID receivers of finished splits can return, at most %d returns per split); the refund waits", need, wechatpay.MaxReturnsPerShare)
			s.RetryAt = backoff(now, s.Tries)
			s.Tries++
		} else {
			s.HoldProblem, s.RetryAt, s.Tries = "", time.Time{}, 0
		}
		return step{outcome: Applied}, nil
	})
	if err != nil {
		return nil, nil, err
	}
	return res.Order, out, nil
}

// ReturnResult is WeChat Pay's answer about a return.
type ReturnResult struct {
	ReturnID   string `json:"return_id,omitempty"`
	Result     string `json:"result,omitempty"` // PROCESSING, SUCCESS, FAIL / FAILED
	FailReason string `json:"fail_reason,omitempty"`
	FinishTime string `json:"finish_time,omitempty"`
	Amount     int64  `json:"amount"`
	// ReturnMchID is the receiver the money comes back from, as WeChat Pay says it
	// ("" when the answer does not say: a notification's path).
	ReturnMchID string `json:"return_mchid,omitempty"`
}

// ApplyReturn records WeChat Pay's answer about return outReturnNo: PROCESSING is
// followed; SUCCESS records profitsharing.returned; a failure records
// profitsharing.return_failed — the refund it serves keeps waiting, visible, and the
// return is tried again later (the receiver's balance may come back).
func (l *Ledger) ApplyReturn(ctx context.Context, o *Order, outReturnNo string, res ReturnResult) (*Order, Outcome, error) {
	r, err := l.onShare(ctx, o, func(o *Order, s *Sharing, now time.Time) (step, error) {
		if rl := s.returnLine(outReturnNo); rl != nil && (rl.State == SharePending || rl.State == wechatpay.ReturnProcessing) {
			if kind, detail := returnAnswerConflict(o, rl, res); kind != "" { // sharing_notice.go
				causes := len(o.Review.Causes)
				st, err := o.keepShareAnswer(kind, detail, shareAnswer{Kind: "return", OutOrderNo: outReturnNo, Return: &res}, res.Amount, now)
				if err == nil {
					rl.note(o, causes, res.Result == wechatpay.ReturnSuccess || res.Result == wechatpay.ReturnFail || res.Result == wechatpay.ReturnFailed)
				}
				return st, err
			}
		}
		return decideReturn(o, s, outReturnNo, res, now), nil
	})
	return r.Order, r.Outcome, err
}

func decideReturn(o *Order, s *Sharing, no string, res ReturnResult, now time.Time) step {
	rl := s.returnLine(no)
	if rl == nil || rl.State == wechatpay.ReturnSuccess || rl.State == ShareFailed {
		return step{outcome: Duplicate, reason: "return " + no + " is not in flight here"}
	}
	if res.Amount != 0 && res.Amount != rl.Amount {
		return step{outcome: Duplicate, reason: fmt.Sprintf("return %s answered %d fen, %d asked", no, res.Amount, rl.Amount)}
	}
	rl.ReturnID = cmp.Or(res.ReturnID, rl.ReturnID)
	ev := o.shareEvent("", rl.Amount)
	ev.OutOrderNo, ev.OutReturnNo, ev.ReturnMchID, ev.OutRefundNo = rl.OutOrderNo, no, rl.ReturnMchID, rl.Refund
	switch res.Result {
	case wechatpay.ReturnSuccess:
		rl.State, rl.FinishTime, rl.Judged = wechatpay.ReturnSuccess, cmp.Or(res.FinishTime, rl.FinishTime), wechatpay.ReturnSuccess
		s.RetryAt, s.Tries = time.Time{}, 0
		if o.returnsOwed() <= 0 {
			s.HoldProblem = ""
		}
		ev.State, ev.SharedOut = wechatpay.ReturnSuccess, o.SharedOut()
		return step{outcome: Applied, events: []pendingEvent{{EventShareReturned, ev}}}
	case wechatpay.ReturnFail, wechatpay.ReturnFailed:
		rl.State, rl.FailReason, rl.FinishTime, rl.Judged = ShareFailed, res.FailReason, res.FinishTime, ShareFailed
		s.HoldProblem = fmt.Sprintf("return %s of %d fen from %s failed (%s); the refund waits and the return is tried again", no, rl.Amount, rl.ReturnMchID, res.FailReason)
		s.RetryAt = backoff(now, s.Tries)
		s.Tries++
		ev.State, ev.Reason, ev.SharedOut = ShareFailed, s.HoldProblem, o.SharedOut()
		return step{outcome: Applied, events: []pendingEvent{{EventShareReturnFail, ev}}}
	default:
		rl.State = wechatpay.ReturnProcessing
		s.RetryAt = followUp(now, s.Tries)
		s.Tries++
		return step{outcome: Applied}
	}
}

// ReleasableRefunds are the held refunds that may be asked of WeChat Pay now: all of
// them, once the shares to others fit what the order holds and nothing is in flight.
func (o *Order) ReleasableRefunds() []heldRefund {
	s := o.Sharing
	if s == nil || len(s.Held) == 0 || s.splitInFlight() != nil || s.returnInFlight() != nil || o.returnsOwed() > 0 {
		return nil
	}
	return append([]heldRefund(nil), s.Held...)
}

// ReleaseHeldRefund lets a held refund go to WeChat Pay: the refund record first (no
// longer held; queried a minute later, when reconcile submits it again if the caller's
// request was lost), then the order's hold. Run again after a crash it finishes the
// release; the caller asks WeChat Pay before calling it (out_refund_no makes that safe
// to repeat).
func (l *Ledger) ReleaseHeldRefund(ctx context.Context, o *Order, outRefundNo string) (*Order, error) {
	now := l.now()
	_, err := onRefund(l, ctx, RefundKey(o.Owner, outRefundNo), nil, func(r *Refund, exists bool) (step, error) {
		if !exists || r.Held == "" {
			return step{outcome: Duplicate}, nil
		}
		r.Held = ""
		if r.State == wechatpay.RefundStatusProcessing {
			r.NextCheck = now.Add(time.Minute)
		}
		return step{outcome: Applied}, nil
	})
	if err != nil {
		return nil, err
	}
	res, err := l.onShare(ctx, o, func(o *Order, s *Sharing, now time.Time) (step, error) {
		i := slices.IndexFunc(s.Held, func(h heldRefund) bool { return h.OutRefundNo == outRefundNo })
		if i < 0 {
			return step{outcome: Duplicate}, nil
		}
		s.Held = slices.Delete(s.Held, i, i+1)
		if len(s.Held) == 0 {
			s.RetryAt, s.Tries = time.Time{}, 0
			s.HoldProblem = ""
		}
		return step{outcome: Applied}, nil
	})
	return res.Order, err
}

// ApplyShareNotice applies a profit-sharing notification (分账动账通知: PROFITSHARING.SUCCESS
// for a share, PROFITSHARING.RETURN for a return — or TRANSACTION.SUCCESS, as merchants
// report, told apart by the number): the share or return it names succeeded. The
// order is found from the number itself (ShareNo) and the sub-merchant; a notification
// for a number this bundle did not make, or already known, writes nothing. A split or
// return the order's ledger cannot account for (never asked, another amount or
// receiver) is kept on the order, in REVIEW (sharing_notice.go).
func (l *Ledger) ApplyShareNotice(ctx context.Context, n *wechatpay.ProfitSharingNotice, source string) (Result, error) {
	tradeNo, kind, ok := ParseShareNo(n.OutOrderNo)
	owner := cmp.Or(n.SubMchID, n.MchID)
	if !ok || owner == "" {
		return Result{Outcome: Duplicate, Reason: "out_order_no " + n.OutOrderNo + " is not a number this bundle made"}, nil
	}
	if (n.Kind == "split" && kind != NoSplit) || (n.Kind == "return" && kind != noReturn) {
		return Result{Outcome: Duplicate, Reason: "a " + n.Kind + " notification names " + n.OutOrderNo}, nil
	}
	rec, err := l.Store.Get(ctx, OrderKey(owner, tradeNo))
	if err != nil {
		if errors.Is(err, store.ErrNotFound) { // the store's: ErrNotFound wraps it, not the reverse
			return Result{Outcome: Duplicate, Reason: "no order " + tradeNo + " of " + owner}, nil
		}
		return Result{}, fmt.Errorf("payment: read %s: %w", OrderKey(owner, tradeNo), err)
	}
	o, err := OrderOf(rec)
	if err != nil {
		return Result{}, err
	}
	if kind != NoSplit && kind != noReturn {
		return Result{Outcome: Duplicate, Reason: "a notification names " + n.OutOrderNo}, nil
	}
	return l.applyShareNotice(ctx, o, n, kind, source) // sharing_notice.go: a contradiction is kept for review
}

// Subsidies (补差).

// RequestSubsidy records that the platform subsidises o with amount fen (refundID when
// it is smaller than the order's subsidy amount after a refund), PENDING before WeChat
// Pay is asked. Refused once the order was split, or with a subsidy already
// succeeded; asking again for the same writes nothing.
func (l *Ledger) RequestSubsidy(ctx context.Context, o *Order, amount int64, description, refundID string) (*Order, *SubsidyLine, error) {
	var line *SubsidyLine
	res, err := l.onShare(ctx, o, func(o *Order, s *Sharing, now time.Time) (step, error) {
		if sub := s.Subsidy; sub != nil && (sub.State == SharePending || sub.State == wechatpay.SubsidySuccess) && !sub.Cancel {
			if sub.Amount != amount {
				return step{}, fmt.Errorf("%w: the order's subsidy is %d fen (%s)", ErrSubsidy, sub.Amount, sub.State)
			}
			c := *sub
			line = &c
			return step{outcome: Duplicate}, nil
		}
		switch {
		case o.InReview():
			return step{}, fmt.Errorf("%w (%s)", ErrInReview, o.Review.Reason())
		case !o.Paid():
			return step{}, fmt.Errorf("%w (state %s)", ErrNotPaid, o.Status())
		case len(s.Splits) > 0 || s.Finish != nil:
			return step{}, fmt.Errorf("%w: WeChat Pay subsidises an order before its split (订单已分账,不能补差)", ErrShareStarted)
		case amount <= 0 || amount > wechatpay.MaxSubsidyAmount:
			return step{}, invalid("a subsidy is 1 to %d fen (5000 yuan per order), got %d", wechatpay.MaxSubsidyAmount, amount)
		case s.SubsidyAmount > 0 && amount > s.SubsidyAmount:
			return step{}, fmt.Errorf("%w: %d fen asked, the order was placed with a subsidy of %d", ErrSubsidy, amount, s.SubsidyAmount)
		case s.Subsidy != nil && s.Subsidy.State == subsidyCancelled:
			return step{}, fmt.Errorf("%w: the subsidy was cancelled", ErrSubsidy)
		}
		// A new try after a failure takes a new number: WeChat Pay answers a number it
		// knows as it answered it the first time (同一补差单号多次请求等同一次).
		s.Subsidy = &SubsidyLine{OutSubsidyNo: subsidyNo(o, s), Amount: amount, Description: cmp.Or(description, "平台补差"),
			RefundID: refundID, State: SharePending, At: now, Try: s.Subsidy.try() + 1}
		s.RetryAt, s.Tries = time.Time{}, 0
		c := *s.Subsidy
		line = &c
		return step{outcome: Applied}, nil
	})
	if err != nil {
		return nil, nil, err
	}
	return res.Order, line, nil
}

// SubsidyAnswer is WeChat Pay's answer to a subsidy, its return or its cancel.
type SubsidyAnswer struct {
	ID          string // subsidy_id, subsidy_refund_id
	Result      string // SUCCESS, FAIL
	SuccessTime string
	Amount      int64
}

// ApplySubsidy records WeChat Pay's answer to the pending subsidy, its cancel, or the
// subsidy return outOrderNo ("" for the subsidy itself): subsidy.succeeded,
// subsidy.cancelled, subsidy.returned or subsidy.failed.
func (l *Ledger) ApplySubsidy(ctx context.Context, o *Order, outOrderNo string, a SubsidyAnswer) (*Order, error) {
	res, err := l.onShare(ctx, o, func(o *Order, s *Sharing, now time.Time) (step, error) {
		sub := s.Subsidy
		if sub == nil {
			return step{outcome: Duplicate}, nil
		}
		ev := o.shareEvent(a.Result, sub.Amount)
		ev.OutOrderNo = sub.OutSubsidyNo
		if outOrderNo != "" && outOrderNo != sub.OutSubsidyNo {
			sr := s.subsidyReturn(outOrderNo)
			if sr == nil || sr.State != SharePending {
				return step{outcome: Duplicate}, nil
			}
			ev.OutOrderNo, ev.Amount, ev.OutRefundNo = outOrderNo, sr.Amount, sr.OutRefundNo
			if a.Result != wechatpay.SubsidySuccess {
				sr.State, sr.Judged = ShareFailed, ShareFailed
				ev.State, ev.Reason = ShareFailed, "subsidy return failed"
				return step{outcome: Applied, events: []pendingEvent{{eventSubsidyFailed, ev}}}, nil
			}
			sr.State, sr.ReturnID, sr.SuccessTime, sr.Judged = wechatpay.SubsidySuccess, a.ID, a.SuccessTime, wechatpay.SubsidySuccess
			ev.Room = o.ShareRoom()
			return step{outcome: Applied, events: []pendingEvent{{eventSubsidyReturned, ev}}}, nil
		}
		if sub.State != SharePending {
			return step{outcome: Duplicate}, nil
		}
		s.RetryAt, s.Tries = time.Time{}, 0
		if a.Result == wechatpay.SubsidySuccess && strings.HasPrefix(s.Problem, "subsidy ") {
			s.Problem = "" // a subsidy that failed before is done (or cancelled) now
		}
		switch {
		case a.Result != wechatpay.SubsidySuccess:
			sub.State, sub.Judged = ShareFailed, ShareFailed
			s.Problem = "subsidy " + sub.OutSubsidyNo + " failed at WeChat Pay"
			ev.State, ev.Reason = ShareFailed, s.Problem
			return step{outcome: Applied, events: []pendingEvent{{eventSubsidyFailed, ev}}}, nil
		case sub.Cancel:
			sub.State, sub.Judged = subsidyCancelled, subsidyCancelled
			s.SubsidyAmount = 0 // nothing to subsidise before the split any more
			ev.State = subsidyCancelled
			return step{outcome: Applied, events: []pendingEvent{{eventSubsidyCancelled, ev}}}, nil
		}
		sub.State, sub.SubsidyID, sub.SuccessTime, sub.Judged = wechatpay.SubsidySuccess, a.ID, a.SuccessTime, wechatpay.SubsidySuccess
		ev.Room = o.ShareRoom()
		return step{outcome: Applied, events: []pendingEvent{{EventSubsidySucceeded, ev}}}, nil
	})
	return res.Order, err
}

// RequestSubsidyCancel records that the order's subsidy is to be cancelled (取消补差:
// before any split; WeChat Pay asks for a refund of the order first).
func (l *Ledger) RequestSubsidyCancel(ctx context.Context, o *Order, description string) (*Order, error) {
	res, err := l.onShare(ctx, o, func(o *Order, s *Sharing, now time.Time) (step, error) {
		switch sub := s.Subsidy; {
		case sub != nil && (sub.State == subsidyCancelled || sub.State == SharePending && sub.Cancel):
			return step{outcome: Duplicate}, nil
		case sub != nil && sub.State == wechatpay.SubsidySuccess:
			return step{}, fmt.Errorf("%w: the order was subsidised; return the subsidy after a refund instead (订单已补差,不能取消)", ErrSubsidy)
		case len(s.Splits) > 0 || s.Finish != nil:
			return step{}, fmt.Errorf("%w: a subsidy is cancelled before the split", ErrShareStarted)
		case s.SubsidyAmount <= 0:
			return step{}, fmt.Errorf("%w: the order was placed without a subsidy amount", ErrSubsidy)
		}
		s.Subsidy = &SubsidyLine{OutSubsidyNo: subsidyNo(o, s), Amount: s.SubsidyAmount, Description: cmp.Or(description, "取消补差"),
			State: SharePending, Cancel: true, At: now, Try: s.Subsidy.try() + 1}
		s.RetryAt, s.Tries = time.Time{}, 0
		return step{outcome: Applied}, nil
	})
	return res.Order, err
}

// RequestSubsidyReturn records a return of amount fen of the subsidy after refund
// outRefundNo (refundID: WeChat Pay's id of it), PENDING before WeChat Pay is asked:
// one return per refund, never more than the subsidy left.
func (l *Ledger) RequestSubsidyReturn(ctx context.Context, o *Order, outRefundNo, refundID string, amount int64) (*Order, *SubsidyReturn, error) {
	var line *SubsidyReturn
	res, err := l.onShare(ctx, o, func(o *Order, s *Sharing, now time.Time) (step, error) {
		sub := s.Subsidy
		if sub == nil || sub.State != wechatpay.SubsidySuccess {
			return step{}, fmt.Errorf("%w: the order has no subsidy to return", ErrSubsidy)
		}
		for i := range sub.Returns {
			if r := sub.Returns[i]; r.OutRefundNo == outRefundNo && r.State != ShareFailed {
				if r.Amount != amount {
					return step{}, fmt.Errorf("%w: refund %s already returned %d fen of the subsidy (one return per refund)", ErrSubsidy, outRefundNo, r.Amount)
				}
				c := r
				line = &c
				return step{outcome: Duplicate}, nil
			}
		}
		in, back := s.subsidy()
		rl := o.Line(outRefundNo)
		switch {
		case rl == nil || rl.State != wechatpay.RefundStatusSuccess || refundID == "":
			return step{}, fmt.Errorf("%w: a subsidy return needs a successful refund of the order (补差回退需要订单退款); %s is not one", ErrSubsidy, outRefundNo)
		case amount <= 0 || amount > in-back:
			return step{}, invalid("a subsidy return is 1 to the %d fen of the subsidy left, got %d", in-back, amount)
		case o.SharedOut() > o.ShareRoom()-amount:
			// The money rule (SharedOut <= Holds): what was shared out to others stays
			// covered by what the order holds. A full refund leaves the subsidy as the
			// order's only money, and the shares were paid out of it.
			free := max(o.ShareRoom()-o.SharedOut(), 0)
			return step{}, fmt.Errorf("%w: returning %d fen of the subsidy would leave the order holding %d fen for the %d fen shared out to others; at most %d fen can be returned now (the rest went to the receivers)",
				ErrSubsidy, amount, o.ShareRoom()-amount, o.SharedOut(), free)
		}
		sr := SubsidyReturn{OutOrderNo: ShareNo(o.OutTradeNo, noSubsidyReturn, len(sub.Returns)+1), OutRefundNo: outRefundNo, RefundID: refundID,
			Amount: amount, State: SharePending, At: now}
		sub.Returns = append(sub.Returns, sr)
		s.RetryAt, s.Tries = time.Time{}, 0
		return step{outcome: Applied}, nil
	})
	if err != nil {
		return nil, nil, err
	}
	if line == nil && res.Order != nil && res.Order.Sharing.Subsidy != nil {
		rs := res.Order.Sharing.Subsidy.Returns
		c := rs[len(rs)-1]
		line = &c
	}
	return res.Order, line, nil
}

// try is how many times the subsidy (or its cancel) was asked.
func (sub *SubsidyLine) try() int {
	if sub == nil {
		return 0
	}
	return max(sub.Try, 1)
}

// subsidyNo is the number of the next try of the order's subsidy: {out_trade_no}@B,
// then @B2, @B3, …
func subsidyNo(o *Order, s *Sharing) string {
	if s.Subsidy == nil {
		return ShareNo(o.OutTradeNo, noSubsidy, 0)
	}
	return ShareNo(o.OutTradeNo, noSubsidy, s.Subsidy.try()+1)
}

func (s *Sharing) subsidyReturn(no string) *SubsidyReturn {
	if s.Subsidy == nil {
		return nil
	}
	for i := range s.Subsidy.Returns {
		if s.Subsidy.Returns[i].OutOrderNo == no {
			return &s.Subsidy.Returns[i]
		}
	}
	return nil
}

// PendingSubsidyReturns are the subsidy returns to ask WeChat Pay for.
func (o *Order) PendingSubsidyReturns() []SubsidyReturn {
	if o.Sharing == nil || o.Sharing.Subsidy == nil {
		return nil
	}
	var out []SubsidyReturn
	for _, r := range o.Sharing.Subsidy.Returns {
		if r.State == SharePending {
			out = append(out, r)
		}
	}
	return out
}

var _ = events.OrderPaid
