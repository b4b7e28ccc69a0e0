package scfevent

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// The gob stream of SCF's Go1 runtime, read and written here rather than by
// encoding/gob: gob's package init builds its type tables by reflection, 0.2-0.3 ms
// of every event function's cold start before it can listen (GODEBUG=inittrace=1),
// for a handful of fixed messages. The format is encoding/gob's documented wire
// format (https://pkg.go.dev/encoding/gob): a stream of messages, each a uint length
// then a type id; a negative id defines that type (a wireType), a positive one
// carries a value. Values decode by the sender's definitions (fields matched by
// name); what is written carries its own definitions. gob_test.go holds both
// directions to encoding/gob itself.

// Predefined gob type ids.
const (
	gobBool      = 1
	gobInt       = 2
	gobUint      = 3
	gobFloat     = 4
	gobBytes     = 5
	gobString    = 6
	gobComplex   = 7
	gobInterface = 8
	gobFirstUser = 64
)

// maxGobMessage bounds one message (an SCF event is at most 6 MB).
const maxGobMessage = 64 << 20

// gobType is one received definition: a struct's field names and types, or a
// slice's, array's or map's element types.
type gobType struct {
	kind      byte // 's' struct, 'l' slice, 'a' array, 'm' map, 'e' GobEncoder-like (bytes)
	fields    []gobField
	key, elem int
}

type gobField struct {
	name string
	id   int
}

// gobReader decodes the messages of one connection.
type gobReader struct {
	r     *bufio.Reader
	types map[int]*gobType
}

func newGobReader(r io.Reader) *gobReader {
	return &gobReader{r: bufio.NewReader(r), types: map[int]*gobType{}}
}

// next returns the next value: its fields by name for a struct (nested structs as
// maps, slices as []any), nil for a value of another kind; type definitions on the
// way are recorded.
func (g *gobReader) next() (map[string]any, error) {
	for {
		n, err := readUint(g.r)
		if err != nil {
			return nil, err
		}
		if n == 0 || n > maxGobMessage {
			return nil, fmt.Errorf("gob: message of %d bytes", n)
		}
		msg := make([]byte, n)
		if _, err := io.ReadFull(g.r, msg); err != nil {
			return nil, err
		}
		b := &gobBuf{b: msg}
		id := b.int()
		switch {
		case b.err != nil:
			return nil, b.err
		case id < 0:
			if err := g.define(-id, b); err != nil {
				return nil, err
			}
		case id < gobFirstUser:
			return nil, nil // a basic value (a top-level one is not a struct: nothing to read)
		default:
			t := g.types[int(id)]
			if t == nil {
				return nil, fmt.Errorf("gob: value of undefined type %d", id)
			}
			if t.kind != 's' {
				return nil, nil
			}
			v := g.structValue(t, b, 0)
			return v, b.err
		}
	}
}

// define reads a wireType: {ArrayT, SliceT, StructT, MapT, GobEncoderT,
// BinaryMarshalerT, TextMarshalerT}, each a struct whose field 0 is CommonType
// {Name, Id}.
func (g *gobReader) define(id int64, b *gobBuf) error {
	if id < gobFirstUser || id > 1<<30 {
		return fmt.Errorf("gob: definition of type %d", id)
	}
	t := &gobType{}
	field := -1
	for {
		d := b.uint()
		if d == 0 || b.err != nil {
			break
		}
		if d > 8 {
			return fmt.Errorf("gob: wireType field %d", field+int(min(d, 1<<20)))
		}
		field += int(d)
		switch field {
		case 0: // arrayType {CommonType, Elem, Len}
			t.kind = 'a'
			b.fields(func(f int) bool {
				switch f {
				case 0:
					b.skipStruct()
				case 1:
					t.elem = int(b.int())
				case 2:
					b.int()
				default:
					return false
				}
				return true
			})
		case 1: // sliceType {CommonType, Elem}
			t.kind = 'l'
			b.fields(func(f int) bool {
				switch f {
				case 0:
					b.skipStruct()
				case 1:
					t.elem = int(b.int())
				default:
					return false
				}
				return true
			})
		case 2: // structType {CommonType, Field []fieldType{Name, Id}}
			t.kind = 's'
			b.fields(func(f int) bool {
				switch f {
				case 0:
					b.skipStruct()
				case 1:
					for n := b.count(); n > 0 && b.err == nil; n-- {
						var fl gobField
						b.fields(func(f int) bool {
							switch f {
							case 0:
								fl.name = b.string()
							case 1:
								fl.id = int(b.int())
							default:
								return false
							}
							return true
						})
						t.fields = append(t.fields, fl)
					}
				default:
					return false
				}
				return true
			})
		case 3: // mapType {CommonType, Key, Elem}
			t.kind = 'm'
			b.fields(func(f int) bool {
				switch f {
				case 0:
					b.skipStruct()
				case 1:
					t.key = int(b.int())
				case 2:
					t.elem = int(b.int())
				default:
					return false
				}
				return true
			})
		case 4, 5, 6: // GobEncoder, BinaryMarshaler, TextMarshaler: {CommonType}; values are bytes
			t.kind = 'e'
			b.skipStruct()
		default:
			return fmt.Errorf("gob: wireType field %d", field)
		}
	}
	if b.err != nil {
		return b.err
	}
	if t.kind == 0 {
		return fmt.Errorf("gob: empty definition of type %d", id)
	}
	g.types[int(id)] = t
	return nil
}

// structValue reads a struct's fields (delta-numbered, ended by 0).
func (g *gobReader) structValue(t *gobType, b *gobBuf, depth int) map[string]any {
	v := map[string]any{}
	field := -1
	for b.err == nil {
		d := b.uint()
		if d == 0 || b.err != nil {
			break
		}
		if d > uint64(len(t.fields)) || field+int(d) >= len(t.fields) {
			b.fail("gob: field %d after %d of a %d-field struct", d, field, len(t.fields))
			break
		}
		field += int(d)
		f := t.fields[field]
		v[f.name] = g.value(f.id, b, depth+1)
	}
	return v
}

func (g *gobReader) value(id int, b *gobBuf, depth int) any {
	if depth > 32 {
		b.fail("gob: values nested too deep")
		return nil
	}
	switch id {
	case gobBool:
		return b.uint() != 0
	case gobInt:
		return b.int()
	case gobUint:
		return b.uint()
	case gobFloat:
		return float(b.uint())
	case gobBytes:
		return b.bytes()
	case gobString:
		return b.string()
	case gobComplex:
		return complex(float(b.uint()), float(b.uint()))
	case gobInterface:
		b.fail("gob: interface values are not expected")
		return nil
	}
	t := g.types[id]
	if t == nil {
		b.fail("gob: undefined type %d", id)
		return nil
	}
	switch t.kind {
	case 's':
		return g.structValue(t, b, depth)
	case 'l', 'a':
		n := b.count()
		var s []any
		for ; n > 0 && b.err == nil; n-- {
			s = append(s, g.value(t.elem, b, depth+1))
		}
		return s
	case 'm':
		n := b.count()
		m := map[any]any{}
		for ; n > 0 && b.err == nil; n-- {
			k := g.value(t.key, b, depth+1)
			m[fmt.Sprint(k)] = g.value(t.elem, b, depth+1)
		}
		return m
	default: // 'e'
		return b.bytes()
	}
}

func float(u uint64) float64 { return math.Float64frombits(reverse(u)) }

func reverse(u uint64) uint64 {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], u)
	return binary.BigEndian.Uint64(b[:])
}

// gobBuf reads the primitives of one message; the first error sticks.
type gobBuf struct {
	b   []byte
	err error
}

func (b *gobBuf) fail(format string, args ...any) {
	if b.err == nil {
		b.err = fmt.Errorf(format, args...)
	}
}

var errShortGob = errors.New("gob: message ends early")

func (b *gobBuf) uint() uint64 {
	if b.err != nil {
		return 0
	}
	if len(b.b) == 0 {
		b.err = errShortGob
		return 0
	}
	c := b.b[0]
	if c < 0x80 {
		b.b = b.b[1:]
		return uint64(c)
	}
	n := int(-int8(c))
	if n <= 0 || n > 8 || len(b.b) < 1+n {
		b.err = errShortGob
		return 0
	}
	var u uint64
	for _, c := range b.b[1 : 1+n] {
		u = u<<8 | uint64(c)
	}
	b.b = b.b[1+n:]
	return u
}

func (b *gobBuf) int() int64 {
	u := b.uint()
	if u&1 != 0 {
		return ^int64(u >> 1)
	}
	return int64(u >> 1)
}

// count is a length, no more than the bytes left (each element takes one at least).
func (b *gobBuf) count() int {
	n := b.uint()
	if n > uint64(len(b.b)) {
		b.fail("gob: %d elements in %d bytes", n, len(b.b))
		return 0
	}
	return int(n)
}

func (b *gobBuf) bytes() []byte {
	n := b.count()
	if b.err != nil {
		return nil
	}
	s := append([]byte(nil), b.b[:n]...)
	b.b = b.b[n:]
	return s
}

func (b *gobBuf) string() string { return string(b.bytes()) }

// fields walks a struct's delta-numbered fields; read returns false for a field it
// does not know, which fails the message.
func (b *gobBuf) fields(read func(field int) bool) {
	field := -1
	for b.err == nil {
		d := b.uint()
		if d == 0 || b.err != nil {
			return
		}
		if d > 1<<20 {
			d = 1 << 20 // no definition has that many fields: read fails it
		}
		field += int(d)
		if !read(field) {
			b.fail("gob: unexpected field %d in a type definition", field)
		}
	}
}

// skipStruct skips a CommonType {Name string, Id int}.
func (b *gobBuf) skipStruct() {
	b.fields(func(f int) bool {
		switch f {
		case 0:
			b.string()
		case 1:
			b.int()
		default:
			return false
		}
		return true
	})
}

// gobWriter writes messages, each type's definition before its first value.
type gobWriter struct {
	w    *bufio.Writer
	sent map[int]bool
	buf  []byte
}

func newGobWriter(w *bufio.Writer) *gobWriter { return &gobWriter{w: w, sent: map[int]bool{}} }

// A definition this file writes: a struct's fields or a slice's element.
type gobDef struct {
	id     int
	name   string
	slice  int        // element type id of a slice; 0 for a struct
	fields []gobField // of a struct
	needs  []int      // user types its fields refer to
}

// The types written: net/rpc's Response header, scf-go-lib's InvokeResponse (and
// what it holds) and PingResponse, and the empty struct net/rpc answers an unknown
// method with. Ids are this stream's own, from gob's first user id.
const (
	idResponse = gobFirstUser + iota
	idInvokeResponse
	idInvokeError
	idStackFrames
	idStackFrame
	idPingResponse
	idEmpty
)

var gobDefs = [...]gobDef{ // indexed by id: static data, no init code
	idResponse:       {id: idResponse, name: "Response", fields: []gobField{{"ServiceMethod", gobString}, {"Seq", gobUint}, {"Error", gobString}}},
	idInvokeResponse: {id: idInvokeResponse, name: "InvokeResponse", fields: []gobField{{"Payload", gobBytes}, {"Error", idInvokeError}}, needs: []int{idInvokeError}},
	idInvokeError: {id: idInvokeError, name: "InvokeResponse_Error", fields: []gobField{{"Message", gobString}, {"Type", gobString},
		{"StackTrace", idStackFrames}, {"ShouldExit", gobBool}}, needs: []int{idStackFrames}},
	idStackFrames:  {id: idStackFrames, name: "[]*messages.InvokeResponse_Error_StackFrame", slice: idStackFrame, needs: []int{idStackFrame}},
	idStackFrame:   {id: idStackFrame, name: "InvokeResponse_Error_StackFrame", fields: []gobField{{"Path", gobString}, {"Line", gobInt}, {"Label", gobString}}},
	idPingResponse: {id: idPingResponse, name: "PingResponse"},
	idEmpty:        {id: idEmpty, name: "struct {}"},
}

// define writes the definitions of id and what it needs, once each.
func (g *gobWriter) define(id int) {
	if g.sent[id] {
		return
	}
	g.sent[id] = true
	d := gobDefs[id]
	e := gobEnc{}
	e.int(int64(-id))
	common := func() {
		e.uint(1) // CommonType
		e.uint(1)
		e.string(d.name)
		e.uint(1)
		e.int(int64(d.id))
		e.uint(0)
	}
	if d.slice != 0 {
		e.uint(2) // wireType.SliceT
		common()
		e.uint(1) // Elem
		e.int(int64(d.slice))
		e.uint(0)
	} else {
		e.uint(3) // wireType.StructT
		common()
		if len(d.fields) > 0 {
			e.uint(1) // Field
			e.uint(uint64(len(d.fields)))
			for _, f := range d.fields {
				e.uint(1)
				e.string(f.name)
				e.uint(1)
				e.int(int64(f.id))
				e.uint(0)
			}
		}
		e.uint(0)
	}
	e.uint(0)
	g.message(e.b)
	for _, n := range d.needs {
		g.define(n)
	}
}

func (g *gobWriter) message(b []byte) {
	g.buf = appendUint(g.buf[:0], uint64(len(b)))
	g.w.Write(g.buf)
	g.w.Write(b)
}

// write sends a value of type id whose fields enc has written.
func (g *gobWriter) write(id int, fields func(e *gobEnc)) {
	g.define(id)
	e := gobEnc{}
	e.int(int64(id))
	fields(&e)
	e.uint(0)
	g.message(e.b)
}

// gobEnc builds one message. A struct's fields are written in order with field
// numbers; zero values are left out, as gob leaves them out.
type gobEnc struct {
	b    []byte
	last []int // the field number last written, per open struct
}

func (e *gobEnc) uint(u uint64) { e.b = appendUint(e.b, u) }

func (e *gobEnc) int(i int64) {
	if i < 0 {
		e.uint(uint64(^i)<<1 | 1)
		return
	}
	e.uint(uint64(i) << 1)
}

func (e *gobEnc) string(s string) {
	e.uint(uint64(len(s)))
	e.b = append(e.b, s...)
}

// field starts field f of the struct being written (the top-level value is one).
func (e *gobEnc) field(f int) {
	if len(e.last) == 0 {
		e.last = []int{-1}
	}
	top := &e.last[len(e.last)-1]
	e.uint(uint64(f - *top))
	*top = f
}

func (e *gobEnc) stringField(f int, s string) {
	if s != "" {
		e.field(f)
		e.string(s)
	}
}

func (e *gobEnc) bytesField(f int, b []byte) {
	if len(b) > 0 {
		e.field(f)
		e.string(string(b))
	}
}

// open starts a nested struct's fields; close ends them.
func (e *gobEnc) open() { e.last = append(e.last, -1) }
func (e *gobEnc) close() {
	e.uint(0)
	e.last = e.last[:len(e.last)-1]
}

func appendUint(b []byte, u uint64) []byte {
	if u < 0x80 {
		return append(b, byte(u))
	}
	var be [8]byte
	binary.BigEndian.PutUint64(be[:], u)
	i := 0
	for be[i] == 0 {
		i++
	}
	b = append(b, byte(-int8(8-i)))
	return append(b, be[i:]...)
}

func readUint(r *bufio.Reader) (uint64, error) {
	c, err := r.ReadByte()
	if err != nil {
		return 0, err
	}
	if c < 0x80 {
		return uint64(c), nil
	}
	n := int(-int8(c))
	if n <= 0 || n > 8 {
		return 0, fmt.Errorf("gob: length of %d bytes", n)
	}
	var u uint64
	for ; n > 0; n-- {
		c, err := r.ReadByte()
		if err != nil {
			return 0, io.ErrUnexpectedEOF
		}
		u = u<<8 | uint64(c)
	}
	return u, nil
}
