package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// serveUntilDone serves h on ln until ctx ends (Ctrl-C, SIGTERM), then shuts down
// gracefully. beforeShutdown runs first: the simulator's Close releases requests held
// open by a hang fault, which Shutdown would otherwise wait for.
func serveUntilDone(ctx context.Context, ln net.Listener, h http.Handler, beforeShutdown func()) error {
	srv := newHTTPServer(h)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	if beforeShutdown != nil {
		beforeShutdown()
	}
	shCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shCtx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// Time limits of the local server. WeChat Pay gives a notify_url 5 s; notify answers
// within its own 4 s budget, and no client may hold a connection by sending its headers
// or body slowly, or by idling on a keep-alive connection. WriteTimeout is generous:
// POST /jobs/{name} answers when its job is done.
var serverTimeouts = struct {
	ReadHeader, Read, Write, Idle time.Duration
}{ReadHeader: 5 * time.Second, Read: 15 * time.Second, Write: 2 * time.Minute, Idle: 60 * time.Second}

// newHTTPServer is the local server of h with serverTimeouts.
func newHTTPServer(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: serverTimeouts.ReadHeader, ReadTimeout: serverTimeouts.Read,
		WriteTimeout: serverTimeouts.Write, IdleTimeout: serverTimeouts.Idle, MaxHeaderBytes: 64 << 10}
}
