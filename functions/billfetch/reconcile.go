package billfetch

import (
	"cmp"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/store"
	"github.com/paysls/wxpay/shared/store/billstore"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// Discrepancy kinds, in the categories accountants use.
const (
	// KindSettled: paid at WeChat Pay, not paid here (本地短款/漏单): queried and settled
	// through the payment state machine.
	KindSettled = "settled"
	// KindMissingFromBill: paid here, absent from the bill (本地长款).
	KindMissingFromBill = "missing_from_bill"
	KindAmount          = "amount_mismatch"
	KindMerchant        = "merchant_mismatch"
	KindState           = "state_mismatch"
	// Refunds likewise.
	KindRefundSettled         = "refund_settled"
	KindRefundMissingFromBill = "refund_missing_from_bill"
	KindRefundAmount          = "refund_amount_mismatch"
	KindRefundState           = "refund_state_mismatch"
)

// maxListed caps the discrepancies listed in one report (every one is logged and
// counted): a report is one store record and must stay small on a very bad day.
const maxListed = 200

// SourceBill marks a transition made by billfetch (payment.AttrSource).
const SourceBill = "bill"

// Discrepancy is one difference between the bill and the store.
type Discrepancy struct {
	Kind        string `json:"kind"`
	OutTradeNo  string `json:"out_trade_no,omitempty"`
	OutRefundNo string `json:"out_refund_no,omitempty"`
	Ours        string `json:"ours"`
	Theirs      string `json:"theirs"`
	Note        string `json:"note,omitempty"`
}

// BillReport is what one run did with one bill.
type BillReport struct {
	MchID         string         `json:"mchid"`
	Type          string         `json:"type"`
	Date          string         `json:"date"`
	Status        string         `json:"status"`
	HashOK        bool           `json:"hash_ok"`
	Hash          string         `json:"hash,omitempty"`
	Stored        string         `json:"stored,omitempty"`
	Rows          int64          `json:"rows"`
	Matched       int64          `json:"matched"`
	Settled       int64          `json:"settled"`
	Payments      int64          `json:"payments,omitempty"` // trade bill rows of payments and of refunds (the console's Today)
	Refunds       int64          `json:"refunds,omitempty"`
	Recheck       int64          `json:"pending_recheck,omitempty"`
	Counts        map[string]int `json:"discrepancy_counts,omitempty"`
	Discrepancies []Discrepancy  `json:"discrepancies"`
	Truncated     bool           `json:"discrepancies_truncated,omitempty"`
	Totals        any            `json:"totals,omitempty"`
	Error         string         `json:"error,omitempty"`
	// Files and Rejected: an encrypted bill's files, and each time one was rejected
	// (GCM tag or hash: tampered or damaged) and applied for again (fundbill.go).
	Files    int      `json:"files,omitempty"`
	Rejected []string `json:"rejected,omitempty"`
	// SubMerchants, on the configured sub-merchant's report in partner mode, are the
	// other sub-merchants whose trade bills the run fetched for the day (each has its own
	// report): the console finds their reports through it (platform.go: merchantsOf).
	SubMerchants []string `json:"sub_merchants,omitempty"`
}

// ReportKey is the store key of a bill's report.
func ReportKey(mchid, billType, date string) string {
	return "bill/" + mchid + "/" + billType + "/" + date
}

// add counts d and lists it, keeping the list sorted (kind, out_trade_no,
// out_refund_no) and at most maxListed long, so that a report does not depend on the
// order concurrent workers finish in.
func (r *BillReport) add(d Discrepancy) {
	if r.Counts == nil {
		r.Counts = map[string]int{}
	}
	r.Counts[d.Kind]++
	i, _ := slices.BinarySearchFunc(r.Discrepancies, d, compareDiscrepancy)
	if i >= maxListed {
		r.Truncated = true
		return
	}
	r.Discrepancies = slices.Insert(r.Discrepancies, i, d)
	if len(r.Discrepancies) > maxListed {
		r.Discrepancies = r.Discrepancies[:maxListed]
		r.Truncated = true
	}
}

func compareDiscrepancy(a, b Discrepancy) int {
	return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.OutTradeNo, b.OutTradeNo), cmp.Compare(a.OutRefundNo, b.OutRefundNo),
		cmp.Compare(a.Note, b.Note), cmp.Compare(a.Ours, b.Ours), cmp.Compare(a.Theirs, b.Theirs))
}

// tradeBill fetches, keeps and reconciles one merchant's trade bill.
func (j *Job) tradeBill(ctx context.Context, m merchant, day time.Time) (*BillReport, error) {
	date := day.Format(time.DateOnly)
	rep := &BillReport{MchID: m.mchid, Type: TypeTrade, Date: date, Discrepancies: []Discrepancy{}, SubMerchants: m.others}
	err := j.tradeBillInto(ctx, m, day, rep)
	if err != nil {
		rep.Error = err.Error()
		if rep.Status == "" || rep.Status == StatusReconciled {
			rep.Status = StatusFailed
		}
	}
	return rep, j.finish(ctx, rep, err)
}

func (j *Job) tradeBillInto(ctx context.Context, m merchant, day time.Time, rep *BillReport) error {
	date := rep.Date
	f, size, bill, status, err := j.download(ctx, TypeTrade, func() (*wechatpay.BillResponse, error) {
		return m.client.TradeBill(ctx, wechatpay.TradeBillRequest{BillDate: date, BillType: wechatpay.BillTypeAll, Gzip: true})
	}, m.client)
	rep.Status = status
	if err == nil && status == StatusNoStatement {
		// No transaction at all that day for WeChat Pay: whatever succeeded here that day
		// is absent from its ledger (本地长款), reported like a bill without its row.
		rc := &reconciler{j: j, m: m, date: date, day: day, rep: rep}
		return rc.longCheck(ctx)
	}
	if err != nil || status != "" {
		if bill != nil {
			rep.Hash = bill.HashValue
		}
		return err
	}
	defer f.Close()
	rep.HashOK, rep.Hash = true, strings.ToLower(bill.HashValue)

	// Pass 1: the totals block against the rows, before anything is acted on.
	totals, err := scanTrade(f, nil)
	k := billstore.Key{MchID: m.mchid, Type: TypeTrade, Date: date}
	// The verified raw file is kept even when its totals do not add up: it is the
	// evidence.
	if kerr := j.keep(ctx, k, f, bill, size, totals.Count); kerr != nil {
		return errors.Join(err, kerr)
	}
	rep.Stored = j.bills.String() + "/" + k.Path()
	if err != nil {
		return err
	}
	rep.Totals = totals
	// Pass 2: every row against the store.
	rc := &reconciler{j: j, m: m, date: date, day: day, rep: rep}
	if err := rc.rows(ctx, f, j.workers); err != nil {
		return err
	}
	rep.Rows = totals.Count
	if err := rc.longCheck(ctx); err != nil {
		return err
	}
	rep.Status = StatusReconciled
	return nil
}

// scanTrade parses the gzip-compressed bill in f from its start, calling fn per row.
func scanTrade(f *os.File, fn func(*TradeRow) error) (TradeTotals, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return TradeTotals{}, fmt.Errorf("billfetch: %w", err)
	}
	zr, err := gzip.NewReader(f)
	if err != nil {
		return TradeTotals{}, fmt.Errorf("billfetch: %w", err)
	}
	p, err := NewTradeParser(zr)
	if err != nil {
		return TradeTotals{}, err
	}
	var row TradeRow
	for {
		err := p.Next(&row)
		if err == io.EOF {
			return p.Totals(), nil
		}
		if err != nil {
			return TradeTotals{}, err
		}
		if fn != nil {
			if err := fn(&row); err != nil {
				return TradeTotals{}, err
			}
		}
	}
}

// fundFlowBill fetches, keeps and checks the fund-flow bill (its rows are account
// movements, not orders: their totals are verified and reported).
func (j *Job) fundFlowBill(ctx context.Context, day time.Time) (*BillReport, error) {
	date := day.Format(time.DateOnly)
	rep := &BillReport{MchID: j.fundMchID, Type: TypeFundFlow, Date: date, Discrepancies: []Discrepancy{}}
	err := func() error {
		client := j.client
		f, size, bill, status, err := j.download(ctx, TypeFundFlow, func() (*wechatpay.BillResponse, error) {
			return client.FundFlowBill(ctx, wechatpay.FundFlowBillRequest{BillDate: date, AccountType: wechatpay.AccountTypeBasic, Gzip: true})
		}, client)
		rep.Status = status
		if err != nil || status != "" {
			if bill != nil {
				rep.Hash = bill.HashValue
			}
			return err
		}
		defer f.Close()
		rep.HashOK, rep.Hash = true, strings.ToLower(bill.HashValue)
		zr, err := gzip.NewReader(f)
		if err != nil {
			return fmt.Errorf("billfetch: %w", err)
		}
		p, err := NewFundParser(zr)
		var totals FundTotals
		if err == nil {
			var row FundRow
			for err == nil {
				err = p.Next(&row)
			}
			if err == io.EOF {
				err = nil
				totals = p.Totals()
			}
		}
		k := billstore.Key{MchID: j.fundMchID, Type: TypeFundFlow, Date: date}
		if kerr := j.keep(ctx, k, f, bill, size, totals.Count); kerr != nil {
			return errors.Join(err, kerr)
		}
		rep.Stored = j.bills.String() + "/" + k.Path()
		if err != nil {
			return err
		}
		rep.Totals, rep.Rows, rep.Matched = totals, totals.Count, totals.Count
		rep.Status = StatusReconciled
		return nil
	}()
	if err != nil {
		rep.Error = err.Error()
		if rep.Status == "" || rep.Status == StatusReconciled {
			rep.Status = StatusFailed
		}
	}
	return rep, j.finish(ctx, rep, err)
}

// finish stores the report (only when it changed: a re-run that finds everything as
// before writes nothing), logs it and emits its metrics.
func (j *Job) finish(ctx context.Context, rep *BillReport, runErr error) error {
	body, err := json.Marshal(rep)
	if err != nil {
		return errors.Join(runErr, fmt.Errorf("billfetch: encode report: %w", err))
	}
	key := ReportKey(rep.MchID, rep.Type, rep.Date)
	var storeErr error
	cur, err := j.st.Get(ctx, key)
	switch {
	case err == nil && cur.Attrs["report"] == string(body):
	case err == nil || errors.Is(err, store.ErrNotFound):
		_, storeErr = j.st.Put(ctx, store.Record{Key: key, Attrs: map[string]string{
			"status": rep.Status, "hash_ok": strconv.FormatBool(rep.HashOK), "report": string(body),
		}}, store.Condition{})
	default:
		storeErr = err
	}
	if storeErr != nil {
		storeErr = fmt.Errorf("billfetch: store report %s: %w", key, storeErr)
	}
	attrs := []any{"mchid", rep.MchID, "bill_type", rep.Type, "date", rep.Date, "status", rep.Status,
		"hash_ok", rep.HashOK, "rows", rep.Rows, "matched", rep.Matched, "settled", rep.Settled,
		"discrepancies", rep.Counts, "pending_recheck", rep.Recheck}
	if rep.Error != "" {
		j.log.Error("bill not reconciled", append(attrs, "error", rep.Error)...)
	} else {
		j.log.Info("bill done", attrs...)
	}
	if err := j.emitMetrics(rep); err != nil {
		j.log.Warn("metrics not written", "error", err.Error())
	}
	return errors.Join(runErr, storeErr)
}

// emitMetrics writes one CloudWatch Embedded Metric Format line.
func (j *Job) emitMetrics(rep *BillReport) error {
	disc := 0
	for _, n := range rep.Counts {
		disc += n
	}
	hashOK, failed := 0, 0
	if rep.HashOK {
		hashOK = 1
	}
	if rep.Status == StatusFailed || rep.Status == StatusHashMismatch {
		failed = 1
	}
	metric := func(name, unit string) map[string]string { return map[string]string{"Name": name, "Unit": unit} }
	line := map[string]any{
		"_aws": map[string]any{
			"Timestamp": j.now().UnixMilli(),
			"CloudWatchMetrics": []any{map[string]any{
				"Namespace":  "wxpay",
				"Dimensions": [][]string{{"Function", "BillType"}},
				"Metrics": []any{
					metric("BillRows", "Count"), metric("BillMatched", "Count"), metric("BillSettled", "Count"),
					metric("BillDiscrepancies", "Count"), metric("BillHashOK", "Count"), metric("BillFailed", "Count"),
				},
			}},
		},
		"Function": "billfetch", "BillType": rep.Type, "mchid": rep.MchID, "date": rep.Date, "status": rep.Status,
		"BillRows": rep.Rows, "BillMatched": rep.Matched, "BillSettled": rep.Settled,
		"BillDiscrepancies": disc, "BillHashOK": hashOK, "BillFailed": failed,
	}
	b, err := json.Marshal(line)
	if err != nil {
		return err
	}
	_, err = j.metrics.Write(append(b, '\n'))
	return err
}

// reconciler compares the rows of one trade bill with the store. Its methods are
// safe for concurrent use by the pass's workers.
type reconciler struct {
	j    *Job
	m    merchant
	date string
	day  time.Time
	mu   sync.Mutex // guards rep and seen
	rep  *BillReport
	// seen are the sub-merchants whose rows a platform's full bill listed (platform.go).
	seen map[string]bool
}

func (r *reconciler) count(n *int64) {
	r.mu.Lock()
	*n++
	r.mu.Unlock()
}

// rows reconciles the rows of the bill in f with workers goroutines: each row is a
// store read (and sometimes a query and a write), so a 1,000,000-row bill needs them
// in flight together to finish within a Lambda's 15 minutes. Memory stays bounded: the
// parser feeds a small channel.
func (r *reconciler) rows(ctx context.Context, f *os.File, workers int) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	ch := make(chan TradeRow, workers*4)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for row := range ch {
				if err := r.row(ctx, &row); err != nil {
					cancel(err)
					return
				}
			}
		}()
	}
	_, err := scanTrade(f, func(row *TradeRow) error {
		select {
		case ch <- *row:
			return nil
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	})
	close(ch)
	wg.Wait()
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	if err != nil {
		return err
	}
	return context.Cause(ctx)
}

func (r *reconciler) add(d Discrepancy) {
	r.mu.Lock()
	r.rep.add(d)
	r.mu.Unlock()
	r.j.log.Warn("bill discrepancy", "mchid", r.m.mchid, "date", r.date, "kind", d.Kind, "out_trade_no", d.OutTradeNo,
		"out_refund_no", d.OutRefundNo, "ours", d.Ours, "theirs", d.Theirs, "note", d.Note)
}

func (r *reconciler) row(ctx context.Context, row *TradeRow) error {
	if !r.owns(row) { // platform.go
		r.add(Discrepancy{Kind: KindMerchant, OutTradeNo: row.OutTradeNo, OutRefundNo: row.OutRefundNo, Ours: r.m.mchid, Theirs: row.Owner(),
			Note: "the bill lists a row of another merchant"})
		return nil
	}
	switch row.TradeState {
	// Whatever the row says about ours, the bill listed it: it leaves its bill day's
	// listing, so what is left there afterwards is exactly what the bill did not list.
	case wechatpay.TradeStateSuccess:
		r.count(&r.rep.Payments)
		if err := r.payment(ctx, row); err != nil {
			return err
		}
		return r.noteSeen(ctx, row.Owner(), "order", row.OutTradeNo)
	case wechatpay.TradeStateRefund:
		r.count(&r.rep.Refunds)
		if err := r.refund(ctx, row); err != nil || row.OutRefundNo == "" {
			return err
		}
		return r.noteSeen(ctx, row.Owner(), "refund", row.OutRefundNo)
	default:
		r.add(Discrepancy{Kind: KindState, OutTradeNo: row.OutTradeNo, Ours: "-", Theirs: row.TradeState, Note: "unexpected trade state in the bill"})
		return nil
	}
}

var payable = map[string]bool{wechatpay.TradeStateNotPay: true, wechatpay.TradeStateUserPaying: true, wechatpay.TradeStatePayError: true}

func fen(v int64) string { return strconv.FormatInt(v, 10) + " fen" }

// orderAmount is the order total the row stands for.
func orderAmount(row *TradeRow) int64 {
	if row.Order != 0 {
		return row.Order
	}
	return row.Settle + row.Coupon
}

func (r *reconciler) payment(ctx context.Context, row *TradeRow) error {
	o, err := r.j.ledger.Attempt(ctx, row.Owner(), row.OutTradeNo)
	if errors.Is(err, payment.ErrNotFound) {
		return r.settle(ctx, row, "absent")
	}
	if err != nil {
		return fmt.Errorf("billfetch: %w", err)
	}
	amount := orderAmount(row)
	switch {
	case o.InReview() && o.Knows(row.TransactionID):
		c := causeOf(o, row.TransactionID)
		r.add(Discrepancy{Kind: reviewKind(c.Kind), OutTradeNo: row.OutTradeNo, Ours: payment.StateReview,
			Theirs: wechatpay.TradeStateSuccess + " " + fen(amount), Note: c.Detail})
		return nil
	case o.Combine != nil && (o.Unsettled() || !o.Paid() && !o.InReview()):
		return r.settleSubOrder(ctx, row, o) // platform.go: through its combine
	case o.Unsettled():
		return r.settle(ctx, row, o.Status())
	case o.Paid():
		switch {
		case o.Payment.TransactionID != row.TransactionID:
			r.add(Discrepancy{Kind: KindState, OutTradeNo: row.OutTradeNo, Ours: o.State + " by transaction " + o.Payment.TransactionID,
				Theirs: "SUCCESS by transaction " + row.TransactionID})
		case o.Payment.Amount != amount:
			r.add(Discrepancy{Kind: KindAmount, OutTradeNo: row.OutTradeNo, Ours: fen(o.Payment.Amount), Theirs: fen(amount)})
		case o.Owner != row.Owner():
			r.add(Discrepancy{Kind: KindMerchant, OutTradeNo: row.OutTradeNo, Ours: o.Owner, Theirs: row.Owner()})
		case o.Payment.Source == SourceBill:
			// Settled by an earlier run of this job: reported the same way again.
			r.count(&r.rep.Settled)
			r.add(settledPayment(row.OutTradeNo))
		default:
			r.count(&r.rep.Matched)
		}
		return nil
	default:
		// CLOSED, REVOKED, or REVIEW over another transaction: the state machine decides
		// (a payment for a closed order goes to REVIEW).
		return r.settle(ctx, row, o.Status())
	}
}

// causeOf is the review cause that concerns transaction txid on o (else the first).
func causeOf(o *payment.Order, txid string) payment.Cause {
	for _, c := range o.Review.Causes {
		if c.TransactionID == txid {
			return c
		}
	}
	if c := o.Review.First(); c != nil {
		return *c
	}
	return payment.Cause{}
}

// settle queries the order (the query, not the bill, is the authority) and applies the
// payment through the state machine.
func (r *reconciler) settle(ctx context.Context, row *TradeRow, ours string) error {
	tx, err := r.client(row).QueryByOutTradeNo(ctx, row.OutTradeNo)
	if err != nil {
		return fmt.Errorf("billfetch: query %s (paid in the bill, %s here): %w", row.OutTradeNo, ours, err)
	}
	if tx.TradeState == wechatpay.TradeStateRefund && tx.SuccessTime != "" {
		// Paid, then (partly) refunded: the payment itself succeeded.
		cp := *tx
		cp.TradeState = wechatpay.TradeStateSuccess
		tx = &cp
	}
	if tx.TradeState != wechatpay.TradeStateSuccess {
		r.add(Discrepancy{Kind: KindState, OutTradeNo: row.OutTradeNo, Ours: ours, Theirs: "SUCCESS in the bill, " + tx.TradeState + " when queried"})
		return nil
	}
	res, err := r.j.ledger.ApplyTransaction(ctx, tx, SourceBill)
	if err != nil {
		return fmt.Errorf("billfetch: settle %s: %w", row.OutTradeNo, err)
	}
	switch res.Outcome {
	case payment.Applied:
		r.count(&r.rep.Settled)
		r.j.log.Info("payment settled from the bill", "mchid", row.Owner(), "out_trade_no", row.OutTradeNo, "state_before", ours)
		r.add(settledPayment(row.OutTradeNo))
	case payment.Duplicate:
		r.count(&r.rep.Matched)
	default:
		var c payment.Cause
		if res.Cause != nil {
			c = *res.Cause
		} else if res.Order != nil {
			c = causeOf(res.Order, tx.TransactionID)
		}
		r.add(Discrepancy{Kind: reviewKind(c.Kind), OutTradeNo: row.OutTradeNo, Ours: ours + " → " + payment.StateReview, Theirs: wechatpay.TradeStateSuccess + " " + fen(tx.Amount.Total), Note: c.Detail})
	}
	return nil
}

// settledPayment and settledRefund are the report lines of a settlement; a re-run
// finds the record settled from the bill and lists it identically.
func settledPayment(outTradeNo string) Discrepancy {
	return Discrepancy{Kind: KindSettled, OutTradeNo: outTradeNo, Ours: "not paid", Theirs: wechatpay.TradeStateSuccess,
		Note: "paid at WeChat Pay, not here: queried and settled"}
}

func settledRefund(outTradeNo, outRefundNo, status string) Discrepancy {
	return Discrepancy{Kind: KindRefundSettled, OutTradeNo: outTradeNo, OutRefundNo: outRefundNo, Ours: "no result", Theirs: status,
		Note: "refund result missed here: queried and settled"}
}

// reviewKind is the discrepancy kind of a review cause (typed by the ledger).
func reviewKind(k payment.CauseKind) string {
	switch k {
	case payment.CauseAmountMismatch:
		return KindAmount
	case payment.CauseMerchantMismatch, payment.CauseAppMismatch, payment.CauseForeignMerchant, payment.CausePaymentWithoutSubMerchant:
		return KindMerchant
	}
	return KindState
}

var finalRefund = map[string]bool{wechatpay.RefundStatusSuccess: true, wechatpay.RefundStatusAbnormal: true, wechatpay.RefundStatusClosed: true}

func (r *reconciler) refund(ctx context.Context, row *TradeRow) error {
	if row.OutRefundNo == "" {
		r.add(Discrepancy{Kind: KindRefundState, OutTradeNo: row.OutTradeNo, Ours: "-", Theirs: "refund row without out_refund_no"})
		return nil
	}
	rf, err := r.j.ledger.Refund(ctx, row.Owner(), row.OutRefundNo)
	ours := ""
	switch {
	case errors.Is(err, payment.ErrNotFound):
	case err != nil:
		return fmt.Errorf("billfetch: %w", err)
	default:
		ours = rf.Status()
	}
	theirs := row.RefundStatus
	amount := row.ApplyRefund
	if amount == 0 {
		amount = row.Refund
	}
	d := Discrepancy{OutTradeNo: row.OutTradeNo, OutRefundNo: row.OutRefundNo}
	switch {
	case ours != "" && (ours == theirs || finalRefund[ours] && theirs == wechatpay.RefundStatusProcessing):
		// The same, or ours already final where the bill caught it still processing.
		switch {
		case rf.Amount != amount:
			d.Kind, d.Ours, d.Theirs = KindRefundAmount, fen(rf.Amount), fen(amount)
			r.add(d)
		case rf.Source == SourceBill:
			r.count(&r.rep.Settled)
			r.add(settledRefund(row.OutTradeNo, row.OutRefundNo, ours))
		default:
			r.count(&r.rep.Matched)
		}
		return nil
	case ours == "" || ours == wechatpay.RefundStatusProcessing:
		return r.settleRefund(ctx, row, ours)
	default:
		d.Kind, d.Ours, d.Theirs = KindRefundState, ours, theirs
		r.add(d)
		return nil
	}
}

func (r *reconciler) settleRefund(ctx context.Context, row *TradeRow, ours string) error {
	if ours == "" {
		ours = "absent"
	}
	rf, err := r.j.api.QueryRefund(ctx, row.Owner(), "", row.OutRefundNo) // the mode's refund API (shared/platform)
	if err != nil {
		return fmt.Errorf("billfetch: query refund %s (in the bill, %s here): %w", row.OutRefundNo, ours, err)
	}
	d := Discrepancy{OutTradeNo: row.OutTradeNo, OutRefundNo: row.OutRefundNo, Ours: ours}
	if !finalRefund[rf.Status] {
		if ours == wechatpay.RefundStatusProcessing {
			r.count(&r.rep.Matched) // processing on both sides
			return nil
		}
		d.Kind, d.Theirs, d.Note = KindRefundState, rf.Status, "a refund this store does not know (made in the merchant platform?)"
		r.add(d)
		return nil
	}
	n := &wechatpay.RefundNotice{OutTradeNo: rf.OutTradeNo, TransactionID: rf.TransactionID, OutRefundNo: rf.OutRefundNo,
		RefundID: rf.RefundID, RefundStatus: rf.Status, SuccessTime: rf.SuccessTime, UserReceivedAccount: rf.UserReceivedAccount, Amount: rf.Amount}
	if r.m.client.Partner() {
		n.SpMchID, n.SubMchID = r.m.client.SpMchID, row.Owner()
	} else {
		n.MchID = r.m.mchid
	}
	res, err := r.j.ledger.ApplyRefund(ctx, n, SourceBill)
	if err != nil {
		return fmt.Errorf("billfetch: settle refund %s: %w", row.OutRefundNo, err)
	}
	switch res.Outcome {
	case payment.Applied:
		r.count(&r.rep.Settled)
		r.j.log.Info("refund settled from the bill", "mchid", row.Owner(), "out_refund_no", row.OutRefundNo, "state_before", ours)
		d = settledRefund(row.OutTradeNo, row.OutRefundNo, rf.Status)
	case payment.Duplicate:
		r.count(&r.rep.Matched)
		return nil
	default:
		d.Kind, d.Theirs = KindRefundState, rf.Status
		if res.Cause != nil {
			d.Note = res.Cause.Detail
		}
	}
	r.add(d)
	return nil
}
