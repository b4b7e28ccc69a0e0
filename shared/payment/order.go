package payment

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/paysls/wxpay/internal/judgment"
	"github.com/paysls/wxpay/shared/events"
	"github.com/paysls/wxpay/shared/store"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// History is a merchant order as its attempts tell it.
type History struct {
	// First is attempt 1 (out_trade_no = order_id), which points at the current one.
	First *Order
	// Current is the attempt payments are expected on now.
	Current *Order
	// Previous are the replaced attempts, oldest first (filled by Ledger.Previous).
	Previous []*Order
}

// Order reads order orderID of owner: attempt 1 and the current attempt (one read,
// two once re-priced). An out_trade_no that is another order's attempt, or a payment
// the bundle did not create, is not an order: *OtherOrderError (matching ErrNotFound).
// Every attempt followed is verified to be this order's.
func (l *Ledger) Order(ctx context.Context, owner, orderID string) (*History, error) {
	first, err := l.Attempt(ctx, owner, orderID)
	if err != nil {
		return nil, err
	}
	verify := judgment.AttemptReservation.On()
	if first.OrderID != orderID || (verify && first.Attempt > 1) {
		return nil, &OtherOrderError{OutTradeNo: orderID, Holder: first.OrderID, Attempt: first.Attempt}
	}
	h := &History{First: first, Current: first}
	if first.Current <= 1 {
		return h, nil
	}
	cur, err := l.Attempt(ctx, owner, AttemptNo(orderID, first.Current))
	switch {
	case err == nil && (!verify || cur.OrderID == orderID && cur.Attempt == first.Current):
		h.Current = cur
	case err == nil, errors.Is(err, ErrNotFound):
		// Written by a version before reservations, or removed: the order stays on the
		// newest attempt that is its own.
		l.log().Error("order points at an attempt that is not its own; answering from the newest own attempt", "order_id", orderID, "attempt", first.Current)
		for n := first.Current - 1; n > 1; n-- {
			if a, err := l.Attempt(ctx, owner, AttemptNo(orderID, n)); err == nil && a.OrderID == orderID && a.Attempt == n {
				h.Current = a
				break
			}
		}
	default:
		return nil, err
	}
	return h, nil
}

// Previous fills h.Previous: the order's attempts other than the current one, oldest
// first (one read each after the first) — those before it, and those after it when
// the pointer went back (NewestAttempt). Attempts that are not this order's are left
// out.
func (l *Ledger) Previous(ctx context.Context, h *History) error {
	h.Previous = nil
	cur := max(h.Current.Attempt, 1)
	for n := 1; n <= max(h.First.NewestAttempt(), cur); n++ {
		if n == cur {
			continue
		}
		if n == 1 {
			h.Previous = append(h.Previous, h.First)
			continue
		}
		a, err := l.Attempt(ctx, h.First.Owner, AttemptNo(h.First.OrderID, n))
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if a.OrderID == h.First.OrderID || !judgment.AttemptReservation.On() {
			h.Previous = append(h.Previous, a)
		}
	}
	return nil
}

// Attempt reads one order attempt by its out_trade_no.
func (l *Ledger) Attempt(ctx context.Context, owner, outTradeNo string) (*Order, error) {
	key := OrderKey(owner, outTradeNo)
	rec, err := l.Store.Get(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("payment: order %s: %w", outTradeNo, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("payment: read %s: %w", key, err)
	}
	return OrderOf(rec)
}

// NewOrder is an order attempt as createorder records it before calling prepay.
type NewOrder struct {
	MchID      string // the owner: mchid, or sub_mchid in partner mode
	AppID      string // the app the user pays in (appid, sub_appid or sp_appid)
	OutTradeNo string // AttemptNo(OrderID, Attempt) when empty
	OrderID    string // the merchant's order id (out_trade_no of its first attempt)
	Attempt    int    // 1 when zero
	Amount     int64  // fen
	Scene      string
	ExpiresAt  time.Time
	Create     CreateInfo
	// Claim, when set, is the create's in-progress claim, written with the attempt.
	Claim *ClaimRequest
	// Combine, when set, makes the attempt a sub-order of a combine (combine.go): it is
	// queried and closed through its combine, never on a schedule of its own.
	Combine *combineRef
	// Sharing, when set, places the order for profit sharing (sharing.go).
	Sharing *Sharing
}

// ClaimRequest is a create taking an attempt's idempotency claim.
type ClaimRequest struct {
	ID          string
	PayloadHash string
	Lease       time.Duration // on the business clock
}

// ExistsError is CreateOrder's answer when the out_trade_no is taken: Order is the
// attempt as it is (this order's, or another's). It matches store.ErrConditionFailed.
type ExistsError struct{ Order *Order }

func (e *ExistsError) Error() string {
	return fmt.Sprintf("payment: out_trade_no %s already exists", e.Order.OutTradeNo)
}

// Is makes errors.Is(err, store.ErrConditionFailed) true.
func (e *ExistsError) Is(t error) bool { return t == store.ErrConditionFailed }

// CreateOrder writes a new NOTPAY attempt in one put-if-absent write — reserving its
// out_trade_no — scheduled for its first query a minute later, with the create's claim
// when given. A taken out_trade_no fails with *ExistsError carrying the attempt there.
func (l *Ledger) CreateOrder(ctx context.Context, n NewOrder) (*Order, error) {
	if n.Attempt == 0 {
		n.Attempt = 1
	}
	if n.OutTradeNo == "" {
		n.OutTradeNo = AttemptNo(n.OrderID, n.Attempt)
	}
	if err := wechatpay.ValidateOutTradeNo("out_trade_no", n.OutTradeNo, 32); err != nil {
		return nil, invalid("%v", err)
	}
	if n.Amount <= 0 || n.MchID == "" {
		return nil, invalid("order %s: amount %d and merchant %q are required", n.OutTradeNo, n.Amount, n.MchID)
	}
	now := l.now()
	var exists *Order
	res, err := onOrder(l, ctx, OrderKey(n.MchID, n.OutTradeNo), assumeAbsent, func(o *Order, found bool) (step, error) {
		if found {
			exists = o
			return step{outcome: Refused}, nil
		}
		*o = Order{Owner: n.MchID, OutTradeNo: n.OutTradeNo, OrderID: n.OrderID, AppID: n.AppID, Amount: n.Amount,
			Scene: n.Scene, State: wechatpay.TradeStateNotPay, CreatedAt: now, ExpiresAt: n.ExpiresAt, Create: n.Create,
			NextCheck: NextCheck(now, n.ExpiresAt, now), Combine: n.Combine, Sharing: n.Sharing}
		if n.Combine != nil {
			o.NextCheck = time.Time{}
		}
		if n.OrderID != "" {
			o.Attempt = n.Attempt
		}
		if n.Claim != nil {
			o.Claim = Claim{Status: claimInProgress, ID: n.Claim.ID, PayloadHash: n.Claim.PayloadHash, LeaseUntil: now.Add(n.Claim.Lease)}
		}
		return step{outcome: Applied}, nil
	})
	if err != nil {
		return nil, fmt.Errorf("payment: create order %s: %w", n.OutTradeNo, err)
	}
	if exists != nil {
		return nil, &ExistsError{Order: exists}
	}
	return res.Order, nil
}

// Claim takes o's idempotency claim for a create that will place the payment (again):
// INPROGRESS with a lease on the business clock, conditioned on the version o was read
// at (ErrRaced when it changed: read again and judge anew).
func (l *Ledger) Claim(ctx context.Context, o *Order, c ClaimRequest) (*Order, error) {
	return l.exactly(ctx, o, func(cur *Order) {
		cur.Claim.Status, cur.Claim.ID, cur.Claim.LeaseUntil = claimInProgress, c.ID, l.now().Add(c.Lease)
		cur.Claim.PayloadHash = c.PayloadHash
	})
}

// Upgrade is the cashier placeholder becoming a real scene's payment, in place.
type Upgrade struct {
	Scene, AppID string
	Create       CreateInfo
	Claim        ClaimRequest
}

// Upgrade turns o — a scene "cashier" attempt that never reached WeChat Pay — into u's
// payment, in place (same out_trade_no: nothing at WeChat Pay to close), with u's
// claim; conditioned on o's version (ErrRaced).
func (l *Ledger) Upgrade(ctx context.Context, o *Order, u Upgrade) (*Order, error) {
	return l.exactly(ctx, o, func(cur *Order) {
		cur.Scene, cur.AppID, cur.Create = u.Scene, u.AppID, u.Create
		cur.Claim = Claim{Status: claimInProgress, ID: u.Claim.ID, PayloadHash: u.Claim.PayloadHash, LeaseUntil: l.now().Add(u.Claim.Lease)}
	})
}

// PointTo moves order first's current attempt from attempt `from` to attempt `to`,
// conditioned on the version read (ErrRaced). The attempt `to` must already be
// reserved (CreateOrder): a pointer never names an out_trade_no the order does not
// hold. A reservation whose pointer move is not done (its creator stalled, crashed or
// lost the race) stays reserved: the next create of the order moves the pointer to it
// once its claim's lease has passed, because its creator may still place it at WeChat
// Pay, and only the pointer keeps what is placed there on the order.
//
// The pointer may also go back to an earlier attempt (a cashier page switching back to
// a scene whose payment still lives): Newest keeps the highest attempt it named.
func (l *Ledger) PointTo(ctx context.Context, first *Order, from, to int) (*Order, error) {
	if first.Current > 1 && first.Current != from || first.Current <= 1 && from > 1 {
		return nil, ErrRaced
	}
	return l.exactly(ctx, first, func(cur *Order) {
		cur.Newest = max(cur.NewestAttempt(), to)
		cur.Current = to
	})
}

// NewestAttempt is, on attempt 1, the highest attempt number of the order that the
// pointer has named: the next re-price reserves the one after it.
func (o *Order) NewestAttempt() int { return max(o.Newest, o.Current, o.Attempt, 1) }

// exactly applies change to o conditioned on exactly the version o was read at.
func (l *Ledger) exactly(ctx context.Context, o *Order, change func(*Order)) (*Order, error) {
	raw := o.raw
	first := true
	res, err := onOrder(l, ctx, o.Key(), &raw, func(cur *Order, exists bool) (step, error) {
		if !exists || !first {
			return step{}, ErrRaced
		}
		first = false
		change(cur)
		return step{outcome: Applied}, nil
	})
	if err != nil {
		return nil, err
	}
	return res.Order, nil
}

// Complete records the answer of the prepay a claim placed (COMPLETED, replayable until
// expiry) and releases the claim. Recorded whatever else changed on the attempt
// meanwhile (a payment), unless another create took the claim over (errClaimLost).
func (l *Ledger) Complete(ctx context.Context, o *Order, claimID string, ans Prepay, expiry time.Time) (*Order, error) {
	raw := o.raw
	res, err := onOrder(l, ctx, o.Key(), &raw, func(cur *Order, exists bool) (step, error) {
		if !exists || cur.Claim.ID != claimID {
			return step{}, errClaimLost
		}
		if cur.Claim.Status == ClaimCompleted && cur.Claim.Answer == ans {
			return step{outcome: Duplicate}, nil
		}
		cur.Claim = Claim{Status: ClaimCompleted, ID: claimID, PayloadHash: cur.Claim.PayloadHash, Answer: ans, Expiry: expiry}
		return step{outcome: Applied}, nil
	})
	if err != nil {
		return nil, err
	}
	return res.Order, nil
}

// Release gives up a claim after a failed prepay, so a retry need not wait out the
// lease. A claim taken over meanwhile is left alone.
func (l *Ledger) Release(ctx context.Context, o *Order, claimID string) error {
	_, err := onOrder(l, ctx, o.Key(), nil, func(cur *Order, exists bool) (step, error) {
		if !exists || cur.Claim.ID != claimID || cur.Claim.Status != claimInProgress {
			return step{outcome: Duplicate}, nil
		}
		cur.Claim.Status, cur.Claim.LeaseUntil = "", time.Time{}
		if cur.Claim.Answer.Any() {
			cur.Claim.Status = ClaimCompleted
		}
		return step{outcome: Applied}, nil
	})
	return err
}

// abandon removes a reserved attempt that was never placed (no prepay, no payment, no
// event), conditioned on the version o was read at. Anything else on the attempt
// keeps it.
//
// createorder no longer calls it for an order's attempts: a reservation of a re-price
// is finished by whoever comes next, never removed (see PointTo). Removing one is
// safe only for the write's own creator, before anyone else can have read it or moved
// a pointer to it: a store counts a re-created record's version from 1 again, so a
// conditioned write prepared on the removed record can land on a later reservation of
// the same name.
func (l *Ledger) abandon(ctx context.Context, o *Order) error {
	if o.Claim.Answer.Any() || o.Payment != nil || len(o.Conflicts) > 0 || o.EventSeq > 0 || !payable(o.State) {
		return nil
	}
	err := l.Store.Delete(ctx, o.Key(), store.Condition{Version: o.raw.Version})
	if err != nil && !errors.Is(err, store.ErrConditionFailed) {
		return fmt.Errorf("payment: abandon %s: %w", o.Key(), err)
	}
	return nil
}

// NextCheck is when an unpaid order is next queried, on a schedule that decays with its
// age: about every minute for its first 10 minutes, every 10 minutes up to an hour,
// hourly up to its expiry, and once just after it (when reconcile closes it).
func NextCheck(created, expires, now time.Time) time.Time {
	age := now.Sub(created)
	var next time.Time
	switch {
	case age < 10*time.Minute:
		next = now.Add(time.Minute)
	case age < time.Hour:
		next = now.Add(10 * time.Minute)
	default:
		next = now.Add(time.Hour)
	}
	if !expires.IsZero() {
		if after := expires.Add(time.Minute); now.Before(after) && next.After(after) {
			next = after
		}
	}
	return next
}

// unknownQueriesFor is how long an order recorded from a refund seen first (not created
// by the bundle) is queried for its payment.
const unknownQueriesFor = 7 * 24 * time.Hour

// RequestClose records that an unpaid attempt must be closed at WeChat Pay, due at at
// (WeChat Pay refuses a close in an order's first 5 minutes, so createorder defers it;
// reconcile carries it out). A payment arriving afterwards goes to REVIEW. Refused when
// the attempt is no longer closable (paid, closed, in review).
func (l *Ledger) RequestClose(ctx context.Context, key string, at time.Time, by string) (Result, error) {
	return onOrder(l, ctx, key, nil, func(o *Order, exists bool) (step, error) {
		if !exists {
			return step{}, fmt.Errorf("payment: close %s: %w", key, ErrNotFound)
		}
		switch {
		case !payable(o.State) || o.InReview():
			return step{outcome: Refused, reason: "the order is " + o.Status()}, nil
		case o.Close != nil && !o.Parked():
			return step{outcome: Duplicate}, nil
		}
		// A close asked for an attempt a scene switch parked supersedes the parking.
		o.Close = &closeRequest{At: at, By: by}
		if o.NextCheck.IsZero() || at.Before(o.NextCheck) {
			o.NextCheck = at
		}
		return step{outcome: Applied}, nil
	})
}

// MarkClosed records that an attempt is closed (closed at WeChat Pay by us, or found
// CLOSED/REVOKED by a query), with an order.closed event. Refused when the attempt was
// paid or is in review meanwhile; Duplicate when it was already closed.
func (l *Ledger) MarkClosed(ctx context.Context, key, source string) (Result, error) {
	return l.markClosed(ctx, key, source, nil)
}

// MarkNeverPlaced records closed an attempt whose close WeChat Pay answered
// ORDER_NOT_EXIST: its prepay had not reached WeChat Pay when the close did. The cashier
// page places an attempt whenever a browser opens its link, so a prepay may have been
// claimed or answered since seen (the attempt's claim as read before the close was
// sent): then the close is Refused ("placed since"), decided on the record the write is
// conditioned on, and the caller defers it for reconcile.
func (l *Ledger) MarkNeverPlaced(ctx context.Context, key, source string, seen Claim) (Result, error) {
	return l.markClosed(ctx, key, source, func(o *Order) bool {
		return o.Claim.Live(l.now()) || o.Claim.Answer.Any() && !seen.Answer.Any()
	})
}

func (l *Ledger) markClosed(ctx context.Context, key, source string, placedSince func(*Order) bool) (Result, error) {
	// An attempt re-pricing replaced (or reserved and never reached) is closed as an
	// attempt, not as the merchant's order: its order.closed names the attempt the
	// order goes on under. Attempt 1 knows its pointer; a later attempt asks attempt 1.
	current := 0
	owner, no := splitKey(key)
	if o, err := l.Attempt(ctx, owner, no); err == nil && o.Attempt > 1 && o.OrderID != "" {
		if first, err := l.Attempt(ctx, o.Owner, o.OrderID); err == nil && first.OrderID == o.OrderID {
			current = max(first.Current, 1)
		}
	}
	return onOrder(l, ctx, key, nil, func(o *Order, exists bool) (step, error) {
		if !exists {
			return step{}, fmt.Errorf("payment: close %s: %w", key, ErrNotFound)
		}
		switch {
		case o.Closed():
			return step{outcome: Duplicate}, nil
		case !payable(o.State) || o.InReview():
			return step{outcome: Refused, reason: "the order is " + o.Status()}, nil
		case placedSince != nil && placedSince(o):
			return step{outcome: Refused, reason: "placed since"}, nil
		}
		o.State, o.Source, o.Close, o.NextCheck = wechatpay.TradeStateClosed, source, nil, time.Time{}
		ev := o.event()
		switch {
		case o.Attempt == 1 && o.Current > 1:
			ev.ReplacedBy = AttemptNo(o.OrderID, o.Current)
		case o.Attempt > 1 && current > 0 && current != o.Attempt:
			ev.ReplacedBy = AttemptNo(o.OrderID, current)
		}
		st := step{outcome: Applied, events: []pendingEvent{{events.OrderClosed, ev}}}
		// A refund settled for it meanwhile means a payment this store does not know.
		return o.judgeLines(st, l.now(), source), nil
	})
}

// Reschedule moves an unpaid attempt's next query to next (noting checkedAt when not
// zero). A settled attempt is left where its own transition placed it.
func (l *Ledger) Reschedule(ctx context.Context, o *Order, next, checkedAt time.Time) (*Order, error) {
	raw := o.raw
	res, err := onOrder(l, ctx, o.Key(), &raw, func(cur *Order, exists bool) (step, error) {
		if !exists || !payable(cur.State) {
			return step{outcome: Duplicate}, nil
		}
		if cur.Unknown && next.Sub(cur.CreatedAt) > unknownQueriesFor {
			next = time.Time{} // its payment never came: stop asking
		}
		cur.NextCheck = next
		if !checkedAt.IsZero() {
			cur.CheckedAt = checkedAt
		}
		return step{outcome: Applied}, nil
	})
	if err != nil {
		return nil, err
	}
	return res.Order, nil
}

// ApplyQueried applies what a query of WeChat Pay said about an attempt (reconcile, GET
// /orders, billfetch): paid (SUCCESS, or REFUND — it was paid) goes through
// ApplyTransaction; CLOSED/REVOKED closes the attempt; anything else only moves the
// attempt's next check along its decaying schedule.
func (l *Ledger) ApplyQueried(ctx context.Context, o *Order, tx *wechatpay.Transaction, source string) (Result, error) {
	switch tx.TradeState {
	case wechatpay.TradeStateSuccess, wechatpay.TradeStateRefund:
		return l.ApplyTransaction(ctx, tx, source)
	case wechatpay.TradeStateClosed, wechatpay.TradeStateRevoked:
		return l.MarkClosed(ctx, o.Key(), source)
	}
	now := l.now()
	if !payable(o.State) {
		return Result{Outcome: Duplicate, Record: o.raw, Order: o}, nil
	}
	next := NextCheck(o.CreatedAt, o.ExpiresAt, now)
	if o.Close != nil && o.Close.At.After(now) && o.Close.At.Before(next) {
		next = o.Close.At
	}
	out, err := l.Reschedule(ctx, o, next, now)
	if err != nil {
		return Result{}, err
	}
	return Result{Outcome: Duplicate, Record: out.raw, Order: out}, nil
}

// NoteBill records what billfetch found for a settled order or refund (key): the bill
// date that listed it (it leaves its bill day's listing), or the next day's date when
// a near-midnight success is to be rechecked there. It never touches money.
func (l *Ledger) NoteBill(ctx context.Context, rec store.Record, note BillNote) (store.Record, error) {
	apply := func(b *BillNote) bool {
		was := *b
		if note.Seen != "" {
			b.Seen, b.Recheck = note.Seen, ""
		} else if note.Recheck != "" && b.Seen == "" {
			b.Recheck = note.Recheck
		}
		return *b != was
	}
	var res Result
	var err error
	if len(rec.Key) > len(prefixRefund) && rec.Key[:len(prefixRefund)] == prefixRefund {
		res, err = onRefund(l, ctx, rec.Key, &rec, func(r *Refund, exists bool) (step, error) {
			if !exists || !apply(&r.Bill) {
				return step{outcome: Duplicate}, nil
			}
			return step{outcome: Applied}, nil
		})
	} else {
		res, err = onOrder(l, ctx, rec.Key, &rec, func(o *Order, exists bool) (step, error) {
			if !exists || !apply(&o.Bill) {
				return step{outcome: Duplicate}, nil
			}
			return step{outcome: Applied}, nil
		})
	}
	if err != nil {
		return store.Record{}, fmt.Errorf("payment: note bill on %s: %w", rec.Key, err)
	}
	return res.Record, nil
}
