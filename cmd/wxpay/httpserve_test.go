package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Defect 4, the server side: slow headers, a stalled body and an idle keep-alive
// connection are cut by the server's time limits (they used to be held forever).
func TestLocalServerCutsSlowAndIdleConnections(t *testing.T) {
	if serverTimeouts.ReadHeader > 5*time.Second || serverTimeouts.Read == 0 || serverTimeouts.Idle == 0 || serverTimeouts.Write == 0 {
		t.Fatalf("server time limits = %+v", serverTimeouts)
	}
	saved := serverTimeouts
	t.Cleanup(func() { serverTimeouts = saved })
	serverTimeouts.ReadHeader, serverTimeouts.Read, serverTimeouts.Idle = 200*time.Millisecond, 400*time.Millisecond, 300*time.Millisecond

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- serveUntilDone(ctx, ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			w.WriteHeader(http.StatusNoContent)
		}), nil)
	}()
	t.Cleanup(func() { cancel(); <-done })
	addr := ln.Addr().String()

	closedWithin := func(name string, c net.Conn, limit time.Duration) {
		t.Helper()
		c.SetReadDeadline(time.Now().Add(limit))
		start := time.Now()
		_, err := io.Copy(io.Discard, c)
		if err != nil && strings.Contains(err.Error(), "timeout") {
			t.Fatalf("%s: connection still open after %v", name, limit)
		}
		t.Logf("%s: closed by the server after %v", name, time.Since(start).Round(10*time.Millisecond))
	}

	slowHeaders, _ := net.Dial("tcp", addr)
	slowHeaders.Write([]byte("POST /notify HTTP/1.1\r\nHost: x\r\n"))
	closedWithin("slow headers", slowHeaders, 2*time.Second)

	stalledBody, _ := net.Dial("tcp", addr)
	stalledBody.Write([]byte("POST /notify HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"id\":"))
	closedWithin("stalled body", stalledBody, 2*time.Second)

	idle, _ := net.Dial("tcp", addr)
	idle.Write([]byte("POST /notify HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"))
	resp, err := http.ReadResponse(bufio.NewReader(idle), nil)
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("keep-alive request: %v %v", resp, err)
	}
	closedWithin("idle keep-alive", idle, 2*time.Second)
}
