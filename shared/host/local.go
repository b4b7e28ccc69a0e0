package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// shutdownGrace bounds how long in-flight requests may finish after a stop
// signal; a notification cut off mid-write is simply retried by WeChat Pay.
const shutdownGrace = 10 * time.Second

// DefaultAddr is where LocalHTTP listens when given no address. Loopback only: a
// developer's payment backend should not face the LAN by default.
const DefaultAddr = "127.0.0.1:8080"

// LocalHTTP serves an HTTP function as a plain server on addr (DefaultAddr when
// ""): a developer machine, a container, any host. It returns after a graceful
// shutdown on SIGINT or SIGTERM.
func LocalHTTP(addr string) Platform {
	if addr == "" {
		addr = DefaultAddr
	}
	return Platform{Build: "local", Serve: func(h http.Handler, log *slog.Logger) error {
		return ListenAndServe(addr, h, log)
	}}
}

// LocalJobs runs a job once with the clock's time, prints its report as JSON on
// stdout and returns the job's error.
func LocalJobs() Platform {
	return Platform{Build: "local", Run: func(job Job, log *slog.Logger) error {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return runLocalJob(ctx, job, os.Stdout, log, time.Now)
	}}
}

// ListenAndServe serves h on addr until SIGINT or SIGTERM, with the server timeouts
// below; the local and SCF web platforms use it.
func ListenAndServe(addr string, h http.Handler, log *slog.Logger) error {
	ln, err := Listen(addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return serveListener(ctx, ln, h, log)
}

// Listen is the TCP listener of the local, SCF web and SCF event platforms. It is
// plain TCP: Go's net.Listen asks the kernel for Multipath TCP first (Go 1.24+), a
// socket that costs 60-80 us more to make on a kernel that has it — a cold start's
// cost — and gives nothing to SCF's proxy, which connects from the same host.
func Listen(addr string) (net.Listener, error) {
	var lc net.ListenConfig
	lc.SetMultipathTCP(false)
	return lc.Listen(context.Background(), "tcp", addr)
}

// Server timeouts of the local and SCF web listener. WeChat Pay gives a
// notification 5 s to be answered (then retries it), and the order API's callers
// send small JSON bodies, so a client that has not sent its headers within 5 s or
// its whole body within 10 s is cut rather than allowed to pin a connection and
// a goroutine; idle keep-alive connections are dropped after 30 s. WriteTimeout
// bounds a whole handler run plus the write: it must outlast the handlers' own
// outbound deadlines (a WeChat Pay call, a store write), hence 30 s.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 30 * time.Second
)

// newServer is the http.Server every listener here uses.
func newServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    64 << 10,
	}
}

// serveListener serves h on ln until ctx ends, then shuts down gracefully.
func serveListener(ctx context.Context, ln net.Listener, h http.Handler, log *slog.Logger) error {
	srv := newServer(h)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("listening", "addr", ln.Addr().String())

	select {
	case err := <-errc:
		return fmt.Errorf("serve on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}

	log.Info("shutting down", "grace", shutdownGrace.String())
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("graceful shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve on %s: %w", ln.Addr(), err)
	}
	return nil
}
