package scfevent

import (
	"bufio"
	"context"
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
// them: a header (net/rpc's Request: ServiceMethod, Seq) then a body each way
// (gob.go reads and writes them). A malformed stream closes the connection.
func serveConn(conn io.ReadWriteCloser, invoke invokeFunc) {
	defer conn.Close()
	w := bufio.NewWriter(conn)
	dec, enc := newGobReader(conn), newGobWriter(w)
	for {
		hdr, err := dec.next()
		if err != nil || hdr == nil {
			return
		}
		method, _ := hdr["ServiceMethod"].(string)
		seq, _ := hdr["Seq"].(uint64)
		body, err := dec.next()
		if err != nil {
			return
		}
		rpcErr := ""
		var answer func(e *gobEnc)
		id := idEmpty
		switch method {
		case "Function.Invoke":
			in, ok := invokeRequest(body)
			if !ok {
				return
			}
			out := invokeOnce(in, invoke)
			id, answer = idInvokeResponse, func(e *gobEnc) { writeInvokeResponse(e, out) }
		case "Function.Ping":
			id = idPingResponse
		default:
			rpcErr = "rpc: can't find method " + method
		}
		enc.write(idResponse, func(e *gobEnc) {
			e.stringField(0, method)
			if seq != 0 {
				e.field(1)
				e.uint(seq)
			}
			e.stringField(2, rpcErr)
		})
		enc.write(id, func(e *gobEnc) {
			if answer != nil {
				answer(e)
			}
		})
		if w.Flush() != nil {
			return
		}
	}
}

// invokeRequest is scf-go-lib's InvokeRequest from its gob fields; false when a
// field has another type than scf-go-lib's.
func invokeRequest(v map[string]any) (*messages.InvokeRequest, bool) {
	if v == nil {
		return nil, false
	}
	in := &messages.InvokeRequest{}
	ok := true
	str := func(name string, dst *string) {
		if x, there := v[name]; there {
			s, is := x.(string)
			*dst, ok = s, ok && is
		}
	}
	bytes := func(name string, dst *[]byte) {
		if x, there := v[name]; there {
			b, is := x.([]byte)
			*dst, ok = b, ok && is
		}
	}
	int32s := func(name string, dst *int32) {
		if x, there := v[name]; there {
			n, is := x.(int64)
			*dst, ok = int32(n), ok && is && n == int64(int32(n))
		}
	}
	bytes("Payload", &in.Payload)
	str("RequestId", &in.RequestId)
	str("TraceId", &in.TraceId)
	if x, there := v["Deadline"]; there {
		d, is := x.(map[string]any)
		ok = ok && is
		if is {
			s, _ := d["Seconds"].(int64)
			n, _ := d["Nanos"].(int64)
			in.Deadline = messages.InvokeRequest_Timestamp{Seconds: s, Nanos: n}
		}
	}
	str("InvokedFunctionUnique", &in.InvokedFunctionUnique)
	bytes("ClientContext", &in.ClientContext)
	str("Namespace", &in.Namespace)
	str("FunctionName", &in.FunctionName)
	str("FunctionVersion", &in.FunctionVersion)
	int32s("MemoryLimitInMb", &in.MemoryLimitInMb)
	int32s("TimeLimitInMs", &in.TimeLimitInMs)
	str("Environment", &in.Environment)
	str("TencentcloudRegion", &in.TencentcloudRegion)
	str("TencentcloudAppID", &in.TencentcloudAppID)
	str("TencentcloudUin", &in.TencentcloudUin)
	str("FunctionTrace", &in.FunctionTrace)
	return in, ok
}

// writeInvokeResponse writes out's fields (gobDefs' InvokeResponse).
func writeInvokeResponse(e *gobEnc, out *messages.InvokeResponse) {
	e.bytesField(0, out.Payload)
	if x := out.Error; x != nil {
		e.field(1)
		e.open()
		e.stringField(0, x.Message)
		e.stringField(1, x.Type)
		if len(x.StackTrace) > 0 {
			e.field(2)
			e.uint(uint64(len(x.StackTrace)))
			for _, f := range x.StackTrace {
				if f == nil {
					f = &messages.InvokeResponse_Error_StackFrame{}
				}
				e.open()
				e.stringField(0, f.Path)
				if f.Line != 0 {
					e.field(1)
					e.int(int64(f.Line))
				}
				e.stringField(2, f.Label)
				e.close()
			}
		}
		if x.ShouldExit {
			e.field(3)
			e.uint(1)
		}
		e.close()
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
