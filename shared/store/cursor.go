package store

import (
	"bytes"
	"encoding/base64"
	"strconv"
)

// Position is where a ListPending page ended: the last record's PendingSince (unix
// microseconds) and key. Every backend orders its pending index by (since, key), so
// the same cursor format serves them all.
type Position struct {
	Index string
	Since int64
	Key   string
}

// EncodeCursor makes the opaque cursor a backend hands out.
func EncodeCursor(p Position) string {
	raw := p.Index + "\x00" + strconv.FormatInt(p.Since, 10) + "\x00" + p.Key
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// DecodeCursor reads a cursor made by EncodeCursor for the given index.
func DecodeCursor(index, cursor string) (Position, error) {
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return Position{}, invalid("malformed list cursor")
	}
	parts := bytes.SplitN(raw, []byte{0}, 3)
	if len(parts) != 3 || string(parts[0]) != index {
		return Position{}, invalid("list cursor is not for index %q", index)
	}
	since, err := strconv.ParseInt(string(parts[1]), 10, 64)
	if err != nil {
		return Position{}, invalid("malformed list cursor")
	}
	return Position{Index: index, Since: since, Key: string(parts[2])}, nil
}
