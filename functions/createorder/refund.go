package createorder

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/paysls/wxpay/internal/judgment"
	"github.com/paysls/wxpay/shared/apiauth"
	"github.com/paysls/wxpay/shared/orderapi"
	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/wechatpay"
)

func refundView(r *payment.Refund) orderapi.RefundView {
	return orderapi.RefundView{
		OutRefundNo: r.OutRefundNo, OutTradeNo: r.OutTradeNo, OrderID: r.OrderID, State: r.Status(), Amount: r.Amount,
		RefundID: r.RefundID, SuccessTime: r.SuccessTime, ReviewReason: r.Review.Reason(), ReviewCauses: causeViews(r.Review.Pending()),
		WaitingFor: r.Held,
		Advance:    advanceView(r.Advance), // combine.go
	}
}

func (h *Handler) createRefund(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var req orderapi.RefundRequest
	if e := decodeBody(r, &req); e != nil {
		h.writeError(w, r, e)
		return
	}
	if e := checkAmount(req.Amount); e != nil {
		h.writeError(w, r, e)
		return
	}
	amount := int64(req.Amount)
	if req.OutRefundNo == "" {
		no, e := refundNumber(r)
		if e != nil {
			h.writeError(w, r, e)
			return
		}
		req.OutRefundNo = no
	}
	if err := wechatpay.ValidateOutTradeNo("out_refund_no", req.OutRefundNo, 64); err != nil {
		h.writeError(w, r, err)
		return
	}
	if n := utf8.RuneCountInString(req.Reason); n > 80 {
		h.writeError(w, r, badRequest(wechatpay.CodeParamError, "reason is %d characters; WeChat Pay accepts at most 80", n))
		return
	}
	if c, err := h.combineIn(r); err != nil || c != nil { // combine.go
		h.combineRoute(w, r, c, err, h.refundCombine)
		return
	}
	hist, err := h.lookup(ctx, r)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	// The console's Find, given the refund number alone, looks it up under the
	// sub-merchants noted here (holders.go), as it does an order number.
	if err := h.noteHolder(ctx, req.OutRefundNo, hist.Current.Owner); err != nil {
		h.writeError(w, r, err)
		return
	}
	cur := h.freshen(ctx, hist.Current)
	if !cur.Paid() && !cur.InReview() {
		if err := h.paidReplaced(ctx, hist); err != nil {
			h.writeError(w, r, err)
			return
		}
	}
	rf, err := h.refund(ctx, cur, payment.RefundRequest{OutRefundNo: req.OutRefundNo, Amount: amount, Reason: req.Reason})
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	apiauth.WriteJSON(w, http.StatusOK, refundView(rf))
}

// paidReplaced refuses a refund of an order whose current attempt is unpaid while an
// attempt it replaced was paid (kept in REVIEW; GET /orders reads REVIEW): the ledger
// would answer ORDER_NOT_PAID "state NOTPAY", telling the merchant no money came in.
// The kept payment is refunded by its transaction_id in the console once reviewed.
func (h *Handler) paidReplaced(ctx context.Context, hist *payment.History) error {
	if err := h.ledger.Previous(ctx, hist); err != nil {
		return fmt.Errorf("createorder: read the attempts of %s: %w", hist.First.OrderID, err)
	}
	for _, p := range hist.Previous {
		if !p.Paid() && !p.InReview() {
			continue
		}
		tx := ""
		if p.Payment != nil {
			tx = p.Payment.TransactionID
		}
		for _, c := range p.Review.Causes {
			if tx == "" && c.TransactionID != "" {
				tx = c.TransactionID
			}
		}
		return fail(http.StatusConflict, "ORDER_IN_REVIEW",
			fmt.Sprintf("order %s is not paid under its current attempt %s, but its replaced attempt %s was paid (transaction %s) and is kept for review",
				hist.First.OrderID, hist.Current.OutTradeNo, p.OutTradeNo, tx),
			"look at the order (GET /orders/{order_id}: previous, review_causes) and refund that payment by its transaction_id in the console (运营控制台) · 旧支付单已付款，请人工核查后在运营控制台退款")
	}
	return nil
}

// freshen asks WeChat Pay about an order the store holds unsettled, as GET
// /orders/{order_id} does, so that a refund asked for before the payment's
// notification arrived (or after it was lost) is not refused as "not paid" while
// WeChat Pay holds the money. A sub-order is asked through its combine. Any failure
// leaves the order as stored: the ledger then judges it as before.
func (h *Handler) freshen(ctx context.Context, cur *payment.Order) *payment.Order {
	if !cur.Unsettled() || cur.InReview() {
		return cur
	}
	if cur.Combine != nil {
		return h.settleSubOrder(ctx, cur)
	}
	if !cur.Claim.Answer.Any() {
		return cur // never placed at WeChat Pay (a cashier page not opened): nothing to ask
	}
	rec, err := h.settle(ctx, cur)
	if err != nil {
		if !wechatpay.IsCode(err, wechatpay.CodeOrderNotExist) {
			h.log.Warn("refund: query of the unsettled order failed; judging it as stored", "key", cur.Key(), "error", err.Error())
		}
		return cur
	}
	return rec
}

// refund asks for a refund of a paid attempt: the ledger reserves the amount on the
// order (atomically against every other refund) and records the PROCESSING refund,
// then WeChat Pay is asked; an immediate final result is applied at once, a later one
// arrives by notification or reconcile. req.TransactionID names a payment kept on the
// order that is not its own (the console refunds a kept transaction): it is bounded by
// that payment and refunded by its transaction_id.
func (h *Handler) refund(ctx context.Context, order *payment.Order, req payment.RefundRequest) (*payment.Refund, error) {
	outRefundNo := req.OutRefundNo
	if req.TransactionID == "" {
		req.Advance = h.cfg.Bundle.RefundAdvance // WXPAY_REFUND_ADVANCE: the platform advances it (垫付)
	}
	rf, err := h.ledger.RequestRefund(ctx, order, req)
	var unreturnable *payment.SharesNotReturnableError
	if err != nil {
		switch {
		case errors.Is(err, payment.ErrRefundConflict):
			return nil, fail(http.StatusConflict, "OUT_REFUND_NO_USED", message(err),
				"a retry must repeat the request exactly; a new refund needs a new out_refund_no")
		case errors.As(err, &unreturnable):
			// Held, the refund would wait for ever for a share WeChat Pay never returns
			// (shared/payment/sharing_unreturnable.go): refused, naming what can be.
			return nil, fail(http.StatusConflict, "REFUND_NEEDS_PERSONAL_SHARE", message(err),
				fmt.Sprintf("ask for at most %d fen: %d fen of the order were shared where WeChat Pay returns nothing from — a person (PERSONAL_OPENID) — and a refund above it would wait for ever for their return (分账回退只能从商户类型的接收方回退)",
					max(unreturnable.Max, 0), unreturnable.Unreturnable))
		case errors.Is(err, payment.ErrOverRefund):
			return nil, fail(http.StatusConflict, "REFUND_EXCEEDS_REMAINDER", message(err),
				"ask for at most what is left (GET /orders/{order_id} shows the refunds) · 申请退款金额超过订单可退金额")
		case errors.Is(err, payment.ErrInReview):
			return nil, fail(http.StatusConflict, "ORDER_IN_REVIEW", message(err), "look at the order (GET /orders/{order_id}) and settle it by hand")
		case errors.Is(err, payment.ErrNotRefundable):
			return nil, fail(http.StatusConflict, "ORDER_NOT_PAID", message(err), "only a paid order can be refunded · 订单未支付，不能退款")
		case errors.Is(err, payment.ErrInvalid):
			return nil, badRequest(wechatpay.CodeParamError, "%s", message(err))
		}
		return nil, err
	}
	if rf.State != wechatpay.RefundStatusProcessing || rf.Held != "" {
		return rf, nil // settled: the same answer; or held until its order's shares are back
	}
	// The mode's refund API: an e-commerce refund on a platform (shared/platform), asked
	// as reconcile asks it (payment.WeChatRefund): a repeat after reconcile released a
	// held refund must be the same request.
	wreq, subAppID := payment.WeChatRefund(order, rf, h.notifyURL)
	wrf, err := h.api.Refund(ctx, order.Owner, subAppID, wreq, rf.Advance != nil)
	if err != nil {
		var we *wechatpay.APIError
		var ve *wechatpay.ValidationError
		if errors.As(err, &ve) {
			// Refused before it left: the refund never existed; release the reservation
			// by closing it.
			h.closeRefused(ctx, rf)
			return nil, err
		}
		if !errors.As(err, &we) || we.StatusCode >= 500 || we.Retryable() || we.Code == wechatpay.CodeNotEnough {
			return nil, err
		}
		// WeChat Pay refused this request for good. A repeat of a refund it already
		// holds is refused too when it differs from the first request (asked before
		// this deployment asked in one form, or under another notify_url): closing that
		// one would show 0 refunded while WeChat Pay pays it out. Closed only once
		// WeChat Pay says it holds no such refund; held, the refund stands as it is
		// there; unknown, it stays PROCESSING for reconcile, which queries it.
		got, qerr := h.api.QueryRefund(ctx, order.Owner, subAppID, outRefundNo)
		switch {
		case wechatpay.IsCode(qerr, wechatpay.CodeResourceNotExists):
			// A refusal saying WeChat Pay holds no paid order to refund (申请退款
			// RESOURCE_NOT_EXISTS "订单不存在", payment.RefusalDeniesPayment) contradicts
			// the ledger, which holds it paid — once WeChat Pay's order query confirms it
			// (payment.ConfirmRefusal): it is reported to answer so for a moment right
			// after a payment, and the same request to succeed when repeated. Unconfirmed,
			// the refund is neither closed nor reviewed: it stays PROCESSING, the merchant
			// is told to retry it, and reconcile submits it again meanwhile. Confirmed, the
			// order goes to REVIEW first, so that a stop before the close leaves the
			// refund PROCESSING for reconcile, which is refused the same and does both.
			refusal, denies := payment.RefusalDeniesPayment(outRefundNo, err)
			if denies {
				if cerr := h.confirmRefusal(ctx, order, rf); cerr != nil {
					h.log.Warn("refund refused as if the order were not paid, unconfirmed: left PROCESSING, submitted again by reconcile",
						"out_refund_no", outRefundNo, "refusal", err.Error(), "confirmation", cerr.Error())
					return nil, fail(http.StatusServiceUnavailable, "REFUND_RETRY_LATER",
						"WeChat Pay refused the refund as if order "+order.OutTradeNo+" were not paid ("+refusal.Code+" "+refusal.Message+
							"), but does not confirm it (it answers so for a moment right after a payment); the refund is kept PROCESSING and is submitted again",
						"retry the same request (the same out_refund_no) in a minute: it is safe to repeat, the refund is never made twice · 请稍后用相同的退款单号重试")
				}
				if _, perr := h.ledger.PaymentNotHeld(ctx, rf, refusal, source); perr != nil {
					h.log.Error("refused refund left PROCESSING: WeChat Pay holds no payment to refund, not recorded yet; reconcile follows it",
						"out_refund_no", outRefundNo, "error", perr.Error())
					return nil, err
				}
			}
			h.closeRefused(ctx, rf)
			if denies {
				return nil, fail(http.StatusConflict, "ORDER_IN_REVIEW",
					"WeChat Pay refused the refund: it holds no paid order "+order.OutTradeNo+" ("+refusal.Code+" "+refusal.Message+
						") while this deployment holds it paid; the refund is closed and the order is in REVIEW",
					"look at the order (GET /orders/{order_id}) and check its payment in the merchant platform · 微信支付查无该订单的支付，订单已转人工核查")
			}
			return nil, err
		case qerr != nil:
			h.log.Warn("refused refund left PROCESSING: WeChat Pay could not say whether it holds it; reconcile follows it",
				"out_refund_no", outRefundNo, "error", qerr.Error())
			return nil, err
		}
		h.log.Warn("a repeated refund request was refused, but WeChat Pay holds the refund: it stands",
			"out_refund_no", outRefundNo, "refusal", err.Error())
		wrf = got
	}
	if wrf.Status != wechatpay.RefundStatusProcessing {
		if err := h.applyRefund(ctx, rf.Owner, wrf); err != nil {
			return nil, err
		}
	}
	return h.ledger.Refund(ctx, rf.Owner, outRefundNo)
}

// confirmRefusal asks WeChat Pay's order query whether it holds order's payment that
// rf refunds paid, after a refusal that says it does not: nil when the answer confirms
// the refusal (payment.ConfirmRefusal), payment.ErrRefusalUnconfirmed otherwise.
func (h *Handler) confirmRefusal(ctx context.Context, order *payment.Order, rf *payment.Refund) error {
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	state, err := h.api.PaymentState(qctx, order, rf.TransactionID)
	return payment.ConfirmRefusal(state, err)
}

// closeRefused releases the reservation of a refund WeChat Pay never took, by closing it.
func (h *Handler) closeRefused(ctx context.Context, rf *payment.Refund) {
	n := h.notice(rf)
	n.RefundStatus = wechatpay.RefundStatusClosed
	if _, err := h.ledger.ApplyRefund(ctx, n, source); err != nil {
		h.log.Error("refused refund not released; reconcile will", "out_refund_no", rf.OutRefundNo, "error", err.Error())
	}
}

// message is an error's text for a merchant: without the package's prefix.
func message(err error) string {
	// "payment: invalid result: the shares sum to …" is the ledger's wording of
	// ErrInvalid; a merchant reads only what is wrong.
	return strings.TrimPrefix(strings.TrimPrefix(err.Error(), "payment: "), "invalid result: ")
}

// notice is the refund as the ledger recorded it, in the shape of a result.
func (h *Handler) notice(rf *payment.Refund) *wechatpay.RefundNotice {
	n := &wechatpay.RefundNotice{OutTradeNo: rf.OutTradeNo, TransactionID: rf.TransactionID, OutRefundNo: rf.OutRefundNo,
		Amount: wechatpay.RefundAmount{Refund: rf.Amount, Total: rf.Total, Currency: "CNY"}}
	h.owned(n, rf.Owner)
	return n
}

func (h *Handler) owned(n *wechatpay.RefundNotice, owner string) {
	if h.partner {
		n.SpMchID, n.SubMchID = h.cfg.MchID, owner
	} else {
		n.MchID = owner
	}
}

// applyRefund applies a final refund result from a create or query answer: what WeChat
// Pay says (its out_trade_no, its transaction), judged by the ledger against the order
// the refund belongs to — never the order it was read under.
func (h *Handler) applyRefund(ctx context.Context, owner string, rf *wechatpay.Refund) error {
	n := &wechatpay.RefundNotice{OutTradeNo: rf.OutTradeNo, TransactionID: rf.TransactionID, OutRefundNo: rf.OutRefundNo,
		RefundID: rf.RefundID, RefundStatus: rf.Status, SuccessTime: rf.SuccessTime, UserReceivedAccount: rf.UserReceivedAccount, Amount: rf.Amount}
	h.owned(n, owner)
	_, err := h.ledger.ApplyRefund(ctx, n, "refund_api")
	return err
}

// belongs reports whether refund rf is one of order hist's: recorded for it, or for one
// of the attempts it holds (read under another order it does not exist).
func belongs(hist *payment.History, rf *payment.Refund) bool {
	orderID := hist.First.OrderID
	if !judgment.RefundVsOrder.On() {
		return rf.OrderID == "" || rf.OrderID == orderID
	}
	if rf.OrderID != "" {
		return rf.OrderID == orderID
	}
	return rf.OutTradeNo == hist.Current.OutTradeNo || rf.OutTradeNo == hist.First.OutTradeNo
}

func (h *Handler) getRefund(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	hist, err := h.lookup(ctx, r)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	no := r.PathValue("out_refund_no")
	if !refundNoShape(no) {
		h.writeError(w, r, badRequest(wechatpay.CodeParamError, "out_refund_no %s is not a refund number: 1 to 64 digits, letters and _-*|", apiauth.Echo(no)))
		return
	}
	owner := hist.Current.Owner
	rf, err := h.ledger.Refund(ctx, owner, no)
	if errors.Is(err, payment.ErrNotFound) || err == nil && !belongs(hist, rf) {
		h.writeError(w, r, fail(http.StatusNotFound, "REFUND_NOT_FOUND", "order "+hist.First.OrderID+" has no refund "+no, ""))
		return
	}
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	if rf.State == wechatpay.RefundStatusProcessing && rf.Held == "" && !rf.InReview() && !h.recentlyChecked(rf.Key()) {
		qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		wrf, qerr := h.api.QueryRefund(qctx, owner, hist.Current.Create.SubAppID, no)
		cancel()
		switch {
		case qerr != nil:
			h.log.Warn("refund status: query failed; answering from the store", "key", rf.Key(), "error", qerr.Error())
		case wrf.Status != wechatpay.RefundStatusProcessing:
			if !judgment.RefundVsOrder.On() {
				// The defect the judgment prevents: the answer applied to the order in the URL.
				wrf.OutTradeNo, wrf.TransactionID = hist.Current.OutTradeNo, ""
			}
			if err := h.applyRefund(ctx, owner, wrf); err != nil {
				h.log.Warn("refund status: result not applied", "key", rf.Key(), "error", err.Error())
			} else if fresh, err := h.ledger.Refund(ctx, owner, no); err == nil {
				rf = fresh
			}
		}
	}
	apiauth.WriteJSON(w, http.StatusOK, refundView(rf))
}

// refundNoShape tells whether s could be an out_refund_no: WeChat Pay's 1 to 64
// characters of digits, letters and _-*|. Looser than a create's rule (at least 6): a
// refund made outside the bundle — by hand in the merchant platform — is read too.
func refundNoShape(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '-' || c == '*' || c == '|') {
			return false
		}
	}
	return true
}

// maxIdempotencyKey bounds the Idempotency-Key header (Stripe allows 255 characters).
const maxIdempotencyKey = 255

// refundNumber is the out_refund_no of a refund asked for without one. out_refund_no
// is what makes a refund safe to repeat (WeChat Pay refunds one number once), so a
// number the API made up would make a retried POST a second refund. With an
// Idempotency-Key header the number is derived from the key, the order and the
// sub-merchant: the same request repeated names the same refund. Without either, the
// number is random and each POST is a new refund (the README says so).
func refundNumber(r *http.Request) (string, error) {
	keys := r.Header.Values("Idempotency-Key")
	if len(keys) == 0 {
		return "RF" + rand.Text(), nil // 28 characters of A-Z2-7
	}
	key := keys[0]
	ok := len(keys) == 1 && key != "" && len(key) <= maxIdempotencyKey
	for i := 0; ok && i < len(key); i++ {
		ok = key[i] > ' ' && key[i] <= '~' // printable ASCII, no space
	}
	if !ok {
		return "", fail(http.StatusBadRequest, wechatpay.CodeParamError, "Idempotency-Key must be one header of 1–255 printable ASCII characters",
			"send one key per refund, e.g. a UUID, and the same key when you retry it; or send out_refund_no in the body")
	}
	sum := sha256.Sum256([]byte(r.PathValue("order_id") + "\x00" + r.URL.Query().Get("sub_mchid") + "\x00" + key))
	// "RK" + 26 characters of A-Z2-7 (128 bits): within out_refund_no's 64 and its charset.
	return "RK" + base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:16]), nil
}
