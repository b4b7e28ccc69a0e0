package payment

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/paysls/wxpay/shared/events"
	"github.com/paysls/wxpay/shared/store/boltstore"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// An ABNORMAL refund waits in its listing until 异常退款 reissues it; it then is
// PROCESSING (its order's line too) and ends like any refund, announced once.
func TestAbnormalRefundListedReissuedAndSettled(t *testing.T) {
	ctx := context.Background()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "l.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	l := &Ledger{Store: st, Now: func() time.Time { return now }, Merchants: []string{"1900000109"}}
	o, err := l.CreateOrder(ctx, NewOrder{MchID: "1900000109", AppID: "wxapp", OrderID: "ABN0000001", Amount: 800})
	if err != nil {
		t.Fatal(err)
	}
	tx := &wechatpay.Transaction{MchID: "1900000109", AppID: "wxapp", OutTradeNo: "ABN0000001", TransactionID: "4200000000000000000000000001",
		TradeState: wechatpay.TradeStateSuccess, SuccessTime: "2026-12-07T18:00:00+08:00", Amount: &wechatpay.Amount{Total: 800, PayerTotal: 800}}
	if _, err := l.ApplyTransaction(ctx, tx, "notify"); err != nil {
		t.Fatal(err)
	}
	if o, err = l.Attempt(ctx, "1900000109", "ABN0000001"); err != nil {
		t.Fatal(err)
	}
	rf, err := l.RequestRefund(ctx, o, RefundRequest{OutRefundNo: "RFABN00001", Amount: 800})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Reissued(ctx, rf, Reissue{By: "ops", Type: wechatpay.AbnormalRefundUserBankCard}); !errors.Is(err, ErrNotAbnormal) {
		t.Fatalf("reissue of a PROCESSING refund: %v, want ErrNotAbnormal", err)
	}
	notice := func(status string) *wechatpay.RefundNotice {
		return &wechatpay.RefundNotice{MchID: "1900000109", OutTradeNo: "ABN0000001", TransactionID: tx.TransactionID, OutRefundNo: "RFABN00001",
			RefundID: "50300000000000000000000000001", RefundStatus: status, Amount: wechatpay.RefundAmount{Refund: 800, Total: 800}}
	}
	now = now.Add(time.Hour)
	if _, err := l.ApplyRefund(ctx, notice(wechatpay.RefundStatusAbnormal), "notify"); err != nil {
		t.Fatal(err)
	}
	var listed []*Refund
	list := func() {
		listed = nil
		if err := l.AbnormalRefunds(ctx, func(r *Refund) error { listed = append(listed, r); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	list()
	if len(listed) != 1 || listed[0].OutRefundNo != "RFABN00001" || listed[0].RefundID == "" {
		t.Fatalf("ABNORMAL refunds listed: %+v", listed)
	}
	now = now.Add(time.Hour)
	again, err := l.Reissued(ctx, listed[0], Reissue{By: "ops", Type: wechatpay.AbnormalRefundUserBankCard, Bank: "ICBC_DEBIT"})
	if err != nil {
		t.Fatal(err)
	}
	if again.State != wechatpay.RefundStatusProcessing || len(again.Reissues) != 1 || again.Reissues[0].By != "ops" || !again.Reissues[0].At.Equal(now) {
		t.Fatalf("after the reissue: %+v", again)
	}
	if idx, _ := events.Schedule(again.Record().Attrs); idx != PendingRefunds {
		t.Fatalf("a reissued refund is scheduled in %q, want %q (reconcile queries it)", idx, PendingRefunds)
	}
	list()
	if len(listed) != 0 {
		t.Fatalf("a reissued refund is still listed ABNORMAL: %+v", listed)
	}
	o, _ = l.Attempt(ctx, "1900000109", "ABN0000001")
	if line := o.Line("RFABN00001"); line == nil || line.State != wechatpay.RefundStatusProcessing {
		t.Fatalf("the order's line after the reissue: %+v", line)
	}
	res, err := l.ApplyRefund(ctx, notice(wechatpay.RefundStatusSuccess), "notify")
	if err != nil {
		t.Fatal(err)
	}
	o, _ = l.Attempt(ctx, "1900000109", "ABN0000001")
	if o.Refunded() != 800 || o.State != wechatpay.TradeStateRefund {
		t.Fatalf("order after the reissued refund succeeded: state %s refunded %d", o.State, o.Refunded())
	}
	var types []string
	for _, e := range events.Entries(res.Record) {
		types = append(types, e.Type)
	}
	want := []string{events.OrderPaid, events.RefundFailed, events.RefundSucceeded, events.OrderRefunded}
	if len(types) != len(want) {
		t.Fatalf("the order's events %v, want %v", types, want)
	}
	for i := range want {
		if types[i] != want[i] {
			t.Fatalf("the order's events %v, want %v", types, want)
		}
	}
}
