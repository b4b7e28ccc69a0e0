package scfevent

import (
	"bufio"
	"context"
	"encoding/gob"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"reflect"
	"runtime/debug"
	"strings"
	"time"

	"github.com/tencentyun/scf-go-lib/cloudfunction/messages"
)

// SCF's Go1 runtime invokes an event function as scf-go-lib's cloudfunction.Start
// serves it: net/rpc, gob-encoded, on a TCP listener at _LAMBDA_SERVER_PORT, service
// "Function" with the methods Invoke (messages.InvokeRequest → InvokeResponse) and
// Ping. This file speaks that protocol itself instead of calling cloudfunction.Start:
// net/rpc finds its methods by reflection, which keeps the linker from dropping any
// exported method of any type in the binary, and its debug page parses an
// html/template at package init — scf-go-lib made an SCF event build 18 MB where the
// web build of the same function is 10 MB, and slower to start. The messages are
// scf-go-lib's own types; a net/rpc client drives the built binary in
// internal/deploytest.

// rpcRequest and rpcResponse are net/rpc's Request and Response headers as gob sends
// them (gob matches fields by name).
type rpcRequest struct {
	ServiceMethod string
	Seq           uint64
}

type rpcResponse struct {
	ServiceMethod string
	Seq           uint64
	Error         string
}

// invokeFunc is what Invoke runs: the event in, the answer to JSON-encode out.
type invokeFunc func(ctx context.Context, payload json.RawMessage) (any, error)

// serve answers every connection SCF's runtime makes to ln; it returns when ln fails.
func serve(ln net.Listener, invoke invokeFunc) error {
	for {
		conn, err := ln.Accept()
		if err != nil {
			return fmt.Errorf("accept on %s: %w", ln.Addr(), err)
		}
		go serveConn(conn, invoke)
	}
}

// serveConn answers one connection's calls in turn, as net/rpc's gob codec frames
// them: a header then a body each way. A malformed stream closes the connection.
func serveConn(conn io.ReadWriteCloser, invoke invokeFunc) {
	defer conn.Close()
	w := bufio.NewWriter(conn)
	dec, enc := gob.NewDecoder(bufio.NewReader(conn)), gob.NewEncoder(w)
	for {
		var req rpcRequest
		if err := dec.Decode(&req); err != nil {
			return
		}
		resp := rpcResponse{ServiceMethod: req.ServiceMethod, Seq: req.Seq}
		var body any
		switch req.ServiceMethod {
		case "Function.Invoke":
			var in messages.InvokeRequest
			if err := dec.Decode(&in); err != nil {
				return
			}
			body = invokeOnce(&in, invoke)
		case "Function.Ping":
			var in messages.PingRequest
			if err := dec.Decode(&in); err != nil {
				return
			}
			body = &messages.PingResponse{}
		default:
			if err := dec.DecodeValue(reflect.Value{}); err != nil { // discard the body
				return
			}
			resp.Error = "rpc: can't find method " + req.ServiceMethod
			body = struct{}{}
		}
		if enc.Encode(&resp) != nil || enc.Encode(body) != nil || w.Flush() != nil {
			return
		}
	}
}

// invokeOnce runs one invocation as scf-go-lib's Function.Invoke does: the deadline
// SCF gives, the environment it passes applied to the process, the answer
// JSON-encoded, an error or a panic reported in InvokeResponse.Error.
func invokeOnce(in *messages.InvokeRequest, invoke invokeFunc) (out *messages.InvokeResponse) {
	out = &messages.InvokeResponse{}
	defer func() {
		if p := recover(); p != nil {
			out.Payload = nil
			out.Error = &messages.InvokeResponse_Error{Message: fmt.Sprint(p), Type: typeName(p), ShouldExit: true,
				StackTrace: []*messages.InvokeResponse_Error_StackFrame{{Label: strings.TrimSpace(string(debug.Stack()))}}}
		}
	}()
	if len(in.Environment) > 0 {
		var env map[string]string
		if err := json.Unmarshal([]byte(in.Environment), &env); err != nil {
			out.Error = errorResponse(fmt.Errorf("SCF invocation environment: %w", err))
			return out
		}
		for k, v := range env {
			os.Setenv(k, v)
		}
	}
	ctx, cancel := context.WithDeadline(context.Background(), time.Unix(in.Deadline.Seconds, in.Deadline.Nanos))
	defer cancel()
	answer, err := invoke(ctx, in.Payload)
	if err == nil {
		out.Payload, err = json.Marshal(answer)
	}
	if err != nil {
		out.Payload, out.Error = nil, errorResponse(err)
	}
	return out
}

func errorResponse(err error) *messages.InvokeResponse_Error {
	return &messages.InvokeResponse_Error{Message: err.Error(), Type: typeName(err)}
}

func typeName(v any) string {
	t := reflect.TypeOf(v)
	if t == nil {
		return ""
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Name()
}
