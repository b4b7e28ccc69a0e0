package boltstore

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/paysls/wxpay/shared/store"
)

// Records are stored in a small binary layout rather than JSON because encoding/json
// would replace invalid UTF-8 in attribute values, and values are binary-safe:
//
//	format byte (1) | flags byte | uvarint version
//	[pending: string index | varint since µs] [expiring: varint expiry ms]
//	uvarint attr count | (string name | string value)*
//
// where string is uvarint length + bytes. The key is the bbolt key, not repeated.
const (
	formatV1     = 1
	flagPending  = 1 << 0
	flagExpiring = 1 << 1
)

func encodeRecord(rec *store.Record) []byte {
	n := 32 + len(rec.Pending)
	for k, v := range rec.Attrs {
		n += len(k) + len(v) + 2*binary.MaxVarintLen32
	}
	b := make([]byte, 0, n)
	var flags byte
	if rec.Pending != "" {
		flags |= flagPending
	}
	if !rec.ExpiresAt.IsZero() {
		flags |= flagExpiring
	}
	b = append(b, formatV1, flags)
	b = binary.AppendUvarint(b, uint64(rec.Version))
	if rec.Pending != "" {
		b = appendString(b, rec.Pending)
		b = binary.AppendVarint(b, rec.PendingSince.UnixMicro())
	}
	if !rec.ExpiresAt.IsZero() {
		b = binary.AppendVarint(b, rec.ExpiresAt.UnixMilli())
	}
	b = binary.AppendUvarint(b, uint64(len(rec.Attrs)))
	for k, v := range rec.Attrs {
		b = appendString(b, k)
		b = appendString(b, v)
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

var errCorrupt = errors.New("corrupt record encoding")

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errCorrupt
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errCorrupt
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.b)) {
		d.err = errCorrupt
		return ""
	}
	s := string(d.b[:n]) // copies: bbolt memory is only valid inside the transaction
	d.b = d.b[n:]
	return s
}

func decodeRecord(key string, b []byte) (*store.Record, error) {
	if len(b) < 2 || b[0] != formatV1 {
		return nil, fmt.Errorf("boltstore: record %q: %w", key, errCorrupt)
	}
	flags := b[1]
	d := &decoder{b: b[2:]}
	rec := &store.Record{Key: key}
	rec.Version = int64(d.uvarint())
	if flags&flagPending != 0 {
		rec.Pending = d.string()
		rec.PendingSince = store.FromMicros(d.varint())
	}
	if flags&flagExpiring != 0 {
		rec.ExpiresAt = store.FromMillis(d.varint())
	}
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.b)) {
		d.err = errCorrupt
	}
	rec.Attrs = make(map[string]string, n)
	for i := uint64(0); i < n && d.err == nil; i++ {
		k := d.string()
		rec.Attrs[k] = d.string()
	}
	if d.err != nil {
		return nil, fmt.Errorf("boltstore: record %q: %w", key, d.err)
	}
	return rec, nil
}
