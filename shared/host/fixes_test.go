package host_test

import (
	"encoding/json"
	"reflect"
	"testing"
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
