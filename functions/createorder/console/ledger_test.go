package console

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/paysls/wxpay/functions/billfetch"
	"github.com/paysls/wxpay/functions/reconcile"
	"github.com/paysls/wxpay/shared/clock"
	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/store"
	"github.com/paysls/wxpay/shared/store/boltstore"
)

// The console reads billfetch's stored reports without importing the job: the key and
// the fields it reads must be billfetch's.
func TestBillReportShapeIsBillfetchs(t *testing.T) {
	if got, want := reportKey("1900000109", billfetch.TypeTrade, "2026-12-07"), billfetch.ReportKey("1900000109", billfetch.TypeTrade, "2026-12-07"); got != want {
		t.Fatalf("report key %q, billfetch's %q", got, want)
	}
	if billTrade != billfetch.TypeTrade || billFundFlow != billfetch.TypeFundFlow || billReconciled != billfetch.StatusReconciled || billNoStatement != billfetch.StatusNoStatement {
		t.Fatal("bill types or statuses differ from billfetch's")
	}
	in := billfetch.BillReport{MchID: "1900000109", Type: billfetch.TypeTrade, Date: "2026-12-07", Status: billfetch.StatusReconciled, HashOK: true,
		Rows: 7, Matched: 6, Settled: 1, Payments: 5, Refunds: 2, Truncated: true, Error: "e",
		Discrepancies: []billfetch.Discrepancy{{Kind: billfetch.KindAmount, OutTradeNo: "A1", OutRefundNo: "R1", Ours: "1 fen", Theirs: "2 fen", Note: "n"}},
		Totals:        billfetch.TradeTotals{Settle: 4490, Refund: 1300}, SubMerchants: []string{"1900000110"}}
	b, _ := json.Marshal(in)
	var out billReport
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	d := out.Discrepancies
	if out.Rows != 7 || out.Matched != 6 || out.Settled != 1 || out.Payments != 5 || out.Refunds != 2 || !out.HashOK || !out.Truncated || out.Error != "e" ||
		out.Totals.Settle != 4490 || out.Totals.Refund != 1300 || len(d) != 1 || d[0].Kind != billfetch.KindAmount || d[0].OutRefundNo != "R1" || d[0].Theirs != "2 fen" ||
		len(out.SubMerchants) != 1 || out.SubMerchants[0] != "1900000110" {
		t.Fatalf("decoded %+v from %s", out, b)
	}
}

// A kept payment is refunded under reconcile's number for it, so the console and
// reconcile's automatic late refund converge on one refund.
func TestKeptRefundNoIsReconciles(t *testing.T) {
	if keptRefundNo("4200000000000000000000000001") != reconcile.LateRefundNo("4200000000000000000000000001") {
		t.Fatal("the console and reconcile number a kept payment's refund differently")
	}
}

func TestWorkingDays(t *testing.T) {
	fri := time.Date(2026, 12, 4, 15, 0, 0, 0, clock.CST) // a Friday
	for _, c := range []struct {
		to   time.Time
		want int
	}{
		{fri, 0}, {fri.AddDate(0, 0, 1), 0}, {fri.AddDate(0, 0, 3), 1}, {fri.AddDate(0, 0, 11), 7}, {fri.AddDate(0, 0, 12), 8},
	} {
		if got := workingDays(fri, c.to); got != c.want {
			t.Errorf("Friday to %s: %d working days, want %d", c.to.Format("Mon 01-02"), got, c.want)
		}
	}
}

func TestQueriesThatCannotBeIDs(t *testing.T) {
	for _, q := range []string{"", "a/b", "../x", "<script>", "x y", "订单", string(make([]byte, 65))} {
		if validQuery(q) {
			t.Errorf("%q accepted as an id", q)
		}
	}
	for _, q := range []string{"ORDER_1-2*3|4", "RF@1", "4200000000000000000000000001"} {
		if !validQuery(q) {
			t.Errorf("%q refused", q)
		}
	}
}

// With every sub-merchant's records shown, an action's record key names its owner; keys
// that are not a merchant's record are refused.
func TestOwnedByAnySubMerchant(t *testing.T) {
	many := &LedgerSource{AnyOwner: true, Owners: []string{"1900000109"}}
	one := &LedgerSource{Owners: []string{"1900000109"}}
	for _, c := range []struct {
		src       *LedgerSource
		ref       string
		owner, no string
	}{
		{many, "order/1900000777/ORDER-1", "1900000777", "ORDER-1"},
		{many, "order/1900000109/ORDER-1", "1900000109", "ORDER-1"},
		{one, "order/1900000109/ORDER-1", "1900000109", "ORDER-1"},
		{one, "order/1900000777/ORDER-1", "", ""},
		{many, "order/19000/ORDER-1", "", ""},
		{many, "order/1900000777/../x", "", ""},
		{many, "order/1900000777", "", ""},
		{many, "refund/1900000777/R1", "", ""},
	} {
		owner, no, ok := c.src.owned(c.ref, payment.OrderKey)
		if owner != c.owner || no != c.no || ok != (c.owner != "") {
			t.Errorf("owned(%q, AnyOwner %v) = %q %q %v", c.ref, c.src.AnyOwner, owner, no, ok)
		}
	}
}

// A service provider's billfetch fetches the bill of every sub-merchant with money that
// day, each with its own report; the configured sub-merchant's report names the others.
// The Bills view shows their reports too — discrepancies of a sub-merchant without a
// bill of its own (NO_STATEMENT_EXIST) included — and the day's totals add them up.
func TestBillsShowEverySubMerchantsReport(t *testing.T) {
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "console.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := time.Date(2026, 12, 8, 11, 0, 0, 0, clock.CST)
	date := "2026-12-07"
	put := func(r billfetch.BillReport) {
		b, _ := json.Marshal(r)
		if _, err := st.Put(context.Background(), store.Record{Key: billfetch.ReportKey(r.MchID, r.Type, r.Date), Attrs: map[string]string{"report": string(b)}}, store.Condition{}); err != nil {
			t.Fatal(err)
		}
	}
	put(billfetch.BillReport{MchID: "1900000109", Type: billfetch.TypeTrade, Date: date, Status: billfetch.StatusReconciled, Payments: 1,
		Totals: billfetch.TradeTotals{Settle: 500}, SubMerchants: []string{"1900000110"}})
	put(billfetch.BillReport{MchID: "1900000110", Type: billfetch.TypeTrade, Date: date, Status: billfetch.StatusNoStatement,
		Discrepancies: []billfetch.Discrepancy{{Kind: billfetch.KindMissingFromBill, OutTradeNo: "SUBB0001", Ours: "SUCCESS 700 fen", Theirs: "absent"}}})
	s := &LedgerSource{Ledger: &payment.Ledger{Store: st, Now: func() time.Time { return now }}, Owners: []string{"1900000109"}, AnyOwner: true}
	bills, err := s.Bills(context.Background(), 2)
	if err != nil {
		t.Fatal(err)
	}
	var other *BillDay
	for i := range bills {
		if bills[i].MchID == "1900000110" {
			other = &bills[i]
		}
	}
	if other == nil || other.Status != billfetch.StatusNoStatement || len(other.Discrepancies) != 1 || other.Discrepancies[0].OutTradeNo != "SUBB0001" {
		t.Fatalf("bills %+v", bills)
	}
	days, err := s.Days(context.Background(), 2)
	if err != nil {
		t.Fatal(err)
	}
	if d := days[1]; d.Date != date || !d.FromBill || d.Paid != 500 || d.PaidCount != 1 {
		t.Fatalf("day %+v", d)
	}
}
