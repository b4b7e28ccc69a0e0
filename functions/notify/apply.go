package notify

import (
	"context"
	"log/slog"
	"time"

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
}

// ignored is the outcome of a notice with nothing to apply.
const ignored payment.Outcome = "ignored"

// apply is notify's one call into the ledger: a payment or refund result, from either
// format, goes through the same transition as a query or a bill would.
func apply(ctx context.Context, l *payment.Ledger, n notice) (applied, error) {
	var res payment.Result
	var err error
	switch {
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
	return applied{outcome: res.Outcome, key: res.Record.Key, state: res.Record.Attrs[payment.AttrState], reason: res.Reason,
		recorded: res.Event != nil, record: res.Record}, nil
}

// logOutcome logs what a notification did. A REVIEW is an error a person must act on:
// ERROR level, its reason, and a metric — the field metric=payment_review for any log
// pipeline, and a CloudWatch embedded-metric-format block (_aws) that Lambda's log
// group turns into the metric wxpay/PaymentReview without any API call.
func logOutcome(ctx context.Context, log *slog.Logger, res applied) {
	attrs := []any{"key", res.key, "outcome", string(res.outcome), "state", res.state}
	switch res.outcome {
	case payment.Review:
		log.ErrorContext(ctx, "payment put in REVIEW: a person must resolve it (see README, REVIEW)",
			append(attrs, "reason", res.reason, "metric", "payment_review", "PaymentReview", 1, slog.Any("_aws", emfReview(time.Now())))...)
	case payment.Refused:
		log.WarnContext(ctx, "notification acknowledged but not applied", append(attrs, "reason", res.reason)...)
	case payment.Duplicate:
		log.InfoContext(ctx, "notification already recorded (duplicate)", attrs...)
	default:
		log.InfoContext(ctx, "notification applied", attrs...)
	}
}

// emfReview is the CloudWatch embedded metric format declaration of PaymentReview.
func emfReview(now time.Time) map[string]any {
	return map[string]any{
		"Timestamp": now.UnixMilli(),
		"CloudWatchMetrics": []map[string]any{{
			"Namespace":  "wxpay",
			"Dimensions": [][]string{{}},
			"Metrics":    []map[string]string{{"Name": "PaymentReview", "Unit": "Count"}},
		}},
	}
}
