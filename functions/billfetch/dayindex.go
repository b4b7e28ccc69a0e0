package billfetch

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/paysls/wxpay/shared/clock"
	"github.com/paysls/wxpay/shared/events"
	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/store"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// The bill day index answers "what does this store hold as paid (or refunded) on day
// D?" without scanning the table. The payment core places every payment and successful
// refund in payment.BillDayIndex(mchid, D) — in the very write that makes it succeed, at
// no extra cost — where it waits (once its merchant events are delivered; until then it
// sits in the outbox with that listing as its schedule). A bill row that matches takes
// the record out of the listing; what is left after the day's bill is a payment here
// that WeChat Pay does not list (本地长款) — unless it is within nearMidnight of the
// day's end, when WeChat Pay may book it on the next day: then it is noted for a
// recheck against the next day's bill first.

// nearMidnight is how close to the end of a day a success may be booked on the next.
const nearMidnight = 10 * time.Minute

func dayOf(date string) time.Time {
	d, _ := time.ParseInLocation(time.DateOnly, date, clock.CST)
	return d
}

// isRefund tells refund records from order records in a listing.
func isRefund(rec store.Record) bool { return strings.HasPrefix(rec.Key, "refund/") }

// succeededAt is when the record's listing placed it.
func succeededAt(rec store.Record) time.Time {
	_, at := events.Schedule(rec.Attrs)
	return at
}

// noteSeen takes a success the bill listed out of its day's listing (a ledger note,
// never money). A record already taken out (a re-run) is left alone: a re-run writes
// nothing.
func (r *reconciler) noteSeen(ctx context.Context, owner, kind, no string) error {
	key := payment.OrderKey(owner, no)
	if kind == "refund" {
		key = payment.RefundKey(owner, no)
	}
	rec, err := r.j.st.Get(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("billfetch: read %s: %w", key, err)
	}
	// An order whose profit sharing has a step due, or a refund whose advance is still to
	// be returned, waits in that schedule instead of its bill day's listing (a record
	// waits in one place): it is noted all the same, or it would land, once that is
	// done, in the listing of a day already checked.
	switch idx, _ := events.Schedule(rec.Attrs); {
	case strings.HasPrefix(idx, payment.BillDayPrefix), idx == payment.PendingShares, idx == payment.PendingAdvanceReturns:
	default:
		return nil
	}
	if _, err := r.j.ledger.NoteBill(ctx, rec, payment.BillNote{Seen: r.date}); err != nil {
		return fmt.Errorf("billfetch: tick %s: %w", key, err)
	}
	return nil
}

// eachMarker lists the records a date's listing holds: those waiting in it, and those
// still in the outbox (an event not yet delivered) whose listing it is.
func (r *reconciler) eachMarker(ctx context.Context, owner, date string, fn func(store.Record) error) error {
	return r.eachListed(ctx, payment.BillDayIndex(owner, dayOf(date)), fn)
}

// eachListed lists the records waiting in idx: in it, or in the outbox with it as their
// schedule.
func (r *reconciler) eachListed(ctx context.Context, idx string, fn func(store.Record) error) error {
	for _, index := range []string{idx, events.IndexOutbox} {
		opts := store.ListOptions{Limit: store.MaxListLimit}
		for {
			page, err := r.j.st.ListPending(ctx, index, opts)
			if err != nil {
				return fmt.Errorf("billfetch: list %s: %w", idx, err)
			}
			for _, rec := range page.Records {
				if rec.Attrs[events.AttrSchedIndex] != idx {
					continue
				}
				if err := fn(rec); err != nil {
					return err
				}
			}
			if page.Cursor == "" {
				break
			}
			opts.Cursor = page.Cursor
		}
	}
	return nil
}

// longCheck reports the successes of this day (and the near-midnight ones of the day
// before, rechecked) that the bill did not list.
func (r *reconciler) longCheck(ctx context.Context) error {
	for _, owner := range r.owners() { // platform.go
		if err := r.longCheckOf(ctx, owner); err != nil {
			return err
		}
	}
	return r.longCheckWaiting(ctx)
}

// longCheckWaiting is longCheck for the successes waiting elsewhere than in their bill
// day's listing (a record waits in one place): payments with a step of their profit
// sharing due (a split held for days) in payment.PendingShares, refunds whose advance
// (垫付) is still to be returned in payment.PendingAdvanceReturns. A bill that did not
// list one went unseen. Those schedules are one listing for every merchant: the bill's
// own are those it answers for (on a platform's full bill, every sub-merchant's — also
// one with no row in the day's bill at all).
func (r *reconciler) longCheckWaiting(ctx context.Context) error {
	end := r.day.AddDate(0, 0, 1)
	next, prev := end.Format(time.DateOnly), r.day.AddDate(0, 0, -1).Format(time.DateOnly)
	check := func(rec store.Record, at time.Time, bill payment.BillNote) error {
		switch {
		case bill.Recheck == r.date:
			return r.missing(rec, "succeeded here near midnight on "+prev+"; absent from that bill and this one")
		case bill.Recheck == next:
			r.count(&r.rep.Recheck) // noted by an earlier run of this day
			return nil
		case bill.Recheck != "" || at.In(clock.CST).Format(time.DateOnly) != r.date:
			return nil
		case end.Sub(at) <= nearMidnight:
			if _, err := r.j.ledger.NoteBill(ctx, rec, payment.BillNote{Recheck: next}); err != nil {
				return fmt.Errorf("billfetch: note recheck of %s: %w", rec.Key, err)
			}
			r.count(&r.rep.Recheck)
			return nil
		}
		return r.missing(rec, "")
	}
	err := r.eachListed(ctx, payment.PendingShares, func(rec store.Record) error {
		o, err := payment.OrderOf(rec)
		if err != nil {
			return fmt.Errorf("billfetch: decode %s: %w", rec.Key, err)
		}
		if !o.Paid() || o.InReview() || o.Bill.Seen != "" || !r.answersFor(o) {
			return nil
		}
		return check(rec, successAt(o.Payment.SuccessTime, o.Payment.ReceivedAt), o.Bill)
	})
	if err != nil {
		return err
	}
	return r.eachListed(ctx, payment.PendingAdvanceReturns, func(rec store.Record) error {
		rf, err := payment.RefundOf(rec)
		if err != nil {
			return fmt.Errorf("billfetch: decode %s: %w", rec.Key, err)
		}
		if rf.State != wechatpay.RefundStatusSuccess || rf.InReview() || rf.Bill.Seen != "" || !(r.m.all || rf.Owner == r.m.mchid) {
			return nil
		}
		at := rf.CreatedAt // the day WeChat Pay accepted it (Refund.schedule)
		if !rf.Requested {
			at = successAt(rf.SuccessTime, rf.UpdatedAt)
		}
		return check(rec, at, rf.Bill)
	})
}

// successAt parses a WeChat Pay success_time, falling back to fallback.
func successAt(s string, fallback time.Time) time.Time {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t
	}
	return fallback
}

func (r *reconciler) longCheckOf(ctx context.Context, owner string) error {
	next := r.day.AddDate(0, 0, 1).Format(time.DateOnly)
	end := r.day.AddDate(0, 0, 1)
	err := r.eachMarker(ctx, owner, r.date, func(m store.Record) error {
		if !r.listedHere(m) {
			return nil
		}
		if billNote(m).Recheck != "" {
			r.count(&r.rep.Recheck)
			return nil
		}
		if at := succeededAt(m); !at.IsZero() && end.Sub(at) <= nearMidnight {
			if _, err := r.j.ledger.NoteBill(ctx, m, payment.BillNote{Recheck: next}); err != nil {
				return fmt.Errorf("billfetch: note recheck of %s: %w", m.Key, err)
			}
			r.count(&r.rep.Recheck)
			return nil
		}
		return r.missing(m, "")
	})
	if err != nil {
		return err
	}
	prev := r.day.AddDate(0, 0, -1).Format(time.DateOnly)
	return r.eachMarker(ctx, owner, prev, func(m store.Record) error {
		if !r.listedHere(m) || billNote(m).Recheck != r.date {
			return nil
		}
		return r.missing(m, "succeeded here near midnight on "+prev+"; absent from that bill and this one")
	})
}

// billNote is what billfetch noted on a listed order or refund.
func billNote(rec store.Record) payment.BillNote {
	if isRefund(rec) {
		if rf, err := payment.RefundOf(rec); err == nil {
			return rf.Bill
		}
		return payment.BillNote{}
	}
	if o, err := payment.OrderOf(rec); err == nil {
		return o.Bill
	}
	return payment.BillNote{}
}

func (r *reconciler) missing(rec store.Record, note string) error {
	d := Discrepancy{Theirs: "absent", Note: note}
	if isRefund(rec) {
		rf, err := payment.RefundOf(rec)
		if err != nil {
			return err
		}
		d.Kind, d.OutRefundNo, d.OutTradeNo, d.Ours = KindRefundMissingFromBill, rf.OutRefundNo, rf.OutTradeNo, rf.Status()+" "+fen(rf.Amount)
	} else {
		o, err := payment.OrderOf(rec)
		if err != nil {
			return err
		}
		amount := o.Amount
		if o.Payment != nil {
			amount = o.Payment.Amount
		}
		d.Kind, d.OutTradeNo, d.Ours = KindMissingFromBill, o.OutTradeNo, o.Status()+" "+fen(amount)
	}
	r.add(d)
	return nil
}
