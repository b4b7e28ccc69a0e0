package metrics

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"
)

func TestEmitIsEMF(t *testing.T) {
	var buf bytes.Buffer
	Emit(context.Background(), slog.New(slog.NewJSONHandler(&buf, nil)), "reconcile", time.UnixMilli(1700000000000), map[string]int{"settled": 3, "errors": 0})
	var line struct {
		AWS struct {
			Timestamp         int64
			CloudWatchMetrics []struct {
				Namespace  string
				Dimensions [][]string
				Metrics    []struct{ Name, Unit string }
			}
		} `json:"_aws"`
		Function string `json:"function"`
		Settled  int    `json:"settled"`
		Errors   *int   `json:"errors"`
	}
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatal(err, buf.String())
	}
	m := line.AWS.CloudWatchMetrics
	if line.AWS.Timestamp != 1700000000000 || len(m) != 1 || m[0].Namespace != "wxpay" || len(m[0].Metrics) != 2 ||
		m[0].Metrics[0].Name != "errors" || line.Function != "reconcile" || line.Settled != 3 || line.Errors == nil {
		t.Fatalf("not EMF: %s", buf.String())
	}
}
