package wechatpay

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// decodeEnvelope decodes a notification envelope. Every notification goes through it
// after its signature is verified, and encoding/json's two passes (validate, then
// decode by reflection) cost about as much as everything else but the RSA check. The
// envelope WeChat Pay sends is a flat object of plain strings with one nested object,
// so a direct scan handles it; anything else — an escape sequence, a number, a nested
// unknown value, a key differing from a field only in case, invalid UTF-8 — falls back
// to encoding/json, which therefore decides every unusual case. FuzzDecodeEnvelope
// holds the two to the same result.
func decodeEnvelope(body []byte, n *Notification) error {
	if fastEnvelope(body, n) {
		return nil
	}
	*n = Notification{}
	return json.Unmarshal(body, n)
}

// fastEnvelope reports whether it decoded body completely; false means "use
// encoding/json", never "invalid".
func fastEnvelope(body []byte, n *Notification) bool {
	s := scanner{b: body}
	ok := s.object(func(key string) bool {
		switch key {
		case "id":
			return s.str(&n.ID)
		case "create_time":
			return s.str(&n.CreateTime)
		case "resource_type":
			return s.str(&n.ResourceType)
		case "event_type":
			return s.str(&n.EventType)
		case "summary":
			return s.str(&n.Summary)
		case "resource":
			r := &n.Resource
			return s.object(func(key string) bool {
				switch key {
				case "original_type":
					return s.str(&r.OriginalType)
				case "algorithm":
					return s.str(&r.Algorithm)
				case "ciphertext":
					return s.str(&r.Ciphertext)
				case "associated_data":
					return s.str(&r.AssociatedData)
				case "nonce":
					return s.str(&r.Nonce)
				}
				return s.unknown(key, resourceFields)
			})
		}
		return s.unknown(key, envelopeFields)
	})
	s.space()
	return ok && s.i == len(s.b)
}

var (
	envelopeFields = []string{"id", "create_time", "resource_type", "event_type", "summary", "resource"}
	resourceFields = []string{"original_type", "algorithm", "ciphertext", "associated_data", "nonce"}
)

type scanner struct {
	b []byte
	i int
}

func (s *scanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) consume(c byte) bool {
	s.space()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// object scans {"key": value, …}, calling field for each key with the scanner at the
// value.
func (s *scanner) object(field func(key string) bool) bool {
	if !s.consume('{') {
		return false
	}
	if s.consume('}') {
		return true
	}
	for {
		var key string
		if !s.str(&key) || !s.consume(':') || !field(key) {
			return false
		}
		if s.consume('}') {
			return true
		}
		if !s.consume(',') {
			return false
		}
	}
}

// str scans a string without escapes, of valid UTF-8 and no control characters; any
// other string is left to encoding/json.
func (s *scanner) str(dst *string) bool {
	if !s.consume('"') {
		return false
	}
	end := bytes.IndexByte(s.b[s.i:], '"')
	if end < 0 {
		return false
	}
	v := s.b[s.i : s.i+end]
	var high byte
	for _, c := range v {
		if c < 0x20 || c == '\\' {
			return false
		}
		high |= c
	}
	if high >= utf8.RuneSelf && !utf8.Valid(v) {
		return false
	}
	s.i += end + 1
	*dst = string(v)
	return true
}

// unknown skips the string value of a key no field is named by. A key that matches a
// field case-insensitively would be decoded into it by encoding/json, so it, like any
// value that is not a plain string, goes the slow way.
func (s *scanner) unknown(key string, fields []string) bool {
	for i := 0; i < len(key); i++ {
		if key[i] >= utf8.RuneSelf { // encoding/json folds case by Unicode rules (ſ is s)
			return false
		}
	}
	for _, f := range fields {
		if equalFoldASCII(key, f) {
			return false
		}
	}
	var skip string
	return s.str(&skip)
}

func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
