package paysim

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/paysls/wxpay/shared/clock"
	"github.com/paysls/wxpay/shared/wechatpay"
)

const (
	testSupplier = "1900000201" // a MERCHANT_ID receiver
	testOther    = "1900000202"
)

// sharingEnv is a simulator on a fixed calendar (a morning in +08:00) with a platform
// client acting for testSubMch.
type sharingEnv struct {
	*env
	c *wechatpay.Client
}

func newSharingEnv(t *testing.T) *sharingEnv {
	t.Helper()
	clock := newClock(time.Date(2026, 3, 10, 9, 30, 0, 0, clock.CST))
	e := newEnv(t, Config{SubMchIDs: []string{testSubMch, "1900000110"}, Now: clock.Now})
	e.clock = clock
	c := &wechatpay.Client{BaseURL: e.srv.URL, Signer: e.id.MerchantSigner(), Verifier: &wechatpay.Verifier{Keys: e.sim.resolver()},
		SpMchID: e.id.MchID, SpAppID: e.id.AppID, SubMchID: testSubMch, MaxAttempts: 1,
		NotifyURLOptions: wechatpay.NotifyURLOptions{AllowLoopback: true}}
	return &sharingEnv{env: e, c: c}
}

// paidShareOrder places and pays a profit-sharing partner order and returns its
// transaction_id; the clock then moves past the 1-minute rule unless early.
func (e *sharingEnv) paidShareOrder(t *testing.T, no string, total int64, early bool) string {
	t.Helper()
	p := e.partnerOrder(no)
	p.Amount.Total = total
	p.SettleInfo = &wechatpay.SettleInfo{ProfitSharing: true}
	if r := e.call("POST", "/v3/pay/partner/transactions/jsapi", p); r.status != 200 {
		t.Fatalf("prepay: %d %s", r.status, r.body)
	}
	tx, _, st, err := e.sim.Pay(no, PayRequest{})
	if err != nil {
		t.Fatalf("pay: %d %v", st, err)
	}
	if !early {
		e.clock.Advance(2 * time.Minute)
	}
	return tx.TransactionID
}

func (e *sharingEnv) config(t *testing.T, c map[string]any) {
	t.Helper()
	if st := e.simCall("POST", "/sim/profitsharing/config", c, nil); st != 200 {
		t.Fatalf("config: %d", st)
	}
}

func apiCode(t *testing.T, err error) string {
	t.Helper()
	var ae *wechatpay.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("want a WeChat Pay error, got %v", err)
	}
	return ae.Code
}

func TestEcommerceSplitAndFinish(t *testing.T) {
	e := newSharingEnv(t)
	ctx := context.Background()
	rc := newReceiver(t, nil)
	e.config(t, map[string]any{"notify_url": rc.url()})
	if _, err := e.c.EcommerceAddReceiver(ctx, wechatpay.EcommerceReceiver{Type: wechatpay.ReceiverMerchant, Account: testSupplier, RelationType: wechatpay.RelationSupplier, Name: "供应商有限公司"}); err != nil {
		t.Fatal(err)
	}
	// The platform is a receiver from the start: adding it is refused as already done.
	if _, err := e.c.EcommerceAddReceiver(ctx, wechatpay.EcommerceReceiver{Type: wechatpay.ReceiverMerchant, Account: e.id.MchID, RelationType: wechatpay.RelationPlatform, Name: "平台"}); apiCode(t, err) != "INVALID_REQUEST" {
		t.Fatalf("adding the platform: %v", err)
	}
	tx := e.paidShareOrder(t, "SHARE0000001", 10000, true) // fee 60: 9940 splittable, 2982 to others at most
	share := func(no string, rs ...wechatpay.EcommerceShareReceiver) (*wechatpay.EcommerceShareOrder, error) {
		return e.c.EcommerceShare(ctx, wechatpay.EcommerceShareRequest{TransactionID: tx, OutOrderNo: no, Receivers: rs})
	}
	to := func(account string, amount int64) wechatpay.EcommerceShareReceiver {
		return wechatpay.EcommerceShareReceiver{Type: wechatpay.ReceiverMerchant, ReceiverAccount: account, Amount: amount, Description: "佣金"}
	}
	if _, err := share("P1", to(testSupplier, 100)); apiCode(t, err) != "INVALID_REQUEST" || !strings.Contains(err.Error(), "订单处理中") {
		t.Fatalf("a split in the first minute: %v", err)
	}
	e.clock.Advance(2 * time.Minute)
	cases := []struct {
		name, code, text string
		rs               []wechatpay.EcommerceShareReceiver
	}{
		{"receiver not added", "INVALID_REQUEST", "分账接收方关系不存在", []wechatpay.EcommerceShareReceiver{to(testOther, 100)}},
		{"above the 30% ratio", "INVALID_REQUEST", "最大分账比例", []wechatpay.EcommerceShareReceiver{to(testSupplier, 2000), to(e.id.MchID, 983)}},
		{"above the order", "NOT_ENOUGH", "分账金额不足", []wechatpay.EcommerceShareReceiver{to(testSubMch, 9941)}},
	}
	for _, c := range cases {
		if _, err := share("P1", c.rs...); apiCode(t, err) != c.code || !strings.Contains(err.Error(), c.text) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	ans, err := share("P1", to(testSupplier, 2000), to(e.id.MchID, 982))
	if err != nil {
		t.Fatal(err)
	}
	if ans.Status != wechatpay.ShareProcessing || ans.Receivers[0].Result != wechatpay.ShareResultPending || ans.OrderID == "" {
		t.Fatalf("answer: %+v", ans)
	}
	again, err := share("P1", to(testSupplier, 2000), to(e.id.MchID, 982))
	if err != nil || again.OrderID != ans.OrderID {
		t.Fatalf("the same out_order_no again: %v %+v", err, again)
	}
	if _, err := share("P1", to(testSupplier, 1999)); apiCode(t, err) != "INVALID_REQUEST" {
		t.Fatalf("out_order_no reused with other content: %v", err)
	}
	q, err := e.c.EcommerceQueryShare(ctx, "", tx, "P1")
	if err != nil || q.Status != wechatpay.ShareFinished || q.Receivers[0].Result != wechatpay.ShareResultSuccess || q.Receivers[0].FinishTime == "" {
		t.Fatalf("query: %v %+v", err, q)
	}
	// One notification per MERCHANT_ID receiver, signed and encrypted.
	got := map[string]int64{}
	for i := 0; i < 2; i++ {
		var p wechatpay.ProfitSharingNotice
		n := e.open(t, rc.next(t), &p)
		dec, err := wechatpay.DecodeProfitSharingNotice(&n, mustMarshal(t, p))
		if err != nil || dec.Kind != "split" || n.EventType != wechatpay.EventProfitSharingSuccess || dec.OrderID != ans.OrderID {
			t.Fatalf("notification: %v %+v %+v", err, n, dec)
		}
		got[dec.Receiver.Account] = dec.Receiver.Amount
	}
	if got[testSupplier] != 2000 || got[e.id.MchID] != 982 {
		t.Fatalf("notified shares: %v", got)
	}
	if u, err := e.c.EcommerceUnsplitAmount(ctx, tx); err != nil || u.UnsplitAmount != 9940-2982 {
		t.Fatalf("unsplit: %v %+v", err, u)
	}
	// Nothing more to others: the 30% is used up.
	if _, err := share("P2", to(testSupplier, 1)); apiCode(t, err) != "INVALID_REQUEST" {
		t.Fatalf("past the ratio: %v", err)
	}
	fin, err := e.c.EcommerceFinishShare(ctx, wechatpay.EcommerceFinishRequest{TransactionID: tx, OutOrderNo: "F1", Description: "完结"})
	if err != nil || fin.OrderID == "" {
		t.Fatalf("finish: %v %+v", err, fin)
	}
	fq, err := e.c.EcommerceQueryShare(ctx, "", tx, "F1")
	if err != nil || fq.Status != wechatpay.ShareFinished || fq.FinishAmount != 6958 || fq.FinishDescription != "完结" {
		t.Fatalf("finish query: %v %+v", err, fq)
	}
	if _, err := share("P3", to(testSubMch, 1)); apiCode(t, err) != "INVALID_REQUEST" {
		t.Fatalf("a split after the finish: %v", err)
	}
	b := e.sim.SharingBalances()
	if !b.Conserved || len(b.SubMerchants) != 1 || b.SubMerchants[0].Frozen != 0 || b.SubMerchants[0].Available != 6958 || b.SubMerchants[0].SharedOut != 2982 {
		t.Fatalf("balances: %+v", b)
	}
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSplitsFailAndArriveLate(t *testing.T) {
	e := newSharingEnv(t)
	ctx := context.Background()
	for _, a := range []string{testSupplier, testOther} {
		if _, err := e.c.EcommerceAddReceiver(ctx, wechatpay.EcommerceReceiver{Type: wechatpay.ReceiverMerchant, Account: a, RelationType: wechatpay.RelationDistributor, Name: "分销商有限公司"}); err != nil {
			t.Fatal(err)
		}
	}
	tx := e.paidShareOrder(t, "SHARE0000002", 10000, false)
	e.config(t, map[string]any{"manual": true})
	rs := []wechatpay.EcommerceShareReceiver{
		{Type: wechatpay.ReceiverMerchant, ReceiverAccount: testSupplier, Amount: 500, Description: "a"},
		{Type: wechatpay.ReceiverMerchant, ReceiverAccount: testOther, Amount: 300, Description: "b"},
	}
	if _, err := e.c.EcommerceShare(ctx, wechatpay.EcommerceShareRequest{TransactionID: tx, OutOrderNo: "M1", Receivers: rs}); err != nil {
		t.Fatal(err)
	}
	if q, _ := e.c.EcommerceQueryShare(ctx, "", tx, "M1"); q.Status != wechatpay.ShareProcessing {
		t.Fatalf("a manual split settles only when told: %+v", q)
	}
	if u, _ := e.c.EcommerceUnsplitAmount(ctx, tx); u.UnsplitAmount != 9940-800 {
		t.Fatalf("pending shares hold their money: %+v", u)
	}
	if st := e.simCall("POST", "/sim/profitsharing/receivers/"+testOther+"/invalid", map[string]string{"reason": "RECEIVER_HIGH_RISK"}, nil); st != 200 {
		t.Fatal(st)
	}
	if st := e.simCall("POST", "/sim/profitsharing/orders/M1/settle", nil, nil); st != 200 {
		t.Fatal(st)
	}
	q, _ := e.c.EcommerceQueryShare(ctx, "", tx, "M1")
	if q.Status != wechatpay.ShareFinished || q.Receivers[0].Result != wechatpay.ShareResultSuccess ||
		q.Receivers[1].Result != wechatpay.ShareResultClosed || q.Receivers[1].FailReason != wechatpay.ShareFailHighRisk {
		t.Fatalf("settled: %+v", q)
	}
	if u, _ := e.c.EcommerceUnsplitAmount(ctx, tx); u.UnsplitAmount != 9940-500 {
		t.Fatalf("a closed share gives its money back to the order: %+v", u)
	}
	if st := e.simCall("POST", "/sim/profitsharing/orders/M1/settle", nil, nil); st != http.StatusConflict {
		t.Fatalf("settling twice: %d", st)
	}
	// Late results: PROCESSING until the simulated clock passes settle_after.
	e.config(t, map[string]any{"manual": false, "settle_after": "10m"})
	if _, err := e.c.EcommerceShare(ctx, wechatpay.EcommerceShareRequest{TransactionID: tx, OutOrderNo: "M2", Receivers: rs[:1]}); err != nil {
		t.Fatal(err)
	}
	if q, _ := e.c.EcommerceQueryShare(ctx, "", tx, "M2"); q.Status != wechatpay.ShareProcessing {
		t.Fatalf("before the delay: %+v", q)
	}
	e.clock.Advance(11 * time.Minute)
	if q, _ := e.c.EcommerceQueryShare(ctx, "", tx, "M2"); q.Status != wechatpay.ShareFinished {
		t.Fatalf("after the delay: %+v", q)
	}
	// A forced failure closes every pending receiver.
	e.config(t, map[string]any{"manual": true})
	if _, err := e.c.EcommerceShare(ctx, wechatpay.EcommerceShareRequest{TransactionID: tx, OutOrderNo: "M3", Receivers: rs[:1]}); err != nil {
		t.Fatal(err)
	}
	if st := e.simCall("POST", "/sim/profitsharing/orders/M3/settle", map[string]string{"result": "CLOSED", "fail_reason": "NO_AUTH"}, nil); st != 200 {
		t.Fatal(st)
	}
	if q, _ := e.c.EcommerceQueryShare(ctx, "", tx, "M3"); q.Receivers[0].FailReason != wechatpay.ShareFailNoAuth {
		t.Fatalf("forced: %+v", q)
	}
	if !e.sim.SharingBalances().Conserved {
		t.Fatal("not conserved")
	}
}

func TestReturnsAndRefunds(t *testing.T) {
	e := newSharingEnv(t)
	ctx := context.Background()
	rc := newReceiver(t, nil)
	e.config(t, map[string]any{"notify_urls": map[string]string{testSupplier: rc.url()}})
	if _, err := e.c.EcommerceAddReceiver(ctx, wechatpay.EcommerceReceiver{Type: wechatpay.ReceiverMerchant, Account: testSupplier, RelationType: wechatpay.RelationSupplier, Name: "供应商有限公司"}); err != nil {
		t.Fatal(err)
	}
	tx := e.paidShareOrder(t, "SHARE0000003", 10000, false)
	sp, err := e.c.EcommerceShare(ctx, wechatpay.EcommerceShareRequest{TransactionID: tx, OutOrderNo: "R1",
		Receivers: []wechatpay.EcommerceShareReceiver{{Type: wechatpay.ReceiverMerchant, ReceiverAccount: testSupplier, Amount: 2000, Description: "佣金"}}})
	if err != nil {
		t.Fatal(err)
	}
	rc.next(t) // the split's notification
	ret := func(no string, amount int64) (*wechatpay.ReturnOrder, error) {
		return e.c.EcommerceReturnShare(ctx, wechatpay.ReturnRequest{OutOrderNo: "R1", OutReturnNo: no, ReturnMchID: testSupplier, Amount: amount, Description: "退款"})
	}
	r1, err := ret("RET1", 800)
	if err != nil || r1.Result != wechatpay.ReturnSuccess || r1.ReturnNo == "" {
		t.Fatalf("return: %v %+v", err, r1)
	}
	var p wechatpay.ProfitSharingNotice
	if n := e.open(t, rc.next(t), &p); n.EventType != wechatpay.EventProfitSharingReturn || p.Receiver.Amount != 800 || p.OutOrderNo != "RET1" {
		t.Fatalf("return notification: %+v %+v", n, p)
	}
	if _, err := ret("RET2", 1201); apiCode(t, err) != "INVALID_REQUEST" {
		t.Fatalf("more than the share: %v", err)
	}
	if q, err := e.c.EcommerceQueryReturn(ctx, "", sp.OrderID, "", "RET1"); err != nil || q.Amount != 800 {
		t.Fatalf("query return: %v %+v", err, q)
	}
	// The receiver spent the rest: the return fails for its balance.
	if st := e.simCall("POST", "/sim/profitsharing/accounts/"+testSupplier+"/withdraw", map[string]int64{"amount": 1000}, nil); st != 200 {
		t.Fatal(st)
	}
	r3, err := ret("RET3", 500)
	if err != nil || !r3.Failed() || r3.FailReason != wechatpay.ReturnFailBalanceNotEnough {
		t.Fatalf("short balance: %v %+v", err, r3)
	}
	// Pending returns settle by the driver, or fail after 5 days.
	e.config(t, map[string]any{"return_pending": true})
	r4, err := ret("RET4", 100)
	if err != nil || r4.Result != wechatpay.ReturnProcessing {
		t.Fatalf("pending: %v %+v", err, r4)
	}
	if st := e.simCall("POST", "/sim/profitsharing/returns/RET4/settle", map[string]string{"sub_mchid": testSubMch}, nil); st != 200 {
		t.Fatal(st)
	}
	if _, err := ret("RET5", 50); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(wechatpay.ReturnTimeout + time.Minute)
	if q, _ := e.c.EcommerceQueryReturn(ctx, "", "", "R1", "RET5"); q.FailReason != wechatpay.ReturnFailTimeOutClosed {
		t.Fatalf("timed out: %+v", q)
	}
	// A refund after the return: what the frozen money cannot cover comes from the
	// available balance, and everything still adds up.
	if r := e.call("POST", "/v3/refund/domestic/refunds", wechatpay.RefundRequest{SubMchID: testSubMch, TransactionID: tx, OutRefundNo: "REFUND0001",
		Amount: wechatpay.RefundAmount{Refund: 8000, Total: 10000, Currency: "CNY"}}); r.status != 200 {
		t.Fatalf("refund: %d %s", r.status, r.body)
	}
	b := e.sim.SharingBalances()
	sub := b.SubMerchants[0]
	if !b.Conserved || sub.Frozen != 0 || sub.Refunded != 8000 || sub.Returned != 900 || sub.Available != 900-(8000-7940) {
		t.Fatalf("balances after refund: %+v", b)
	}
}

func TestPartnerSplitUnfreeze(t *testing.T) {
	e := newSharingEnv(t)
	ctx := context.Background()
	name, _ := wechatpay.EncryptOAEP(&e.id.PlatformKey.PublicKey, []byte("供应商有限公司"))
	if _, err := e.c.AddReceiver(ctx, wechatpay.Receiver{Type: wechatpay.ReceiverMerchant, Account: testSupplier, RelationType: "SUPPLIER",
		Name: name, Serial: e.id.PlatformSerial()}); err != nil {
		t.Fatal(err)
	}
	tx := e.paidShareOrder(t, "SHARE0000004", 5000, false) // 4970 splittable
	// Receivers of the partner API belong to one sub-merchant.
	if _, err := e.c.ForSub("1900000110", "").Share(ctx, wechatpay.ShareRequest{TransactionID: tx, OutOrderNo: "X0",
		Receivers: []wechatpay.ShareReceiver{{Type: wechatpay.ReceiverMerchant, Account: testSupplier, Amount: 1, Description: "d"}}}); err == nil {
		t.Fatal("another sub-merchant's split of this order must fail")
	}
	ans, err := e.c.Share(ctx, wechatpay.ShareRequest{TransactionID: tx, OutOrderNo: "PS1",
		Receivers: []wechatpay.ShareReceiver{{Type: wechatpay.ReceiverMerchant, Account: testSupplier, Amount: 1000, Description: "d"}}})
	if err != nil || ans.State != wechatpay.ShareProcessing {
		t.Fatalf("partner split: %v %+v", err, ans)
	}
	if q, err := e.c.QueryShare(ctx, "", tx, "PS1"); err != nil || q.State != wechatpay.ShareFinished || q.Receivers[0].DetailID == "" {
		t.Fatalf("partner query: %v %+v", err, q)
	}
	if u, err := e.c.UnsplitAmountOf(ctx, tx); err != nil || u.UnsplitAmount != 3970 {
		t.Fatalf("partner unsplit: %v %+v", err, u)
	}
	if m, err := e.c.QueryMaxShareRatio(ctx, ""); err != nil || m.MaxRatio != 3000 {
		t.Fatalf("max ratio: %v %+v", err, m)
	}
	// The e-commerce API does not split a payment the partner API splits.
	if _, err := e.c.EcommerceShare(ctx, wechatpay.EcommerceShareRequest{TransactionID: tx, OutOrderNo: "E1",
		Receivers: []wechatpay.EcommerceShareReceiver{{Type: wechatpay.ReceiverMerchant, ReceiverAccount: e.id.MchID, Amount: 1, Description: "d"}}}); apiCode(t, err) != "INVALID_REQUEST" {
		t.Fatalf("mixed families: %v", err)
	}
	r, err := e.c.ReturnShare(ctx, wechatpay.ReturnRequest{OutOrderNo: "PS1", OutReturnNo: "PR1", ReturnMchID: testSupplier, Amount: 100, Description: "退"})
	if err != nil || r.Result != wechatpay.ReturnSuccess || r.ReturnID == "" {
		t.Fatalf("partner return: %v %+v", err, r)
	}
	if q, err := e.c.QueryReturn(ctx, "", "PS1", "PR1"); err != nil || q.Amount != 100 {
		t.Fatalf("partner return query: %v %+v", err, q)
	}
	if st := e.simCall("POST", "/sim/profitsharing/receivers/"+testSupplier+"/invalid", nil, nil); st != 200 {
		t.Fatal(st)
	}
	if r, err := e.c.ReturnShare(ctx, wechatpay.ReturnRequest{OutOrderNo: "PS1", OutReturnNo: "PR2", ReturnMchID: testSupplier, Amount: 100, Description: "退"}); err != nil || r.Result != wechatpay.ReturnFailed {
		t.Fatalf("partner failures are spelled FAILED: %v %+v", err, r)
	}
	if _, err := e.c.UnfreezeShare(ctx, wechatpay.UnfreezeRequest{TransactionID: tx, OutOrderNo: "UF1", Description: "解冻"}); err != nil {
		t.Fatal(err)
	}
	if u, _ := e.c.UnsplitAmountOf(ctx, tx); u.UnsplitAmount != 0 {
		t.Fatalf("after unfreeze: %+v", u)
	}
	if _, err := e.c.DeleteReceiver(ctx, wechatpay.Receiver{Type: wechatpay.ReceiverMerchant, Account: testSupplier}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.DeleteReceiver(ctx, wechatpay.Receiver{Type: wechatpay.ReceiverMerchant, Account: testSupplier}); apiCode(t, err) != "RESOURCE_NOT_EXISTS" {
		t.Fatalf("deleting twice: %v", err)
	}
	if !e.sim.SharingBalances().Conserved {
		t.Fatal("not conserved")
	}
}

// The freeze ends by itself: 180 days for e-commerce payments.
func TestFreezeEnds(t *testing.T) {
	e := newSharingEnv(t)
	ctx := context.Background()
	tx := e.paidShareOrder(t, "SHARE0000005", 1000, false)
	if _, err := e.c.EcommerceShare(ctx, wechatpay.EcommerceShareRequest{TransactionID: tx, OutOrderNo: "Z1",
		Receivers: []wechatpay.EcommerceShareReceiver{{Type: wechatpay.ReceiverMerchant, ReceiverAccount: e.id.MchID, Amount: 100, Description: "佣金"}}}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(wechatpay.EcommerceFreeze)
	if u, _ := e.c.EcommerceUnsplitAmount(ctx, tx); u.UnsplitAmount != 0 {
		t.Fatalf("after 180 days: %+v", u)
	}
	if _, err := e.c.EcommerceShare(ctx, wechatpay.EcommerceShareRequest{TransactionID: tx, OutOrderNo: "Z2",
		Receivers: []wechatpay.EcommerceShareReceiver{{Type: wechatpay.ReceiverMerchant, ReceiverAccount: e.id.MchID, Amount: 1, Description: "佣金"}}}); apiCode(t, err) != "INVALID_REQUEST" {
		t.Fatalf("a split after the freeze: %v", err)
	}
	b := e.sim.SharingBalances()
	if !b.Conserved || b.SubMerchants[0].Available != 994-100 {
		t.Fatalf("%+v", b)
	}
	// A partner payment's freeze is 30 days.
	ptx := e.paidShareOrder(t, "SHARE0000009", 1000, false)
	if _, err := e.c.Share(ctx, wechatpay.ShareRequest{TransactionID: ptx, OutOrderNo: "Z3",
		Receivers: []wechatpay.ShareReceiver{{Type: wechatpay.ReceiverMerchant, Account: testSubMch, Amount: 10, Description: "自己"}}}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(wechatpay.PartnerFreeze - time.Hour)
	if u, _ := e.c.UnsplitAmountOf(ctx, ptx); u.UnsplitAmount != 984 {
		t.Fatalf("before 30 days: %+v", u)
	}
	e.clock.Advance(time.Hour)
	if u, _ := e.c.UnsplitAmountOf(ctx, ptx); u.UnsplitAmount != 0 {
		t.Fatalf("after 30 days: %+v", u)
	}
}

func TestReceiverNameEncryptionAndLegacyEvent(t *testing.T) {
	e := newSharingEnv(t)
	ctx := context.Background()
	pub := &e.id.PlatformKey.PublicKey
	name, err := wechatpay.EncryptOAEP(pub, []byte("供应商有限公司"))
	if err != nil {
		t.Fatal(err)
	}
	// The partner API encrypts a receiver's name; the e-commerce API takes a
	// merchant's full name in clear and a person's encrypted.
	r := wechatpay.Receiver{Type: wechatpay.ReceiverMerchant, Account: testSupplier, RelationType: "SUPPLIER", Name: name}
	if _, err := e.c.AddReceiver(ctx, r); err == nil || !errors.Is(err, wechatpay.ErrInvalid) {
		t.Fatalf("an encrypted name without Serial must fail locally: %v", err)
	}
	// Sent anyway, without the header, WeChat Pay cannot tell which key encrypted it.
	raw := map[string]string{"sub_mchid": testSubMch, "appid": e.id.AppID, "type": "MERCHANT_ID", "account": testSupplier,
		"name": name, "relation_type": "SUPPLIER"}
	if resp := e.call("POST", "/v3/profitsharing/receivers/add", raw); resp.status != http.StatusBadRequest || resp.errorBody(t).Detail.Field != "Wechatpay-Serial" {
		t.Fatalf("an encrypted name without Wechatpay-Serial: %d %s", resp.status, resp.body)
	}
	r.Serial = e.id.PlatformSerial()
	if _, err := e.c.AddReceiver(ctx, r); err != nil {
		t.Fatal(err)
	}
	bad, _ := wechatpay.EncryptOAEP(&e.id.MerchantKey.PublicKey, []byte("x"))
	r.Name = bad
	if _, err := e.c.AddReceiver(ctx, r); apiCode(t, err) != "PARAM_ERROR" {
		t.Fatalf("a name for another key: %v", err)
	}
	person := wechatpay.EcommerceReceiver{Type: wechatpay.ReceiverPersonalOpenID, Account: openID(e.id.AppID, "dave"), RelationType: wechatpay.RelationDistributor,
		EncryptedName: name, Serial: e.id.PlatformSerial()}
	if _, err := e.c.EcommerceAddReceiver(ctx, person); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.EcommerceAddReceiver(ctx, wechatpay.EcommerceReceiver{Type: wechatpay.ReceiverMerchant, Account: testSupplier, RelationType: wechatpay.RelationSupplier}); !errors.Is(err, wechatpay.ErrInvalid) {
		t.Fatalf("a merchant receiver needs its full name: %v", err)
	}
	if _, err := e.c.EcommerceAddReceiver(ctx, wechatpay.EcommerceReceiver{Type: wechatpay.ReceiverMerchant, Account: testSupplier, RelationType: wechatpay.RelationSupplier, Name: "供应商有限公司"}); err != nil {
		t.Fatal(err)
	}
	rc := newReceiver(t, nil)
	e.config(t, map[string]any{"notify_url": rc.url(), "legacy_event_type": true})
	tx := e.paidShareOrder(t, "SHARE0000006", 1000, false)
	if _, err := e.c.EcommerceShare(ctx, wechatpay.EcommerceShareRequest{TransactionID: tx, OutOrderNo: "L1",
		Receivers: []wechatpay.EcommerceShareReceiver{{Type: wechatpay.ReceiverMerchant, ReceiverAccount: testSupplier, Amount: 100, Description: "佣金"}}}); err != nil {
		t.Fatal(err)
	}
	var p wechatpay.ProfitSharingNotice
	n := e.open(t, rc.next(t), &p)
	plain := mustMarshal(t, p)
	if n.EventType != wechatpay.EventTransactionSuccess || !wechatpay.IsProfitSharingNotice(&n, plain) {
		t.Fatalf("legacy event: %+v", n)
	}
	if d, err := wechatpay.DecodeProfitSharingNotice(&n, plain); err != nil || d.Kind != "" {
		t.Fatalf("legacy decode: %v %+v", err, d)
	}
}

func TestSubsidies(t *testing.T) {
	e := newSharingEnv(t)
	ctx := context.Background()
	tx := e.paidShareOrder(t, "SHARE0000007", 10000, false)
	split := func(no string) error {
		_, err := e.c.EcommerceShare(ctx, wechatpay.EcommerceShareRequest{TransactionID: tx, OutOrderNo: no,
			Receivers: []wechatpay.EcommerceShareReceiver{{Type: wechatpay.ReceiverMerchant, ReceiverAccount: e.id.MchID, Amount: 3000, Description: "佣金"}}})
		return err
	}
	sub := func(amount int64, refundID string) (*wechatpay.Subsidy, error) {
		return e.c.CreateSubsidy(ctx, wechatpay.SubsidyRequest{TransactionID: tx, Amount: amount, Description: "平台补贴", RefundID: refundID})
	}
	if _, err := sub(500, ""); apiCode(t, err) != "INVALID_REQUEST" {
		t.Fatalf("an order without a subsidy amount: %v", err)
	}
	if st := e.simCall("POST", "/sim/subsidies/"+tx+"/flag", map[string]int64{"amount": 500}, nil); st != 200 {
		t.Fatal(st)
	}
	if err := split("S1"); apiCode(t, err) != "INVALID_REQUEST" {
		t.Fatalf("a split before the subsidy: %v", err)
	}
	if _, err := sub(400, ""); apiCode(t, err) != "INVALID_REQUEST" {
		t.Fatalf("a smaller subsidy without a refund: %v", err)
	}
	s1, err := sub(500, "")
	if err != nil || s1.Result != wechatpay.SubsidySuccess || s1.SubsidyID == "" {
		t.Fatalf("subsidy: %v %+v", err, s1)
	}
	if s2, err := sub(500, ""); err != nil || s2.SubsidyID != s1.SubsidyID {
		t.Fatalf("the same subsidy again is charged once: %v %+v", err, s2)
	}
	// The subsidy is part of the split's arithmetic: 9940 + 500 splittable, 30% = 3132.
	if err := split("S1"); err != nil {
		t.Fatal(err)
	}
	if u, _ := e.c.EcommerceUnsplitAmount(ctx, tx); u.UnsplitAmount != 10440-3000 {
		t.Fatalf("unsplit with the subsidy: %+v", u)
	}
	ret := func(no, refundID string, amount int64) (*wechatpay.SubsidyReturn, error) {
		return e.c.ReturnSubsidy(ctx, wechatpay.SubsidyReturnRequest{OutOrderNo: no, TransactionID: tx, RefundID: refundID, Amount: amount, Description: "退款回退"})
	}
	if _, err := ret("SR1", "", 100); apiCode(t, err) != "INVALID_REQUEST" {
		t.Fatalf("a subsidy return without a refund: %v", err)
	}
	r := e.call("POST", "/v3/refund/domestic/refunds", wechatpay.RefundRequest{SubMchID: testSubMch, TransactionID: tx, OutRefundNo: "REFUND0002",
		Amount: wechatpay.RefundAmount{Refund: 1000, Total: 10000, Currency: "CNY"}})
	var rf wechatpay.Refund
	if r.status != 200 || json.Unmarshal(r.body, &rf) != nil {
		t.Fatalf("refund: %d %s", r.status, r.body)
	}
	if sr, err := ret("SR1", rf.RefundID, 300); err != nil || sr.Result != wechatpay.SubsidySuccess || sr.SubsidyRefundID == "" {
		t.Fatalf("subsidy return: %v %+v", err, sr)
	}
	if _, err := ret("SR2", rf.RefundID, 100); apiCode(t, err) != "INVALID_REQUEST" {
		t.Fatalf("a second return for the same refund: %v", err)
	}
	if _, err := e.c.CancelSubsidy(ctx, wechatpay.SubsidyCancelRequest{TransactionID: tx, Description: "取消"}); apiCode(t, err) != "INVALID_REQUEST" {
		t.Fatalf("cancel after a subsidy: %v", err)
	}
	// Cancel: needs a refund, then the order can be split.
	tx2 := e.paidShareOrder(t, "SHARE0000008", 2000, false)
	e.simCall("POST", "/sim/subsidies/"+tx2+"/flag", map[string]int64{"amount": 100}, nil)
	if _, err := e.c.CancelSubsidy(ctx, wechatpay.SubsidyCancelRequest{TransactionID: tx2, Description: "取消"}); apiCode(t, err) != "INVALID_REQUEST" {
		t.Fatalf("cancel without a refund: %v", err)
	}
	if r := e.call("POST", "/v3/refund/domestic/refunds", wechatpay.RefundRequest{SubMchID: testSubMch, TransactionID: tx2, OutRefundNo: "REFUND0003",
		Amount: wechatpay.RefundAmount{Refund: 100, Total: 2000, Currency: "CNY"}}); r.status != 200 {
		t.Fatal(r.status)
	}
	if c, err := e.c.CancelSubsidy(ctx, wechatpay.SubsidyCancelRequest{TransactionID: tx2, Description: "取消"}); err != nil || c.Result != wechatpay.SubsidySuccess {
		t.Fatalf("cancel: %v %+v", err, c)
	}
	if _, err := e.c.EcommerceShare(ctx, wechatpay.EcommerceShareRequest{TransactionID: tx2, OutOrderNo: "S2",
		Receivers: []wechatpay.EcommerceShareReceiver{{Type: wechatpay.ReceiverMerchant, ReceiverAccount: e.id.MchID, Amount: 100, Description: "佣金"}}}); err != nil {
		t.Fatalf("a split after the cancel: %v", err)
	}
	if b := e.sim.SharingBalances(); !b.Conserved {
		t.Fatalf("%+v", b)
	}
}

func TestEncryptedFundBills(t *testing.T) {
	e := newSharingEnv(t)
	ctx := context.Background()
	if _, err := e.c.EcommerceAddReceiver(ctx, wechatpay.EcommerceReceiver{Type: wechatpay.ReceiverMerchant, Account: testSupplier, RelationType: wechatpay.RelationSupplier, Name: "供应商有限公司"}); err != nil {
		t.Fatal(err)
	}
	var txs []string
	for _, no := range []string{"BILL00000001", "BILL00000002", "BILL00000003"} {
		tx := e.paidShareOrder(t, no, 5000, false)
		txs = append(txs, tx)
		if _, err := e.c.EcommerceShare(ctx, wechatpay.EcommerceShareRequest{TransactionID: tx, OutOrderNo: "B" + no,
			Receivers: []wechatpay.EcommerceShareReceiver{{Type: wechatpay.ReceiverMerchant, ReceiverAccount: testSupplier, Amount: 1000, Description: "佣金"}}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.c.EcommerceReturnShare(ctx, wechatpay.ReturnRequest{OutOrderNo: "BBILL00000001", OutReturnNo: "BR1", ReturnMchID: testSupplier, Amount: 400, Description: "回退"}); err != nil {
		t.Fatal(err)
	}
	e.config(t, map[string]any{"fund_bill_part_rows": 4})
	e.clock.Advance(24 * time.Hour) // the next morning, after 10:00
	day := "2026-03-10"
	if _, err := e.c.EcommerceFundFlowBill(ctx, wechatpay.EcommerceFundFlowBillRequest{BillDate: "2026-03-11"}); apiCode(t, err) != "STATEMENT_CREATING" {
		t.Fatalf("today's bill: %v", err)
	}
	fetch := func() (*wechatpay.DecryptedBill, *wechatpay.EncryptedBillList, error) {
		list, err := e.c.EcommerceFundFlowBill(ctx, wechatpay.EcommerceFundFlowBillRequest{BillDate: day, Gzip: true})
		if err != nil {
			t.Fatal(err)
		}
		b, err := e.c.FetchEncryptedBill(ctx, list, wechatpay.FetchOptions{Gzipped: true, TempDir: t.TempDir()})
		return b, list, err
	}
	bill, list, err := fetch()
	if err != nil {
		t.Fatal(err)
	}
	defer bill.Close()
	// 3 payments × (交易 + fee) + 3 shares + 1 return = 10 lines in files of 4.
	if list.DownloadBillCount != 3 || bill.Files() != 3 || list.DownloadBillList[0].Nonce == "" || len(list.DownloadBillList[0].Nonce) != 16 {
		t.Fatalf("list: %+v", list)
	}
	p, err := wechatpay.NewFundBillParser(bill.Open())
	if err != nil {
		t.Fatal(err)
	}
	var row wechatpay.FundBillRow
	kinds := map[string]int64{}
	for {
		err := p.Next(&row)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if row.SubMchID != testSubMch {
			t.Fatalf("line without its sub-merchant: %+v", row)
		}
		kinds[row.Name+"/"+row.Kind] += row.Amount
	}
	if p.Totals().Count != 10 || kinds["分账/分账"] != -3000 || kinds["分账/分账回退"] != 400 || kinds["交易/交易"] != 15000 || kinds["交易/扣除交易手续费"] != -90 {
		t.Fatalf("lines: %v, totals %+v", kinds, p.Totals())
	}
	// One sub-merchant's bill, one account.
	one, err := e.c.SubMerchantFundFlowBill(ctx, wechatpay.SubMerchantFundFlowBillRequest{BillDate: day})
	if err != nil || one.DownloadBillCount != 3 {
		t.Fatalf("sub-merchant bill: %v %+v", err, one)
	}
	if _, err := e.c.SubMerchantFundFlowBill(ctx, wechatpay.SubMerchantFundFlowBillRequest{BillDate: day, AccountType: "FEES"}); apiCode(t, err) != "NO_STATEMENT_EXIST" {
		t.Fatalf("an empty account: %v", err)
	}
	// A changed byte fails the GCM tag before anything is read.
	e.config(t, map[string]any{"fund_bill_fault": "tamper"})
	if _, _, err := fetch(); !errors.Is(err, wechatpay.ErrBillDecrypt) {
		t.Fatalf("tampered: %v", err)
	}
	// A wrong hash_value is found as the file is read.
	e.config(t, map[string]any{"fund_bill_fault": "hash"})
	b2, _, err := fetch()
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	if _, err := io.Copy(io.Discard, b2.Open()); !errors.Is(err, wechatpay.ErrBillHash) {
		t.Fatalf("hash: %v", err)
	}
	// A download URL lives 5 minutes.
	late, err := e.c.EcommerceFundFlowBill(ctx, wechatpay.EcommerceFundFlowBillRequest{BillDate: day})
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(6 * time.Minute)
	if _, err := e.c.FetchEncryptedBill(ctx, late, wechatpay.FetchOptions{TempDir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "5m0s") {
		t.Fatalf("an expired URL: %v", err)
	}
}
