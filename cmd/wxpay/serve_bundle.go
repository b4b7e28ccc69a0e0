package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"time"

	"github.com/paysls/wxpay/functions/billfetch"
	"github.com/paysls/wxpay/functions/notify"
	"github.com/paysls/wxpay/functions/reconcile"
	"github.com/paysls/wxpay/shared/apiauth"
	"github.com/paysls/wxpay/shared/clock"
	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/host"
	"github.com/paysls/wxpay/shared/store/billstore"
)

// `wxpay serve` is the whole bundle: beside the HTTP functions it runs the scheduled
// ones as the platforms would (reconcile every few minutes, billfetch daily at 10:30
// Asia/Shanghai) and on POST /jobs/{name}; in simulator mode every function follows
// the simulator's virtual clock, so POST /sim/clock {"advance":"2h"} then POST
// /jobs/reconcile shows expiry, the query schedule and deferred closes in seconds.

// Job cadence under serve. reconcile is due every minute of business time (the
// deployed schedule is 5 minutes; locally a newcomer should not wait), checked every
// jobTick of real time, so an advanced virtual clock is caught up on the next tick.
const (
	jobTick        = 5 * time.Second
	reconcileEvery = time.Minute
)

// configureServeSimulator points the bundle's WeChat endpoints at this server: OAuth
// (the simulator serves /connect/oauth2/authorize and /sns/oauth2/access_token), the
// public URL of cashier links, and notify_url.
func configureServeSimulator(cfg *config.Config, o serveOptions) {
	base := o.apiBase
	if base == "" {
		return
	}
	// The code a user gets from the simulator's OAuth is exchanged at the simulator.
	cfg.Bundle.OAuthBase, cfg.Bundle.OAuthAuthorizeBase = base, base
	cfg.Sources["OAuthBase"], cfg.Sources["OAuthAuthorizeBase"] = sourceSimulator, sourceSimulator
	if cfg.Bundle.PublicURL == "" {
		cfg.Bundle.PublicURL = base
		cfg.Sources["PublicURL"] = sourceSimulator
	}
	if cfg.NotifyURL == "" {
		cfg.NotifyURL = base + "/notify"
		cfg.Sources["NotifyURL"] = sourceSimulator
	}
}

// followClock makes notify's ledger and its event deliveries use the bundle's clock:
// an event's due time is written on business time and must be judged on it.
func followClock(nh *notify.Handler, now clock.Func) {
	nh.Ledger.Now = now
	if nh.Deliverer != nil {
		nh.Deliverer.Now = now
	}
}

// mountJobs builds reconcile and billfetch on the bundle's store and clock, starts
// their timer and mounts POST /jobs/{name}. In live mode without merchant credentials
// the jobs cannot call WeChat Pay: they are left out, and the banner says why.
func (b *bundle) mountJobs(mux *http.ServeMux, cfg config.Config, o serveOptions, log *slog.Logger) ([]string, error) {
	now := b.clock()
	b.jobs = newJobSet(now, log.With("component", "jobs"))
	simulated := b.sim != nil
	rj, err := reconcile.New(cfg, b.store, reconcile.Options{Logger: log.With("function", "reconcile"), Now: now, AllowLoopbackNotifyURL: simulated})
	if err != nil {
		if simulated {
			return nil, err
		}
		log.Warn("reconcile not scheduled: the merchant configuration cannot call WeChat Pay", "error", err.Error())
	} else {
		b.jobs.add("reconcile", every(reconcileEvery), func(ctx context.Context, _ url.Values, now time.Time) (host.Report, error) {
			return rj.Run(ctx, now)
		})
	}
	// EMF metric lines are for CloudWatch; locally the job log carries the same numbers.
	opts := billfetch.Options{Logger: log.With("function", "billfetch"), Now: now, Metrics: io.Discard}
	if simulated {
		// Bills kept beside the store, not in the user's data dir.
		bills, err := billstore.Open(context.Background(), "file://"+filepath.Join(o.stateDir(), "bills"))
		if err != nil {
			return nil, err
		}
		opts.Bills = bills
	}
	bj, err := billfetch.New(cfg, b.store, opts)
	if err != nil {
		if simulated {
			return nil, err
		}
		log.Warn("billfetch not scheduled", "error", err.Error())
	} else {
		b.jobs.add("billfetch", dailyAt(10, 30, clock.CST), func(ctx context.Context, q url.Values, now time.Time) (host.Report, error) {
			if d := q.Get("date"); d != "" {
				day, err := time.ParseInLocation(time.DateOnly, d, clock.CST)
				if err != nil {
					return nil, badInput{fmt.Errorf("date %s: want YYYY-MM-DD", apiauth.Echo(d))}
				}
				if err := billableDay(day, now); err != nil {
					return nil, badInput{err}
				}
				return bj.RunDate(ctx, d)
			}
			return bj.Run(ctx, now)
		})
	}
	if len(b.jobs.jobs) == 0 {
		return nil, nil
	}
	token := cfg.Bundle.APIToken.Reveal()
	if b.token != "" {
		token = []byte(b.token)
	}
	mux.Handle("POST /jobs/{name}", b.jobs.handler(token))
	b.stopJobs = b.jobs.start(jobTick)
	return []string{"POST /jobs/{name} (" + joinNames(b.jobs.names()) + "; billfetch takes ?date=YYYY-MM-DD)"}, nil
}

// billableDay refuses a bill date WeChat Pay has no bill for, whatever is asked: a day
// not over yet (a future one answered 200 "not_ready", as if it would come) or one
// beyond its three months (answered 500 JOB_FAILED, "breaks a business rule for the
// order's current state").
func billableDay(day, now time.Time) error {
	n := now.In(clock.CST)
	today := time.Date(n.Year(), n.Month(), n.Day(), 0, 0, 0, 0, clock.CST)
	switch {
	case !day.Before(today):
		return fmt.Errorf("date %s is not over yet (today is %s, +08:00): a day's bill is ready from 10:00 the next day", day.Format(time.DateOnly), today.Format(time.DateOnly))
	case day.Before(today.AddDate(0, -3, 0)):
		return fmt.Errorf("date %s is more than three months ago: WeChat Pay keeps bills for three months (仅支持三个月内的账单)", day.Format(time.DateOnly))
	}
	return nil
}

// badInput marks a job error caused by the request (answered 400).
type badInput struct{ error }

func (badInput) BadInput() bool  { return true }
func (e badInput) Unwrap() error { return e.error }
