package billfetch

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/store"
)

// The day index answers "what does this store hold as paid (or refunded) on day D?"
// without scanning the table: one small marker record per success, in a pending index
// per merchant and day that only billfetch reads. A bill row that matches a marked
// success sets the marker's "seen"; a marker still unseen after the bill of its day is
// a payment here that WeChat Pay does not list (本地长款) — unless it is within
// nearMidnight of the day's end, when WeChat Pay may book it on the next day: then it
// is noted for a recheck against the next day's bill first.
//
// The payment core writes a marker with NoteSucceeded when a payment or refund
// succeeds; billfetch only reads and ticks them.

// nearMidnight is how close to the end of a day a success may be booked on the next.
const nearMidnight = 10 * time.Minute

// markerLife keeps markers for longer than bills are available (three months).
const markerLife = 100 * 24 * time.Hour

// Marker kinds.
const (
	markOrder  = "order"
	markRefund = "refund"
)

func dayIndex(mchid, date string) string {
	return "billday_" + strings.ToLower(mchid) + "_" + strings.ReplaceAll(date, "-", "")
}

func markerKey(mchid, date, kind, no string) string {
	return "billday/" + mchid + "/" + date + "/" + kind + "/" + no
}

// NoteSucceeded records in the day index that the store holds a success: kind "order"
// (no = out_trade_no, at = success_time) or "refund" (no = out_refund_no, at = when
// WeChat Pay accepted the refund, the time its bill row carries). Idempotent.
func NoteSucceeded(ctx context.Context, st store.Store, mchid, kind, no string, at time.Time) error {
	if kind != markOrder && kind != markRefund {
		return fmt.Errorf("billfetch: marker kind %q: want order or refund", kind)
	}
	date := at.In(cst).Format(time.DateOnly)
	rec := store.Record{
		Key:     markerKey(mchid, date, kind, no),
		Attrs:   map[string]string{"kind": kind, "no": no, payment.AttrMchID: mchid, "at": at.UTC().Format(time.RFC3339)},
		Pending: dayIndex(mchid, date), PendingSince: at,
		// Expiry is judged by the store against the wall clock, not business time.
		ExpiresAt: time.Now().Add(markerLife),
	}
	_, err := st.Put(ctx, rec, store.Condition{Absent: true})
	if err != nil && !errors.Is(err, store.ErrConditionFailed) {
		return fmt.Errorf("billfetch: note %s %s: %w", kind, no, err)
	}
	return nil
}

// noteSeen ticks the marker of a success the bill listed (if the core wrote one). A
// marker already ticked is left alone: a re-run writes nothing.
func (r *reconciler) noteSeen(ctx context.Context, kind, no, date string) error {
	key := markerKey(r.m.mchid, date, kind, no)
	_, err := r.j.st.Update(ctx, key, store.Change{Set: map[string]string{"seen": r.date}},
		store.Condition{Attrs: []store.AttrTest{store.AttrIn("seen", "")}})
	if err != nil && !errors.Is(err, store.ErrConditionFailed) {
		return fmt.Errorf("billfetch: tick %s: %w", key, err)
	}
	return nil
}

// eachMarker lists a day's markers.
func (r *reconciler) eachMarker(ctx context.Context, date string, fn func(store.Record) error) error {
	opts := store.ListOptions{Limit: store.MaxListLimit}
	for {
		page, err := r.j.st.ListPending(ctx, dayIndex(r.m.mchid, date), opts)
		if err != nil {
			return fmt.Errorf("billfetch: list the successes of %s: %w", date, err)
		}
		for _, rec := range page.Records {
			if err := fn(rec); err != nil {
				return err
			}
		}
		if page.Cursor == "" {
			return nil
		}
		opts.Cursor = page.Cursor
	}
}

// longCheck reports the successes of this day (and the near-midnight ones of the day
// before, rechecked) that the bill did not list.
func (r *reconciler) longCheck(ctx context.Context) error {
	next := r.day.AddDate(0, 0, 1).Format(time.DateOnly)
	end := r.day.AddDate(0, 0, 1)
	err := r.eachMarker(ctx, r.date, func(m store.Record) error {
		if m.Attrs["seen"] != "" {
			return nil
		}
		if m.Attrs["recheck"] != "" {
			r.count(&r.rep.Recheck)
			return nil
		}
		at, _ := time.Parse(time.RFC3339, m.Attrs["at"])
		if !at.IsZero() && end.Sub(at) <= nearMidnight {
			_, err := r.j.st.Update(ctx, m.Key, store.Change{Set: map[string]string{"recheck": next}},
				store.Condition{Attrs: []store.AttrTest{store.AttrIn("seen", ""), store.AttrIn("recheck", "")}})
			if err != nil && !errors.Is(err, store.ErrConditionFailed) {
				return fmt.Errorf("billfetch: note recheck of %s: %w", m.Key, err)
			}
			r.count(&r.rep.Recheck)
			return nil
		}
		return r.missing(ctx, m, "")
	})
	if err != nil {
		return err
	}
	prev := r.day.AddDate(0, 0, -1).Format(time.DateOnly)
	return r.eachMarker(ctx, prev, func(m store.Record) error {
		if m.Attrs["recheck"] != r.date || m.Attrs["seen"] != "" {
			return nil
		}
		return r.missing(ctx, m, "succeeded here near midnight on "+prev+"; absent from that bill and this one")
	})
}

func (r *reconciler) missing(ctx context.Context, m store.Record, note string) error {
	no := m.Attrs["no"]
	d := Discrepancy{Theirs: "absent", Note: note}
	key := payment.OrderKey(r.m.mchid, no)
	if m.Attrs["kind"] == markRefund {
		d.Kind, d.OutRefundNo, key = KindRefundMissingFromBill, no, payment.RefundKey(r.m.mchid, no)
	} else {
		d.Kind, d.OutTradeNo = KindMissingFromBill, no
	}
	rec, err := r.j.st.Get(ctx, key)
	switch {
	case err == nil:
		d.Ours = rec.Attrs[payment.AttrState] + " " + rec.Attrs[payment.AttrAmount] + " fen"
		if d.OutRefundNo != "" {
			d.OutTradeNo = rec.Attrs[payment.AttrOutTradeNo]
		}
	case errors.Is(err, store.ErrNotFound):
		d.Ours = "marked succeeded, record gone"
	default:
		return fmt.Errorf("billfetch: read %s: %w", key, err)
	}
	r.add(d)
	return nil
}
