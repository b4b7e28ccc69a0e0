package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/paysls/wxpay/shared/events"
	"github.com/paysls/wxpay/shared/payclient"
	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/store"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// Refund follow-up schedule: bank refunds take up to 7 working days (seed 000), so a
// PROCESSING refund is queried hourly for a day, then daily; after StuckAfter it is
// reported on every run (ERROR log, refunds_stuck) while still being followed daily.
const (
	StuckAfter = 8 * 24 * time.Hour
)

func nextRefundCheck(created, now time.Time) time.Time {
	if now.Sub(created) < 24*time.Hour {
		return now.Add(time.Hour)
	}
	return now.Add(24 * time.Hour)
}

// refund follows one due refund: its effect on the order first (owed after a crash),
// then its result while PROCESSING.
func (j *Job) refund(ctx context.Context, rec store.Record, now time.Time, c *counters, lim *limiter) {
	c.examined.Add(1)
	log := j.log.With("key", rec.Key)
	if rec.Attrs[payment.AttrOrderSync] != "" {
		var err error
		if rec, err = j.ledger.SyncRefund(ctx, rec); err != nil {
			c.errors.Add(1)
			log.Error("reconcile: apply refund to its order", "error", err.Error())
			return
		}
	}
	if rec.Attrs[payment.AttrState] != wechatpay.RefundStatusProcessing {
		if rec.Attrs[events.AttrSchedIndex] != payment.PendingRefunds {
			return // final, and placed by its own transition (its bill day)
		}
		if _, err := j.ledger.Reschedule(ctx, rec, "", time.Time{}, time.Time{}); err != nil {
			c.errors.Add(1)
			log.Error("reconcile: unschedule a final refund", "error", err.Error())
		}
		return
	}
	no := rec.Attrs[payment.AttrOutRefundNo]
	client := payclient.ForOwner(j.client, rec.Attrs[payment.AttrMchID])
	if err := lim.wait(ctx); err != nil {
		return
	}
	r, err := client.QueryRefund(ctx, no)
	if wechatpay.IsCode(err, wechatpay.CodeResourceNotExists) {
		// Recorded but never submitted (the creator stopped between its write and the
		// call): submit it now; out_refund_no makes the call idempotent at WeChat Pay.
		r, err = j.submitRefund(ctx, client, rec)
	}
	if err != nil {
		j.failed(ctx, rec, now, err, c, lim, log)
		return
	}
	lim.ok()
	if r.Status == wechatpay.RefundStatusProcessing {
		created := payment.ParseStamp(rec.Attrs[payment.AttrCreatedAt])
		if !created.IsZero() && now.Sub(created) >= StuckAfter {
			c.stuck.Add(1)
			log.Error("refund still PROCESSING after 8 days: check it in the merchant platform (退款处理中超过8天，请登录商户平台核查)", "out_refund_no", no, "metric", "refund_stuck")
		}
		c.pending.Add(1)
		if _, err := j.ledger.Reschedule(ctx, rec, payment.PendingRefunds, nextRefundCheck(created, now), now); err != nil {
			c.errors.Add(1)
			log.Error("reconcile: reschedule refund", "error", err.Error())
		}
		return
	}
	res, err := j.ledger.ApplyRefund(ctx, noticeFrom(r, rec), "reconcile")
	if err != nil {
		c.errors.Add(1)
		log.Error("reconcile: apply refund result", "error", err.Error())
		return
	}
	if res.Outcome == payment.Applied || res.Outcome == payment.Review {
		c.refundsSettled.Add(1)
	}
}

// noticeFrom turns a refund query answer into the notification shape the ledger takes.
func noticeFrom(r *wechatpay.Refund, rec store.Record) *wechatpay.RefundNotice {
	n := &wechatpay.RefundNotice{OutTradeNo: r.OutTradeNo, TransactionID: r.TransactionID, OutRefundNo: r.OutRefundNo,
		RefundID: r.RefundID, RefundStatus: r.Status, SuccessTime: r.SuccessTime, UserReceivedAccount: r.UserReceivedAccount, Amount: r.Amount}
	// The owner as recorded: mchid in direct mode, the sub-merchant in partner mode.
	n.MchID = rec.Attrs[payment.AttrMchID]
	return n
}

// submitRefund (re)submits a recorded refund, reading the order for its total.
func (j *Job) submitRefund(ctx context.Context, client *wechatpay.Client, rec store.Record) (*wechatpay.Refund, error) {
	total := payment.Fen(rec, "total")
	if total == 0 {
		order, err := j.st.Get(ctx, payment.OrderKey(rec.Attrs[payment.AttrMchID], rec.Attrs[payment.AttrOutTradeNo]))
		if err != nil {
			return nil, err
		}
		total = payment.Fen(order, payment.AttrAmount)
	}
	req := wechatpay.RefundRequest{OutRefundNo: rec.Attrs[payment.AttrOutRefundNo], Reason: rec.Attrs["reason"], NotifyURL: j.opts.NotifyURL,
		Amount: wechatpay.RefundAmount{Refund: payment.Fen(rec, payment.AttrAmount), Total: total, Currency: "CNY"}}
	if txid := rec.Attrs[payment.AttrTransactionID]; txid != "" {
		req.TransactionID = txid
	} else {
		req.OutTradeNo = rec.Attrs[payment.AttrOutTradeNo]
	}
	return client.CreateRefund(ctx, req)
}

// lateRefund refunds every payment that arrived for an order after it was closed, when
// the deployment asks for it; the order stays in REVIEW for a person to see.
func (j *Job) lateRefund(ctx context.Context, rec store.Record, now time.Time, c *counters, lim *limiter) {
	c.examined.Add(1)
	log := j.log.With("key", rec.Key)
	if j.refundAll && rec.Attrs[payment.AttrPrevState] == wechatpay.TradeStateClosed {
		for _, raw := range payment.Conflicts(rec) {
			var cx struct {
				TransactionID string `json:"transaction_id"`
				Amount        int64  `json:"amount"`
			}
			if json.Unmarshal(raw, &cx) != nil || cx.TransactionID == "" {
				continue
			}
			if err := j.refundLate(ctx, rec, cx.TransactionID, cx.Amount, lim); err != nil {
				if ctx.Err() == nil {
					j.failed(ctx, rec, now, err, c, lim, log)
				}
				return
			}
			c.late.Add(1)
			log.Warn("reconcile refunded a payment made after the order closed", "transaction_id", cx.TransactionID, "amount", cx.Amount)
		}
	}
	if _, err := j.ledger.Reschedule(ctx, rec, "", time.Time{}, time.Time{}); err != nil {
		c.errors.Add(1)
		log.Error("reconcile: unschedule late refunds", "error", err.Error())
	}
}

// LateRefundNo is the out_refund_no of the automatic refund of a late payment: derived
// from the transaction, so repeating it can never refund twice.
func LateRefundNo(transactionID string) string { return "LATE" + transactionID }

func (j *Job) refundLate(ctx context.Context, order store.Record, txid string, amount int64, lim *limiter) error {
	owner := order.Attrs[payment.AttrMchID]
	no := LateRefundNo(txid)
	// Recorded first, so the refund is followed (queried, applied) like any other; an
	// earlier run's record is fine: submitting again is idempotent at WeChat Pay.
	_, err := j.ledger.RecordRefundRequest(ctx, payment.RefundRequest{MchID: owner, OutRefundNo: no, OutTradeNo: outTradeNo(order), Amount: amount, Reason: "payment after the order closed", TransactionID: txid})
	if err != nil && !errors.Is(err, store.ErrConditionFailed) {
		return err
	}
	if err := lim.wait(ctx); err != nil {
		return err
	}
	client := payclient.ForOwner(j.client, owner)
	_, err = client.CreateRefund(ctx, wechatpay.RefundRequest{TransactionID: txid, OutRefundNo: no, Reason: "订单已关闭后支付，自动退款 (paid after close)",
		NotifyURL: j.opts.NotifyURL, Amount: wechatpay.RefundAmount{Refund: amount, Total: amount, Currency: "CNY"}})
	if err != nil {
		return err
	}
	lim.ok()
	return nil
}
