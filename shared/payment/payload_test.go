package payment

import (
	"encoding/json"
	"testing"

	"github.com/paysls/wxpay/shared/events"
	"github.com/paysls/wxpay/shared/store"
)

// An event recorded on a record from before the typed ledger, without the order_id the
// record knows, is sent and shown with it — the bytes the deliverer sent before the
// ledger took the job over from package events. Everything else goes out as recorded.
func TestEventPayloadFillsALegacyRecordsOrderID(t *testing.T) {
	l, _ := newLedger(t)
	legacy := store.Record{Key: "order/" + mch + "/LEGACY0002", Attrs: map[string]string{"order_id": "ORDER-9", "state": "SUCCESS"}}
	typed := store.Record{Key: "order/" + mch + "/TYPED00002", Attrs: map[string]string{"doc": "{}"}}
	ev := func(data string) events.Event {
		return events.Event{ID: "evt_x.y", Type: events.OrderPaid, Data: json.RawMessage(data)}
	}
	for _, c := range []struct {
		name string
		rec  store.Record
		data string
		want string
	}{
		{"legacy, recorded without order_id", legacy, `{"out_trade_no":"X","amount":1}`, `{"amount":1,"order_id":"ORDER-9","out_trade_no":"X"}`},
		{"legacy, recorded with an empty order_id", legacy, `{"order_id":"","out_trade_no":"X"}`, `{"order_id":"ORDER-9","out_trade_no":"X"}`},
		{"legacy, recorded with its order_id", legacy, `{"out_trade_no":"X","order_id":"A"}`, `{"out_trade_no":"X","order_id":"A"}`},
		{"typed record", typed, `{"out_trade_no":"X"}`, `{"out_trade_no":"X"}`},
		{"not an object", legacy, `[1]`, `[1]`},
	} {
		if got := l.EventPayload(c.rec, ev(c.data)); string(got.Data) != c.want || got.ID != "evt_x.y" {
			t.Errorf("%s: %s, want %s", c.name, got.Data, c.want)
		}
	}
}
