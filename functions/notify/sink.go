package notify

import "github.com/paysls/wxpay/shared/events"

// Option adjusts New.
type Option func(*options)

type options struct {
	sink    events.Sink
	sinkSet bool
}

// WithSink delivers merchant events to sink (nil: record them and deliver none)
// instead of the signed webhook the settings name. A function's main passes the
// sink shared/host built from the sink drivers its build contains (EventBridge on
// AWS); without the option New knows the webhook only.
func WithSink(sink events.Sink) Option {
	return func(o *options) { o.sink, o.sinkSet = sink, true }
}
