package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"

	"github.com/paysls/wxpay/functions/reconcile"
	"github.com/paysls/wxpay/shared/store/storeurl"
)

const reconcileSynopsis = `[--keys-dir DIR] [--store URL] [--api-base URL]

Runs one reconcile pass now, as the scheduled function does: queries the orders and
refunds that are due, closes what expired, delivers owed merchant events, and prints
the report as JSON.

It runs against the same bundle as make run: the keys dir .wxpay/sim (or --keys-dir,
$WXPAY_KEYS_DIR), the store beside it, and — for a simulator's keys dir — the simulator
inside wxpay serve. While that serve runs it holds the store (bbolt admits one process),
so the pass is run by it (POST /jobs/reconcile). Without a keys dir the configuration
comes from the environment (WXPAY_*, STORE_URL), as the deployed function reads it.`

func runReconcile(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("reconcile", reconcileSynopsis, stdout, stderr)
	keysDir := fs.String("keys-dir", "", "keys `DIR` (default $WXPAY_KEYS_DIR, else .wxpay/sim when it holds an identity, else the environment)")
	storeURL := fs.String("store", "", "store `URL` (bolt:///path, dynamodb://TABLE?…, redis://…) (default $STORE_URL, else wxpay.db beside the keys dir, as wxpay serve)")
	apiBase := fs.String("api-base", "", "WeChat Pay API base `URL` (default: the simulator for a simulator's keys dir, else $WXPAY_API_BASE or WeChat Pay)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	t := resolveJobTarget(*keysDir)
	if t.serve != nil && *storeURL == "" && *apiBase == "" {
		rep, err := runJobAt(ctx, t.serve, t.keysDir, "reconcile", nil)
		fmt.Fprintf(stderr, "wxpay reconcile: run by the wxpay serve at %s, which holds the store\n", t.serve.URL)
		if len(rep) > 0 {
			var v any
			if json.Unmarshal(rep, &v) == nil {
				rep, _ = json.MarshalIndent(v, "", "  ")
			}
			fmt.Fprintf(stdout, "%s\n", rep)
		}
		return err
	}
	if t.simulator && *apiBase == "" {
		return t.noSimulator("reconcile")
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
	log := slog.New(slog.NewJSONHandler(stderr, nil)).With("function", "reconcile")
	job, err := reconcile.New(cfg, st, reconcile.Options{Logger: log, AllowLoopbackNotifyURL: t.simulator || *apiBase != ""})
	if err != nil {
		return err
	}
	rep, err := job.Pass(ctx, nowFunc())
	b, _ := json.MarshalIndent(rep, "", "  ")
	fmt.Fprintf(stdout, "%s\n", b)
	return err
}
