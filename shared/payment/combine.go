package payment

// Combine orders (合单支付): one payment by the user for several sub-orders, each an order
// of its own at WeChat Pay (own out_trade_no, own sub_mchid, own transaction_id) and
// here (an Order, owner = its sub_mchid, with a combineRef). The combine itself is a
// record of its own, combine/{combine_mchid}/{combine_out_trade_no}: the create's claim
// and prepay answer, the list of its sub-orders, the schedule of its queries and close.
//
// WeChat Pay's rules (shared/wechatpay/combine.go has them with the docs): sub-orders
// are read, closed (and their payments queried) only through the combine APIs, so a
// sub-order never has a query schedule of its own — its combine has it; the combine
// notification (TRANSACTION.SUCCESS with combine_out_trade_no) carries every sub-order's
// result, and ApplyCombine applies each one through the ordinary payment transition.
//
// combine.paid. When every sub-order of a combine holds its payment, one combine.paid event is
// recorded — on the combine's last sub-order (combineRef.Last), in the same write as
// that sub-order's own transition, after every other sub-order's payment is durably
// recorded. So a combine notification costs at most n conditional writes (one per
// sub-order, none for a duplicate), a redelivery or a crash between sub-orders never
// announces twice, and a sub-order settled by a query meanwhile is a duplicate.
//
// Re-pricing a combine makes a new attempt: a new combine_out_trade_no
// ({order_id}_n) and new sub-order numbers ({sub order_id}_n), all reserved
// (put-if-absent, PlaceCombine) before any pointer moves; a reservation refused as a
// whole leaves the combine as it was. Once a combine attempt is written it is never
// removed, and neither are its sub-orders, as an order's attempts are not (PointTo):
// whoever finds it reserved but not pointed to finishes the pointer moves once its
// creator's claim has lapsed (createorder), because that creator, however late, may
// still place it at WeChat Pay, and only pointers that reach it keep what is paid
// there on the combine and its sub-orders.

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/paysls/wxpay/shared/events"
	"github.com/paysls/wxpay/shared/store"
	"github.com/paysls/wxpay/shared/wechatpay"
)

const prefixCombine = "combine/"

// PendingCombines is the schedule of combines owing a query (for their sub-orders'
// payments) or a close.
const PendingCombines = "combines"

// EventCombinePaid is recorded once every sub-order of a combine is paid.
const EventCombinePaid = "combine.paid"

// CombineKey is the store key of a combine attempt: combine_out_trade_no is unique
// under combine_mchid (the platform's sp_mchid), a space of its own.
func CombineKey(owner, combineNo string) string { return prefixCombine + owner + "/" + combineNo }

// Combine is one attempt of a merchant's combine order.
type Combine struct {
	Owner     string `json:"owner"`                // combine_mchid (sp_mchid)
	CombineNo string `json:"combine_out_trade_no"` // of this attempt: order_id, then order_id_n
	OrderID   string `json:"order_id"`
	Attempt   int    `json:"attempt"`
	// Current is, on attempt 1 of a re-priced combine, the current attempt's number.
	Current int `json:"current,omitempty"`
	// Newest is, on attempt 1, the highest attempt number the pointer has named (0:
	// Current); Moves counts the pointer's moves, which its sub-orders' pointers follow
	// in order (PointSubOrders). The pointer goes back when the cashier page switches
	// back to a scene whose combine still lives (scene.go).
	Newest    int        `json:"newest,omitempty"`
	Moves     int        `json:"moves,omitempty"`
	AppID     string     `json:"appid,omitempty"` // combine_appid
	Scene     string     `json:"scene,omitempty"`
	SubOrders []SubOrder `json:"sub_orders"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt time.Time  `json:"expires_at,omitzero"`
	// Close is set once a close was asked for (re-priced or cancelled).
	Close *closeRequest `json:"close,omitempty"`
	// Closed: closed at WeChat Pay (or never placed there), its unpaid sub-orders closed.
	Closed bool `json:"closed,omitempty"`
	// Settled: every sub-order has a result; nothing is left to query.
	Settled bool       `json:"settled,omitempty"`
	Claim   Claim      `json:"claim,omitzero"`
	Create  CreateInfo `json:"create,omitzero"`
	// NextCheck is when the combine is next queried (reconcile); CheckedAt the last query.
	NextCheck time.Time `json:"next_check,omitzero"`
	CheckedAt time.Time `json:"checked_at,omitzero"`
	UpdatedAt time.Time `json:"updated_at"`
	EventSeq  int64     `json:"event_seq,omitempty"`

	raw store.Record
}

// SubOrder is one sub-order of a combine attempt, as placed.
type SubOrder struct {
	OrderID       string `json:"order_id"`
	OutTradeNo    string `json:"out_trade_no"` // of this attempt
	SubMchID      string `json:"sub_mchid"`
	SubAppID      string `json:"sub_appid,omitempty"`
	Amount        int64  `json:"amount"`
	Description   string `json:"description"`
	Attach        string `json:"attach,omitempty"`
	ProfitSharing bool   `json:"profit_sharing,omitempty"`
	// Sharing is the sub-order's profit sharing plan (sharing.go), when ProfitSharing.
	Sharing *Sharing `json:"sharing,omitempty"`
}

// combineRef is what a sub-order knows of its combine.
type combineRef struct {
	Owner     string `json:"owner"`
	OrderID   string `json:"order_id"`
	CombineNo string `json:"combine_out_trade_no"`
	// Last marks the sub-order whose write announces combine.paid; Announced that it did.
	Last      bool `json:"last,omitempty"`
	Announced bool `json:"announced,omitempty"`
	// Move is, on the sub-order's attempt 1, the move of the combine's pointer (Moves)
	// its own pointer follows: an older move never overrides a newer one.
	Move int `json:"move,omitempty"`
}

// CombineHistory is a merchant's combine order as its attempts tell it. Previous is
// filled by CombinePrevious.
type CombineHistory struct {
	First, Current *Combine
	Previous       []*Combine
}

// Key is the store key of the combine attempt.
func (c *Combine) Key() string { return CombineKey(c.Owner, c.CombineNo) }

// Record is the stored record the combine was decoded from.
func (c *Combine) Record() store.Record { return c.raw }

// Total is what the user pays: the sum of the sub-orders.
func (c *Combine) Total() int64 {
	var n int64
	for _, s := range c.SubOrders {
		n += s.Amount
	}
	return n
}

// Placed reports whether the combine reached WeChat Pay (a prepay answered).
func (c *Combine) Placed() bool { return c.Claim.Answer.Any() }

func (c *Combine) schedule() (string, time.Time) {
	if c.Closed || c.Settled || c.NextCheck.IsZero() {
		return "", time.Time{}
	}
	return PendingCombines, c.NextCheck
}

// CombineOf decodes a combine record listed from the store.
func CombineOf(rec store.Record) (*Combine, error) {
	c := &Combine{}
	if err := decode(rec, c); err != nil {
		return nil, err
	}
	return c, nil
}

// isCombineKey reports whether key names a combine record.
func isCombineKey(key string) bool { return strings.HasPrefix(key, prefixCombine) }

func onCombine(l *Ledger, ctx context.Context, key string, have *store.Record, decide func(*Combine, bool) (step, error)) (*Combine, Outcome, error) {
	res, c, err := transact(l, ctx, key, have, func() *Combine { return &Combine{} }, decide)
	if err != nil {
		return nil, "", err
	}
	return c, res.Outcome, nil
}

// CombineAttempt reads one combine attempt by its combine_out_trade_no.
func (l *Ledger) CombineAttempt(ctx context.Context, owner, combineNo string) (*Combine, error) {
	key := CombineKey(owner, combineNo)
	rec, err := l.Store.Get(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("payment: combine %s: %w", combineNo, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("payment: read %s: %w", key, err)
	}
	return CombineOf(rec)
}

// Combine reads combine orderID of owner: attempt 1 and the current attempt. A number
// that is another combine's attempt is *OtherOrderError (matching ErrNotFound).
func (l *Ledger) Combine(ctx context.Context, owner, orderID string) (*CombineHistory, error) {
	first, err := l.CombineAttempt(ctx, owner, orderID)
	if err != nil {
		return nil, err
	}
	if first.OrderID != orderID || first.Attempt > 1 {
		return nil, &OtherOrderError{OutTradeNo: orderID, Holder: first.OrderID, Attempt: first.Attempt}
	}
	h := &CombineHistory{First: first, Current: first}
	if first.Current <= 1 {
		return h, nil
	}
	cur, err := l.CombineAttempt(ctx, owner, AttemptNo(orderID, first.Current))
	switch {
	case err == nil && cur.OrderID == orderID && cur.Attempt == first.Current:
		h.Current = cur
	case err == nil, errors.Is(err, ErrNotFound):
		l.log().Error("combine points at an attempt that is not its own; answering from attempt 1", "order_id", orderID, "attempt", first.Current)
	default:
		return nil, err
	}
	return h, nil
}

// NewCombine is a combine attempt as createorder records it before its prepay.
type NewCombine struct {
	Owner, AppID string
	OrderID      string
	Attempt      int // 1 when zero
	Scene        string
	ExpiresAt    time.Time
	// SubOrders as the request gave them; OutTradeNo is filled from the attempt.
	SubOrders []SubOrder
	Create    CreateInfo
	Claim     *ClaimRequest
}

// CombineExistsError is createCombine's answer when the combine number is taken.
type CombineExistsError struct{ Combine *Combine }

func (e *CombineExistsError) Error() string {
	return fmt.Sprintf("payment: combine_out_trade_no %s already exists", e.Combine.CombineNo)
}

// Is makes errors.Is(err, store.ErrConditionFailed) true.
func (e *CombineExistsError) Is(t error) bool { return t == store.ErrConditionFailed }

// createCombine writes a new combine attempt in one put-if-absent write — reserving its
// combine_out_trade_no — with the create's claim, scheduled for its first query. Its
// sub-orders are reserved apart (ReserveSubOrders; PlaceCombine does both, sub-orders
// first). A taken number fails with *CombineExistsError.
func (l *Ledger) createCombine(ctx context.Context, n NewCombine) (*Combine, error) {
	if n.Attempt == 0 {
		n.Attempt = 1
	}
	no := AttemptNo(n.OrderID, n.Attempt)
	if err := wechatpay.ValidateCombineOutTradeNo("combine_out_trade_no", no); err != nil {
		return nil, invalid("%v", err)
	}
	if n.Owner == "" || len(n.SubOrders) == 0 {
		return nil, invalid("combine %s: merchant %q and sub-orders are required", no, n.Owner)
	}
	now := l.now()
	subs := make([]SubOrder, len(n.SubOrders))
	for i, s := range n.SubOrders {
		s.OutTradeNo = AttemptNo(s.OrderID, n.Attempt)
		if err := wechatpay.ValidateOutTradeNo("out_trade_no", s.OutTradeNo, 32); err != nil || s.Amount <= 0 || s.SubMchID == "" {
			return nil, invalid("combine %s: sub-order %d (%s): a valid out_trade_no, sub_mchid and amount are required", no, i, s.OrderID)
		}
		subs[i] = s
	}
	var exists *Combine
	c, _, err := onCombine(l, ctx, CombineKey(n.Owner, no), nil, func(c *Combine, found bool) (step, error) {
		if found {
			exists = c
			return step{outcome: Refused}, nil
		}
		*c = Combine{Owner: n.Owner, CombineNo: no, OrderID: n.OrderID, Attempt: n.Attempt, AppID: n.AppID, Scene: n.Scene,
			SubOrders: subs, CreatedAt: now, ExpiresAt: n.ExpiresAt, Create: n.Create, NextCheck: NextCheck(now, n.ExpiresAt, now)}
		if n.Claim != nil {
			c.Claim = Claim{Status: claimInProgress, ID: n.Claim.ID, PayloadHash: n.Claim.PayloadHash, LeaseUntil: now.Add(n.Claim.Lease)}
		}
		return step{outcome: Applied}, nil
	})
	if err != nil {
		return nil, fmt.Errorf("payment: create combine %s: %w", no, err)
	}
	if exists != nil {
		return nil, &CombineExistsError{Combine: exists}
	}
	return c, nil
}

// SubOrderTakenError is ReserveSubOrders' answer when a sub-order's out_trade_no is held
// by another order (or a sub-order of another combine).
type SubOrderTakenError struct {
	OrderID, OutTradeNo, SubMchID string
	Holder                        string // the order_id holding it ("" for a payment the bundle did not create)
}

func (e *SubOrderTakenError) Error() string {
	who := "a payment this API did not create"
	if e.Holder != "" {
		who = "order " + e.Holder
	}
	return fmt.Sprintf("sub-order %s: out_trade_no %s of sub-merchant %s is already %s", e.OrderID, e.OutTradeNo, e.SubMchID, who)
}

// Is makes errors.Is(err, store.ErrConditionFailed) true.
func (e *SubOrderTakenError) Is(t error) bool { return t == store.ErrConditionFailed }

// subOrderParallel bounds the sub-order reads and writes of one combine in flight: the
// stores batch concurrent writes (bbolt's group commit, DynamoDB and Redis round trips
// overlap), so 50 sub-orders cost about what a few cost.
var subOrderParallel atomic.Int32

func init() { subOrderParallel.Store(16) }

// SetSubOrderParallel sets how many sub-order reads and writes of one combine run at
// once (default 16) and returns a function restoring it. The deterministic simulation
// (internal/dst) sets 1: its scheduler runs one store call per operation at a time.
func SetSubOrderParallel(n int) (restore func()) {
	was := subOrderParallel.Swap(int32(max(n, 1)))
	return func() { subOrderParallel.Store(was) }
}

// each runs fn for i in [0, n) on at most subOrderParallel goroutines (waited for) and
// returns the first error by index.
func each(n int, fn func(i int) error) error {
	errs := make([]error, n)
	if p := int(subOrderParallel.Load()); n <= 1 || p <= 1 {
		for i := range n {
			errs[i] = fn(i)
		}
	} else {
		var wg sync.WaitGroup
		sem := make(chan struct{}, p)
		for i := range n {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				errs[i] = fn(i)
			}()
		}
		wg.Wait()
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// ownedBy reports whether o is the sub-order of combine attempt c.
func ownedBy(o *Order, c *Combine) bool {
	return o != nil && o.Combine != nil && o.Combine.Owner == c.Owner && o.Combine.CombineNo == c.CombineNo
}

// ReserveSubOrders writes c's sub-orders (put-if-absent each, concurrently): the NOTPAY
// orders notify judges each sub-order's payment against. A sub-order already written
// for c (a create resumed after a crash) is kept. One held by another order fails the
// whole with *SubOrderTakenError; what this call wrote stays (c exists: its sub-orders
// are never removed).
func (l *Ledger) ReserveSubOrders(ctx context.Context, c *Combine) ([]*Order, error) {
	out := make([]*Order, len(c.SubOrders))
	err := each(len(c.SubOrders), func(i int) error {
		o, _, err := l.reserveSub(ctx, c, i)
		out[i] = o
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// reserveSub writes sub-order i of c (put-if-absent); created reports whether this
// call wrote it.
func (l *Ledger) reserveSub(ctx context.Context, c *Combine, i int) (*Order, bool, error) {
	s := c.SubOrders[i]
	ref := &combineRef{Owner: c.Owner, OrderID: c.OrderID, CombineNo: c.CombineNo, Last: i == len(c.SubOrders)-1}
	p := placedAs(c, i)
	o, err := l.CreateOrder(ctx, NewOrder{MchID: s.SubMchID, AppID: p.AppID, OutTradeNo: s.OutTradeNo, OrderID: s.OrderID, Attempt: c.Attempt,
		Amount: p.Amount, Scene: c.Scene, ExpiresAt: c.ExpiresAt, Combine: ref, Sharing: p.Sharing, Create: p.Create})
	var ex *ExistsError
	switch {
	case errors.As(err, &ex) && ownedBy(ex.Order, c):
		return ex.Order, false, nil
	case errors.As(err, &ex):
		return nil, false, &SubOrderTakenError{OrderID: s.OrderID, OutTradeNo: s.OutTradeNo, SubMchID: s.SubMchID, Holder: ex.Order.OrderID}
	case err != nil:
		return nil, false, err
	}
	return o, true, nil
}

// placed is what a sub-order's payment is judged by (and shows) that its combine
// places at WeChat Pay: the amount, the app the user pays in, the description and
// attach, the profit-sharing plan.
type placed struct {
	AppID   string
	Amount  int64
	Create  CreateInfo
	Sharing *Sharing
}

// placedAs is what combine c places for its sub-order i.
func placedAs(c *Combine, i int) placed {
	s := c.SubOrders[i]
	app := c.AppID
	if s.SubAppID != "" {
		app = s.SubAppID // WeChat Pay reports the payment under sub_appid when the sub-order has one
	}
	return placed{AppID: app, Amount: s.Amount, Sharing: s.Sharing,
		Create: CreateInfo{Description: s.Description, Attach: s.Attach, SubAppID: s.SubAppID, SignAppID: c.AppID}}
}

// placedOf is what sub-order o carries of it.
func placedOf(o *Order) placed {
	return placed{AppID: o.AppID, Amount: o.Amount, Sharing: o.Sharing,
		Create: CreateInfo{Description: o.Create.Description, Attach: o.Create.Attach, SubAppID: o.Create.SubAppID, SignAppID: o.Create.SignAppID}}
}

// samePlaced compares as stored (a plan read back and one just parsed differ in
// representation only).
func samePlaced(a, b placed) bool {
	x, errx := json.Marshal(a)
	y, erry := json.Marshal(b)
	return errx == nil && erry == nil && string(x) == string(y)
}

// SyncSubOrders makes c's sub-orders carry what c places for them at WeChat Pay
// (placed) before c is placed; createorder calls it before every combine prepay. The
// combine record is what is placed, and it is written last; its sub-orders may have
// been reserved, one record at a time, by a concurrent create of the same attempt
// with other content (another re-price), which PlaceCombine adopts as they are. subs
// are c's sub-orders as read (nil: read here); one that differs and is untouched
// (unpaid, nothing recorded on it) is rewritten, conditioned on its version. When
// they agree nothing is read or written. It returns the sub-orders as they are.
func (l *Ledger) SyncSubOrders(ctx context.Context, c *Combine, subs []*Order) ([]*Order, error) {
	out := make([]*Order, len(c.SubOrders))
	err := each(len(c.SubOrders), func(i int) error {
		want := placedAs(c, i)
		var have *store.Record
		if i < len(subs) && subs[i] != nil {
			if samePlaced(placedOf(subs[i]), want) {
				out[i] = subs[i]
				return nil
			}
			rec := subs[i].raw
			have = &rec
		}
		s := c.SubOrders[i]
		res, err := onOrder(l, ctx, OrderKey(s.SubMchID, s.OutTradeNo), have, func(o *Order, exists bool) (step, error) {
			switch {
			case !exists || !ownedBy(o, c):
				return step{}, fmt.Errorf("payment: sub-order %s of combine %s: %w", s.OutTradeNo, c.CombineNo, ErrNotFound)
			case samePlaced(placedOf(o), want):
				return step{outcome: Duplicate}, nil
			case o.Payment != nil || len(o.Conflicts) > 0 || o.EventSeq > 0 || !payable(o.State):
				return step{outcome: Duplicate}, nil // judged already: left as it is
			}
			o.AppID, o.Amount, o.Sharing = want.AppID, want.Amount, want.Sharing
			o.Create.Description, o.Create.Attach, o.Create.SubAppID, o.Create.SignAppID = want.Create.Description, want.Create.Attach, want.Create.SubAppID, want.Create.SignAppID
			return step{outcome: Applied}, nil
		})
		out[i] = res.Order
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// PlaceCombine is ReserveSubOrders and createCombine in one round: on a store with a
// multi-record write (store.MultiPutter: bbolt) the combine and every sub-order are
// put-if-absent in one atomic write — about one write's latency, all reserved or none;
// otherwise (or when some record exists already: a create resumed after a crash) one
// record at a time: every sub-order first (concurrently, each put-if-absent), the
// combine last, once all of them are reserved. A taken combine number fails with
// *CombineExistsError (the caller re-reads when it is this same attempt, written by a
// concurrent create), a sub-order held by another order with *SubOrderTakenError.
//
// A refusal leaves nothing this call wrote, and the undo is safe because the refused
// group was never seen by anyone who could act on it:
//
//   - the atomic write, refused, writes nothing;
//   - one record at a time, a refusal comes before the combine record is written, and
//     until it is, its sub-orders are reachable by nobody who could act on them: every
//     pointer move, close and prepay of attempt n starts from the combine record
//     (PointCombine, PointSubOrders, RequestCombineClose, createorder's claim), and
//     nothing is paid under a number never placed. Only another create of the same
//     attempt meets them, and it adopts each with a write (placeSub) before it writes
//     the combine — so this call's undo, conditioned on the version it wrote
//     (Abandon), fails once anyone has adopted a sub-order, and the sub-order stays.
//
// Any other failure (a store error, a crash) leaves what was written for the next
// create of the combine, which resumes it. Sub-orders met already are adopted as they
// are, whatever their content: what the combine places is its own record, and
// SyncSubOrders makes them carry it before it is placed.
func (l *Ledger) PlaceCombine(ctx context.Context, n NewCombine) (*Combine, []*Order, error) {
	if n.Attempt == 0 {
		n.Attempt = 1
	}
	// The combine as createCombine will write it, for its sub-orders' references.
	c := &Combine{Owner: n.Owner, CombineNo: AttemptNo(n.OrderID, n.Attempt), OrderID: n.OrderID, Attempt: n.Attempt, AppID: n.AppID,
		Scene: n.Scene, ExpiresAt: n.ExpiresAt, SubOrders: make([]SubOrder, len(n.SubOrders))}
	for i, s := range n.SubOrders {
		s.OutTradeNo = AttemptNo(s.OrderID, n.Attempt)
		c.SubOrders[i] = s
	}
	written, placed, err := l.placeAtomic(ctx, n, c)
	var cf *store.ConditionFailedError
	switch {
	case errors.As(err, &cf) && cf.Current != nil && cf.Key == c.Key():
		ex, derr := CombineOf(*cf.Current)
		if derr != nil {
			return nil, nil, derr
		}
		return nil, nil, &CombineExistsError{Combine: ex}
	case errors.As(err, &cf) && cf.Current != nil:
		o, derr := OrderOf(*cf.Current)
		if derr != nil {
			return nil, nil, derr
		}
		if !ownedBy(o, c) {
			for _, s := range c.SubOrders {
				if OrderKey(s.SubMchID, s.OutTradeNo) == cf.Key {
					return nil, nil, &SubOrderTakenError{OrderID: s.OrderID, OutTradeNo: s.OutTradeNo, SubMchID: s.SubMchID, Holder: o.OrderID}
				}
			}
		}
		// A sub-order of this very attempt (a create resumed after a crash): one by one.
	case !errors.Is(err, store.ErrNoMultiPut):
		return written, placed, err
	}
	subs := make([]*Order, len(n.SubOrders))
	created := make([]bool, len(n.SubOrders))
	err = each(len(n.SubOrders), func(i int) error {
		var err error
		subs[i], created[i], err = l.placeSub(ctx, c, i)
		return err
	})
	if err == nil {
		if written, err = l.createCombine(ctx, n); err == nil {
			return written, subs, nil
		}
	}
	var ex *CombineExistsError
	var taken *SubOrderTakenError
	switch {
	case errors.As(err, &ex) && ex.Combine.OrderID == n.OrderID && ex.Combine.Attempt == n.Attempt:
		return nil, nil, err // this same attempt, written by a concurrent create: the sub-orders are its
	case !errors.As(err, &ex) && !errors.As(err, &taken):
		return nil, nil, err // not a refusal: what was written stays for the next create
	}
	// Refused as a whole before the combine was written: undo what this call wrote.
	for i, o := range subs {
		if created[i] && o != nil {
			if aerr := l.abandon(ctx, o); aerr != nil {
				return nil, nil, errors.Join(err, aerr)
			}
		}
	}
	return nil, nil, err
}

// placeSub reserves sub-order i of c for PlaceCombine as reserveSub does, except that
// one another create reserved for c already is adopted with a write (its version moves
// on), so that its creator's undo — conditioned on the version it wrote — can no longer
// remove it; one removed meanwhile is reserved again.
func (l *Ledger) placeSub(ctx context.Context, c *Combine, i int) (*Order, bool, error) {
	for range maxRetries {
		o, created, err := l.reserveSub(ctx, c, i)
		if err != nil || created {
			return o, created, err
		}
		adopted, err := l.exactly(ctx, o, func(*Order) {})
		if !errors.Is(err, ErrRaced) {
			return adopted, false, err
		}
	}
	return nil, false, fmt.Errorf("payment: reserve sub-order %s: %w", c.SubOrders[i].OrderID, ErrContended)
}

// SubOrders reads c's sub-orders (concurrently), in c's order. A sub-order not written
// (yet) is nil; one that is not c's (held by another order) is nil too.
func (l *Ledger) SubOrders(ctx context.Context, c *Combine) ([]*Order, error) {
	out := make([]*Order, len(c.SubOrders))
	err := each(len(c.SubOrders), func(i int) error {
		s := c.SubOrders[i]
		o, err := l.Attempt(ctx, s.SubMchID, s.OutTradeNo)
		switch {
		case errors.Is(err, ErrNotFound):
			return nil
		case err != nil:
			return err
		}
		if ownedBy(o, c) {
			out[i] = o
		}
		return nil
	})
	return out, err
}

// exactlyCombine applies change to c conditioned on exactly the version c was read at.
func (l *Ledger) exactlyCombine(ctx context.Context, c *Combine, change func(*Combine)) (*Combine, error) {
	raw := c.raw
	first := true
	return first0(onCombine(l, ctx, c.Key(), &raw, func(cur *Combine, exists bool) (step, error) {
		if !exists || !first {
			return step{}, ErrRaced
		}
		first = false
		change(cur)
		return step{outcome: Applied}, nil
	}))
}

func first0(c *Combine, _ Outcome, err error) (*Combine, error) { return c, err }

// ClaimCombine takes c's idempotency claim for a create that will place it (again);
// ErrRaced when c changed since it was read.
func (l *Ledger) ClaimCombine(ctx context.Context, c *Combine, r ClaimRequest) (*Combine, error) {
	return l.exactlyCombine(ctx, c, func(cur *Combine) {
		cur.Claim.Status, cur.Claim.ID, cur.Claim.LeaseUntil, cur.Claim.PayloadHash = claimInProgress, r.ID, l.now().Add(r.Lease), r.PayloadHash
	})
}

// UpgradeCombine turns a scene "cashier" combine that never reached WeChat Pay into u's
// payment, in place; ErrRaced when c changed since it was read.
func (l *Ledger) UpgradeCombine(ctx context.Context, c *Combine, u Upgrade) (*Combine, error) {
	return l.exactlyCombine(ctx, c, func(cur *Combine) {
		cur.Scene, cur.AppID = u.Scene, cmp.Or(u.AppID, cur.AppID)
		cashierFP := cur.Create.CashierFP
		cur.Create = u.Create
		cur.Create.CashierFP = cmp.Or(u.Create.CashierFP, cashierFP)
		cur.Claim = Claim{Status: claimInProgress, ID: u.Claim.ID, PayloadHash: u.Claim.PayloadHash, LeaseUntil: l.now().Add(u.Claim.Lease)}
	})
}

// CompleteCombine records the prepay answer a claim placed (COMPLETED, replayable until
// expiry); errClaimLost when another create took the claim over.
func (l *Ledger) CompleteCombine(ctx context.Context, c *Combine, claimID string, ans Prepay, expiry time.Time) (*Combine, error) {
	raw := c.raw
	return first0(onCombine(l, ctx, c.Key(), &raw, func(cur *Combine, exists bool) (step, error) {
		if !exists || cur.Claim.ID != claimID {
			return step{}, errClaimLost
		}
		if cur.Claim.Status == ClaimCompleted && cur.Claim.Answer == ans {
			return step{outcome: Duplicate}, nil
		}
		cur.Claim = Claim{Status: ClaimCompleted, ID: claimID, PayloadHash: cur.Claim.PayloadHash, Answer: ans, Expiry: expiry}
		return step{outcome: Applied}, nil
	}))
}

// ReleaseCombine gives up a claim after a failed prepay.
func (l *Ledger) ReleaseCombine(ctx context.Context, c *Combine, claimID string) error {
	_, _, err := onCombine(l, ctx, c.Key(), nil, func(cur *Combine, exists bool) (step, error) {
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

// PointCombine moves combine first's current attempt from `from` to `to` (already
// reserved, with its sub-orders), conditioned on the version read (ErrRaced). The
// sub-orders' own pointers follow (PointSubOrders).
func (l *Ledger) PointCombine(ctx context.Context, first *Combine, from, to int) (*Combine, error) {
	if first.Current > 1 && first.Current != from || first.Current <= 1 && from > 1 {
		return nil, ErrRaced
	}
	return l.exactlyCombine(ctx, first, func(cur *Combine) {
		cur.Newest = max(cur.NewestAttempt(), to)
		cur.Current = to
		cur.Moves++
	})
}

// NewestAttempt is, on attempt 1, the highest attempt number of the combine the
// pointer has named: the next re-price reserves the one after it.
func (c *Combine) NewestAttempt() int { return max(c.Newest, c.Current, c.Attempt, 1) }

// PointSubOrders moves each sub-order's attempt-1 pointer to c's attempt (a re-priced
// combine's sub-orders are read at their new numbers) once the combine's own pointer
// names c — never before: a reservation whose pointer move is not done (or never will
// be: its re-price found the combine paid) is not the sub-orders' attempt. The pointer
// may go back (the cashier page switching back to a scene), so a sub-order's pointer
// records the combine's move it follows (combineRef.Move) and is never set by an older
// move than the one it shows. Idempotent: a pointer already there is left; run again
// after a crash it finishes the move. One read of the combine's attempt 1 besides the
// sub-orders' (none for a combine whose pointer never moved).
func (l *Ledger) PointSubOrders(ctx context.Context, c *Combine) error {
	if c.Attempt <= 1 && c.Moves == 0 {
		return nil // attempt 1 as read, its pointer never moved
	}
	first, err := l.CombineAttempt(ctx, c.Owner, c.OrderID)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil
	case err != nil:
		return err
	case first.OrderID != c.OrderID || first.Attempt > 1 || max(first.Current, 1) != max(c.Attempt, 1):
		return nil
	}
	to, move := max(c.Attempt, 1), first.Moves
	return each(len(c.SubOrders), func(i int) error {
		s := c.SubOrders[i]
		for range maxRetries {
			sf, err := l.Attempt(ctx, s.SubMchID, s.OrderID)
			if errors.Is(err, ErrNotFound) {
				return nil // never written: nothing points anywhere (createorder writes it before re-pricing)
			}
			if err != nil {
				return err
			}
			seen := 0
			if sf.Combine != nil {
				seen = sf.Combine.Move
			}
			if seen > move || max(sf.Current, 1) == to && seen >= move {
				return nil // there, or a newer move decided
			}
			_, err = l.exactly(ctx, sf, func(cur *Order) {
				cur.Newest = max(cur.NewestAttempt(), to)
				cur.Current = to
				if cur.Combine != nil {
					cur.Combine.Move = move
				}
			})
			if !errors.Is(err, ErrRaced) {
				return err
			}
		}
		return fmt.Errorf("payment: point sub-order %s: %w", s.OrderID, ErrContended)
	})
}

// RequestCombineClose records that combine c must be closed at WeChat Pay, due at at
// (never in its first 5 minutes; reconcile carries it out), and marks each of its
// sub-orders: a payment arriving afterwards goes to REVIEW. Refused (ErrNotRefundable's
// sibling: *Result Refused) when a sub-order is paid or in review.
func (l *Ledger) RequestCombineClose(ctx context.Context, c *Combine, at time.Time, by string) (*Combine, Outcome, error) {
	cur, out, err := onCombine(l, ctx, c.Key(), nil, func(cur *Combine, exists bool) (step, error) {
		switch {
		case !exists:
			return step{}, fmt.Errorf("payment: close %s: %w", c.Key(), ErrNotFound)
		case cur.Closed:
			return step{outcome: Duplicate}, nil
		case cur.Close != nil && !cur.Parked():
			return step{outcome: Duplicate}, nil
		}
		// A close asked for a combine a scene switch parked supersedes the parking.
		cur.Close = &closeRequest{At: at, By: by}
		if cur.NextCheck.IsZero() || at.Before(cur.NextCheck) {
			cur.NextCheck = at
		}
		cur.Settled = false
		return step{outcome: Applied}, nil
	})
	if err != nil {
		return nil, "", err
	}
	refused := false
	var mu sync.Mutex
	err = each(len(cur.SubOrders), func(i int) error {
		s := cur.SubOrders[i]
		res, err := onOrder(l, ctx, OrderKey(s.SubMchID, s.OutTradeNo), nil, func(o *Order, exists bool) (step, error) {
			switch {
			case !exists || !ownedBy(o, cur):
				return step{outcome: Duplicate}, nil // never written: nothing can pay it
			case !payable(o.State) || o.InReview():
				return step{outcome: Refused, reason: "sub-order " + o.OrderID + " is " + o.Status()}, nil
			case o.Close != nil && !o.Parked():
				return step{outcome: Duplicate}, nil
			}
			o.Close = &closeRequest{At: at, By: by} // no schedule: the combine closes it
			return step{outcome: Applied}, nil
		})
		if err == nil && res.Outcome == Refused && !res.Order.Closed() {
			mu.Lock()
			refused = true
			mu.Unlock()
		}
		return err
	})
	if err != nil {
		return cur, out, err
	}
	if refused {
		return cur, Refused, nil
	}
	return cur, out, nil
}

// MarkCombineClosed records that combine c is closed at WeChat Pay (or never reached
// it): each unpaid sub-order is closed (order.closed, one each) and the combine leaves
// the schedule. A sub-order paid meanwhile is left as it is.
func (l *Ledger) MarkCombineClosed(ctx context.Context, c *Combine, source string) (*Combine, error) {
	err := each(len(c.SubOrders), func(i int) error {
		s := c.SubOrders[i]
		key := OrderKey(s.SubMchID, s.OutTradeNo)
		o, err := l.Attempt(ctx, s.SubMchID, s.OutTradeNo)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil || !ownedBy(o, c) {
			return err
		}
		rec := o.raw
		_, err = onOrder(l, ctx, key, &rec, func(o *Order, exists bool) (step, error) {
			switch {
			case !exists || o.Closed():
				return step{outcome: Duplicate}, nil
			case !payable(o.State) || o.InReview():
				return step{outcome: Refused, reason: "the order is " + o.Status()}, nil
			}
			o.State, o.Source, o.Close, o.NextCheck = wechatpay.TradeStateClosed, source, nil, time.Time{}
			st := step{outcome: Applied, events: []pendingEvent{{events.OrderClosed, o.event()}}}
			return o.judgeLines(st, l.now(), source), nil
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	return first0(onCombine(l, ctx, c.Key(), nil, func(cur *Combine, exists bool) (step, error) {
		if !exists || cur.Closed {
			return step{outcome: Duplicate}, nil
		}
		cur.Closed, cur.NextCheck, cur.Close = true, time.Time{}, nil
		return step{outcome: Applied}, nil
	}))
}

// RescheduleCombine moves an unsettled combine's next query to next (noting checkedAt
// when not zero); settled marks it done (every sub-order has a result).
func (l *Ledger) RescheduleCombine(ctx context.Context, c *Combine, next, checkedAt time.Time, settled bool) (*Combine, error) {
	raw := c.raw
	return first0(onCombine(l, ctx, c.Key(), &raw, func(cur *Combine, exists bool) (step, error) {
		if !exists || cur.Closed || cur.Settled {
			return step{outcome: Duplicate}, nil
		}
		if settled {
			cur.Settled, cur.NextCheck = true, time.Time{}
		} else {
			cur.NextCheck = next
		}
		if !checkedAt.IsZero() {
			cur.CheckedAt = checkedAt
		}
		return step{outcome: Applied}, nil
	}))
}

// CombineStatus is a combine attempt's state as a whole, from its sub-orders subs (as
// SubOrders reads them; nil: never written): REVIEW, REFUND, SUCCESS, PARTIAL (some
// paid), CLOSED, USERPAYING or NOTPAY. The order API and the console show it.
func CombineStatus(c *Combine, subs []*Order) string {
	var paid, closed, refunded, review, paying int
	for _, o := range subs {
		switch {
		case o == nil:
			if c.Closed {
				closed++
			}
		case o.InReview():
			review++
		case o.Paid():
			paid++
			if o.Refunded() > 0 {
				refunded++
			}
		case o.Closed():
			closed++
		case o.State == wechatpay.TradeStateUserPaying:
			paying++
		}
	}
	switch {
	case review > 0:
		return StateReview
	case refunded > 0:
		return wechatpay.TradeStateRefund
	case paid == len(subs):
		return wechatpay.TradeStateSuccess
	case paid > 0:
		return "PARTIAL"
	case c.Closed || closed == len(subs):
		return wechatpay.TradeStateClosed
	case paying > 0:
		return wechatpay.TradeStateUserPaying
	}
	return wechatpay.TradeStateNotPay
}

// SubSettled reports whether a sub-order has its result: paid (or refunded), closed, in
// review. A sub-order never written counts as settled once its combine is closed.
func SubSettled(o *Order) bool {
	return o != nil && (!payable(o.State) || o.InReview())
}

// combineResult is what ApplyCombine did.
type combineResult struct {
	// Results has one entry per sub-order of the combine result, in its order (a
	// sub-order without a payment, e.g. NOTPAY, has Outcome Duplicate).
	Results []Result
	// Writes counts the conditional writes made (at most one per sub-order).
	Writes int
	// Paid: every sub-order is paid; Announced: this call recorded combine.paid.
	Paid, Announced bool
}

// Events are the merchant events the call recorded, by record.
func (r combineResult) Recorded() []store.Record {
	var out []store.Record
	for _, res := range r.Results {
		if res.Event != nil {
			out = append(out, res.Record)
		}
	}
	return out
}

// CombineEvent is the data of combine.paid.
type CombineEvent struct {
	OrderID           string          `json:"order_id"`
	CombineOutTradeNo string          `json:"combine_out_trade_no"`
	MchID             string          `json:"mchid"`
	Amount            int64           `json:"amount"`
	SubOrders         []combineSubPay `json:"sub_orders"`
}

// combineSubPay is one paid sub-order in combine.paid.
type combineSubPay struct {
	OrderID       string `json:"order_id,omitempty"`
	OutTradeNo    string `json:"out_trade_no"`
	SubMchID      string `json:"sub_mchid"`
	Amount        int64  `json:"amount"`
	TransactionID string `json:"transaction_id"`
}

// validateCombine checks a combine result (notification or query) before anything of
// it is applied: every paid sub-order must be a valid payment. Its error matches
// ErrInvalid.
func validateCombine(ct *wechatpay.CombineTransaction) error {
	if ct.CombineOutTradeNo == "" || len(ct.SubOrders) == 0 {
		return invalid("combine result without combine_out_trade_no or sub_orders")
	}
	txs := ct.Transactions()
	for i := range txs {
		if paidState(txs[i].TradeState) {
			if err := validateTransaction(&txs[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

func paidState(s string) bool {
	return s == wechatpay.TradeStateSuccess || s == wechatpay.TradeStateRefund
}

// ApplyCombine applies a combine's result — its notification, or the combine query's
// answer — per sub-order through the payment transition (decidePayment): each paid
// sub-order is one read and at most one conditional write with its events; a
// sub-order CLOSED or REVOKED at WeChat Pay (a query's answer) is closed; one whose
// payment failed (PAYERROR) reads PAYERROR (recordPayError); anything else (NOTPAY,
// USERPAYING) writes nothing. The sub-orders are applied
// concurrently, the combine's last one (combineRef.Last) after all the others: when
// every sub-order is then paid, it records combine.paid in its own write.
func (l *Ledger) ApplyCombine(ctx context.Context, ct *wechatpay.CombineTransaction, source string) (combineResult, error) {
	if err := validateCombine(ct); err != nil {
		return combineResult{}, err
	}
	txs := ct.Transactions()
	n := len(txs)
	res := combineResult{Results: make([]Result, n)}
	paid := make([]*Order, n)
	var mu sync.Mutex
	var deferred []int
	apply := func(i int, last bool) error {
		tx := &txs[i]
		switch {
		case paidState(tx.TradeState):
		case tx.TradeState == wechatpay.TradeStateClosed || tx.TradeState == wechatpay.TradeStateRevoked:
			r, err := l.MarkClosed(ctx, OrderKey(OwnerMchID(tx), tx.OutTradeNo), source)
			if errors.Is(err, ErrNotFound) {
				return nil
			}
			res.Results[i] = r
			if r.Outcome == Applied {
				mu.Lock()
				res.Writes++
				mu.Unlock()
			}
			return err
		case tx.TradeState == wechatpay.TradeStatePayError:
			r, err := l.recordPayError(ctx, tx, source)
			if errors.Is(err, ErrNotFound) {
				return nil
			}
			res.Results[i] = r
			if r.Outcome == Applied {
				mu.Lock()
				res.Writes++
				mu.Unlock()
			}
			return err
		default:
			res.Results[i] = Result{Outcome: Duplicate}
			return nil
		}
		var announce func(o *Order) (pendingEvent, bool)
		if last {
			announce = func(o *Order) (pendingEvent, bool) { return announcement(o, ct, paid, i) }
		}
		r, wrote, skipped, err := l.applySub(ctx, tx, source, last, announce)
		mu.Lock()
		defer mu.Unlock()
		if skipped {
			deferred = append(deferred, i) // the combine's announcer: applied last
			return nil
		}
		if err != nil {
			return err
		}
		res.Results[i] = r
		if wrote {
			res.Writes++
		}
		if holds(r.Order, tx.TransactionID) {
			paid[i] = r.Order
		}
		res.Announced = res.Announced || hasEvent(r.Events, EventCombinePaid)
		return nil
	}
	// Every sub-order but the result's last one, concurrently; then that one, which is
	// the announcer unless the announcer was met (and skipped) among the others.
	if err := each(n-1, func(i int) error { return apply(i, false) }); err != nil {
		return res, err
	}
	if err := apply(n-1, true); err != nil {
		return res, err
	}
	for _, i := range deferred {
		if err := apply(i, true); err != nil {
			return res, err
		}
	}
	res.Paid = true
	for i := range txs {
		if paid[i] == nil {
			res.Paid = false
		}
	}
	return res, nil
}

// recordPayError records that a sub-order's payment failed (PAYERROR in a combine
// notification or query): the order reads PAYERROR at once instead of NOTPAY. It is no
// money and no merchant event: WeChat Pay never lets the combine be paid again, and
// reconcile closes the sub-order once the combine is final (closeFailed), with the one
// order.closed a single order gets when it ends unpaid. A payment reported later is
// judged as for any payable order; a sub-order paid, closed or in REVIEW is left alone.
func (l *Ledger) recordPayError(ctx context.Context, tx *wechatpay.Transaction, source string) (Result, error) {
	if acct := accountMchID(tx.SpMchID, tx.MchID); !l.ours(acct) {
		return Result{Outcome: Duplicate}, nil
	}
	return onOrder(l, ctx, OrderKey(OwnerMchID(tx), tx.OutTradeNo), nil, func(o *Order, exists bool) (step, error) {
		if !exists || o.InReview() || (o.State != wechatpay.TradeStateNotPay && o.State != wechatpay.TradeStateUserPaying) {
			return step{outcome: Duplicate}, nil
		}
		o.State, o.Source = wechatpay.TradeStatePayError, source
		return step{outcome: Applied}, nil
	})
}

// holds reports whether sub-order o accepted transaction txid as its payment (a REVIEW
// about its refunds later does not undo that; a payment kept as a conflict — paid after
// the combine's close was asked for, another amount — is not its payment).
func holds(o *Order, txid string) bool {
	return o != nil && o.Payment != nil && o.Payment.TransactionID == txid
}

func hasEvent(evs []events.Event, typ string) bool {
	for _, e := range evs {
		if e.Type == typ {
			return true
		}
	}
	return false
}

// applySub is ApplyTransaction for one sub-order of a combine result, with the combine's
// announcement when last. A sub-order marked Last met before the end (last false) is
// skipped, to be applied last.
func (l *Ledger) applySub(ctx context.Context, tx *wechatpay.Transaction, source string, last bool,
	announce func(*Order) (pendingEvent, bool)) (res Result, wrote, skipped bool, err error) {
	if acct := accountMchID(tx.SpMchID, tx.MchID); !l.ours(acct) || l.Partner && tx.SubMchID == "" {
		r, err := l.foreign(ctx, tx, acct, source)
		return r, r.Outcome != Duplicate, false, err
	}
	data, err := json.Marshal(tx)
	if err != nil {
		return Result{}, false, false, fmt.Errorf("payment: encode transaction: %w", err)
	}
	key := OrderKey(OwnerMchID(tx), tx.OutTradeNo)
	have, err := l.notedRead(ctx, key, tx) // txindex.go
	if err != nil {
		return Result{}, false, false, err
	}
	r, err := onOrder(l, ctx, key, have, func(o *Order, exists bool) (step, error) {
		if exists && !last && o.Combine != nil && o.Combine.Last {
			skipped = true
			return step{outcome: Duplicate}, nil
		}
		st := decidePayment(o, exists, tx, data, source, l.now(), l.RefundLatePayments)
		if announce != nil && o.Combine != nil && o.Combine.Last && !o.Combine.Announced && holds(o, tx.TransactionID) {
			if ev, ok := announce(o); ok {
				o.Combine.Announced = true
				st.events = append(st.events, ev)
				if st.outcome == Duplicate {
					st.outcome = Applied
				}
			}
		}
		return st, nil
	})
	if err != nil || skipped {
		return r, false, skipped, err
	}
	return r, r.Outcome == Applied || r.Outcome == Review, false, nil
}

// announcement builds combine.paid for the combine's last sub-order o when every other
// sub-order of ct is paid here (paid holds the ledger's records of them).
func announcement(o *Order, ct *wechatpay.CombineTransaction, paid []*Order, self int) (pendingEvent, bool) {
	ev := CombineEvent{OrderID: o.Combine.OrderID, CombineOutTradeNo: ct.CombineOutTradeNo, MchID: ct.CombineMchID}
	for i := range paid {
		p := paid[i]
		if i == self {
			p = o
		}
		if p == nil || p.Payment == nil {
			return pendingEvent{}, false
		}
		ev.Amount += p.Payment.Amount
		ev.SubOrders = append(ev.SubOrders, combineSubPay{OrderID: p.OrderID, OutTradeNo: p.OutTradeNo, SubMchID: p.Owner,
			Amount: p.Payment.Amount, TransactionID: p.Payment.TransactionID})
	}
	return pendingEvent{EventCombinePaid, ev}, true
}

// SubOrderHolders reads, for each sub-order of a combine about to be created, the
// order its order_id names under its sub-merchant (attempt 1: out_trade_no = order_id),
// concurrently: nil where there is none. A create refuses order_ids held by another
// order before anything is written.
func (l *Ledger) SubOrderHolders(ctx context.Context, subs []SubOrder) ([]*Order, error) {
	out := make([]*Order, len(subs))
	err := each(len(subs), func(i int) error {
		o, err := l.Attempt(ctx, subs[i].SubMchID, subs[i].OrderID)
		switch {
		case errors.Is(err, ErrNotFound):
			return nil
		case err != nil:
			return err
		}
		out[i] = o
		return nil
	})
	return out, err
}

// placeAtomic writes combine c and its sub-orders as new records in one multi-record
// write (store.ErrNoMultiPut when the store has none; a *ConditionFailedError when any
// of them exists, with nothing written).
func (l *Ledger) placeAtomic(ctx context.Context, n NewCombine, c *Combine) (*Combine, []*Order, error) {
	mp, ok := l.Store.(store.MultiPutter)
	if !ok {
		return nil, nil, store.ErrNoMultiPut
	}
	now := l.now()
	for _, s := range c.SubOrders {
		if err := wechatpay.ValidateOutTradeNo("out_trade_no", s.OutTradeNo, 32); err != nil || s.Amount <= 0 || s.SubMchID == "" {
			return nil, nil, store.ErrNoMultiPut // createCombine/CreateOrder say what is wrong
		}
	}
	// The combine as createCombine writes it.
	cb := *c
	cb.CreatedAt, cb.Create, cb.NextCheck = now, n.Create, NextCheck(now, n.ExpiresAt, now)
	if n.Claim != nil {
		cb.Claim = Claim{Status: claimInProgress, ID: n.Claim.ID, PayloadHash: n.Claim.PayloadHash, LeaseUntil: now.Add(n.Claim.Lease)}
	}
	recs := make([]store.Record, 0, len(c.SubOrders)+1)
	conds := make([]store.Condition, 0, len(c.SubOrders)+1)
	rec, err := l.newRecord(cb.Key(), &cb)
	if err != nil {
		return nil, nil, err
	}
	recs, conds = append(recs, rec), append(conds, store.Condition{Absent: true})
	for i, s := range c.SubOrders {
		// Each sub-order as reserveSub (CreateOrder) writes it.
		p := placedAs(c, i)
		o := &Order{Owner: s.SubMchID, OutTradeNo: s.OutTradeNo, OrderID: s.OrderID, Attempt: c.Attempt, AppID: p.AppID, Amount: p.Amount,
			Scene: c.Scene, State: wechatpay.TradeStateNotPay, CreatedAt: now, ExpiresAt: c.ExpiresAt, Create: p.Create,
			Combine: &combineRef{Owner: c.Owner, OrderID: c.OrderID, CombineNo: c.CombineNo, Last: i == len(c.SubOrders)-1}, Sharing: p.Sharing}
		rec, err := l.newRecord(o.Key(), o)
		if err != nil {
			return nil, nil, err
		}
		recs, conds = append(recs, rec), append(conds, store.Condition{Absent: true})
	}
	out, err := mp.PutAll(ctx, recs, conds)
	if err != nil {
		return nil, nil, err
	}
	written, err := CombineOf(out[0])
	if err != nil {
		return nil, nil, err
	}
	subs := make([]*Order, len(c.SubOrders))
	for i := range subs {
		if subs[i], err = OrderOf(out[i+1]); err != nil {
			return nil, nil, err
		}
	}
	return written, subs, nil
}

// newRecord encodes a new record with no events as commit writes it (its typed
// document and its place in the pending index).
func (l *Ledger) newRecord(key string, d any) (store.Record, error) {
	now := l.now()
	switch x := d.(type) {
	case *Order:
		x.UpdatedAt = now
	case *Combine:
		x.UpdatedAt = now
	}
	b, err := json.Marshal(d)
	if err != nil {
		return store.Record{}, fmt.Errorf("payment: encode %s: %w", key, err)
	}
	attrs := map[string]string{attrDoc: string(b)}
	if idx, at := l.schedule(d); idx != "" {
		attrs[events.AttrSchedIndex], attrs[events.AttrSchedAt] = idx, stamp(at)
	}
	pidx, since := events.Placement(attrs, passive)
	return store.Record{Key: key, Attrs: attrs, Pending: pidx, PendingSince: since}, nil
}
