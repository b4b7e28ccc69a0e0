package runtime

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
	if err := listenAndServe("127.0.0.1:notaport", http.NotFoundHandler(), slog.New(slog.NewJSONHandler(io.Discard, nil))); err == nil {
		t.Error("want a listen error")
	}
}
