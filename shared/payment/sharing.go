package payment

// Profit sharing (分账) and subsidies (补差) on the order: the lines beside an order's
// refund lines that doc.go's "What comes next" announced. A payment placed with
// settle_info.profit_sharing=true stays frozen in the sub-merchant's account until the
// platform splits it (shares to receivers, e.g. its commission) and finishes it (完结分账:
// the rest released to the sub-merchant). Everything the ledger knows of that lives on
// the Order, in Sharing: the plan (receivers, hold), the subsidy, every split with its
// receivers' results, every return (分账回退), the finish, and the refunds held until
// shares are taken back. Each transition is the ledger's usual one write (read → pure
// decide → one version-conditioned write with its events → re-decide on a lost race),
// in sharing_steps.go; reconcile's sharing phase (functions/reconcile/sharing.go) is the
// job that carries the steps out at WeChat Pay.
//
// The money rule extends the refunds' one: what is shared out to others (pending and
// successful shares, less what was returned) never exceeds what the order holds — its
// payment and subsidy, less the refunds asked for (every refund line not CLOSED) and
// the subsidy returned. A split that would exceed it is refused before WeChat Pay is
// asked; a refund that would make the shares exceed it is held (Refund.Held) until
// returns bring them back within it, and only then asked of WeChat Pay. Without a
// subsidy that is the "shares ≤ paid − refunded".
//
// WeChat Pay's rules, as shared/wechatpay/profitsharing.go has them with the docs: a
// split no sooner than ShareNotBefore (1 minute) after payment, at most 50 splits per
// order and 50 receivers per split; returns only from MERCHANT_ID receivers of FINISHED
// splits whose share succeeded, at most 50 per split; a subsidy once per order, before
// any split, when the order was placed with a subsidy amount; the funds stay frozen 180
// days (e-commerce; 30 for a service provider's ordinary profit sharing) and are then
// released by WeChat Pay itself.
//
// The schedule. An order whose sharing has something due sits in PendingShares at that
// time (Order.schedule, ledger.go): a split once the payment is a minute old and the
// hold passed, a query of what is in flight, a finish, returns and held refunds. It is
// derived from the order itself, so every transition — the payment included — places the
// order where its sharing is next due, in the same write. Once nothing is due, an order
// whose fund movements were not yet seen in a fund bill waits in the passive listing
// FundBillDayIndex of the day of its first unseen movement (sharing_bill.go).

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/paysls/wxpay/shared/wechatpay"
)

// PendingShares is the schedule of orders whose profit sharing has a step due.
const PendingShares = "shares"

// Merchant events of profit sharing and subsidies: one per transition, recorded on the
// order in sequence with its order.* and refund.* events.
const (
	EventShareSucceeded   = "profitsharing.succeeded"     // a split finished, every receiver paid
	EventShareFailed      = "profitsharing.failed"        // a split refused, or finished with a receiver closed
	EventShareReturned    = "profitsharing.returned"      // a return (分账回退) succeeded
	EventShareReturnFail  = "profitsharing.return_failed" // a return failed; the refund it serves waits
	EventShareFinished    = "profitsharing.finished"      // the order finished (完结分账): the rest released
	eventShareFinishFail  = "profitsharing.finish_failed" // WeChat Pay refused the finish
	EventSubsidySucceeded = "subsidy.succeeded"
	eventSubsidyFailed    = "subsidy.failed"
	eventSubsidyReturned  = "subsidy.returned"
	eventSubsidyCancelled = "subsidy.cancelled"
)

// Sharing APIs: which of WeChat Pay's two profit-sharing families an order uses.
const (
	ShareAPIEcommerce = "ecommerce" // 电商收付通: /v3/ecommerce/profitsharing/*, finish-order
	ShareAPIPartner   = "partner"   // 服务商 ordinary profit sharing: /v3/profitsharing/*, unfreeze
)

// States of a split, finish, return, subsidy line beyond WeChat Pay's own.
const (
	// SharePending: reserved here, not yet answered by WeChat Pay (asked again after a
	// crash: the merchant number makes the call idempotent there).
	SharePending = "PENDING"
	// ShareFailed: WeChat Pay refused the request, or the return failed.
	ShareFailed = "FAILED"
	// subsidyCancelled: the subsidy was cancelled (取消补差).
	subsidyCancelled = "CANCELLED"
)

// RatioUnit is a rate's unit: rates are ten-thousandths (WeChat Pay's max_ratio unit).
const RatioUnit = 10000

// Sharing is an order's profit sharing.
type Sharing struct {
	// API is ShareAPIEcommerce or ShareAPIPartner.
	API string `json:"api"`
	// Receivers are the split as planned: up front at create, or given later with
	// POST /orders/{id}/settle. Planned says the plan is known (it may be empty: then
	// nothing is split and the order is only finished).
	Receivers []ShareReceiver `json:"receivers,omitempty"`
	Planned   bool            `json:"planned,omitempty"`
	// PlanFrom is the first split of the current plan: a plan given again after a split
	// failed (or finished with a share closed) starts afresh from the next one.
	PlanFrom int `json:"plan_from,omitempty"`
	// HoldUntil keeps the split back until then; SettledAt is when the merchant
	// confirmed (POST /orders/{id}/settle), which ends the hold earlier.
	HoldUntil time.Time `json:"hold_until,omitzero"`
	SettledAt time.Time `json:"settled_at,omitzero"`
	// SubsidyAmount is the subsidy the order was placed with (settle_info.subsidy_amount,
	// 补差): requested before the split.
	SubsidyAmount int64        `json:"subsidy_amount,omitempty"`
	Subsidy       *SubsidyLine `json:"subsidy,omitempty"`
	Splits        []SplitLine  `json:"splits,omitempty"`
	Returns       []ReturnLine `json:"returns,omitempty"`
	Finish        *FinishLine  `json:"finish,omitempty"`
	// Held are refunds waiting for returns before they are asked of WeChat Pay.
	Held []heldRefund `json:"held,omitempty"`
	// RetryAt is when something in flight is next queried, or a step that failed for a
	// while is tried again; Tries counts those tries.
	RetryAt time.Time `json:"retry_at,omitzero"`
	Tries   int       `json:"tries,omitempty"`
	// Problem says, for people, what stops the sharing until the merchant acts (a split
	// refused, a receiver closed, shares that cannot be returned): GET /orders shows it.
	Problem string `json:"problem,omitempty"`
	// HoldProblem says why held refunds still wait (a return failed, shares that cannot
	// be returned yet); they are tried again at RetryAt.
	HoldProblem string `json:"hold_problem,omitempty"`
	// Fee is WeChat Pay's fee on the payment, as the fund bill showed it (FeeSeen).
	Fee     int64 `json:"fee,omitempty"`
	FeeSeen bool  `json:"fee_seen,omitempty"`
}

// ShareReceiver is one receiver of a planned split: a fixed Amount (fen) or a Rate
// (ten-thousandths of what the order holds when the split is made), never both.
type ShareReceiver struct {
	Type        string `json:"type"` // MERCHANT_ID, PERSONAL_OPENID, PERSONAL_SUB_OPENID (partner)
	Account     string `json:"account"`
	Amount      int64  `json:"amount,omitempty"`
	Rate        int64  `json:"rate,omitempty"`
	Description string `json:"description"`
}

// SplitLine is one split (请求分账) of the order.
type SplitLine struct {
	OutOrderNo string `json:"out_order_no"`
	OrderID    string `json:"order_id,omitempty"` // WeChat Pay's split number
	// State is SharePending, PROCESSING, FINISHED or ShareFailed.
	State     string          `json:"state"`
	Receivers []SplitReceiver `json:"receivers"`
	Reason    string          `json:"reason,omitempty"` // why it failed
	At        time.Time       `json:"at"`
	// Judged is the state announced (its event recorded).
	Judged string `json:"judged,omitempty"`
	Contradiction
}

// Contradiction marks a split or return in flight whose answer from WeChat Pay
// contradicted what was asked, the answer kept for review (keepShareAnswer). Such an
// item used to be queried every 6 hours for good — WeChat Pay answers a final result
// the same way for ever, and a person's resolution changed nothing. It is followed only
// while that can still teach the ledger something (followed).
type Contradiction struct {
	// Cause numbers (from 1) the review cause that keeps the latest contradicting
	// answer: a resolution covering it ends the follow-up.
	Cause int `json:"contradicted,omitempty"`
	// Confirmed: WeChat Pay gave the same final answer again. One answer may be a
	// glitch that the next honest one settles; the same final answer twice is what
	// WeChat Pay holds, and asking again only repeats it.
	Confirmed bool `json:"contradiction_confirmed,omitempty"`
}

// followed reports whether an item in flight with this contradiction is still queried:
// none, or one not yet confirmed final nor resolved by a person. The kept answer stays
// on the order either way; a notification about the item is still applied.
func (c Contradiction) followed(o *Order) bool {
	return c.Cause == 0 || (!c.Confirmed && o.Review.Resolved < c.Cause)
}

// noteContradiction records on c that an answer (final or not) contradicting the item
// was kept on o: causes is how many review causes o had before it was kept — more now
// means a new answer, kept under a new cause; as many means the same answer again.
func (c *Contradiction) note(o *Order, causes int, final bool) {
	if len(o.Review.Causes) > causes {
		c.Cause, c.Confirmed = len(o.Review.Causes), false
		return
	}
	if c.Cause == 0 { // kept before this mark existed: the latest such cause
		for i := len(o.Review.Causes) - 1; i >= 0; i-- {
			if o.Review.Causes[i].Kind == CauseShareContradicts {
				c.Cause = i + 1
				break
			}
		}
	}
	c.Confirmed = final
}

// SplitReceiver is one receiver's share in a split, with WeChat Pay's result.
type SplitReceiver struct {
	Type        string `json:"type"`
	Account     string `json:"account"`
	Amount      int64  `json:"amount"`
	Description string `json:"description"`
	// Result is PENDING, SUCCESS or CLOSED.
	Result     string `json:"result"`
	FailReason string `json:"fail_reason,omitempty"`
	DetailID   string `json:"detail_id,omitempty"`
	FinishTime string `json:"finish_time,omitempty"`
	// Bill is the fund bill date that listed this share.
	Bill string `json:"bill,omitempty"`
}

// ReturnLine is one return (分账回退) from a receiver of a split.
type ReturnLine struct {
	OutReturnNo string `json:"out_return_no"`
	OutOrderNo  string `json:"out_order_no"` // the split returned from
	SplitID     string `json:"split_order_id,omitempty"`
	ReturnMchID string `json:"return_mchid"`
	Amount      int64  `json:"amount"`
	// State is SharePending, PROCESSING, SUCCESS or ShareFailed.
	State      string    `json:"state"`
	FailReason string    `json:"fail_reason,omitempty"`
	ReturnID   string    `json:"return_id,omitempty"`
	FinishTime string    `json:"finish_time,omitempty"`
	Refund     string    `json:"out_refund_no,omitempty"` // the refund it makes room for
	At         time.Time `json:"at"`
	Judged     string    `json:"judged,omitempty"`
	Bill       string    `json:"bill,omitempty"`
	Contradiction
}

// FinishLine is the order's finish (完结分账, or a partner's unfreeze).
type FinishLine struct {
	OutOrderNo string `json:"out_order_no"`
	// State is SharePending, PROCESSING, FINISHED or ShareFailed.
	State string `json:"state"`
	// Amount is what WeChat Pay released (finish_amount; -1 when its answer does not say).
	Amount     int64     `json:"amount"`
	Reason     string    `json:"reason,omitempty"`
	At         time.Time `json:"at"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
	// Snapshot is the ledger's side of the release, noted when the finish was asked:
	// WeChat Pay releases the payment less its fee, plus the subsidy, less these.
	Snapshot finishSnapshot `json:"snapshot"`
	Judged   string         `json:"judged,omitempty"`
	// Checked is the fund bill date whose reconciliation checked the release.
	Checked string `json:"checked,omitempty"`
}

// finishSnapshot is what the order had given out when its finish was asked.
type finishSnapshot struct {
	Paid            int64 `json:"paid"`
	Subsidy         int64 `json:"subsidy"`
	Shared          int64 `json:"shared"` // every share not CLOSED, the payer's own included
	Refunded        int64 `json:"refunded"`
	SubsidyReturned int64 `json:"subsidy_returned"`
}

// heldRefund is a refund held until returns make room for it.
type heldRefund struct {
	OutRefundNo string    `json:"out_refund_no"`
	Amount      int64     `json:"amount"`
	At          time.Time `json:"at"`
}

// SubsidyLine is the order's subsidy (补差) and its returns.
type SubsidyLine struct {
	OutSubsidyNo string `json:"out_subsidy_no"`
	Amount       int64  `json:"amount"`
	Description  string `json:"description"`
	// RefundID is given when the subsidy is smaller than the order's after a refund.
	RefundID string `json:"refund_id,omitempty"`
	// State is SharePending, SUCCESS, ShareFailed or subsidyCancelled (a cancel asked:
	// SharePending with Cancel set).
	State       string          `json:"state"`
	Cancel      bool            `json:"cancel,omitempty"`
	SubsidyID   string          `json:"subsidy_id,omitempty"`
	SuccessTime string          `json:"success_time,omitempty"`
	Reason      string          `json:"reason,omitempty"`
	Returns     []SubsidyReturn `json:"returns,omitempty"`
	Try         int             `json:"try,omitempty"` // 1, 2, … (a new number after a failure)
	At          time.Time       `json:"at"`
	Judged      string          `json:"judged,omitempty"`
	Bill        string          `json:"bill,omitempty"`
}

// SubsidyReturn is one return of the subsidy (补差回退) after a refund.
type SubsidyReturn struct {
	OutOrderNo  string    `json:"out_order_no"`
	OutRefundNo string    `json:"out_refund_no"`
	RefundID    string    `json:"refund_id"`
	Amount      int64     `json:"amount"`
	State       string    `json:"state"` // SharePending, SUCCESS, ShareFailed
	ReturnID    string    `json:"subsidy_refund_id,omitempty"`
	SuccessTime string    `json:"success_time,omitempty"`
	Reason      string    `json:"reason,omitempty"`
	At          time.Time `json:"at"`
	Judged      string    `json:"judged,omitempty"`
	Bill        string    `json:"bill,omitempty"`
}

// Merchant numbers of the order's sharing: the order's out_trade_no, '@' (which an
// out_trade_no never holds, and the sharing numbers allow), a kind and a sequence —
// unique per order, at most 32+5 characters of WeChat Pay's 64, and read back from a
// notification or a bill line to the order without a lookup.
const (
	NoSplit         = "S"
	noReturn        = "R"
	noFinish        = "F"
	noSubsidy       = "B"
	noSubsidyReturn = "BR"
)

// ShareNo is the merchant number of the n-th (from 1) item of kind on outTradeNo.
func ShareNo(outTradeNo, kind string, n int) string {
	if n <= 0 {
		return outTradeNo + "@" + kind
	}
	return outTradeNo + "@" + kind + strconv.Itoa(n)
}

// ParseShareNo reads a ShareNo back: the order's out_trade_no and the kind.
func ParseShareNo(no string) (outTradeNo, kind string, ok bool) {
	i := strings.LastIndexByte(no, '@')
	if i <= 0 {
		return "", "", false
	}
	rest := no[i+1:]
	for _, k := range []string{noSubsidyReturn, NoSplit, noReturn, noFinish, noSubsidy} {
		if strings.HasPrefix(rest, k) {
			if _, err := strconv.Atoi(strings.TrimPrefix(rest, k)); err == nil || rest == k {
				return no[:i], k, true
			}
		}
	}
	return "", "", false
}

// isShareNo reports whether no is one of this bundle's sharing numbers.
func isShareNo(no string) bool { _, _, ok := ParseShareNo(no); return ok }

// sharedPayment is the transaction the order's sharing splits: its own payment.
func (o *Order) sharedPayment() (string, int64) {
	if o.Payment == nil {
		return "", 0
	}
	return o.Payment.TransactionID, o.Payment.Amount
}

// refundsAsked is what refunds of the order's own payment take: every line not CLOSED
// and not excess (held ones included); asked counts only the lines WeChat Pay was asked
// for (not held).
func (o *Order) refundsAsked() (all, asked int64) {
	txid, _ := o.sharedPayment()
	for _, l := range o.Refunds {
		if l.State == wechatpay.RefundStatusClosed || l.Excess || (l.TransactionID != "" && l.TransactionID != txid) {
			continue
		}
		all += l.Amount
		if o.Sharing == nil || !o.Sharing.holds(l.OutRefundNo) {
			asked += l.Amount
		}
	}
	return all, asked
}

func (s *Sharing) holds(outRefundNo string) bool {
	return s != nil && slices.ContainsFunc(s.Held, func(h heldRefund) bool { return h.OutRefundNo == outRefundNo })
}

// holding reports whether refund outRefundNo is held for returns.
func (o *Order) holding(outRefundNo string) bool { return o.Sharing.holds(outRefundNo) }

// subsidy is the subsidy WeChat Pay paid in, and what of it was returned.
func (s *Sharing) subsidy() (in, returned int64) {
	if s == nil || s.Subsidy == nil || s.Subsidy.State != wechatpay.SubsidySuccess {
		return 0, 0
	}
	for _, r := range s.Subsidy.Returns {
		if r.State == wechatpay.SubsidySuccess || r.State == SharePending {
			returned += r.Amount
		}
	}
	return s.Subsidy.Amount, returned
}

// ShareRoom is what the order holds for sharing: its payment and subsidy, less the
// refunds asked (held ones included) and the subsidy returned.
func (o *Order) ShareRoom() int64 {
	_, paid := o.sharedPayment()
	refunds, _ := o.refundsAsked()
	in, back := o.Sharing.subsidy()
	return paid + in - refunds - back
}

// returnsOwed is what returns (分账回退) must still take back before the held refunds
// may be asked of WeChat Pay: the shares to others above what the order holds with the
// refunds. Never more than the shares: refunds that ask more than the order holds at
// all (one made elsewhere took part of it since ours was held) leave nothing a return
// could make room for — WeChat Pay refuses what it cannot refund, and the refund closes.
func (o *Order) returnsOwed() int64 {
	return o.SharedOut() - max(o.ShareRoom(), 0)
}

// Holds is what the order holds at WeChat Pay for its shares: like ShareRoom, but
// counting only the refunds WeChat Pay was asked for (a held refund has not happened).
// The ledger's money rule, which the tests and the simulation check, is
// SharedOut() <= Holds() at every moment.
func (o *Order) Holds() int64 {
	_, paid := o.sharedPayment()
	_, asked := o.refundsAsked()
	in, back := o.Sharing.subsidy()
	return paid + in - asked - back
}

// SharedOut is what the order's shares to others hold now: shares pending or
// successful (not CLOSED, of splits not failed) to anyone but the payer, less the
// returns not failed. This is what ShareRoom bounds.
func (o *Order) SharedOut() int64 {
	s := o.Sharing
	if s == nil {
		return 0
	}
	var n int64
	for _, sp := range s.Splits {
		if sp.State == ShareFailed {
			continue
		}
		for _, r := range sp.Receivers {
			if r.Account != o.Owner && r.Result != wechatpay.ShareResultClosed {
				n += r.Amount
			}
		}
	}
	for _, r := range s.Returns {
		if r.State != ShareFailed {
			n -= r.Amount
		}
	}
	return n
}

// sharedAll is every share not CLOSED, the payer's own included: what left the frozen
// money (finishSnapshot).
func (s *Sharing) sharedAll() int64 {
	var n int64
	for _, sp := range s.Splits {
		if sp.State == ShareFailed {
			continue
		}
		for _, r := range sp.Receivers {
			if r.Result != wechatpay.ShareResultClosed {
				n += r.Amount
			}
		}
	}
	return n
}

// Returned is what returns took back (successful ones).
func (s *Sharing) Returned() int64 {
	if s == nil {
		return 0
	}
	var n int64
	for _, r := range s.Returns {
		if r.State == wechatpay.ReturnSuccess {
			n += r.Amount
		}
	}
	return n
}

// Succeeded is what successful shares to others paid out.
func (o *Order) sharesSucceeded() int64 {
	var n int64
	if o.Sharing == nil {
		return 0
	}
	for _, sp := range o.Sharing.Splits {
		for _, r := range sp.Receivers {
			if r.Account != o.Owner && r.Result == wechatpay.ShareResultSuccess {
				n += r.Amount
			}
		}
	}
	return n
}

// inFlight reports whether a split is reserved or PROCESSING.
func (s *Sharing) splitInFlight() *SplitLine {
	for i := range s.Splits {
		if st := s.Splits[i].State; st == SharePending || st == wechatpay.ShareProcessing {
			return &s.Splits[i]
		}
	}
	return nil
}

func (s *Sharing) returnInFlight() *ReturnLine {
	for i := range s.Returns {
		if st := s.Returns[i].State; st == SharePending || st == wechatpay.ReturnProcessing {
			return &s.Returns[i]
		}
	}
	return nil
}

// finished reports whether the order was finished (nothing more can be split).
func (s *Sharing) finished() bool {
	return s.Finish != nil && s.Finish.State == wechatpay.ShareFinished
}

// lastSplitDone reports whether a split finished with every receiver paid — the order
// is then finished — and whether one finished with a receiver closed.
func (s *Sharing) splitOutcome() (done, closed bool) {
	for i := len(s.Splits) - 1; i >= s.PlanFrom; i-- {
		sp := s.Splits[i]
		switch sp.State {
		case ShareFailed:
			return false, false
		case wechatpay.ShareFinished:
			for _, r := range sp.Receivers {
				if r.Result == wechatpay.ShareResultClosed {
					return true, true
				}
			}
			return true, false
		}
		return false, false
	}
	return false, false
}

// paidAt is when the payment succeeded at WeChat Pay (the 1-minute rule counts from it).
func (o *Order) paidAt() time.Time {
	if o.Payment == nil {
		return time.Time{}
	}
	return successAt(o.Payment.SuccessTime, o.Payment.ReceivedAt)
}

// splitDueAt is when the planned split may be made: a minute after payment, once the
// hold passed (or the merchant confirmed).
func (o *Order) splitDueAt() time.Time {
	s := o.Sharing
	at := o.paidAt().Add(wechatpay.ShareNotBefore)
	if !s.HoldUntil.IsZero() && s.SettledAt.IsZero() && s.HoldUntil.After(at) {
		at = s.HoldUntil
	}
	return at
}

// ShareAction is the next step of an order's sharing, as the job carries it out.
type ShareAction string

// Share actions, in the order they are taken.
const (
	ActNone           ShareAction = ""
	ActSubsidy        ShareAction = "subsidy"         // ask (or ask again) for the subsidy
	ActSubsidyCancel  ShareAction = "subsidy_cancel"  // ask for the subsidy's cancel
	ActQuerySplit     ShareAction = "query_split"     // a split in flight
	ActQueryReturn    ShareAction = "query_return"    // a return in flight
	ActQueryFinish    ShareAction = "query_finish"    // the finish in flight
	ActReturns        ShareAction = "returns"         // reserve the returns a held refund needs
	ActReleaseRefunds ShareAction = "release_refunds" // ask WeChat Pay for the held refunds
	ActCloseHeld      ShareAction = "close_held"      // close the held refunds no return can make room for
	ActSplit          ShareAction = "split"           // reserve and ask for the planned split
	ActFinish         ShareAction = "finish"          // reserve and ask for the finish
)

// NextShare is the order's next sharing step and when it is due (ActNone: nothing is,
// until a person, a notification or a refund acts). Pure: the schedule is derived from
// it, and so is what the job does.
func (o *Order) NextShare(now time.Time) (ShareAction, time.Time) {
	s := o.Sharing
	if s == nil || o.Payment == nil || !o.Paid() {
		return ActNone, time.Time{}
	}
	retry := func(a ShareAction) (ShareAction, time.Time) {
		if s.RetryAt.IsZero() {
			return a, now
		}
		return a, s.RetryAt
	}
	if o.InReview() {
		// Nothing new is asked of WeChat Pay until a person resolved the review, but what
		// was asked already — a split, return or finish reserved or PROCESSING — settles
		// there all the same, and the order must show its result: it is still followed
		// (queried, never sent: the job's query of a reserved item withdraws it when
		// WeChat Pay never received it, WithdrawShare).
		//
		// So is a subsidy (补差), its cancel or a subsidy return asked already (PENDING):
		// WeChat Pay may have charged it, and the order's money counts it only once
		// known. WeChat Pay has no query of a subsidy; its answer is learnt by asking
		// again with the same parameters, which it charges once (请求补差: "该接口支持重入，
		// 请求参数相同只会扣款一次，重入有效期180天"; 请求补差回退: "同一补差回退单号多次请求等同
		// 一次"), the ledger's number and amount unchanged — never a new subsidy, cancel or
		// return while in REVIEW (RequestSubsidy refuses one). Left alone, a subsidy
		// charged at WeChat Pay stayed PENDING here for good.
		if sub := s.Subsidy; sub != nil && sub.State == SharePending {
			if sub.Cancel {
				return retry(ActSubsidyCancel)
			}
			return retry(ActSubsidy)
		}
		if len(o.PendingSubsidyReturns()) > 0 {
			return retry(ActSubsidy)
		}
		switch f, sp, rl := s.Finish, s.splitInFlight(), s.returnInFlight(); {
		case sp != nil && sp.followed(o):
			return retry(ActQuerySplit)
		case rl != nil && rl.followed(o):
			return retry(ActQueryReturn)
		case f != nil && (f.State == SharePending || f.State == wechatpay.ShareProcessing):
			return retry(ActQueryFinish)
		}
		return ActNone, time.Time{}
	}
	if sub := s.Subsidy; sub != nil && sub.State == SharePending {
		if sub.Cancel {
			return retry(ActSubsidyCancel)
		}
		return retry(ActSubsidy)
	}
	if sub := s.Subsidy; sub != nil {
		for _, r := range sub.Returns {
			if r.State == SharePending {
				return retry(ActSubsidy) // the job asks for what is pending of the subsidy
			}
		}
	}
	sp, rl := s.splitInFlight(), s.returnInFlight()
	if sp != nil && sp.followed(o) {
		return retry(ActQuerySplit)
	}
	if rl != nil && rl.followed(o) {
		return retry(ActQueryReturn)
	}
	if f := s.Finish; f != nil && (f.State == SharePending || f.State == wechatpay.ShareProcessing) {
		return retry(ActQueryFinish)
	}
	if sp != nil || rl != nil {
		// In flight, no longer followed (its contradicting answer kept, confirmed or
		// resolved): nothing further is asked or sent past it — what WeChat Pay moved
		// is for a person to reconcile, and a notification of it still applies.
		return ActNone, time.Time{}
	}
	if len(s.Held) > 0 {
		if len(o.UnreleasableRefunds()) > 0 {
			return ActCloseHeld, now // held for a share no return takes back: closed, never asked
		}
		if o.returnsOwed() <= 0 {
			return retry(ActReleaseRefunds)
		}
		return retry(ActReturns) // what cannot be returned yet is retried later (RetryAt)
	}
	if s.finished() || s.Problem != "" || (s.Finish != nil && s.Finish.State == ShareFailed) {
		return ActNone, time.Time{}
	}
	if !s.Planned {
		return ActNone, time.Time{} // receivers decided later (POST /orders/{id}/settle)
	}
	if done, closed := s.splitOutcome(); done {
		if closed {
			return ActNone, time.Time{}
		}
		return retry(ActFinish)
	}
	due := o.splitDueAt()
	if s.RetryAt.After(due) {
		due = s.RetryAt
	}
	if s.SubsidyAmount > 0 && s.Subsidy == nil {
		return ActSubsidy, due // WeChat Pay splits a subsidised order only after its subsidy
	}
	if room := o.ShareRoom(); room <= 0 || len(s.planned(room)) == 0 {
		return ActFinish, due // nothing to split (all refunded, or shares round to nothing): finish
	}
	return ActSplit, due
}

// planned is the split the plan makes of room: each receiver's amount (a rate's taken
// of room, rounded down), receivers whose share rounds to nothing left out.
func (s *Sharing) planned(room int64) []SplitReceiver {
	var out []SplitReceiver
	for _, r := range s.Receivers {
		amt := r.Amount
		if r.Rate > 0 {
			amt = max(room, 0) * r.Rate / RatioUnit
		}
		if amt <= 0 {
			continue
		}
		out = append(out, SplitReceiver{Type: r.Type, Account: r.Account, Amount: amt, Description: r.Description, Result: SharePending})
	}
	return out
}

// shareScheduled reports whether the order's sharing has a step due (at shareAt).
func (o *Order) shareScheduled() bool {
	act, _ := o.NextShare(o.UpdatedAt)
	return act != ActNone
}

func (o *Order) shareAt() time.Time {
	_, at := o.NextShare(o.UpdatedAt)
	if at.IsZero() {
		return o.UpdatedAt
	}
	return at
}

// ValidatePlan checks a plan against an order of amount fen with subsidy fen of
// subsidy: known receiver types, an amount or a rate (not both), a description, at most
// 50 receivers, and shares that sum to at most the order. Its error matches ErrInvalid.
func ValidatePlan(api string, rs []ShareReceiver, amount, subsidy int64) error {
	if len(rs) > wechatpay.MaxReceiversPerShare {
		return invalid("%d receivers; WeChat Pay takes at most %d per split", len(rs), wechatpay.MaxReceiversPerShare)
	}
	var sum, rate int64
	seen := map[string]bool{}
	for i, r := range rs {
		switch r.Type {
		case wechatpay.ReceiverMerchant, wechatpay.ReceiverPersonalOpenID:
		case wechatpay.ReceiverPersonalSubOpenID:
			if api == ShareAPIEcommerce {
				return invalid("receivers[%d].type PERSONAL_SUB_OPENID is a service provider's; an e-commerce platform takes MERCHANT_ID or PERSONAL_OPENID", i)
			}
		default:
			return invalid("receivers[%d].type %q is not a receiver type (MERCHANT_ID, PERSONAL_OPENID, PERSONAL_SUB_OPENID)", i, r.Type)
		}
		if r.Account == "" {
			return invalid("receivers[%d].account is required", i)
		}
		if seen[r.Type+"|"+r.Account] {
			return invalid("receivers[%d] repeats %s %s: one share per receiver", i, r.Type, r.Account)
		}
		seen[r.Type+"|"+r.Account] = true
		switch {
		case r.Amount != 0 && r.Rate != 0:
			return invalid("receivers[%d] gives both amount and rate: one of them", i)
		case r.Amount < 0 || r.Rate < 0 || r.Rate > RatioUnit:
			return invalid("receivers[%d]: amount must be positive fen, rate between 0 and 1", i)
		case r.Amount == 0 && r.Rate == 0:
			return invalid("receivers[%d] needs an amount (fen) or a rate", i)
		}
		if r.Description == "" || len([]rune(r.Description)) > 80 {
			return invalid("receivers[%d].description is required, at most 80 characters", i)
		}
		sum += r.Amount
		rate += r.Rate
	}
	holds := amount + subsidy
	if total := sum + holds*rate/RatioUnit; total > holds || rate > RatioUnit {
		return invalid("the shares sum to %d fen, above the %d fen the order holds", total, holds)
	}
	return nil
}

// shareEvent is the data of profitsharing.* and subsidy.* events.
type ShareEvent struct {
	OrderID       string          `json:"order_id,omitempty"`
	OutTradeNo    string          `json:"out_trade_no"`
	MchID         string          `json:"mchid"` // the sub-merchant whose payment is shared
	TransactionID string          `json:"transaction_id,omitempty"`
	OutOrderNo    string          `json:"out_order_no,omitempty"`   // the split or finish
	ShareOrderID  string          `json:"share_order_id,omitempty"` // WeChat Pay's number of it
	State         string          `json:"state"`
	Amount        int64           `json:"amount"`
	Receivers     []SplitReceiver `json:"receivers,omitempty"`
	OutReturnNo   string          `json:"out_return_no,omitempty"`
	ReturnMchID   string          `json:"return_mchid,omitempty"`
	OutRefundNo   string          `json:"out_refund_no,omitempty"`
	Reason        string          `json:"reason,omitempty"`
	// SharedOut and Room are the order's shares to others and what it holds, after.
	SharedOut int64 `json:"shared_out"`
	Room      int64 `json:"room"`
}

func (o *Order) shareEvent(state string, amount int64) ShareEvent {
	txid, _ := o.sharedPayment()
	return ShareEvent{OrderID: o.OrderID, OutTradeNo: o.OutTradeNo, MchID: o.Owner, TransactionID: txid, State: state, Amount: amount,
		SharedOut: o.SharedOut(), Room: o.ShareRoom()}
}

func sumReceivers(rs []SplitReceiver) int64 {
	var n int64
	for _, r := range rs {
		n += r.Amount
	}
	return n
}

func (s *Sharing) splitLine(no string) *SplitLine {
	for i := range s.Splits {
		if s.Splits[i].OutOrderNo == no {
			return &s.Splits[i]
		}
	}
	return nil
}

func (s *Sharing) returnLine(no string) *ReturnLine {
	for i := range s.Returns {
		if s.Returns[i].OutReturnNo == no {
			return &s.Returns[i]
		}
	}
	return nil
}

func fenStr(n int64) string { return fmt.Sprintf("%d fen", n) }
