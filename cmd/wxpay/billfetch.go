package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/paysls/wxpay/functions/billfetch"
	"github.com/paysls/wxpay/shared/clock"
	"github.com/paysls/wxpay/shared/store/billstore"
	"github.com/paysls/wxpay/shared/store/storeurl"
)

const billfetchSynopsis = `[--date YYYY-MM-DD] [--to YYYY-MM-DD] [--quiet] [--keys-dir DIR] [--store URL] [--bills URL] [--api-base URL]

Fetches, verifies, keeps and reconciles the daily bills of --date (default: yesterday,
UTC+8), or of every day from --date to --to inclusive (a backfill; WeChat Pay keeps
bills for three months). Without --quiet a progress bar runs on stderr and a summary
table is printed at the end; with --quiet each day's report is one JSON line on stdout
and the job's logs go to stderr as JSON.

It runs against the same bundle as make run: the keys dir .wxpay/sim (or --keys-dir,
$WXPAY_KEYS_DIR), the store and bills beside it, and — for a simulator's keys dir — the
simulator inside wxpay serve. While that serve runs it holds the store, so each day is
run by it (POST /jobs/billfetch?date=…). Without a keys dir the configuration comes from
the environment (WXPAY_*, STORE_URL, BILLS_URL), as the deployed function reads it.`

// maxBackfillDays bounds one backfill: WeChat Pay keeps bills for three months.
const maxBackfillDays = 120

func runBillfetch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("billfetch", billfetchSynopsis, stdout, stderr)
	var (
		from     = fs.String("date", "", "bill `date` YYYY-MM-DD (UTC+8); default yesterday")
		to       = fs.String("to", "", "last `date` of a backfill, inclusive; default --date")
		quiet    = fs.Bool("quiet", false, "no progress bar: one JSON report per day on stdout, logs on stderr")
		keysDir  = fs.String("keys-dir", "", "keys `DIR` (default $WXPAY_KEYS_DIR, else .wxpay/sim when it holds an identity, else the environment)")
		storeURL = fs.String("store", "", "store `URL` (default $STORE_URL, else wxpay.db beside the keys dir, as wxpay serve)")
		billsURL = fs.String("bills", "", "where raw bills are kept: file:///dir or s3://bucket/prefix?endpoint=…&region=… (default $BILLS_URL, else bills/ beside the keys dir)")
		apiBase  = fs.String("api-base", "", "WeChat Pay API `URL` (default: the simulator for a simulator's keys dir, else $WXPAY_API_BASE or WeChat Pay)")
	)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	first, last, err := billDates(*from, *to, time.Now())
	if err != nil {
		return err
	}
	t := resolveJobTarget(*keysDir)
	var runDate func(ctx context.Context, date string) ([]*billfetch.BillReport, error)
	if t.serve != nil && *storeURL == "" && *billsURL == "" && *apiBase == "" {
		fmt.Fprintf(stderr, "wxpay billfetch: run by the wxpay serve at %s, which holds the store\n", t.serve.URL)
		runDate = func(ctx context.Context, date string) ([]*billfetch.BillReport, error) {
			raw, err := runJobAt(ctx, t.serve, t.keysDir, "billfetch", url.Values{"date": {date}})
			var rep struct {
				Bills []*billfetch.BillReport `json:"bills"`
			}
			if len(raw) > 0 {
				_ = json.Unmarshal(raw, &rep)
			}
			return rep.Bills, err
		}
	} else {
		if t.simulator && *apiBase == "" {
			return t.noSimulator("billfetch")
		}
		cfg, err := t.config()
		if err != nil {
			return fmt.Errorf("configuration: %w", err)
		}
		if *apiBase != "" {
			cfg.APIBase = *apiBase
		}
		st, err := storeurl.Open(ctx, t.storeURL(*storeURL))
		if err != nil {
			return err
		}
		defer st.Close()
		bills, err := billstore.Open(ctx, cmp.Or(*billsURL, os.Getenv("BILLS_URL"), "file://"+filepath.Join(t.stateDir, "bills")))
		if err != nil {
			return err
		}
		level := slog.LevelError // the bar owns the terminal; failures still show
		if *quiet {
			level = slog.LevelInfo
		}
		log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level})).With("cmd", "billfetch")
		job, err := billfetch.New(cfg, st, billfetch.Options{Logger: log, Bills: bills, Metrics: io.Discard})
		if err != nil {
			return err
		}
		runDate = func(ctx context.Context, date string) ([]*billfetch.BillReport, error) {
			rep, err := job.RunDate(ctx, date)
			rs, _ := rep["bills"].([]*billfetch.BillReport)
			return rs, err
		}
	}

	days := int(last.Sub(first).Hours()/24) + 1
	var bar *progressbar.ProgressBar
	if !*quiet {
		bar = progressbar.NewOptions(days, progressbar.OptionSetWriter(stderr), progressbar.OptionSetDescription("bills"),
			progressbar.OptionShowCount(), progressbar.OptionSetPredictTime(true), progressbar.OptionClearOnFinish())
	}
	type dayResult struct {
		date    string
		reports []*billfetch.BillReport
		err     error
	}
	var results []dayResult
	failed := 0
	for d := first; !d.After(last); d = d.AddDate(0, 0, 1) {
		if err := ctx.Err(); err != nil {
			return err
		}
		date := d.Format(time.DateOnly)
		if bar != nil {
			bar.Describe("bills " + date)
		}
		rs, runErr := runDate(ctx, date)
		r := dayResult{date: date, err: runErr, reports: rs}
		if runErr != nil {
			failed++
		}
		if *quiet {
			line := map[string]any{"date": date, "bills": r.reports}
			if runErr != nil {
				line["error"] = runErr.Error()
			}
			b, _ := json.Marshal(line)
			fmt.Fprintf(stdout, "%s\n", b)
		} else {
			results = append(results, r)
			_ = bar.Add(1)
		}
	}
	if bar != nil {
		_ = bar.Finish()
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "DATE\tMCHID\tBILL\tSTATUS\tROWS\tMATCHED\tSETTLED\tDISCREPANCIES")
		for _, r := range results {
			for _, b := range r.reports {
				n := 0
				for _, c := range b.Counts {
					n += c
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\n", r.date, b.MchID, b.Type, b.Status, b.Rows, b.Matched, b.Settled, n)
			}
			if r.err != nil && len(r.reports) == 0 {
				fmt.Fprintf(tw, "%s\t-\t-\tfailed\t-\t-\t-\t-\n", r.date)
			}
		}
		tw.Flush()
		for _, r := range results {
			if r.err != nil {
				fmt.Fprintf(stderr, "%s: %v\n", r.date, r.err)
			}
		}
	}
	if failed > 0 {
		fmt.Fprintf(stderr, "wxpay billfetch: %d of %d days failed (reports are stored; a re-run is safe)\n", failed, days)
		return errCheckFailed
	}
	return nil
}

// billDates validates --date/--to: dates before today (UTC+8), first ≤ last, a range
// of at most maxBackfillDays.
func billDates(from, to string, now time.Time) (first, last time.Time, err error) {
	today := now.In(clock.CST).Format(time.DateOnly)
	if from == "" {
		if to != "" {
			return first, last, usagef("--to needs --date")
		}
		from = billfetch.Yesterday(now)
	}
	toFlag := "--to" // the flag a message about the range's end names: the one given
	if to == "" {
		to, toFlag = from, "--date"
	}
	if first, err = time.ParseInLocation(time.DateOnly, from, clock.CST); err != nil {
		return first, last, usagef("--date %q: want YYYY-MM-DD", from)
	}
	if last, err = time.ParseInLocation(time.DateOnly, to, clock.CST); err != nil {
		return first, last, usagef("--to %q: want YYYY-MM-DD", to)
	}
	switch {
	case last.Before(first):
		return first, last, usagef("--to %s is before --date %s", to, from)
	case strings.Compare(to, today) >= 0:
		return first, last, usagef("%s %s: the bill of a day exists from about 10:00 (UTC+8) the next day; the latest is %s", toFlag, to, billfetch.Yesterday(now))
	case last.Sub(first) >= maxBackfillDays*24*time.Hour:
		return first, last, usagef("%s..%s is more than %d days (WeChat Pay keeps bills for three months)", from, to, maxBackfillDays)
	}
	return first, last, nil
}
