package billfetch

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/paysls/wxpay/internal/paysim"
	"github.com/paysls/wxpay/shared/events"
	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/store/billstore"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// simulatedDay: payments, a partial and a full refund, an order never paid, and a
// payment whose notification was dropped (the order stays NOTPAY here).
func simulatedDay(e *env) {
	e.order("DAY0000001", 100)
	e.pay("DAY0000001", false)
	e.order("DAY0000002", 2500)
	e.pay("DAY0000002", false)
	e.refund("DAY0000002", "RDAY000002A", 700, 2500, wechatpay.RefundStatusSuccess, false) // partial
	e.order("DAY0000003", 399)
	e.pay("DAY0000003", false)
	e.refund("DAY0000003", "RDAY000003A", 399, 399, wechatpay.RefundStatusSuccess, false) // full
	e.order("DAY0000004", 1999)
	e.pay("DAY0000004", true) // notification dropped
	e.order("DAY0000005", 50) // never paid
}

func TestSimulatedDayReconcilesExactlyAndSettlesTheDroppedPayment(t *testing.T) {
	e := newEnv(t)
	simulatedDay(e)
	if got := statusOf(t, e.get(payment.OrderKey(e.id.MchID, "DAY0000004"))); got != wechatpay.TradeStateNotPay {
		t.Fatalf("dropped notification: the order should still be NOTPAY here, is %s", got)
	}
	e.nextMorning()
	ctx := context.Background()
	rep, err := e.job().Run(ctx, e.clock.Now())
	if err != nil {
		t.Fatalf("run: %v\n%s", err, e.logs)
	}
	if rep["date"] != dayStr {
		t.Fatalf("date = %v, want yesterday %s", rep["date"], dayStr)
	}
	trade, fund := bills(t, rep)
	// 4 payments + 2 refunds; 5 match, the dropped one is settled; nothing else differs.
	if trade.Status != StatusReconciled || !trade.HashOK || trade.Rows != 6 || trade.Matched != 5 || trade.Settled != 1 {
		t.Fatalf("trade report:\n%s\nlogs:\n%s", dump(trade), e.logs)
	}
	if len(trade.Discrepancies) != 1 || trade.Discrepancies[0].Kind != KindSettled || trade.Discrepancies[0].OutTradeNo != "DAY0000004" ||
		trade.Discrepancies[0].Ours != "not paid" {
		t.Fatalf("discrepancies = %s", dump(trade.Discrepancies))
	}
	tot := trade.Totals.(TradeTotals)
	wantSettle := int64(100 + 2500 + 399 + 1999)
	if tot.Count != 6 || tot.Settle != wantSettle || tot.Refund != 700+399 || tot.Order != wantSettle || tot.ApplyRefund != 1099 {
		t.Fatalf("totals = %+v", tot)
	}
	// Fees: 0.6% rounded per row, refunds give theirs back.
	if want := fee(100) + fee(2500) + fee(399) + fee(1999) - fee(700) - fee(399); tot.Fee != want {
		t.Fatalf("fee total = %d, want %d", tot.Fee, want)
	}
	// The dropped payment went through the state machine: SUCCESS, marked as coming from
	// the bill, owing its order.paid event (the outbox), out of the query schedule.
	rec := e.get(payment.OrderKey(e.id.MchID, "DAY0000004"))
	owed := events.Owed(rec)
	if o := orderOf(t, rec); o.Status() != wechatpay.TradeStateSuccess || o.Source != SourceBill || rec.Pending != events.IndexOutbox ||
		len(owed) != 1 || owed[0].Type != events.OrderPaid || o.Payment.TransactionID == "" {
		t.Fatalf("settled order = %+v pending %q", rec.Attrs, rec.Pending)
	}
	if got := statusOf(t, e.get(payment.OrderKey(e.id.MchID, "DAY0000005"))); got != wechatpay.TradeStateNotPay {
		t.Fatalf("unpaid order changed to %s", got)
	}
	if fund.Status != StatusReconciled || !fund.HashOK || fund.Rows != 4*2+2 {
		t.Fatalf("fund-flow report:\n%s", dump(fund))
	}
	ft := fund.Totals.(FundTotals)
	if ft.In != wantSettle || ft.RefundOut != 1099 || ft.FeeOut != fee(100)+fee(2500)+fee(399)+fee(1999) {
		t.Fatalf("fund totals = %+v", ft)
	}
	// The raw file is kept, verified: its uncompressed SHA1 is the published hash.
	checkKept(t, e.bills, billstore.Key{MchID: e.id.MchID, Type: TypeTrade, Date: dayStr}, trade.Hash, 6)
	checkKept(t, e.bills, billstore.Key{MchID: e.id.MchID, Type: TypeFundFlow, Date: dayStr}, fund.Hash, 10)
	// The report is stored per merchant, type and date.
	stored := e.get(ReportKey(e.id.MchID, TypeTrade, dayStr))
	var back BillReport
	if err := json.Unmarshal([]byte(stored.Attrs["report"]), &back); err != nil || back.Settled != 1 || back.Rows != 6 || stored.Attrs["hash_ok"] != "true" {
		t.Fatalf("stored report = %+v, %v", stored.Attrs, err)
	}
	// EMF: one line per bill, metrics declared under _aws.
	lines := strings.Split(strings.TrimSpace(e.metrics.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("EMF lines = %q", lines)
	}
	var emf struct {
		AWS struct {
			Timestamp         int64
			CloudWatchMetrics []struct {
				Namespace  string
				Dimensions [][]string
				Metrics    []struct{ Name, Unit string }
			}
		} `json:"_aws"`
		BillType    string
		BillRows    int64
		BillSettled int64
	}
	if err := json.Unmarshal([]byte(lines[0]), &emf); err != nil || emf.AWS.CloudWatchMetrics[0].Namespace != "wxpay" ||
		emf.BillType != TypeTrade || emf.BillRows != 6 || emf.BillSettled != 1 || emf.AWS.Timestamp != e.clock.Now().UnixMilli() {
		t.Fatalf("EMF line %s: %+v %v", lines[0], emf, err)
	}

	// A re-run is a no-op: the same report, not one write, nothing settled twice.
	applied := e.st.Applied.Load()
	deliveries := len(e.sim.Deliveries())
	rep2, err := e.job().Run(ctx, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	trade2, fund2 := bills(t, rep2)
	if dump(trade2) != dump(trade) || dump(fund2) != dump(fund) {
		t.Fatalf("re-run report differs:\n%s\nvs\n%s", dump(trade2), dump(trade))
	}
	if n := e.st.Applied.Load() - applied; n != 0 {
		t.Fatalf("re-run wrote %d records", n)
	}
	if again := e.get(payment.OrderKey(e.id.MchID, "DAY0000004")); again.Version != rec.Version {
		t.Fatalf("re-run touched the settled order: version %d → %d", rec.Version, again.Version)
	}
	if len(e.sim.Deliveries()) != deliveries {
		t.Fatal("re-run caused notifications")
	}
}

func fee(fen int64) int64 { return (fen*6 + 500) / 1000 }

func checkKept(t *testing.T, bs billstore.Store, k billstore.Key, hash string, rows int64) {
	t.Helper()
	rc, m, err := bs.Open(context.Background(), k)
	if err != nil {
		t.Fatalf("%s not kept: %v", k.Path(), err)
	}
	defer rc.Close()
	zr, err := gzip.NewReader(rc)
	if err != nil {
		t.Fatal(err)
	}
	h := sha1.New()
	n, err := io.Copy(h, zr)
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != hash || m.HashValue != hash || m.HashType != "SHA1" || m.Size != n || m.Rows != rows {
		t.Fatalf("kept %s: sha1 %s size %d, meta %+v; want hash %s rows %d", k.Path(), got, n, m, hash, rows)
	}
}

func TestTamperedBillIsDetectedAndNothingIsVerifiedOrSettled(t *testing.T) {
	e := newEnv(t)
	simulatedDay(e)
	e.nextMorning()
	// Someone between WeChat Pay and us changes an amount in the file (and re-gzips it
	// so that it still decompresses).
	e.tamper = func(gz []byte) []byte {
		zr, err := gzip.NewReader(bytes.NewReader(gz))
		if err != nil {
			return gz
		}
		plain, _ := io.ReadAll(zr)
		plain = bytes.Replace(plain, []byte("`19.99"), []byte("`10.99"), 1)
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write(plain)
		zw.Close()
		return b.Bytes()
	}
	rep, err := e.job().Run(context.Background(), e.clock.Now())
	if !errors.Is(err, wechatpay.ErrBillHash) {
		t.Fatalf("err = %v, want ErrBillHash", err)
	}
	trade, fund := bills(t, rep)
	if trade.Status != StatusHashMismatch || trade.HashOK || trade.Stored != "" || trade.Settled != 0 {
		t.Fatalf("trade report:\n%s", dump(trade))
	}
	if fund.Status != StatusHashMismatch || fund.HashOK {
		t.Fatalf("fund report:\n%s", dump(fund))
	}
	for _, typ := range []string{TypeTrade, TypeFundFlow} {
		if _, err := e.bills.Stat(context.Background(), billstore.Key{MchID: e.id.MchID, Type: typ, Date: dayStr}); !errors.Is(err, billstore.ErrNotFound) {
			t.Fatalf("a tampered %s bill was kept: %v", typ, err)
		}
		if got := e.get(ReportKey(e.id.MchID, typ, dayStr)).Attrs["hash_ok"]; got != "false" {
			t.Fatalf("stored %s report hash_ok = %q", typ, got)
		}
	}
	if got := statusOf(t, e.get(payment.OrderKey(e.id.MchID, "DAY0000004"))); got != wechatpay.TradeStateNotPay {
		t.Fatalf("a tampered bill settled an order: %s", got)
	}
	// Applied, downloaded, found wrong, applied again once: 2 applications per bill.
	if n := e.applications.Load(); n != 4 {
		t.Fatalf("applications = %d, want 4 (one retry per bill)", n)
	}
}

func TestLapsedDownloadURLIsSurvived(t *testing.T) {
	e := newEnv(t)
	simulatedDay(e)
	e.nextMorning()
	j := e.job()
	lapsed := 0
	j.beforeDownload = func(billType string, attempt int) {
		if billType == TypeTrade && attempt == 0 {
			e.clock.Advance(wechatpay.BillURLLifetime + time.Second) // the URL dies before we use it
			lapsed++
		}
	}
	rep, err := j.Run(context.Background(), e.clock.Now())
	if err != nil {
		t.Fatalf("%v\n%s", err, e.logs)
	}
	trade, _ := bills(t, rep)
	if lapsed != 1 || trade.Status != StatusReconciled || trade.Settled != 1 || trade.Rows != 6 {
		t.Fatalf("lapsed=%d report:\n%s", lapsed, dump(trade))
	}
	if n := e.applications.Load(); n != 3 {
		t.Fatalf("applications = %d, want 3 (the trade bill twice)", n)
	}
	if !strings.Contains(e.logs.String(), "applying again") {
		t.Fatalf("the lapse was not logged:\n%s", e.logs)
	}
}

func TestNoStatementAndNotReadyAreNormalOutcomes(t *testing.T) {
	e := newEnv(t)
	e.nextMorning()
	rep, err := e.job().Run(context.Background(), e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	trade, fund := bills(t, rep)
	if trade.Status != StatusNoStatement || fund.Status != StatusNoStatement || trade.Error != "" {
		t.Fatalf("no transactions: %s %s", dump(trade), dump(fund))
	}
	// 08:00 the next day: WeChat Pay is still generating the bill (STATEMENT_CREATING).
	e.clock.Set(day.AddDate(0, 0, 1).Add(8 * time.Hour))
	rep, err = e.job().Run(context.Background(), e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	trade, fund = bills(t, rep)
	if trade.Status != StatusNotReady || fund.Status != StatusNotReady {
		t.Fatalf("before 09:00: %s %s", dump(trade), dump(fund))
	}
}

func TestEveryDiscrepancyKind(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	mch := e.id.MchID
	// amount: ours says 100 fen, the user paid 150 (notify moves it to REVIEW).
	e.ourOrder("KIND000AMT", 100, nil)
	e.prepay("KIND000AMT", 150)
	e.pay("KIND000AMT", false)
	// merchant: our record names another merchant.
	e.ourOrder("KIND000MCH", 300, map[string]string{"mchid": "1900009999"})
	e.prepay("KIND000MCH", 300)
	e.pay("KIND000MCH", true) // settled from the bill → REVIEW
	// state: we closed the order, the user paid anyway.
	e.ourOrder("KIND000STA", 400, map[string]string{"state": wechatpay.TradeStateClosed})
	e.prepay("KIND000STA", 400)
	e.pay("KIND000STA", true)
	// settled: dropped notification.
	e.order("KIND000SET", 500)
	e.pay("KIND000SET", true)
	// long: paid here, unknown to WeChat Pay.
	e.ourOrder("KIND000LNG", 600, map[string]string{"state": wechatpay.TradeStateSuccess,
		"transaction_id": "4200000000000000000001", "success_time": wechatpay.FormatTime(day.Add(11 * time.Hour))})
	e.placeOnBillDay(payment.OrderKey(mch, "KIND000LNG"), day.Add(11*time.Hour))
	// long near midnight: rechecked on the next day's bill before it is a discrepancy.
	e.ourOrder("KIND000MID", 700, map[string]string{"state": wechatpay.TradeStateSuccess,
		"transaction_id": "4200000000000000000002", "success_time": wechatpay.FormatTime(day.Add(23*time.Hour + 55*time.Minute))})
	e.placeOnBillDay(payment.OrderKey(mch, "KIND000MID"), day.Add(23*time.Hour+55*time.Minute))
	// A matched payment with a marker: ticked, not reported.
	e.order("KIND000OK1", 800)
	e.pay("KIND000OK1", false)
	e.placeOnBillDay(payment.OrderKey(mch, "KIND000OK1"), e.clock.Now())
	// Refunds on one paid order of 10000 fen.
	e.order("KIND000RFD", 10000)
	e.pay("KIND000RFD", false)
	e.refund("KIND000RFD", "RKIND00SET", 100, 10000, wechatpay.RefundStatusSuccess, true) // dropped → refund_settled
	e.refund("KIND000RFD", "RKIND00AMT", 200, 10000, wechatpay.RefundStatusSuccess, false)
	e.legacy(payment.RefundKey(mch, "RKIND00AMT"), map[string]string{ // 250 here, 200 there
		"state": wechatpay.RefundStatusSuccess, "amount": "250", "out_trade_no": "KIND000RFD", "mchid": mch, "source": "notify"})
	e.refund("KIND000RFD", "RKIND00STA", 300, 10000, wechatpay.RefundStatusClosed, true) // CLOSED there…
	e.legacy(payment.RefundKey(mch, "RKIND00STA"), map[string]string{                    // …SUCCESS here
		"state": wechatpay.RefundStatusSuccess, "amount": "300", "out_trade_no": "KIND000RFD", "mchid": mch})
	e.legacy(payment.RefundKey(mch, "RKIND00LNG"), map[string]string{
		"state": wechatpay.RefundStatusSuccess, "amount": "400", "out_trade_no": "KIND000RFD", "mchid": mch})
	e.placeOnBillDay(payment.RefundKey(mch, "RKIND00LNG"), day.Add(12*time.Hour))

	e.nextMorning()
	rep, err := e.job().Run(ctx, e.clock.Now())
	if err != nil {
		t.Fatalf("%v\n%s", err, e.logs)
	}
	trade, _ := bills(t, rep)
	got := map[string]string{}
	for _, d := range trade.Discrepancies {
		no := d.OutTradeNo
		if d.OutRefundNo != "" {
			no = d.OutRefundNo
		}
		got[no] = d.Kind
	}
	want := map[string]string{
		"KIND000AMT": KindAmount, "KIND000MCH": KindMerchant, "KIND000STA": KindState, "KIND000SET": KindSettled,
		"KIND000LNG": KindMissingFromBill, "RKIND00SET": KindRefundSettled, "RKIND00AMT": KindRefundAmount,
		"RKIND00STA": KindRefundState, "RKIND00LNG": KindRefundMissingFromBill,
	}
	if dump(got) != dump(want) || trade.Recheck != 1 {
		t.Fatalf("discrepancies:\n%s\nwant %s, recheck 1\nlogs:\n%s", dump(trade), dump(want), e.logs)
	}
	if trade.Settled != 2 {
		t.Fatalf("settled = %d, want 2 (a payment and a refund)", trade.Settled)
	}
	for _, d := range trade.Discrepancies {
		if d.Ours == "" || d.Theirs == "" {
			t.Errorf("discrepancy without both sides: %+v", d)
		}
	}
	if rec := e.get(payment.RefundKey(mch, "RKIND00SET")); statusOf(t, rec) != wechatpay.RefundStatusSuccess {
		t.Fatalf("settled refund = %+v", rec.Attrs)
	}
	if rf, _ := payment.RefundOf(e.get(payment.RefundKey(mch, "RKIND00SET"))); rf.Source != SourceBill {
		t.Fatalf("settled refund = %+v", rf)
	}
	if rec := e.get(payment.OrderKey(mch, "KIND000OK1")); orderOf(t, rec).Bill.Seen != dayStr || rec.Attrs[events.AttrSchedIndex] != "" {
		t.Fatalf("a matched payment must leave its bill day's listing: %+v", rec.Attrs)
	}

	// The next day: KIND000MID is not in that bill either → now a discrepancy.
	e.order("NEXT000001", 100)
	e.clock.Set(day.AddDate(0, 0, 1).Add(11 * time.Hour))
	e.pay("NEXT000001", false)
	e.clock.Set(day.AddDate(0, 0, 2).Add(10*time.Hour + 30*time.Minute))
	rep, err = e.job().Run(ctx, e.clock.Now())
	if err != nil {
		t.Fatalf("%v\n%s", err, e.logs)
	}
	next, _ := bills(t, rep)
	if next.Matched != 1 || len(next.Discrepancies) != 1 || next.Discrepancies[0].OutTradeNo != "KIND000MID" ||
		next.Discrepancies[0].Kind != KindMissingFromBill || !strings.Contains(next.Discrepancies[0].Note, "near midnight") {
		t.Fatalf("next day:\n%s", dump(next))
	}
}

func TestRawFilesLandInMotoS3(t *testing.T) {
	srv := s3server(t)
	e := newEnv(t)
	bucket := srv.NewBucket(t)
	e.bills = srv.Open(t, bucket, "wxpay/bills")
	simulatedDay(e)
	e.nextMorning()
	rep, err := e.job().Run(context.Background(), e.clock.Now())
	if err != nil {
		t.Fatalf("%v\n%s", err, e.logs)
	}
	trade, fund := bills(t, rep)
	if !strings.HasPrefix(trade.Stored, "s3://"+bucket+"/wxpay/bills/") {
		t.Fatalf("stored = %q", trade.Stored)
	}
	checkKept(t, e.bills, billstore.Key{MchID: e.id.MchID, Type: TypeTrade, Date: dayStr}, trade.Hash, 6)
	checkKept(t, e.bills, billstore.Key{MchID: e.id.MchID, Type: TypeFundFlow, Date: dayStr}, fund.Hash, 10)
	// The CSV in S3 is the bill itself.
	rc, _, err := e.bills.Open(context.Background(), billstore.Key{MchID: e.id.MchID, Type: TypeTrade, Date: dayStr})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	zr, _ := gzip.NewReader(rc)
	first, _ := bufio.NewReader(zr).ReadString('\n')
	if !strings.HasPrefix(first, "交易时间,") {
		t.Fatalf("first line %q", first)
	}
}

// A payment our store dates 23:55 on day D that WeChat Pay books on D+1: not a
// discrepancy on D (noted for a recheck), and resolved by D+1's bill.
func TestNearMidnightPaymentIsRecheckedOnTheNextBill(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.order("DAY0000001", 100) // something in day D's bill
	e.pay("DAY0000001", false)
	e.clock.Set(day.Add(23*time.Hour + 50*time.Minute))
	e.order("MIDNIGHT01", 880)
	e.clock.Set(day.AddDate(0, 0, 1).Add(2 * time.Minute)) // WeChat Pay: 00:02 on D+1
	e.pay("MIDNIGHT01", false)
	late := day.Add(23*time.Hour + 55*time.Minute) // our side: 23:55 on D
	key := payment.OrderKey(e.id.MchID, "MIDNIGHT01")
	paid := orderOf(t, e.get(key))
	e.legacy(key, map[string]string{"state": wechatpay.TradeStateSuccess, "amount": "880", "mchid": e.id.MchID, "appid": paid.AppID,
		"out_trade_no": "MIDNIGHT01", "transaction_id": paid.Payment.TransactionID, "success_time": wechatpay.FormatTime(late), "source": "notify"})
	e.placeOnBillDay(payment.OrderKey(e.id.MchID, "MIDNIGHT01"), late)
	e.clock.Set(day.AddDate(0, 0, 1).Add(10*time.Hour + 30*time.Minute))
	rep, err := e.job().RunDate(ctx, dayStr)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := bills(t, rep)
	if d.Recheck != 1 || len(d.Discrepancies) != 0 || d.Matched != 1 {
		t.Fatalf("day D:\n%s", dump(d))
	}
	e.clock.Set(day.AddDate(0, 0, 2).Add(10*time.Hour + 30*time.Minute))
	rep, err = e.job().RunDate(ctx, day.AddDate(0, 0, 1).Format(time.DateOnly))
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := bills(t, rep)
	if d1.Matched != 1 || len(d1.Discrepancies) != 0 || d1.Recheck != 0 {
		t.Fatalf("day D+1:\n%s", dump(d1))
	}
	if m := e.get(payment.OrderKey(e.id.MchID, "MIDNIGHT01")); orderOf(t, m).Bill.Seen != day.AddDate(0, 0, 1).Format(time.DateOnly) {
		t.Fatalf("record = %+v", m.Attrs)
	}
}

func TestPartnerModeFetchesTheSubMerchantsBill(t *testing.T) {
	e := newEnv(t)
	const sub = "1900000201"
	e.partner(sub)
	e.order("SUB0000001", 1200)
	e.pay("SUB0000001", false)
	e.refund("SUB0000001", "RSUB000001", 200, 1200, wechatpay.RefundStatusSuccess, false)
	e.order("SUB0000002", 300)
	e.pay("SUB0000002", true)
	e.nextMorning()
	rep, err := e.job().Run(context.Background(), e.clock.Now())
	if err != nil {
		t.Fatalf("%v\n%s", err, e.logs)
	}
	trade, fund := bills(t, rep)
	if trade.MchID != sub || trade.Status != StatusReconciled || trade.Rows != 3 || trade.Matched != 2 || trade.Settled != 1 {
		t.Fatalf("trade:\n%s\n%s", dump(trade), e.logs)
	}
	if rec := e.get(payment.OrderKey(sub, "SUB0000002")); statusOf(t, rec) != wechatpay.TradeStateSuccess {
		t.Fatalf("sub-merchant order = %+v", rec.Attrs)
	}
	// The fund-flow bill is the service provider's own account.
	if fund.MchID != e.id.MchID || fund.Status != StatusReconciled {
		t.Fatalf("fund:\n%s", dump(fund))
	}
	checkKept(t, e.bills, billstore.Key{MchID: sub, Type: TypeTrade, Date: dayStr}, trade.Hash, 3)
}

// A query that keeps failing fails the run (WeChat Pay is the authority, never the
// bill alone); the report says so and a later run settles it.
func TestFailingQueryFailsTheRunAndARerunRecovers(t *testing.T) {
	e := newEnv(t)
	simulatedDay(e)
	e.nextMorning()
	if err := e.sim.SetFaults(paysim.Faults{Endpoints: []paysim.EndpointFault{{Pattern: "GET /v3/pay/transactions/out-trade-no/*", Status: 500}}}); err != nil {
		t.Fatal(err)
	}
	rep, err := e.job().Run(context.Background(), e.clock.Now())
	if err == nil || !strings.Contains(err.Error(), "DAY0000004") {
		t.Fatalf("err = %v", err)
	}
	trade, fund := bills(t, rep)
	if trade.Status != StatusFailed || trade.Error == "" || fund.Status != StatusReconciled {
		t.Fatalf("trade:\n%s\nfund:\n%s", dump(trade), dump(fund))
	}
	if got := e.get(ReportKey(e.id.MchID, TypeTrade, dayStr)).Attrs["status"]; got != StatusFailed {
		t.Fatalf("stored status = %q", got)
	}
	if err := e.sim.SetFaults(paysim.Faults{}); err != nil {
		t.Fatal(err)
	}
	rep, err = e.job().Run(context.Background(), e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if trade, _ = bills(t, rep); trade.Status != StatusReconciled || trade.Settled != 1 {
		t.Fatalf("re-run:\n%s", dump(trade))
	}
}
