package payment

import (
	"cmp"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/paysls/wxpay/shared/events"
	"github.com/paysls/wxpay/shared/store"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// EventPayload is ev as a merchant receives it from rec (events.Marker). A typed
// record's events carry the order's order_id from the start. An event on a record
// written before the ledger was typed may not: that code recorded a notification's
// transition without reading the record, so the order_id comes from the record's flat
// order_id attribute when the event is sent or shown, exactly as it did then.
func (l *Ledger) EventPayload(rec store.Record, ev events.Event) events.Event {
	oid := rec.Attrs["order_id"]
	if oid == "" || len(ev.Data) == 0 || ev.Data[0] != '{' {
		return ev
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(ev.Data, &m) != nil {
		return ev
	}
	if v, ok := m["order_id"]; ok && string(v) != `""` {
		return ev
	}
	m["order_id"], _ = json.Marshal(oid)
	if b, err := json.Marshal(m); err == nil {
		ev.Data = b
	}
	return ev
}

// decodeLegacy reads a record written before the ledger was typed (flat attributes:
// state, amount, transaction_id, cx_… conflicts, createorder's co_… attributes), so a
// deployment's existing orders keep working; the first typed write replaces them.
func decodeLegacy(rec store.Record, d any) {
	a := rec.Attrs
	fen := func(name string) int64 { n, _ := strconv.ParseInt(a[name], 10, 64); return n }
	at := func(name string) time.Time { t, _ := time.Parse(time.RFC3339Nano, a[name]); return t }
	owner, no := splitKey(rec.Key)
	if v := a["mchid"]; v != "" {
		owner = v
	}
	state, reason, prev := a["state"], a["review_reason"], a["review_prev_state"]
	var review reviewLog
	if state == StateReview {
		state = prev
		review.Causes = []Cause{{Kind: legacyKind(reason), Detail: reason, At: at("updated_at")}}
	}
	var conflicts []Conflict
	for k, v := range a {
		if !strings.HasPrefix(k, "cx_") {
			continue
		}
		var c struct {
			TransactionID string          `json:"transaction_id"`
			OutRefundNo   string          `json:"out_refund_no"`
			Amount        int64           `json:"amount"`
			SuccessTime   string          `json:"success_time"`
			Status        string          `json:"status"`
			Source        string          `json:"source"`
			ReceivedAt    time.Time       `json:"received_at"`
			Reason        string          `json:"reason"`
			Data          json.RawMessage `json:"data"`
		}
		if json.Unmarshal([]byte(v), &c) == nil {
			conflicts = append(conflicts, Conflict{Cause: legacyKind(c.Reason), TransactionID: c.TransactionID, OutRefundNo: c.OutRefundNo,
				Amount: c.Amount, Status: c.Status, SuccessTime: c.SuccessTime, Source: c.Source, ReceivedAt: c.ReceivedAt, Data: c.Data})
		}
	}
	switch x := d.(type) {
	case *Order:
		*x = Order{Owner: owner, OutTradeNo: cmp.Or(a["out_trade_no"], no), OrderID: a["order_id"], AppID: a["appid"], Amount: fen("amount"),
			Scene: a["scene"], State: state, Unknown: a["unknown_order"] != "", CreatedAt: at("created_at"), ExpiresAt: at("time_expire"),
			Conflicts: conflicts, Review: review, Source: a["source"], UpdatedAt: at("updated_at"), CheckedAt: at("checked_at"),
			Create: CreateInfo{Description: a["co_description"], Attach: a["co_attach"], SignAppID: a["co_sign_appid"], SubAppID: a["co_sub_appid"], CashierFP: a["co_cashier_fp"]},
			Bill:   BillNote{Seen: a["bill_seen"], Recheck: a["bill_recheck"]}}
		x.Attempt, _ = strconv.Atoi(a["co_attempt"])
		if x.Attempt == 0 && x.OrderID != "" {
			x.Attempt = 1
		}
		x.Current, _ = strconv.Atoi(a["co_current"])
		if a["close_owed"] != "" {
			x.Close = &closeRequest{At: at("sched_at")}
		}
		if txid := a["transaction_id"]; txid != "" {
			x.Payment = &Payment{TransactionID: txid, Amount: x.Amount, MchID: owner, AppID: x.AppID, SuccessTime: a["success_time"],
				Source: a["source"], ReceivedAt: at("updated_at"), Data: json.RawMessage(a["data"])}
			if len(x.Payment.Data) == 0 {
				x.Payment.Data = nil
			}
		}
		if x.State == wechatpay.TradeStateSuccess || x.State == wechatpay.TradeStateRefund || x.State == StateReview {
			if settled := fen("refund_settled"); settled > 0 {
				x.Refunds = append(x.Refunds, refundLine{OutRefundNo: "(before the typed ledger)", Amount: settled,
					State: wechatpay.RefundStatusSuccess, Judged: wechatpay.RefundStatusSuccess, At: at("updated_at")})
				x.FullyRefunded = settled >= x.Amount
			}
		}
		if p := a["co_prepay_id"] + a["co_h5_url"] + a["co_code_url"]; p != "" {
			x.Claim = Claim{Status: ClaimCompleted, PayloadHash: a["co_fp"], Expiry: at("co_pay_until"),
				Answer: Prepay{PrepayID: a["co_prepay_id"], H5URL: a["co_h5_url"], CodeURL: a["co_code_url"]}}
		} else if a["co_fp"] != "" {
			x.Claim = Claim{PayloadHash: a["co_fp"]}
		}
		if payable(x.State) && x.Review.Causes == nil {
			x.NextCheck = at("sched_at")
		}
	case *Refund:
		*x = Refund{Owner: owner, OutRefundNo: cmp.Or(a["out_refund_no"], no), OutTradeNo: a["out_trade_no"], OrderID: a["order_id"],
			TransactionID: a["transaction_id"], RefundID: a["refund_id"], Amount: fen("amount"), Total: fen("total"), State: state,
			Reason: a["reason"], SuccessTime: a["success_time"], Source: a["source"], SyncOwed: a["order_sync"] != "",
			Conflicts: conflicts, Review: review, CreatedAt: at("created_at"), UpdatedAt: at("updated_at"), CheckedAt: at("checked_at"),
			Bill: BillNote{Seen: a["bill_seen"], Recheck: a["bill_recheck"]}, Requested: a["order_id"] != ""}
		if x.State == wechatpay.RefundStatusProcessing {
			x.NextCheck = at("sched_at")
		}
	}
}

func legacyKind(reason string) CauseKind {
	switch {
	case strings.HasPrefix(reason, "paid amount"):
		return CauseAmountMismatch
	case strings.HasPrefix(reason, "paid to merchant"):
		return CauseMerchantMismatch
	case strings.HasPrefix(reason, "paid in app"):
		return CauseAppMismatch
	case strings.HasPrefix(reason, "second payment"):
		return causeSecondPayment
	case strings.Contains(reason, "already closed"):
		return CausePaidAfterClose
	case strings.Contains(reason, "close was requested"):
		return CausePaidAfterCloseRequested
	case strings.Contains(reason, "which this deployment does not serve"):
		return CauseForeignMerchant
	case strings.Contains(reason, "was requested"):
		return causeRefundAmountDiffers
	}
	return CauseRefundContradicts
}

func splitKey(key string) (owner, no string) {
	parts := strings.SplitN(key, "/", 3)
	if len(parts) == 3 {
		return parts[1], parts[2]
	}
	return "", key
}
