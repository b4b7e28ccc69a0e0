// Package payment is THE LEDGER: the one state machine of orders and refunds, and the
// only writer of their records. A payment result can arrive by notification (v3 or v2),
// by query (reconcile, GET /orders) or by bill; a refund result likewise; a create,
// a close, a refund request or a person resolving a review asks for a transition. All
// of them go through a Ledger, and no other package writes an order, refund or foreign
// record (ownership_test.go enforces it over the code; paymenttest.Guard at run time).
//
// # Records
//
// Records are typed Go structs, decoded from and encoded to store records inside this
// package; attribute names are private to it:
//
//   - Order (order/{owner}/{out_trade_no}) is one attempt of a merchant order: the
//     order's identity (order_id, attempt n, owner, app, amount, scene), its money state
//     (State: WeChat Pay's trade_state), its Payment, every conflicting result kept whole
//     (Conflicts), its refund lines (Refunds), its review (Review: typed causes and
//     resolutions), the create's idempotency claim (Claim, Powertools' contract:
//     INPROGRESS with a lease on the business clock, COMPLETED with the payload hash,
//     the prepay answer and its expiry), and billfetch's note (Bill).
//   - Refund (refund/{owner}/{out_refund_no}) belongs to exactly one order, fixed when
//     it is first recorded — requested through the API, or first seen in a
//     notification, query or bill, by the out_trade_no and transaction_id its result
//     names (never by the URL it is read under).
//   - A payment for a merchant this deployment does not serve is an Order under
//     foreign/{mchid}/{transaction_id}, in REVIEW; a refund result for one, an Order
//     under foreign/{mchid}/{refund_id} (ForeignRefundKey), in REVIEW.
//
// On the store a record is one JSON attribute ("doc") for the typed document, its
// merchant events (evt_…, in package events' encoding), and its schedule
// (sched_index/sched_at, which events.Placement reads). REVIEW is an overlay: the record
// keeps its money state beneath; Status shows REVIEW while a cause is unresolved, and
// ResolveReview (who, note; an order.review_resolved event) shows the money state again
// without editing money.
//
// # Transitions
//
// Every transition has one shape: read the record → decide with a pure function over
// the typed struct (decidePayment, decideRefundResult, decideLine, judgeLines, …) →
// encode → ONE write conditioned on the version read (or put-if-absent for a new
// record), carrying the transition's merchant events and the record's new place in the
// pending index → on a lost race, re-decide on the record the failed write handed back.
// A repeat of something known writes nothing. Store calls, measured by the tests:
//
//   - a notification (payment or duplicate): 1 read + at most 1 write (duplicate: the
//     read only). A refund result: 1 read + 1 write on the refund, 1 read + 1 write on
//     its order, 1 write clearing the refund's debt (a duplicate: 1 read).
//   - a create of a new order (POST /orders): 1 read (no such order), 1 put-if-absent
//     (the attempt with its claim), 1 write (the prepay answer, COMPLETED); a replay:
//     1 read, no write (2 reads once re-priced).
//
// # Judgments
//
// Payments: a transaction matching a pending attempt pays it; anything else — second
// payment, amount/merchant/app mismatch, paid after close or after a close was asked
// for — is kept and puts the attempt in REVIEW with a typed cause. Refunds are judged
// the same way: a result naming another order, another amount, or contradicting a
// final result is kept on the refund (REVIEW), never re-pointed; the settled refunds
// of an order never exceed what it holds (its payment and kept payments) — one that
// would is kept as excess and the order goes to REVIEW. A refund seen before its
// payment is kept on the order (recorded to hold it if need be) and judged when the
// payment arrives: the order becomes REFUND (or REVIEW), never plain SUCCESS.
//
// REVIEW is loud exactly once, from the ledger, whatever path caused it: one ERROR log
// line that is also the PaymentReview metric (EMF), and one order.review event, when a
// cause opens a review; later causes are listed, not announced. Every cause stays
// listed; the first is never overwritten.
//
// # Events
//
// All of an order's merchant events — order.* and the refund.* of its refunds — are
// recorded on the order record, each with the record's next sequence number (and an id
// derived from it), so they are delivered in the order the transitions happened even
// when a virtual clock gives them one timestamp; a failed delivery holds back the
// record's later events. Delivery marks go through MarkEvent (events.Marker): the
// deliverer never writes a record itself.
//
// # Attempts
//
// Re-pricing reserves the new attempt's out_trade_no (CreateOrder, put-if-absent, with
// the create's claim) before attempt 1's pointer moves (PointTo); a failed reservation
// leaves the order as it was, and an order never reads an attempt that is not its own
// (Order verifies order_id and attempt number of every attempt it follows). An attempt
// is placed at WeChat Pay only once the pointer reaches it, and a reservation is never
// removed: a create finding one whose pointer move is not done waits out its claim's
// lease (business clock), then finishes the move itself — so every attempt WeChat Pay
// holds is one the order's pointer reaches (Order and Previous read attempts 1 to the
// pointer). A combine's attempts follow the same rule, its sub-orders with it
// (combine.go: PlaceCombine, PointCombine, PointSubOrders).
//
// # Listings
//
// What a job acts on sits in the store's pending index (one index per record): the
// outbox while an event is owed, else its own schedule — "orders" (a query or close
// due), "refunds" (a query, or a result's effect on its order), "late_refunds" — or a
// passive listing: indexReview for records in REVIEW (Reviews lists it, with the outbox
// and late_refunds entries whose schedule it is, without a scan), and the bill day
// listing (BillDayIndex) for successes waiting for their bill.
//
// # What comes next (issues 18, 19)
//
// The model takes new kinds of records and lines without redesign:
//
//   - A combine order (合单) is a record of its own, combine/{sp_mchid}/{combine_out_trade_no},
//     holding the combine's claim, prepay answer and the list of its sub-orders
//     (out_trade_no, sub_mchid); each sub-order is an Order (owner = its sub_mchid) with
//     a Combine reference, judged like any order. A combine notification is applied per
//     sub-order through ApplyTransaction (one conditional write each; a redelivery is a
//     duplicate per sub-order). Re-pricing a combine reserves the new combine number
//     the way attempts are reserved.
//   - Profit sharing adds share, return and finish lines to an Order beside its refund
//     lines (the same shape: requested, judged, announced on the order in sequence),
//     and subsidies likewise; the bound extends: shares ≤ paid − refunded, refunds
//     first take shares back. A scheduled job finds due shares in the pending index.
//
// Test-only judgment switches (internal/judgment: RefundVsOrder, AttemptReservation,
// CausalEvents) turn one judgment off so the deterministic simulation can show it
// would find the defect; production never flips them.
package payment
