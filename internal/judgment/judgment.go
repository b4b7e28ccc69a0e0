// Package judgment holds the test-only switches of the ledger's judgments. Each switch
// is ON in production and is never flipped there; the deterministic simulation test
// (internal/dst) turns one off at a time to show that its invariants catch the defect
// class the judgment prevents — a simulation that cannot fail proves nothing.
//
// The package lives under internal/ so that no code outside this module can reach it.
package judgment

import "sync/atomic"

// Switch is one judgment, on unless a test turned it off.
type Switch struct {
	name string
	off  atomic.Bool
}

// On reports whether the judgment is made.
func (s *Switch) On() bool { return !s.off.Load() }

// Name is the switch's name, for test output.
func (s *Switch) Name() string { return s.name }

// Set turns the judgment on or off and returns a function restoring what it was
// (for t.Cleanup).
func (s *Switch) Set(on bool) (restore func()) {
	was := s.off.Swap(!on)
	return func() { s.off.Store(was) }
}

var (
	// RefundVsOrder: a refund belongs to the order it was first recorded for (never
	// re-pointed by a later result or by the URL it is read under), and the settled
	// refunds of an order never exceed what it was paid (else REVIEW with all kept).
	RefundVsOrder = &Switch{name: "refund-vs-order"}
	// AttemptReservation: re-pricing reserves the new attempt's out_trade_no
	// (put-if-absent) before the order's pointer moves, and reading an order verifies
	// that every attempt it follows belongs to it.
	AttemptReservation = &Switch{name: "attempt-reservation"}
	// CausalEvents: an order's merchant events carry a per-record sequence and are
	// delivered in it (a failed one holds back the later ones); refund results seen
	// before the payment are announced after order.paid.
	CausalEvents = &Switch{name: "causal-events"}
	// EventClaim: a deliverer claims an event (a version-conditioned write giving it a
	// lease) before it sends it, so deliverers racing on one record — notify's attempt,
	// reconcile delivering what its own pass recorded, an outbox timer — never both
	// send the same event.
	EventClaim = &Switch{name: "event-claim"}
)

// All lists every switch.
func All() []*Switch { return []*Switch{RefundVsOrder, AttemptReservation, CausalEvents, EventClaim} }
