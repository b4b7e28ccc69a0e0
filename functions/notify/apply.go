package notify

import (
	"context"
	"log/slog"

	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/store"
)

// applied is what the ledger did with a notice, as the rest of the pipeline needs it.
type applied struct {
	outcome            payment.Outcome
	key, state, reason string
	// recorded: the transition recorded a merchant event on record, to deliver now.
	recorded bool
	record   store.Record
	// more are further records with events to deliver (a combine's sub-orders).
	more []store.Record
}

// ignored is the outcome of a notice with nothing to apply.
const ignored payment.Outcome = "ignored"

// apply is notify's one call into the ledger: a payment or refund result, from either
// format, goes through the same transition as a query or a bill would.
func apply(ctx context.Context, l *payment.Ledger, n notice) (applied, error) {
	var res payment.Result
	var err error
	switch {
	case n.combine != nil:
		return applyCombine(ctx, l, n) // combine.go
	case n.sharing != nil:
		res, err = l.ApplyShareNotice(ctx, n.sharing, n.source) // shared/payment/sharing_steps.go
	case n.refund != nil:
		res, err = l.ApplyRefund(ctx, n.refund, n.source)
	case n.tx != nil:
		res, err = l.ApplyTransaction(ctx, n.tx, n.source)
	default:
		return applied{outcome: ignored}, nil
	}
	if err != nil {
		return applied{}, err
	}
	return applied{outcome: res.Outcome, key: res.Record.Key, state: stateOf(res), reason: res.Reason,
		recorded: res.Event != nil, record: res.Record}, nil
}

// stateOf is the state a ledger call left, for the log line.
func stateOf(r payment.Result) string {
	switch {
	case r.Refund != nil:
		return r.Refund.Status()
	case r.Order != nil:
		return r.Order.Status()
	}
	return ""
}

// logOutcome logs what a notification did. A REVIEW is made loud by the ledger itself
// (one ERROR line that is also the PaymentReview metric, whatever path caused it);
// here it is one more notification applied.
func logOutcome(ctx context.Context, log *slog.Logger, res applied) {
	attrs := []any{"key", res.key, "outcome", string(res.outcome), "state", res.state}
	switch res.outcome {
	case payment.Review:
		log.InfoContext(ctx, "notification applied; the record is in REVIEW", append(attrs, "reason", res.reason)...)
	case payment.Refused:
		log.WarnContext(ctx, "notification acknowledged but not applied", append(attrs, "reason", res.reason)...)
	case payment.Duplicate:
		log.InfoContext(ctx, "notification already recorded (duplicate)", attrs...)
	default:
		log.InfoContext(ctx, "notification applied", attrs...)
	}
}
