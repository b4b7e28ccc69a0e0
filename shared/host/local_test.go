package host

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"
)

func TestServeListenerGracefulShutdown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	entered := make(chan struct{})
	release := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(entered)
			<-release
		}
		_, _ = io.WriteString(w, "ok "+r.RemoteAddr)
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- serveListener(ctx, ln, h, slog.New(slog.NewJSONHandler(io.Discard, nil))) }()

	client := &http.Client{Timeout: 5 * time.Second}
	base := "http://" + ln.Addr().String()
	resp, err := client.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}

	// A request in flight when the stop signal comes must still complete.
	slow := make(chan error, 1)
	go func() {
		resp, err := client.Get(base + "/slow")
		if err == nil {
			_ = resp.Body.Close()
		}
		slow <- err
	}()
	select {
	case <-entered:
	case <-time.After(5 * time.Second):
		t.Fatal("slow request never arrived")
	}
	cancel()
	time.Sleep(50 * time.Millisecond) // let Shutdown close the listener first
	close(release)
	if err := <-slow; err != nil {
		t.Errorf("in-flight request cut off: %v", err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serveListener: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("server did not stop")
	}
	if _, err := client.Get(base + "/"); err == nil {
		t.Error("server still accepts connections after shutdown")
	}
}

func TestListenAndServeReportsBadAddr(t *testing.T) {
	if err := ListenAndServe("127.0.0.1:notaport", http.NotFoundHandler(), slog.New(slog.NewJSONHandler(io.Discard, nil))); err == nil {
		t.Error("want a listen error")
	}
}

// A client that trickles its headers or body, or idles on a keep-alive
// connection, is cut by the server rather than holding a connection forever.
func TestServerTimeouts(t *testing.T) {
	srv := newServer(http.NotFoundHandler())
	if srv.ReadHeaderTimeout <= 0 || srv.ReadHeaderTimeout > 5*time.Second {
		t.Errorf("ReadHeaderTimeout %v: WeChat Pay waits 5 s for an answer", srv.ReadHeaderTimeout)
	}
	if srv.ReadTimeout <= 0 || srv.WriteTimeout <= srv.ReadTimeout || srv.IdleTimeout <= 0 {
		t.Errorf("timeouts read %v write %v idle %v", srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	slow := newServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	slow.ReadHeaderTimeout, slow.ReadTimeout, slow.IdleTimeout = 200*time.Millisecond, 400*time.Millisecond, 300*time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- func() error {
			go func() { <-ctx.Done(); _ = slow.Close() }()
			return slow.Serve(ln)
		}()
	}()
	defer func() { cancel(); <-done }()

	cutWithin := func(name, send string, within time.Duration) {
		t.Helper()
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := io.WriteString(c, send); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = io.ReadAll(c) // returns when the server closes the connection
		if d := time.Since(start); err != nil || d > within {
			t.Errorf("%s: connection held %v (err %v), want it closed within %v", name, d, err, within)
		}
	}
	cutWithin("slow headers", "POST /notify HTTP/1.1\r\nHost: x\r\n", 2*time.Second)
	cutWithin("slow body", "POST /notify HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"a\":", 2*time.Second)
	cutWithin("idle keep-alive", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 2*time.Second)
}
