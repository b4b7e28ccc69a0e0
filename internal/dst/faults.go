package dst

import (
	"errors"
	"sync"
)

// Fault is one fault of a step, injected at the At-th call (1-based) of its kind in
// that step, whichever thread makes it:
//
//	on "write" (store Put/Update/Delete): crash-before, crash-after (the process dies
//	    with the write not done / done; in-flight work is abandoned, the store closed
//	    and reopened), unavailable (refused, not done), timeout (done, answer lost)
//	on "read" (store Get/ListPending): unavailable
//	on "wechatpay" (a call to WeChat Pay): 5xx (SYSTEM_ERROR, not done), lost (done,
//	    the answer never arrives)
//	on "webhook" (a delivery to the merchant): down (the merchant answers 503)
//	on "subsidy" (every call to WeChat Pay's subsidy API in the step, At not counted):
//	    lost — done, the answer never arrives, the client's retries' neither (a
//	    subsidy asked, its result unknown here: sharing.go)
//	on "share-answer" (every answer about a split in the step — its create's and its
//	    queries' — At not counted): lie —
//	    WeChat Pay answers 1 fen more to the first receiver than it holds, signed
//	    (forge.go: the ledger must keep it for review, not pass it over)
//	on "refund" (a refund request to WeChat Pay, either refund API): refused —
//	    answered 404 RESOURCE_NOT_EXISTS "订单不存在", not done, although WeChat Pay
//	    holds the order paid: the transient refusal reported right after a payment.
//	    The order must not be reviewed for it (payment_not_held, check.go): WeChat
//	    Pay's order query says it is paid
type Fault struct {
	On   string `json:"on"`
	At   int    `json:"at"`
	Kind string `json:"kind"`
}

// Fault kinds.
const (
	onWrite       = "write"
	onRead        = "read"
	onWeChatPay   = "wechatpay"
	onWebhook     = "webhook"
	onSubsidy     = "subsidy"
	onShareAnswer = "share-answer"
	shareLie      = "lie"
	onRefund      = "refund"
	refundRefused = "refused"

	crashBefore = "crash-before"
	crashAfter  = "crash-after"
	unavailable = "unavailable"
	timeout     = "timeout"
	fault5xx    = "5xx"
	lostAnswer  = "lost"
	webhookDown = "down"
)

// errCrashed is what every call of a crashed incarnation gets.
var errCrashed = errors.New("dst: the process crashed")

// faultPlan counts the calls of the running step and says which one fails.
type faultPlan struct {
	mu     sync.Mutex
	faults []Fault
	counts map[string]int
	fired  int
}

func (p *faultPlan) reset(faults []Fault) {
	p.mu.Lock()
	p.faults, p.counts, p.fired = faults, map[string]int{}, 0
	p.mu.Unlock()
}

// next counts a call of kind on and returns the fault to inject ("" for none).
func (p *faultPlan) next(on string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.counts == nil {
		return ""
	}
	p.counts[on]++
	for _, f := range p.faults {
		if f.On == on && f.At == p.counts[on] {
			p.fired++
			return f.Kind
		}
	}
	return ""
}

// every returns the kind of a fault on every call of kind on in the step ("" for none).
func (p *faultPlan) every(on string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, f := range p.faults {
		if f.On == on {
			p.fired++
			return f.Kind
		}
	}
	return ""
}
