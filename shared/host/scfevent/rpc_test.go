package scfevent

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/rpc"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tencentyun/scf-go-lib/cloudfunction/messages"
)

// The protocol as SCF's Go1 runtime speaks it, through net/rpc's own client: Invoke
// with the answer or the error, Ping, an unknown method, a panic — on one connection.
func TestRPCAsTheRuntimeCallsIt(t *testing.T) {
	server, client := net.Pipe()
	go serveConn(server, func(ctx context.Context, payload json.RawMessage) (any, error) {
		if _, ok := ctx.Deadline(); !ok {
			return nil, errors.New("no deadline")
		}
		switch string(payload) {
		case `"fail"`:
			return nil, errors.New("store unavailable")
		case `"panic"`:
			panic("boom")
		}
		return map[string]any{"echo": payload, "env": os.Getenv("WXPAY_TEST_SCF_ENV")}, nil
	})
	c := rpc.NewClient(client)
	defer c.Close()
	deadline := time.Now().Add(time.Minute)
	call := func(payload string) messages.InvokeResponse {
		t.Helper()
		var resp messages.InvokeResponse
		req := &messages.InvokeRequest{Payload: []byte(payload), RequestId: "r1", Environment: `{"WXPAY_TEST_SCF_ENV":"from-scf"}`,
			Deadline: messages.InvokeRequest_Timestamp{Seconds: deadline.Unix(), Nanos: int64(deadline.Nanosecond())}}
		if err := c.Call("Function.Invoke", req, &resp); err != nil {
			t.Fatalf("Function.Invoke: %v", err)
		}
		return resp
	}
	t.Cleanup(func() { os.Unsetenv("WXPAY_TEST_SCF_ENV") })

	resp := call(`{"a":1}`)
	if resp.Error != nil || string(resp.Payload) != `{"echo":{"a":1},"env":"from-scf"}` {
		t.Errorf("answer %s, error %+v", resp.Payload, resp.Error)
	}
	if resp = call(`"fail"`); resp.Error == nil || resp.Error.Message != "store unavailable" || resp.Payload != nil {
		t.Errorf("error answer %+v", resp)
	}
	if resp = call(`"panic"`); resp.Error == nil || resp.Error.Message != "boom" || !resp.Error.ShouldExit {
		t.Errorf("panic answer %+v", resp.Error)
	}
	if err := c.Call("Function.Ping", &messages.PingRequest{}, &messages.PingResponse{}); err != nil {
		t.Errorf("Ping: %v", err)
	}
	if err := c.Call("Function.Nope", &messages.PingRequest{}, &messages.PingResponse{}); err == nil || !strings.Contains(err.Error(), "Function.Nope") {
		t.Errorf("unknown method: %v", err)
	}
	// The connection still serves after all of that.
	if resp = call(`1`); resp.Error != nil {
		t.Errorf("after the errors: %+v", resp.Error)
	}
}
