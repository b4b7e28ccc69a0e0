package scfevent

import (
	"bufio"
	"bytes"
	"encoding/gob"
	"net/rpc"
	"reflect"
	"testing"

	"github.com/tencentyun/scf-go-lib/cloudfunction/messages"
)

// What encoding/gob writes — net/rpc's Request header and scf-go-lib's InvokeRequest,
// as SCF's runtime sends them — reads back field for field, on one stream.
func TestGobReaderReadsEncodingGob(t *testing.T) {
	var buf bytes.Buffer
	enc := gob.NewEncoder(&buf)
	reqs := []messages.InvokeRequest{
		{},
		{Payload: []byte(`{"a":1}`), RequestId: "r1", TraceId: "t", Deadline: messages.InvokeRequest_Timestamp{Seconds: 1700000000, Nanos: -5},
			InvokedFunctionUnique: "u", ClientContext: []byte{0, 1, 255}, Namespace: "default", FunctionName: "reconcile", FunctionVersion: "$LATEST",
			MemoryLimitInMb: 128, TimeLimitInMs: -3, Environment: `{"A":"b"}`, TencentcloudRegion: "ap-guangzhou", TencentcloudAppID: "1",
			TencentcloudUin: "2", FunctionTrace: "f"},
		{Payload: bytes.Repeat([]byte("x"), 300), MemoryLimitInMb: 1 << 30},
	}
	for i, r := range reqs {
		if err := enc.Encode(&rpc.Request{ServiceMethod: "Function.Invoke", Seq: uint64(i) << 40}); err != nil {
			t.Fatal(err)
		}
		if err := enc.Encode(&r); err != nil {
			t.Fatal(err)
		}
	}
	dec := newGobReader(&buf)
	for i, want := range reqs {
		hdr, err := dec.next()
		if err != nil {
			t.Fatalf("header %d: %v", i, err)
		}
		if seq, _ := hdr["Seq"].(uint64); hdr["ServiceMethod"] != "Function.Invoke" || seq != uint64(i)<<40 { // gob leaves a zero out
			t.Errorf("header %d: %v", i, hdr)
		}
		body, err := dec.next()
		if err != nil {
			t.Fatalf("body %d: %v", i, err)
		}
		got, ok := invokeRequest(body)
		if !ok || !reflect.DeepEqual(*got, want) {
			t.Errorf("request %d: %+v (%v), want %+v", i, got, ok, want)
		}
	}
}

// What gobWriter writes reads back through encoding/gob as net/rpc reads it.
func TestGobWriterWritesEncodingGob(t *testing.T) {
	answers := []*messages.InvokeResponse{
		{Payload: []byte(`{"ok":true}`)},
		{},
		{Error: &messages.InvokeResponse_Error{Message: "boom", Type: "string", ShouldExit: true,
			StackTrace: []*messages.InvokeResponse_Error_StackFrame{{Label: "goroutine 1"}, {Path: "a.go", Line: -7, Label: "x"}, {Line: 300}}}},
		{Payload: bytes.Repeat([]byte("y"), 1000), Error: &messages.InvokeResponse_Error{Message: "m"}},
	}
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	g := newGobWriter(w)
	for i, a := range answers {
		g.write(idResponse, func(e *gobEnc) {
			e.stringField(0, "Function.Invoke")
			e.field(1)
			e.uint(uint64(i) << 33)
		})
		g.write(idInvokeResponse, func(e *gobEnc) { writeInvokeResponse(e, a) })
	}
	g.write(idResponse, func(e *gobEnc) { e.stringField(2, "rpc: can't find method X") })
	g.write(idEmpty, func(*gobEnc) {})
	g.write(idResponse, func(e *gobEnc) { e.stringField(0, "Function.Ping") })
	g.write(idPingResponse, func(*gobEnc) {})
	w.Flush()

	dec := gob.NewDecoder(&buf)
	for i, want := range answers {
		var hdr rpc.Response
		if err := dec.Decode(&hdr); err != nil {
			t.Fatalf("header %d: %v", i, err)
		}
		if hdr.ServiceMethod != "Function.Invoke" || hdr.Seq != uint64(i)<<33 || hdr.Error != "" {
			t.Errorf("header %d: %+v", i, hdr)
		}
		var got messages.InvokeResponse
		if err := dec.Decode(&got); err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
		if !reflect.DeepEqual(&got, want) {
			t.Errorf("answer %d: %+v, want %+v", i, got, want)
		}
	}
	var hdr rpc.Response
	if err := dec.Decode(&hdr); err != nil || hdr.Error != "rpc: can't find method X" {
		t.Fatalf("error header: %+v, %v", hdr, err)
	}
	if err := dec.DecodeValue(reflect.Value{}); err != nil { // discarded, as net/rpc discards it
		t.Fatalf("error body: %v", err)
	}
	if err := dec.Decode(&hdr); err != nil || hdr.ServiceMethod != "Function.Ping" {
		t.Fatalf("ping header: %+v, %v", hdr, err)
	}
	if err := dec.Decode(&messages.PingResponse{}); err != nil {
		t.Fatalf("ping body: %v", err)
	}
}

// Whatever arrives, the reader fails or reads; it never panics (a panic would stop
// the function).
func FuzzGobReader(f *testing.F) {
	var buf bytes.Buffer
	enc := gob.NewEncoder(&buf)
	enc.Encode(&rpc.Request{ServiceMethod: "Function.Invoke", Seq: 7})
	enc.Encode(&messages.InvokeRequest{Payload: []byte("{}"), Deadline: messages.InvokeRequest_Timestamp{Seconds: 1}, MemoryLimitInMb: 128})
	enc.Encode(map[string][]float64{"a": {1.5}})
	enc.Encode(&struct{ A [2]complex128 }{})
	f.Add(buf.Bytes())
	f.Add([]byte{})
	f.Add([]byte{0x81, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		dec := newGobReader(bytes.NewReader(b))
		for i := 0; i < 8; i++ {
			v, err := dec.next()
			if err != nil {
				return
			}
			invokeRequest(v)
		}
	})
}
