package boltstore

import (
	"bytes"
	"encoding/binary"
)

// Index keys sort by (index name, time, record key). Times are flipped in their sign
// bit so that big-endian bytes order like the signed numbers (pre-1970 times too).
func sortable(n int64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(n)^(1<<63))
	return b[:]
}

func unsortable(b []byte) int64 { return int64(binary.BigEndian.Uint64(b) ^ (1 << 63)) }

// indexPrefix is "name\x00"; index names cannot contain NUL (they are validated).
func indexPrefix(index string) []byte { return append([]byte(index), 0) }

// pendingKey is name\x00 | since µs (8 bytes) | record key.
func pendingKey(index string, sinceMicros int64, key string) []byte {
	b := make([]byte, 0, len(index)+9+len(key))
	b = append(b, index...)
	b = append(b, 0)
	b = append(b, sortable(sinceMicros)...)
	return append(b, key...)
}

// splitPendingKey returns the since and record key of an index entry under prefix.
func splitPendingKey(prefix, k []byte) (since int64, key string, ok bool) {
	if !bytes.HasPrefix(k, prefix) || len(k) < len(prefix)+8 {
		return 0, "", false
	}
	rest := k[len(prefix):]
	return unsortable(rest[:8]), string(rest[8:]), true
}

// expiryKey is expiry ms (8 bytes) | record key, so a sweep reads the oldest first.
func expiryKey(ms int64, key string) []byte {
	return append(sortable(ms), key...)
}
