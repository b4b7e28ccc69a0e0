// Package host starts a function: one plain Go handler (an http.Handler, or a Job for
// scheduled functions) served on the platform its main chose, with the configuration,
// store, secret stores and event sink its main put into the binary.
//
// What a binary contains is decided by its main, as in caddy's cmd: each of a
// function's mains (functions/<fn>/cmd/<build>) names its platform adapter and lists
// its store drivers, secret sources and event sinks in a Build, and imports exactly
// those packages; the linker leaves out the rest. Nothing registers itself, and
// nothing is guessed from the environment at run time. The builds:
//
//	lambda    AWS Lambda (shared/host/awslambda): DynamoDB, bbolt; Secrets Manager/SSM;
//	          webhook or EventBridge; AWS credentials from the Lambda environment only
//	scfweb    Tencent SCF web function, HTTP on :9000 (shared/host/scfweb): Redis, bbolt;
//	          Tencent Cloud SSM; webhook
//	scfevent  Tencent SCF event function on the Go1 runtime (shared/host/scfevent):
//	          timer events for jobs, API gateway / function URL events for HTTP; as scfweb
//	local     a plain server, or one run of a job (LocalHTTP, LocalJobs): every store,
//	          secret source and sink, AWS credentials through the SDK's default chain
//
// A setting a build cannot honour — STORE_URL=dynamodb://… in an SCF build,
// WXPAY_SECRET_ARN or WXPAY_EVENT_BUS without AWS — stops it at start-up with one line
// naming the setting and the builds that have it (settings.go), instead of being
// ignored. On Lambda that line also goes to the Runtime API's init-error endpoint, so
// the console shows it.
//
// Request conventions on every platform:
//   - the body is exactly the bytes the client sent: gateway base64 bodies are
//     decoded, never re-encoded or re-marshalled (signatures cover these bytes);
//   - r.RemoteAddr is the gateway's source IP (a bare IP on Lambda and SCF,
//     "ip:port" locally; on an SCF web function only under TRUSTED_PROXIES, see
//     scfweb), and X-Forwarded-For is left exactly as sent, so a handler that needs
//     the real client IP can choose which one to trust.
package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"

	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/events"
	"github.com/paysls/wxpay/shared/store"
)

// Build is what a main put into its binary.
type Build struct {
	// Function is the function's name ("notify"): its logs and messages carry it.
	Function string
	// Platform serves the function (awslambda.HTTP(), scfweb.HTTP(), LocalJobs(), …).
	Platform Platform
	// Stores open STORE_URL (boltstore.URL, dynamostore.URL(…), redisstore.URL).
	Stores []store.Driver
	// Secrets are read over the environment and the keys dir (secrets.Source(…)).
	Secrets []config.SecretSource
	// Sinks deliver merchant events (events.WebhookSink, eventbridge.Sink(…)); only
	// functions that deliver events (notify, reconcile, createorder's console) list
	// any, and only they have Env.Sink and have the sink settings checked.
	Sinks []events.SinkDriver
}

// Platform serves a function on one platform. The adapter packages make them:
// awslambda.HTTP and Jobs, scfweb.HTTP, scfevent.HTTP and Jobs, LocalHTTP, LocalJobs.
type Platform struct {
	// Build is the folder of the mains that serve this platform
	// (functions/<fn>/cmd/<Build>): "lambda", "scfweb", "scfevent" or "local".
	Build string
	// Ready checks the platform's own contract before anything else is read (the
	// Lambda Runtime API's address, SCF's event port); nil: nothing to check.
	Ready func(getenv func(string) string) error
	// Serve serves an HTTP function; nil on a platform that runs jobs only. It
	// returns only when a server stops (local, SCF web).
	Serve func(h http.Handler, log *slog.Logger) error
	// Run runs a scheduled function; nil on a platform that serves HTTP only.
	Run func(job Job, log *slog.Logger) error
	// Failed tells the platform that the start failed, before the process exits 1
	// (Lambda's init-error endpoint); nil: the log line is the report.
	Failed func(err error)
}

// Env is what a function is built from.
type Env struct {
	Config config.Config
	Store  store.Store
	// Sink is where merchant events go: the sink the settings name among the
	// Build's Sinks; nil when none is configured (events are then recorded and
	// listed, not sent) or when the Build lists none.
	Sink events.Sink
	Log  *slog.Logger
}

// ServeHTTP starts an HTTP function: it checks the settings against b, reads the
// configuration, opens the store and the sink, builds the handler and serves it on
// b.Platform. It returns only when a local or web server has shut down; a failed
// start logs one line, tells the platform and exits 1.
func ServeHTTP(b Build, handler func(Env) (http.Handler, error)) {
	launch(b, b.Platform.Serve == nil, func(env Env) error {
		h, err := handler(env)
		if err != nil {
			return startError{err}
		}
		return b.Platform.Serve(h, env.Log)
	})
}

// RunJob starts a scheduled function as ServeHTTP starts an HTTP one: on Lambda and
// SCF it serves invocations and never returns; locally it runs the job once.
func RunJob(b Build, job func(Env) (Job, error)) {
	launch(b, b.Platform.Run == nil, func(env Env) error {
		j, err := job(env)
		if err != nil {
			return startError{err}
		}
		return b.Platform.Run(j, env.Log)
	})
}

// startError marks a failure before the platform took over: it is reported to the
// platform (Lambda's init error), unlike an error of a server that ran.
type startError struct{ error }

func (e startError) Unwrap() error { return e.error }

func launch(b Build, wrongKind bool, serve func(Env) error) {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil)).With("function", b.Function)
	if wrongKind {
		// A main that pairs an HTTP function with a jobs-only platform (or the
		// reverse): a programming error, caught by the first test that starts it.
		log.Error(b.Function+" stopped", "error", fmt.Sprintf("the %s platform does not serve this kind of function", b.Platform.Build))
		os.Exit(2)
	}
	err := run(b, os.Getenv, os.Environ(), log, serve)
	if err == nil {
		return
	}
	log.Error(b.Function+" stopped", "error", err.Error())
	if se := (startError{}); errors.As(err, &se) && b.Platform.Failed != nil {
		b.Platform.Failed(se.error)
	}
	os.Exit(1)
}

// run starts b; an error before serve is a startError.
func run(b Build, getenv func(string) string, environ []string, log *slog.Logger, serve func(Env) error) error {
	env, err := start(b, getenv, environ, log)
	if err != nil {
		return startError{err}
	}
	defer env.Store.Close()
	return serve(env)
}

// start does what every function needs before its own part, in the order that lets
// a misconfigured build fail fastest: the platform's contract, the settings this
// build cannot honour, the configuration (and its secret stores), the store (with the
// secret's store_password), the sink.
func start(b Build, getenv func(string) string, environ []string, log *slog.Logger) (Env, error) {
	if b.Platform.Ready != nil {
		if err := b.Platform.Ready(getenv); err != nil {
			return Env{}, fmt.Errorf("this build (%s): %w", b.path(b.Platform.Build), err)
		}
	}
	if err := checkSettings(b, getenv, environ); err != nil {
		return Env{}, err
	}
	cfg, err := config.FromEnv(b.Secrets...)
	if err != nil {
		return Env{}, err
	}
	storeURL, err := withStorePassword(getenv(envStoreURL), cfg.StorePassword)
	if err != nil {
		return Env{}, err
	}
	ctx := context.Background()
	st, err := store.OpenURL(ctx, storeURL, b.Stores...)
	if err != nil {
		return Env{}, err
	}
	env := Env{Config: cfg, Store: st, Log: log}
	if len(b.Sinks) > 0 {
		env.Sink, err = events.SinkFromConfig(ctx, cfg.Bundle, nil, b.Sinks...)
		if errors.Is(err, events.ErrNoSink) {
			err = nil
		}
		if err != nil {
			st.Close()
			return Env{}, err
		}
	}
	return env, nil
}
