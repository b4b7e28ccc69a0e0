package config

import (
	"fmt"
	"log/slog"
)

// Secret holds a private key or a symmetric key. Every way of printing it — fmt with
// any verb, log/slog, encoding/json — yields "REDACTED", so a Config can be logged
// whole without leaking (design rule: secrets never appear in logs or errors).
//
// The bytes sit behind a pointer: when a Secret is an unexported field of some other
// struct, fmt cannot call its methods and prints fields by reflection — for a pointer
// that is an address, never the key.
type Secret struct{ p *secretBytes }

type secretBytes struct {
	b   []byte
	rsa parsedKey // MerchantKey's parse of b (merchantkey.go)
}

// NewSecret wraps b. The slice is copied so the caller's buffer can be reused.
func NewSecret(b []byte) Secret {
	if len(b) == 0 {
		return Secret{}
	}
	return Secret{p: &secretBytes{b: append([]byte(nil), b...)}}
}

// Reveal returns the secret's bytes. Call it only where the key is used, never to print.
func (s Secret) Reveal() []byte {
	if s.p == nil {
		return nil
	}
	return s.p.b
}

// IsZero reports whether the secret is unset.
func (s Secret) IsZero() bool { return s.p == nil || len(s.p.b) == 0 }

// Len is the secret's length in bytes: safe to print, and what most key mistakes show.
func (s Secret) Len() int { return len(s.Reveal()) }

const redacted = "REDACTED"

// String redacts.
func (s Secret) String() string {
	if s.IsZero() {
		return "(unset)"
	}
	return redacted
}

// GoString redacts for %#v.
func (s Secret) GoString() string { return s.String() }

// Format redacts for every verb, including %x and %d, which would otherwise print the
// bytes of a struct's unexported field.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(s.String())) }

// LogValue redacts in log/slog.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON redacts in encoding/json (and slog's JSON handler for nested values).
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + s.String() + `"`), nil }

// MarshalText redacts for encoders that prefer text.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }
