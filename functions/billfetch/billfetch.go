// Package billfetch is the daily bill job: it applies for yesterday's trade bill and
// fund-flow bill, downloads each within the 30 s its download_url lives, verifies the
// SHA1 WeChat Pay published over the uncompressed file, keeps the raw file (local
// folder, S3 or COS), parses it as a stream in constant memory, checks its totals block
// against its rows and reconciles every row with the store — settling payments the
// store missed through the payment state machine. It runs through host.RunJob
// (EventBridge Scheduler / SCF timer at 10:30 Asia/Shanghai) and `wxpay billfetch`.
package billfetch

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/paysls/wxpay/shared/clock"
	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/host"
	"github.com/paysls/wxpay/shared/payclient"
	"github.com/paysls/wxpay/shared/payment"
	"github.com/paysls/wxpay/shared/platform"
	"github.com/paysls/wxpay/shared/store"
	"github.com/paysls/wxpay/shared/store/billstore"
	"github.com/paysls/wxpay/shared/wechatpay"
)

// Bill types as they appear in keys and reports.
const (
	TypeTrade    = "trade_all"      // /v3/bill/tradebill, bill_type=ALL
	TypeFundFlow = "fundflow_basic" // /v3/bill/fundflowbill, account_type=BASIC
)

// Statuses of one bill in a report.
const (
	StatusReconciled   = "reconciled"   // downloaded, verified, kept, totals checked, rows reconciled
	StatusNoStatement  = "no_statement" // NO_STATEMENT_EXIST: no transactions that day (normal)
	StatusNotReady     = "not_ready"    // STATEMENT_CREATING: not generated yet, retry later (normal)
	StatusHashMismatch = "hash_mismatch"
	StatusFailed       = "failed"
)

// Options are the job's dependencies beside the configuration.
type Options struct {
	Logger *slog.Logger
	Now    clock.Func
	HTTP   *http.Client
	// Bills keeps the raw files; nil opens BILLS_URL (default: a local folder).
	Bills billstore.Store
	// Metrics receives one CloudWatch EMF JSON line per bill; nil = os.Stdout (Lambda
	// turns stdout EMF lines into metrics). io.Discard turns them off.
	Metrics io.Writer
	// TempDir holds a bill between download and storage ("" = os.TempDir(), /tmp on
	// Lambda and SCF).
	TempDir string
	// Client replaces the WeChat Pay client built from the configuration.
	Client *wechatpay.Client
	// Workers reconcile rows concurrently (default 16).
	Workers int
}

// Job fetches and reconciles the bills of one day.
type Job struct {
	st        store.Store
	ledger    *payment.Ledger
	bills     billstore.Store
	client    *wechatpay.Client
	log       *slog.Logger
	now       clock.Func
	metrics   io.Writer
	tmp       string
	workers   int
	merchants []merchant // whose trade bills to fetch
	api       platform.API
	fundMchID string // whose fund-flow bill (the merchant / service provider itself)
	ecommerce bool   // a platform: its sub-merchants' encrypted fund bills too

	// beforeDownload runs between applying for a bill and downloading it (tests let
	// the download_url lapse there).
	beforeDownload func(billType string, attempt int)
}

type merchant struct {
	mchid  string
	client *wechatpay.Client
	// all: the platform's full bill, every sub-merchant's rows (platform.go).
	all bool
	// sp: in partner mode, the service provider, under whose bill day listings the
	// sub-merchant's payments wait (the account paid).
	sp string
	// others: on the configured sub-merchant, the other sub-merchants whose bills a run
	// fetches for the day (BillReport.SubMerchants).
	others []string
}

// New builds the job. It does no network I/O.
func New(cfg config.Config, st store.Store, opts Options) (*Job, error) {
	if st == nil {
		return nil, errors.New("billfetch: a store is required")
	}
	j := &Job{st: st, bills: opts.Bills, log: opts.Logger, now: clock.Or(opts.Now), metrics: opts.Metrics, tmp: opts.TempDir, workers: opts.Workers}
	j.ledger = &payment.Ledger{Store: st, Now: j.now, Merchants: []string{cfg.MchID}, Partner: cfg.Bundle.Partner, RefundLatePayments: cfg.Bundle.RefundLatePayments}
	if j.workers <= 0 {
		j.workers = 16
	}
	if j.log == nil {
		j.log = slog.New(slog.NewJSONHandler(os.Stderr, nil)).With("function", "billfetch")
	}
	j.ledger.Log = j.log
	if j.metrics == nil {
		j.metrics = os.Stdout
	}
	if j.bills == nil {
		b, err := billstore.Open(context.Background(), os.Getenv("BILLS_URL"))
		if err != nil {
			return nil, fmt.Errorf("billfetch: BILLS_URL: %w", err)
		}
		j.bills = b
	}
	j.client = opts.Client
	if j.client == nil {
		hc := opts.HTTP
		if hc == nil {
			hc = &http.Client{Timeout: 30 * time.Second} // a bill download may be large
		}
		c, err := payclient.New(cfg, st, nil, payclient.Options{HTTP: hc})
		if err != nil {
			return nil, fmt.Errorf("billfetch: %w", err)
		}
		j.client = c
	}
	j.api = platform.API{Client: j.client, Mode: cfg.Bundle.ModeName()}
	if cfg.Bundle.Ecommerce() {
		// A platform's sub-merchants are many: one bill lists them all (platform.go).
		// Without sub_mchid (a client made with a default sub-merchant would send it and
		// get that one sub-merchant's bill only).
		j.merchants = []merchant{{mchid: cfg.MchID, client: j.client.ForSub("", ""), all: true}}
		j.fundMchID, j.ecommerce = cfg.MchID, true
	} else if cfg.Bundle.Partner {
		if cfg.Bundle.SubMchID == "" {
			return nil, fmt.Errorf("billfetch: partner mode (%s=partner or %s=1) needs %s: the sub-merchant whose bills to fetch", config.EnvMode, config.EnvPartner, config.EnvSubMchID)
		}
		j.merchants = []merchant{{mchid: cfg.Bundle.SubMchID, client: j.client.ForSub(cfg.Bundle.SubMchID, cfg.Bundle.SubAppID), sp: cfg.MchID}}
		j.fundMchID = cfg.MchID
	} else {
		j.merchants = []merchant{{mchid: cfg.MchID, client: j.client}}
		j.fundMchID = cfg.MchID
	}
	if j.fundMchID == "" {
		return nil, fmt.Errorf("billfetch: %s is not set", config.EnvMchID)
	}
	return j, nil
}

// Yesterday is the bill date a run at now fetches: the day before now in UTC+8.
func Yesterday(now time.Time) string {
	return now.In(clock.CST).AddDate(0, 0, -1).Format(time.DateOnly)
}

// Run is the scheduled entry point: the bills of yesterday (UTC+8).
func (j *Job) Run(ctx context.Context, now time.Time) (host.Report, error) {
	return j.RunDate(ctx, Yesterday(now))
}

// RunDate fetches and reconciles the bills of date (YYYY-MM-DD, UTC+8). "No bill" and
// "not ready yet" are reported, not errors; a hash mismatch, a totals mismatch or a
// failure is an error, after the report of every bill was written.
func (j *Job) RunDate(ctx context.Context, date string) (host.Report, error) {
	day, err := time.ParseInLocation(time.DateOnly, date, clock.CST)
	if err != nil {
		return nil, fmt.Errorf("billfetch: date %q: want YYYY-MM-DD", date)
	}
	var reports []*BillReport
	var errs []error
	merchants, err := j.merchantsOf(ctx, day) // platform.go
	if err != nil {
		errs = append(errs, err)
	}
	for _, m := range merchants {
		r, err := j.tradeBill(ctx, m, day)
		reports = append(reports, r)
		errs = append(errs, err)
	}
	r, err := j.fundFlowBill(ctx, day)
	reports = append(reports, r)
	errs = append(errs, err)
	if j.ecommerce { // a platform's sub-merchant fund bills (fundbill.go)
		r, err := j.subFundBill(ctx, day)
		reports = append(reports, r)
		errs = append(errs, err)
	}
	out := host.Report{"date": date, "bills": reports}
	return out, errors.Join(errs...)
}

// download applies for a bill and downloads it into a gzip-compressed temporary file,
// verifying the hash over the uncompressed bill. A lapsed download_url (WeChat Pay
// answers INVALID_REQUEST, 下载地址已过期) or a hash mismatch is retried once with a
// fresh application. status is set for the normal "no bill" / "not ready" outcomes.
func (j *Job) download(ctx context.Context, billType string, apply func() (*wechatpay.BillResponse, error), client *wechatpay.Client) (f *os.File, size int64, bill *wechatpay.BillResponse, status string, err error) {
	for attempt := 0; attempt < 2; attempt++ {
		bill, err = apply()
		switch {
		case wechatpay.IsCode(err, wechatpay.CodeNoStatementExist):
			return nil, 0, nil, StatusNoStatement, nil
		case wechatpay.IsCode(err, wechatpay.CodeStatementCreating):
			return nil, 0, nil, StatusNotReady, nil
		case err != nil:
			return nil, 0, nil, StatusFailed, err
		}
		if j.beforeDownload != nil {
			j.beforeDownload(billType, attempt)
		}
		f, size, err = j.downloadOnce(ctx, client, bill)
		if err == nil {
			return f, size, bill, "", nil
		}
		var apiErr *wechatpay.APIError
		lapsed := errors.As(err, &apiErr) && apiErr.StatusCode >= 400 && apiErr.StatusCode < 500
		if !lapsed && !errors.Is(err, wechatpay.ErrBillHash) {
			return nil, 0, nil, StatusFailed, err
		}
		j.log.Warn("bill download failed; applying again", "bill_type", billType, "attempt", attempt+1, "error", err.Error())
	}
	if errors.Is(err, wechatpay.ErrBillHash) {
		return nil, 0, bill, StatusHashMismatch, err
	}
	return nil, 0, nil, StatusFailed, err
}

func (j *Job) downloadOnce(ctx context.Context, client *wechatpay.Client, bill *wechatpay.BillResponse) (*os.File, int64, error) {
	// Compressed again on the way to disk (the hash is checked on the uncompressed
	// stream by DownloadBill): /tmp holds a fifth of the bill, not all of it.
	f, err := os.CreateTemp(j.tmp, "wxpay-bill-*.csv.gz")
	if err != nil {
		return nil, 0, fmt.Errorf("billfetch: temporary file: %w", err)
	}
	os.Remove(f.Name()) // unlinked: it disappears with the handle, whatever happens
	zw, _ := gzip.NewWriterLevel(f, gzip.BestSpeed)
	n, err := client.DownloadBill(ctx, *bill, true, zw)
	if err == nil {
		err = zw.Close()
	}
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, n, nil
}

// keep stores the verified file unless the same file (same hash) is already there.
func (j *Job) keep(ctx context.Context, k billstore.Key, f *os.File, bill *wechatpay.BillResponse, size, rows int64) error {
	if m, err := j.bills.Stat(ctx, k); err == nil && strings.EqualFold(m.HashValue, bill.HashValue) {
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
	return j.bills.Put(ctx, k, f, st.Size(), billstore.Meta{HashType: strings.ToUpper(bill.HashType), HashValue: strings.ToLower(bill.HashValue), Size: size, Rows: rows})
}
