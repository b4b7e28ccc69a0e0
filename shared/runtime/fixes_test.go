//go:build !wxpay_noaws

package runtime

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"
)

func scfEcho(t *testing.T, ev map[string]any) echo {
	t.Helper()
	raw, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	res := invokeSCF(t, echoHandler, raw)
	var e echo
	if err := json.Unmarshal(res.body, &e); err != nil {
		t.Fatalf("echo: %v: %s", err, res.body)
	}
	return e
}

func TestSCFRemoteAddrWithPort(t *testing.T) {
	for addr, want := range map[string]string{
		"111.206.96.145":        "111.206.96.145",
		"111.206.96.145:51234":  "111.206.96.145",
		"2001:db8::1":           "2001:db8::1",
		"[2001:db8::1]:51234":   "2001:db8::1",
		" 111.206.96.145:443 ":  "111.206.96.145",
		"not-an-address":        "not-an-address", // left for the handler to reject
		"[2001:db8::1%eth0]:80": "2001:db8::1%eth0",
	} {
		e := scfEcho(t, map[string]any{"httpMethod": "GET", "path": "/", "headers": map[string]any{"x-scf-remote-addr": addr}})
		if e.RemoteAddr != want {
			t.Errorf("x-scf-remote-addr %q: RemoteAddr %q, want %q", addr, e.RemoteAddr, want)
		}
	}
	// API gateway's requestContext.sourceIp gets the same treatment.
	e := scfEcho(t, map[string]any{"httpMethod": "GET", "path": "/", "requestContext": map[string]any{"sourceIp": "10.1.2.3:999"}})
	if e.RemoteAddr != "10.1.2.3" {
		t.Errorf("sourceIp with port: RemoteAddr %q", e.RemoteAddr)
	}
}

// One header under two spellings gives the same answer on every run.
func TestTwoSpellingsAreDeterministic(t *testing.T) {
	ev := map[string]any{"httpMethod": "POST", "path": "/", "headers": map[string]any{
		"X-Forwarded-For":   "1.1.1.1",
		"x-forwarded-for":   "2.2.2.2",
		"X-Scf-Remote-Addr": "3.3.3.3",
		"x-scf-remote-addr": "4.4.4.4:1",
	}}
	first := scfEcho(t, ev)
	if got := first.Header.Values("X-Forwarded-For"); !reflect.DeepEqual(got, []string{"1.1.1.1", "2.2.2.2"}) {
		t.Errorf("X-Forwarded-For = %q, want both values in sorted key order", got)
	}
	if first.RemoteAddr != "3.3.3.3" {
		t.Errorf("RemoteAddr = %q, want the first spelling in sorted order", first.RemoteAddr)
	}
	for range 50 {
		if again := scfEcho(t, ev); !reflect.DeepEqual(again, first) {
			t.Fatalf("answers differ between runs:\n%+v\n%+v", first, again)
		}
	}

	raw := fixture(t, "aws-apigw-v2-request.json")
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	m["headers"] = map[string]any{"X-Wechatpay-Serial": "A", "x-wechatpay-serial": "B", "host": "example.com"}
	raw, _ = json.Marshal(m)
	var firstAWS []string
	for i := range 50 {
		var e echo
		if err := json.Unmarshal(invokeAWS(t, echoHandler, raw).body, &e); err != nil {
			t.Fatal(err)
		}
		got := e.Header.Values("X-Wechatpay-Serial")
		if i == 0 {
			firstAWS = got
			if !reflect.DeepEqual(got, []string{"A", "B"}) {
				t.Errorf("Lambda v2 two spellings = %q, want [A B]", got)
			}
		} else if !reflect.DeepEqual(got, firstAWS) {
			t.Fatalf("Lambda v2 answers differ: %q vs %q", firstAWS, got)
		}
	}
}

func TestSCFWebClientIP(t *testing.T) {
	var seen string
	for _, c := range []struct {
		trusted, hdr, want string
	}{
		// Nothing vouches for the in-container proxy: no address, whatever the header.
		{"", "", scfWebUnknownClient},
		{"", "111.206.96.145", scfWebUnknownClient},
		{"10.0.0.0/8", "111.206.96.145", scfWebUnknownClient},
		// TRUSTED_PROXIES lists the proxy: the platform's header, port dropped...
		{"127.0.0.1/32", "111.206.96.145", "111.206.96.145"},
		{"127.0.0.1", "111.206.96.145:51234", "111.206.96.145"},
		{"127.0.0.0/8", "[2001:db8::1]:51234", "2001:db8::1"},
		{"127.0.0.1/32", "::ffff:1.2.3.4", "1.2.3.4"},
		// ...or, without one, the trusted peer, from which X-Forwarded-For is walked.
		{"127.0.0.1/32", "", "127.0.0.1:40000"},
		{"127.0.0.1/32", "garbage", "127.0.0.1:40000"},
	} {
		t.Setenv("TRUSTED_PROXIES", c.trusted)
		h := scfWebClientIP(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = r.RemoteAddr }))
		r := httptest.NewRequest("POST", "/notify", nil)
		r.RemoteAddr = "127.0.0.1:40000"
		if c.hdr != "" {
			r.Header.Set("X-Scf-Remote-Addr", c.hdr)
		}
		h.ServeHTTP(httptest.NewRecorder(), r)
		if seen != c.want {
			t.Errorf("TRUSTED_PROXIES=%q x-scf-remote-addr %q: RemoteAddr %q, want %q", c.trusted, c.hdr, seen, c.want)
		}
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
