// Package store is the one durable key-value store of the bundle: orders, refunds,
// notification records, the platform-certificate cache, job cursors and bill summaries
// all go through it.
//
// Its core primitive is the conditional write. Every state transition is one Put or
// Update whose Condition encodes what the caller believes the record looks like; when
// the belief is wrong the write fails with a *ConditionFailedError that carries the
// record as it is now, so a duplicate delivery or a race is recognised from the write
// itself, with no second read. Backends: bbolt (embedded default), DynamoDB, Redis —
// all held to the same behaviour by the conformance suite in internal/storetest.
package store

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"
	"unicode/utf8"
)

// Record is one item of the store.
type Record struct {
	// Key identifies the record, e.g. "order/20240101-0001". Valid UTF-8, at most 1024
	// bytes. (Attribute values, unlike keys, may hold arbitrary bytes.)
	Key string
	// Attrs are flat string attributes. Conditions test them and Update sets them one by
	// one, so fields that transitions look at (state, amount) are attributes of their own;
	// a JSON document may live in one attribute as well. Names match [a-z][a-z0-9_]{0,63}.
	Attrs map[string]string
	// Version is 1 after the record is created and grows by one with every write. It is
	// set by the store; whatever the caller puts here is ignored on write.
	Version int64
	// Pending names the pending index the record sits in ("" = none). The index is
	// updated in the same atomic write as the record, so it never disagrees with it.
	Pending string
	// PendingSince orders the pending index (oldest first). Ignored when Pending is "".
	// Stored with microsecond precision (a zero PendingSince with a Pending index
	// means "now"); records with equal PendingSince are ordered by Key.
	PendingSince time.Time
	// ExpiresAt makes the record ephemeral: from that instant on it reads as absent
	// (backends delete it lazily or natively). Zero means never. Stored with
	// millisecond precision (Redis expires keys in milliseconds).
	ExpiresAt time.Time
}

// Expired reports whether the record has expired at now.
func (r *Record) Expired(now time.Time) bool {
	return !r.ExpiresAt.IsZero() && !now.Before(r.ExpiresAt)
}

// Condition is what must hold for a write to happen. The zero Condition always holds.
// All the given tests must hold together.
type Condition struct {
	// Absent: the record must not exist (put-if-absent). An expired record is absent.
	Absent bool
	// Exists: the record must exist.
	Exists bool
	// Version, when non-zero, requires the record to exist with exactly this version.
	Version int64
	// Attrs: for each test, the record's attribute must be one of Values. The value ""
	// matches an attribute that is not set. A test on an absent record fails.
	Attrs []AttrTest
}

// Holds evaluates c against rec, the record as stored (nil when absent), at now: an
// expired rec counts as absent. It is the reference semantics every backend's
// server-side condition must agree with.
func (c Condition) Holds(rec *Record, now time.Time) bool {
	if rec != nil && rec.Expired(now) {
		rec = nil
	}
	if c.Absent && rec != nil {
		return false
	}
	if c.Exists && rec == nil {
		return false
	}
	if c.Version != 0 && (rec == nil || rec.Version != c.Version) {
		return false
	}
	for _, t := range c.Attrs {
		if rec == nil || !slices.Contains(t.Values, rec.Attrs[t.Name]) {
			return false
		}
	}
	return true
}

// RequiresExistence reports whether c can only hold for an existing record.
func (c Condition) RequiresExistence() bool {
	return c.Exists || c.Version != 0 || len(c.Attrs) > 0
}

// AttrTest requires attribute Name to hold one of Values.
type AttrTest struct {
	Name   string
	Values []string
}

// AttrIn is shorthand for an AttrTest.
func AttrIn(name string, values ...string) AttrTest { return AttrTest{Name: name, Values: values} }

// Change is a partial update of an existing record.
type Change struct {
	// Set assigns attributes; Remove deletes them (Set wins if a name is in both).
	Set    map[string]string
	Remove []string
	// Pending, when non-nil, moves the record into the named index (with PendingSince)
	// or out of every index (empty string).
	Pending      *string
	PendingSince time.Time
	// ExpiresAt, when non-nil, sets (or with a zero time clears) the record's expiry.
	ExpiresAt *time.Time
}

// ListOptions pages through a pending index.
type ListOptions struct {
	// Before, when non-zero, lists only records pending since strictly before it.
	Before time.Time
	// Limit caps the page (default 100, at most 1000).
	Limit int
	// Cursor continues from the page that returned it; "" starts at the oldest.
	Cursor string
}

// Page is one page of a pending index, oldest first.
type Page struct {
	Records []Record
	// Cursor is "" on the last page.
	Cursor string
}

// Store is implemented by every backend. All methods are safe for concurrent use.
type Store interface {
	// Get returns the record or an error matching ErrNotFound.
	Get(ctx context.Context, key string) (Record, error)
	// Put writes rec whole (replacing any old one) if cond holds, and returns what was
	// stored (with its new Version). On a failed condition the error is a
	// *ConditionFailedError carrying the current record.
	Put(ctx context.Context, rec Record, cond Condition) (Record, error)
	// Update applies ch to an existing record if cond holds (an absent record fails the
	// write with ErrConditionFailed, Current nil) and returns the record as stored.
	Update(ctx context.Context, key string, ch Change, cond Condition) (Record, error)
	// Delete removes the record if cond holds. Deleting an absent record with the zero
	// Condition is not an error.
	Delete(ctx context.Context, key string, cond Condition) error
	// ListPending pages through one pending index, oldest first, reading only records
	// in that index: its cost grows with the pending records, never with the table.
	ListPending(ctx context.Context, index string, opts ListOptions) (Page, error)
	// Close releases the backend's resources.
	Close() error
}

// Apply applies ch to rec in place (not its Version, which the backend bumps). now
// fills a zero PendingSince. Backends that evaluate in Go use it; the others mirror it.
func (ch Change) Apply(rec *Record, now time.Time) {
	if rec.Attrs == nil {
		rec.Attrs = map[string]string{}
	}
	for _, name := range ch.Remove {
		delete(rec.Attrs, name)
	}
	maps.Copy(rec.Attrs, ch.Set)
	if ch.Pending != nil {
		rec.Pending = *ch.Pending
		rec.PendingSince = time.Time{}
		if rec.Pending != "" {
			rec.PendingSince = normSince(ch.PendingSince, now)
		}
	}
	if ch.ExpiresAt != nil {
		rec.ExpiresAt = normExpiry(*ch.ExpiresAt)
	}
}

// ErrNotFound is returned by Get for an absent (or expired) record.
var ErrNotFound = errors.New("store: record not found")

// ErrConditionFailed is matched (errors.Is) by every *ConditionFailedError.
var ErrConditionFailed = errors.New("store: condition failed")

// ErrUnavailable is matched by errors from a backend that could not be reached, timed
// out or throttled: the write may or may not have happened and the caller should retry
// (for a notification: answer 5xx so WeChat Pay retries). It is never ErrNotFound.
var ErrUnavailable = errors.New("store: backend unavailable")

// ConditionFailedError reports a write whose condition did not hold.
type ConditionFailedError struct {
	Key string
	// Current is the record as it is now, or nil when it does not exist.
	Current *Record
}

func (e *ConditionFailedError) Error() string {
	if e.Current == nil {
		return fmt.Sprintf("store: condition failed for %q (record absent)", e.Key)
	}
	return fmt.Sprintf("store: condition failed for %q (current version %d)", e.Key, e.Current.Version)
}

// Is makes errors.Is(err, ErrConditionFailed) true.
func (e *ConditionFailedError) Is(target error) bool { return target == ErrConditionFailed }

// Unavailable wraps a backend error as retryable, keeping the cause for logs.
func Unavailable(op string, err error) error {
	return &unavailableError{op: op, err: err}
}

type unavailableError struct {
	op  string
	err error
}

func (e *unavailableError) Error() string {
	return "store: " + e.op + ": backend unavailable: " + e.err.Error()
}
func (e *unavailableError) Unwrap() error   { return e.err }
func (e *unavailableError) Is(t error) bool { return t == ErrUnavailable }

// ErrInvalid is matched by every validation error: the write was refused before any
// backend saw it and changed nothing.
var ErrInvalid = errors.New("store: invalid input")

// MaxRecordSize bounds a record's key plus attribute names and values, in bytes. It
// keeps every record inside DynamoDB's 400 KB item limit with room for the backend's
// own fields, so all backends accept the same records.
const MaxRecordSize = 390 << 10

// MaxListLimit caps ListOptions.Limit; defaultListLimit applies when it is 0.
const (
	defaultListLimit = 100
	MaxListLimit     = 1000
)

// attrName is the rule [a-z][a-z0-9_]{0,63}, checked by hand: a regexp compiled
// in a package variable costs every cold start its compilation (issue 11).
var attrName = nameRule{}

type nameRule struct{}

func (nameRule) matchString(s string) bool {
	if len(s) == 0 || len(s) > 64 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}

// reserved attribute names are used by backends for the record's own fields.
var reserved = map[string]bool{"pk": true, "key": true, "version": true, "pending": true, "pending_since": true, "expires_at": true}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

// Size is the record's size as counted against MaxRecordSize.
func (r *Record) Size() int {
	n := len(r.Key)
	for name, v := range r.Attrs {
		n += len(name) + len(v)
	}
	return n
}

// ValidateRecord checks a record before any backend sees it, so bad input fails the
// same way everywhere and changes nothing.
func ValidateRecord(rec Record) error {
	if err := ValidateKey(rec.Key); err != nil {
		return err
	}
	for name := range rec.Attrs {
		if err := validateAttrName(name); err != nil {
			return err
		}
	}
	if rec.Pending != "" {
		if err := validateIndexName(rec.Pending); err != nil {
			return err
		}
		if err := validTime("PendingSince", rec.PendingSince); err != nil {
			return err
		}
	}
	if err := validTime("ExpiresAt", rec.ExpiresAt); err != nil {
		return err
	}
	if n := rec.Size(); n > MaxRecordSize {
		return invalid("record %q of %d bytes exceeds %d", rec.Key, n, MaxRecordSize)
	}
	return nil
}

// ValidateUpdate checks the arguments of Update, in the order every backend reports
// them, before the backend is touched.
func ValidateUpdate(key string, ch Change, cond Condition) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	if err := validateChange(ch); err != nil {
		return err
	}
	return ValidateCondition(cond)
}

// validateChange checks a change before any backend sees it. The merged record's size
// is checked by the backends that see it (bbolt, Redis) or by DynamoDB's item limit.
func validateChange(ch Change) error {
	n := 0
	for name, v := range ch.Set {
		if err := validateAttrName(name); err != nil {
			return err
		}
		n += len(name) + len(v)
	}
	for _, name := range ch.Remove {
		if err := validateAttrName(name); err != nil {
			return err
		}
	}
	if ch.Pending != nil && *ch.Pending != "" {
		if err := validateIndexName(*ch.Pending); err != nil {
			return err
		}
		if err := validTime("PendingSince", ch.PendingSince); err != nil {
			return err
		}
	}
	if ch.ExpiresAt != nil {
		if err := validTime("ExpiresAt", *ch.ExpiresAt); err != nil {
			return err
		}
	}
	if n > MaxRecordSize {
		return invalid("change of %d bytes exceeds %d", n, MaxRecordSize)
	}
	return nil
}

// ValidateCondition checks a condition before any backend sees it.
func ValidateCondition(c Condition) error {
	if c.Version < 0 {
		return invalid("negative version %d in condition", c.Version)
	}
	for _, t := range c.Attrs {
		if err := validateAttrName(t.Name); err != nil {
			return err
		}
		if len(t.Values) == 0 {
			return invalid("condition on %q lists no values", t.Name)
		}
		if len(t.Values) > 32 {
			return invalid("condition on %q lists %d values (at most 32)", t.Name, len(t.Values))
		}
	}
	return nil
}

// ValidateListOptions checks list options and returns the effective limit.
func ValidateListOptions(index string, opts ListOptions) (int, error) {
	if err := validateIndexName(index); err != nil {
		return 0, err
	}
	if err := validTime("Before", opts.Before); err != nil {
		return 0, err
	}
	switch {
	case opts.Limit < 0:
		return 0, invalid("negative list limit %d", opts.Limit)
	case opts.Limit == 0:
		return defaultListLimit, nil
	case opts.Limit > MaxListLimit:
		return MaxListLimit, nil
	}
	return opts.Limit, nil
}

// ValidateKey checks a record key.
func ValidateKey(key string) error {
	if key == "" {
		return invalid("empty key")
	}
	if len(key) > 1024 {
		return invalid("key of %d bytes exceeds 1024", len(key))
	}
	if !utf8.ValidString(key) {
		return invalid("key %q is not valid UTF-8", key)
	}
	return nil
}

// validateAttrName checks an attribute name.
func validateAttrName(name string) error {
	if !attrName.matchString(name) {
		return invalid("attribute name %q must match [a-z][a-z0-9_]{0,63}", name)
	}
	if reserved[name] {
		return invalid("attribute name %q is reserved", name)
	}
	return nil
}

// validateIndexName checks a pending index name; it follows the attribute-name rule.
func validateIndexName(name string) error {
	if !attrName.matchString(name) {
		return invalid("pending index name %q must match [a-z][a-z0-9_]{0,63}", name)
	}
	return nil
}

// Times must fit int64 nanoseconds so every backend can encode them.
var minTime, maxTime = time.Unix(0, 0).Add(-1 << 62), time.Unix(0, 0).Add(1 << 62)

func validTime(what string, t time.Time) error {
	if !t.IsZero() && (t.Before(minTime) || t.After(maxTime)) {
		return invalid("%s %s out of range", what, t.Format(time.RFC3339))
	}
	return nil
}

// Normalize returns rec as every backend stores it: attributes copied (never nil),
// Version cleared, PendingSince at microsecond precision (now when zero, zero when not
// pending), ExpiresAt at millisecond precision, times in UTC without monotonic reading.
// Call it after ValidateRecord.
func Normalize(rec Record, now time.Time) Record {
	attrs := make(map[string]string, len(rec.Attrs))
	maps.Copy(attrs, rec.Attrs)
	rec.Attrs = attrs
	rec.Version = 0
	if rec.Pending == "" {
		rec.PendingSince = time.Time{}
	} else {
		rec.PendingSince = normSince(rec.PendingSince, now)
	}
	rec.ExpiresAt = normExpiry(rec.ExpiresAt)
	return rec
}

func normSince(t, now time.Time) time.Time {
	if t.IsZero() {
		t = now
	}
	return FromMicros(t.UnixMicro())
}

func normExpiry(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return FromMillis(t.UnixMilli())
}

// FromMicros and FromMillis decode stored times (UTC).
func FromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// FromMillis decodes a stored expiry.
func FromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }
