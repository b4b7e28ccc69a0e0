package payment

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/paysls/wxpay/shared/wechatpay"
)

// Review causes of profit-sharing notifications (分账动账通知). A genuine notification
// says WeChat Pay moved money out of an order (a split) or back to it (a return); one the ledger cannot account for is
// kept whole on the order, which goes to REVIEW — it used to be acknowledged as a
// duplicate and dropped, leaving only the next day's fund bill to notice.
const (
	// CauseShareNotAsked: a split or return of the order that this ledger never asked
	// for (the order not placed for sharing, or its split still held until the
	// merchant settles).
	CauseShareNotAsked CauseKind = "share_not_asked"
	// CauseShareContradicts: a split or return result that contradicts the one asked —
	// another amount or receiver, another transaction, one that failed here or a share
	// closed here reported as succeeded.
	CauseShareContradicts CauseKind = "share_result_contradicts"
)

// splitNoticeConflict judges a split notification against the order's sharing (nil:
// not placed for sharing). It answers the cause and, for people, the detail when the
// notification cannot be the split asked; "" when it fits (decideSplit then applies
// it, or finds it known).
func splitNoticeConflict(o *Order, s *Sharing, n *wechatpay.ProfitSharingNotice) (CauseKind, string) {
	got := fmt.Sprintf("WeChat Pay reports split %s (%s) of order %s: %d fen to %s %s", n.OutOrderNo, n.OrderID, o.OutTradeNo,
		n.Receiver.Amount, n.Receiver.Type, n.Receiver.Account)
	if txid, _ := o.sharedPayment(); n.TransactionID != "" && txid != "" && n.TransactionID != txid {
		return CauseShareContradicts, fmt.Sprintf("%s, from transaction %s; the order was paid by %s", got, n.TransactionID, txid)
	}
	if s == nil {
		return CauseShareNotAsked, got + "; the order was not placed for profit sharing here"
	}
	sp := s.splitLine(n.OutOrderNo)
	switch {
	case sp == nil && !s.HoldUntil.IsZero() && s.SettledAt.IsZero():
		return CauseShareNotAsked, fmt.Sprintf("%s; this ledger never asked for it: the order's split is held until %s or the merchant's settle",
			got, s.HoldUntil.Format(time.RFC3339))
	case sp == nil:
		return CauseShareNotAsked, got + "; this ledger never asked for it"
	case sp.State == ShareFailed:
		return CauseShareContradicts, fmt.Sprintf("%s; that split failed here (%s)", got, sp.Reason)
	}
	var asked []int64
	for _, r := range sp.Receivers {
		if r.Account != n.Receiver.Account {
			continue
		}
		if r.Amount == n.Receiver.Amount {
			if r.Result == wechatpay.ShareResultClosed {
				return CauseShareContradicts, fmt.Sprintf("%s; that share was closed here (%s)", got, r.FailReason)
			}
			return "", ""
		}
		asked = append(asked, r.Amount)
	}
	if len(asked) == 0 {
		return CauseShareContradicts, got + "; the split asked for nothing to that receiver"
	}
	return CauseShareContradicts, fmt.Sprintf("%s; the split asked for %v fen to that receiver", got, asked)
}

// returnNoticeConflict judges a return notification (PROFITSHARING.RETURN: money back
// from a receiver) against the order's sharing as splitNoticeConflict judges a split.
func returnNoticeConflict(o *Order, s *Sharing, n *wechatpay.ProfitSharingNotice) (CauseKind, string) {
	got := fmt.Sprintf("WeChat Pay reports return %s (%s) of order %s: %d fen back from %s %s", n.OutOrderNo, n.OrderID, o.OutTradeNo,
		n.Receiver.Amount, n.Receiver.Type, n.Receiver.Account)
	if txid, _ := o.sharedPayment(); n.TransactionID != "" && txid != "" && n.TransactionID != txid {
		return CauseShareContradicts, fmt.Sprintf("%s, of transaction %s; the order was paid by %s", got, n.TransactionID, txid)
	}
	if s == nil {
		return CauseShareNotAsked, got + "; the order was not placed for profit sharing here"
	}
	rl := s.returnLine(n.OutOrderNo)
	switch {
	case rl == nil:
		return CauseShareNotAsked, got + "; this ledger never asked for it"
	case rl.State == ShareFailed:
		return CauseShareContradicts, fmt.Sprintf("%s; that return failed here (%s)", got, rl.FailReason)
	case rl.Amount != n.Receiver.Amount:
		return CauseShareContradicts, fmt.Sprintf("%s; the return asked for %d fen", got, rl.Amount)
	case rl.ReturnMchID != "" && n.Receiver.Account != "" && rl.ReturnMchID != n.Receiver.Account:
		return CauseShareContradicts, fmt.Sprintf("%s; the return asked for it from %s", got, rl.ReturnMchID)
	}
	return "", ""
}

// keepShareNotice keeps a split or return notification that contradicts the ledger on the
// order, whole (the notification, as Data), and puts the order in REVIEW with cause
// kind: loud and announced (order.review) when it opens the review, listed beside an
// open one. The same notification again writes nothing. The split lines are left as
// they were: what WeChat Pay moved is for a person to reconcile, not for the ledger to
// guess.
func (o *Order) keepShareNotice(kind CauseKind, detail string, n *wechatpay.ProfitSharingNotice, source string, now time.Time) (step, error) {
	data, err := json.Marshal(n)
	if err != nil {
		return step{}, fmt.Errorf("payment: encode profit-sharing notification %s: %w", n.OutOrderNo, err)
	}
	if o.keptShare(kind, data) {
		return step{outcome: Duplicate, reason: o.Review.Reason()}, nil
	}
	return o.keepShare(kind, detail, data, n.TransactionID, n.Receiver.Amount, wechatpay.ShareResultSuccess, n.SuccessTime, source, now), nil
}

// keptShare reports whether a profit-sharing result (data, whole) is kept already
// under cause kind.
func (o *Order) keptShare(kind CauseKind, data []byte) bool {
	return slices.ContainsFunc(o.Conflicts, func(c Conflict) bool { return c.Cause == kind && bytes.Equal(c.Data, data) })
}

// keepShare keeps a profit-sharing result the ledger cannot account for on the order,
// whole (data), and puts the order in REVIEW with cause kind. The transaction it names
// is on the cause and in data, never on the conflict: a conflict with a transaction and
// no refund number is a payment kept on the order (PaidTotal, paidOf, Knows, the
// console's refundable kept payments), and a split is money going out, not a payment.
func (o *Order) keepShare(kind CauseKind, detail string, data []byte, txid string, amount int64, status, successTime, source string, now time.Time) step {
	c := Cause{Kind: kind, Detail: detail, TransactionID: txid, Amount: amount, Source: source, At: now}
	o.Conflicts = append(o.Conflicts, Conflict{Cause: kind, OutTradeNo: o.OutTradeNo, Amount: amount,
		Status: status, SuccessTime: successTime, Source: source, ReceivedAt: now, Data: data})
	return o.review(c, nil)
}

// shareAnswer is WeChat Pay's answer about a split or return (a create's or a query's),
// kept whole on the order when it contradicts what was asked.
type shareAnswer struct {
	Kind       string        `json:"kind"` // split, return
	OutOrderNo string        `json:"out_order_no"`
	Split      *ShareResult  `json:"split,omitempty"`
	Return     *ReturnResult `json:"return,omitempty"`
}

// splitAnswerConflict judges WeChat Pay's answer about split sp (its create's or a
// query's) against what the split asked, as splitNoticeConflict judges a notification:
// every receiver the answer names must be one asked, for the amount asked, and must not
// contradict a final result here. It answers the cause, the detail for people and the
// amount of the receiver that contradicts; "" when the answer fits (decideSplit
// applies it). Before, such an answer was passed over receiver by receiver: the split
// stayed PROCESSING here while WeChat Pay had moved other money.
func splitAnswerConflict(o *Order, sp *SplitLine, res ShareResult) (CauseKind, string, int64) {
	final := func(r string) bool { return r == wechatpay.ShareResultSuccess || r == wechatpay.ShareResultClosed }
	for _, got := range res.Receivers {
		says := fmt.Sprintf("WeChat Pay answers split %s (%s) of order %s: %d fen to %s %s (%s)", sp.OutOrderNo, res.OrderID, o.OutTradeNo,
			got.Amount, got.Type, got.Account, cmp.Or(got.Result, res.State))
		var asked []int64
		fits := false
		for _, r := range sp.Receivers {
			if r.Account != got.Account {
				continue
			}
			if r.Amount != got.Amount {
				asked = append(asked, r.Amount)
				continue
			}
			if final(r.Result) && final(got.Result) && r.Result != got.Result {
				return CauseShareContradicts, fmt.Sprintf("%s; that share is %s here", says, r.Result), got.Amount
			}
			fits = true
		}
		switch {
		case fits:
		case len(asked) == 0:
			return CauseShareContradicts, says + "; the split asked for nothing to that receiver", got.Amount
		default:
			return CauseShareContradicts, fmt.Sprintf("%s; the split asked for %v fen to that receiver", says, asked), got.Amount
		}
	}
	return "", "", 0
}

// returnAnswerConflict judges WeChat Pay's answer about return rl against what it
// asked: the amount, and the receiver it comes back from.
func returnAnswerConflict(o *Order, rl *ReturnLine, res ReturnResult) (CauseKind, string) {
	says := fmt.Sprintf("WeChat Pay answers return %s (%s) of order %s: %d fen back from %s (%s)", rl.OutReturnNo, res.ReturnID, o.OutTradeNo,
		res.Amount, cmp.Or(res.ReturnMchID, "a receiver not named"), res.Result)
	switch {
	case res.Amount != 0 && res.Amount != rl.Amount:
		return CauseShareContradicts, fmt.Sprintf("%s; the return asked for %d fen", says, rl.Amount)
	case res.ReturnMchID != "" && res.ReturnMchID != rl.ReturnMchID:
		return CauseShareContradicts, fmt.Sprintf("%s; the return asked for it from %s", says, rl.ReturnMchID)
	}
	return "", ""
}

// keepShareAnswer keeps an answer about item no that contradicts what was asked on the
// order, whole, in REVIEW with cause kind (loud once, as keepShareNotice). The item is
// left as it was — in flight, still followed (queried, never sent again: NextShare in
// REVIEW) — and its next query is put off as any answer's (followUp), so that the same
// answer again, which keeps nothing new, does not make the job ask at once again.
func (o *Order) keepShareAnswer(kind CauseKind, detail string, a shareAnswer, amount int64, now time.Time) (step, error) {
	data, err := json.Marshal(a)
	if err != nil {
		return step{}, fmt.Errorf("payment: encode the answer about %s: %w", a.OutOrderNo, err)
	}
	s := o.Sharing
	s.RetryAt = followUp(now, max(s.Tries, 1)) // not at once: the same answer would come back
	s.Tries++
	if o.keptShare(kind, data) {
		return step{outcome: Review, reason: o.Review.Reason()}, nil // rescheduled only
	}
	txid, _ := o.sharedPayment()
	status := ""
	if a.Split != nil {
		status = a.Split.State
	} else if a.Return != nil {
		status = a.Return.Result
	}
	return o.keepShare(kind, detail, data, txid, amount, status, "", "reconcile", now), nil
}

// applyShareNotice applies a split or return notification (kind NoSplit, noReturn)
// to the order it names: kept for review when it contradicts the ledger
// (splitNoticeConflict, returnNoticeConflict), else the result goes to its split
// (decideSplit) or return (decideReturn). One read (the order, given) and at most one
// write, as any notification.
func (l *Ledger) applyShareNotice(ctx context.Context, o *Order, n *wechatpay.ProfitSharingNotice, kind, source string) (Result, error) {
	raw := o.raw
	now := l.now()
	return onOrder(l, ctx, raw.Key, &raw, func(cur *Order, exists bool) (step, error) {
		if !exists {
			return step{}, fmt.Errorf("payment: order %s: %w", o.OutTradeNo, ErrNotFound)
		}
		judge := splitNoticeConflict
		if kind == noReturn {
			judge = returnNoticeConflict
		}
		if cause, detail := judge(cur, cur.Sharing, n); cause != "" {
			return cur.keepShareNotice(cause, detail, n, source, now)
		}
		if kind == noReturn {
			return decideReturn(cur, cur.Sharing, n.OutOrderNo, ReturnResult{ReturnID: n.OrderID, Result: wechatpay.ReturnSuccess, FinishTime: n.SuccessTime, Amount: n.Receiver.Amount}, now), nil
		}
		got := SplitReceiver{Type: n.Receiver.Type, Account: n.Receiver.Account, Amount: n.Receiver.Amount, Result: wechatpay.ShareResultSuccess, FinishTime: n.SuccessTime}
		return decideSplit(cur, cur.Sharing, n.OutOrderNo, ShareResult{OrderID: n.OrderID, Receivers: []SplitReceiver{got}}, now), nil
	})
}
