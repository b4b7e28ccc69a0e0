// Package judgment holds the test-only switches of the ledger's judgments. The
// deterministic simulation (internal/dst) turns one off at a time to show that it
// finds the money the judgment protects; production never flips them.
//
// Each switch is ON unless a test turns it off, and the ledger (shared/payment)
// consults it where it judges:
//
//	RefundVsOrder       a refund result is judged against its order (owner fixed at
//	                    first record, settled refunds never above what was paid)
//	AttemptReservation  a re-priced attempt's out_trade_no is reserved before any
//	                    pointer moves
//	CausalEvents        an order's merchant events are delivered in causal order
package judgment

import "sync/atomic"

// The switches; see the package comment.
var RefundVsOrder, AttemptReservation, CausalEvents atomic.Bool

func init() {
	RefundVsOrder.Store(true)
	AttemptReservation.Store(true)
	CausalEvents.Store(true)
}
