package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/paysls/wxpay/functions/reconcile"
	"github.com/paysls/wxpay/shared/store/storeurl"
)

const reconcileSynopsis = `[--keys-dir DIR] [--store URL] [--api-base URL]

Runs one reconcile pass now, as the scheduled function does: queries the orders and
refunds that are due, closes what expired, delivers owed merchant events, and prints
the report as JSON. Configuration comes from --keys-dir or the environment (WXPAY_*,
STORE_URL). A bbolt store is used by one process at a time: while 'wxpay serve' runs,
ask it instead — curl -X POST -H "Authorization: Bearer $(cat .wxpay/sim/api_token)" http://127.0.0.1:8080/jobs/reconcile`

func runReconcile(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("reconcile", reconcileSynopsis, stderr)
	keysDir := fs.String("keys-dir", "", "read the configuration from keys `DIR` instead of the environment")
	storeURL := fs.String("store", os.Getenv("STORE_URL"), "store `URL` (bolt:///path, dynamodb://TABLE?…, redis://…)")
	apiBase := fs.String("api-base", "", "WeChat Pay API base `URL` (e.g. the simulator's http://127.0.0.1:8080)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, _, err := loadConfig(*keysDir)
	if err != nil {
		return err
	}
	if *apiBase != "" {
		cfg.APIBase = *apiBase
	}
	st, err := storeurl.Open(ctx, *storeURL)
	if err != nil {
		return err
	}
	defer st.Close()
	log := slog.New(slog.NewJSONHandler(stderr, nil)).With("function", "reconcile")
	job, err := reconcile.New(cfg, st, reconcile.Options{Logger: log, AllowLoopbackNotifyURL: *apiBase != ""})
	if err != nil {
		return err
	}
	rep, err := job.Pass(ctx, nowFunc())
	b, _ := json.MarshalIndent(rep, "", "  ")
	fmt.Fprintf(stdout, "%s\n", b)
	return err
}
