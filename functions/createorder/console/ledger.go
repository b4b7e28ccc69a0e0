package console

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/paysls/wxpay/shared/clock"
	"github.com/paysls/wxpay/shared/events"
	"github.com/paysls/wxpay/shared/payclient"
	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/store"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// LedgerSource is the bundle's Source: it reads the ledger's listings, the outbox and
// billfetch's stored reports — never the table — and acts through ledger transitions
// and the order API's refund path. What each view costs:
//
//   - Today: one read per day and merchant (the day's trade-bill report); a day without
//     a reconciled bill lists the ledger's bill-day listing of that day instead (its
//     payments and successful refunds: cost ∝ that day's records) and the outbox once.
//   - Review: the ledger's Reviews (the review listing, the outbox, late refunds).
//   - Events: the outbox (cost ∝ records owing events).
//   - Bills: one read per day, merchant and bill type, plus one read per listed
//     discrepancy (its order_id), at most maxLookups per view.
//   - Refunds: the refund schedule (PROCESSING refunds: cost ∝ refunds in flight) and
//     the ledger's ABNORMAL listing.
//   - Find: a few reads by key (order, attempt, refund, foreign payment, a partner
//     payment's transaction_id note), and a query of WeChat Pay for a transaction_id no
//     key names.
type LedgerSource struct {
	Ledger *payment.Ledger
	// Client calls WeChat Pay for the deployment (payclient.ForOwner per sub-merchant):
	// Find's transaction_id query and 异常退款.
	Client *wechatpay.Client
	// Refund is the order API's refund path (createorder): the ledger reserves the
	// amount, then WeChat Pay is asked. Its refusals wrap ErrRefused.
	Refund func(ctx context.Context, o *payment.Order, req payment.RefundRequest) (*payment.Refund, error)
	// EncryptionKey is WeChat Pay's public key that 异常退款's card fields are encrypted
	// with (the platform public key, else the newest platform certificate).
	EncryptionKey func(ctx context.Context) (wechatpay.EncryptionKey, error)
	// Deliverer, with a Sink, sends a resent event at once; without one the event is
	// due now and the next delivery run (notify, reconcile, serve's timer) sends it.
	Deliverer *events.Deliverer
	// Owners are the merchants Find looks an id up under: the mchid, or in partner and
	// ecommerce mode the default sub_mchid (another is named in the query:
	// "sub_mchid/order_id"). AnyOwner (partner, ecommerce) lets the views' actions act
	// on records of every sub-merchant, as the listings show them all.
	Owners   []string
	AnyOwner bool
	// BillMchIDs are the merchants whose trade bills billfetch keeps (nil: Owners); an
	// e-commerce platform's one bill lists all its sub-merchants. FundMchID is the
	// fund-flow bills'.
	BillMchIDs []string
	FundMchID  string
	// Listings are the merchants whose bill-day listings (payment.BillDayIndex) hold a
	// day not billed yet: the account paid (payments; a platform's or provider's for its
	// sub-merchants') and the owners (refunds). nil: Owners.
	Listings []string
	// Platform is the mchid combines (合单) are kept under (the platform's, sp_mchid):
	// Find looks a combine up by its order_id there. "": no combines.
	Platform string
	// Holders (partner, ecommerce) lists the sub-merchants an order number was created
	// under (the order API notes each), so Find given the number alone shows every
	// sub-merchant holding it, not only the default one. nil: Owners only.
	Holders func(ctx context.Context, orderID string) ([]string, error)
	// Ecommerce: refunds are e-commerce refunds, sent to 异常退款 through
	// /v3/ecommerce/refunds/{refund_id}/apply-abnormal-refund.
	Ecommerce bool
	// Sink names where events go (the webhook's host, the event bus), for the Events view.
	Sink string
}

var _ Source = (*LedgerSource)(nil)

func (s *LedgerSource) now() time.Time {
	if s.Ledger.Now != nil {
		return s.Ledger.Now()
	}
	return time.Now()
}

func (s *LedgerSource) st() store.Store { return s.Ledger.Store }

func (s *LedgerSource) billMchIDs() []string {
	if s.BillMchIDs != nil {
		return s.BillMchIDs
	}
	return s.Owners
}

func logOr(l *slog.Logger) *slog.Logger {
	if l != nil {
		return l
	}
	return slog.Default()
}

// Bill report shapes as billfetch stores them (functions/billfetch: ReportKey,
// BillReport), read here without importing the job and its bill storage;
// ledger_test.go holds the two together.
const (
	billTrade    = "trade_all"
	billFundFlow = "fundflow_basic"
	// Statuses whose report speaks for the whole day.
	billReconciled  = "reconciled"
	billNoStatement = "no_statement"
)

func reportKey(mchid, billType, date string) string {
	return "bill/" + mchid + "/" + billType + "/" + date
}

type billReport struct {
	MchID         string `json:"mchid"`
	Type          string `json:"type"`
	Date          string `json:"date"`
	Status        string `json:"status"`
	HashOK        bool   `json:"hash_ok"`
	Rows          int64  `json:"rows"`
	Matched       int64  `json:"matched"`
	Settled       int64  `json:"settled"`
	Payments      int64  `json:"payments"`
	Refunds       int64  `json:"refunds"`
	Discrepancies []struct {
		Kind        string `json:"kind"`
		OutTradeNo  string `json:"out_trade_no"`
		OutRefundNo string `json:"out_refund_no"`
		Ours        string `json:"ours"`
		Theirs      string `json:"theirs"`
		Note        string `json:"note"`
	} `json:"discrepancies"`
	Truncated bool `json:"discrepancies_truncated"`
	Totals    struct {
		Settle int64 `json:"settle_fen"`
		Refund int64 `json:"refund_fen"`
	} `json:"totals"`
	Error string `json:"error"`
	// SubMerchants: the other sub-merchants whose trade bills billfetch fetched that day
	// (a service provider's), each with a report of its own.
	SubMerchants []string `json:"sub_merchants"`
}

// tradeMchIDs are the merchants whose trade bill reports of date to read: billMchIDs,
// and the sub-merchants their reports name (a service provider's run fetches the bill of
// every sub-merchant with money that day), each once.
func (s *LedgerSource) tradeMchIDs(ctx context.Context, date string) ([]string, error) {
	out := slices.Clone(s.billMchIDs())
	for _, mchid := range s.billMchIDs() {
		r, err := s.report(ctx, mchid, billTrade, date)
		if err != nil {
			return nil, err
		}
		for _, sub := range r.subMerchants() {
			if isMchID(sub) && !slices.Contains(out, sub) {
				out = append(out, sub)
			}
		}
	}
	return out, nil
}

func (r *billReport) subMerchants() []string {
	if r == nil {
		return nil
	}
	return r.SubMerchants
}

// report reads a stored bill report; nil when there is none.
func (s *LedgerSource) report(ctx context.Context, mchid, billType, date string) (*billReport, error) {
	rec, err := s.st().Get(ctx, reportKey(mchid, billType, date))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var r billReport
	if err := json.Unmarshal([]byte(rec.Attrs["report"]), &r); err != nil {
		return nil, fmt.Errorf("bill report %s: %w", rec.Key, err)
	}
	return &r, nil
}

// eachListed calls fn for every record of a listing: those waiting in it, and those in
// the outbox (an event still owed) whose schedule it is. outbox caches the outbox for
// one view.
func (s *LedgerSource) eachListed(ctx context.Context, index string, outbox *[]store.Record, fn func(store.Record) error) error {
	recs, err := s.list(ctx, index, 0)
	if err != nil {
		return err
	}
	if *outbox == nil {
		if *outbox, err = s.list(ctx, events.IndexOutbox, 0); err != nil {
			return err
		}
		if *outbox == nil {
			*outbox = []store.Record{}
		}
	}
	for _, rec := range *outbox {
		if rec.Attrs[events.AttrSchedIndex] == index {
			recs = append(recs, rec)
		}
	}
	for _, rec := range recs {
		if err := fn(rec); err != nil {
			return err
		}
	}
	return nil
}

// maxListed bounds what one listing read brings into a view.
const maxListed = 5000

// list reads a pending index whole (up to maxListed records, or limit when > 0).
func (s *LedgerSource) list(ctx context.Context, index string, limit int) ([]store.Record, error) {
	if limit <= 0 {
		limit = maxListed
	}
	var out []store.Record
	opts := store.ListOptions{Limit: min(limit, store.MaxListLimit)}
	for {
		page, err := s.st().ListPending(ctx, index, opts)
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", index, err)
		}
		out = append(out, page.Records...)
		if page.Cursor == "" || len(out) >= limit {
			return out, nil
		}
		opts.Cursor = page.Cursor
	}
}

func (s *LedgerSource) isRefund(key string) bool {
	if s.AnyOwner {
		_, _, ok := splitOwned(key, payment.RefundKey)
		return ok
	}
	for _, o := range s.Owners {
		if strings.HasPrefix(key, payment.RefundKey(o, "")) {
			return true
		}
	}
	return false
}

// Days implements Source.
func (s *LedgerSource) Days(ctx context.Context, n int) ([]Day, error) {
	today := s.now().In(clock.CST)
	var outbox []store.Record
	out := make([]Day, 0, n)
	for i := range n {
		day := today.AddDate(0, 0, -i)
		d := Day{Date: day.Format(time.DateOnly), FromBill: true}
		mchids, err := s.tradeMchIDs(ctx, d.Date)
		if err != nil {
			return nil, err
		}
		for _, mchid := range mchids {
			r, err := s.report(ctx, mchid, billTrade, d.Date)
			if err != nil {
				return nil, err
			}
			if r != nil && (r.Status == billReconciled || r.Status == billNoStatement) {
				d.Paid += r.Totals.Settle
				d.Refunded += r.Totals.Refund
				d.PaidCount += int(r.Payments)
				d.RefundCount += int(r.Refunds)
				continue
			}
			d.FromBill = false
		}
		if d.FromBill {
			out = append(out, d)
			continue
		}
		// Not billed yet: what the ledger holds as succeeded that day and the bill
		// has not listed — for a day not billed, everything.
		d.Paid, d.Refunded, d.PaidCount, d.RefundCount = 0, 0, 0, 0
		listings := s.Listings
		if listings == nil {
			listings = s.Owners
		}
		for _, mchid := range listings {
			err := s.eachListed(ctx, payment.BillDayIndex(mchid, day), &outbox, func(rec store.Record) error {
				if s.isRefund(rec.Key) {
					r, err := payment.RefundOf(rec)
					if err == nil {
						d.Refunded += r.Amount
						d.RefundCount++
					}
					return err
				}
				o, err := payment.OrderOf(rec)
				if err == nil && o.Payment != nil {
					d.Paid += o.Payment.Amount
					d.PaidCount++
				}
				return err
			})
			if err != nil {
				return nil, err
			}
		}
		out = append(out, d)
	}
	return out, nil
}

// Reviews implements Source.
func (s *LedgerSource) Reviews(ctx context.Context) ([]Review, error) {
	var out []Review
	seen := map[string]bool{}
	err := s.Ledger.Reviews(ctx, func(it payment.ReviewItem) error {
		if seen[it.Key] {
			return nil
		}
		seen[it.Key] = true
		rv := reviewOf(it.Key, it.Order, it.Refund)
		rv.Find = s.findQuery(rv.MchID, rv.OrderID, rv.OutTradeNo)
		if o := it.Order; o != nil && o.OrderID != "" && o.Payment == nil {
			// A replaced attempt paid after the order moved on: the order's own payment
			// (on its current attempt) is shown beside what was kept, one read more.
			if hist, err := s.Ledger.Order(ctx, o.Owner, o.OrderID); err == nil && hist.Current.OutTradeNo != o.OutTradeNo && hist.Current.Payment != nil {
				p := hist.Current.Payment
				own := Kept{Kind: "payment", TransactionID: p.TransactionID, OutTradeNo: hist.Current.OutTradeNo, Amount: p.Amount,
					Time: keptTime(p.SuccessTime, p.ReceivedAt), Refund: refundsOf(hist.Current, p.TransactionID)}
				rv.Kept = append([]Kept{own}, rv.Kept...)
			}
		}
		out = append(out, rv)
		return nil
	})
	sort.SliceStable(out, func(i, j int) bool { return out[i].Since.Before(out[j].Since) })
	return out, err
}

func reviewOf(key string, o *payment.Order, r *payment.Refund) Review {
	if r != nil {
		rv := Review{Ref: key, Kind: "refund", OrderID: r.OrderID, OutTradeNo: r.OutTradeNo, OutRefund: r.OutRefundNo, MchID: r.Owner,
			Amount: r.Amount, Causes: causes(r.Review.Pending())}
		if f := r.Review.First(); f != nil {
			rv.Since = f.At
		}
		for _, c := range r.Conflicts {
			rv.Kept = append(rv.Kept, Kept{Kind: string(c.Cause), TransactionID: c.TransactionID, OutRefundNo: c.OutRefundNo, OutTradeNo: c.OutTradeNo,
				Amount: c.Amount, Time: keptTime(c.SuccessTime, c.ReceivedAt)})
		}
		return rv
	}
	rv := Review{Ref: key, Kind: "order", OrderID: o.OrderID, OutTradeNo: o.OutTradeNo, MchID: o.Owner, Amount: o.Amount,
		Causes: causes(o.Review.Pending()), Kept: kept(o)}
	if o.OrderID == "" {
		rv.Kind = "payment"
		if no, amount := foreignRefund(o); no != "" {
			rv.Kind, rv.OutRefund, rv.Amount = "refund", no, amount
		}
	}
	if f := o.Review.First(); f != nil {
		rv.Since = f.At
	}
	return rv
}

func causes(cs []payment.Cause) []Cause {
	out := make([]Cause, 0, len(cs))
	for _, c := range cs {
		out = append(out, Cause{Kind: string(c.Kind), Detail: c.Detail, At: c.At})
	}
	return out
}

// kept is an order's own payment and every result kept on it.
func kept(o *payment.Order) []Kept {
	var out []Kept
	if p := o.Payment; p != nil {
		out = append(out, Kept{Kind: "payment", TransactionID: p.TransactionID, OutTradeNo: o.OutTradeNo, Amount: p.Amount,
			Time: keptTime(p.SuccessTime, p.ReceivedAt), Refund: refundsOf(o, p.TransactionID)})
	}
	for _, c := range o.Conflicts {
		k := Kept{Kind: string(c.Cause), TransactionID: c.TransactionID, OutRefundNo: c.OutRefundNo, OutTradeNo: c.OutTradeNo,
			Amount: c.Amount, Time: keptTime(c.SuccessTime, c.ReceivedAt)}
		if c.TransactionID != "" && c.OutRefundNo == "" {
			k.Refund = refundsOf(o, c.TransactionID)
			// A foreign payment (no order of ours) is another merchant's to refund.
			k.Refundable = k.Refund == "" && o.OrderID != "" && !o.Unknown
		}
		out = append(out, k)
	}
	return out
}

// foreignRefund is the refund a foreign record keeps (a refund result for a merchant
// this deployment does not serve, payment.ForeignRefundKey) and its amount; "" for a
// foreign payment. Shown as a refund, not as a payment of the order's amount.
func foreignRefund(o *payment.Order) (string, int64) {
	if len(o.Conflicts) == 0 || o.Payment != nil {
		return "", 0
	}
	c := o.Conflicts[0]
	if c.Cause != payment.CauseForeignMerchant || c.OutRefundNo == "" {
		return "", 0
	}
	return c.OutRefundNo, c.Amount
}

// refundsOf lists the refunds of transaction txid on o ("RF1 SUCCESS, RF2 PROCESSING").
func refundsOf(o *payment.Order, txid string) string {
	var parts []string
	for _, l := range o.Refunds {
		if l.TransactionID == txid && l.State != wechatpay.RefundStatusClosed {
			parts = append(parts, l.OutRefundNo+" "+l.State)
		}
	}
	return strings.Join(parts, ", ")
}

func keptTime(successTime string, received time.Time) string {
	if t, err := time.Parse(time.RFC3339, successTime); err == nil {
		return stamp(t)
	}
	return stamp(received)
}

// Events implements Source.
func (s *LedgerSource) Events(ctx context.Context) ([]EventItem, error) {
	recs, err := s.list(ctx, events.IndexOutbox, 0)
	if err != nil {
		return nil, err
	}
	var out []EventItem
	item := func(e events.Entry) EventItem {
		order, mchid := orderOfEvent(e.Data)
		return EventItem{ID: e.ID, Type: e.Type, Sink: s.Sink, CreatedAt: e.CreatedAt, Attempts: e.Attempts, NextAt: e.NextAt,
			LastStatus: e.LastStatus, LastError: e.LastError, OrderID: order, Find: s.findQuery(mchid, order, "")}
	}
	for _, rec := range recs {
		for _, e := range events.Owed(rec) {
			out = append(out, item(e))
		}
	}
	gone, err := s.abandoned(ctx)
	if err != nil {
		return nil, err
	}
	for _, u := range gone {
		it := item(u.Entry)
		it.Abandoned = true
		out = append(out, it)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, nil
}

// abandoned reads the events retries gave up on (up to maxListed).
func (s *LedgerSource) abandoned(ctx context.Context) ([]events.Undelivered, error) {
	var out []events.Undelivered
	opts := store.ListOptions{Limit: store.MaxListLimit}
	for {
		page, next, err := events.Abandoned(ctx, s.st(), opts)
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if next == "" || len(out) >= maxListed {
			return out, nil
		}
		opts.Cursor = next
	}
}

// orderOfEvent reads the order an event's data names (order_id, else out_trade_no) and
// its merchant (the sub-merchant on a platform).
func orderOfEvent(data json.RawMessage) (order, mchid string) {
	var v struct {
		OrderID    string `json:"order_id"`
		OutTradeNo string `json:"out_trade_no"`
		MchID      string `json:"mchid"`
		SubMchID   string `json:"sub_mchid"`
	}
	_ = json.Unmarshal(data, &v)
	return cmp.Or(v.OrderID, v.OutTradeNo), cmp.Or(v.SubMchID, v.MchID)
}

// maxLookups bounds the reads Bills makes to name each discrepancy's order.
const maxLookups = 300

// Bills implements Source.
func (s *LedgerSource) Bills(ctx context.Context, days int) ([]BillDay, error) {
	today := s.now().In(clock.CST)
	lookups := 0
	var out []BillDay
	for i := range days {
		date := today.AddDate(0, 0, -i).Format(time.DateOnly)
		type which struct{ mchid, typ string }
		var bills []which
		mchids, err := s.tradeMchIDs(ctx, date)
		if err != nil {
			return nil, err
		}
		for _, o := range mchids {
			bills = append(bills, which{o, billTrade})
		}
		if s.FundMchID != "" {
			bills = append(bills, which{s.FundMchID, billFundFlow})
		}
		for _, b := range bills {
			r, err := s.report(ctx, b.mchid, b.typ, date)
			if err != nil {
				return nil, err
			}
			if r == nil {
				continue
			}
			bd := BillDay{Date: date, Type: b.typ, MchID: b.mchid, Status: r.Status, Error: r.Error, HashChecked: r.HashOK,
				Rows: int(r.Rows), Matched: int(r.Matched), Settled: int(r.Settled), Truncated: r.Truncated}
			for _, d := range r.Discrepancies {
				x := Discrepancy{Kind: d.Kind, OutTradeNo: d.OutTradeNo, OutRefundNo: d.OutRefundNo,
					Detail: strings.TrimSpace("ours " + d.Ours + " · WeChat Pay " + d.Theirs + " · " + d.Note)}
				if d.OutTradeNo != "" && lookups < maxLookups {
					lookups++
					if o, err := s.Ledger.Attempt(ctx, b.mchid, d.OutTradeNo); err == nil {
						x.OrderID = o.OrderID
					}
				}
				bd.Discrepancies = append(bd.Discrepancies, x)
			}
			out = append(out, bd)
		}
	}
	return out, nil
}

// stuckAfter is how many working days a refund may take: "a refund to a bank card
// takes 1–3 working days, at most 7" (WeChat Pay, 申请退款 API: 退款有一定延时).
const stuckAfter = 7

// workingDays counts the Mondays to Fridays (UTC+8) from the day after from up to to.
// Public holidays are not known here: the count errs towards patience.
func workingDays(from, to time.Time) int {
	n := 0
	d := from.In(clock.CST)
	end := to.In(clock.CST)
	for d = d.AddDate(0, 0, 1); !d.After(end); d = d.AddDate(0, 0, 1) {
		if wd := d.Weekday(); wd != time.Saturday && wd != time.Sunday {
			n++
		}
	}
	return n
}

// Refunds implements Source.
func (s *LedgerSource) Refunds(ctx context.Context) ([]StuckRefund, error) {
	now := s.now()
	var out []StuckRefund
	var outbox []store.Record
	err := s.eachListed(ctx, payment.PendingRefunds, &outbox, func(rec store.Record) error {
		r, err := payment.RefundOf(rec)
		if err != nil {
			return err
		}
		if r.State != wechatpay.RefundStatusProcessing || r.InReview() || r.CreatedAt.IsZero() {
			return nil
		}
		if wd := workingDays(r.CreatedAt, now); wd > stuckAfter {
			sr := s.stuckOf(r, r.CreatedAt)
			sr.WorkingDays = wd
			out = append(out, sr)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = s.Ledger.AbnormalRefunds(ctx, func(r *payment.Refund) error {
		out = append(out, s.stuckOf(r, r.UpdatedAt))
		return nil
	})
	sort.SliceStable(out, func(i, j int) bool { return out[i].Since.Before(out[j].Since) })
	return out, err
}

func (s *LedgerSource) stuckOf(r *payment.Refund, since time.Time) StuckRefund {
	return StuckRefund{OutRefundNo: r.OutRefundNo, RefundID: r.RefundID, OrderID: r.OrderID, OutTradeNo: r.OutTradeNo, MchID: r.Owner,
		State: r.Status(), Amount: r.Amount, Since: since, Reissues: len(r.Reissues), Find: s.findQuery(r.Owner, r.OrderID, r.OutTradeNo)}
}

// findQuery is the Find query of a record of owner: qualified with the sub-merchant
// when the records are many sub-merchants' ("" otherwise: the id alone finds it).
func (s *LedgerSource) findQuery(owner, orderID, outTradeNo string) string {
	id := cmp.Or(orderID, outTradeNo)
	if !s.AnyOwner || id == "" || owner == "" {
		return ""
	}
	return owner + "/" + id
}

// validQuery: order ids, out_trade_no, transaction_id and out_refund_no are all made of
// these (WeChat Pay: digits, letters, _-*| ; out_refund_no also @). Anything else is
// nothing to look up, and never reaches a store key.
func validQuery(q string) bool {
	if q == "" || len(q) > 64 {
		return false
	}
	for _, r := range q {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_-*|@", r)) {
			return false
		}
	}
	return true
}

func transactionLike(q string) bool {
	if len(q) < 20 || len(q) > 32 {
		return false
	}
	for _, r := range q {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// Find implements Source: q is tried as an order_id, an out_trade_no, an out_refund_no
// and a transaction_id, for each merchant, by key; a transaction_id no key names is
// asked of WeChat Pay, whose answer names its out_trade_no.
func (s *LedgerSource) Find(ctx context.Context, q string) (*Story, error) {
	if owner, no, qualified := strings.Cut(q, "/"); qualified {
		// "sub_mchid/id": a sub-merchant the defaults do not name.
		if !s.AnyOwner && !slices.Contains(s.Owners, owner) || !isMchID(owner) || !validQuery(no) {
			return nil, nil
		}
		return s.findOwned(ctx, owner, no)
	}
	if !validQuery(q) {
		return nil, nil
	}
	owners, err := s.holders(ctx, q)
	if err != nil {
		return nil, err
	}
	var found *Story
	for _, h := range owners {
		owner := h.owner
		if found != nil {
			// A platform's sub-merchants may share a number ("000001" may be hundreds of
			// them): the first holder's story is read and shown, every later holder only
			// named, a Find of its own away — one page costs the reads of one story.
			found.Holders = append(found.Holders, s.findQuery(owner, h.no, ""))
			continue
		}
		st, err := s.findOwned(ctx, owner, q)
		if err != nil {
			return nil, err
		}
		if st == nil {
			continue
		}
		if !s.AnyOwner {
			return st, nil
		}
		found = st
		found.Holders = append(found.Holders, s.findQuery(owner, st.OrderID, st.OutTradeNo))
	}
	if found != nil {
		if len(found.Holders) < 2 {
			found.Holders = nil
		}
		return found, nil
	}
	if st, err := s.findCombine(ctx, q); st != nil || err != nil {
		return st, err
	}
	if transactionLike(q) && s.Platform != "" {
		// A partner's or platform's payment: the ledger noted which sub-merchant's order
		// its transaction_id paid (WeChat Pay answers a query by transaction_id only
		// under that sub_mchid, so asking under the default one found nothing of any
		// other sub-merchant).
		owner, no, err := s.Ledger.TransactionOrder(ctx, s.Platform, q)
		switch {
		case err == nil:
			if st, err := s.findOwned(ctx, owner, no); st != nil || err != nil {
				return st, err
			}
		case !errors.Is(err, payment.ErrNotFound):
			return nil, err
		}
	}
	if transactionLike(q) && s.Client != nil {
		for _, owner := range s.Owners {
			qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			tx, err := payclient.ForOwner(s.Client, owner).QueryByTransactionID(qctx, q)
			cancel()
			if err != nil || tx.OutTradeNo == "" {
				continue // unknown there (ORDER_NOT_EXIST), or WeChat Pay unreachable: nothing found
			}
			if st, err := s.findOwned(ctx, owner, tx.OutTradeNo); st != nil || err != nil {
				return st, err
			}
		}
	}
	return nil, nil
}

// holders are the merchants a bare query is looked up under: the Owners, then (on a
// platform) every sub-merchant the order API noted as holding the number — for a
// re-priced attempt's number (order_id_2) the order_id's.
func (s *LedgerSource) holders(ctx context.Context, q string) ([]holder, error) {
	var owners []holder
	seen := map[string]bool{}
	for _, o := range s.Owners {
		owners, seen[o] = append(owners, holder{o, q}), true
	}
	if !s.AnyOwner || s.Holders == nil {
		return owners, nil
	}
	nos := []string{q}
	if base, n, ok := cutAttempt(q); ok && n > 1 {
		nos = append(nos, base)
	}
	for _, no := range nos {
		hs, err := s.Holders(ctx, no)
		if err != nil {
			return nil, err
		}
		for _, h := range hs {
			if !seen[h] && isMchID(h) {
				owners, seen[h] = append(owners, holder{h, no}), true
			}
		}
	}
	return owners, nil
}

// holder is a merchant a bare query is looked up under, and the number it holds (the
// query, or the order_id of the re-priced attempt the query names).
type holder struct{ owner, no string }

// cutAttempt splits a re-priced attempt's number "{order_id}_{n}" (payment.AttemptNo).
func cutAttempt(no string) (string, int, bool) {
	i := strings.LastIndexByte(no, '_')
	if i <= 0 {
		return "", 0, false
	}
	n, err := strconv.Atoi(no[i+1:])
	if err != nil || n < 2 || strconv.Itoa(n) != no[i+1:] {
		return "", 0, false
	}
	return no[:i], n, true
}

func (s *LedgerSource) findOwned(ctx context.Context, owner, q string) (*Story, error) {
	hist, err := s.Ledger.Order(ctx, owner, q)
	var other *payment.OtherOrderError
	switch {
	case err == nil:
		return s.story(ctx, hist)
	case errors.As(err, &other) && other.Holder != "":
		// q is a later attempt of order Holder: its story.
		if hist, err = s.Ledger.Order(ctx, owner, other.Holder); err == nil {
			return s.story(ctx, hist)
		}
	}
	if err != nil && !errors.Is(err, payment.ErrNotFound) {
		return nil, err
	}
	if a, err := s.Ledger.Attempt(ctx, owner, q); err == nil {
		return s.attemptStory(ctx, a)
	} else if !errors.Is(err, payment.ErrNotFound) {
		return nil, err
	}
	if r, err := s.Ledger.Refund(ctx, owner, q); err == nil {
		a, err := s.Ledger.Attempt(ctx, owner, r.OutTradeNo)
		if err != nil {
			return nil, err
		}
		return s.attemptStory(ctx, a)
	} else if !errors.Is(err, payment.ErrNotFound) {
		return nil, err
	}
	// A payment for another merchant, kept for review under its transaction_id.
	if rec, err := s.st().Get(ctx, payment.ForeignKey(owner, q)); err == nil {
		o, err := payment.OrderOf(rec)
		if err != nil {
			return nil, err
		}
		return s.story(ctx, &payment.History{First: o, Current: o})
	}
	return nil, nil
}

// findCombine finds a combine (合单) by its order_id or an attempt's
// combine_out_trade_no: its story is the combine's attempts and the current attempt's
// sub-orders, each linked to its own story (the sub-orders are orders of their
// sub-merchants; their causes, kept payments and actions are there).
func (s *LedgerSource) findCombine(ctx context.Context, q string) (*Story, error) {
	if s.Platform == "" {
		return nil, nil
	}
	hist, err := s.Ledger.Combine(ctx, s.Platform, q)
	var other *payment.OtherOrderError
	if errors.As(err, &other) && other.Holder != "" {
		hist, err = s.Ledger.Combine(ctx, s.Platform, other.Holder)
	}
	switch {
	case errors.Is(err, payment.ErrNotFound):
		return nil, nil
	case err != nil:
		return nil, err
	}
	if hist.Current != hist.First {
		if err := s.Ledger.CombinePrevious(ctx, hist); err != nil {
			return nil, err
		}
	}
	cur := hist.Current
	subs, err := s.Ledger.SubOrders(ctx, cur)
	if err != nil {
		return nil, err
	}
	st := &Story{OrderID: hist.First.OrderID, OutTradeNo: cur.CombineNo, MchID: cur.Owner, State: payment.CombineStatus(cur, subs), Amount: cur.Total()}
	for _, c := range append(slices.Clone(hist.Previous), cur) {
		csubs := subs
		if c != cur {
			if csubs, err = s.Ledger.SubOrders(ctx, c); err != nil {
				return nil, err
			}
		}
		st.Attempts = append(st.Attempts, Attempt{OutTradeNo: c.CombineNo, State: payment.CombineStatus(c, csubs), Scene: c.Scene, Amount: c.Total(), CreatedAt: c.CreatedAt})
		st.Events = append(st.Events, storyEvents(c.Record())...)
	}
	for i, so := range cur.SubOrders {
		sv := StorySubOrder{OrderID: so.OrderID, OutTradeNo: so.OutTradeNo, SubMchID: so.SubMchID, Amount: so.Amount,
			State: wechatpay.TradeStateNotPay, Find: so.SubMchID + "/" + so.OrderID}
		if cur.Closed {
			sv.State = wechatpay.TradeStateClosed
		}
		if o := subs[i]; o != nil {
			sv.State, st.Refunded = o.Status(), st.Refunded+o.Refunded()
			if o.Payment != nil {
				sv.TransactionID = o.Payment.TransactionID
			}
			st.Events = append(st.Events, storyEvents(o.Record())...)
		}
		st.SubOrders = append(st.SubOrders, sv)
	}
	sort.SliceStable(st.Events, func(i, j int) bool { return st.Events[i].CreatedAt.Before(st.Events[j].CreatedAt) })
	return st, nil
}

// attemptStory is the story of the order an attempt belongs to (or of the attempt
// alone, for a payment the bundle did not create).
func (s *LedgerSource) attemptStory(ctx context.Context, a *payment.Order) (*Story, error) {
	if a.OrderID != "" {
		if hist, err := s.Ledger.Order(ctx, a.Owner, a.OrderID); err == nil {
			return s.story(ctx, hist)
		}
	}
	return s.story(ctx, &payment.History{First: a, Current: a})
}

func (s *LedgerSource) story(ctx context.Context, hist *payment.History) (*Story, error) {
	if hist.Current != hist.First {
		if err := s.Ledger.Previous(ctx, hist); err != nil {
			return nil, err
		}
	}
	// Previous holds every attempt before the current one (attempt 1 first).
	attempts := append(append([]*payment.Order{}, hist.Previous...), hist.Current)
	cur := hist.Current
	st := &Story{OrderID: hist.First.OrderID, OutTradeNo: cur.OutTradeNo, MchID: cur.Owner, State: cur.Status(), Amount: cur.Amount}
	if st.OrderID == "" {
		st.OrderID = cur.OutTradeNo
	}
	for _, a := range attempts {
		at := Attempt{OutTradeNo: a.OutTradeNo, State: a.Status(), Scene: a.Scene, Amount: a.Amount, CreatedAt: a.CreatedAt}
		if a.Payment != nil {
			at.TransactionID, at.PaidAt = a.Payment.TransactionID, a.Payment.SuccessTime
		}
		st.Attempts = append(st.Attempts, at)
		st.Refunded += a.Refunded()
		if a.InReview() {
			st.Causes = append(st.Causes, causes(a.Review.Pending())...)
			if st.ReviewRef == "" {
				st.ReviewRef = a.Key()
				st.State = payment.StateReview
			}
		}
		if a.InReview() || len(a.Conflicts) > 0 {
			ks := kept(a)
			for i := range ks {
				// Only a record in review offers actions on what it keeps.
				ks[i].Refundable = ks[i].Refundable && a.InReview()
			}
			st.Kept = append(st.Kept, ks...)
		}
		for _, r := range a.Review.Resolutions {
			st.Resolutions = append(st.Resolutions, Resolution{By: r.By, Note: r.Note, At: r.At})
		}
		st.Events = append(st.Events, storyEvents(a.Record())...)
		refunds, err := s.Ledger.RefundsOf(ctx, a)
		if err != nil {
			return nil, err
		}
		for _, r := range refunds {
			sr := StoryRefund{OutRefundNo: r.OutRefundNo, RefundID: r.RefundID, State: r.Status(), SuccessTime: r.SuccessTime, Amount: r.Amount,
				TransactionID: r.TransactionID}
			for _, re := range r.Reissues {
				sr.Reissued = append(sr.Reissued, re.Type+" "+re.Bank+" · "+re.By+" · "+stamp(re.At))
			}
			st.Refunds = append(st.Refunds, sr)
			st.Events = append(st.Events, storyEvents(r.Record())...)
			for _, x := range r.Review.Resolutions {
				st.Resolutions = append(st.Resolutions, Resolution{By: x.By, Note: x.Note, At: x.At})
			}
		}
	}
	sort.SliceStable(st.Events, func(i, j int) bool { return st.Events[i].CreatedAt.Before(st.Events[j].CreatedAt) })
	return st, nil
}

func storyEvents(rec store.Record) []StoryEvent {
	var out []StoryEvent
	for _, e := range events.Entries(rec) {
		out = append(out, StoryEvent{ID: e.ID, Type: e.Type, CreatedAt: e.CreatedAt, Attempts: e.Attempts, DeliveredAt: e.DeliveredAt,
			LastStatus: e.LastStatus, LastError: e.LastError})
	}
	return out
}

// owned splits a record key the console was given back (a form's ref) into its owner
// and number, refusing keys of merchants the console does not show.
func (s *LedgerSource) owned(ref string, key func(owner, no string) string) (owner, no string, ok bool) {
	if s.AnyOwner {
		return splitOwned(ref, key)
	}
	for _, o := range s.Owners {
		if rest, found := strings.CutPrefix(ref, key(o, "")); found && validQuery(rest) {
			return o, rest, true
		}
	}
	return "", "", false
}

// splitOwned splits a record key of any merchant ("order/{mchid}/{no}") into its owner
// and number; ok only when both are ids (a mchid is digits).
func splitOwned(ref string, key func(owner, no string) string) (owner, no string, ok bool) {
	rest, found := strings.CutPrefix(ref, strings.TrimSuffix(key("", ""), "/"))
	if !found {
		return "", "", false
	}
	owner, no, _ = strings.Cut(rest, "/")
	if !isMchID(owner) || !validQuery(no) {
		return "", "", false
	}
	return owner, no, true
}

// isMchID: a merchant number is 8 to 12 digits.
func isMchID(s string) bool {
	if len(s) < 8 || len(s) > 12 {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// keptRefundNo is the out_refund_no of the refund of a kept payment: derived from the
// transaction, the same as reconcile's automatic refund of a late payment
// (reconcile.LateRefundNo), so however often and by whichever path it is asked for,
// a kept payment is refunded at most once.
func keptRefundNo(txid string) string { return "LATE" + txid }

// RefundKept implements Source: through the order API's refund path, in full, by the
// transaction's id.
func (s *LedgerSource) RefundKept(ctx context.Context, who, ref, txid string) error {
	owner, no, ok := s.owned(ref, payment.OrderKey)
	if !ok || !transactionLike(txid) {
		return fmt.Errorf("%w: no such order or transaction", ErrRefused)
	}
	o, err := s.Ledger.Attempt(ctx, owner, no)
	if errors.Is(err, payment.ErrNotFound) {
		return fmt.Errorf("%w: no such order", ErrRefused)
	}
	if err != nil {
		return err
	}
	if !o.InReview() {
		return fmt.Errorf("%w: order %s is not in review", ErrRefused, o.OutTradeNo)
	}
	var amount int64
	for _, c := range o.Conflicts {
		if c.TransactionID == txid && c.OutRefundNo == "" {
			amount = c.Amount
		}
	}
	if amount == 0 {
		return fmt.Errorf("%w: transaction %s is not kept on order %s", ErrRefused, txid, o.OutTradeNo)
	}
	if r := refundsOf(o, txid); r != "" {
		return fmt.Errorf("%w: transaction %s is already being refunded (%s)", ErrRefused, txid, r)
	}
	_, err = s.Refund(ctx, o, payment.RefundRequest{OutRefundNo: keptRefundNo(txid), Amount: amount, TransactionID: txid,
		Reason: "退还重复支付 (duplicate payment refunded)"})
	return err
}

// Resolve implements Source: the ledger's ResolveReview (order.review_resolved).
func (s *LedgerSource) Resolve(ctx context.Context, who, ref, note string) error {
	if _, _, ok := s.owned(ref, payment.OrderKey); !ok {
		if _, _, ok := s.owned(ref, payment.RefundKey); !ok {
			if _, _, ok := s.owned(ref, payment.ForeignKey); !ok {
				return fmt.Errorf("%w: no such record", ErrRefused)
			}
		}
	}
	res, err := s.Ledger.ResolveReview(ctx, ref, who, note)
	switch {
	case errors.Is(err, payment.ErrNotFound):
		return fmt.Errorf("%w: no such record", ErrRefused)
	case errors.Is(err, payment.ErrInvalid):
		return fmt.Errorf("%w: %s", ErrRefused, strings.TrimPrefix(err.Error(), "payment: "))
	case err != nil:
		return err
	case res.Outcome == payment.Refused:
		return fmt.Errorf("%w: %s", ErrRefused, res.Reason)
	}
	s.deliver(ctx, res.Record)
	return nil
}

// deliver attempts rec's owed events now, when there is a sink here.
func (s *LedgerSource) deliver(ctx context.Context, rec store.Record) {
	if s.Deliverer == nil || s.Deliverer.Sink == nil {
		return
	}
	if _, _, err := s.Deliverer.DeliverRecord(ctx, rec, false); err != nil {
		logOr(s.Ledger.Log).Warn("console: delivery not recorded; the next delivery run retries", "key", rec.Key, "error", err.Error())
	}
}

// Resend implements Source: events.Resend through the ledger's Marker, then one
// delivery attempt when this function has a sink.
func (s *LedgerSource) Resend(ctx context.Context, who, id string) error {
	if _, _, err := events.Locate(id); err != nil {
		return fmt.Errorf("%w: no such event", ErrRefused)
	}
	e, err := events.Resend(ctx, s.st(), s.Ledger, id, s.now())
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: no such event", ErrRefused)
	}
	if err != nil {
		return err
	}
	if rec, err := s.st().Get(ctx, e.Key); err == nil {
		s.deliver(ctx, rec)
	}
	return nil
}

// ResendAll implements Source: every event the outbox owes, and every one retries gave
// up on, due now.
func (s *LedgerSource) ResendAll(ctx context.Context, who string) (int, error) {
	recs, err := s.list(ctx, events.IndexOutbox, 0)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, rec := range recs {
		for _, e := range events.Owed(rec) {
			if _, err := events.Resend(ctx, s.st(), s.Ledger, e.ID, s.now()); err != nil && !errors.Is(err, store.ErrNotFound) {
				return n, err
			}
			n++
		}
		if fresh, err := s.st().Get(ctx, rec.Key); err == nil {
			s.deliver(ctx, fresh)
		}
	}
	gone, err := s.abandoned(ctx)
	if err != nil {
		return n, err
	}
	for _, u := range gone {
		e, err := events.Resend(ctx, s.st(), s.Ledger, u.Entry.ID, s.now())
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return n, err
		}
		n++
		if fresh, err := s.st().Get(ctx, e.Key); err == nil {
			s.deliver(ctx, fresh)
		}
	}
	return n, nil
}

// AbnormalRefund implements Source: 异常退款 at WeChat Pay, then the ledger's Reissued.
func (s *LedgerSource) AbnormalRefund(ctx context.Context, who string, req AbnormalRequest) error {
	if !validQuery(req.OutRefundNo) {
		return fmt.Errorf("%w: no such refund", ErrRefused)
	}
	var r *payment.Refund
	owners := s.Owners
	if req.MchID != "" && (s.AnyOwner || slices.Contains(s.Owners, req.MchID)) {
		owners = []string{req.MchID}
	}
	for _, owner := range owners {
		got, err := s.Ledger.Refund(ctx, owner, req.OutRefundNo)
		if err == nil {
			r = got
			break
		}
		if !errors.Is(err, payment.ErrNotFound) {
			return err
		}
	}
	if r == nil {
		return fmt.Errorf("%w: no such refund", ErrRefused)
	}
	if r.State != wechatpay.RefundStatusAbnormal || r.InReview() {
		return fmt.Errorf("%w: refund %s is %s, not ABNORMAL", ErrRefused, r.OutRefundNo, r.Status())
	}
	if r.RefundID == "" {
		return fmt.Errorf("%w: refund %s has no refund_id from WeChat Pay yet", ErrRefused, r.OutRefundNo)
	}
	a := wechatpay.AbnormalRefund{OutRefundNo: r.OutRefundNo, Type: wechatpay.AbnormalRefundUserBankCard,
		BankType: req.BankType, BankAccount: req.BankAccount, RealName: req.RealName}
	if req.ToMerchant {
		a = wechatpay.AbnormalRefund{OutRefundNo: r.OutRefundNo, Type: wechatpay.AbnormalRefundMerchantBankCard}
	}
	var key wechatpay.EncryptionKey
	if a.Type == wechatpay.AbnormalRefundUserBankCard {
		if s.EncryptionKey == nil {
			return errors.New("no WeChat Pay public key to encrypt the card with")
		}
		var err error
		if key, err = s.EncryptionKey(ctx); err != nil {
			return fmt.Errorf("WeChat Pay's public key: %w", err)
		}
	}
	cl := payclient.ForOwner(s.Client, r.Owner)
	apply := func() error { _, err := cl.ApplyAbnormalRefund(ctx, r.RefundID, a, key); return err }
	if s.Ecommerce {
		apply = func() error { _, err := cl.ApplyEcommerceAbnormalRefund(ctx, r.RefundID, a, key); return err }
	}
	if err := apply(); err != nil {
		var ve *wechatpay.ValidationError
		var ae *wechatpay.APIError
		switch {
		case errors.As(err, &ve):
			return fmt.Errorf("%w: %s", ErrRefused, ve.Error())
		case errors.As(err, &ae) && ae.StatusCode < 500 && !ae.Retryable():
			return fmt.Errorf("%w: WeChat Pay: %s %s", ErrRefused, ae.Code, ae.Message)
		}
		return err
	}
	_, err := s.Ledger.Reissued(ctx, r, payment.Reissue{By: who, Type: a.Type, Bank: a.BankType})
	if errors.Is(err, payment.ErrNotAbnormal) {
		return nil // a result arrived meanwhile: it speaks for itself
	}
	return err
}
