// Package metrics emits counters as CloudWatch Embedded Metric Format (EMF) log lines:
// on Lambda, CloudWatch turns them into metrics with no API call and no agent; anywhere
// else they are plain JSON log lines with the same numbers.
//
// Format: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
package metrics

import (
	"context"
	"log/slog"
	"slices"
	"time"
)

// namespace is the CloudWatch namespace of every wxpay metric.
const namespace = "wxpay"

// Emit logs one EMF record: counts under the dimension function=fn. Zero counts are
// emitted too (a flat line is information). Keys are sorted for stable output.
func Emit(ctx context.Context, log *slog.Logger, fn string, now time.Time, counts map[string]int) {
	names := make([]string, 0, len(counts))
	for k := range counts {
		names = append(names, k)
	}
	slices.Sort(names)
	defs := make([]map[string]string, 0, len(names))
	attrs := []any{
		"_aws", map[string]any{
			"Timestamp": now.UnixMilli(),
			"CloudWatchMetrics": []map[string]any{{
				"Namespace":  namespace,
				"Dimensions": [][]string{{"function"}},
				"Metrics":    &defs,
			}},
		},
		"function", fn,
	}
	for _, n := range names {
		defs = append(defs, map[string]string{"Name": n, "Unit": "Count"})
		attrs = append(attrs, n, counts[n])
	}
	log.InfoContext(ctx, "metrics", attrs...)
}

// Count returns the log attributes that make one log line also the EMF record of one
// count metric (no dimension): the line a person reads is the metric CloudWatch
// counts, so the two can never disagree or be emitted twice.
func Count(now time.Time, name string) []any {
	return []any{
		"_aws", map[string]any{
			"Timestamp": now.UnixMilli(),
			"CloudWatchMetrics": []map[string]any{{
				"Namespace":  namespace,
				"Dimensions": [][]string{{}},
				"Metrics":    []map[string]string{{"Name": name, "Unit": "Count"}},
			}},
		},
		name, 1,
	}
}
