package eventbridge

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awseb "github.com/aws/aws-sdk-go-v2/service/eventbridge"

	"github.com/paysls/wxpay/internal/testserver"
	"github.com/paysls/wxpay/shared/awsconf"
	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/events"
)

// The hand-signed PutEvents against moto's EventBridge: accepted on an existing bus,
// refused (an error, so the event stays owed) on a bus that does not exist.
func TestSinkPutsEventsOnMoto(t *testing.T) {
	endpoint := testserver.Moto(t)
	cfg := aws.Config{Region: "ap-east-1", Credentials: awsconf.StaticCredentials("test", "test", "")}
	ctx := context.Background()
	// The SDK client only sets the scene up.
	c := awseb.NewFromConfig(cfg, func(o *awseb.Options) { o.BaseEndpoint = aws.String(endpoint) })
	if _, err := c.CreateEventBus(ctx, &awseb.CreateEventBusInput{Name: aws.String("wxpay-test")}); err != nil {
		t.Fatal(err)
	}
	ev := events.Event{ID: "evt_abc.x", Type: events.OrderPaid, CreatedAt: time.Now(), Data: json.RawMessage(`{"out_trade_no":"ORDER1"}`)}
	body, _ := json.Marshal(ev)
	s := &bus{AWS: cfg, Name: "wxpay-test", Endpoint: endpoint}
	if err := s.Send(ctx, ev, body); err != nil {
		t.Fatalf("PutEvents on an existing bus: %v", err)
	}
	missing := &bus{AWS: cfg, Name: "no-such-bus", Endpoint: endpoint}
	if err := missing.Send(ctx, ev, body); err == nil {
		t.Fatal("an event for a bus that does not exist was taken as delivered")
	} else {
		t.Logf("refused as expected: %v", err)
	}
}

// The request shape rules and targets match on.
func TestEntryShape(t *testing.T) {
	created := time.Date(2026, 11, 26, 10, 0, 0, 123, time.UTC)
	ev := events.Event{ID: "evt_abc.x", Type: events.RefundSucceeded, CreatedAt: created}
	b, err := json.Marshal(newEntry("arn:aws:events:ap-east-1:123456789012:event-bus/pay", ev, []byte(`{"id":"evt_abc.x"}`)))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"EventBusName":"arn:aws:events:ap-east-1:123456789012:event-bus/pay","Source":"wxpay","DetailType":"refund.succeeded","Detail":"{\"id\":\"evt_abc.x\"}","Resources":[],"Time":1795687200}`
	if string(b) != want {
		t.Fatalf("entry\n got %s\nwant %s", b, want)
	}
}

// The driver answers WXPAY_EVENT_BUS and builds the bus from the bundle setting
// without contacting AWS.
func TestDriver(t *testing.T) {
	t.Setenv("AWS_REGION", "ap-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	d := Sink(awsconf.FromEnv)
	if d.Setting != config.EnvEventBus {
		t.Fatalf("setting %q", d.Setting)
	}
	s, err := events.SinkFromConfig(context.Background(), config.Bundle{EventBus: "pay"}, nil, events.WebhookSink, d)
	if b, ok := s.(*bus); err != nil || !ok || b.Name != "pay" || b.AWS.Region != "ap-east-1" {
		t.Fatalf("sink %#v, %v", s, err)
	}
}
