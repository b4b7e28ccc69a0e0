package eventbridge_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awseb "github.com/aws/aws-sdk-go-v2/service/eventbridge"

	"github.com/paysls/wxpay/shared/events"
	"github.com/paysls/wxpay/shared/events/eventbridge"

	"github.com/paysls/wxpay/internal/testserver"
)

func client(endpoint string) *awseb.Client {
	return awseb.New(awseb.Options{Region: "ap-east-1", BaseEndpoint: aws.String(endpoint),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")})
}

// The sink against moto's EventBridge: accepted on an existing bus, refused (an error,
// so the event stays owed) on a bus that does not exist.
func TestSinkPutsEventsOnMoto(t *testing.T) {
	endpoint := testserver.Moto(t)
	c := client(endpoint)
	ctx := context.Background()
	if _, err := c.CreateEventBus(ctx, &awseb.CreateEventBusInput{Name: aws.String("wxpay-test")}); err != nil {
		t.Fatal(err)
	}
	ev := events.Event{ID: "evt_abc.x", Type: events.OrderPaid, CreatedAt: time.Now(), Data: json.RawMessage(`{"out_trade_no":"ORDER1"}`)}
	body, _ := json.Marshal(ev)
	s := &eventbridge.Sink{Client: c, Bus: "wxpay-test"}
	if err := s.Send(ctx, ev, body); err != nil {
		t.Fatalf("PutEvents on an existing bus: %v", err)
	}
	missing := &eventbridge.Sink{Client: c, Bus: "no-such-bus"}
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
	e := eventbridge.Entry("arn:aws:events:ap-east-1:123456789012:event-bus/pay", ev, []byte(`{"id":"evt_abc.x"}`))
	if aws.ToString(e.Source) != "wxpay" || aws.ToString(e.DetailType) != "refund.succeeded" ||
		aws.ToString(e.Detail) != `{"id":"evt_abc.x"}` || aws.ToString(e.EventBusName) != "arn:aws:events:ap-east-1:123456789012:event-bus/pay" ||
		!e.Time.Equal(created.Truncate(time.Second)) {
		t.Fatalf("entry = %+v", e)
	}
}

// Importing the package registers it as the bundle's event-bus sink.
func TestRegistered(t *testing.T) {
	if events.EventBusSink == nil {
		t.Fatal("events.EventBusSink not set by importing eventbridge")
	}
}
