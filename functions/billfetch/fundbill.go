package billfetch

// The sub-merchants' encrypted fund bills (二级商户资金账单) of an e-commerce platform:
// GET /v3/ecommerce/bill/fundflowbill (account_type ALL: every sub-merchant) answers a
// list of files, each AEAD_AES_256_GCM-encrypted under its own key (wrapped with the
// merchant certificate's public key) and nonce, with the SHA1 of its plaintext, split
// into sequences on large days; every download_url lives 5 minutes
// (shared/wechatpay/fundbill.go cites the docs). billfetch downloads every file at once,
// decrypting and authenticating each as a stream into a temporary file
// (wechatpay.FetchEncryptedBill: constant memory), then:
//
//  1. reads the joined plaintext once, in bill_sequence order, through the fund bill
//     parser: each file's SHA1 is checked as it ends and the totals block against the
//     lines — nothing is acted on before the whole bill verified. A file that fails its
//     GCM tag or its hash is a tampered (or damaged) bill: it is applied for again
//     once, and the rejection is reported;
//  2. keeps the verified plaintext (gzip) in the bill store, like the other bills;
//  3. reads it again and compares each profit-sharing line with the ledger
//     (payment.NoteFundLine): 分账 (a share out), 分账回退 (a return in), 补差, 补差回退, and
//     the fee line of each shared payment (for the release check);
//  4. checks the orders the day's fund listing still holds (payment.CheckFundDay): a
//     movement the ledger has and the bill does not list, and each finish's release
//     (which writes no line) against the ledger's arithmetic.
//
// Each difference is reported by kind, as the trade bill does.

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/paysls/wxpay/shared/clock"
	"github.com/paysls/wxpay/shared/events"
	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/store"
	"github.com/paysls/wxpay/shared/store/billstore"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// TypeSubFundFlow is the sub-merchants' fund bill of a platform (account_type ALL).
const TypeSubFundFlow = "ecommerce_fundflow_all"

// Discrepancy kinds of the fund bill: <movement>_<what>, movement one of share,
// return, subsidy, subsidy_return (and fee, release).
const (
	suffixUnknown = "_unknown"           // the bill lists it, the ledger has no such movement
	suffixAmount  = "_amount_mismatch"   // known here with another amount
	suffixState   = "_state_mismatch"    // known here, not as a success
	suffixMissing = "_missing_from_bill" // a success here the bill does not list
	suffixNoted   = "_listed_twice"      // listed on an earlier bill already
	// KindReleaseMismatch: a finish released another amount than the ledger's
	// arithmetic (payment − fee + subsidy − shares − refunds − subsidy returns).
	KindReleaseMismatch = "release_mismatch"
	// KindReleaseUnverified: the payment's fee is unknown (its day's fund bill was not
	// read), so the release could not be checked.
	KindReleaseUnverified = "release_unverified"
	// KindUnattributed: a sharing line without its sub-merchant (二级商户号).
	KindUnattributed = "unattributed"
)

// fundKind maps a line's 业务名称/业务类型 to a ledger movement ("" for others).
func fundKind(row *wechatpay.FundBillRow) string {
	switch {
	case row.Name == "分账" && row.Kind == "分账":
		return payment.FundShare
	case row.Name == "分账" && row.Kind == "分账回退":
		return payment.FundReturn
	case row.Name == "补差" && row.Kind == "补差":
		return payment.FundSubsidy
	case row.Name == "补差" && row.Kind == "补差回退":
		return payment.FundSubsidyReturn
	case row.Name == "交易" && row.Kind == "扣除交易手续费":
		return payment.FundFee
	}
	return ""
}

// subFundBill fetches, verifies, keeps and reconciles the day's sub-merchant fund bill.
func (j *Job) subFundBill(ctx context.Context, day time.Time) (*BillReport, error) {
	date := day.Format(time.DateOnly)
	rep := &BillReport{MchID: j.fundMchID, Type: TypeSubFundFlow, Date: date, Discrepancies: []Discrepancy{}}
	err := j.subFundBillInto(ctx, day, rep)
	if err != nil {
		rep.Error = err.Error()
		if rep.Status == "" || rep.Status == StatusReconciled {
			rep.Status = StatusFailed
		}
	}
	return rep, j.finish(ctx, rep, err)
}

func (j *Job) subFundBillInto(ctx context.Context, day time.Time, rep *BillReport) error {
	date := rep.Date
	var bill *wechatpay.DecryptedBill
	var plain *os.File
	var totals wechatpay.FundBillTotals
	var hashes []string
	for attempt := 0; ; attempt++ {
		list, err := j.client.EcommerceFundFlowBill(ctx, wechatpay.EcommerceFundFlowBillRequest{BillDate: date, Gzip: true})
		switch {
		case wechatpay.IsCode(err, wechatpay.CodeNoStatementExist):
			rep.Status = StatusNoStatement
			return nil
		case wechatpay.IsCode(err, wechatpay.CodeStatementCreating):
			rep.Status = StatusNotReady
			return nil
		case err != nil:
			return err
		}
		hashes = hashes[:0]
		for _, f := range list.DownloadBillList {
			hashes = append(hashes, strings.ToLower(f.HashValue))
		}
		if j.beforeDownload != nil {
			j.beforeDownload(TypeSubFundFlow, attempt)
		}
		bill, err = j.client.FetchEncryptedBill(ctx, list, wechatpay.FetchOptions{Gzipped: true, TempDir: j.tmp})
		if err == nil {
			// Pass 1: every file's hash and the totals, before anything is acted on; the
			// verified plaintext goes to a temporary file to be kept.
			plain, totals, err = j.verifyFundBill(bill)
			if err != nil {
				bill.Close()
			}
		}
		if err == nil {
			break
		}
		rejected := errors.Is(err, wechatpay.ErrBillHash) || errors.Is(err, wechatpay.ErrBillDecrypt)
		if !rejected {
			return err
		}
		rep.Rejected = append(rep.Rejected, err.Error())
		j.log.Warn("sub-merchant fund bill rejected (tampered or damaged); applying again", "date", date, "attempt", attempt+1, "error", err.Error())
		if attempt == 1 {
			rep.Status = StatusHashMismatch
			return err
		}
	}
	defer bill.Close()
	defer plain.Close()
	rep.HashOK, rep.Hash = true, strings.Join(hashes, ",")
	rep.Files = bill.Files()
	k := billstore.Key{MchID: j.fundMchID, Type: TypeSubFundFlow, Date: date}
	if err := j.keepPlain(ctx, k, plain, strings.Join(hashes, ","), bill.Size(), totals.Count); err != nil {
		return err
	}
	rep.Stored = j.bills.String() + "/" + k.Path()
	rep.Totals, rep.Rows = totals, totals.Count
	// Pass 2: every sharing line against the ledger.
	p, err := wechatpay.NewFundBillParser(bill.Open())
	if err != nil {
		return err
	}
	var row wechatpay.FundBillRow
	for {
		err := p.Next(&row)
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if err := j.fundLine(ctx, &row, date, rep); err != nil {
			return err
		}
	}
	// Pass 3: what the ledger holds for the day that the bill did not list.
	if err := j.fundDayCheck(ctx, day, rep); err != nil {
		return err
	}
	rep.Status = StatusReconciled
	return nil
}

// verifyFundBill reads the whole bill (hash per file, totals), copying the plaintext
// gzip-compressed into an unlinked temporary file.
func (j *Job) verifyFundBill(bill *wechatpay.DecryptedBill) (*os.File, wechatpay.FundBillTotals, error) {
	f, err := os.CreateTemp(j.tmp, "wxpay-fundbill-*.csv.gz")
	if err != nil {
		return nil, wechatpay.FundBillTotals{}, fmt.Errorf("billfetch: temporary file: %w", err)
	}
	os.Remove(f.Name())
	zw, _ := gzip.NewWriterLevel(f, gzip.BestSpeed)
	p, err := wechatpay.NewFundBillParser(io.TeeReader(bill.Open(), zw))
	var totals wechatpay.FundBillTotals
	if err == nil {
		var row wechatpay.FundBillRow
		for err == nil {
			err = p.Next(&row)
		}
		if err == io.EOF {
			err, totals = nil, p.Totals()
		}
	}
	if err == nil {
		err = zw.Close()
	}
	if err != nil {
		f.Close()
		return nil, totals, err
	}
	return f, totals, nil
}

// keepPlain stores the verified plaintext unless the same bill (same hashes) is there.
func (j *Job) keepPlain(ctx context.Context, k billstore.Key, f *os.File, hashes string, size, rows int64) error {
	if m, err := j.bills.Stat(ctx, k); err == nil && strings.EqualFold(m.HashValue, hashes) {
		return nil
	} else if err != nil && !errors.Is(err, billstore.ErrNotFound) {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("billfetch: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("billfetch: %w", err)
	}
	return j.bills.Put(ctx, k, f, st.Size(), billstore.Meta{HashType: "SHA1", HashValue: hashes, Size: size, Rows: rows})
}

// fundLine compares one line with the ledger.
func (j *Job) fundLine(ctx context.Context, row *wechatpay.FundBillRow, date string, rep *BillReport) error {
	kind := fundKind(row)
	if kind == "" {
		return nil // payments and refunds: the trade bill's
	}
	if row.SubMchID == "" {
		rep.add(Discrepancy{Kind: KindUnattributed, OutTradeNo: row.Voucher, Theirs: row.Name + "/" + row.Kind + " " + fen(abs(row.Amount)),
			Note: "the line names no sub-merchant (二级商户号)"})
		return nil
	}
	v, ours, err := j.ledger.NoteFundLine(ctx, payment.FundLine{Kind: kind, Owner: row.SubMchID, No: row.Voucher, Amount: abs(row.Amount), Date: date, Note: row.Note})
	if err != nil {
		return fmt.Errorf("billfetch: note fund line %s: %w", row.Voucher, err)
	}
	theirs := row.Name + "/" + row.Kind + " " + fen(abs(row.Amount))
	d := Discrepancy{OutTradeNo: row.Voucher, Theirs: theirs, Ours: ours}
	switch v {
	case payment.FundMatched, payment.FundIrrelevant:
		if kind != payment.FundFee {
			rep.Matched++
		}
		return nil
	case payment.FundUnknown:
		if kind == payment.FundFee {
			return nil // a fee of a payment that is not shared here
		}
		d.Kind, d.Ours = kind+suffixUnknown, "absent"
	case payment.FundAmount:
		d.Kind = kind + suffixAmount
	case payment.FundState:
		d.Kind = kind + suffixState
	case payment.FundNoted:
		d.Kind = kind + suffixNoted
	}
	rep.add(d)
	return nil
}

// fundDayCheck checks every order the day's fund listing still holds.
func (j *Job) fundDayCheck(ctx context.Context, day time.Time, rep *BillReport) error {
	idx := payment.FundBillDayIndex(j.fundMchID, day)
	date := rep.Date
	for _, index := range []string{idx, events.IndexOutbox} {
		opts := store.ListOptions{Limit: store.MaxListLimit}
		for {
			page, err := j.st.ListPending(ctx, index, opts)
			if err != nil {
				return fmt.Errorf("billfetch: list the fund movements of %s: %w", date, err)
			}
			for _, rec := range page.Records {
				if rec.Attrs[events.AttrSchedIndex] != idx {
					continue
				}
				c, err := j.ledger.CheckFundDay(ctx, rec, date)
				if err != nil {
					return fmt.Errorf("billfetch: check %s: %w", rec.Key, err)
				}
				for _, m := range c.Missing {
					rep.add(Discrepancy{Kind: m.Kind + suffixMissing, OutTradeNo: m.No, Ours: fmt.Sprintf("%s %s at %s", m.Kind, fen(abs(m.Amount)), m.At.In(clock.CST).Format(time.DateTime)), Theirs: "absent"})
				}
				switch {
				case !c.Release:
				case c.Expected < 0:
					rep.add(Discrepancy{Kind: KindReleaseUnverified, OutTradeNo: c.Order.OutTradeNo, Ours: "fee unknown", Theirs: "released " + fen(c.Released),
						Note: "the payment's fee line was not read (its day's fund bill): run billfetch for that day"})
				case c.Expected != c.Released:
					rep.add(Discrepancy{Kind: KindReleaseMismatch, OutTradeNo: c.Order.OutTradeNo, Ours: "expected " + fen(c.Expected), Theirs: "released " + fen(c.Released),
						Note: "payment − fee + subsidy − shares − refunds − subsidy returns, at the finish"})
				}
			}
			if page.Cursor == "" {
				break
			}
			opts.Cursor = page.Cursor
		}
	}
	return nil
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}
